// relay()'s adaptive buffer policy: each direction starts small, grows while its reads
// fill the buffer, within a budget shared by relays, and gives it back. Over memory
// stacks, so the sizes are the relay's own, not the kernel's.
import assert from "node:assert/strict";
import { BufferBudget, type Handle, isXioError, relay, Stack } from "../../src/xio/mod.ts";
import { randomData, sha256, within } from "../helpers/_world.ts";
import { expectXio, memoryPair } from "./_support.ts";

/** Reads a handle to its end (EOF), at most 10 s. */
async function drain(handle: Handle): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    try {
      const n = await handle.read(buffer, { timeoutMs: 10_000 });
      chunks.push(buffer.slice(0, n));
    } catch (error) {
      if (isXioError(error, "EOF")) break;
      throw error;
    }
  }
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Two memory pairs a<->a2 and b<->b2; the relay runs between a2 and b2. */
async function memoryPairs(name: string): Promise<{ ends: Handle[]; close(): Promise<void> }> {
  const stack = Stack.parse("memory:capacity=4m");
  const servers = [await stack.listen(`${name}-a`), await stack.listen(`${name}-b`)];
  const [a, b] = await Promise.all(servers.map((s) => stack.open(s.address)));
  const [a2, b2] = await Promise.all(servers.map((s) => s.accept()));
  const ends = [a, a2, b, b2];
  return {
    ends,
    async close() {
      await Promise.allSettled([...ends.map((h) => h.close()), ...servers.map((s) => s.close())]);
    },
  };
}

Deno.test("relay with adaptive buffers: a bulk direction grows within the budget and gives it back", async () => {
  const pairs = await memoryPairs("adaptive-bulk");
  const [a, a2, b, b2] = pairs.ends;
  const budget = new BufferBudget(3 * 64 * 1024);
  let peak = 0;
  try {
    const relaying = relay(a2, b2, { adaptive: { small: 16 * 1024, large: 256 * 1024, budget } });
    const data = randomData(8 * 1024 * 1024);
    const sending = (async () => {
      for (let at = 0; at < data.length; at += 1024 * 1024) {
        await a.write(data.subarray(at, at + 1024 * 1024));
        peak = Math.max(peak, budget.used);
      }
      await a.closeWrite();
    })();
    const got = new Uint8Array(data.length);
    let n = 0;
    while (n < got.length) {
      n += await b.read(got.subarray(n), { timeoutMs: 10_000 });
      peak = Math.max(peak, budget.used);
    }
    await within(sending, 10_000, "sending");
    await b.closeWrite();
    const moved = await within(relaying, 10_000, "the relay");
    assert.equal(moved.aToB, data.length);
    assert.equal(moved.bToA, 0);
    assert.equal(sha256(got), sha256(data));
    // It grew (16k -> 64k at least), never past the budget, and returned it at the end.
    assert.ok(peak >= 48 * 1024, `peak ${peak}`);
    assert.ok(peak <= budget.limit, `peak ${peak}`);
    assert.equal(budget.used, 0);
  } finally {
    await pairs.close();
  }
});

Deno.test("relay with adaptive buffers: with no budget left every direction stays small", async () => {
  const pairs = await memoryPairs("adaptive-none");
  const [a, a2, b, b2] = pairs.ends;
  const budget = new BufferBudget(0);
  try {
    const relaying = relay(a2, b2, { adaptive: { small: 4096, large: 1024 * 1024, budget } });
    const data = randomData(1024 * 1024);
    const sending = (async () => {
      await a.write(data);
      await a.closeWrite();
    })();
    const reply = randomData(1000);
    await b.write(reply);
    await b.closeWrite();
    const [got, back] = await Promise.all([drain(b), drain(a)]);
    await within(sending, 10_000, "sending");
    const moved = await within(relaying, 10_000, "the relay");
    assert.equal(moved.aToB, data.length);
    assert.equal(moved.bToA, reply.length);
    assert.equal(sha256(got), sha256(data));
    assert.deepEqual(back, reply);
    assert.equal(budget.used, 0);
  } finally {
    await pairs.close();
  }
});

Deno.test("relay with adaptive buffers: a failed side ends the relay with its error and frees the budget", async () => {
  const pairs = await memoryPairs("adaptive-fail");
  const [a, a2, _b, b2] = pairs.ends;
  const budget = new BufferBudget(1024 * 1024);
  try {
    const relaying = relay(a2, b2, { adaptive: { small: 1024, large: 64 * 1024, budget } });
    await a.write(randomData(256 * 1024));
    await b2.close();
    await assert.rejects(within(relaying, 10_000, "the relay"));
    assert.equal(budget.used, 0);
  } finally {
    await pairs.close();
  }
});

Deno.test("relay refuses adaptive sizes that are not positive, inverted, or given with bufferSize", async () => {
  const pair = await memoryPair();
  try {
    const budget = new BufferBudget(1024);
    const { opened, accepted } = pair;
    const bad = [
      { adaptive: { small: 0, large: 1024, budget } },
      { adaptive: { small: 1.5, large: 1024, budget } },
      { adaptive: { small: 4096, large: 1024, budget } },
      { adaptive: { small: 1024, large: 4096, budget }, bufferSize: 1024 },
    ];
    for (const options of bad) {
      const error = await expectXio(relay(opened, accepted, options), "PARAMETER");
      assert.match(error.message, /^Cannot relay: /);
    }
  } finally {
    await pair.close();
  }
});
