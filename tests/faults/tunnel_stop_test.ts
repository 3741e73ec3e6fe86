// A tunnel stopped under load: `globus-streams tunnel stop` while several streams flow
// through forward/expose and a preloaded client. Every stream ends promptly, the
// initiating access point's LAN port closes, and new connections are refused.
import assert from "node:assert/strict";
import {
  type App,
  buildLibrary,
  freePort,
  launchApp,
  refuses,
  settlesWithin,
  startApp,
  startExpose,
  startFaultWorld,
  startForward,
  streamApp,
  summary,
  waitFor,
} from "./_support.ts";

const STREAMS = 8;
/** How long after the stop request every stream may take to end. */
const END_BOUND_MS = 5000;
const APP_TIMEOUT = ["--timeout", "20"];

Deno.test("tunnel stop under load ends every stream, closes the LAN port and refuses new connections", async () => {
  await buildLibrary();
  // The emulator's default stop_delay_ms (100) stands for the service's STOPPING phase.
  await using world = await startFaultWorld();
  const serverPort = freePort();
  const server = startApp("python3", [streamApp, "server", String(serverPort), ...APP_TIMEOUT], {});
  const clients: App[] = [];
  let expose: (App & { port: number }) | undefined;
  let forward: (App & { port: number }) | undefined;
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    expose = await startExpose(world, serverPort);
    forward = await startForward(world);
    for (let i = 0; i < STREAMS - 1; i++) {
      clients.push(startApp("python3", [
        streamApp,
        "client",
        "127.0.0.1",
        String(forward.port),
        "--stream",
        ...APP_TIMEOUT,
      ], {}));
    }
    // One of the streams comes from a preloaded client (GSA1 in the library on leg 1).
    clients.push(launchApp(world, "initiator", [
      "client",
      `globus.${world.tunnelId}`,
      String(world.fakePort),
      "--stream",
      ...APP_TIMEOUT,
    ]));
    await Promise.all(
      clients.map((c, i) => c.waitEvent((e) => e.event === "flowing", 30_000, `client ${i}`)),
    );

    const stopped = performance.now();
    await world.cli("initiator", ["tunnel", "stop", world.tunnelId]);
    const ends = await Promise.all(clients.map(async (client, i) => {
      const end = await client.waitEvent((e) => e.event === "end", END_BOUND_MS, `end ${i}`);
      assert.notEqual(end.how, "timeout", `client ${i} hung`);
      return performance.now() - stopped;
    }));
    const lastEndMs = Math.max(...ends);
    await waitFor(
      () => server.events.filter((e) => e.event === "end").length === STREAMS,
      END_BOUND_MS,
      `the server seeing ${STREAMS} streams end`,
    );

    // The LAN port is closed: a plain connect is refused.
    assert.ok(await refuses(world.connector.port), "the LAN port still accepts connections");
    // A preloaded client's connect() fails with ECONNREFUSED (its contact is still fresh).
    const late = launchApp(world, "initiator", [
      "client",
      `globus.${world.tunnelId}`,
      String(world.fakePort),
      "--echo",
      "late",
      ...APP_TIMEOUT,
    ]);
    const failed = await late.waitEvent((e) => e.event !== "", 10_000, "late client outcome");
    assert.deepEqual(
      { event: failed.event, stage: failed.stage, errno: failed.errno },
      { event: "failed", stage: "connect", errno: 111 },
    );
    // A new connection through forward ends at once instead of hanging.
    const viaForward = startApp("python3", [
      streamApp,
      "client",
      "127.0.0.1",
      String(forward.port),
      "--echo",
      "late",
      ...APP_TIMEOUT,
    ], {});
    const outcome = await viaForward.waitEvent(
      (e) => e.event === "failed" || e.event === "echoed",
      5000,
      "forward client outcome",
    );
    assert.equal(outcome.event, "failed");
    assert.ok(await settlesWithin(viaForward.status, 5000));
    await waitFor(
      () => /Cannot reach the initiating access point .*Connection refused/.test(forward!.stderr()),
      5000,
      "forward reporting the failed stream",
    );
    summary({
      scenario: "tunnel-stop",
      streams: STREAMS,
      "last-stream-end-ms": lastEndMs,
      "lan-port": "refused",
      "new-preload-connect": "ECONNREFUSED",
      "new-forward-stream": "ended",
    });
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await forward?.stop();
    await expose?.stop();
    await server.stop();
  }
});
