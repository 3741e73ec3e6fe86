// The end-to-end world: a real `globus-streams emulator` process, a tunnel made with the
// real CLI, `environment initialize` run as a process on each side (each with its own
// GLOBUS_STREAMS_DIR, as on two hosts), the preload library built ReleaseSafe once per
// process, and real programs started under bin/globus-streams-launch. Also used by the
// preload benchmarks (bench/preload_*.ts) for the library and the C fixtures.
import { cliBin, runCli } from "../_support/cli.ts";
import { type EmulatorProcess, startEmulatorProcess } from "../_support/emulator.ts";
import { run, type RunResult } from "../native/_support.ts";
import {
  childEnv,
  freePort,
  killQuietly,
  readLines,
  readText,
  scratchDir,
  spawnPiped,
  stopChild,
  Waker,
} from "../_support/process.ts";

export { childEnv, freePort, run, type RunResult };

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const fixtures = `${repoRoot}tests/e2e/fixtures/`;
export const launcher = `${repoRoot}bin/globus-streams-launch`;
export { cliBin };

// --- things built once per process, in one temp dir removed at exit ------------------

/** A temp dir for this process's builds, removed at exit. */
const buildDir = () => scratchDir("gs-e2e-build-");

let library: Promise<string> | undefined;

/**
 * Builds the preload library with `zig build -Doptimize=ReleaseSafe` into a temp prefix,
 * once per process, and returns the path of libglobus_streams_client.so.0.
 */
export function buildReleaseLibrary(): Promise<string> {
  library ??= (async () => {
    const prefix = `${buildDir()}/prefix`;
    const result = await run(
      `${repoRoot}dev`,
      ["zig", "build", "-Doptimize=ReleaseSafe", "--prefix", prefix],
      { cwd: `${repoRoot}native`, timeoutMs: 300_000 },
    );
    if (result.code !== 0) throw new Error(`zig build failed:\n${result.stderr}`);
    return `${prefix}/lib/libglobus_streams_client.so.0`;
  })();
  return library;
}

const compiled = new Map<string, Promise<string>>();

/** Compiles tests/e2e/fixtures/<name>.c with `zig cc -O2 -pthread` (once per process). */
export function compileFixture(name: string): Promise<string> {
  let exe = compiled.get(name);
  if (!exe) {
    exe = (async () => {
      const out = `${buildDir()}/${name}`;
      const result = await run(
        `${repoRoot}dev`,
        ["zig", "cc", "-O2", "-Wall", "-Werror", "-pthread", "-o", out, `${fixtures}${name}.c`],
        { timeoutMs: 180_000 },
      );
      if (result.code !== 0) throw new Error(`zig cc ${name}.c failed:\n${result.stderr}`);
      return out;
    })();
    compiled.set(name, exe);
  }
  return exe;
}

let javaClasses: Promise<string> | undefined;

/**
 * Compiles every tests/e2e/fixtures/*.java with `javac` into one temp dir (once per
 * process) and returns it, for `java -cp DIR Name`.
 */
export function compileJava(): Promise<string> {
  javaClasses ??= (async () => {
    const out = `${buildDir()}/java`;
    await Deno.mkdir(out, { recursive: true });
    const sources: string[] = [];
    for await (const entry of Deno.readDir(fixtures)) {
      if (entry.name.endsWith(".java")) sources.push(`${fixtures}${entry.name}`);
    }
    const result = await run("javac", ["-d", out, ...sources.sort()], { timeoutMs: 180_000 });
    if (result.code !== 0) throw new Error(`javac failed:\n${result.stderr}`);
    return out;
  })();
  return javaClasses;
}

let python: Promise<string> | undefined;

/**
 * The python3 interpreter itself (not a pyenv shim script in front of it), so that the
 * launcher preloads into python and nothing else, and start-up stays short.
 */
export function pythonExe(): Promise<string> {
  python ??= (async () => {
    const result = await run("python3", ["-c", "import sys; print(sys.executable)"]);
    if (result.code !== 0 || !result.stdout.trim()) {
      throw new Error(`cannot run python3: ${result.stderr}`);
    }
    return result.stdout.trim();
  })();
  return python;
}

/** True when name runs from PATH (`command -v`). */
export async function onPath(name: string): Promise<boolean> {
  const result = await run("sh", ["-c", 'command -v "$1"', "sh", name]).catch(() => undefined);
  return result?.code === 0;
}

/**
 * For a test that needs commands: `ignore` when one is missing, and a note for the test's
 * name that says which (Deno's `ignore` takes no reason). Checked at load time.
 */
export async function requires(...commands: string[]): Promise<{ ignore: boolean; note: string }> {
  const missing: string[] = [];
  for (const command of commands) if (!(await onPath(command))) missing.push(command);
  if (missing.length === 0) return { ignore: false, note: "" };
  return { ignore: true, note: ` [skipped: ${missing.join(", ")} not on PATH]` };
}

// --- long-running processes ----------------------------------------------------------

/** A process whose stdout is read line by line and whose stderr is kept. */
export interface Proc {
  readonly pid: number;
  /** stdout lines so far. */
  readonly lines: string[];
  stderr(): string;
  /** Waits (bounded) for a stdout line matching pattern and returns it. */
  waitForLine(pattern: RegExp, ms?: number): Promise<string>;
  /** Waits (bounded) for the process to exit by itself; kills it and throws after ms. */
  exited(ms: number): Promise<RunResult>;
  /** SIGTERM (SIGKILL after 5 s), then what it printed. Safe to call twice. */
  stop(): Promise<RunResult>;
}

export interface SpawnOptions {
  /** Added to childEnv() (the test's environment without preload variables). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Killed after this long whatever happens (default 120 s). */
  lifetimeMs?: number;
}

/** Starts cmd with piped stdout/stderr and stdin from /dev/null. */
export function spawn(cmd: string, args: string[], options: SpawnOptions = {}): Proc {
  const started = performance.now();
  const child = spawnPiped(cmd, args, { cwd: options.cwd, env: childEnv(options.env) });
  const lines: string[] = [];
  let stderr = "";
  const waker = new Waker();
  const pumpOut = (async () => {
    const rest = await readLines(child.stdout, (parts) => {
      lines.push(...parts);
      waker.wake();
    });
    if (rest) lines.push(rest);
  })();
  const pumpErr = readText(child.stderr, (text) => stderr += text);
  let exitCode: number | undefined;
  const status = child.status.then((s) => {
    exitCode = s.code;
    waker.wake();
    return s;
  });
  const lifetime = setTimeout(() => killQuietly(child, "SIGKILL"), options.lifetimeMs ?? 120_000);
  const finish = async (): Promise<RunResult> => {
    const s = await status;
    clearTimeout(lifetime);
    await Promise.all([pumpOut, pumpErr]);
    return { code: s.code, stdout: lines.join("\n"), stderr, ms: performance.now() - started };
  };
  let stopping: Promise<RunResult> | undefined;
  return {
    pid: child.pid,
    lines,
    stderr: () => stderr,
    async waitForLine(pattern, ms = 15_000) {
      const deadline = performance.now() + ms;
      for (;;) {
        const line = lines.find((l) => pattern.test(l));
        if (line !== undefined) return line;
        const left = deadline - performance.now();
        if (left <= 0 || exitCode !== undefined) {
          const why = exitCode !== undefined ? `it exited with ${exitCode}` : `${ms} ms passed`;
          throw new Error(
            `${cmd} printed no line matching ${pattern} (${why}); stdout ` +
              `${JSON.stringify(lines.slice(-20))}; stderr:\n${stderr.slice(-4000)}`,
          );
        }
        await waker.sleep(Math.min(left, 200));
      }
    },
    async exited(ms) {
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        killQuietly(child, "SIGKILL");
      }, ms);
      const result = await finish();
      clearTimeout(timer);
      if (killed) {
        throw new Error(`${cmd} ${args.join(" ")} did not finish in ${ms} ms:\n${stderr}`);
      }
      return result;
    },
    stop() {
      stopping ??= (async () => {
        if (exitCode === undefined) await stopChild(child, 5000);
        return await finish();
      })();
      return stopping;
    },
  };
}

/** A process that answers each line sent to its stdin with one line on stdout. */
export interface Driven {
  /** Sends line, waits (at most ms) for the next stdout line and returns it. */
  ask(line: string, ms?: number): Promise<string>;
  stderr(): string;
  /** Closes stdin and waits for the exit (SIGKILL after 5 s). */
  close(): Promise<void>;
}

/** Starts a line-driven process (the benchmarks' warm C programs). */
export function startDriven(
  cmd: string,
  args: string[],
  env: Record<string, string | undefined> = {},
): Driven {
  const child = spawnPiped(cmd, args, { env: childEnv(env), stdin: "piped" });
  const input = child.stdin.getWriter();
  const lines: string[] = [];
  let ended = false;
  let stderr = "";
  const waker = new Waker();
  const pumpOut = (async () => {
    await readLines(child.stdout, (parts) => {
      lines.push(...parts);
      waker.wake();
    });
    ended = true;
    waker.wake();
  })();
  const pumpErr = readText(child.stderr, (text) => stderr += text);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await input.close().catch(() => {});
      const timer = setTimeout(() => killQuietly(child, "SIGKILL"), 5000);
      await child.status;
      clearTimeout(timer);
      await Promise.all([pumpOut, pumpErr]);
    })();
    return closing;
  };
  return {
    async ask(line, ms = 60_000) {
      await input.write(new TextEncoder().encode(`${line}\n`));
      const deadline = performance.now() + ms;
      while (lines.length === 0) {
        const left = deadline - performance.now();
        if (ended || left <= 0) {
          await close();
          throw new Error(
            `${cmd} gave no answer to "${line}" (${ended ? "it exited" : `${ms} ms`}): ${stderr}`,
          );
        }
        await waker.sleep(Math.min(left, 200));
      }
      return lines.shift()!;
    },
    stderr: () => stderr,
    close,
  };
}

// --- the tunnel world ----------------------------------------------------------------

export type Side = "listener" | "initiator";

export interface TunnelWorld {
  tunnelId: string;
  /** The initiating side's contact string, `globus.<tunnel id>:<fake port>`. */
  contact: string;
  /** `globus.<tunnel id>`. */
  name: string;
  /** The initiating access point's LAN contact for this tunnel, from the conf file. */
  connector: string;
  fakePort: number;
  /** The tunnel's listener contact: where the listening app must listen. */
  listenerHost: string;
  listenerPort: number;
  /** A temp dir for the test's files (removed with the world). */
  root: string;
  emulator: EmulatorProcess;
  /**
   * The environment of a program launched on one side: the emulator's exports (so a
   * stale contact can be refreshed), that side's HOME and GLOBUS_STREAMS_DIR, the library
   * (GLOBUS_STREAMS_LIB), the real binary (GLOBUS_STREAMS_BIN), debug lines on.
   */
  env(side: Side, extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** The launcher's argv for a command on one side (`-p listenerPort` on the listener). */
  launch(side: Side, command: string[]): [string, string[]];
  /** Runs the real CLI on one side; throws unless it exits 0; returns stdout. */
  cli(side: Side, args: string[]): Promise<string>;
  /** Reads one key of a side's conf file. */
  confValue(side: Side, key: string): Promise<string | undefined>;
  /** Replaces one key's value in a side's conf file. */
  editConf(side: Side, key: string, value: string): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Runs the real CLI (a process) on one side and throws unless it exits 0. */
async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const result = await runCli(args, { env, timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new Error(`globus-streams ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * An emulator process and a tunnel between its two access points, initialised on both
 * sides by the real CLI, with the listener contact 127.0.0.1:<a free port>.
 */
export async function startTunnelWorld(): Promise<TunnelWorld> {
  const lib = await buildReleaseLibrary();
  const emulator = await startEmulatorProcess();
  const root = await Deno.makeTempDir({ prefix: "gs-e2e-" });
  try {
    // Each side is its own host: its own HOME and conf directory.
    const dirs = { initiator: `${root}/initiator/streams`, listener: `${root}/listener/streams` };
    for (const side of ["initiator", "listener"]) {
      await Deno.mkdir(`${root}/${side}/home`, { recursive: true, mode: 0o700 });
    }
    const cliEnv = (side: Side) => ({
      ...emulator.env,
      HOME: `${root}/${side}/home`,
      GLOBUS_STREAMS_DIR: dirs[side],
    });
    const created = JSON.parse(
      await cli([
        "tunnel",
        "create",
        "-F",
        "json",
        "--label",
        "end-to-end test",
        emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
        emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      ], cliEnv("initiator")),
    );
    const tunnelId: string = created.data.id;
    const listenerHost = "127.0.0.1";
    const listenerPort = freePort();
    await cli(
      [
        "environment",
        "initialize",
        "--listener-contact-string",
        `${listenerHost}:${listenerPort}`,
        tunnelId,
      ],
      cliEnv("listener"),
    );
    const initiated = await cli(["environment", "initialize", tunnelId], cliEnv("initiator"));
    const contact = /^Your contact string is: (globus\.[0-9a-f-]{36}):(\d+)$/m.exec(initiated);
    if (!contact) throw new Error(`initialize printed no contact string: ${initiated}`);
    const fakePort = Number(contact[2]);
    const confPath = (side: Side) => `${dirs[side]}/${tunnelId}.conf`;
    const confValue = async (side: Side, key: string) => {
      const text = await Deno.readTextFile(confPath(side));
      return new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1];
    };
    const connector = await confValue("initiator", "connector_contact_string");
    if (!connector) throw new Error(`no connector_contact_string in ${confPath("initiator")}`);
    return {
      tunnelId,
      contact: `${contact[1]}:${fakePort}`,
      name: contact[1],
      fakePort,
      connector,
      listenerHost,
      listenerPort,
      root,
      emulator,
      env: (side, extra = {}) => ({
        ...cliEnv(side),
        GLOBUS_STREAMS_LIB: lib,
        GLOBUS_STREAMS_BIN: cliBin,
        GLOBUS_STREAMS_DEBUG: "1",
        ...extra,
      }),
      launch: (side, command) => [
        launcher,
        side === "listener"
          ? ["-p", String(listenerPort), tunnelId, ...command]
          : [tunnelId, ...command],
      ],
      cli: (side, args) => cli(args, cliEnv(side)),
      confValue,
      async editConf(side, key, value) {
        const text = await Deno.readTextFile(confPath(side));
        const pattern = new RegExp(`^${key}=.*$`, "m");
        if (!pattern.test(text)) throw new Error(`no ${key} in ${confPath(side)}`);
        await Deno.writeTextFile(confPath(side), text.replace(pattern, `${key}=${value}`));
      },
      async [Symbol.asyncDispose]() {
        await emulator.stop();
        await Deno.remove(root, { recursive: true });
      },
    };
  } catch (error) {
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
}

/**
 * Starts the listening app under the launcher on the listener side and waits for its
 * "listening" line (or the given pattern).
 */
export async function startListeningApp(
  world: TunnelWorld,
  command: string[],
  options: { ready?: RegExp; env?: Record<string, string | undefined> } = {},
): Promise<Proc> {
  const [cmd, args] = world.launch("listener", command);
  const app = spawn(cmd, args, { env: world.env("listener", options.env) });
  try {
    await app.waitForLine(options.ready ?? /^listening$/);
  } catch (error) {
    await app.stop();
    throw error;
  }
  return app;
}

/** Runs a program to completion under the launcher on the initiating side. */
export function runInitiator(
  world: TunnelWorld,
  command: string[],
  options: { timeoutMs?: number; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  const [cmd, args] = world.launch("initiator", command);
  return run(cmd, args, {
    env: world.env("initiator", options.env),
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

/**
 * Waits (bounded) until the emulator's stderr (where it logs one line per stream when the
 * stream ends) has a line matching pattern, and returns the match.
 */
export async function emulatorLine(
  stderr: () => string,
  pattern: RegExp,
  ms = 10_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const line of stderr().split("\n")) {
      const match = line.match(pattern);
      if (match) return match;
    }
    if (Date.now() > deadline) {
      throw new Error(`the emulator logged no line matching ${pattern} in ${ms} ms:\n${stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** "1.2 kB" (the emulator's byte counts) as a number of bytes. */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?) (B|kB|MB|GB|TB)$/.exec(text);
  if (!match) throw new Error(`not a byte count: "${text}"`);
  const scale = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[match[2]]!;
  return Number(match[1]) * scale;
}

/** The last stdout line of a run, parsed as JSON. */
export function lastJson(result: RunResult): Record<string, unknown> {
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`no JSON line (exit ${result.code}): ${result.stdout}\n${result.stderr}`);
  }
}

/** SHA-256 of bytes, hex. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
