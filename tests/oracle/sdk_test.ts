// The official Globus Python SDK (pinned, from PyPI) against the emulator: tunnels,
// events, stream access points, the endpoint document, GCS info and LAN secrets, with
// nothing changed but the variables the emulator exports. Where the SDK and the
// emulator disagree, the emulator is wrong.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { officialClients } from "../_support/oracle.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";

const oracle = await officialClients();
const SCRIPT = fileURLToPath(new URL("./sdk_calls.py", import.meta.url));
const SDK_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

Deno.test({
  name:
    "the official Globus SDK: tunnels, events, access points, endpoint, GCS info and LAN secrets",
  ignore: !oracle.ok,
  async fn() {
    if (!oracle.ok) return;
    const { env, emulator, stop } = await startEmulatorInProcess({
      configToml: "stop_delay_ms = 20\n",
    });
    let out: Doc;
    try {
      const run = await new Deno.Command(oracle.python, {
        args: [SCRIPT],
        clearEnv: true,
        // Only what `. emulator.env` sets, and a private HOME.
        env: { ...env, PATH: "/usr/bin:/bin", HOME: await Deno.makeTempDir() },
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, stderr);
      out = JSON.parse(new TextDecoder().decode(run.stdout));
    } finally {
      await stop();
    }
    assert.equal(out.sdk_version, "4.9.0");

    const created = out.created.data;
    assert.equal(created.type, "Tunnel");
    assert.equal(created.attributes.state, "AWAITING_LISTENER");
    assert.equal(
      created.attributes.status,
      "The tunnel is waiting for listening contact detail setup.",
    );
    assert.match(created.attributes.created_time, SDK_TIME);
    assert.equal(created.attributes.lifetime_mins, 30);
    assert.equal(out.got.data.id, created.id);
    assert.deepEqual(out.listed.data.map((t: Doc) => t.id), [created.id]);
    assert.equal(out.relabelled.data.attributes.label, "sdk-2");
    assert.equal(out.listened.data.attributes.state, "ACTIVE");
    assert.equal(out.listened.data.attributes.initiator_ip_address, "127.0.0.1");

    // Refusals reach the SDK as GlobusAPIError with the service's status, code and text.
    assert.equal(out.moved.http_status, 409);
    assert.equal(out.moved.code, "Conflict");
    assert.match(out.moved.message, /already has listener contact 127\.0\.0\.1:9/);
    assert.deepEqual([out.delete_active.http_status, out.delete_active.code], [409, "Conflict"]);
    assert.deepEqual([out.missing.http_status, out.missing.code], [404, "NotFound"]);
    assert.deepEqual([out.bad_create.http_status, out.bad_create.code], [422, "ValidationError"]);

    assert.equal(out.access_point.data.type, "StreamAccessPoint");
    assert.equal(
      out.access_point.data.relationships.host_endpoint.data.id,
      emulator.config.endpoints[0].id,
    );
    assert.equal(out.access_points.data.length, 2);

    // GCSClient(gcs_manager_url) built https://host:port/api/ and trusted the run's CA.
    assert.equal(out.gcs_manager_url, emulator.gcsManagerUrl(emulator.config.endpoints[0].id));
    const info = out.info.data.find((d: Doc) => d.DATA_TYPE.startsWith("info#"));
    assert.equal(info.client_id, emulator.config.endpoints[0].id);
    assert.equal(out.lan_secret.data[0].DATA_TYPE, "lan_secret#1.0.0");
    assert.equal(out.lan_secret.data[0].tunnel_id, created.id);
    assert.equal(out.lan_secret_deleted.code, "success");
    assert.equal(out.gateways.data[0].DATA_TYPE, "stream_gateway#1.0.0");
    assert.equal(out.gcs_unauthorized.http_status, 401);

    assert.equal(out.stopping.data.attributes.state, "STOPPING");
    assert.equal(
      out.stopping.data.attributes.status,
      "A request to stop tunnel has been received.",
    );
    const events = out.events.data as Doc[];
    assert.deepEqual(
      events.map((e) => [e.attributes.code, e.attributes.description, e.attributes.details]),
      [
        ["STARTED", "started", "Attempting tunnel establishment"],
        ["TUNNEL_ACTIVE", "tunnel is active", "Tunnel has been established"],
        ["TUNNEL_STOPPED", "tunnel has been stopped", "Tunnel stopped as requested."],
      ],
    );
    for (const event of events) {
      assert.equal(typeof event.id, "number");
      assert.match(event.attributes.time, SDK_TIME);
    }
    assert.equal(out.deleted.data, null);
  },
});
