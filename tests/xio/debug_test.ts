// The debug file of GLOBUS_STREAMS_DEBUG (documented with a path in /tmp) is opened
// as a log a stranger may have prepared: never through a symbolic link, never a FIFO
// or another non-regular file, never a file another user owns. Refused, the lines go to
// stderr with one line saying why. Each case runs in a real child process.
import assert from "node:assert/strict";
import { childEnv, outputWithin, spawnPiped } from "../_support/process.ts";

const child = new URL("./_debug_child.ts", import.meta.url).pathname;
const isRoot = Deno.uid() === 0;

async function logTo(spec: string): Promise<{ stderr: string }> {
  const process = spawnPiped(Deno.execPath(), ["run", "--allow-all", child], {
    env: childEnv({ GLOBUS_STREAMS_DEBUG: spec }),
  });
  const output = await outputWithin(process, 15_000);
  assert.ok(!output.killed, `the child hung on GLOBUS_STREAMS_DEBUG=${spec}`);
  assert.equal(output.code, 0, output.stderr);
  return { stderr: output.stderr };
}

function refusedLine(path: string, why: RegExp, stderr: string): void {
  const [first, second] = stderr.split("\n");
  assert.ok(
    first.startsWith(
      `GLOBUS_STREAMS_DEBUG: Could not open "${path}", using stderr for debug messages: `,
    ),
    stderr,
  );
  assert.match(first, why);
  assert.equal(second, "[xio] hello from the child");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gs-debug-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a new debug file is created 0600 and an own one appended to", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/debug.log`;
    assert.equal((await logTo(`ERROR,${path}`)).stderr, "");
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    await logTo(`ERROR,${path}`);
    const text = await Deno.readTextFile(path);
    assert.equal(text.match(/\[xio\] hello from the child\n/g)?.length, 2, text);
  });
});

Deno.test("a symbolic link named as the debug file is not followed, dangling or not", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/debug.log`;
    const victim = `${dir}/victim`;
    await Deno.writeTextFile(victim, "keep\n");
    await Deno.symlink(victim, path);
    for (const spec of [`ERROR,${path}`, `ERROR,#${path}`]) {
      refusedLine(path, /: it is a symbolic link$/, (await logTo(spec)).stderr);
      assert.equal(await Deno.readTextFile(victim), "keep\n", spec);
    }
    // A link to a name that does not exist yet must not create it.
    await Deno.remove(path);
    const planted = `${dir}/planted`;
    await Deno.symlink(planted, path);
    refusedLine(path, /: it is a symbolic link$/, (await logTo(`ERROR,${path}`)).stderr);
    await assert.rejects(Deno.lstat(planted), Deno.errors.NotFound);
  });
});

Deno.test("a FIFO named as the debug file is refused at once", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/debug.log`;
    const made = await new Deno.Command("mkfifo", { args: ["-m", "600", path] }).output();
    assert.ok(made.success, "mkfifo");
    refusedLine(path, /: it is not a regular file$/, (await logTo(`ERROR,${path}`)).stderr);
  });
});

Deno.test({
  name: "a debug file another user owns is refused, and left as it was",
  ignore: !isRoot,
  async fn() {
    await withDir(async (dir) => {
      const path = `${dir}/debug.log`;
      await Deno.writeTextFile(path, "theirs\n");
      await Deno.chown(path, 65534, 65534);
      for (const spec of [`ERROR,${path}`, `ERROR,#${path}`]) {
        refusedLine(
          path,
          /: it is owned by uid 65534, not by you \(uid 0\)$/,
          (await logTo(spec)).stderr,
        );
        assert.equal(await Deno.readTextFile(path), "theirs\n", spec);
      }
    });
  },
});
