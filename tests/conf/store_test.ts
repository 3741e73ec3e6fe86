import assert from "node:assert/strict";
import { confDir, ConfError, ConfStore, withValues } from "../../src/conf/mod.ts";
import { modeOf, sampleConf, tempDir, tunnelId } from "./_fixture.ts";

const isRoot = Deno.uid() === 0;

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<ConfError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfError, `want ConfError, got ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"));
    return error;
  }
  throw new Error("no error thrown");
}

Deno.test("confDir is GLOBUS_STREAMS_DIR, else $HOME/.globus/streams", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(confDir(env({ GLOBUS_STREAMS_DIR: "/x/y/", HOME: "/h" })), "/x/y");
  assert.equal(confDir(env({ HOME: "/h" })), "/h/.globus/streams");
  assert.throws(() => confDir(env({})), ConfError);
});

Deno.test("a missing directory path is created 0700 at every level, files 0600", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(`${dir.path}/a/b/streams`);
  assert.equal(await store.read(tunnelId), undefined);
  await store.write(tunnelId, sampleConf());
  for (const part of ["a", "a/b", "a/b/streams"]) {
    assert.equal(modeOf(await Deno.stat(`${dir.path}/${part}`)), 0o700, part);
  }
  assert.equal(modeOf(await Deno.stat(store.path(tunnelId))), 0o600);
  assert.deepEqual((await store.read(tunnelId))?.values, sampleConf().values);
  assert.deepEqual(await store.tunnelIds(), [tunnelId]);
});

Deno.test("write replaces the file and keeps unknown keys", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  await Deno.chmod(dir.path, 0o700);
  await store.write(tunnelId, sampleConf());
  await Deno.writeTextFile(store.path(tunnelId), "mine=1\n", { append: true });
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { fakePort: 1234 }));
  const text = await Deno.readTextFile(store.path(tunnelId));
  assert.match(text, /^mine=1$/m);
  assert.match(text, /^fake_port=1234$/m);
  assert.equal(modeOf(await Deno.stat(store.path(tunnelId))), 0o600);
  // no temp files left behind
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.endsWith(".tmp")), []);
});

Deno.test("a conf file others can read is refused, naming chmod 600", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(`${dir.path}/s`);
  await store.write(tunnelId, sampleConf());
  const path = store.path(tunnelId);
  await Deno.chmod(path, 0o644);
  const error = await rejects(
    new ConfStore(`${dir.path}/s`).read(tunnelId),
    /^Cannot use conf file ".*\.conf": mode 0644 lets other users read the LAN secret \(run: chmod 600 ".*\.conf"\)$/,
  );
  assert.equal(error.path, path);
  await Deno.chmod(path, 0o620);
  await rejects(
    new ConfStore(`${dir.path}/s`).read(tunnelId),
    /mode 0620 lets other users change it/,
  );
  await Deno.chmod(path, 0o600);
  assert.ok(await new ConfStore(`${dir.path}/s`).read(tunnelId));
});

Deno.test("a conf directory others can read or write is refused, naming chmod 700", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/s`;
  await new ConfStore(path).write(tunnelId, sampleConf());
  await Deno.chmod(path, 0o755);
  await rejects(
    new ConfStore(path).read(tunnelId),
    /^Cannot use conf directory ".*\/s": mode 0755 lets other users list it \(run: chmod 700 ".*\/s"\)$/,
  );
  await rejects(new ConfStore(path).write(tunnelId, sampleConf()), /mode 0755/);
  await Deno.chmod(path, 0o733);
  await rejects(new ConfStore(path).tunnelIds(), /mode 0733 lets other users replace its files/);
  await Deno.chmod(path, 0o711);
  assert.ok(await new ConfStore(path).read(tunnelId), "search permission alone is fine");
});

Deno.test({
  name: "a conf file or directory another user owns is refused",
  ignore: !isRoot,
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/s`;
    const store = new ConfStore(path);
    await store.write(tunnelId, sampleConf());
    await Deno.chown(store.path(tunnelId), 65534, 65534);
    await rejects(
      new ConfStore(path).read(tunnelId),
      /^Cannot use conf file ".*": it is owned by uid 65534, not by you \(uid 0\) \(run: chown 0 /,
    );
    await Deno.chown(store.path(tunnelId), 0, 0);
    await Deno.chown(path, 65534, 65534);
    await rejects(new ConfStore(path).read(tunnelId), /^Cannot use conf directory .*uid 65534/);
  },
});

Deno.test("a corrupt file is reported with its line and is not replaced by read", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  await Deno.chmod(dir.path, 0o700);
  await store.write(tunnelId, sampleConf());
  const path = store.path(tunnelId);
  const text = (await Deno.readTextFile(path)).replace("fake_port=4242", "fake_port=x");
  await Deno.writeTextFile(path, text);
  const error = await rejects(store.read(tunnelId), /line \d+: fake_port "x"/);
  assert.ok(error.line > 0);
  assert.equal(await Deno.readTextFile(path), text);
});

Deno.test("non-UTF-8, oversized and non-regular conf files are refused", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  await Deno.chmod(dir.path, 0o700);
  const path = store.path(tunnelId);
  await Deno.writeFile(path, new Uint8Array([0x66, 0xff, 0x3d, 0x0a]), { mode: 0o600 });
  await rejects(store.read(tunnelId), /not UTF-8 text/);
  await store.write(tunnelId, { ...sampleConf(), lines: [{ text: "# écrit à la main" }] });
  assert.deepEqual((await store.read(tunnelId))?.lines[0], { text: "# écrit à la main" });
  await Deno.writeTextFile(path, "x=" + "a".repeat(70_000) + "\n");
  await rejects(store.read(tunnelId), /larger than 65536 bytes/);
  await Deno.remove(path);
  await Deno.mkdir(path, { mode: 0o700 });
  await rejects(store.read(tunnelId), /not a regular file/);
});

Deno.test("a tunnel id that is not a UUID never becomes a path", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  assert.throws(() => store.path("../../etc/passwd"), ConfError);
  await rejects(store.read("../x"), /Invalid tunnel id "..\/x"/);
});

Deno.test("remove deletes the conf file, and the lock file only under the lock; tunnelIds ignores other names", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  await Deno.chmod(dir.path, 0o700);
  await store.withLock(tunnelId, () => store.write(tunnelId, sampleConf()));
  await Deno.writeTextFile(`${dir.path}/notes.conf`, "x=1\n");
  assert.deepEqual(await store.tunnelIds(), [tunnelId]);
  const names = () => [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
  assert.equal(await store.remove(tunnelId), true);
  assert.deepEqual(names(), [`${tunnelId}.lock`, "notes.conf"], "someone may hold it");
  await store.write(tunnelId, sampleConf());
  assert.equal(await store.withLock(tunnelId, () => store.remove(tunnelId)), true);
  assert.equal(await store.remove(tunnelId), false);
  assert.deepEqual(names(), ["notes.conf"]);
});

Deno.test("removeStaleTemps removes only old temp files", async () => {
  await using dir = await tempDir();
  const store = new ConfStore(dir.path);
  await Deno.chmod(dir.path, 0o700);
  const temp = `${dir.path}/.${tunnelId}.conf.0123abcd.tmp`;
  await Deno.writeTextFile(temp, "half");
  assert.equal(await store.removeStaleTemps(Date.now()), 0);
  assert.equal(await store.removeStaleTemps(Date.now() + 120_000), 1);
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});
