// Static programs through the emulator under the seccomp engine: the launcher runs them
// under globus-streams-supervise (built with the release library), on both sides. A
// static Go HTTP server (CGO_ENABLED=0) listens on the tunnel's listener contact behind
// `-p PORT`; static Go and musl C clients reach it through globus.<id>:<fake port> and,
// transparently, through the listener contact itself.
import assert from "node:assert/strict";
import { runInitiator, startListeningApp, startTunnelWorld, type TunnelWorld } from "./_support.ts";
import { buildGo, compileStatic, goCommand } from "../native/_seccomp.ts";
import { buildReleaseLibrary } from "./_support.ts";

const hasGo = (await goCommand()) !== null;

/** The supervisor installed beside the release library by the same `zig build`. */
async function supervisorEnv(): Promise<Record<string, string>> {
  const library = await buildReleaseLibrary();
  const prefix = library.slice(0, library.lastIndexOf("/lib/"));
  return { GLOBUS_STREAMS_SUPERVISE: `${prefix}/bin/globus-streams-supervise` };
}

async function withGoServer(world: TunnelWorld, fn: () => Promise<void>): Promise<string> {
  const server = await buildGo("go_server");
  const env = await supervisorEnv();
  const app = await startListeningApp(world, [server, String(world.listenerPort)], { env });
  try {
    await fn();
  } catch (error) {
    console.error(`listening app's stderr:\n${app.stderr()}`);
    throw error;
  }
  return (await app.stop()).stderr;
}

Deno.test({
  name:
    "static Go client and server talk through the emulator under the seccomp engine, 1,000 requests from 32 connections",
  ignore: !hasGo,
  async fn() {
    await using world = await startTunnelWorld();
    const client = await buildGo("go_client");
    const env = await supervisorEnv();
    const url = `http://${world.contact}/`;
    const serverStderr = await withGoServer(world, async () => {
      const one = await runInitiator(world, [client, url], { env });
      assert.equal(one.code, 0, one.stdout + one.stderr);
      assert.equal(one.stdout, "body from the go server\n");
      assert.match(one.stderr, /^\[init\] supervising /m);
      assert.match(
        one.stderr,
        new RegExp(
          `\\[connect\\] 127\\.77\\.83\\.1:${world.fakePort} -> ${
            world.connector.replaceAll(".", "\\.")
          } \\(tunnel ${world.tunnelId}, gsa1 ok\\)`,
        ),
      );
      const started = performance.now();
      const burst = await runInitiator(world, [client, "-n", "1000", "-c", "32", url], {
        env: { ...env, GLOBUS_STREAMS_DEBUG: undefined },
        timeoutMs: 180_000,
      });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(burst.code, 0, burst.stdout + burst.stderr);
      assert.equal(burst.stdout, "ok 1000\n");
      console.log(
        `1,000 requests over 32 connections through the emulator: ${seconds.toFixed(2)} s`,
      );
    });
    assert.match(serverStderr, /^\[init\] supervising /m);
    assert.match(serverStderr, /\[accept\] a peer on port \d+: gsa1 ok/);
  },
});

Deno.test({
  name:
    "a static musl C client reaches the static Go server by name and, transparently, by its listener contact",
  ignore: !hasGo,
  async fn() {
    await using world = await startTunnelWorld();
    const client = await compileStatic("static_client");
    const goClient = await buildGo("go_client");
    const env = await supervisorEnv();
    await withGoServer(world, async () => {
      const byName = await runInitiator(world, [client, world.name, String(world.fakePort)], {
        env,
      });
      assert.equal(byName.code, 0, byName.stderr);
      assert.match(byName.stdout, /^body from the go server$/m);
      // The listener contact's own address: no name, the lookup's answer says it is the tunnel's.
      const direct = `http://${world.listenerHost}:${world.listenerPort}/`;
      const transparent = await runInitiator(world, [goClient, direct], { env });
      assert.equal(transparent.code, 0, transparent.stdout + transparent.stderr);
      assert.equal(transparent.stdout, "body from the go server\n");
      assert.match(
        transparent.stderr,
        new RegExp(`\\[connect\\] 127\\.0\\.0\\.1:${world.listenerPort} -> .*gsa1 ok`),
      );
    });
  },
});
