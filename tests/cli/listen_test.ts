// `emulator --listen` and `forward --listen` on an address other hosts can reach: refused
// without --allow-remote (exit 2, nothing started), and with it one warning naming what
// becomes reachable. Loopback addresses pass silently.
import assert from "node:assert/strict";
import { type CliDeps, ExitCode, main } from "../../src/cli/mod.ts";
import { ConfStore } from "../../src/conf/mod.ts";
import { sampleConf, tempDir, tunnelId } from "../conf/_fixture.ts";
import { freePort } from "../_support/process.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process and stops it (as Ctrl-C would) once it printed a line. */
async function runUntilFirstLine(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  const stop = new AbortController();
  const safety = setTimeout(() => stop.abort(), 20_000);
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    io: {
      stdout: (text) => {
        stdout += text;
        if (stdout.includes("\n")) stop.abort();
      },
      stderr: (text) => void (stderr += text),
      readLine: () => Promise.resolve(null),
      stderrIsTerminal: false,
    },
    env: (name) => env[name],
    now: () => Date.now(),
    fetch: globalThis.fetch,
    signal: stop.signal,
  };
  try {
    const code = await main(argv, deps);
    assert.ok(!stop.signal.aborted || stdout !== "", `${argv.join(" ")} printed nothing`);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(safety);
  }
}

const remote = ["0.0.0.0", "10.0.0.5", "[::]", "example.org"];

Deno.test("emulator --listen on a non-loopback address needs --allow-remote", async () => {
  for (const host of remote) {
    const listen = `${host}:${freePort()}`;
    const refused = await runUntilFirstLine(["emulator", "--listen", listen]);
    assert.equal(refused.code, ExitCode.usage, `${listen}: ${refused.stderr}`);
    assert.equal(refused.stdout, "");
    assert.equal(
      refused.stderr.split("\n")[0],
      `globus-streams: Refusing --listen "${listen}": it is not a loopback address, so other ` +
        `hosts could use its Auth, Transfer and GCS services (tokens, tunnels, LAN secrets) ` +
        `(listen on 127.0.0.1, or pass --allow-remote to mean it) (see 'globus-streams emulator --help')`,
    );
  }
  const port = freePort();
  const allowed = await runUntilFirstLine([
    "emulator",
    "--listen",
    `0.0.0.0:${port}`,
    "--allow-remote",
  ]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(
    allowed.stdout,
    new RegExp(`^export GLOBUS_SDK_SERVICE_URL_AUTH=http://0\\.0\\.0\\.0:${port}/auth/`, "m"),
  );
  assert.match(
    allowed.stderr,
    /^globus-streams: emulator: warning: listening on "0\.0\.0\.0:\d+", not loopback: other hosts can use its Auth, Transfer and GCS services/,
  );
  const loopback = await runUntilFirstLine(["emulator", "--listen", `127.0.0.2:${freePort()}`]);
  assert.equal(loopback.code, 0, loopback.stderr);
  assert.ok(!loopback.stderr.includes("warning"), loopback.stderr);
});

Deno.test("forward --listen on a non-loopback address needs --allow-remote", async () => {
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o700);
  const now = Math.floor(Date.now() / 1000);
  await new ConfStore(dir.path).write(
    tunnelId,
    sampleConf({
      updateTime: now,
      connectorContactStringTtl: 3600,
      tunnelExpirationTime: now + 3600,
    }),
  );
  const env = { GLOBUS_STREAMS_DIR: dir.path };
  for (const host of remote) {
    const listen = `${host}:0`;
    const refused = await runUntilFirstLine(["forward", "--listen", listen, tunnelId], env);
    assert.equal(refused.code, ExitCode.usage, `${listen}: ${refused.stderr}`);
    assert.equal(refused.stdout, "");
    assert.equal(
      refused.stderr.split("\n")[0],
      `globus-streams: Refusing --listen "${listen}": it is not a loopback address, so other ` +
        `hosts could connect into tunnel ${tunnelId} through it, with this host's LAN secret ` +
        `(listen on 127.0.0.1, or pass --allow-remote to mean it) (see 'globus-streams forward --help')`,
    );
  }
  const allowed = await runUntilFirstLine(
    ["forward", "--listen", "0.0.0.0:0", "--allow-remote", tunnelId],
    env,
  );
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(
    allowed.stdout,
    new RegExp(`^Forwarding 0\\.0\\.0\\.0:\\d+ -> tunnel ${tunnelId}\\n`),
  );
  assert.match(
    allowed.stderr,
    /^globus-streams: forward: warning: listening on "0\.0\.0\.0:0", not loopback: other hosts can connect into tunnel/,
  );
  for (const listen of [undefined, "127.0.0.1:0", "localhost:0"]) {
    const argv = listen ? ["forward", "--listen", listen, tunnelId] : ["forward", tunnelId];
    const loopback = await runUntilFirstLine(argv, env);
    assert.equal(loopback.code, 0, loopback.stderr);
    assert.ok(!loopback.stderr.includes("warning"), loopback.stderr);
  }
});
