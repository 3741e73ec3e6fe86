# Prints, as one JSON object, the real-service responses the official Globus Python SDK
# records for its own tests (globus_sdk.testing.data, Apache-2.0, by the Globus team) for
# tunnels, tunnel events and stream access points: {name: {method, path, status, json}}.
# tests/globus/recorded_test.ts replays them to this project's client.
#
# The data modules import globus_sdk.testing.models, which imports the `responses`
# library (the SDK's testing extra) only to activate mocks; nothing here activates one,
# so an empty module stands in for it when the library is not installed.
import importlib
import json
import sys
import types

try:
    import responses  # noqa: F401
except ImportError:
    sys.modules["responses"] = types.ModuleType("responses")

import globus_sdk

# The package's __init__ imports helpers that need `responses` for real: load the models
# and data modules without it.
testing = types.ModuleType("globus_sdk.testing")
testing.__path__ = [globus_sdk.__path__[0] + "/testing"]
sys.modules["globus_sdk.testing"] = testing

NAMES = [
    "create_tunnel",
    "get_tunnel",
    "list_tunnels",
    "update_tunnel",
    "delete_tunnel",
    "get_tunnel_events",
    "get_stream_access_point",
    "list_stream_access_points",
]

out = {"sdk_version": globus_sdk.__version__}
for name in NAMES:
    module = importlib.import_module(f"globus_sdk.testing.data.transfer.v2.{name}")
    response = module.RESPONSES.lookup("default")
    out[name] = {
        "method": response.method,
        "path": response.path,
        "status": response.status,
        "json": response.json,
        "metadata": response.metadata,
    }
json.dump(out, sys.stdout)
