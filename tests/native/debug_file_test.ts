// The preload library's GLOBUS_STREAMS_DEBUG file is opened in every preloaded program,
// so as a log a stranger may have prepared: never through a link (dangling or not),
// never a FIFO (the program must not stall), never a file another user owns. Refused,
// the lines go to stderr after one [init] line saying so.
import assert from "node:assert/strict";
import {
  buildLibrary,
  fixtures,
  preloadEnv,
  run,
  tunnelId,
  withTemp as withTempDir,
} from "./_support.ts";

const client = `${fixtures}client.py`;
const isRoot = Deno.uid() === 0;

/**
 * A preloaded python3 whose lookup fails: the library logs a few lines, then it exits.
 * file is the debug variable's file part ("#" truncates first).
 */
async function logTo(dir: string, file: string) {
  const garbage = `${dir}/garbage.txt`;
  await Deno.writeTextFile(garbage, "not an answer\n");
  const result = await run("python3", [client, `globus.${tunnelId}`, "4001"], {
    env: preloadEnv(garbage, { GLOBUS_STREAMS_DEBUG: `1,${file}` }),
    timeoutMs: 15_000,
  });
  assert.equal(result.code, 0, result.stderr);
  return result;
}

function assertRefused(path: string, stderr: string): void {
  assert.ok(
    stderr.startsWith(`[init] not writing to debug file "${path}": it is a link, not a regular`),
    stderr,
  );
  assert.match(stderr, /\n\[getaddrinfo\] /);
}

const withTemp = (fn: (dir: string) => Promise<void>) => withTempDir("gs-native-debug-", fn);

Deno.test("the library's debug file is created 0600, then appended to", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const path = `${dir}/debug.log`;
    assert.equal((await logTo(dir, path)).stderr, "");
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    await logTo(dir, path);
    const text = await Deno.readTextFile(path);
    assert.equal(text.match(/^\[getaddrinfo\] .*cannot read the lookup answer/gm)?.length, 2, text);
    await logTo(dir, `#${path}`);
    const truncated = await Deno.readTextFile(path);
    assert.equal(truncated.match(/cannot read the lookup answer/g)?.length, 1, truncated);
  });
});

Deno.test("the library never writes its debug file through a link, dangling or not", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const path = `${dir}/debug.log`;
    const victim = `${dir}/victim`;
    await Deno.writeTextFile(victim, "keep\n");
    await Deno.symlink(victim, path);
    for (const file of [path, `#${path}`]) {
      assertRefused(path, (await logTo(dir, file)).stderr);
      assert.equal(await Deno.readTextFile(victim), "keep\n", file);
    }
    await Deno.remove(path);
    const planted = `${dir}/planted`;
    await Deno.symlink(planted, path);
    assertRefused(path, (await logTo(dir, path)).stderr);
    await assert.rejects(Deno.lstat(planted), Deno.errors.NotFound);
  });
});

Deno.test("a FIFO as the library's debug file does not stall the program", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const path = `${dir}/debug.log`;
    const made = await new Deno.Command("mkfifo", { args: ["-m", "600", path] }).output();
    assert.ok(made.success, "mkfifo");
    assertRefused(path, (await logTo(dir, path)).stderr);
  });
});

Deno.test({
  name: "the library leaves a debug file another user owns alone",
  ignore: !isRoot,
  async fn() {
    await buildLibrary();
    await withTemp(async (dir) => {
      const path = `${dir}/debug.log`;
      await Deno.writeTextFile(path, "theirs\n");
      await Deno.chown(path, 65534, 65534);
      for (const file of [path, `#${path}`]) {
        assertRefused(path, (await logTo(dir, file)).stderr);
        assert.equal(await Deno.readTextFile(path), "theirs\n", file);
      }
    });
  },
});
