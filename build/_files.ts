// Files for the build: presence checks, digests and the stamps of up-to-date checks.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BuildError } from "./_error.ts";

/** Whether anything (even a dangling symlink) is at path. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** root/path, or a BuildError naming the missing part. */
export async function requireFile(root: string, path: string, what: string): Promise<string> {
  const full = join(root, path);
  if (!(await exists(full))) {
    throw new BuildError(`Cannot pack the archives: "${path}" (${what}) is missing`);
  }
  return full;
}

/** The hex SHA-256 of a file's contents, read in chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Every regular file and symlink under dir, sorted, as paths relative to dir. */
export async function listTree(dir: string, prefix = ""): Promise<string[]> {
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
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash("sha256");
  for (const path of await listTree(dir)) {
    const stat = await Deno.lstat(join(dir, path));
    hash.update(`${path}\0${(stat.mode ?? 0) & 0o7777}\0`);
    if (stat.isSymlink) hash.update(`->${await Deno.readLink(join(dir, path))}\0`);
    else hash.update(await sha256File(join(dir, path)));
  }
  return hash.digest("hex");
}

/** Whether output exists and the stamp file holds key: the inputs have not changed. */
export async function upToDate(stamp: string, key: string, output: string): Promise<boolean> {
  if (!(await exists(output))) return false;
  try {
    return (await Deno.readTextFile(stamp)) === key;
  } catch {
    return false;
  }
}
