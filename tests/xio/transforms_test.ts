// The rate and netlog transforms.
import assert from "node:assert/strict";
import { Stack, TokenBucket } from "../../src/xio/mod.ts";
import { bytes, expectXio, memoryPair, readAll } from "./_support.ts";

Deno.test("the token bucket refills in whole periods up to its burst", async () => {
  let now = 0;
  const bucket = new TokenBucket(1000, 300, 100, () => now); // 100 bytes per 100 ms
  assert.equal(bucket.burst, 300);
  await bucket.take(300); // starts full
  now = 250; // two whole periods: +200
  assert.equal(await bucket.available(), 200);
  bucket.spend(150);
  now = 10_000; // capped at burst
  assert.equal(await bucket.available(), 300);
  // burst below one period's worth is raised to it
  assert.equal(new TokenBucket(10_000, 1, 100, () => 0).burst, 1000);
});

Deno.test("rate limits each direction to about its rate", async () => {
  // 64 KiB/s in 20 ms periods (1310 bytes each); the bucket starts full (one period).
  const pair = await memoryPair("memory,rate:rate=64k;period=20");
  try {
    const size = 16 * 1024;
    const started = performance.now();
    const writing = pair.opened.write(new Uint8Array(size), { timeoutMs: 5000 });
    const buffer = new Uint8Array(size);
    await pair.accepted.read(buffer, { waitForBytes: size, timeoutMs: 5000 });
    await writing;
    const seconds = (performance.now() - started) / 1000;
    // (16 KiB - one period) / 64 KiB/s = about 0.23 s; allow for timer slack both ways.
    assert.ok(seconds > 0.18, `too fast: ${seconds} s`);
    assert.ok(seconds < 2, `too slow: ${seconds} s`);
    assert.deepEqual(pair.opened.info.rate, { rate: 65536, burst: 1310 });
    // Reads through rate are limited too: the other direction.
    const started2 = performance.now();
    await pair.accepted.write(new Uint8Array(size));
    await pair.opened.read(buffer, { waitForBytes: size, timeoutMs: 5000 });
    assert.ok((performance.now() - started2) / 1000 > 0.18);
  } finally {
    await pair.close();
  }
});

Deno.test("rate needs a rate", async () => {
  const error = await expectXio(() => Stack.parse("memory,rate"), "PARAMETER");
  assert.match(error.message, /option "rate" is required/);
  await expectXio(() => Stack.parse("memory,rate:rate=0"), "PARAMETER");
});

Deno.test("netlog writes one NetLogger line per operation, without the data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/net.log`;
    const pair = await memoryPair(`memory,netlog:file=${file};id=leg1`);
    await pair.opened.write(bytes("secret-payload"));
    await pair.opened.closeWrite();
    assert.equal(await readAll(pair.accepted), "secret-payload");
    await pair.accepted.write(bytes("ok"));
    await pair.accepted.closeWrite();
    assert.equal(await readAll(pair.opened), "ok");
    await pair.close();
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    const events = lines.map((l) => /event=(\S+)/.exec(l)?.[1]);
    assert.deepEqual(events, [
      "xio.open.end",
      "xio.write.end",
      "xio.closewrite.end",
      "xio.read.end",
      "xio.read.end",
      "xio.close.end",
    ]);
    for (const line of lines) {
      assert.match(
        line,
        /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z event=xio\.\S+ level=Info xio\.id=leg1 /,
      );
      assert.match(line, / status=0$/);
      assert.ok(!line.includes("secret-payload"));
    }
    assert.match(lines[0], / side=open contact=pair-\S+ /);
    assert.match(lines[1], / bytes=14 dur=\d+\.\d{6} /);
    assert.match(lines[3], / bytes=2 /);
    assert.match(lines[4], / bytes=0 /); // end of stream
    assert.match(lines[5], / read\.bytes=2 write\.bytes=14 dur=/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("netlog logs failures with status -1 and a message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/net.log`;
    const pair = await memoryPair(`memory:fail=write:start,netlog:file=${file}`);
    await expectXio(pair.opened.write(bytes("x")), "SYSTEM");
    await pair.close();
    const text = await Deno.readTextFile(file);
    assert.match(
      text,
      /event=xio\.write\.end level=Error .* status=-1 msg=".*injected failure at the start of write"\n/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await expectXio(() => Stack.parse("memory,netlog"), "PARAMETER");
});
