import assert from "node:assert/strict";
import { ConfStore } from "../../src/conf/mod.ts";
import { startWriter, tempDir, tunnelId } from "./_fixture.ts";

Deno.test("a writer SIGKILLed mid-write leaves the old or the new file, never a torn one", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  for (let round = 0; round < 4; round++) {
    const child = await startWriter([dir.path, tunnelId, "loop"]);
    // Readers take no lock: every read while the writer runs must parse.
    const until = Date.now() + 100 + Math.random() * 150;
    let reads = 0;
    while (Date.now() < until) {
      const conf = await new ConfStore(dir.path).read(tunnelId);
      assert.ok(conf && [1111, 2222].includes(conf.values.fakePort));
      assert.equal(conf.lines.length, 500 + 7);
      reads++;
    }
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    const conf = await new ConfStore(dir.path).read(tunnelId);
    assert.ok(conf && [1111, 2222].includes(conf.values.fakePort), `round ${round}`);
    assert.equal(conf.lines.length, 500 + 7);
    assert.ok(reads > 0);
  }
  // Temp files a killed writer left behind are never taken for conf files.
  const store = new ConfStore(dir.path);
  assert.deepEqual(await store.tunnelIds(), [tunnelId]);
  await store.removeStaleTemps(Date.now() + 3_600_000);
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).filter((n) =>
    n.endsWith(".tmp")
  );
  assert.deepEqual(names, []);
});
