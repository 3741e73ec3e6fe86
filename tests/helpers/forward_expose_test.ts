// forward and expose as real processes, through an emulator process, to a real server
// process (python3): both sides initialised with the CLI, each with its own conf dir.
import assert from "node:assert/strict";
import {
  exchange,
  randomData,
  sha256,
  startCliWorld,
  startHelper,
  startSinkServer,
  waitFor,
  within,
} from "./_world.ts";

const MIB = 1024 * 1024;

function portOf(line: string): number {
  const match = /^Forwarding 127\.0\.0\.1:(\d+) -> tunnel [0-9a-f-]{36}$/.exec(line) ??
    /listening on 127\.0\.0\.1:(\d+) -> /.exec(line);
  if (!match) throw new Error(`not a listening line: ${line}`);
  return Number(match[1]);
}

Deno.test("forward + emulator + expose carry 64 MiB each way to a real server, SHA-256 checked", async () => {
  await using world = await startCliWorld();
  const download = randomData(64 * MIB);
  const downloadFile = `${world.root}/download.bin`;
  await Deno.writeFile(downloadFile, download);
  const sink = await startSinkServer(world.root, downloadFile);
  const expose = await startHelper([
    "expose",
    "--listen",
    `127.0.0.1:${world.listenerPort}`,
    "--to",
    `127.0.0.1:${sink.port}`,
    world.tunnelId,
  ], world.env("listener"));
  const forward = await startHelper(
    ["forward", "-F", "json", world.tunnelId],
    world.env("initiator"),
  );
  try {
    assert.equal(
      expose.firstLine,
      `Exposing tunnel ${world.tunnelId}: listening on 127.0.0.1:${world.listenerPort} -> 127.0.0.1:${sink.port}`,
    );
    const announced = JSON.parse(forward.firstLine);
    assert.equal(announced.tunnel_id, world.tunnelId);
    const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(announced.listen)?.[1]);
    const upload = randomData(64 * MIB);
    const started = performance.now();
    const { digestLine, download: got } = await within(exchange(port, upload), 60_000, "64 MiB");
    const seconds = (performance.now() - started) / 1000;
    console.log(`128 MiB through forward/emulator/expose in ${seconds.toFixed(1)} s`);
    assert.equal(digestLine, sha256(upload), "the server got the upload intact");
    assert.equal(got.length, download.length);
    assert.equal(sha256(got), sha256(download), "the download arrived intact");
  } finally {
    const forwardCode = await forward.stop();
    const exposeCode = await expose.stop();
    await sink.stop();
    assert.equal(forwardCode, 0, forward.stderr());
    assert.equal(exposeCode, 0, expose.stderr());
    assert.match(
      forward.stderr(),
      /forward: stopped: 1 connection \(0 failed\), 67108864 bytes up, 67108929 bytes down\n$/,
    );
    assert.match(
      expose.stderr(),
      /expose: stopped: 1 connection \(0 failed\), 67108864 bytes up, 67108929 bytes down\n$/,
    );
  }
});

Deno.test("100 concurrent streams, each checksummed both ways", async () => {
  await using world = await startCliWorld();
  const download = randomData(300_000);
  const downloadFile = `${world.root}/download.bin`;
  await Deno.writeFile(downloadFile, download);
  const sink = await startSinkServer(world.root, downloadFile);
  const expose = await startHelper([
    "expose",
    "--to",
    `127.0.0.1:${sink.port}`,
    world.tunnelId,
  ], world.env("listener"));
  const forward = await startHelper(["forward", world.tunnelId], world.env("initiator"));
  try {
    // --listen defaults to the conf file's listener contact.
    assert.equal(portOf(expose.firstLine), world.listenerPort);
    const port = portOf(forward.firstLine);
    const results = await within(
      Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const upload = randomData(200_000 + i * 1000);
        const { digestLine, download: got } = await exchange(port, upload);
        return digestLine === sha256(upload) && sha256(got) === sha256(download);
      })),
      60_000,
      "100 streams",
    );
    assert.equal(results.filter(Boolean).length, 100);
  } finally {
    await forward.stop();
    await expose.stop();
    await sink.stop();
  }
  assert.match(forward.stderr(), /stopped: 100 connections \(0 failed\)/);
  assert.match(expose.stderr(), /stopped: 100 connections \(0 failed\)/);
});

Deno.test("a wrong LAN secret is refused on each leg, with a tunnel event naming the leg", async () => {
  await using world = await startCliWorld();
  const downloadFile = `${world.root}/download.bin`;
  await Deno.writeFile(downloadFile, new TextEncoder().encode("ok"));
  const sink = await startSinkServer(world.root, downloadFile);
  const expose = await startHelper(
    ["expose", "--to", `127.0.0.1:${sink.port}`, world.tunnelId],
    world.env("listener"),
  );
  const forward = await startHelper(["forward", world.tunnelId], world.env("initiator"));
  try {
    const port = portOf(forward.firstLine);
    const upload = new TextEncoder().encode("hello");
    const good = await exchange(port, upload);
    assert.equal(good.digestLine, sha256(upload));

    // Leg 3: the listening side's conf holds another secret; expose reads it for each
    // connection, refuses the access point, and the app on the initiating side sees EOF.
    await world.editConf("listener", "lankey", "tampered-listening-secret");
    const refused = await exchange(port, upload, 10_000);
    assert.equal(refused.digestLine, "");
    assert.equal(refused.download.length, 0);
    await waitFor(
      () => /refused "127\.0\.0\.1:\d+": GSA1 /.test(expose.stderr()),
      5000,
      "expose log",
    );
    assert.match(expose.stderr(), /expose: refused "127\.0\.0\.1:\d+": GSA1 bad proof/);
    assert.ok(!expose.stderr().includes("tampered-listening-secret"));

    // Leg 1: the initiating side's conf holds another secret.
    await world.editConf("initiator", "lankey", "tampered-initiating-secret");
    const cut = await exchange(port, upload, 10_000);
    assert.equal(cut.download.length, 0);
    await waitFor(
      () => /refused the GSA1 handshake: bad proof/.test(forward.stderr()),
      5000,
      "forward log",
    );
    assert.ok(!forward.stderr().includes("tampered-initiating-secret"));

    const events = await world.events();
    const failed = events.filter((e) => e.code === "LAN_AUTH_FAILED");
    assert.equal(failed.length, 2, JSON.stringify(events));
    assert.match(failed[0].description, /^Leg 3 .*the GSA1 handshake failed: bad_proof$/);
    assert.match(failed[1].description, /^Leg 1 .*the GSA1 handshake failed: bad_proof$/);
    assert.ok(failed.every((e) => e.is_error));
  } finally {
    await forward.stop();
    await expose.stop();
    await sink.stop();
  }
  assert.match(forward.stderr(), /stopped: 3 connections \(1 failed\)/);
  assert.match(expose.stderr(), /stopped: 2 connections \(1 failed\)/);
});
