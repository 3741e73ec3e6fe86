// The real service's documents through this project's client and CLI. The official
// Globus Python SDK records real Transfer responses for its own tests
// (globus_sdk.testing.data, Apache-2.0, by the Globus team): sdk_recorded.py prints
// those for tunnels, tunnel events and stream access points from the pinned SDK in
// .tools/, and a real local HTTP server answers with them; the client and the CLI's
// commands must parse and print every one. Odd but plausible documents (unknown states
// and codes, host names, extra fields, a missing optional field, one record this program
// cannot read) are in odd_documents_test.ts and tests/cli/odd_documents_test.ts. Last, the
// PATCH bodies: the official CLI's `tunnel stop` and `tunnel update --label` and this
// client's, sent to the same local server, are the same JSON.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { officialClients } from "../_support/oracle.ts";
import { runCliInProcess } from "../_support/cli.ts";
import { jsonResponse, startTinyService, TUNNEL_ID, tunnelDocument } from "./_service.ts";
import { TransferClient, type Tunnel } from "../../src/globus/mod.ts";

const oracle = await officialClients();
const HELPER = fileURLToPath(new URL("./sdk_recorded.py", import.meta.url));

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

interface Recorded {
  method: string;
  path: string;
  status: number;
  json: Doc;
  metadata: Doc;
}

/** The SDK's recorded responses, by the name of the SDK method they answer. */
async function recordedResponses(python: string): Promise<Record<string, Recorded>> {
  const run = await new Deno.Command(python, { args: [HELPER], stderr: "piped" }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const out = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(out.sdk_version, "4.9.0");
  delete out.sdk_version;
  return out;
}

/**
 * A local Transfer answering each recorded request (method and path, under /transfer)
 * with its recorded document; records the bodies it was sent.
 */
function serve(answers: Recorded[]) {
  const bodies: { method: string; path: string; body: unknown }[] = [];
  const service = startTinyService((request, path, text) => {
    bodies.push({ method: request.method, path, body: text === "" ? undefined : JSON.parse(text) });
    const found = answers.find((a) => a.method === request.method && `/transfer${a.path}` === path);
    if (!found) return jsonResponse(404, { errors: [{ code: "NotFound", detail: path }] });
    return jsonResponse(found.status, found.json);
  });
  return { service, bodies };
}

/** The fields a Tunnel takes from a tunnel resource, as the document has them. */
function expectedTunnel(resource: Doc): Partial<Tunnel> {
  const a = resource.attributes;
  return {
    id: resource.id,
    label: a.label,
    state: a.state,
    status: a.status,
    submissionId: a.submission_id,
    lifetimeMins: a.lifetime_mins,
    restartable: a.restartable,
    listenerIpAddress: a.listener_ip_address,
    listenerPort: a.listener_port,
    initiatorIpAddress: a.initiator_ip_address,
    initiatorPort: a.initiator_port,
    createdTime: a.created_time,
    initiatorAccessPointId: resource.relationships.initiator.data.id,
    listenerAccessPointId: resource.relationships.listener.data.id,
    ownerId: resource.relationships.owner.data.id,
  };
}

function assertTunnel(tunnel: Tunnel, resource: Doc): void {
  const expected = expectedTunnel(resource);
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(tunnel[key as keyof Tunnel], value, `${resource.id}: ${key}`);
  }
  assert.deepEqual(tunnel.extra, {});
}

/** The id at the end of a recorded path ("/v2/tunnels/<id>/events" -> <id>). */
function idIn(path: string): string {
  return path.match(/[0-9a-f-]{36}/)![0];
}

/** The value of one "Field: value" line of a record. */
function field(record: string, name: string): string {
  const line = record.split("\n").find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no "${name}" in:\n${record}`);
  return line.slice(name.length + 1).trim();
}

function cli(env: Record<string, string>) {
  return (...args: string[]) => runCliInProcess(args, { env });
}

Deno.test({
  name: "the SDK's recorded real responses: the client parses every one, values intact",
  ignore: !oracle.ok,
  async fn() {
    if (!oracle.ok) return;
    const recorded = await recordedResponses(oracle.python);
    const { service, bodies } = serve(Object.values(recorded));
    try {
      const client = new TransferClient({ env: (name) => service.env[name], retryBaseMs: 1 });
      const listed = await client.listTunnels();
      assert.deepEqual(listed.unreadable, []);
      const listDoc = recorded.list_tunnels.json;
      assert.equal(listed.items.length, listDoc.data.length);
      listed.items.forEach((tunnel, i) => assertTunnel(tunnel, listDoc.data[i]));

      const getDoc = recorded.get_tunnel.json;
      assertTunnel(await client.getTunnel(idIn(recorded.get_tunnel.path)), getDoc.data);

      const createDoc = recorded.create_tunnel.json;
      const created = await client.createTunnel({
        initiatorAccessPointId: recorded.create_tunnel.metadata.initiator_ap,
        listenerAccessPointId: recorded.create_tunnel.metadata.listener_ap,
        label: "Test Tunnel",
        lifetimeMins: 10,
      });
      assertTunnel(created, createDoc.data);

      const updateDoc = recorded.update_tunnel.json;
      const stopping = await client.updateTunnel(idIn(recorded.update_tunnel.path), {
        state: "STOPPING",
      });
      assertTunnel(stopping, updateDoc.data);
      assert.equal(stopping.state, "STOPPING");

      await client.deleteTunnel(idIn(recorded.delete_tunnel.path));

      const events = await client.tunnelEvents(idIn(recorded.get_tunnel_events.path));
      assert.deepEqual(events.unreadable, []);
      assert.deepEqual(
        events.items,
        recorded.get_tunnel_events.json.data.map((e: Doc) => ({
          id: e.id,
          code: e.attributes.code,
          isError: e.attributes.is_error,
          description: e.attributes.description,
          details: e.attributes.details,
          time: e.attributes.time,
          extra: {},
        })),
      );

      const pointDoc = recorded.get_stream_access_point.json.data;
      const point = await client.getAccessPoint(idIn(recorded.get_stream_access_point.path));
      assert.equal(point.id, pointDoc.id);
      assert.equal(point.displayName, pointDoc.attributes.display_name);
      assert.equal(point.tlsftpServer, pointDoc.attributes.tlsftp_server);
      assert.equal(point.advertised_owner, pointDoc.attributes.advertised_owner);
      assert.equal(point.contact_email, null);
      assert.equal(point.hostEndpointId, pointDoc.relationships.host_endpoint.data.id);

      const points = await client.listAccessPoints();
      assert.deepEqual(points.unreadable, []);
      assert.deepEqual(
        points.items.map((p) => [p.id, p.displayName, p.tlsftpServer]),
        recorded.list_stream_access_points.json.data.map((
          p: Doc,
        ) => [p.id, p.attributes.display_name, p.attributes.tlsftp_server]),
      );

      // The PATCH went as the official SDK and CLI send it (globus_cli 3.44.0,
      // commands/streams/tunnel/stop.py): the tunnel named by the path, no data.id.
      const patch = bodies.find((b) => b.method === "PATCH");
      assert.deepEqual(patch?.body, {
        data: { type: "Tunnel", attributes: { state: "STOPPING" } },
      });
    } finally {
      await service.stop();
    }
  },
});

Deno.test({
  name: "the SDK's recorded real responses through tunnel list/show/events, access-point list/show",
  ignore: !oracle.ok,
  async fn() {
    if (!oracle.ok) return;
    const recorded = await recordedResponses(oracle.python);
    const { service } = serve(Object.values(recorded));
    const home = await Deno.makeTempDir({ prefix: "gs-recorded-" });
    try {
      const run = cli({ ...service.env, HOME: home });
      const list = await run("tunnel", "list");
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.stderr, "");
      for (const t of recorded.list_tunnels.json.data) {
        const row = list.stdout.split("\n").find((line) => line.startsWith(t.id));
        assert.ok(row, `${t.id} listed:\n${list.stdout}`);
        assert.match(row, new RegExp(`${t.attributes.label} +\\| AWAITING_LISTENER`));
        assert.ok(row.includes(t.attributes.created_time), row);
      }
      const listJson = await run("tunnel", "list", "-F", "json");
      assert.equal(listJson.code, 0, listJson.stderr);
      assert.deepEqual(
        // The whole document, as the official CLI prints it.
        JSON.parse(listJson.stdout).data.map((t: Doc) => t.id),
        recorded.list_tunnels.json.data.map((t: Doc) => t.id),
      );

      const tunnelDoc = recorded.get_tunnel.json.data;
      const show = await run("tunnel", "show", tunnelDoc.id);
      assert.equal(show.code, 0, show.stderr);
      assert.equal(field(show.stdout, "Label"), tunnelDoc.attributes.label);
      assert.equal(field(show.stdout, "State"), "AWAITING_LISTENER");
      assert.equal(field(show.stdout, "Status"), tunnelDoc.attributes.status);
      assert.equal(field(show.stdout, "Created"), tunnelDoc.attributes.created_time);
      assert.equal(field(show.stdout, "Initiator IP"), "None");
      assert.equal(
        field(show.stdout, "Listener Access Point"),
        tunnelDoc.relationships.listener.data.id,
      );
      assert.equal(field(show.stdout, "Owner"), tunnelDoc.relationships.owner.data.id);

      // --all-columns: the official columns and the event's id.
      const events = await run(
        "tunnel",
        "events",
        "--all-columns",
        idIn(recorded.get_tunnel_events.path),
      );
      assert.equal(events.code, 0, events.stderr);
      for (const e of recorded.get_tunnel_events.json.data) {
        const row = events.stdout.split("\n").find((line) =>
          line.split(" | ").map((cell) => cell.trim()).includes(String(e.id))
        );
        assert.ok(row, `event ${e.id}:\n${events.stdout}`);
        for (const text of [e.attributes.time, e.attributes.code, e.attributes.details]) {
          assert.ok(row.includes(text), `${text} in ${row}`);
        }
      }

      const pointDoc = recorded.get_stream_access_point.json.data;
      const point = await run("access-point", "show", pointDoc.id);
      assert.equal(point.code, 0, point.stderr);
      assert.equal(field(point.stdout, "Display Name"), pointDoc.attributes.display_name);
      assert.equal(field(point.stdout, "TLSFTP Server"), pointDoc.attributes.tlsftp_server);
      assert.equal(field(point.stdout, "Advertised Owner"), "john@globus.org");
      assert.equal(field(point.stdout, "Contact Email"), "None");

      const points = await run("access-point", "list");
      assert.equal(points.code, 0, points.stderr);
      for (const p of recorded.list_stream_access_points.json.data) {
        const row = points.stdout.split("\n").find((line) => line.startsWith(p.id));
        assert.ok(row?.includes(p.attributes.display_name), `${p.id}:\n${points.stdout}`);
      }
    } finally {
      await service.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "PATCH bodies are the official CLI's: tunnel stop and tunnel update --label",
  ignore: !oracle.ok,
  async fn() {
    if (!oracle.ok) return;
    const sent: { client: string; body: unknown }[] = [];
    let client = "";
    const service = startTinyService((request, _path, text) => {
      if (request.method === "PATCH") sent.push({ client, body: JSON.parse(text) });
      return jsonResponse(200, tunnelDocument());
    });
    const home = await Deno.makeTempDir({ prefix: "gs-patch-" });
    try {
      const official = async (...args: string[]) => {
        client = "official";
        const out = await new Deno.Command(oracle.globus, {
          args: ["streams", "tunnel", ...args],
          clearEnv: true,
          env: { PATH: "/usr/bin:/bin", HOME: home, ...service.env },
          stdin: "null",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      };
      const ours = new TransferClient({ env: (name) => service.env[name], retryBaseMs: 1 });
      await official("stop", TUNNEL_ID);
      client = "ours";
      await ours.updateTunnel(TUNNEL_ID, { state: "STOPPING" });
      await official("update", "--label", "renamed", TUNNEL_ID);
      client = "ours";
      await ours.updateTunnel(TUNNEL_ID, { label: "renamed" });
      assert.deepEqual(sent.map((s) => s.client), ["official", "ours", "official", "ours"]);
      assert.deepEqual(sent[1].body, sent[0].body);
      assert.deepEqual(sent[3].body, sent[2].body);
      assert.deepEqual(sent[2].body, {
        data: { type: "Tunnel", attributes: { label: "renamed" } },
      });
    } finally {
      await service.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
