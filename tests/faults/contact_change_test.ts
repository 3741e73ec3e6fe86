// A contact that changes. The emulator gives a tunnel one LAN port for its whole life
// (there is no API that moves it: `restartable` is stored only), so the change is made
// the way a client meets it: the initiating side's conf names a contact that has gone
// dead (as after an access point restarted elsewhere), with a short --cs-ttl. The
// preload library and forward must fail while the stale answer is fresh, look the
// tunnel up again once it is stale, and connect through the real contact.
import assert from "node:assert/strict";
import {
  type App,
  buildLibrary,
  cliBin,
  fixtures,
  freePort,
  launchApp,
  startApp,
  startExpose,
  startFaultWorld,
  startForward,
  streamApp,
  summary,
} from "./_support.ts";

const TTL_S = 2;
const APP_TIMEOUT = ["--timeout", "10"];

/** Points the initiating side's conf at a dead port, fresh as of now. */
async function staleContact(world: Awaited<ReturnType<typeof startFaultWorld>>, port: number) {
  await world.editConf("initiator", {
    connector_contact_string: `127.0.0.1:${port}`,
    update_time: String(Math.floor(Date.now() / 1000)),
  });
}

Deno.test("a dead contact is looked up again after the TTL and the next connect works", async () => {
  await buildLibrary();
  await using world = await startFaultWorld({ csTtl: TTL_S });
  const deadPort = freePort();
  const server = launchApp(world, "listener", ["server", String(world.listenerPort)]);
  let client: App | undefined;
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    await staleContact(world, deadPort);
    const lookupLog = `${world.root}/lookups.log`;
    const started = performance.now();
    // One process, a new socket every 250 ms: the library's cache decides what it dials.
    client = launchApp(world, "initiator", [
      "client",
      `globus.${world.tunnelId}`,
      String(world.fakePort),
      "--echo",
      "after the change",
      "--attempts",
      "60",
      "--every",
      "0.25",
      ...APP_TIMEOUT,
    ], {
      GLOBUS_STREAMS_BIN: `${fixtures}logging_bin.sh`,
      REAL_BIN: cliBin,
      LOOKUP_LOG: lookupLog,
    });
    const echoed = await client.waitEvent(
      (e) => e.event === "echoed",
      (TTL_S + 8) * 1000,
      "an echo through the real contact",
    );
    const recoveredMs = performance.now() - started;
    const failures = client.events.filter((e) => e.event === "failed");
    assert.ok(failures.length >= 1, "the first connect went to the dead port");
    assert.ok(
      failures.every((e) => e.stage === "connect" && e.errno === 111),
      JSON.stringify(failures),
    );
    assert.equal(echoed.text, "after the change");
    const lookups = (await Deno.readTextFile(lookupLog)).trim().split("\n")
      .filter((line) => line.startsWith("environment contact-lookup --format preload "));
    assert.ok(lookups.length >= 2, `the library looked the tunnel up ${lookups.length} time(s)`);
    // Cached for the answer's TTL, not looked up again for every connect.
    assert.ok(lookups.length <= 3, `${lookups.length} lookups for ${failures.length + 1} connects`);
    // The binary rewrote the conf with the tunnel's real contact.
    const conf = await Deno.readTextFile(world.confPath("initiator"));
    assert.match(
      conf,
      new RegExp(`^connector_contact_string=127\\.0\\.0\\.1:${world.connector.port}$`, "m"),
    );
    summary({
      scenario: "contact-change",
      path: "preload",
      "cs-ttl-s": TTL_S,
      "failed-connects": failures.length,
      lookups: lookups.length,
      "recovered-ms": recoveredMs,
    });
  } finally {
    await client?.stop();
    await server.stop();
  }
});

Deno.test("forward dials the tunnel's new contact once the stale one expires", async () => {
  await using world = await startFaultWorld({ csTtl: TTL_S });
  const serverPort = freePort();
  const server = startApp("python3", [streamApp, "server", String(serverPort)], {});
  let expose: App | undefined;
  let forward: (App & { port: number }) | undefined;
  let client: App | undefined;
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    expose = await startExpose(world, serverPort);
    forward = await startForward(world);
    await staleContact(world, freePort());
    const started = performance.now();
    client = startApp("python3", [
      streamApp,
      "client",
      "127.0.0.1",
      String(forward.port),
      "--echo",
      "via forward",
      "--attempts",
      "60",
      "--every",
      "0.25",
      ...APP_TIMEOUT,
    ], {});
    await client.waitEvent((e) => e.event === "echoed", (TTL_S + 8) * 1000, "an echo");
    const recoveredMs = performance.now() - started;
    const failures = client.events.filter((e) => e.event === "failed");
    assert.ok(failures.length >= 1, "the first stream went to the dead port");
    // forward accepts locally, then the stream into the tunnel fails: the app sees EOF.
    assert.ok(failures.every((e) => e.stage === "echo"), JSON.stringify(failures));
    assert.match(forward.stderr(), /127\.0\.0\.1:\d+/);
    summary({
      scenario: "contact-change",
      path: "forward",
      "cs-ttl-s": TTL_S,
      "failed-streams": failures.length,
      "recovered-ms": recoveredMs,
    });
  } finally {
    await client?.stop();
    await forward?.stop();
    await expose?.stop();
    await server.stop();
  }
});
