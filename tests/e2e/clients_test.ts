// Unmodified programs reach the other site through the emulator: the listening app runs
// under `globus-streams-launch -p PORT TUNNEL` (its accept() plays the GSA1 challenger),
// the initiating client under `globus-streams-launch TUNNEL`; both sides initialised
// by the real CLI with their own conf directories. Clients: curl (http and https with
// end-to-end TLS), python3, node.
import assert from "node:assert/strict";
import {
  emulatorLine,
  fixtures,
  lastJson,
  parseBytes,
  type Proc,
  pythonExe,
  requires,
  run,
  runInitiator,
  sha256,
  startListeningApp,
  startTunnelWorld,
  type TunnelWorld,
} from "./_support.ts";

const curl = await requires("curl");
const curlTls = await requires("curl", "openssl");
const node = await requires("node");

/** Starts the app, runs fn, and stops the app; the app's stderr is shown on failure. */
async function withApp(
  world: TunnelWorld,
  command: string[],
  fn: (app: Proc) => Promise<void>,
  ready?: RegExp,
): Promise<void> {
  const app = await startListeningApp(world, command, { ready });
  try {
    await fn(app);
  } catch (error) {
    console.error(`listening app's stderr:\n${app.stderr()}`);
    throw error;
  } finally {
    await app.stop();
  }
}

/** The LAN port of the initiating access point, as a regex-ready string. */
function lanPort(world: TunnelWorld): string {
  return world.connector.slice(world.connector.lastIndexOf(":") + 1);
}

Deno.test({
  name:
    `curl fetches a file over http from the listening site through globus.<id>:<fake port>${curl.note}`,
  ignore: curl.ignore,
}, async () => {
  await using world = await startTunnelWorld();
  const www = `${world.root}/www`;
  await Deno.mkdir(www);
  const blob = crypto.getRandomValues(new Uint8Array(60_000));
  const file = new Uint8Array(2 * 1024 * 1024).map((_, i) => blob[i % blob.length] ^ (i >> 16));
  await Deno.writeFile(`${www}/blob.bin`, file);
  const python = await pythonExe();
  const server = [
    python,
    "-u",
    "-m",
    "http.server",
    "--bind",
    world.listenerHost,
    "--directory",
    www,
    String(world.listenerPort),
  ];
  await withApp(world, server, async (app) => {
    const out = `${world.root}/blob.out`;
    const result = await runInitiator(world, [
      "curl",
      "-sS",
      "--max-time",
      "20",
      "-o",
      out,
      `http://${world.contact}/blob.bin`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha256(await Deno.readFile(out)), await sha256(file));
    assert.match(
      result.stderr,
      new RegExp(
        `\\[connect\\] globus\\.${world.tunnelId.slice(0, 8)}:${world.fakePort} -> ` +
          `127\\.0\\.0\\.1:${lanPort(world)} \\(tunnel ${world.tunnelId}, gsa1 ok\\)`,
      ),
    );
    // The server's accept() ran GSA1 with the listening access point.
    const stopped = await app.stop();
    assert.match(stopped.stderr, /\[accept\] 127\.0\.0\.1:\d+ on port \d+ \(tunnel .*gsa1 ok\)/);
    assert.match(stopped.stderr, /"GET \/blob\.bin HTTP\/1\.1" 200/);
  }, /^Serving HTTP on /);
});

Deno.test({
  name:
    `curl https to the listener contact completes TLS end to end through the tunnel${curlTls.note}`,
  ignore: curlTls.ignore,
}, async () => {
  await using world = await startTunnelWorld();
  const cert = `${world.root}/cert.pem`;
  const key = `${world.root}/key.pem`;
  const made = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=real.example",
    "-addext",
    "subjectAltName=DNS:real.example",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const python = await pythonExe();
  const port = world.listenerPort;
  const server = [python, `${fixtures}tls_server.py`, cert, key, world.listenerHost, String(port)];
  await withApp(world, server, async (app) => {
    // curl dials the real name's address (the listener contact) as if it were reachable;
    // GLOBUS_STREAMS_TUNNEL routes that connect() into the tunnel.
    const curl = [
      "curl",
      "-sS",
      "--max-time",
      "20",
      "--cacert",
      cert,
      "--resolve",
      `real.example:${port}:${world.listenerHost}`,
      "-w",
      "\nlocal_port=%{local_port} verify=%{ssl_verify_result}\n",
      `https://real.example:${port}/`,
    ];
    const result = await runInitiator(world, curl);
    assert.equal(result.code, 0, result.stderr);
    const [body, trailer] = result.stdout.split("\n").filter((line) => line !== "");
    const served = /^hello over tls from (\d+), peer 127\.0\.0\.1:(\d+)$/.exec(body);
    assert.ok(served, `body: ${body}`);
    assert.equal(served[1], String(port));
    const ours = /^local_port=(\d+) verify=0$/.exec(trailer);
    assert.ok(ours, `trailer: ${trailer}`);
    // The server's peer is the listening access point's leg (the one whose GSA1 passed
    // in accept(), checked below), not curl's own socket.
    assert.notEqual(served[2], ours[1]);
    assert.match(
      result.stderr,
      new RegExp(
        `\\[connect\\] 127\\.0\\.0\\.1:${port} -> 127\\.0\\.0\\.1:${lanPort(world)} ` +
          `\\(tunnel ${world.tunnelId}, gsa1 ok\\)`,
      ),
    );
    await app.waitForLine(/^served TLSv1\.[23]$/);
    // The emulator logged the stream at both access points: GSA1 on leg 1, the WAN leg,
    // GSA1 on leg 3 to the listener contact, and the TLS bytes each way.
    const short = `tunnel ${world.tunnelId.slice(0, 8)}\\.\\.`;
    const bytes = "(\\d+(?:\\.\\d)? k?B)";
    await emulatorLine(
      world.emulator.stderr,
      new RegExp(`^\\[ap site-a\\] ${short}: stream \\d+ closed: lan gsa1 ok, wan ok, `),
    );
    const listening = await emulatorLine(
      world.emulator.stderr,
      new RegExp(
        `^\\[ap site-b\\] ${short}: stream \\d+ closed: wan gsa1 ok, ` +
          `listener "127\\.0\\.0\\.1:${port}" gsa1 ok, .*leg3 ${bytes} up / ${bytes} down`,
      ),
    );
    assert.ok(parseBytes(listening[1]) > 100, `up ${listening[1]}`);
    assert.ok(parseBytes(listening[2]) > 300, `down ${listening[2]}`);

    // The same curl without the launcher reaches the server directly: its accept()
    // refuses it (no GSA1), so nothing but the tunnel gets through.
    const direct = await run("curl", curl.slice(1), { timeoutMs: 30_000 });
    assert.notEqual(direct.code, 0, direct.stdout);
    const stopped = await app.stop();
    assert.equal(stopped.stdout.split("\n").filter((l) => l.startsWith("served")).length, 1);
    assert.match(
      stopped.stderr,
      new RegExp(`\\[accept\\] 127\\.0\\.0\\.1:${served[2]} on port ${port} .*gsa1 ok\\)`),
    );
    assert.match(
      stopped.stderr,
      /\[accept\] 127\.0\.0\.1:\d+ on port \d+ .*gsa1 failed: the peer does not speak GSA1/,
    );
  });
});

Deno.test("a python3 socket client and server exchange a megabyte through the tunnel", async () => {
  await using world = await startTunnelWorld();
  const python = await pythonExe();
  const server = [
    python,
    `${fixtures}echo_server.py`,
    world.listenerHost,
    String(world.listenerPort),
    "--log",
  ];
  await withApp(world, server, async (app) => {
    const result = await runInitiator(world, [
      python,
      `${fixtures}echo_client.py`,
      world.name,
      String(world.fakePort),
      String(1024 * 1024),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const out = lastJson(result);
    assert.deepEqual(out, {
      address: "127.77.83.1", // the pool address: the access point's stays in the library
      port: world.fakePort,
      peer: world.connector,
      sent: 1024 * 1024,
      received: 1024 * 1024,
      same: true,
    });
    // The server saw one connection, from the listening access point.
    const peer = await app.waitForLine(/^peer /);
    assert.match(peer, /^peer 127\.0\.0\.1:\d+$/);
    assert.equal(app.lines.filter((l) => l.startsWith("peer ")).length, 1);
  });
});

Deno.test({
  name:
    `a node net client exchanges a megabyte with the python server through the tunnel${node.note}`,
  ignore: node.ignore,
}, async () => {
  await using world = await startTunnelWorld();
  const python = await pythonExe();
  const server = [
    python,
    `${fixtures}echo_server.py`,
    world.listenerHost,
    String(world.listenerPort),
  ];
  await withApp(world, server, async () => {
    const result = await runInitiator(world, [
      "node",
      `${fixtures}echo_client.mjs`,
      world.name,
      String(world.fakePort),
      String(1024 * 1024),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lastJson(result), {
      peer: world.connector,
      sent: 1024 * 1024,
      received: 1024 * 1024,
      same: true,
    });
    assert.match(result.stderr, /\[connect\] globus\.[0-9a-f]{8}:\d+ -> .*gsa1 ok\)/);
  });
});

const twoConnections = `
import json, socket, sys, time
results = []
for i in range(2):
    if i:
        time.sleep(float(sys.argv[3]))
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
    s.sendall(b"ping %d" % i)
    s.shutdown(socket.SHUT_WR)
    results.append(s.makefile("rb").read().decode())
    s.close()
print(json.dumps(results))
`;

Deno.test("a running program keeps connecting after its contact goes stale (refreshed from Transfer)", async () => {
  await using world = await startTunnelWorld();
  // A one-second TTL on both sides: the second connection's lookup finds the conf stale
  // and the binary fetches the tunnel from the emulator's Transfer API.
  await world.editConf("initiator", "connector_contact_string_ttl", "1");
  await world.editConf("listener", "connector_contact_string_ttl", "1");
  const before = Number(await world.confValue("initiator", "update_time"));
  const python = await pythonExe();
  const server = [
    python,
    `${fixtures}echo_server.py`,
    world.listenerHost,
    String(world.listenerPort),
  ];
  await withApp(world, server, async () => {
    const result = await runInitiator(world, [
      python,
      "-c",
      twoConnections,
      world.name,
      String(world.fakePort),
      "2.2",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ["ping 0", "ping 1"]);
    // Both connections went through the tunnel, the second after the first answer expired.
    assert.equal((result.stderr.match(/\[connect\] .*gsa1 ok\)/g) ?? []).length, 2);
  });
  const after = Number(await world.confValue("initiator", "update_time"));
  assert.ok(after > before, `update_time ${before} -> ${after}`);
});

Deno.test("a listening app with the wrong LAN secret gets no stream, and the tunnel says why", async () => {
  await using world = await startTunnelWorld();
  await world.editConf("listener", "lankey", "not-the-secret-the-access-point-has");
  const python = await pythonExe();
  const server = [
    python,
    `${fixtures}echo_server.py`,
    world.listenerHost,
    String(world.listenerPort),
    "--log",
  ];
  await withApp(world, server, async (app) => {
    const result = await runInitiator(world, [
      python,
      `${fixtures}echo_client.py`,
      world.name,
      String(world.fakePort),
      "1000",
    ]);
    assert.equal(result.code, 0, result.stderr);
    // Leg 1 passed (connect() returned 0), then the access point closed the stream when
    // leg 3 failed: the client reads EOF, no echo.
    const out = lastJson(result);
    assert.equal(out.peer, world.connector);
    assert.equal(out.received, 0);
    const stopped = await app.stop();
    assert.deepEqual(stopped.stdout.split("\n").filter((l) => l.startsWith("peer")), []);
    assert.match(
      stopped.stderr,
      /\[accept\] 127\.0\.0\.1:\d+ on port \d+ .*gsa1 refused: bad proof/,
    );
  });
  const events = (JSON.parse(
    await world.cli("initiator", ["tunnel", "events", "-F", "json", world.tunnelId]),
  ) as {
    data: { attributes: { code: string; description: string } }[];
  }).data;
  const failure = events.find((e) => e.attributes.code === "LAN_AUTH_FAILED");
  assert.ok(failure, JSON.stringify(events));
  assert.match(failure.attributes.description, /^Leg 3 /);
});
