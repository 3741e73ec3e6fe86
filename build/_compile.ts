// The binary: a snapshot of src/ with the real commit stamped in, the denort runtime
// deno compile needs for a target, deno compile itself with exactly the development
// launcher's permissions, and a check of what it made.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { VERSION } from "../src/version.ts";
import { commandFiles } from "../src/cli/commands/mod.ts";
import { GLOBUS_MODULE } from "../src/environment/mod.ts";
import { type ElfInfo, readElf } from "./_elf.ts";
import { BuildError } from "./_error.ts";
import { exists, listTree, treeDigest, upToDate } from "./_files.ts";
import { run } from "./_process.ts";
import { hostTarget, TARGETS } from "./_targets.ts";

const COMPILE_TIMEOUT_MS = 600_000;
const DENORT_HINT = "set DENORT_BIN to a denort binary for this target";

/**
 * Reads the permission flags from the development launcher's PERMISSIONS="..." line, so
 * the compiled binary gets exactly what `deno run` gets in development.
 */
export function readPermissions(launcherText: string): string[] {
  const line = launcherText.match(/^PERMISSIONS="([^"]*)"$/m);
  if (!line) {
    throw new BuildError(
      `Cannot read the permissions of "bin/globus-streams": no PERMISSIONS="..." line`,
    );
  }
  const flags = line[1].split(/\s+/).filter((flag) => flag !== "");
  if (flags.length === 0) {
    throw new BuildError(
      `Cannot read the permissions of "bin/globus-streams": the PERMISSIONS line is empty`,
    );
  }
  for (const flag of flags) {
    if (!/^--(allow|deny)-[a-z]+(=[A-Za-z0-9_.,:/@-]+)?$/.test(flag) || flag === "--allow-all") {
      throw new BuildError(
        `Cannot use permission flag "${flag}" from "bin/globus-streams": want --allow-NAME[=LIST] or --deny-NAME[=LIST], not --allow-all`,
      );
    }
  }
  return flags;
}

/** Replaces the COMMIT constant in the text of src/commit.ts. */
export function stampCommit(text: string, commit: string): string {
  const pattern = /^export const COMMIT = "[^"\n]*";$/m;
  if (!pattern.test(text)) {
    throw new BuildError(
      `Cannot stamp the commit into "src/commit.ts": no line 'export const COMMIT = "...";'`,
    );
  }
  return text.replace(pattern, `export const COMMIT = ${JSON.stringify(commit)};`);
}

/** The commit the build describes and the time its archives carry. */
export interface SourceStamp {
  commit: string;
  epoch: number;
}

/** `git rev-parse --short HEAD` (+ "-dirty"), and SOURCE_DATE_EPOCH or the commit time. */
export async function sourceStamp(root: string, sourceDateEpoch?: string): Promise<SourceStamp> {
  const head = await run("git", ["-C", root, "rev-parse", "--short", "HEAD"]).catch(() =>
    undefined
  );
  let commit = "unknown commit";
  let epoch = 0;
  if (head && head.code === 0) {
    const status = await run("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"]);
    commit = head.stdout.trim() + (status.stdout.trim() === "" ? "" : "-dirty");
    const time = await run("git", ["-C", root, "log", "-1", "--format=%ct"]);
    epoch = Number(time.stdout.trim()) || 0;
  }
  if (sourceDateEpoch && /^\d+$/.test(sourceDateEpoch)) epoch = Number(sourceDateEpoch);
  return { commit, epoch };
}

export interface Snapshot {
  dir: string;
  digest: string;
  /** Files under src/ that are not modules (e.g. a built-in TOML), passed to --include. */
  dataFiles: string[];
  /**
   * The modules src/ imports by a computed specifier (so that start-up does not build
   * their graph): the command modules and src/globus. Static analysis cannot find them,
   * so they are passed to --include with their own imports.
   */
  commandModules: string[];
}

/**
 * The modules src/ imports by a computed specifier: the command modules, read from the
 * CLI's one table (src/cli/commands/mod.ts): "src/cli/commands/tunnel/create.ts", ...;
 * and src/globus, which src/environment loads only when a service must be asked.
 */
export function commandModules(): string[] {
  return [...commandFiles().map((file) => `src/cli/commands/${file}`), GLOBUS_MODULE];
}

/**
 * Copies src/, deno.json and deno.lock into dir with src/commit.ts stamped. Compiling
 * the copy leaves src/ untouched, so nothing has to be restored after a failure.
 */
export async function snapshotSource(root: string, dir: string, commit: string): Promise<Snapshot> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const files = (await listTree(join(root, "src"))).map((path) => `src/${path}`);
  for (const extra of ["deno.json", "deno.lock"]) {
    if (await exists(join(root, extra))) files.push(extra);
  }
  for (const path of files) {
    const stat = await Deno.lstat(join(root, path));
    if (!stat.isFile) continue;
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    let data = await Deno.readFile(join(root, path));
    if (path === "src/commit.ts") {
      data = new TextEncoder().encode(stampCommit(new TextDecoder().decode(data), commit));
    }
    await Deno.writeFile(join(dir, path), data);
  }
  const dataFiles = files.filter((path) =>
    path.startsWith("src/") && !/\.(ts|tsx|js|mjs|json)$/.test(path)
  );
  return { dir, digest: await treeDigest(dir), dataFiles, commandModules: commandModules() };
}

/** Where deno compile gets the denort runtime for a target, or why it cannot. */
export type DenortSource =
  | { kind: "DENORT_BIN"; path: string }
  | { kind: "cache"; path: string }
  | { kind: "download" }
  | { kind: "none"; reason: string };

/**
 * Decides, before running deno compile, where its runtime will come from: DENORT_BIN
 * when it is a binary for this target's machine, else Deno's cached download in
 * DENO_DIR (dl/release/v<deno>/denort-<target>.zip), else a download.
 */
export async function findDenort(
  target: string,
  env: (name: string) => string | undefined,
  denoVersion: string,
): Promise<DenortSource> {
  const denortBin = env("DENORT_BIN");
  if (denortBin) {
    let info: ElfInfo;
    try {
      info = readElf(await Deno.readFile(denortBin));
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "does not exist"
        : `cannot be used: ${(error as Error).message}`;
      return { kind: "none", reason: `DENORT_BIN "${denortBin}" ${why} (${DENORT_HINT})` };
    }
    if (info.machine === TARGETS[target].elfMachine) return { kind: "DENORT_BIN", path: denortBin };
  }
  const denoDir = env("DENO_DIR") ??
    join(env("XDG_CACHE_HOME") ?? join(env("HOME") ?? "/", ".cache"), "deno");
  const cached = join(denoDir, "dl", "release", `v${denoVersion}`, `denort-${target}.zip`);
  if (await exists(cached)) return { kind: "cache", path: cached };
  return { kind: "download" };
}

/** The one line printed when the binary cannot be compiled for a target. */
export function cannotCompileLine(target: string, reason: string): string {
  return `build: cannot compile bin/globus-streams for ${target}: ${reason}`;
}

export const OFFLINE_REASON = `the denort runtime is not available offline (${DENORT_HINT})`;

/** What compileBinary needs besides the target. */
export interface CompileContext {
  snapshot: Snapshot;
  permissions: string[];
  stamp: SourceStamp;
  workDir: string;
}

/** A compiled binary, or why there is none: reason for INCOMPLETE, short for the table. */
export type CompileResult = { ok: true; path: string; fresh: boolean } | {
  ok: false;
  reason: string;
  short: string;
};

/** deno compile of the snapshot for one target; incremental on a digest of its inputs. */
export async function compileBinary(
  context: CompileContext,
  target: string,
  source: DenortSource,
): Promise<CompileResult> {
  if (source.kind === "none") {
    return { ok: false, reason: source.reason, short: "DENORT_BIN unusable" };
  }
  const output = join(context.workDir, "globus-streams");
  const sourceId = source.kind === "download"
    ? "download"
    : `${source.kind}:${source.path}:${
      JSON.stringify(await Deno.stat(source.path).then((s) => [s.size, s.mtime?.getTime()]))
    }`;
  const key = createHash("sha256")
    .update(
      [context.snapshot.digest, context.permissions.join(" "), target, Deno.version.deno, sourceId]
        .join("\n"),
    )
    .digest("hex");
  const stampFile = join(context.workDir, "globus-streams.inputs");
  if (await upToDate(stampFile, key, output)) return { ok: true, path: output, fresh: false };
  await Deno.remove(stampFile).catch(() => {});
  const snap = context.snapshot.dir;
  const args = [
    "compile",
    "--no-prompt",
    ...context.permissions,
    "--target",
    target,
    "--config",
    join(snap, "deno.json"),
    ...context.snapshot.dataFiles.flatMap((path) => ["--include", join(snap, path)]),
    ...context.snapshot.commandModules.flatMap((path) => ["--include", join(snap, path)]),
    "--output",
    output,
    join(snap, "src", "main.ts"),
  ];
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  if (source.kind === "DENORT_BIN") env.DENORT_BIN = source.path;
  const result = await run(Deno.execPath(), args, { env, timeoutMs: COMPILE_TIMEOUT_MS });
  if (result.timedOut) {
    throw new BuildError(
      `Cannot compile bin/globus-streams for ${target}: deno compile did not finish in ${
        COMPILE_TIMEOUT_MS / 1000
      } s`,
    );
  }
  if (result.code !== 0) {
    // deno compile checks and bundles first, then fetches denort: a failure that names
    // it (or its download host) is the missing runtime, anything else is a real error.
    if (source.kind !== "DENORT_BIN" && /denort|dl\.deno\.land/i.test(result.stderr)) {
      return { ok: false, reason: OFFLINE_REASON, short: "no denort runtime" };
    }
    console.error(result.stderr.trimEnd());
    throw new BuildError(
      `Cannot compile bin/globus-streams for ${target}: deno compile exited with code ${result.code}`,
    );
  }
  try {
    await checkBinary(output, target, context.stamp.commit);
  } catch (error) {
    await Deno.remove(output).catch(() => {});
    throw error;
  }
  await Deno.writeTextFile(stampFile, key);
  return { ok: true, path: output, fresh: true };
}

/** Checks a compiled binary's machine, and on the host that it runs and says its version. */
async function checkBinary(path: string, target: string, commit: string): Promise<void> {
  const header = new Uint8Array(64);
  {
    using file = await Deno.open(path);
    await file.read(header);
  }
  const machine = new DataView(header.buffer).getUint16(18, true);
  if (machine !== TARGETS[target].elfMachine) {
    throw new BuildError(
      `Cannot use the binary compiled for ${target}: ELF machine ${machine}, want ${
        TARGETS[target].elfMachine
      }`,
    );
  }
  if (target !== hostTarget()) return;
  const result = await run(path, ["--version"], { timeoutMs: 60_000 });
  const want = `globus-streams ${VERSION} (${commit})`;
  const got = result.stdout.trim();
  if (result.code !== 0 || got !== want) {
    const shown = got.split("\n")[0].slice(0, 80) + (got.includes("\n") ? " ..." : "");
    throw new BuildError(
      `Cannot use the binary compiled for ${target}: "--version" printed "${shown}" (exit ${result.code}), want "${want}" (is DENORT_BIN a denort binary?)`,
    );
  }
}
