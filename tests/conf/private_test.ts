// Opening a conf file never follows a link and never waits: a FIFO, a socket, a
// directory or a symbolic link named <id>.conf is refused at once, by the store and by
// the CLI as a real process (exit 3).
import assert from "node:assert/strict";
import { ConfError, ConfStore } from "../../src/conf/mod.ts";
import { ExitCode } from "../../src/cli/mod.ts";
import { runCli } from "../_support/cli.ts";
import { sampleConf, tempDir, tunnelId } from "./_fixture.ts";

async function mkfifo(path: string): Promise<void> {
  const made = await new Deno.Command("mkfifo", { args: ["-m", "600", path] }).output();
  assert.ok(made.success, `mkfifo ${path}`);
}

async function refused(store: ConfStore, pattern: RegExp): Promise<void> {
  await assert.rejects(store.read(tunnelId), (error) => {
    assert.ok(error instanceof ConfError, `want ConfError, got ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("a FIFO named <id>.conf ends the CLI at once with exit 3, for every command", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const path = new ConfStore(dir.path).path(tunnelId);
  await mkfifo(path);
  for (
    const argv of [
      ["environment", "contact-lookup", tunnelId],
      ["environment", "show", tunnelId],
      ["environment", "update", tunnelId],
    ]
  ) {
    const started = Date.now();
    const result = await runCli(argv, {
      env: { GLOBUS_STREAMS_DIR: dir.path },
      timeoutMs: 15_000,
    });
    assert.equal(result.code, ExitCode.conf, `${argv.join(" ")}: ${result.stderr}`);
    assert.equal(
      result.stderr,
      `globus-streams: Cannot use conf file "${path}": it is not a regular file ` +
        `(remove it, then run 'globus-streams environment initialize ${tunnelId}')\n`,
    );
    assert.ok(Date.now() - started < 10_000, `${argv.join(" ")} took ${Date.now() - started} ms`);
  }
});

Deno.test("a symbolic link, a socket or a directory named <id>.conf is refused, not followed", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const store = new ConfStore(dir.path);
  const path = store.path(tunnelId);
  // A link to a conf file that would pass every check on its own.
  const other = new ConfStore(`${dir.path}/other`);
  await other.write(tunnelId, sampleConf());
  await Deno.symlink(other.path(tunnelId), path);
  await refused(store, /^Cannot use conf file ".*": it is a symbolic link \(/);
  await Deno.remove(path);
  const socket = Deno.listen({ transport: "unix", path });
  try {
    await refused(store, /^Cannot use conf file ".*": it is not a regular file/);
  } finally {
    socket.close();
  }
  await Deno.remove(path).catch(() => {});
  await Deno.mkdir(path, { mode: 0o700 });
  await refused(store, /^Cannot use conf file ".*": it is not a regular file/);
  await Deno.remove(path);
  await store.write(tunnelId, sampleConf());
  assert.ok(await store.read(tunnelId), "a regular file still reads");
});
