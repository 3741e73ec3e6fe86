// Files that hold a secret (conf files with the LAN secret, login tokens) and the
// directory they live in, checked as ssh checks private keys:
// - a file or directory another user owns, or can read or change, is refused;
// - only a regular file is opened, and never through a symbolic link: a FIFO would
//   block the open for ever, a link could lead anywhere.
// Deno.open takes no O_NONBLOCK or O_NOFOLLOW, and node:fs (which does) costs about
// 17 ms at start-up, more than contact-lookup's whole budget (bench/contact_lookup.ts).
// So the name is lstat'ed first, then opened, then the open file must be the same
// inode. Only someone who can write the directory can swap the name between the two
// steps, and the directory was checked first: only its owner can.
import { ConfError } from "./_error.ts";
import { oneLine } from "../quote/mod.ts";

/** How a private file is named in messages and remade when it must go. */
export interface PrivateFileKind {
  /** "conf file", "login tokens file". */
  label: string;
  /** What another user could read in it: "the LAN secret". */
  secret: string;
  /** The command that writes it anew, for the fix of a file that must be removed. */
  remake: string;
  /** Larger files are refused (default 64 KiB). */
  maxBytes?: number;
}

const fileModeMask = 0o077;
const dirModeMask = 0o066;
const defaultMaxBytes = 64 * 1024;

function octal(mode: number): string {
  return "0" + (mode & 0o777).toString(8).padStart(3, "0");
}

/** A file system error as a one-line ConfError: `Cannot <what> "<path>": <reason>`. */
export function ioError(what: string, path: string, error: unknown): ConfError {
  const reason = error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : oneLine(error);
  return new ConfError(`Cannot ${what} "${path}": ${reason}`, { path, cause: error });
}

function checkOwnerAndMode(
  info: Deno.FileInfo,
  path: string,
  kind: PrivateFileKind | "directory",
): void {
  const label = kind === "directory" ? "conf directory" : kind.label;
  const uid = Deno.uid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new ConfError(
      `Cannot use ${label} "${path}": it is owned by uid ${info.uid}, not by you (uid ${uid}) ` +
        `(run: chown ${uid} "${path}", or remove it)`,
      { path },
    );
  }
  const mode = info.mode ?? 0;
  const mask = kind === "directory" ? dirModeMask : fileModeMask;
  if ((mode & mask) === 0) return;
  const risk = kind !== "directory"
    ? (mode & 0o044 ? `read ${kind.secret}` : "change it")
    : (mode & 0o022 ? "replace its files" : "list it");
  const fix = kind === "directory" ? "700" : "600";
  throw new ConfError(
    `Cannot use ${label} "${path}": mode ${octal(mode)} lets other users ${risk} ` +
      `(run: chmod ${fix} "${path}")`,
    { path },
  );
}

function checkRegular(info: Deno.FileInfo, path: string, kind: PrivateFileKind): void {
  if (info.isSymlink) {
    throw new ConfError(
      `Cannot use ${kind.label} "${path}": it is a symbolic link (put the file itself there, ` +
        `or remove it and run '${kind.remake}')`,
      { path },
    );
  }
  if (!info.isFile) {
    throw new ConfError(
      `Cannot use ${kind.label} "${path}": it is not a regular file ` +
        `(remove it, then run '${kind.remake}')`,
      { path },
    );
  }
}

/**
 * Checks a directory of private files when it exists (owner; no one else may write or
 * list it); returns whether it exists. Throws ConfError when it is unsafe.
 */
export function checkPrivateDir(dir: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw ioError("use conf directory", dir, error);
  }
  if (!info.isDirectory) {
    throw new ConfError(`Cannot use conf directory "${dir}": it is not a directory`, {
      path: dir,
    });
  }
  checkOwnerAndMode(info, dir, "directory");
  return true;
}

/** Creates the directory (and missing parents) with mode 0700 when absent, then checks it. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  if (checkPrivateDir(dir)) return;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError("create conf directory", dir, error);
  }
  checkPrivateDir(dir);
}

function readAll(file: Deno.FsFile, maxBytes: number): Uint8Array {
  const buffer = new Uint8Array(maxBytes + 1);
  let length = 0;
  while (length < buffer.length) {
    const count = file.readSync(buffer.subarray(length));
    if (count === null) break;
    length += count;
  }
  if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
  return buffer.subarray(0, length);
}

/**
 * The bytes of a private file, or undefined when there is none. Check its directory
 * with checkPrivateDir first. Throws ConfError when the file is a link, not a regular
 * file, another user's, readable or writable by others, too large or unreadable.
 *
 * @example
 * ```ts
 * const kind = { label: "login tokens file", secret: "the login tokens", remake: "globus-streams login" };
 * const bytes = checkPrivateDir(dir) ? readPrivateFileSync(`${dir}/tokens.json`, kind) : undefined;
 * ```
 */
export function readPrivateFileSync(path: string, kind: PrivateFileKind): Uint8Array | undefined {
  // A writer's rename may swap the name between lstat and open: then look again.
  for (let tries = 1;; tries++) {
    const bytes = readOnce(path, kind, tries < maxTries);
    if (bytes !== "replaced") return bytes;
  }
}

/** How often a name that keeps being replaced is looked at before giving up. */
const maxTries = 5;

function readOnce(
  path: string,
  kind: PrivateFileKind,
  mayRetry: boolean,
): Uint8Array | undefined | "replaced" {
  let named: Deno.FileInfo;
  try {
    named = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw ioError(`read ${kind.label}`, path, error);
  }
  checkRegular(named, path, kind);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return mayRetry ? "replaced" : undefined;
    throw ioError(`read ${kind.label}`, path, error);
  }
  try {
    const info = file.statSync();
    if (info.dev !== named.dev || info.ino !== named.ino) {
      if (mayRetry) return "replaced";
      throw new ConfError(
        `Cannot use ${kind.label} "${path}": it was replaced ${maxTries} times while being ` +
          `opened (is something rewriting it in a loop?)`,
        { path },
      );
    }
    checkRegular(info, path, kind);
    checkOwnerAndMode(info, path, kind);
    return readAll(file, kind.maxBytes ?? defaultMaxBytes);
  } catch (error) {
    if (error instanceof ConfError) throw error;
    throw ioError(`read ${kind.label}`, path, error);
  } finally {
    file.close();
  }
}
