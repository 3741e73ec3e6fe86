// A multi-threaded C program (built with `zig cc`), unmodified and unaware of Globus,
// makes 1,000 connections from 32 threads through the tunnel to an echo server on the
// listening side; every one must echo its own message back.
import assert from "node:assert/strict";
import {
  compileFixture,
  fixtures,
  type Proc,
  pythonExe,
  runInitiator,
  startListeningApp,
  startTunnelWorld,
} from "./_support.ts";

Deno.test("1,000 connections from 32 threads all echo through the tunnel", async () => {
  const client = await compileFixture("many_connections");
  await using world = await startTunnelWorld();
  const python = await pythonExe();
  let app: Proc | undefined;
  try {
    app = await startListeningApp(
      world,
      [
        python,
        `${fixtures}echo_server.py`,
        world.listenerHost,
        String(world.listenerPort),
        "--log",
      ],
      // One debug line per connection on each side would be 2,000 lines: keep them off.
      { env: { GLOBUS_STREAMS_DEBUG: undefined } },
    );
    const result = await runInitiator(
      world,
      [client, world.name, String(world.fakePort), "32", "1000"],
      { timeoutMs: 60_000, env: { GLOBUS_STREAMS_DEBUG: undefined } },
    );
    assert.equal(result.stdout.trim(), "ok 1000 failed 0", result.stderr);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    // The server accepted exactly those 1,000, each after GSA1 in its accept().
    const served = await app.stop();
    assert.equal(
      served.stdout.split("\n").filter((l) => l.startsWith("peer 127.0.0.1:")).length,
      1000,
    );
    assert.equal(served.stderr, "");
  } catch (error) {
    if (app) console.error(`echo server's stderr:\n${app.stderr()}`);
    throw error;
  } finally {
    await app?.stop();
  }
});
