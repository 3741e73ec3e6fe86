// The tcp transport on real loopback sockets (IPv4 and, where the host has it, IPv6),
// and relay() between two tcp handles.
import assert from "node:assert/strict";
import { isXioError, relay, Stack } from "../../src/xio/mod.ts";
import { bytes, decoder, expectXio, memoryPair, readAll } from "./_support.ts";

function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

for (const host of ["127.0.0.1", "[::1]"]) {
  Deno.test({
    name: `tcp connects, half-closes and reports addresses on ${host}`,
    ignore: host === "[::1]" && !hasIpv6Loopback(),
    fn: async () => {
      const stack = Stack.parse("tcp:nodelay;keepalive");
      const server = await stack.listen(`${host}:0`);
      assert.match(server.address, host === "[::1]" ? /^\[::1\]:\d+$/ : /^127\.0\.0\.1:\d+$/);
      const [accepted, opened] = await Promise.all([
        server.accept({ timeoutMs: 2000 }),
        stack.open(server.address, { timeoutMs: 2000 }),
      ]);
      try {
        assert.equal(opened.info.tcp.remote, server.address);
        assert.equal(accepted.info.tcp.local, server.address);
        assert.equal(accepted.contact, opened.info.tcp.local);
        assert.equal(opened.info.tcp.nodelay, true);
        assert.equal(opened.info.tcp.keepalive, true);
        await opened.write(bytes("request"));
        await opened.closeWrite();
        assert.equal(await readAll(accepted), "request");
        await accepted.write(bytes("reply"));
        await accepted.closeWrite();
        assert.equal(await readAll(opened), "reply");
      } finally {
        await Promise.all([opened.close(), accepted.close()]);
        await server.close();
      }
    },
  });
}

Deno.test("tcp contact strings are checked before any I/O", async () => {
  const tcp = Stack.parse("tcp");
  for (const bad of ["", "localhost", "127.0.0.1", "::1:80", "[::1]", "host:99999", "a b:1"]) {
    const error = await expectXio(tcp.open(bad), "CONTACT_STRING");
    assert.match(error.message, /want HOST:PORT or \[IPV6\]:PORT/);
  }
  await expectXio(tcp.listen("nothing"), "CONTACT_STRING");
});

Deno.test("a refused tcp connection is SYSTEM with the OS error as cause", async () => {
  // A port that was just free: bind, note it, release it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const error = await expectXio(Stack.parse("tcp").open(`127.0.0.1:${port}`), "SYSTEM");
  assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
  assert.match(
    error.message,
    new RegExp(`^Cannot open "127\\.0\\.0\\.1:${port}" with stack "tcp": `),
  );
});

Deno.test("listening on a busy tcp port is SYSTEM", async () => {
  const server = await Stack.parse("tcp").listen("127.0.0.1:0");
  try {
    const error = await expectXio(Stack.parse("tcp").listen(server.address), "SYSTEM");
    assert.ok(error.cause instanceof Deno.errors.AddrInUse);
  } finally {
    await server.close();
  }
});

Deno.test("a tcp accept that times out keeps the next connection for the next accept", async () => {
  const stack = Stack.parse("tcp");
  const server = await stack.listen("127.0.0.1:0");
  try {
    const error = await expectXio(server.accept({ timeoutMs: 30 }), "CANCELED");
    assert.ok(error.timedOut);
    const [accepted, opened] = await Promise.all([
      server.accept({ timeoutMs: 2000 }),
      stack.open(server.address),
    ]);
    await opened.write(bytes("hi"));
    const buffer = new Uint8Array(2);
    await accepted.read(buffer, { waitForBytes: 2, timeoutMs: 2000 });
    assert.equal(decoder.decode(buffer), "hi");
    await Promise.all([accepted.close(), opened.close()]);
  } finally {
    await server.close();
  }
});

/** An echo-ish service: upper-cases what it reads until end of stream, then closes. */
async function upperService(server: Awaited<ReturnType<Stack["listen"]>>): Promise<void> {
  const handle = await server.accept({ timeoutMs: 5000 });
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      let n: number;
      try {
        n = await handle.read(buffer, { timeoutMs: 5000 });
      } catch (error) {
        if (isXioError(error, "EOF")) break;
        throw error;
      }
      const view = buffer.subarray(0, n);
      for (let i = 0; i < n; i++) if (view[i] >= 97 && view[i] <= 122) view[i] -= 32;
      await handle.write(view);
    }
    await handle.closeWrite();
  } finally {
    await handle.close();
  }
}

Deno.test("relay() joins two tcp handles with back-pressure and half-close", async () => {
  const tcp = Stack.parse("tcp");
  const service = await tcp.listen("127.0.0.1:0");
  const front = await tcp.listen("127.0.0.1:0");
  const serving = upperService(service);
  const relaying = (async () => {
    const client = await front.accept({ timeoutMs: 5000 });
    const upstream = await tcp.open(service.address, { timeoutMs: 5000 });
    try {
      return await relay(client, upstream);
    } finally {
      await Promise.all([client.close(), upstream.close()]);
    }
  })();
  const client = await tcp.open(front.address);
  const size = 3 * 1024 * 1024 + 7;
  const payload = new Uint8Array(size).map((_, i) => 97 + (i % 26));
  const writing = (async () => {
    for (let at = 0; at < size; at += 100_000) {
      await client.write(payload.subarray(at, Math.min(size, at + 100_000)), { timeoutMs: 5000 });
    }
    await client.closeWrite();
  })();
  const got = new Uint8Array(size);
  let at = 0;
  for (;;) {
    try {
      at += await client.read(got.subarray(at, Math.min(size, at + 65536)), { timeoutMs: 5000 });
    } catch (error) {
      if (isXioError(error, "EOF")) break;
      throw error;
    }
    if (at === size) {
      await expectXio(client.read(new Uint8Array(1), { timeoutMs: 5000 }), "EOF");
      break;
    }
  }
  await writing;
  assert.equal(at, size);
  assert.equal(got[0], 65);
  assert.equal(got[size - 1], 65 + ((size - 1) % 26));
  assert.deepEqual(await relaying, { aToB: size, bToA: size });
  await serving;
  await client.close();
  await Promise.all([service.close(), front.close()]);
});

Deno.test("relay() stops on its signal and on idleness, canceling both sides", async () => {
  const pair1 = await memoryPair();
  const pair2 = await memoryPair();
  try {
    const controller = new AbortController();
    const relaying = relay(pair1.accepted, pair2.opened, { signal: controller.signal });
    await pair1.opened.write(bytes("x"));
    const buffer = new Uint8Array(1);
    await pair2.accepted.read(buffer, { timeoutMs: 1000 });
    controller.abort();
    await expectXio(relaying, "CANCELED");
    // Both handles are still open and usable.
    assert.equal(pair1.accepted.state, "open");
    const idle = await expectXio(
      relay(pair1.accepted, pair2.opened, { idleTimeoutMs: 40 }),
      "CANCELED",
    );
    assert.ok(idle.timedOut);
    assert.match(idle.message, /idle for 40 ms/);
    await expectXio(relay(pair1.accepted, pair2.opened, { bufferSize: 0 }), "PARAMETER");
  } finally {
    await pair1.close();
    await pair2.close();
  }
});

Deno.test("relay() fails when one side breaks, and the other side stops too", async () => {
  const pair1 = await memoryPair();
  const pair2 = await memoryPair();
  try {
    const relaying = relay(pair1.accepted, pair2.opened);
    await pair2.accepted.close(); // the far end goes away
    await pair1.opened.write(bytes("into the void"));
    const error = await expectXio(relaying, "SYSTEM");
    assert.match(error.message, /Broken pipe/);
  } finally {
    await pair1.close();
    await pair2.close();
  }
});
