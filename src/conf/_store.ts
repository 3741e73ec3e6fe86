// Where conf files live and how they are read, replaced and locked safely.
// - Directory GLOBUS_STREAMS_DIR or $HOME/.globus/streams, mode 0700; files 0600.
// - A file or directory another user owns or can read/write is refused, as ssh refuses
//   such keys: the file holds the LAN secret.
// - Writes are atomic: a temp file in the same directory (0600 from creation), fsync,
//   rename over the old one, fsync of the directory. A reader sees the old or the new
//   file, never a torn one, without taking any lock.
// - Read-modify-write runs under an advisory lock (flock via Deno.FsFile.lock) on a
//   separate `<id>.lock` file, since rename swaps the conf file's inode.
import { writeFileAtomic } from "../atomic/mod.ts";
import { type Conf, formatConf, parseConf } from "./_format.ts";
import { isUuid } from "../uuid/mod.ts";
import { sleep } from "../timer/mod.ts";
import { ConfError } from "./_error.ts";

/** Lookup of environment variables, as CliDeps.env. */
export type Env = (name: string) => string | undefined;

const fileModeMask = 0o077;
const dirModeMask = 0o066;
const defaultLockTimeoutMs = 60_000;

function octal(mode: number): string {
  return "0" + (mode & 0o777).toString(8).padStart(3, "0");
}

/** The conf directory: GLOBUS_STREAMS_DIR, else $HOME/.globus/streams. */
export function confDir(env: Env): string {
  const explicit = env("GLOBUS_STREAMS_DIR");
  if (explicit) return explicit.length > 1 ? explicit.replace(/\/+$/, "") : explicit;
  const home = env("HOME");
  if (!home) {
    throw new ConfError(
      "Cannot find the conf directory: neither GLOBUS_STREAMS_DIR nor HOME is set (set one of them)",
      { path: "" },
    );
  }
  return `${home.replace(/\/+$/, "")}/.globus/streams`;
}

function currentUid(): number | null {
  return Deno.uid();
}

function ioError(what: string, path: string, error: unknown): ConfError {
  const reason = error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Error
    ? error.message.replace(/\s*\n\s*/g, " ")
    : String(error);
  return new ConfError(`Cannot ${what} "${path}": ${reason}`, { path, cause: error });
}

function checkOwnerAndMode(
  info: Deno.FileInfo,
  path: string,
  kind: "file" | "directory",
): void {
  const label = kind === "file" ? "conf file" : "conf directory";
  const uid = currentUid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new ConfError(
      `Cannot use ${label} "${path}": it is owned by uid ${info.uid}, not by you (uid ${uid}) ` +
        `(run: chown ${uid} "${path}", or remove it)`,
      { path },
    );
  }
  const mode = info.mode ?? 0;
  const mask = kind === "file" ? fileModeMask : dirModeMask;
  if ((mode & mask) === 0) return;
  const risk = kind === "file"
    ? (mode & 0o044 ? "read the LAN secret" : "change it")
    : (mode & 0o022 ? "replace its files" : "list it");
  const fix = kind === "file" ? "600" : "700";
  throw new ConfError(
    `Cannot use ${label} "${path}": mode ${octal(mode)} lets other users ${risk} ` +
      `(run: chmod ${fix} "${path}")`,
    { path },
  );
}

/** Conf files are small; a larger one is not ours. */
const maxFileBytes = 64 * 1024;

function readAll(file: Deno.FsFile): Uint8Array {
  const buffer = new Uint8Array(maxFileBytes + 1);
  let length = 0;
  while (length < buffer.length) {
    const count = file.readSync(buffer.subarray(length));
    if (count === null) break;
    length += count;
  }
  if (length > maxFileBytes) throw new Error(`larger than ${maxFileBytes} bytes`);
  return buffer.subarray(0, length);
}

/**
 * UTF-8 to text; throws TypeError for bytes that are not UTF-8. Conf files are ASCII,
 * which is decoded here by hand: TextDecoder's first use costs about 0.3 ms, a tenth of
 * what contact-lookup may spend beyond Deno's own start-up (bench/contact_lookup.ts).
 */
function decodeText(bytes: Uint8Array): string {
  if (!bytes.every((byte) => byte < 0x80)) {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  }
  let text = "";
  for (let start = 0; start < bytes.length; start += 8192) {
    text += String.fromCharCode(...bytes.subarray(start, start + 8192));
  }
  return text;
}

/** Options of a ConfStore. */
export interface ConfStoreOptions {
  /** How long withLock waits for another process to release the lock (default 60 s). */
  lockTimeoutMs?: number;
}

/**
 * The conf files of one directory.
 *
 * @example
 * ```ts
 * import { ConfStore } from "../conf/mod.ts";
 * const store = ConfStore.fromEnv((name) => Deno.env.get(name));
 * const conf = await store.read(tunnelId); // undefined when there is none
 * ```
 */
export class ConfStore {
  readonly dir: string;
  #lockTimeoutMs: number;
  #dirChecked = false;

  constructor(dir: string, options: ConfStoreOptions = {}) {
    this.dir = dir;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? defaultLockTimeoutMs;
  }

  /** The store of GLOBUS_STREAMS_DIR, else $HOME/.globus/streams. */
  static fromEnv(env: Env, options?: ConfStoreOptions): ConfStore {
    return new ConfStore(confDir(env), options);
  }

  /** The conf file of a tunnel: `<dir>/<tunnel id>.conf`. */
  path(tunnelId: string): string {
    return `${this.dir}/${this.#checkId(tunnelId)}.conf`;
  }

  #checkId(tunnelId: string): string {
    if (!isUuid(tunnelId)) {
      throw new ConfError(`Invalid tunnel id "${tunnelId}": want a UUID`, { path: this.dir });
    }
    return tunnelId.toLowerCase();
  }

  /** Checks the directory when it exists; returns whether it does. */
  #checkDir(): boolean {
    if (this.#dirChecked) return true;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.dir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw ioError("use conf directory", this.dir, error);
    }
    if (!info.isDirectory) {
      throw new ConfError(`Cannot use conf directory "${this.dir}": it is not a directory`, {
        path: this.dir,
      });
    }
    checkOwnerAndMode(info, this.dir, "directory");
    this.#dirChecked = true;
    return true;
  }

  /** Creates the directory (and missing parents) with mode 0700 when absent, then checks it. */
  async ensureDir(): Promise<void> {
    if (this.#checkDir()) return;
    try {
      await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw ioError("create conf directory", this.dir, error);
    }
    this.#checkDir();
  }

  /**
   * Reads and checks a tunnel's conf file; undefined when there is none. Throws
   * ConfError when the file or directory is unsafe (owner, mode) or the file is corrupt.
   */
  read(tunnelId: string): Promise<Conf | undefined> {
    try {
      return Promise.resolve(this.readSync(tunnelId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * read, synchronously. The fresh path of contact-lookup uses it: at process start-up
   * each asynchronous file operation costs a trip through Deno's blocking thread pool,
   * several milliseconds in all (bench/contact_lookup.ts).
   */
  readSync(tunnelId: string): Conf | undefined {
    const id = this.#checkId(tunnelId);
    const path = this.path(id);
    if (!this.#checkDir()) return undefined;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw ioError("read conf file", path, error);
    }
    let text: string;
    try {
      const info = file.statSync();
      if (!info.isFile) {
        throw new ConfError(`Cannot use conf file "${path}": it is not a regular file`, { path });
      }
      checkOwnerAndMode(info, path, "file");
      text = decodeText(readAll(file));
    } catch (error) {
      if (error instanceof ConfError) throw error;
      if (error instanceof TypeError) {
        throw new ConfError(`Cannot read conf file "${path}": it is not UTF-8 text`, { path });
      }
      throw ioError("read conf file", path, error);
    } finally {
      file.close();
    }
    return parseConf(text, { path, tunnelId: id });
  }

  /**
   * Replaces a tunnel's conf file atomically (temp file, fsync, rename, fsync of the
   * directory), creating the directory when needed.
   */
  async write(tunnelId: string, conf: Conf): Promise<void> {
    const id = this.#checkId(tunnelId);
    const path = this.path(id);
    const bytes = new TextEncoder().encode(formatConf(conf, { path }));
    await this.ensureDir();
    try {
      await writeFileAtomic(path, bytes);
    } catch (error) {
      throw ioError("write conf file", path, error);
    }
  }

  /** Removes a tunnel's conf file and lock file; returns whether the conf file existed. */
  async remove(tunnelId: string): Promise<boolean> {
    const id = this.#checkId(tunnelId);
    const path = this.path(id);
    let existed = true;
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw ioError("remove conf file", path, error);
      existed = false;
    }
    await Deno.remove(`${this.dir}/${id}.lock`).catch(() => {});
    return existed;
  }

  /** The tunnel ids that have a conf file here, sorted. */
  async tunnelIds(): Promise<string[]> {
    if (!this.#checkDir()) return [];
    const ids: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        const id = entry.name.slice(0, -".conf".length);
        if (entry.name.endsWith(".conf") && isUuid(id)) ids.push(id.toLowerCase());
      }
    } catch (error) {
      throw ioError("list conf directory", this.dir, error);
    }
    return ids.sort();
  }

  /** Removes temp files left by writers that died before their rename; returns how many. */
  async removeStaleTemps(nowMs: number, olderThanMs = 60_000): Promise<number> {
    if (!this.#checkDir()) return 0;
    let removed = 0;
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.isFile || !/^\..+\.conf\.[0-9a-f]{8}\.tmp$/.test(entry.name)) continue;
      const path = `${this.dir}/${entry.name}`;
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info?.mtime || nowMs - info.mtime.getTime() < olderThanMs) continue;
      await Deno.remove(path).then(() => removed++, () => {});
    }
    return removed;
  }

  /**
   * Runs fn while holding the tunnel's exclusive lock (other processes' withLock wait,
   * readers do not). Waits at most the lock timeout, then throws ConfError.
   */
  async withLock<T>(tunnelId: string, fn: () => Promise<T>): Promise<T> {
    const id = this.#checkId(tunnelId);
    await this.ensureDir();
    const lockPath = `${this.dir}/${id}.lock`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
    } catch (error) {
      throw ioError("open lock file", lockPath, error);
    }
    try {
      const deadline = Date.now() + this.#lockTimeoutMs;
      let pauseMs = 2;
      while (!await file.tryLock(true)) {
        if (Date.now() >= deadline) {
          throw new ConfError(
            `Cannot lock "${lockPath}": another globus-streams process has held it for ` +
              `${Math.round(this.#lockTimeoutMs / 1000)} s (is one stuck? see 'ps')`,
            { path: lockPath },
          );
        }
        await sleep(pauseMs + Math.random() * pauseMs);
        pauseMs = Math.min(pauseMs * 2, 50);
      }
      try {
        return await fn();
      } finally {
        await file.unlock().catch(() => {});
      }
    } finally {
      file.close();
    }
  }
}
