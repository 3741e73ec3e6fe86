import assert from "node:assert/strict";
import { ConfError, ConfStore, withValues } from "../../src/conf/mod.ts";
import { sampleConf, startWriter, tempDir, tunnelId } from "./_fixture.ts";

const writer = new URL("./_writer.ts", import.meta.url).pathname;

Deno.test("the lock serialises read-modify-write across processes", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const store = new ConfStore(dir.path);
  await store.write(tunnelId, sampleConf({ updateTime: 0 }));
  const processes = 4;
  const each = 15;
  const children = Array.from({ length: processes }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", writer, dir.path, tunnelId, "increment", String(each)],
      stdout: "null",
      stderr: "inherit",
    }).spawn());
  const timer = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), 60_000);
  const statuses = await Promise.all(children.map((c) => c.status));
  clearTimeout(timer);
  assert.ok(statuses.every((s) => s.success));
  assert.equal((await store.read(tunnelId))?.values.updateTime, processes * each);
});

Deno.test("the lock serialises callers inside one process too", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const store = new ConfStore(dir.path);
  await store.write(tunnelId, sampleConf({ updateTime: 0 }));
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      new ConfStore(dir.path).withLock(tunnelId, async () => {
        inside++;
        most = Math.max(most, inside);
        const conf = (await store.read(tunnelId))!;
        await new Promise((resolve) => setTimeout(resolve, 2));
        await store.write(tunnelId, withValues(conf, { updateTime: conf.values.updateTime + 1 }));
        inside--;
      })),
  );
  assert.equal(most, 1);
  assert.equal((await store.read(tunnelId))?.values.updateTime, 10);
});

Deno.test("waiting for the lock is bounded and ends in a ConfError", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const child = await startWriter([dir.path, tunnelId, "hold", "5000"]);
  try {
    const store = new ConfStore(dir.path, { lockTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(
      store.withLock(tunnelId, () => Promise.resolve()),
      (error) =>
        error instanceof ConfError && /^Cannot lock ".*\.lock": another/.test(error.message),
    );
    assert.ok(Date.now() - started < 3000);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  // A dead holder's lock is gone with it.
  const store = new ConfStore(dir.path, { lockTimeoutMs: 2000 });
  assert.equal(await store.withLock(tunnelId, () => Promise.resolve(7)), 7);
});

Deno.test("the lock is released when fn throws", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const store = new ConfStore(dir.path, { lockTimeoutMs: 500 });
  await assert.rejects(store.withLock(tunnelId, () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await store.withLock(tunnelId, () => Promise.resolve(1)), 1);
});

/** Whether process pid has path open (read from /proc/<pid>/fd). */
function hasOpen(pid: number, path: string): boolean {
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
      const target = (() => {
        try {
          return Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
        } catch {
          return "";
        }
      })();
      if (target === path) return true;
    }
  } catch {
    // The process is gone or not readable: not open.
  }
  return false;
}

function startRefresher(dirPath: string, holdMs: number) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", writer, dirPath, tunnelId, "exclusive", String(holdMs)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

Deno.test("two refreshers across a cleanup never hold the lock at once", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const store = new ConfStore(dir.path);
  await store.write(tunnelId, sampleConf());
  const lockPath = `${dir.path}/${tunnelId}.lock`;
  // The first refresher arrives while cleanup holds the lock: it opens the lock file
  // and waits. Cleanup removes the tunnel's files, as 'environment cleanup' does, and
  // lets go; a second refresher comes after.
  let first: Deno.ChildProcess | undefined;
  await store.withLock(tunnelId, async () => {
    first = startRefresher(dir.path, 1500);
    const until = Date.now() + 20_000;
    while (!hasOpen(first.pid, lockPath)) {
      assert.ok(Date.now() < until, "the first refresher never opened the lock file");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await store.remove(tunnelId), true);
  });
  const second = startRefresher(dir.path, 200);
  const timer = setTimeout(() => [first!, second].forEach((c) => c.kill("SIGKILL")), 30_000);
  const [a, b] = await Promise.all([first!.output(), second.output()]);
  clearTimeout(timer);
  const said = (output: Deno.CommandOutput) => new TextDecoder().decode(output.stdout).trim();
  assert.deepEqual([said(a), a.code], ["locked", 0], "first refresher");
  assert.deepEqual([said(b), b.code], ["locked", 0], "second refresher");
});
