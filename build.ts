/**
 * `./dev build`: builds globus-streams for each Linux target and packs one release
 * archive per target, plus SHA256SUMS, into dist/ (or --out).
 *
 * Per target: the preload library (zig build, glibc floor GLIBC_FLOOR), the binary
 * (`deno compile` of a snapshot of src/ with the real commit stamped in, with exactly the
 * permissions of bin/globus-streams), the launcher, the docs and install.sh. Where
 * `deno compile` cannot get its denort runtime, the archive is packed without the binary,
 * named `.INCOMPLETE.tar.gz` and carries an INCOMPLETE file saying what is missing.
 * Archives are reproducible: sorted names, owner 0, mtime from the commit, `gzip -n`.
 *
 * @example
 * ```sh
 * ./dev build                                   # both targets into dist/
 * ./dev build --target aarch64-unknown-linux-gnu --out /tmp/rel --skip-compile
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import { VERSION } from "./src/version.ts";

/** What a target needs: its zig triple and the ELF machine its files must have. */
export interface TargetInfo {
  zig: string;
  elfMachine: number;
  /** How `file` names the machine. */
  machineName: string;
}

/** The release targets, by their Rust-style triple (what `deno compile --target` takes). */
export const TARGETS: Record<string, TargetInfo> = {
  "x86_64-unknown-linux-gnu": { zig: "x86_64-linux-gnu", elfMachine: 62, machineName: "x86-64" },
  "aarch64-unknown-linux-gnu": {
    zig: "aarch64-linux-gnu",
    elfMachine: 183,
    machineName: "AArch64",
  },
};

/** The oldest glibc the preload library runs on; the README states it too. */
export const GLIBC_FLOOR = "2.17";
/** The preload library's file name, which is also its soname. */
export const LIBRARY = "libglobus_streams_client.so.0";
/** The unversioned development symlink next to it. */
export const LIBRARY_LINK = "libglobus_streams_client.so";
/** The launcher's seccomp engine, built by the same zig build (native/src/supervise_main.zig). */
export const SUPERVISOR = "globus-streams-supervise";

const COMPILE_TIMEOUT_MS = 600_000;
const ZIG_TIMEOUT_MS = 900_000;
const DENORT_HINT = "set DENORT_BIN to a denort binary for this target";

/** The one error class of the build; exitCode 2 for a wrong command line. */
export class BuildError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "BuildError";
    this.exitCode = exitCode;
  }
}

export interface BuildOptions {
  root: string;
  out: string;
  targets: string[];
  skipCompile: boolean;
  /**
   * Also put the host's library at lib/ in the tree (bin/ and lib/ then match the
   * installed layout). True for a build into the default dist/, not for --out builds.
   */
  treeLibrary: boolean;
}

export const USAGE = `usage: ./dev build [--target TRIPLE]... [--out DIR] [--skip-compile]

  --target TRIPLE   build only this target (repeatable, or comma-separated):
                    ${Object.keys(TARGETS).join(", ")}
  --out DIR         where the archives and SHA256SUMS go (default: dist/, which
                    also puts this machine's library at lib/ in the tree)
  --skip-compile    do not run deno compile: the archives come out INCOMPLETE
`;

/** Parses build.ts's arguments; returns "help" for --help. */
export function parseBuildArgs(argv: string[], root: string): BuildOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        target: { type: "string", multiple: true },
        out: { type: "string" },
        "skip-compile": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new BuildError((error as Error).message, 2);
  }
  if (parsed.values.help) return "help";
  const wanted = (parsed.values.target ?? []).flatMap((value) => value.split(","));
  for (const target of wanted) {
    if (!TARGETS[target]) {
      const known = Object.keys(TARGETS).map((name) => `"${name}"`).join(", ");
      throw new BuildError(`Unknown target "${target}": want one of ${known}`, 2);
    }
  }
  const targets = Object.keys(TARGETS).filter((name) =>
    wanted.length === 0 || wanted.includes(name)
  );
  return {
    root,
    out: resolve(parsed.values.out ?? join(root, "dist")),
    targets,
    skipCompile: parsed.values["skip-compile"] ?? false,
    treeLibrary: parsed.values.out === undefined,
  };
}

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

// ---------------------------------------------------------------------------------------
// ELF: enough of the format to check machine, soname and the glibc versions a library needs.

/** What build.ts checks in a built ELF file. */
export interface ElfInfo {
  /** 2 = executable, 3 = shared object or PIE. */
  type: number;
  machine: number;
  hasInterpreter: boolean;
  soname: string | undefined;
  /** Versions like "GLIBC_2.17" from the version-needs section. */
  versionsNeeded: string[];
}

/** Parses a 64-bit little-endian ELF file's header, program and section headers. */
export function readElf(bytes: Uint8Array): ElfInfo {
  const magic = [0x7f, 0x45, 0x4c, 0x46];
  if (bytes.length < 64 || magic.some((byte, index) => bytes[index] !== byte)) {
    throw new BuildError("Cannot read ELF file: no ELF magic");
  }
  if (bytes[4] !== 2 || bytes[5] !== 1) {
    throw new BuildError("Cannot read ELF file: not 64-bit little-endian");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  const info: ElfInfo = {
    type: u16(16),
    machine: u16(18),
    hasInterpreter: false,
    soname: undefined,
    versionsNeeded: [],
  };
  const [phoff, phentsize, phnum] = [u64(32), u16(54), u16(56)];
  for (let index = 0; index < phnum && phoff + (index + 1) * phentsize <= bytes.length; index++) {
    if (u32(phoff + index * phentsize) === 3) info.hasInterpreter = true; // PT_INTERP
  }
  const [shoff, shentsize, shnum] = [u64(40), u16(58), u16(60)];
  if (shoff === 0 || shoff + shnum * shentsize > bytes.length) return info;
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    return {
      type: u32(at + 4),
      offset: u64(at + 24),
      size: u64(at + 32),
      link: u32(at + 40),
      info: u32(at + 44),
    };
  };
  const cString = (at: number) => {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  for (let index = 0; index < shnum; index++) {
    const current = section(index);
    const strings = section(current.link).offset;
    if (current.type === 6) { // SHT_DYNAMIC: 16-byte entries, DT_SONAME = 14
      for (let at = current.offset; at + 16 <= current.offset + current.size; at += 16) {
        if (u64(at) === 14) info.soname = cString(strings + u64(at + 8));
      }
    }
    if (current.type === 0x6ffffffe) { // SHT_GNU_verneed
      let need = current.offset;
      for (let entry = 0; entry < current.info && need + 16 <= bytes.length; entry++) {
        let aux = need + u32(need + 8);
        for (let count = 0; count < u16(need + 2) && aux + 16 <= bytes.length; count++) {
          info.versionsNeeded.push(cString(strings + u32(aux + 8)));
          aux += u32(aux + 12);
        }
        need += u32(need + 12);
      }
    }
  }
  return info;
}

function versionNumbers(version: string): number[] {
  return version.split(".").map(Number);
}

function versionAbove(version: string, floor: string): boolean {
  const [a, b] = [versionNumbers(version), versionNumbers(floor)];
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const diff = (a[index] ?? 0) - (b[index] ?? 0);
    if (diff !== 0) return diff > 0;
  }
  return false;
}

/** The highest GLIBC_x.y a file needs, or undefined when it needs none. */
export function newestGlibc(info: ElfInfo): string | undefined {
  const versions = info.versionsNeeded
    .filter((name) => name.startsWith("GLIBC_") && /^\d+(\.\d+)*$/.test(name.slice(6)))
    .map((name) => name.slice(6));
  return versions.reduce<string | undefined>(
    (newest, version) => (newest === undefined || versionAbove(version, newest) ? version : newest),
    undefined,
  );
}

/** Everything wrong with a built library for a target; empty when it is right. */
export function libraryProblems(info: ElfInfo, target: string): string[] {
  const want = TARGETS[target];
  const problems: string[] = [];
  if (info.machine !== want.elfMachine) {
    problems.push(`ELF machine ${info.machine}, want ${want.elfMachine} (${want.machineName})`);
  }
  if (info.type !== 3) problems.push(`ELF type ${info.type}, want 3 (shared object)`);
  if (info.soname !== LIBRARY) problems.push(`soname "${info.soname ?? ""}", want "${LIBRARY}"`);
  const glibc = newestGlibc(info);
  if (glibc && versionAbove(glibc, GLIBC_FLOOR)) {
    problems.push(`needs GLIBC_${glibc}, above the floor ${GLIBC_FLOOR}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Processes and files.

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  let child;
  try {
    child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.env !== undefined,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new BuildError(`Cannot run "${command}": not found`);
    }
    throw error;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 120_000);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function requireFile(root: string, path: string, what: string): Promise<string> {
  const full = join(root, path);
  if (!(await exists(full))) {
    throw new BuildError(`Cannot pack the archives: "${path}" (${what}) is missing`);
  }
  return full;
}

/** Writes a file through a temporary name and a rename, so readers never see half of it. */
async function writeAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const temp = `${path}.part`;
  if (typeof data === "string") await Deno.writeTextFile(temp, data, { mode });
  else await Deno.writeFile(temp, data, { mode });
  await Deno.chmod(temp, mode);
  await Deno.rename(temp, path);
}

async function copyAtomic(from: string, to: string, mode: number): Promise<void> {
  await writeAtomic(to, await Deno.readFile(from), mode);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Every regular file and symlink under dir, sorted, as paths relative to dir. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) names.push(entry.name);
  names.sort();
  const files: string[] = [];
  for (const name of names) {
    const path = prefix === "" ? name : `${prefix}/${name}`;
    const stat = await Deno.lstat(join(dir, path));
    if (stat.isDirectory) files.push(...await listTree(dir, path));
    else files.push(path);
  }
  return files;
}

/** A digest of a tree's names, modes, link targets and contents: the key for up-to-date checks. */
async function treeDigest(dir: string): Promise<string> {
  const hash = createHash("sha256");
  for (const path of await listTree(dir)) {
    const stat = await Deno.lstat(join(dir, path));
    hash.update(`${path}\0${(stat.mode ?? 0) & 0o7777}\0`);
    if (stat.isSymlink) hash.update(`->${await Deno.readLink(join(dir, path))}\0`);
    else hash.update(await sha256File(join(dir, path)));
  }
  return hash.digest("hex");
}

async function upToDate(stamp: string, key: string, output: string): Promise<boolean> {
  if (!(await exists(output))) return false;
  try {
    return (await Deno.readTextFile(stamp)) === key;
  } catch {
    return false;
  }
}

function humanSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

// ---------------------------------------------------------------------------------------
// The source: commit, time, and a snapshot of src/ with the commit stamped in.

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

interface Snapshot {
  dir: string;
  digest: string;
  /** Files under src/ that are not modules (e.g. a built-in TOML), passed to --include. */
  dataFiles: string[];
  /**
   * The command modules src/cli/mod.ts imports by a computed specifier (so that start-up
   * does not build their graph); static analysis cannot find them, so they are passed
   * to --include with their own imports.
   */
  commandModules: string[];
}

/**
 * Copies src/, deno.json and deno.lock into dir with src/commit.ts stamped. Compiling
 * the copy leaves src/ untouched, so nothing has to be restored after a failure.
 */
/**
 * The modules src/cli/mod.ts imports by a computed specifier, from a listing of the tree
 * (paths like "src/cli/tunnel.ts"): every public file of src/cli but mod.ts itself.
 */
export function commandModules(files: string[]): string[] {
  return files.filter((path) => /^src\/cli\/[a-z][a-z_]*\.ts$/.test(path))
    .filter((path) => path !== "src/cli/mod.ts");
}

async function snapshotSource(root: string, dir: string, commit: string): Promise<Snapshot> {
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
  return { dir, digest: await treeDigest(dir), dataFiles, commandModules: commandModules(files) };
}

// ---------------------------------------------------------------------------------------
// The parts of one archive.

/** Runs zig build for a target into prefix and checks the library it installed. */
async function buildLibrary(root: string, target: string, prefix: string): Promise<ElfInfo> {
  const zig = join(root, ".tools", "bin", "zig");
  if (!(await exists(zig))) {
    throw new BuildError(`Cannot build the library: "${zig}" is missing (run ./dev setup)`);
  }
  if (!(await exists(join(root, "native", "build.zig")))) {
    throw new BuildError(`Cannot build the library: "native/build.zig" is missing`);
  }
  const zigTarget = `${TARGETS[target].zig}.${GLIBC_FLOOR}`;
  const result = await run(
    zig,
    ["build", `-Dtarget=${zigTarget}`, "-Doptimize=ReleaseSafe", "--prefix", prefix],
    { cwd: join(root, "native"), timeoutMs: ZIG_TIMEOUT_MS },
  );
  if (result.code !== 0 || result.timedOut) {
    console.error(result.stderr.trimEnd());
    const why = result.timedOut
      ? `did not finish in ${ZIG_TIMEOUT_MS / 1000} s`
      : `exit code ${result.code}`;
    throw new BuildError(
      `Cannot build the library for ${target}: zig build -Dtarget=${zigTarget} failed: ${why}`,
    );
  }
  const path = join(prefix, "lib", LIBRARY);
  if (!(await exists(path))) {
    throw new BuildError(
      `Cannot find the library for ${target}: zig build did not install "lib/${LIBRARY}"`,
    );
  }
  if (!(await exists(join(prefix, "bin", SUPERVISOR)))) {
    throw new BuildError(
      `Cannot find the seccomp supervisor for ${target}: zig build did not install "bin/${SUPERVISOR}"`,
    );
  }
  const info = readElf(await Deno.readFile(path));
  const problems = libraryProblems(info, target);
  if (problems.length > 0) {
    throw new BuildError(`Cannot use the library built for ${target}: ${problems.join("; ")}`);
  }
  return info;
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

interface CompileContext {
  snapshot: Snapshot;
  permissions: string[];
  stamp: SourceStamp;
  workDir: string;
}

/** A compiled binary, or why there is none: reason for INCOMPLETE, short for the table. */
type CompileResult = { ok: true; path: string; fresh: boolean } | {
  ok: false;
  reason: string;
  short: string;
};

/** deno compile of the snapshot for one target; incremental on a digest of its inputs. */
async function compileBinary(
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

/** The target triple of the machine running the build, if it is a release target. */
export function hostTarget(): string | undefined {
  const triple = `${Deno.build.arch}-unknown-linux-gnu`;
  return Deno.build.os === "linux" && TARGETS[triple] ? triple : undefined;
}

/** The archive's file name; an incomplete one cannot be mistaken for a release. */
export function archiveName(target: string, complete: boolean): string {
  return `globus-streams-${VERSION}-${target}${complete ? "" : ".INCOMPLETE"}.tar.gz`;
}

/** The name of the one directory at the top of every archive. */
export function archiveTop(target: string): string {
  return `globus-streams-${VERSION}-${target}`;
}

interface StageParts {
  root: string;
  target: string;
  libraryPrefix: string;
  binary: CompileResult;
}

/** Lays out one archive's tree under stageDir/<top>/, fresh each time. */
async function stageArchive(stageDir: string, parts: StageParts): Promise<string> {
  const top = join(stageDir, archiveTop(parts.target));
  await Deno.remove(stageDir, { recursive: true }).catch(() => {});
  for (const dir of ["", "bin", "lib", "share", "share/doc", "share/doc/globus-streams"]) {
    await Deno.mkdir(join(top, dir), { recursive: true });
    await Deno.chmod(join(top, dir), 0o755);
  }
  await Deno.chmod(stageDir, 0o755);
  const repo = (path: string) => join(parts.root, path);
  const copies: [string, string, number][] = [
    ...(parts.binary.ok
      ? [[parts.binary.path, "bin/globus-streams", 0o755] as [string, string, number]]
      : []),
    [repo("bin/globus-streams-launch"), "bin/globus-streams-launch", 0o755],
    [repo("bin/globus-streams-launch"), "bin/globus-streams-launch.sh", 0o755],
    [join(parts.libraryPrefix, "lib", LIBRARY), `lib/${LIBRARY}`, 0o755],
    [join(parts.libraryPrefix, "bin", SUPERVISOR), `bin/${SUPERVISOR}`, 0o755],
    [repo("README.md"), "share/doc/globus-streams/README.md", 0o644],
    [repo("LICENSE"), "share/doc/globus-streams/LICENSE", 0o644],
    [repo("install.sh"), "install.sh", 0o755],
  ];
  for (const [from, to, mode] of copies) {
    await Deno.copyFile(from, join(top, to));
    await Deno.chmod(join(top, to), mode);
  }
  await Deno.symlink(LIBRARY, join(top, "lib", LIBRARY_LINK));
  if (!parts.binary.ok) {
    const note = [
      "This archive is INCOMPLETE: do not ship it.",
      `Missing: bin/globus-streams (the ${parts.target} binary).`,
      `Why: ${parts.binary.reason}.`,
      "Everything else in it (launcher, preload library, seccomp supervisor, docs, install.sh) is complete.",
      "",
    ].join("\n");
    await Deno.writeTextFile(join(top, "INCOMPLETE"), note, { mode: 0o644 });
    await Deno.chmod(join(top, "INCOMPLETE"), 0o644);
  }
  return top;
}

/** The tar options that make an archive depend only on its files and the epoch. */
export function tarArguments(stageDir: string, top: string, epoch: number): string[] {
  return [
    "--create",
    "--file=-",
    "--format=gnu",
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=@${epoch}`,
    "--use-compress-program=gzip -n",
    `--directory=${stageDir}`,
    top,
  ];
}

/** Packs stageDir/<top> into archivePath (reproducibly); skipped when nothing changed. */
async function packArchive(
  stageDir: string,
  top: string,
  archivePath: string,
  epoch: number,
): Promise<boolean> {
  const key = `${await treeDigest(stageDir)}\n${epoch}\n`;
  const stampFile = `${stageDir}.inputs`;
  if (await upToDate(stampFile, key, archivePath)) return false;
  const temp = `${archivePath}.part`;
  const args = tarArguments(stageDir, top, epoch).map((
    arg,
  ) => (arg === "--file=-" ? `--file=${temp}` : arg));
  const result = await run("tar", args, {
    env: { ...Deno.env.toObject(), LC_ALL: "C" },
    timeoutMs: 600_000,
  });
  if (result.code !== 0) {
    await Deno.remove(temp).catch(() => {});
    throw new BuildError(`Cannot pack "${archivePath}": tar failed: ${result.stderr.trim()}`);
  }
  await Deno.rename(temp, archivePath);
  await Deno.writeTextFile(stampFile, key);
  return true;
}

/** Writes SHA256SUMS over every archive of this version in out, in sha256sum's format. */
async function writeChecksums(out: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(out)) {
    if (
      entry.isFile && entry.name.startsWith(`globus-streams-${VERSION}-`) &&
      entry.name.endsWith(".tar.gz")
    ) {
      names.push(entry.name);
    }
  }
  names.sort();
  const lines = [];
  for (const name of names) lines.push(`${await sha256File(join(out, name))}  ${name}\n`);
  await writeAtomic(join(out, "SHA256SUMS"), lines.join(""));
  return names;
}

/** Puts the host's library at lib/ in the tree, so bin/ and lib/ match the installed layout. */
async function installHostLibrary(root: string, libraryPrefix: string): Promise<void> {
  const lib = join(root, "lib");
  await Deno.mkdir(lib, { recursive: true });
  await copyAtomic(join(libraryPrefix, "lib", LIBRARY), join(lib, LIBRARY), 0o755);
  const link = join(lib, LIBRARY_LINK);
  const current = await Deno.readLink(link).catch(() => undefined);
  if (current !== LIBRARY) {
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(LIBRARY, link);
  }
}

// ---------------------------------------------------------------------------------------
// The whole build.

/** One row of the closing table. */
export interface TargetReport {
  target: string;
  library: string;
  binary: string;
  archive: string;
  size: string;
  complete: boolean;
}

function say(text: string): void {
  console.log(`build: ${text}`);
}

/** Builds every requested target and writes the archives and SHA256SUMS. */
export async function build(options: BuildOptions): Promise<TargetReport[]> {
  const { root, out } = options;
  const launcherText = await Deno.readTextFile(
    await requireFile(root, "bin/globus-streams", "the development launcher"),
  );
  const permissions = readPermissions(launcherText);
  for (
    const [path, what] of [
      ["bin/globus-streams-launch", "the launcher"],
      ["README.md", "the README"],
      ["LICENSE", "the license"],
      ["install.sh", "the installer"],
    ]
  ) await requireFile(root, path, what);
  const stamp = await sourceStamp(root, Deno.env.get("SOURCE_DATE_EPOCH"));
  say(`globus-streams ${VERSION} (${stamp.commit}) for ${options.targets.join(", ")} into ${out}`);
  const work = join(out, ".build");
  await Deno.mkdir(work, { recursive: true });
  let snapshot: Snapshot | undefined;
  if (!options.skipCompile) {
    snapshot = await snapshotSource(root, join(work, "source"), stamp.commit);
    say(
      `source: snapshot of src/ with COMMIT = "${stamp.commit}", permissions ${
        permissions.join(" ")
      }`,
    );
  }
  const reports: TargetReport[] = [];
  for (const target of options.targets) {
    reports.push(await buildTarget(options, target, { work, stamp, permissions, snapshot }));
  }
  const names = await writeChecksums(out);
  say(`checksums: SHA256SUMS lists ${names.length} archive(s)`);
  return reports;
}

interface TargetContext {
  work: string;
  stamp: SourceStamp;
  permissions: string[];
  snapshot: Snapshot | undefined;
}

async function buildTarget(
  options: BuildOptions,
  target: string,
  context: TargetContext,
): Promise<TargetReport> {
  const dir = join(context.work, target);
  const libraryPrefix = join(dir, "native");
  await Deno.mkdir(dir, { recursive: true });
  say(
    `${target}: library: zig build -Dtarget=${
      TARGETS[target].zig
    }.${GLIBC_FLOOR} -Doptimize=ReleaseSafe`,
  );
  const info = await buildLibrary(options.root, target, libraryPrefix);
  const library = `${TARGETS[target].machineName}, needs GLIBC_${newestGlibc(info) ?? "-"}`;
  say(`${target}: library ok: ${library}, soname ${info.soname}`);
  if (options.treeLibrary && target === hostTarget()) {
    await installHostLibrary(options.root, libraryPrefix);
    say(`${target}: library copied to lib/${LIBRARY} in the tree`);
  }
  let binary: CompileResult;
  if (options.skipCompile || !context.snapshot) {
    binary = { ok: false, reason: "deno compile was skipped (--skip-compile)", short: "skipped" };
    say(`${target}: binary: skipped (--skip-compile)`);
  } else {
    const source = await findDenort(target, (name) => Deno.env.get(name), Deno.version.deno);
    say(
      `${target}: binary: deno compile (denort from ${
        source.kind === "none" ? "nowhere" : source.kind
      })`,
    );
    binary = await compileBinary(
      {
        snapshot: context.snapshot,
        permissions: context.permissions,
        stamp: context.stamp,
        workDir: dir,
      },
      target,
      source,
    );
    if (!binary.ok) console.error(cannotCompileLine(target, binary.reason));
    else say(`${target}: binary ${binary.fresh ? "compiled" : "up to date"}`);
  }
  const stageDir = join(dir, "stage");
  await stageArchive(stageDir, { root: options.root, target, libraryPrefix, binary });
  await Deno.mkdir(options.out, { recursive: true });
  const name = archiveName(target, binary.ok);
  await Deno.remove(join(options.out, archiveName(target, !binary.ok))).catch(() => {});
  const packed = await packArchive(
    stageDir,
    archiveTop(target),
    join(options.out, name),
    context.stamp.epoch,
  );
  const size = (await Deno.stat(join(options.out, name))).size;
  say(`${target}: archive ${packed ? "packed" : "up to date"}: ${name} (${humanSize(size)})`);
  return {
    target,
    library,
    binary: binary.ok ? "compiled" : `MISSING (${binary.short})`,
    archive: name,
    size: humanSize(size),
    complete: binary.ok,
  };
}

/** The closing table, one row per target. */
export function summaryTable(reports: TargetReport[], out: string): string {
  const rows = [
    ["target", "library", "binary", "size", "archive"],
    ...reports.map((r) => [r.target, r.library, r.binary, r.size, r.archive]),
  ];
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) =>
    row.map((cell, column) => (column < 4 ? cell.padEnd(widths[column]) : cell)).join("  ")
  );
  const incomplete = reports.filter((r) => !r.complete).length;
  lines.push(
    incomplete === 0
      ? `${reports.length} archive(s) in ${out}, with SHA256SUMS`
      : `${incomplete} of ${reports.length} archive(s) in ${out} are INCOMPLETE (named *.INCOMPLETE.tar.gz): not for release`,
  );
  return lines.map((line) => `  ${line}`).join("\n");
}

async function cli(argv: string[]): Promise<number> {
  const root = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  try {
    const options = parseBuildArgs(argv, root);
    if (options === "help") {
      console.log(USAGE);
      return 0;
    }
    const reports = await build(options);
    say(`summary (${relative(Deno.cwd(), options.out) || "."}):`);
    console.log(summaryTable(reports, relative(Deno.cwd(), options.out) || "."));
    return 0;
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`build: ${error.message}`);
    if (error.exitCode === 2) console.error(USAGE);
    return error.exitCode;
  }
}

if (import.meta.main) Deno.exit(await cli(Deno.args));
