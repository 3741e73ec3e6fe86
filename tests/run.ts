// `./dev test`: every test suite in one run, then one closing line "N passed, N failed".
// Suites: the TypeScript tests (deno test), then the Zig library's tests (zig build test).
// Output streams through as it comes; only the counts are read from it.

const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

interface SuiteResult {
  passed: number;
  failed: number;
  ok: boolean;
}

/** Runs a command with output passed through, and returns everything it printed. */
async function runStreaming(cmd: string, args: string[], cwd: string) {
  const child = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, out: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      let offset = 0;
      while (offset < chunk.length) offset += out.writeSync(chunk.subarray(offset));
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  // deno's summary is coloured; counts are read from the plain text.
  // deno-lint-ignore no-control-regex
  return { code: status.code, text: text.replace(/\x1b\[[0-9;]*m/g, "") };
}

async function denoTests(filter: string[]): Promise<SuiteResult> {
  const { code, text } = await runStreaming(Deno.execPath(), [
    "test",
    "--allow-all",
    "--no-prompt",
    ...filter,
  ], root);
  const summary = [...text.matchAll(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)].at(-1);
  if (!summary) return { passed: 0, failed: 1, ok: false };
  return { passed: Number(summary[1]), failed: Number(summary[2]), ok: code === 0 };
}

async function zigTests(): Promise<SuiteResult> {
  try {
    await Deno.stat(`${root}native/build.zig`);
  } catch {
    return { passed: 0, failed: 0, ok: true };
  }
  const zig = `${root}.tools/bin/zig`;
  const { code, text } = await runStreaming(
    zig,
    ["build", "test", "--summary", "all"],
    `${root}native`,
  );
  const counts = [...text.matchAll(/(\d+)\/(\d+) tests passed/g)].at(-1);
  const failedCount = [...text.matchAll(/(\d+) (?:tests? )?failed/g)].at(-1);
  const passed = counts ? Number(counts[1]) : 0;
  const failed = failedCount ? Number(failedCount[1]) : (code === 0 ? 0 : 1);
  return { passed, failed: code === 0 ? failed : Math.max(failed, 1), ok: code === 0 };
}

/**
 * Debian packages some tests use as real clients or baselines, by the command (or, for
 * an absolute path, the file) that shows each is installed.
 */
const testTools: Record<string, string> = {
  iperf3: "iperf3",
  socat: "socat",
  file: "file",
  nginx: "nginx", // a listening server in tests/e2e/listeners_test.ts
  zsh: "zsh", // completion scripts are checked by the shells that run them
  fish: "fish",
  go: "golang-go", // static Go programs under the seccomp engine (tests/native/seccomp_test.ts)
  // On x86_64, the aarch64 library and programs run under qemu-user with Debian's
  // aarch64 glibc (tests/e2e/aarch64_test.ts); an aarch64 machine runs them directly.
  ...(Deno.build.arch === "x86_64"
    ? {
      "qemu-aarch64-static": "qemu-user-static",
      "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1": "libc6-arm64-cross",
    }
    : {}),
};

function installed(tool: string): boolean {
  if (!tool.startsWith("/")) return onPath(tool);
  try {
    return Deno.statSync(tool).isFile;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  const dirs = (Deno.env.get("PATH") ?? "").split(":");
  return dirs.some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * How to run apt-get: directly as root, or through passwordless sudo on a CI machine
 * (GitHub's runners run jobs as a user with it); undefined when neither.
 */
async function aptGet(): Promise<string[] | undefined> {
  if (!onPath("apt-get")) return undefined;
  if (Deno.uid() === 0) return ["apt-get"];
  if (Deno.env.get("CI") !== "true" || !onPath("sudo")) return undefined;
  const sudo = await new Deno.Command("sudo", {
    args: ["-n", "true"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return sudo.success
    ? ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    : undefined;
}

/**
 * Installs missing test tools with apt-get when we are root on Debian, or on a CI
 * machine with passwordless sudo; otherwise the tests that need them say they are
 * skipped, and why.
 */
async function ensureTestTools(): Promise<void> {
  const missing = Object.keys(testTools).filter((tool) => !installed(tool));
  if (missing.length === 0) return;
  const command = await aptGet();
  if (command === undefined) {
    console.error(
      `test: not installing ${missing.join(", ")} (needs apt-get, as root or with sudo under CI)`,
    );
    return;
  }
  const packages = missing.map((tool) => testTools[tool]);
  console.error(`test: installing ${packages.join(", ")} with ${command.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const [program, ...prefix] = command;
  const apt = (args: string[]) =>
    new Deno.Command(program, {
      args: [...prefix, ...args],
      env,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).output();
  let result = await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  if (!result.success) {
    await apt(["update", "-qq"]);
    result = await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  }
  if (!result.success) console.error(`test: apt-get could not install ${packages.join(", ")}`);
}

/**
 * The static checks of `./dev check`, one counted test each, so CI keeps the tree
 * formatted, lint-clean and type-correct.
 */
async function staticChecks(): Promise<SuiteResult> {
  const deno = Deno.execPath();
  const checks: [string, string, string[], string][] = [
    ["deno fmt --check", deno, ["fmt", "--check"], root],
    ["deno lint", deno, ["lint"], root],
    ["deno check", deno, ["check", "src/", "tests/", "bench/", "build/"], root],
    ["zig fmt --check", `${root}.tools/bin/zig`, ["fmt", "--check", "."], `${root}native`],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, cmd, args, cwd] of checks) {
    const output = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
    if (output.success) {
      passed++;
      console.log(`check: ${name} ... ok`);
    } else {
      failed++;
      console.log(`check: ${name} ... FAILED`);
      console.log(decoder.decode(output.stdout) + decoder.decode(output.stderr));
    }
  }
  return { passed, failed, ok: failed === 0 };
}

const filter = Deno.args;
await ensureTestTools();
const results = filter.length === 0 ? [await staticChecks()] : [];
results.push(await denoTests(filter));
if (filter.length === 0) results.push(await zigTests());
const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
const ok = results.every((r) => r.ok) && failed === 0 && passed > 0;
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(ok ? 0 : 1);
