# The official Globus Python SDK against the emulator, as a user of it would write it:
# TransferClient (tunnels, events, stream access points, the endpoint document) and
# GCSClient (info without a token, LAN secrets, stream gateways). Prints one JSON object
# of what each call gave back; tests/oracle/sdk_test.ts checks it. Reads the emulator's
# exports from the environment, as `. emulator.env` would set them.
import json
import os
import sys
import time

import globus_sdk
from globus_sdk.scopes import GCSEndpointScopes, TransferScopes
from globus_sdk.services.transfer.data.tunnel_data import CreateTunnelData

client_id = os.environ["GLOBUS_CLI_CLIENT_ID"]
client_secret = os.environ["GLOBUS_CLI_CLIENT_SECRET"]
initiator_ap = os.environ["GLOBUS_STREAMS_EMULATOR_INITIATOR_AP"]
listener_ap = os.environ["GLOBUS_STREAMS_EMULATOR_LISTENER_AP"]
out = {"sdk_version": globus_sdk.__version__}

confidential = globus_sdk.ConfidentialAppAuthClient(client_id, client_secret)


def authorizer(scope):
    return globus_sdk.ClientCredentialsAuthorizer(confidential, scopes=[scope])


def api_error(call):
    try:
        call()
    except globus_sdk.GlobusAPIError as error:
        return {"http_status": error.http_status, "code": error.code, "message": error.message}
    return None


tc = globus_sdk.TransferClient(authorizer=authorizer(TransferScopes.all))

# Tunnels: create, get, list, update, events, refusals, stop, delete.
created = tc.create_tunnel(
    CreateTunnelData(initiator_ap, listener_ap, label="sdk", lifetime_mins=30)
)
tunnel_id = created["data"]["id"]
out["created"] = created.data
out["got"] = tc.get_tunnel(tunnel_id).data
out["listed"] = tc.list_tunnels().data
out["relabelled"] = tc.update_tunnel(
    tunnel_id, {"data": {"type": "Tunnel", "attributes": {"label": "sdk-2"}}}
).data
out["listened"] = tc.update_tunnel(
    tunnel_id,
    {
        "data": {
            "type": "Tunnel",
            "attributes": {"listener_ip_address": "127.0.0.1", "listener_port": 9},
        }
    },
).data
out["moved"] = api_error(
    lambda: tc.update_tunnel(
        tunnel_id,
        {"data": {"type": "Tunnel", "attributes": {"listener_port": 10}}},
    )
)
out["delete_active"] = api_error(lambda: tc.delete_tunnel(tunnel_id))
out["missing"] = api_error(lambda: tc.get_tunnel("00000000-0000-4000-8000-000000000000"))
out["bad_create"] = api_error(
    lambda: tc.create_tunnel(
        CreateTunnelData("00000000-0000-4000-8000-000000000000", listener_ap)
    )
)

# Stream access points and the endpoint document.
out["access_point"] = tc.get_stream_access_point(initiator_ap).data
out["access_points"] = tc.get("/v2/stream_access_points").data
endpoint_id = out["access_point"]["data"]["relationships"]["host_endpoint"]["data"]["id"]
endpoint = tc.get_endpoint(endpoint_id)
out["gcs_manager_url"] = endpoint["gcs_manager_url"]

# GCS: GCSClient(gcs_manager_url) builds https://host:port/api/ and trusts the CA named by
# GLOBUS_SDK_VERIFY_SSL. /info needs no token; the rest need manage_collections.
anonymous = globus_sdk.GCSClient(endpoint["gcs_manager_url"])
out["info"] = anonymous.get_gcs_info().full_data
gcs = globus_sdk.GCSClient(
    endpoint["gcs_manager_url"],
    authorizer=authorizer(GCSEndpointScopes(endpoint_id).manage_collections),
)
secret = gcs.post(
    "/lan_secrets",
    data={
        "DATA_TYPE": "lan_secret_create#1.0.0",
        "tunnel_id": tunnel_id,
        "stream_access_point_id": initiator_ap,
    },
)
out["lan_secret"] = secret.data
out["lan_secret_deleted"] = gcs.delete(f"/lan_secrets/{secret['data'][0]['id']}").data
out["gateways"] = gcs.get("/stream_gateways").data
out["gcs_unauthorized"] = api_error(lambda: anonymous.get("/stream_gateways"))

# Stop, wait for STOPPED, read the events, delete.
out["stopping"] = tc.update_tunnel(
    tunnel_id, {"data": {"type": "Tunnel", "attributes": {"state": "STOPPING"}}}
).data
for _ in range(200):
    if tc.get_tunnel(tunnel_id)["data"]["attributes"]["state"] == "STOPPED":
        break
    time.sleep(0.05)
out["events"] = tc.get_tunnel_events(tunnel_id).data
out["deleted"] = tc.delete_tunnel(tunnel_id).data

json.dump(out, sys.stdout)
