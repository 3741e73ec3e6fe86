// Shared pieces of the benchmarks.
//
// Protocol between bench/run.ts and each bench/<name>.ts: the bench runs as a child
// process (`deno run --allow-all bench/<name>.ts`) and prints, on stdout, one JSON object
// per line for each figure it measured, exactly a BenchResult (use `emit`). Progress and
// anything else go to stderr. A non-zero exit means the bench failed.

/** One measured figure: ours against a baseline, with the target ratio ours/baseline. */
import { ConfStore } from "../src/conf/mod.ts";

export interface BenchResult {
  name: string;
  ours: number;
  baseline: number;
  unit: string;
  /** ours / baseline. */
  ratio: number;
  /** The ratio must be at most this, or at least this when better is "higher". */
  target: number;
  /** "lower" (times, the default) or "higher" (throughputs) is better. */
  better?: "lower" | "higher";
  met: boolean;
  /** How the figure was taken: runs, what the baseline is. */
  note?: string;
  /**
   * How many runs ours and baseline are medians of. bench/run.ts repeats a bench whose
   * records lack it (or say 1) and takes the medians itself.
   */
  runs?: number;
}

export const repoRoot = new URL("../", import.meta.url).pathname;

/** The median of a non-empty list. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * A result record with its ratio and verdict worked out: met when ratio <= target, or
 * ratio >= target when better is "higher".
 */
export function result(fields: Omit<BenchResult, "ratio" | "met">): BenchResult {
  const ratio = fields.ours / fields.baseline;
  const better = fields.better ?? "lower";
  return {
    ...fields,
    better,
    ours: round(fields.ours),
    baseline: round(fields.baseline),
    ratio: round(ratio),
    met: better === "lower" ? ratio <= fields.target : ratio >= fields.target,
  };
}

/** Which way a record counts: its `better`, else what its own `met` implies. */
export function betterOf(record: BenchResult): "lower" | "higher" {
  if (record.better) return record.better;
  const lowerMet = record.ratio <= record.target;
  return record.met === lowerMet ? "lower" : "higher";
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The memory figures of a process from /proc/<pid>/status, in KiB. */
export function processMemory(pid: number): { rssKiB: number; peakKiB: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]);
  };
  return { rssKiB: field("VmRSS"), peakKiB: field("VmHWM") };
}

/** Prints a result on stdout as one JSON line (the protocol above). */
export function emit(record: BenchResult): void {
  console.log(JSON.stringify(record));
}

/** Progress for a human, on stderr. */
export function progress(text: string): void {
  console.error(text);
}

export interface CommandSpec {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Checks stdout; throws when the command did not do its job. */
  check?: (stdout: string) => void;
}

/** Runs a command once and returns its wall time in ms; throws when it fails. */
export async function timeCommand(spec: CommandSpec): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command(spec.cmd, {
    args: spec.args,
    env: spec.env,
    cwd: spec.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - started;
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`${spec.cmd} ${spec.args.join(" ")} failed (${output.code}): ${stderr}`);
  }
  spec.check?.(new TextDecoder().decode(output.stdout));
  return elapsed;
}

/**
 * Times two commands alternately (so load from elsewhere hits both alike), after
 * warm-up runs of each, and returns the medians in ms.
 */
export async function compareCommands(
  ours: CommandSpec,
  baseline: CommandSpec,
  options: { runs: number; warmup: number },
): Promise<{ ours: number; baseline: number; oursRuns: number[]; baselineRuns: number[] }> {
  for (let i = 0; i < options.warmup; i++) {
    await timeCommand(ours);
    await timeCommand(baseline);
  }
  const oursRuns: number[] = [];
  const baselineRuns: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    // Alternate which goes first, so neither always follows the other.
    if (i % 2 === 0) {
      oursRuns.push(await timeCommand(ours));
      baselineRuns.push(await timeCommand(baseline));
    } else {
      baselineRuns.push(await timeCommand(baseline));
      oursRuns.push(await timeCommand(ours));
    }
  }
  return { ours: median(oursRuns), baseline: median(baselineRuns), oursRuns, baselineRuns };
}

/** The launcher's permission flags, read from bin/globus-streams as build/ does. */
export async function launcherPermissions(): Promise<string[]> {
  const text = await Deno.readTextFile(`${repoRoot}bin/globus-streams`);
  const match = text.match(/^PERMISSIONS="([^"]*)"/m);
  if (!match) throw new Error("bin/globus-streams has no PERMISSIONS line");
  return match[1].split(/\s+/).filter(Boolean);
}

/** The environment the launcher gives Deno: the project's DENO_DIR, no update check. */
export function launcherEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    DENO_DIR: `${repoRoot}.tools/deno-dir`,
    DENO_NO_UPDATE_CHECK: "1",
    ...extra,
  };
}

/** True when command is an executable file in a directory of PATH. */
export function onPath(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Installs a Debian package with apt-get when command is missing and we are root on a
 * machine with apt-get (a fresh CI machine); returns whether command is there after.
 */
export async function ensureDebianTool(command: string, pkg: string): Promise<boolean> {
  if (onPath(command)) return true;
  if (Deno.uid() !== 0 || !onPath("apt-get")) {
    progress(`bench: not installing ${pkg} for ${command} (needs root and apt-get)`);
    return false;
  }
  progress(`bench: installing ${pkg} with apt-get (for ${command})`);
  const env = { ...Deno.env.toObject(), DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args: string[]) =>
    new Deno.Command("apt-get", { args, env, stdin: "null", stdout: "null", stderr: "inherit" })
      .output();
  const install = ["install", "-y", "-qq", "--no-install-recommends", pkg];
  if (!(await apt(install)).success) {
    await apt(["update", "-qq"]);
    await apt(install);
  }
  return onPath(command);
}

/**
 * Conf files for a benchmark's tunnel on both sides (`<root>/initiating`, `<root>/listening`),
 * with one LAN secret, the access point on loopback at accessPointPort, fresh for a day.
 */
export async function writeTunnelConfs(
  root: string,
  tunnelId: string,
  ports: { accessPoint: number; fake: number },
): Promise<void> {
  const secret = { lankey: "bench-secret-0123456789", lankeyId: crypto.randomUUID() };
  for (const side of ["initiating", "listening"] as const) {
    await new ConfStore(`${root}/${side}`).write(tunnelId, {
      values: {
        ...secret,
        connectorContactString: `127.0.0.1:${ports.accessPoint}`,
        listenerContactString: "127.0.0.1:8888",
        updateTime: Math.floor(Date.now() / 1000),
        connectorContactStringTtl: 24 * 3600,
        fakePort: ports.fake,
        tunnelId,
        side,
      },
      lines: [],
    });
  }
}
