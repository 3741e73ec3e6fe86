// An access point killed mid-stream: the emulator process (both access points) is
// SIGKILLed while bytes flow, through forward/expose and through a preloaded
// client/server pair. Both apps must see EOF or an error promptly, never hang.
import assert from "node:assert/strict";
import {
  type App,
  type AppEvent,
  buildLibrary,
  freePort,
  launchApp,
  startApp,
  startExpose,
  startFaultWorld,
  startForward,
  streamApp,
  summary,
} from "./_support.ts";

/** How long an app may take to notice that its stream is gone. */
const END_BOUND_MS = 5000;
/** The apps' own limit on any wait: a stream still open after it reports "timeout". */
const APP_TIMEOUT = ["--timeout", "20"];

function how(event: AppEvent): string {
  return event.how === "error" ? `error(${event.errno})` : String(event.how);
}

/** Kills the emulator, then times how long each app takes to report the end. */
async function killAndWatch(
  pid: number,
  apps: Record<string, App>,
): Promise<Record<string, { ms: number; how: string }>> {
  const killed = performance.now();
  Deno.kill(pid, "SIGKILL");
  const out: Record<string, { ms: number; how: string }> = {};
  await Promise.all(
    Object.entries(apps).map(async ([name, app]) => {
      const end = await app.waitEvent((e) => e.event === "end", END_BOUND_MS, `${name} end`);
      out[name] = { ms: performance.now() - killed, how: how(end) };
    }),
  );
  return out;
}

Deno.test("killing the access points mid-stream ends the streams of apps behind forward and expose", async () => {
  await using world = await startFaultWorld();
  const serverPort = freePort();
  const server = startApp("python3", [streamApp, "server", String(serverPort), ...APP_TIMEOUT], {});
  let expose: App | undefined;
  let forward: App | undefined;
  let client: App | undefined;
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    expose = await startExpose(world, serverPort);
    forward = await startForward(world);
    client = startApp("python3", [
      streamApp,
      "client",
      "127.0.0.1",
      String((forward as App & { port: number }).port),
      "--stream",
      ...APP_TIMEOUT,
    ], {});
    await client.waitEvent((e) => e.event === "flowing", 20_000, "client flowing");
    await server.waitEvent((e) => e.event === "accepted", 5000, "server accepted");
    const ends = await killAndWatch(world.emulator.pid, { client, server });
    for (const [name, end] of Object.entries(ends)) {
      assert.notEqual(end.how, "timeout", `${name} hung until its own timeout`);
    }
    // The helpers outlive the access points, and stop cleanly when asked.
    assert.equal((await forward.stop()).code, 0, forward.stderr());
    assert.equal((await expose.stop()).code, 0, expose.stderr());
    summary({
      scenario: "ap-killed",
      path: "forward-expose",
      "client-end-ms": ends.client.ms,
      "client-end": ends.client.how,
      "server-end-ms": ends.server.ms,
      "server-end": ends.server.how,
    });
  } finally {
    await client?.stop();
    await forward?.stop();
    await expose?.stop();
    await server.stop();
  }
});

Deno.test("killing the access points mid-stream ends the streams of a preloaded client and server", async () => {
  await buildLibrary();
  await using world = await startFaultWorld();
  const server = launchApp(world, "listener", [
    "server",
    String(world.listenerPort),
    ...APP_TIMEOUT,
  ]);
  let client: App | undefined;
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    client = launchApp(world, "initiator", [
      "client",
      `globus.${world.tunnelId}`,
      String(world.fakePort),
      "--stream",
      ...APP_TIMEOUT,
    ]);
    await client.waitEvent((e) => e.event === "flowing", 30_000, "client flowing");
    await server.waitEvent((e) => e.event === "accepted", 5000, "server accepted");
    const ends = await killAndWatch(world.emulator.pid, { client, server });
    for (const [name, end] of Object.entries(ends)) {
      assert.notEqual(end.how, "timeout", `${name} hung until its own timeout`);
    }
    // The preloaded programs are still alive and well (no crash in the library).
    const clientStatus = await client.status;
    assert.equal(clientStatus.code, 0, client.stderr());
    summary({
      scenario: "ap-killed",
      path: "preload",
      "client-end-ms": ends.client.ms,
      "client-end": ends.client.how,
      "server-end-ms": ends.server.ms,
      "server-end": ends.server.how,
    });
  } finally {
    await client?.stop();
    await server.stop();
  }
});
