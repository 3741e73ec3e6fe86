// TransferClient and GcsClient against the in-process emulator, with client credentials.
import assert from "node:assert/strict";
import {
  GcsClient,
  GlobusApiError,
  type KnownOr,
  TransferClient,
  type TunnelState,
} from "../../src/globus/mod.ts";
import { approveLogin, startEmulatorInProcess } from "../_support/emulator.ts";
import { finishLogin, startLogin } from "../../src/globus/mod.ts";

async function failure(promise: Promise<unknown>): Promise<GlobusApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GlobusApiError, `want GlobusApiError, got ${error}`);
    assert.ok(!error.message.includes("\n"));
    return error;
  }
  assert.fail("expected a GlobusApiError");
}

Deno.test("a tunnel's life through TransferClient: create, update, stop, delete", async () => {
  const { env: exports, emulator, stop } = await startEmulatorInProcess({
    configToml: "stop_delay_ms = 20\n",
  });
  try {
    const env = (name: string) => exports[name];
    const client = new TransferClient({ env });
    const initiator = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
    const listener = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
    const documents: unknown[] = [];
    const created = await client.createTunnel({
      initiatorAccessPointId: initiator,
      listenerAccessPointId: listener,
      label: "t1",
      lifetimeMins: 30,
      restartable: true,
    }, { onDocument: (doc) => documents.push(doc) });
    assert.equal(created.state, "AWAITING_LISTENER");
    assert.equal(created.status, "The tunnel is waiting for listening contact detail setup.");
    assert.equal(created.label, "t1");
    assert.equal(created.lifetimeMins, 30);
    assert.equal(created.restartable, true);
    assert.equal(created.ownerId, exports.GLOBUS_CLI_CLIENT_ID);
    assert.equal(created.initiatorAccessPointId, initiator);
    assert.match(created.submissionId!, /^[0-9a-f-]{36}$/);
    assert.equal((documents[0] as { data: { id: string } }).data.id, created.id);

    const active = await client.updateTunnel(created.id, {
      listenerIpAddress: "127.0.0.1",
      listenerPort: 8888,
    });
    assert.equal(active.state, "ACTIVE");
    assert.equal(active.initiatorIpAddress, "127.0.0.1");
    assert.ok(active.initiatorPort! > 0);
    // The initiator contact is a real listening port (the stand-in data plane's).
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: active.initiatorPort! });
    conn.close();

    const refused = await failure(client.deleteTunnel(created.id));
    assert.equal(refused.status, 409);
    const stopping = await client.updateTunnel(created.id, { state: "STOPPING" });
    assert.equal(stopping.state, "STOPPING");
    assert.equal(stopping.status, "A request to stop tunnel has been received.");
    let state: KnownOr<TunnelState> = stopping.state;
    for (let i = 0; i < 50 && state !== "STOPPED"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      state = (await client.getTunnel(created.id)).state;
    }
    assert.equal(state, "STOPPED");
    const { items: events } = await client.tunnelEvents(created.id);
    assert.deepEqual(events.map((e) => e.code), ["STARTED", "TUNNEL_ACTIVE", "TUNNEL_STOPPED"]);
    const eventIds = events.map((e) => e.id);
    assert.ok(eventIds.every((id, i) => i === 0 || id > eventIds[i - 1]), `ids ${eventIds}`);
    await client.deleteTunnel(created.id);
    const gone = await failure(client.getTunnel(created.id));
    assert.equal(
      gone.message,
      `Tunnel "${created.id}" was not found (404 NotFound): check the id with 'globus-streams tunnel list'`,
    );
    assert.equal(emulator.state.tunnel(created.id), undefined);
  } finally {
    await stop();
  }
});

Deno.test("create with the same submission id returns the same tunnel", async () => {
  const { env: exports, stop } = await startEmulatorInProcess();
  try {
    const client = new TransferClient({ env: (name) => exports[name] });
    const request = {
      initiatorAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      submissionId: crypto.randomUUID(),
    };
    const first = await client.createTunnel(request);
    const second = await client.createTunnel(request);
    assert.equal(second.id, first.id);
    assert.equal((await client.listTunnels()).items.length, 1);
  } finally {
    await stop();
  }
});

Deno.test("listTunnels follows links.next across pages", async () => {
  const { env: exports, stop } = await startEmulatorInProcess({ configToml: "page_size = 2\n" });
  try {
    let gets = 0;
    const counting: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname.endsWith("/v2/tunnels") && (init?.method ?? "GET") === "GET") gets++;
      return fetch(input, init);
    };
    const client = new TransferClient({ env: (name) => exports[name], fetch: counting });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await client.createTunnel({
          initiatorAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
          listenerAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
          label: `n${i}`,
        })).id,
      );
    }
    const { items: listed } = await client.listTunnels();
    assert.deepEqual(listed.map((t) => t.label), ["n0", "n1", "n2", "n3", "n4"]);
    assert.deepEqual(new Set(listed.map((t) => t.id)), new Set(ids));
    assert.equal(gets, 3);
  } finally {
    await stop();
  }
});

Deno.test("a tunnel is visible to its owner only", async () => {
  const { env: exports, approvalSecret, stop } = await startEmulatorInProcess();
  const dir = await Deno.makeTempDir();
  try {
    const asClient = new TransferClient({ env: (name) => exports[name] });
    const tunnel = await asClient.createTunnel({
      initiatorAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    });
    const userValues: Record<string, string> = {
      GLOBUS_SDK_SERVICE_URL_AUTH: exports.GLOBUS_SDK_SERVICE_URL_AUTH,
      GLOBUS_SDK_SERVICE_URL_TRANSFER: exports.GLOBUS_SDK_SERVICE_URL_TRANSFER,
      GLOBUS_STREAMS_DIR: dir,
    };
    const env = (name: string) => userValues[name];
    const request = startLogin({ env });
    await finishLogin(request, await approveLogin(request.url, approvalSecret), { env });
    const asUser = new TransferClient({ env });
    assert.deepEqual(await asUser.listTunnels(), { items: [], unreadable: [] });
    const error = await failure(asUser.getTunnel(tunnel.id));
    assert.equal(error.status, 404);
    const stopError = await failure(asUser.updateTunnel(tunnel.id, { state: "STOPPING" }));
    assert.equal(stopError.status, 404);
    assert.equal((await asClient.getTunnel(tunnel.id)).state, "AWAITING_LISTENER");
  } finally {
    await stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("access points: get, list, filters, and the endpoint's GCS manager URL", async () => {
  const { env: exports, emulator, stop } = await startEmulatorInProcess();
  try {
    const client = new TransferClient({ env: (name) => exports[name] });
    const { items: all } = await client.listAccessPoints();
    assert.equal(all.length, 2);
    const point = await client.getAccessPoint(exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP);
    assert.equal(point.displayName, "Site A access point");
    assert.equal(point.keywords, "emulator,initiating");
    assert.equal(point.tlsftpServer, null);
    assert.deepEqual(
      (await client.listAccessPoints({ fulltext: "SITE B" })).items.map((p) => p.id),
      [
        exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      ],
    );
    assert.equal((await client.listAccessPoints({ fulltext: "nothing like it" })).items.length, 0);
    const admin = emulator.config.users[0].id;
    assert.equal((await client.listAccessPoints({ endpointAdmin: admin })).items.length, 2);
    assert.equal(
      (await client.listAccessPoints({ endpointAdmin: crypto.randomUUID() })).items
        .length,
      0,
    );
    assert.equal(
      await client.gcsManagerUrl(point.hostEndpointId),
      emulator.gcsManagerUrl(point.hostEndpointId),
    );
    const missing = await failure(client.getAccessPoint(crypto.randomUUID()));
    assert.match(missing.message, /^Stream access point "[^"]+" was not found \(404 NotFound\)/);
    const noEndpoint = await failure(client.gcsManagerUrl("00000000-0000-0000-0000-000000000000"));
    assert.equal(noEndpoint.code, "EndpointNotFound");
  } finally {
    await stop();
  }
});

Deno.test("GcsClient: LAN secrets for a tunnel side, kept for the data plane; gateways", async () => {
  const { env: exports, emulator, stop } = await startEmulatorInProcess();
  try {
    const env = (name: string) => exports[name];
    const transfer = new TransferClient({ env });
    const tunnel = await transfer.createTunnel({
      initiatorAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      lifetimeMins: 60,
    });
    const point = await transfer.getAccessPoint(tunnel.initiatorAccessPointId);
    const other = await transfer.getAccessPoint(tunnel.listenerAccessPointId);
    const gcs = new GcsClient(
      await transfer.gcsManagerUrl(point.hostEndpointId),
      point.hostEndpointId,
      {
        env,
      },
    );
    const before = Math.floor(Date.now() / 1000);
    const secret = await gcs.createLanSecret({
      tunnelId: tunnel.id,
      streamAccessPointId: point.id,
    });
    assert.ok(secret.secret.length >= 32);
    assert.ok(secret.expires >= before + 59 * 60 && secret.expires <= before + 61 * 60 + 1);
    const short = await gcs.createLanSecret({
      tunnelId: tunnel.id,
      streamAccessPointId: point.id,
      expiresInMins: 5,
    });
    // Bounded by the time of the call itself (a TLS request can take a second when busy).
    const after = Math.ceil(Date.now() / 1000);
    assert.ok(short.expires <= after + 5 * 60 + 1, `${short.expires} vs ${after}`);
    assert.deepEqual(
      emulator.state.lanSecretsFor(tunnel.id, point.id).map((s) => s.id).sort(),
      [secret.id, short.id].sort(),
    );
    assert.deepEqual(emulator.state.lanSecretsFor(tunnel.id, other.id), []);
    await gcs.deleteLanSecret(short.id);
    assert.deepEqual(emulator.state.lanSecretsFor(tunnel.id, point.id).map((s) => s.id), [
      secret.id,
    ]);
    const again = await failure(gcs.deleteLanSecret(short.id));
    assert.equal(again.status, 404);
    const wrongSide = await failure(
      gcs.createLanSecret({ tunnelId: tunnel.id, streamAccessPointId: other.id }),
    );
    assert.equal(wrongSide.status, 422);
    assert.match(wrongSide.message, /is not hosted on endpoint/);
    const noTunnel = await failure(
      gcs.createLanSecret({ tunnelId: crypto.randomUUID(), streamAccessPointId: point.id }),
    );
    assert.equal(noTunnel.status, 404);
    const { items: gateways } = await gcs.listStreamGateways();
    assert.equal(gateways.length, 1);
    assert.equal(gateways[0].lanSecretRequired, true);
    assert.deepEqual(await gcs.getStreamGateway(gateways[0].id), gateways[0]);
    // A token for one endpoint does not open another endpoint's manager.
    const otherGcs = new GcsClient(
      emulator.gcsManagerUrl(point.hostEndpointId),
      other.hostEndpointId,
      {
        env,
      },
    );
    const crossed = await failure(otherGcs.listStreamGateways());
    assert.equal(crossed.kind, "auth");
  } finally {
    await stop();
  }
});
