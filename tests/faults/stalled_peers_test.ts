// Peers that never finish GSA1: 1,000 connections opened and left silent against the
// initiating access point's LAN port, against `expose`, and against a preloaded
// listening app. A good client must still get through within a bound.
//
// The preload library runs a preloaded listener's handshakes side by side (native/README.md):
// silent peers wait in a fixed table until their deadline or until newer peers push the
// oldest out, so they cost the good client no time.
import assert from "node:assert/strict";
import {
  type App,
  buildLibrary,
  type FaultWorld,
  freePort,
  launchApp,
  openFileLimit,
  startApp,
  startExpose,
  startFaultWorld,
  streamApp,
  summary,
} from "./_support.ts";

const WANTED_PEERS = 1000;
/** A good client through the tunnel must be done within this, stalled peers or not. */
const GOOD_CLIENT_BOUND_MS = 5000;
const HELLO_SIZE = 37;

/** How many silent peers this machine's descriptor limit allows (both ends are local). */
async function peerCount(): Promise<number> {
  const limit = await openFileLimit();
  return Math.min(WANTED_PEERS, Math.floor((limit - 200) / 2));
}

/** Opens count connections to port and leaves them silent. */
async function stall(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  const batch = 50;
  for (let at = 0; at < count; at += batch) {
    const size = Math.min(batch, count - at);
    conns.push(
      ...await Promise.all(
        Array.from({ length: size }, () => Deno.connect({ hostname: "127.0.0.1", port })),
      ),
    );
  }
  return conns;
}

/** Reads the HELLO a challenger sends each peer, from a sample: they were taken on. */
async function helloes(conns: Deno.Conn[], sample: number): Promise<number> {
  let got = 0;
  const step = Math.max(1, Math.floor(conns.length / sample));
  await Promise.all(
    conns.filter((_, i) => i % step === 0).map(async (conn) => {
      const buffer = new Uint8Array(HELLO_SIZE);
      let done = 0;
      const timer = setTimeout(() => conn.close(), 5000);
      try {
        while (done < HELLO_SIZE) {
          const n = await conn.read(buffer.subarray(done));
          if (n === null) break;
          done += n;
        }
      } catch {
        // closed by the timer
      } finally {
        clearTimeout(timer);
      }
      if (done === HELLO_SIZE && new TextDecoder().decode(buffer.subarray(0, 4)) === "GSA1") got++;
    }),
  );
  return got;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

/** A preloaded client's round trip through the tunnel; its ms from resolve to echo. */
async function goodClient(world: FaultWorld, text: string, boundMs: number): Promise<number> {
  const client = launchApp(world, "initiator", [
    "client",
    `globus.${world.tunnelId}`,
    String(world.fakePort),
    "--echo",
    text,
    "--timeout",
    String(Math.ceil(boundMs / 1000) + 5),
  ]);
  try {
    const outcome = await client.waitEvent(
      (e) => e.event === "echoed" || e.event === "failed",
      boundMs + 10_000,
      "the good client's outcome",
    );
    assert.equal(outcome.event, "echoed", JSON.stringify(outcome));
    return Number(outcome.ms);
  } finally {
    await client.stop();
  }
}

/** A plain echo server behind expose on the listening side. */
async function exposedServer(world: FaultWorld): Promise<{ apps: App[]; port: number }> {
  const serverPort = freePort();
  const server = startApp("python3", [streamApp, "server", String(serverPort)], {});
  await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
  const expose = await startExpose(world, serverPort);
  return { apps: [server, expose], port: expose.port };
}

for (const target of ["ap-lan-port", "expose"] as const) {
  Deno.test(`${WANTED_PEERS} silent peers on ${target} do not stop a good client`, async () => {
    await buildLibrary();
    const peers = await peerCount();
    await using world = await startFaultWorld();
    const { apps, port: exposePort } = await exposedServer(world);
    let conns: Deno.Conn[] = [];
    try {
      const baselineMs = await goodClient(world, "before", GOOD_CLIENT_BOUND_MS);
      const port = target === "expose" ? exposePort : world.connector.port;
      conns = await stall(port, peers);
      const engaged = await helloes(conns, 20);
      assert.ok(engaged >= 18, `only ${engaged} of 20 sampled peers got a HELLO`);
      const goodMs = await goodClient(world, "through", GOOD_CLIENT_BOUND_MS);
      assert.ok(
        goodMs < GOOD_CLIENT_BOUND_MS,
        `the good client took ${goodMs} ms with ${peers} silent peers`,
      );
      summary({
        scenario: "stalled-peers",
        target,
        "stalled-peers": peers,
        "good-client-ms": goodMs,
        "baseline-ms": baselineMs,
        "bound-ms": GOOD_CLIENT_BOUND_MS,
      });
    } finally {
      closeAll(conns);
      for (const app of apps.reverse()) await app.stop();
    }
  });
}

/** Silent peers against a preloaded listener whose handshake timeout is timeoutS. */
async function preloadListener(peers: number, timeoutS: number, boundMs: number) {
  await buildLibrary();
  await using world = await startFaultWorld();
  const server = launchApp(world, "listener", ["server", String(world.listenerPort)], {
    GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: String(timeoutS),
  });
  let conns: Deno.Conn[] = [];
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    conns = await stall(world.listenerPort, peers);
    const goodMs = await goodClient(world, "through", boundMs);
    assert.ok(goodMs < boundMs, `the good client took ${goodMs} ms with ${peers} silent peers`);
    summary({
      scenario: "stalled-peers",
      target: "preload-listener",
      "stalled-peers": peers,
      "good-client-ms": goodMs,
      "handshake-timeout-s": timeoutS,
      "bound-ms": boundMs,
    });
  } finally {
    closeAll(conns);
    await server.stop();
  }
}

Deno.test("a few silent peers do not delay a good client of a preloaded listener", async () => {
  // A handshake timeout far above the bound: the good client must not wait for it.
  await preloadListener(3, 30, GOOD_CLIENT_BOUND_MS);
});

Deno.test(`${WANTED_PEERS} silent peers do not stop a good client of a preloaded listener`, async () => {
  await preloadListener(await peerCount(), 30, GOOD_CLIENT_BOUND_MS);
});
