// The preload library on the listening side: a python server under
// GLOBUS_STREAMS_INTERCEPT_PORT_<port> accepts only connections that pass GSA1, and runs
// those handshakes side by side, so silent peers do not hold up a good client.
import assert from "node:assert/strict";
import {
  buildLibrary,
  fixtures,
  freePort,
  preloadEnv,
  readExact,
  respondTo,
  secret,
  secretId,
  type Server,
  startServer,
  tunnelId,
  within,
  writeAnswer,
} from "./_support.ts";

const echoServer = `${fixtures}echo_server.py`;

async function withServer(
  options: { count: number; nonblocking?: boolean; lankey?: string; env?: Record<string, string> },
  fn: (port: number, server: Server) => Promise<void>,
): Promise<string> {
  await buildLibrary();
  const dir = await Deno.makeTempDir({ prefix: "gs-listener-" });
  const port = freePort();
  const answer = await writeAnswer(dir, {
    connector_contact_string: "127.0.0.1:1",
    fake_port: 4001,
    lankey: options.lankey,
    lankey_id: options.lankey ? secretId : undefined,
  });
  const args = [echoServer, String(port), String(options.count)];
  if (options.nonblocking) args.push("--nonblocking");
  const server = startServer("python3", args, {
    ...preloadEnv(answer),
    [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
    ...options.env,
  });
  let failure: unknown;
  try {
    await server.waitFor("listening");
    await fn(port, server);
  } catch (error) {
    failure = error;
  }
  const result = await server.stop();
  await Deno.remove(dir, { recursive: true });
  if (failure !== undefined) {
    console.error(`server stderr:\n${result.stderr}`);
    throw failure;
  }
  return result.stderr;
}

Deno.test("a blocking accept() hands over only the clients that pass GSA1", async () => {
  const stderr = await withServer({ count: 2, lankey: secret }, async (port, server) => {
    assert.deepEqual(await respondTo(port, "wrong secret", "bad"), { outcome: "bad_proof" });
    assert.deepEqual(await respondTo(port, secret, "hello"), {
      outcome: "accepted",
      echo: "hello",
    });
    assert.deepEqual(await respondTo(port, secret, "again"), {
      outcome: "accepted",
      echo: "again",
    });
    await server.waitFor("got again");
    assert.deepEqual(server.lines, ["listening", "got hello", "got again"]);
  });
  assert.match(stderr, /\[bind\] fd \d+ port \d+: accept\(\) runs GSA1 for tunnel 5f2c8e4a-/);
  assert.match(
    stderr,
    /\[accept\] 127\.0\.0\.1:\d+ on port \d+ \(tunnel 5f2c8e4a-.*gsa1 refused: bad proof/,
  );
  assert.match(stderr, /gsa1 ok\)/);
});

Deno.test("a non-blocking accept() answers EAGAIN after refusing the only pending client", async () => {
  await withServer({ count: 1, nonblocking: true, lankey: secret }, async (port, server) => {
    assert.deepEqual(await respondTo(port, "wrong secret", "bad"), { outcome: "bad_proof" });
    await server.waitFor("eagain");
    assert.deepEqual(await respondTo(port, secret, "hello"), {
      outcome: "accepted",
      echo: "hello",
    });
    await server.waitFor("got hello");
    assert.ok(!server.lines.includes("got bad"));
  });
});

Deno.test("a stalled peer holds accept() no longer than the handshake timeout", async () => {
  await withServer(
    { count: 1, lankey: secret, env: { GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "1" } },
    async (port, server) => {
      const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        // The server sends HELLO to the stalled peer first, then gives up on it.
        await within(readExact(stalled, 37), 5000);
        const started = performance.now();
        const good = await respondTo(port, secret, "hello");
        assert.deepEqual(good, { outcome: "accepted", echo: "hello" });
        const waited = performance.now() - started;
        assert.ok(waited < 4000, `waited ${waited} ms`);
        await server.waitFor("got hello");
      } finally {
        stalled.close();
      }
    },
  );
});

Deno.test("a listener whose lookup fails refuses peers as an unknown tunnel", async () => {
  const stderr = await withServer(
    { count: 1, lankey: secret, env: { FAKE_MODE: "fail" } },
    async (port, server) => {
      assert.deepEqual(await respondTo(port, secret, "hello"), { outcome: "unknown_tunnel" });
      assert.deepEqual(server.lines, ["listening"]);
    },
  );
  assert.match(stderr, /\[accept\] .*no answer for tunnel 5f2c8e4a-.*exited with status 3/);
});

Deno.test("without a LAN secret the listener accepts plain TCP", async () => {
  await withServer({ count: 1 }, async (port, server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("plain"));
      const echo = await within(readExact(conn, 5), 5000);
      assert.equal(new TextDecoder().decode(echo), "plain");
      await server.waitFor("got plain");
    } finally {
      conn.close();
    }
  });
});

const SILENT_PEERS = 200;
const HELLO_SIZE = 37;

/**
 * Opens count connections to port that stay silent after reading their HELLO, a few at a
 * time: each batch is taken on (HELLO read) before the next, as the server's backlog is 16.
 */
async function connectSilent(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  const batch = 8;
  try {
    for (let at = 0; at < count; at += batch) {
      const size = Math.min(batch, count - at);
      const opening = Array.from({ length: size }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(conn);
        const hello = await readExact(conn, HELLO_SIZE);
        assert.equal(new TextDecoder().decode(hello.subarray(0, 4)), "GSA1");
      });
      await within(Promise.all(opening), 10_000);
    }
  } catch (error) {
    closeAll(conns);
    throw error;
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

for (const nonblocking of [false, true]) {
  const kind = nonblocking ? "non-blocking (select)" : "blocking";
  Deno.test(`a good client gets through a ${kind} listener while ${SILENT_PEERS} silent peers are connected`, async () => {
    // A handshake timeout far above the bound: handshakes run one at a time would fail.
    const env = { GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "30" };
    await withServer({ count: 2, nonblocking, lankey: secret, env }, async (port, server) => {
      // A first client while the listener is idle: its lookup (a process start, time in
      // which the backlog of 16 would overflow) is then cached.
      assert.deepEqual(await respondTo(port, secret, "first"), {
        outcome: "accepted",
        echo: "first",
      });
      // Every silent peer is taken on (it got its HELLO) and then sends nothing.
      const silent = await connectSilent(port, SILENT_PEERS);
      try {
        const started = performance.now();
        const good = await respondTo(port, secret, "hello");
        const waited = performance.now() - started;
        assert.deepEqual(good, { outcome: "accepted", echo: "hello" });
        assert.ok(waited < 3000, `the good client waited ${waited} ms`);
        await server.waitFor("got hello");
      } finally {
        closeAll(silent);
      }
    });
  });
}

// select() on a blocking listener, then accept(): after each accept the server asks
// select() again whether the listener is readable with nothing left to take. A wake left
// in the backlog after its peer went out (the iperf3 hang: two connections at once) made
// it readable, and the next blocking accept() then waited for ever.
const selectServer = `
import select, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("listening", flush=True)
conns = []
while len(conns) < count:
    ready, _, _ = select.select([ls], [], [], 10)
    if not ready:
        print("timed out", flush=True)
        sys.exit(1)
    conn, _ = ls.accept()
    conns.append(conn)
    conn.sendall(conn.recv(100))
ready, _, _ = select.select([ls], [], [], 0.5)
print("readable" if ready else "quiet", flush=True)
`;

Deno.test("after the peers are taken, a selected blocking listener is not left readable", async () => {
  await buildLibrary();
  const dir = await Deno.makeTempDir({ prefix: "gs-listener-select-" });
  try {
    for (let round = 0; round < 5; round++) {
      const port = freePort();
      const answer = await writeAnswer(dir, {
        connector_contact_string: "127.0.0.1:1",
        fake_port: 4001,
        lankey: secret,
        lankey_id: secretId,
      });
      const server = startServer("python3", ["-c", selectServer, String(port), "2"], {
        ...preloadEnv(answer),
        [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
      });
      try {
        await server.waitFor("listening");
        // Two peers at once, as iperf3's control and data connections come.
        const results = await within(
          Promise.all([respondTo(port, secret, "one"), respondTo(port, secret, "two")]),
          10_000,
        );
        assert.deepEqual(results.map((r) => r.outcome), ["accepted", "accepted"]);
        await server.waitFor("quiet", 5_000);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
