// The framework's guarantees, over the in-memory transport: wait-for-bytes, ordered
// end-of-stream, cancel, per-operation timeouts, state checks, typed errors, and a
// failure injected at the start and at the completion of every operation.
import assert from "node:assert/strict";
import {
  DebugLog,
  DriverRegistry,
  isXioError,
  type Lower,
  memoryDriver,
  memoryStats,
  parseDebugSpec,
  registerDriver,
  Stack,
  tcpDriver,
  type TransformDriver,
} from "../../src/xio/mod.ts";
import { bytes, decoder, expectXio, memoryPair, readAll, uniqueName } from "./_support.ts";

/** The framework kept the driver's own error as the cause. */
function assertInjected(cause: unknown): void {
  assert.ok(cause instanceof Error && /^injected failure at the /.test(cause.message), `${cause}`);
}

Deno.test("data comes before end-of-stream, and end-of-stream sticks", async () => {
  const pair = await memoryPair();
  try {
    await pair.opened.write(bytes("abc"));
    await pair.opened.closeWrite();
    const buffer = new Uint8Array(10);
    const eof = await expectXio(pair.accepted.read(buffer, { waitForBytes: 10 }), "EOF");
    assert.equal(eof.nbytes, 3);
    assert.equal(decoder.decode(buffer.subarray(0, 3)), "abc");
    assert.match(eof.message, /end of stream after 3 of 10 bytes/);
    const again = await expectXio(pair.accepted.read(buffer), "EOF");
    assert.equal(again.nbytes, 0);
    assert.equal(pair.accepted.bytesRead, 3);
    assert.equal(pair.opened.bytesWritten, 3);
    // The other direction is still open (half-close).
    await pair.accepted.write(bytes("back"));
    await pair.accepted.closeWrite();
    assert.equal(await readAll(pair.opened), "back");
  } finally {
    await pair.close();
  }
});

Deno.test("waitForBytes loops over short driver reads", async () => {
  const pair = await memoryPair("memory:capacity=3", "memory:capacity=3");
  try {
    const writing = pair.opened.write(bytes("0123456789abcdefghij"));
    const buffer = new Uint8Array(32);
    const n = await pair.accepted.read(buffer, { waitForBytes: 20, timeoutMs: 2000 });
    await writing;
    assert.equal(n, 20);
    assert.equal(decoder.decode(buffer.subarray(0, 20)), "0123456789abcdefghij");
    await expectXio(pair.accepted.read(buffer, { waitForBytes: 33 }), "PARAMETER");
    await expectXio(pair.accepted.read(buffer, { waitForBytes: 0 }), "PARAMETER");
    assert.equal(await pair.accepted.read(new Uint8Array(0)), 0);
  } finally {
    await pair.close();
  }
});

Deno.test("a timed-out read ends CANCELED with TIMEOUT as cause, and no byte is lost", async () => {
  const pair = await memoryPair();
  try {
    const buffer = new Uint8Array(16);
    const canceled = await expectXio(pair.accepted.read(buffer, { timeoutMs: 30 }), "CANCELED");
    assert.ok(isXioError(canceled.cause, "TIMEOUT"));
    assert.ok(canceled.timedOut);
    assert.match(canceled.message, /timed out after 30 ms/);
    assert.equal(pair.accepted.state, "open");
    // The driver read left in flight gets these bytes; the next read delivers them.
    await pair.opened.write(bytes("late"));
    await pair.opened.write(bytes("r"));
    const next = new Uint8Array(2);
    assert.equal(await pair.accepted.read(next, { timeoutMs: 1000 }), 2);
    assert.equal(decoder.decode(next), "la");
    await pair.opened.closeWrite();
    assert.equal(await readAll(pair.accepted), "ter");
  } finally {
    await pair.close();
  }
});

Deno.test("a partial wait-for-bytes read that times out reports its bytes", async () => {
  const pair = await memoryPair();
  try {
    await pair.opened.write(bytes("xy"));
    const buffer = new Uint8Array(8);
    const error = await expectXio(
      pair.accepted.read(buffer, { waitForBytes: 8, timeoutMs: 40 }),
      "CANCELED",
    );
    assert.equal(error.nbytes, 2);
    assert.equal(decoder.decode(buffer.subarray(0, 2)), "xy");
    assert.equal(pair.accepted.bytesRead, 2);
  } finally {
    await pair.close();
  }
});

Deno.test("cancel() ends pending operations and the handle stays usable", async () => {
  const pair = await memoryPair();
  try {
    const reading = pair.accepted.read(new Uint8Array(4));
    await new Promise((r) => setTimeout(r, 10));
    pair.accepted.cancel();
    const error = await expectXio(reading, "CANCELED");
    assert.equal(error.cause, undefined);
    assert.match(error.message, /: canceled$/);
    await pair.opened.write(bytes("ok"));
    const buffer = new Uint8Array(2);
    assert.equal(await pair.accepted.read(buffer, { waitForBytes: 2, timeoutMs: 1000 }), 2);
    assert.equal(decoder.decode(buffer), "ok");
  } finally {
    await pair.close();
  }
});

Deno.test("a read's own signal cancels it, with the signal's reason as cause", async () => {
  const pair = await memoryPair();
  try {
    const controller = new AbortController();
    const reading = pair.accepted.read(new Uint8Array(4), { signal: controller.signal });
    controller.abort(new Error("shutting down"));
    const error = await expectXio(reading, "CANCELED");
    assert.equal((error.cause as Error).message, "shutting down");
    await expectXio(
      pair.accepted.read(new Uint8Array(4), { signal: controller.signal }),
      "CANCELED",
    );
  } finally {
    await pair.close();
  }
});

Deno.test("a second pending read or write is a STATE error", async () => {
  const pair = await memoryPair("memory:capacity=1", "memory:capacity=1");
  try {
    const reading = pair.accepted.read(new Uint8Array(4));
    await expectXio(pair.accepted.read(new Uint8Array(4)), "STATE");
    const writing = pair.opened.write(bytes("abc"));
    await expectXio(pair.opened.write(bytes("d")), "STATE");
    await expectXio(pair.opened.closeWrite(), "STATE");
    assert.equal(await reading, 1);
    const buffer = new Uint8Array(2);
    await pair.accepted.read(buffer, { waitForBytes: 2, timeoutMs: 1000 });
    await writing;
  } finally {
    await pair.close();
  }
});

Deno.test("operations on a closed handle are STATE errors; close twice is one close", async () => {
  const pair = await memoryPair();
  const reading = pair.accepted.read(new Uint8Array(4));
  const first = pair.accepted.close();
  assert.equal(pair.accepted.state, "closing");
  assert.equal(pair.accepted.close(), first);
  await first;
  assert.equal(pair.accepted.state, "closed");
  const canceled = await expectXio(reading, "CANCELED");
  assert.match(canceled.message, /the handle is closing/);
  await expectXio(pair.accepted.read(new Uint8Array(4)), "STATE");
  await expectXio(pair.accepted.write(bytes("x")), "STATE");
  await expectXio(pair.accepted.closeWrite(), "STATE");
  // The peer sees end-of-stream, and writing to a closed peer fails (SYSTEM).
  await expectXio(pair.opened.read(new Uint8Array(4), { timeoutMs: 1000 }), "EOF");
  const broken = await expectXio(pair.opened.write(bytes("x")), "SYSTEM");
  assert.match(broken.message, /Broken pipe/);
  await pair.close();
});

Deno.test("write after closeWrite is a STATE error, closeWrite twice is not", async () => {
  const pair = await memoryPair();
  try {
    await pair.opened.write(bytes("data"));
    await pair.opened.closeWrite();
    await pair.opened.closeWrite();
    assert.ok(pair.opened.writeClosed);
    await expectXio(pair.opened.write(bytes("more")), "STATE");
    assert.equal(await readAll(pair.accepted), "data");
  } finally {
    await pair.close();
  }
});

Deno.test("a write blocked by back-pressure times out, then completes in order", async () => {
  const pair = await memoryPair("memory:capacity=4", "memory:capacity=4");
  try {
    const error = await expectXio(
      pair.opened.write(bytes("0123456789"), { timeoutMs: 30 }),
      "CANCELED",
    );
    assert.ok(error.timedOut);
    const next = pair.opened.write(bytes("AB"), { timeoutMs: 2000 });
    const buffer = new Uint8Array(12);
    await pair.accepted.read(buffer, { waitForBytes: 12, timeoutMs: 2000 });
    await next;
    assert.equal(decoder.decode(buffer), "0123456789AB");
    assert.equal(pair.opened.bytesWritten, 12);
  } finally {
    await pair.close();
  }
});

Deno.test("open, accept, read, write and close each time out on their own timer", async () => {
  // open: the driver stalls.
  const stalled = uniqueName("stall-open");
  const server = await Stack.parse("memory").listen(stalled);
  const openError = await expectXio(
    Stack.parse("memory:stall=open", { timeouts: { open: 30 } }).open(stalled),
    "CANCELED",
  );
  assert.ok(openError.timedOut);
  assert.match(
    openError.message,
    /^Cannot open ".*" with stack "memory:stall=open": timed out after 30 ms$/,
  );
  // accept: nobody connects. A later connection is still accepted.
  const acceptError = await expectXio(server.accept({ timeoutMs: 30 }), "CANCELED");
  assert.ok(acceptError.timedOut);
  const [opened, accepted] = await Promise.all([
    Stack.parse("memory:stall=close").open(stalled),
    server.accept({ timeoutMs: 1000 }),
  ]);
  // read and write, from the stack's defaults.
  const slow = await Stack.parse("memory:capacity=1", { timeouts: { read: 20, write: 20 } })
    .open(stalled);
  const slowPeer = await server.accept({ timeoutMs: 1000 });
  assert.ok((await expectXio(slow.read(new Uint8Array(1)), "CANCELED")).timedOut);
  assert.ok((await expectXio(slow.write(bytes("xyz")), "CANCELED")).timedOut);
  // close: the driver stalls; the handle ends closed anyway.
  const closeError = await expectXio(opened.close({ timeoutMs: 30 }), "CANCELED");
  assert.ok(closeError.timedOut);
  assert.equal(opened.state, "closed");
  await Promise.allSettled([accepted.close(), slow.close(), slowPeer.close()]);
  await server.close();
});

Deno.test("timeouts must be numbers >= 0", async () => {
  const pair = await memoryPair();
  try {
    await expectXio(pair.opened.read(new Uint8Array(1), { timeoutMs: -1 }), "PARAMETER");
    await expectXio(pair.opened.write(bytes("x"), { timeoutMs: NaN }), "PARAMETER");
    // The handle is not left with a read pending.
    await pair.accepted.write(bytes("z"));
    assert.equal(await pair.opened.read(new Uint8Array(1), { timeoutMs: 1000 }), 1);
    // A bad close timeout is reported, and the handle is closed all the same.
    await expectXio(pair.opened.close({ timeoutMs: -5 }), "PARAMETER");
    assert.equal(pair.opened.state, "closed");
  } finally {
    await pair.close();
  }
});

Deno.test("a signal cancels an open in progress", async () => {
  const name = uniqueName("abort-open");
  const server = await Stack.parse("memory").listen(name);
  const controller = new AbortController();
  const opening = Stack.parse("memory:stall=open").open(name, { signal: controller.signal });
  controller.abort(new Error("stop"));
  const error = await expectXio(opening, "CANCELED");
  assert.equal((error.cause as Error).message, "stop");
  await server.close();
});

Deno.test("closing a server ends a pending accept; accepting afterwards is STATE", async () => {
  const server = await Stack.parse("memory").listen(uniqueName("close-server"));
  const accepting = server.accept();
  await expectXio(server.accept(), "STATE");
  await server.close();
  const error = await expectXio(accepting, "CANCELED");
  assert.match(error.message, /the server is closing/);
  await expectXio(server.accept(), "STATE");
  assert.equal(server.state, "closed");
});

// Each operation fails once, at its start or at its completion: the framework reports
// SYSTEM with the driver's error as cause, keeps its state straight and leaks nothing.
for (const when of ["start", "end"] as const) {
  Deno.test(`a failure at the ${when} of open is SYSTEM and leaves nothing open`, async () => {
    const name = uniqueName(`fault-open-${when}`);
    const server = await Stack.parse("memory").listen(name);
    const error = await expectXio(Stack.parse(`memory:fail=open:${when}`).open(name), "SYSTEM");
    assertInjected(error.cause);
    assert.match(error.message, new RegExp(`injected failure at the ${when} of open`));
    const stats = memoryStats(name);
    assert.equal(stats.opened, when === "end" ? 1 : 0);
    assert.equal(stats.closed, stats.opened);
    if (when === "end") {
      // The half the listener got was closed with it: reading it ends at once.
      const orphan = await server.accept({ timeoutMs: 1000 });
      await expectXio(orphan.read(new Uint8Array(1), { timeoutMs: 1000 }), "EOF");
      await orphan.close();
    }
    await server.close();
  });

  Deno.test(`a failure at the ${when} of accept is SYSTEM and the server goes on`, async () => {
    const name = uniqueName(`fault-accept-${when}`);
    const server = await Stack.parse(`memory:fail=accept:${when}`).listen(name);
    const first = Stack.parse("memory").open(name);
    const error = await expectXio(server.accept({ timeoutMs: 1000 }), "SYSTEM");
    assertInjected(error.cause);
    const opened = await first;
    if (when === "end") {
      // That connection was closed by the failed accept: its opener sees the end.
      await expectXio(opened.read(new Uint8Array(1), { timeoutMs: 1000 }), "EOF");
    }
    const [second, accepted] = await Promise.all([
      Stack.parse("memory").open(name),
      server.accept({ timeoutMs: 1000 }),
    ]);
    if (when === "start") {
      // The failed accept took nothing: this accept gets the first connection.
      await opened.write(bytes("1"));
      assert.equal(await accepted.read(new Uint8Array(1), { timeoutMs: 1000 }), 1);
    }
    await Promise.allSettled([opened.close(), second.close(), accepted.close()]);
    await server.close();
  });

  Deno.test(`a failure at the ${when} of read is SYSTEM and the next read works`, async () => {
    const pair = await memoryPair("memory", `memory:fail=read:${when}`);
    try {
      await pair.opened.write(bytes("one"));
      const buffer = new Uint8Array(8);
      const error = await expectXio(pair.accepted.read(buffer, { timeoutMs: 1000 }), "SYSTEM");
      assertInjected(error.cause);
      assert.equal(pair.accepted.state, "open");
      await pair.opened.write(bytes("two"));
      await pair.opened.closeWrite();
      // At the start nothing was taken; at the end "one" was consumed by the failed read.
      assert.equal(await readAll(pair.accepted), when === "start" ? "onetwo" : "two");
    } finally {
      await pair.close();
    }
  });

  Deno.test(`a failure at the ${when} of write is SYSTEM and the next write works`, async () => {
    const pair = await memoryPair(`memory:fail=write:${when}`);
    try {
      const error = await expectXio(pair.opened.write(bytes("one")), "SYSTEM");
      assertInjected(error.cause);
      assert.equal(pair.opened.bytesWritten, 0);
      await pair.opened.write(bytes("two"));
      assert.equal(pair.opened.bytesWritten, 3);
      await pair.opened.closeWrite();
      assert.equal(await readAll(pair.accepted), when === "start" ? "two" : "onetwo");
    } finally {
      await pair.close();
    }
  });

  Deno.test(`a failure at the ${when} of closeWrite is SYSTEM and writing stays closed`, async () => {
    const pair = await memoryPair(`memory:fail=close_write:${when}`);
    try {
      await pair.opened.write(bytes("data"));
      const error = await expectXio(pair.opened.closeWrite(), "SYSTEM");
      assertInjected(error.cause);
      await expectXio(pair.opened.write(bytes("x")), "STATE");
      if (when === "end") assert.equal(await readAll(pair.accepted), "data");
    } finally {
      await pair.close();
    }
  });

  Deno.test(`a failure at the ${when} of close is SYSTEM and the handle is closed`, async () => {
    const pair = await memoryPair(`memory:fail=close:${when}`);
    const error = await expectXio(pair.opened.close(), "SYSTEM");
    assertInjected(error.cause);
    assert.match(error.message, /^Cannot close ".*" with stack ".*" \(driver "memory"\): injected/);
    assert.equal(pair.opened.state, "closed");
    await expectXio(pair.opened.read(new Uint8Array(1)), "STATE");
    if (when === "end") {
      await expectXio(pair.accepted.read(new Uint8Array(1), { timeoutMs: 1000 }), "EOF");
    }
    await pair.close();
  });
}

/** A transform that fails its open, after reading one byte (a handshake gone wrong). */
const failingDriver: TransformDriver = {
  name: "failing",
  kind: "transform",
  summary: "fails on open",
  options: {},
  async open(lower: Lower) {
    await lower.read(new Uint8Array(1));
    throw new Error("handshake refused");
  },
};

/** A transform that holds everything until the end, then hands it out in pieces. */
const hoardDriver: TransformDriver = {
  name: "hoard",
  kind: "transform",
  summary: "buffers until end-of-stream",
  options: {},
  open(lower: Lower) {
    let held: Uint8Array | undefined;
    return Promise.resolve({
      async read(buffer: Uint8Array) {
        if (held === undefined) {
          const parts: Uint8Array[] = [];
          const chunk = new Uint8Array(64);
          for (let n; (n = await lower.read(chunk)) > 0;) parts.push(chunk.slice(0, n));
          held = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
          let at = 0;
          for (const p of parts) held.set(p, (at += p.length) - p.length);
        }
        const n = Math.min(buffer.length, held.length, 2);
        buffer.set(held.subarray(0, n));
        held = held.subarray(n);
        return n;
      },
      write: (data: Uint8Array) => lower.write(data),
      close: () => Promise.resolve(),
    });
  },
};

Deno.test("a transform that fails to open releases the transport below it", async () => {
  const registry = new DriverRegistry([memoryDriver, failingDriver]);
  const name = uniqueName("failing");
  const server = await Stack.parse("memory").listen(name);
  const opening = Stack.parse("memory,failing", { registry }).open(name);
  const peer = await server.accept({ timeoutMs: 1000 });
  await peer.write(bytes("?"));
  const error = await expectXio(opening, "SYSTEM");
  assert.match(error.message, /\(driver "failing"\): handshake refused$/);
  await expectXio(peer.read(new Uint8Array(1), { timeoutMs: 1000 }), "EOF");
  assert.equal(memoryStats(name).closed, 1);
  await peer.close();
  await server.close();
});

Deno.test("a transform's end-of-stream reaches the reader only after all its data", async () => {
  const registry = new DriverRegistry([memoryDriver, hoardDriver]);
  const pair = await memoryPair("memory", "memory,hoard", { registry });
  try {
    await pair.opened.write(bytes("abcdefg"));
    await pair.opened.closeWrite();
    const buffer = new Uint8Array(5);
    const error = await expectXio(
      pair.accepted.read(buffer, { waitForBytes: 5, timeoutMs: 1000 }).then(() =>
        pair.accepted.read(buffer, { waitForBytes: 5, timeoutMs: 1000 })
      ),
      "EOF",
    );
    assert.equal(error.nbytes, 2);
    assert.equal(decoder.decode(buffer.subarray(0, 2)), "fg");
    assert.equal(pair.accepted.bytesRead, 7);
    assert.deepEqual(Object.keys(pair.accepted.info), ["memory", "hoard"]);
  } finally {
    await pair.close();
  }
});

Deno.test("registering a driver name twice is ALREADY_REGISTERED", async () => {
  await expectXio(() => registerDriver(tcpDriver), "ALREADY_REGISTERED");
  const registry = new DriverRegistry([memoryDriver]);
  await expectXio(() => registry.register({ ...memoryDriver }), "ALREADY_REGISTERED");
  await expectXio(() => registry.register({ ...memoryDriver, name: "Bad-Name" }), "PARAMETER");
  registry.register(hoardDriver);
  assert.deepEqual(registry.names(), ["hoard", "memory"]);
});

Deno.test("a handle's web streams carry data, back-pressure and half-close", async () => {
  const pair = await memoryPair("memory:capacity=16", "memory:capacity=16");
  try {
    const payload = new Uint8Array(100_000).map((_, i) => i % 251);
    const writing = new Blob([payload]).stream().pipeTo(pair.opened.writable);
    const received = new Uint8Array(await new Response(pair.accepted.readable).arrayBuffer());
    await writing;
    assert.equal(received.length, payload.length);
    assert.deepEqual(received, payload);
    assert.ok(pair.opened.writeClosed);
  } finally {
    await pair.close();
  }
});

Deno.test("debug output follows GLOBUS_STREAMS_DEBUG levels", async () => {
  const lines: string[] = [];
  const debug = new DebugLog(parseDebugSpec("INFO|ERROR,,0,INFO"), (line) => lines.push(line));
  const name = uniqueName("debug");
  const server = await Stack.parse("memory", { debug }).listen(name);
  const [opened, accepted] = await Promise.all([
    Stack.parse("memory", { debug }).open(name),
    server.accept(),
  ]);
  await opened.close();
  await accepted.close();
  await expectXio(Stack.parse("memory", { debug }).open(uniqueName("nobody")), "SYSTEM");
  await server.close();
  assert.ok(lines.some((l) => /\[xio\] open ".*" with stack "memory": ok/.test(l)), lines.join(""));
  assert.ok(lines.some((l) => /\[xio\] close .*: ok \(read 0, wrote 0 bytes/.test(l)));
  assert.ok(lines.some((l) => /\[xio\] Cannot open .*no memory listener/.test(l)));
  assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT.*Z \[xio\]|^\[xio\]/.test(l)));
  // ERROR lines carry no timestamp here (only INFO has one), INFO lines do.
  assert.ok(lines.some((l) => /^\[xio\] Cannot/.test(l)));
  assert.ok(lines.some((l) => /^\d{4}-.*\[xio\] open/.test(l)));
});
