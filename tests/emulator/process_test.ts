// `globus-streams emulator` as a process and in-process: exports, env file, clean stop.
import assert from "node:assert/strict";
import { main } from "../../src/cli/mod.ts";
import type { CliDeps } from "../../src/cli/mod.ts";
import { formatExports, shellQuote } from "../../src/emulator/mod.ts";
import { parseEnvFile, startEmulatorProcess } from "../_support/emulator.ts";
import { runCli, runCliInProcess } from "../_support/cli.ts";

Deno.test("the emulator process writes its env file, serves, and stops on SIGTERM", async () => {
  const emulator = await startEmulatorProcess({ configToml: "minute_ms = 1000\n" });
  try {
    assert.deepEqual(Object.keys(emulator.env), [
      "GLOBUS_SDK_ENVIRONMENT",
      "GLOBUS_SDK_SERVICE_URL_AUTH",
      "GLOBUS_SDK_SERVICE_URL_TRANSFER",
      "GLOBUS_SDK_VERIFY_SSL",
      "GLOBUS_CLI_CLIENT_ID",
      "GLOBUS_CLI_CLIENT_SECRET",
      "GLOBUS_STREAMS_EMULATOR_INITIATOR_AP",
      "GLOBUS_STREAMS_EMULATOR_LISTENER_AP",
    ]);
    assert.match(
      emulator.env.GLOBUS_SDK_SERVICE_URL_TRANSFER,
      /^http:\/\/127\.0\.0\.1:\d+\/transfer\/$/,
    );
    assert.equal(((await Deno.stat(emulator.envFile)).mode ?? 0) & 0o777, 0o600);
    // The login approval secret is on the emulator's own stderr, never in the env file.
    assert.match(emulator.approvalSecret, /^[0-9a-f]{4}(-[0-9a-f]{4}){5}$/);
    assert.ok(!(await Deno.readTextFile(emulator.envFile)).includes(emulator.approvalSecret));
    assert.match(emulator.stderr(), /^globus-streams: login approval secret: [0-9a-f-]{29}$/m);
    const result = await runCliInProcess(["access-point", "list", "-F", "json"], {
      env: emulator.env,
    });
    assert.equal(result.code, 0, result.stderr);
    // The whole document, as the official CLI prints it.
    assert.equal(JSON.parse(result.stdout).data.length, 2);
  } finally {
    await emulator.stop();
  }
  assert.equal(emulator.exitCode(), 0);
  assert.match(emulator.stderr(), /emulator serving at http:\/\/127\.0\.0\.1:\d+\//);
  await assert.rejects(Deno.stat(emulator.envFile), Deno.errors.NotFound);
});

Deno.test("a bad config file stops the emulator with one line naming file and key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.toml`, "activation_delay_ms = -5\n");
    const result = await runCli(["emulator", "--config", `${dir}/bad.toml`]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^globus-streams: Cannot use emulator config ".*\/bad\.toml": activation_delay_ms: .*\n$/,
    );
    const listen = await runCliInProcess(["emulator", "--listen", "nowhere"]);
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /Invalid --listen "nowhere": want HOST:PORT/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without --env-file the exports go to stdout; the stop signal ends it with 0", async () => {
  const controller = new AbortController();
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    io: {
      stdout: (text) => {
        stdout += text;
        controller.abort();
      },
      stderr: (text) => stderr += text,
      readLine: () => Promise.resolve(null),
      stderrIsTerminal: false,
    },
    env: () => undefined,
    now: Date.now,
    fetch,
    signal: controller.signal,
  };
  const code = await main(["emulator"], deps);
  assert.equal(code, 0);
  const env = parseEnvFile(stdout);
  assert.equal(Object.keys(env).length, 8);
  assert.ok(!/approval/i.test(stdout), "the approval secret is for stderr only");
  assert.match(stderr, /login approval secret: [0-9a-f-]{29}\n/);
  assert.match(env.GLOBUS_SDK_SERVICE_URL_AUTH, /^http:\/\/127\.0\.0\.1:\d+\/auth\/$/);
});

Deno.test("exports are shell-quoted only when needed, and read back", () => {
  assert.equal(shellQuote("http://127.0.0.1:5/auth/"), "http://127.0.0.1:5/auth/");
  assert.equal(shellQuote("it's here"), `'it'\\''s here'`);
  assert.equal(shellQuote(""), "''");
  const exports = { A: "plain", B: "with space", C: "quote'd $HOME" };
  assert.deepEqual(parseEnvFile(formatExports(exports)), exports);
});
