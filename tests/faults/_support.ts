// The world of the fault tests: a real emulator process, a tunnel, both sides initialised
// by the CLI (each with its own conf directory, as on two hosts), and the apps: python
// programs (tests/faults/fixtures/stream_app.py) run preloaded through
// bin/globus-streams-launch with the real binary answering lookups, or behind the
// forward/expose helpers run as real processes. Every wait is bounded.
import { cliBin, runCliInProcess } from "../_support/cli.ts";
import { type EmulatorProcess, startEmulatorProcess } from "../_support/emulator.ts";
import { buildLibrary, libraryPath } from "../native/_support.ts";
import {
  childEnv,
  freePort,
  killQuietly,
  readLines,
  readText,
  spawnPiped,
  stopChild,
  waitFor as pollUntil,
  Waker,
} from "../_support/process.ts";

export { buildLibrary, childEnv, cliBin, freePort, libraryPath };
export const repoRoot = new URL("../../", import.meta.url).pathname;
export const launcher = `${repoRoot}bin/globus-streams-launch`;
export const fixtures = `${repoRoot}tests/faults/fixtures/`;
export const streamApp = `${fixtures}stream_app.py`;

export type Side = "initiator" | "listener";

const decoder = new TextDecoder();

export interface FaultWorld {
  emulator: EmulatorProcess;
  tunnelId: string;
  /** Where the listening app (or expose) must listen: the tunnel's listener contact. */
  listenerPort: number;
  /** The initiating access point's LAN contact, from the initiating side's conf file. */
  connector: { host: string; port: number };
  /** The initiating side's fake_port. */
  fakePort: number;
  root: string;
  /** The CLI's environment on one side: the emulator's exports, HOME, GLOBUS_STREAMS_DIR. */
  env(side: Side): Record<string, string>;
  /** Runs the CLI in-process on one side; throws unless it exits 0. */
  cli(side: Side, args: string[]): Promise<string>;
  confPath(side: Side): string;
  /** Replaces (or adds) key=value lines in one side's conf file. */
  editConf(side: Side, values: Record<string, string>): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** key=value lines as a record. */
export function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

/**
 * An emulator process, a tunnel between its two access points, and `environment
 * initialize` on each side (the initiating side with --cs-ttl when given).
 */
export async function startFaultWorld(
  options: { csTtl?: number; configToml?: string } = {},
): Promise<FaultWorld> {
  const emulator = await startEmulatorProcess({ configToml: options.configToml });
  const root = await Deno.makeTempDir({ prefix: "gs-faults-" });
  const dispose = async () => {
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
  };
  try {
    const home = `${root}/home`;
    await Deno.mkdir(home, { mode: 0o700 });
    const dirs = { initiator: `${root}/initiator/streams`, listener: `${root}/listener/streams` };
    const env = (side: Side) => ({ ...emulator.env, HOME: home, GLOBUS_STREAMS_DIR: dirs[side] });
    const cli = async (side: Side, args: string[]) => {
      const result = await runCliInProcess(args, { env: env(side) });
      if (result.code !== 0) throw new Error(`${args.join(" ")}: ${result.code} ${result.stderr}`);
      return result.stdout;
    };
    const created = JSON.parse(
      await cli("initiator", [
        "tunnel",
        "create",
        "-F",
        "json",
        "--label",
        "fault test",
        emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
        emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      ]),
    );
    const tunnelId: string = created.data.id;
    const listenerPort = freePort();
    await cli("listener", [
      "environment",
      "initialize",
      "--listener-contact-string",
      `127.0.0.1:${listenerPort}`,
      tunnelId,
    ]);
    const ttl = options.csTtl === undefined ? [] : ["--cs-ttl", String(options.csTtl)];
    await cli("initiator", ["environment", "initialize", ...ttl, tunnelId]);
    const confPath = (side: Side) => `${dirs[side]}/${tunnelId}.conf`;
    const conf = keyValues(await Deno.readTextFile(confPath("initiator")));
    const [host, port] = conf.connector_contact_string.split(":");
    return {
      emulator,
      tunnelId,
      listenerPort,
      connector: { host, port: Number(port) },
      fakePort: Number(conf.fake_port),
      root,
      env,
      cli,
      confPath,
      async editConf(side, values) {
        let text = await Deno.readTextFile(confPath(side));
        for (const [key, value] of Object.entries(values)) {
          const pattern = new RegExp(`^${key}=.*$`, "m");
          text = pattern.test(text)
            ? text.replace(pattern, `${key}=${value}`)
            : `${text}${key}=${value}\n`;
        }
        await Deno.writeTextFile(confPath(side), text, { mode: 0o600 });
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** The environment of a preloaded app on one side: the real binary answers lookups. */
export function launchEnv(
  world: FaultWorld,
  side: Side,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...world.env(side),
    GLOBUS_STREAMS_BIN: cliBin,
    GLOBUS_STREAMS_LIB: libraryPath,
    GLOBUS_STREAMS_DEBUG: "1",
    ...extra,
  };
}

export type AppEvent = Record<string, unknown> & { event: string };

/** A running process whose stdout is JSON lines (stream_app.py) or a first line. */
export interface App {
  pid: number;
  events: AppEvent[];
  /** Plain lines of stdout that are not JSON. */
  lines: string[];
  stderr(): string;
  /** The first event that matches, waiting at most ms (then throws, naming what it saw). */
  waitEvent(match: (event: AppEvent) => boolean, ms: number, what: string): Promise<AppEvent>;
  /** Waits at most ms for a plain stdout line that matches. */
  waitLine(pattern: RegExp, ms: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once it exits. */
  status: Promise<Deno.CommandStatus>;
  /** SIGTERM, then SIGKILL after ms; resolves with its status. */
  stop(ms?: number): Promise<Deno.CommandStatus>;
}

/** Spawns a process and follows its stdout; it is SIGKILLed after killAfterMs regardless. */
export function startApp(
  cmd: string,
  args: string[],
  env: Record<string, string | undefined>,
  killAfterMs = 120_000,
): App {
  const child = spawnPiped(cmd, args, { env: childEnv(env) });
  const events: AppEvent[] = [];
  const lines: string[] = [];
  let stderr = "";
  const waker = new Waker();
  const pumpOut = readLines(child.stdout, (parts) => {
    for (const line of parts) {
      try {
        const parsed = JSON.parse(line);
        if (typeof parsed === "object" && parsed && typeof parsed.event === "string") {
          events.push(parsed);
          continue;
        }
      } catch {
        // a plain line
      }
      lines.push(line);
    }
    waker.wake();
  }).catch(() => {});
  const pumpErr = readText(child.stderr, (text) => stderr += text).catch(() => {});
  const killer = setTimeout(() => killQuietly(child, "SIGKILL"), killAfterMs);
  const status = child.status.then(async (s) => {
    clearTimeout(killer);
    await Promise.all([pumpOut, pumpErr]);
    waker.wake();
    return s;
  });
  let exited = false;
  status.then(() => exited = true);
  async function until<T>(find: () => T | undefined, ms: number, what: () => string): Promise<T> {
    const deadline = performance.now() + ms;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      const left = deadline - performance.now();
      if (left <= 0 || exited) {
        // One more look: the last chunk may have arrived with the exit.
        const last = find();
        if (last !== undefined) return last;
        throw new Error(
          `${what()} not seen within ${ms} ms${exited ? " (the process exited)" : ""}; ` +
            `events ${JSON.stringify(events)}, lines ${JSON.stringify(lines)}, ` +
            `stderr: ${stderr.slice(-2000)}`,
        );
      }
      await waker.sleep(Math.min(left, 100));
    }
  }
  return {
    pid: child.pid,
    events,
    lines,
    stderr: () => stderr,
    waitEvent: (match, ms, what) => until(() => events.find(match), ms, () => `event ${what}`),
    waitLine: (pattern, ms) =>
      until(() => lines.find((line) => pattern.test(line)), ms, () => `a line ${pattern}`),
    status,
    async stop(ms = 5000) {
      if (!exited) await stopChild(child, ms);
      return await status;
    },
  };
}

/** A preloaded stream_app.py on one side, started through bin/globus-streams-launch. */
export function launchApp(
  world: FaultWorld,
  side: Side,
  appArgs: string[],
  extra: Record<string, string> = {},
): App {
  const portArgs = side === "listener" ? ["-p", String(world.listenerPort)] : [];
  return startApp(launcher, [
    ...portArgs,
    world.tunnelId,
    "python3",
    streamApp,
    ...appArgs,
  ], launchEnv(world, side, extra));
}

/** A helper (forward/expose) as a real process; waits for its first stdout line. */
export async function startHelper(
  world: FaultWorld,
  side: Side,
  args: string[],
): Promise<App & { port: number }> {
  const app = startApp(cliBin, args, world.env(side));
  const line = await app.waitLine(/127\.0\.0\.1:\d+/, 30_000);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
  return { ...app, port };
}

/** forward on the initiating side; resolves with its local port. */
export function startForward(world: FaultWorld) {
  return startHelper(world, "initiator", ["forward", world.tunnelId]);
}

/** expose on the listening side, relaying to 127.0.0.1:to. */
export function startExpose(world: FaultWorld, to: number) {
  return startHelper(world, "listener", ["expose", "--to", `127.0.0.1:${to}`, world.tunnelId]);
}

/** Resolves true when promise settles within ms, false otherwise. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return result;
}

/** Polls check (every 25 ms) until it holds; throws after ms. */
export function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  return pollUntil(check, ms, what, 25);
}

/** True when a TCP connect to 127.0.0.1:port is refused (within ms). */
export async function refuses(port: number, ms = 3000): Promise<boolean> {
  let conn: Deno.Conn | undefined;
  const attempt = Deno.connect({ hostname: "127.0.0.1", port }).then(
    (c) => (conn = c, false),
    (error) => error instanceof Deno.errors.ConnectionRefused,
  );
  const refused = await Promise.race([
    attempt,
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
  try {
    (conn as Deno.Conn | undefined)?.close();
  } catch {
    // closed
  }
  return refused;
}

/** One line for RELIABILITY.md: `faults: key=value ...`. */
export function summary(fields: Record<string, string | number | boolean>): string {
  const line = `faults: ${
    Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "number" ? round(v) : v}`).join(
      " ",
    )
  }`;
  console.log(line);
  return line;
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(0);
}

/** The soft limit on open files of processes started from here. */
export async function openFileLimit(): Promise<number> {
  const output = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
    .output();
  const text = decoder.decode(output.stdout).trim();
  return text === "unlimited" ? 1 << 20 : Number(text);
}
