/**
 * `./dev build` (the deno task runs this file): builds globus-streams for each Linux
 * target and packs one release archive per target, plus SHA256SUMS, into dist/ (or --out).
 *
 * Per target: the preload library (zig build, glibc floor GLIBC_FLOOR), the binary
 * (`deno compile` of a snapshot of src/ with the real commit stamped in, with exactly the
 * permissions of bin/globus-streams), the launcher, the docs and install.sh. Where
 * `deno compile` cannot get its denort runtime, the archive is packed without the binary,
 * named `.INCOMPLETE.tar.gz` and carries an INCOMPLETE file saying what is missing.
 * Archives are reproducible: sorted names, owner 0, mtime from the commit, `gzip -n`.
 *
 * One file a job: _targets.ts (what is built for which machine), _compile.ts (snapshot,
 * denort, deno compile), _library.ts (zig build), _elf.ts (the checks of built files),
 * _archive.ts (archives and SHA256SUMS), _files.ts and _process.ts (helpers); this file
 * parses the command line and runs the steps in order.
 *
 * @example
 * ```sh
 * ./dev build                                   # both targets into dist/
 * ./dev build --target aarch64-unknown-linux-gnu --out /tmp/rel --skip-compile
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { join, relative, resolve } from "node:path";
import { VERSION } from "../src/version.ts";
import { archiveName, archiveTop, packArchive, stageArchive, writeChecksums } from "./_archive.ts";
import {
  cannotCompileLine,
  compileBinary,
  type CompileResult,
  findDenort,
  readPermissions,
  type Snapshot,
  snapshotSource,
  type SourceStamp,
  sourceStamp,
} from "./_compile.ts";
import { newestGlibc } from "./_elf.ts";
import { BuildError } from "./_error.ts";
import { requireFile } from "./_files.ts";
import { buildLibrary, installHostLibrary } from "./_library.ts";
import { GLIBC_FLOOR, hostTarget, LIBRARY, TARGETS } from "./_targets.ts";

export { archiveName, archiveTop, tarArguments } from "./_archive.ts";
export {
  cannotCompileLine,
  commandModules,
  type DenortSource,
  findDenort,
  OFFLINE_REASON,
  readPermissions,
  type SourceStamp,
  sourceStamp,
  stampCommit,
} from "./_compile.ts";
export { type ElfInfo, libraryProblems, newestGlibc, readElf } from "./_elf.ts";
export { BuildError } from "./_error.ts";
export {
  GLIBC_FLOOR,
  hostTarget,
  LIBRARY,
  LIBRARY_LINK,
  SUPERVISOR,
  type TargetInfo,
  TARGETS,
} from "./_targets.ts";

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

/** Parses the build's arguments; returns "help" for --help. */
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

function humanSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

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
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
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
