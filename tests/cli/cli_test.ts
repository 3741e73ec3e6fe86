import assert from "node:assert/strict";
import { COMMANDS, ExitCode } from "../../src/cli/mod.ts";
import { cliBin, runCli, runCliInProcess } from "../_support/cli.ts";
import { VERSION } from "../../src/version.ts";

function oneLine(text: string): void {
  assert.equal(text.trimEnd().split("\n").length, 1, `want one line, got ${JSON.stringify(text)}`);
}

Deno.test("--help lists every command and exits 0", async () => {
  for (const flag of ["--help", "-h", "help"]) {
    const result = await runCliInProcess([flag]);
    assert.equal(result.code, ExitCode.ok);
    for (const { name, summary } of COMMANDS) {
      assert.ok(result.stdout.includes(`  ${name} `), `${flag} lists ${name}`);
      assert.ok(result.stdout.includes(summary));
    }
  }
});

Deno.test("no arguments prints the help and exits 2", async () => {
  const result = await runCliInProcess([]);
  assert.equal(result.code, ExitCode.usage);
  assert.match(result.stdout, /^Usage: globus-streams COMMAND/);
});

Deno.test("--version and -V print the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const result = await runCliInProcess([flag]);
    assert.equal(result.code, 0);
    assert.match(
      result.stdout,
      new RegExp(`^globus-streams ${VERSION.replaceAll(".", "\\.")} \\(.+\\)\n$`),
    );
  }
});

Deno.test("an unknown command exits 2 with one line on stderr", async () => {
  for (const argv of [["frobnicate"], ["environment", "frobnicate"], ["tunnel", "nope", "x"]]) {
    const result = await runCliInProcess(argv);
    assert.equal(result.code, ExitCode.usage, argv.join(" "));
    oneLine(result.stderr);
    assert.match(
      result.stderr,
      /^globus-streams: Unknown command ".+": run 'globus-streams --help'/,
    );
    assert.equal(result.stdout, "");
  }
});

Deno.test("a group name alone shows its commands", async () => {
  const bare = await runCliInProcess(["environment"]);
  assert.equal(bare.code, ExitCode.usage);
  assert.match(bare.stdout, /environment contact-lookup/);
  assert.ok(!bare.stdout.includes("tunnel create"));
  const help = await runCliInProcess(["environment", "--help"]);
  assert.equal(help.code, 0);
});

Deno.test("every command's --help exits 0 with its usage line", async () => {
  const failures: string[] = [];
  for (const { name } of COMMANDS) {
    const result = await runCliInProcess([...name.split(" "), "--help"]);
    if (result.code !== 0 || !result.stdout.startsWith(`Usage: globus-streams ${name} `)) {
      failures.push(`${name}: exit ${result.code} ${result.stderr.trim()}`);
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("bad command lines exit 2 with one line naming --help", async () => {
  const cases = [
    ["environment", "show", "--bogus", "5f2c3a1e-0000-4000-8000-000000000001"],
    ["environment", "show"],
    ["environment", "show", "a", "b"],
    ["environment", "show", "not-a-uuid"],
    ["environment", "contact-lookup", "-F", "yaml", "5f2c3a1e-0000-4000-8000-000000000001"],
    ["completion", "tcsh"],
  ];
  for (const argv of cases) {
    const result = await runCliInProcess(argv, { env: { GLOBUS_STREAMS_DIR: "/nonexistent" } });
    assert.equal(result.code, ExitCode.usage, `${argv.join(" ")}: ${result.stderr}`);
    oneLine(result.stderr);
    assert.match(result.stderr, /^globus-streams: .*\(see 'globus-streams .+ --help'\)\n$/);
  }
});

Deno.test("the real process: --version, and an error's exit code reaches the shell", async () => {
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^globus-streams /);
  const dir = await Deno.makeTempDir();
  try {
    const missing = await runCli(
      ["environment", "show", "5f2c3a1e-0000-4000-8000-000000000001"],
      { env: { GLOBUS_STREAMS_DIR: dir } },
    );
    assert.equal(missing.code, ExitCode.conf);
    oneLine(missing.stderr);
    assert.match(
      missing.stderr,
      /No conf file for tunnel 5f2c3a1e-.* run 'globus-streams environment initialize/,
    );
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, ExitCode.usage);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reader that goes away gets no error line: exit 141, as after SIGPIPE", async () => {
  // The reader closes its end before the command writes: the write fails with EPIPE.
  const child = new Deno.Command(cliBin, {
    args: ["completion", "bash"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  assert.equal(stderr, "");
  assert.equal(status.code, ExitCode.brokenPipe);
});
