// The release archives: one tree per target laid out as installed, packed reproducibly
// (sorted names, owner 0, mtime from the commit, `gzip -n`), and SHA256SUMS over them.
import { join } from "node:path";
import { writeFileAtomic } from "../src/atomic/mod.ts";
import { VERSION } from "../src/version.ts";
import type { CompileResult } from "./_compile.ts";
import { BuildError } from "./_error.ts";
import { sha256File, treeDigest, upToDate } from "./_files.ts";
import { run } from "./_process.ts";
import { LIBRARY, LIBRARY_LINK, SUPERVISOR } from "./_targets.ts";

/** The archive's file name; an incomplete one cannot be mistaken for a release. */
export function archiveName(target: string, complete: boolean): string {
  return `globus-streams-${VERSION}-${target}${complete ? "" : ".INCOMPLETE"}.tar.gz`;
}

/** The name of the one directory at the top of every archive. */
export function archiveTop(target: string): string {
  return `globus-streams-${VERSION}-${target}`;
}

/** What goes into one archive besides the repository's own files. */
export interface StageParts {
  root: string;
  target: string;
  libraryPrefix: string;
  binary: CompileResult;
}

/** Lays out one archive's tree under stageDir/<top>/, fresh each time. */
export async function stageArchive(stageDir: string, parts: StageParts): Promise<string> {
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
export async function packArchive(
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
export async function writeChecksums(out: string): Promise<string[]> {
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
  const text = new TextEncoder().encode(lines.join(""));
  await writeFileAtomic(join(out, "SHA256SUMS"), text, { mode: 0o644 });
  return names;
}
