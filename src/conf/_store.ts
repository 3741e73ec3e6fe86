// Where conf files live and how they are read, replaced and locked safely.
// - Directory GLOBUS_STREAMS_DIR or $HOME/.globus/streams, mode 0700; files 0600.
// - A file or directory another user owns or can read/write is refused, as ssh refuses
//   such keys: the file holds the LAN secret. So is a link or anything not a regular
//   file (src/conf/_private.ts).
// - Writes are atomic: a temp file in the same directory (0600 from creation), fsync,
//   rename over the old one, fsync of the directory. A reader sees the old or the new
//   file, never a torn one, without taking any lock.
// - Read-modify-write runs under an advisory lock (flock via Deno.FsFile.lock) on a
//   separate `<id>.lock` file, since rename swaps the conf file's inode. Whoever gets
//   the flock checks that the name still leads to the file it locked (a cleanup may
//   have removed it meanwhile) and starts over when not.
import { writeFileAtomic } from "../atomic/mod.ts";
import { type Conf, formatConf, parseConf } from "./_format.ts";
import { isUuid } from "../uuid/mod.ts";
import { sleep } from "../timer/mod.ts";
import { ConfError } from "./_error.ts";
import {
  checkPrivateDir,
  ensurePrivateDir,
  ioError,
  type PrivateFileKind,
  readPrivateFileSync,
} from "./_private.ts";

/** Lookup of environment variables, as CliDeps.env. */
export type Env = (name: string) => string | undefined;

const defaultLockTimeoutMs = 60_000;

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

function confFileKind(tunnelId: string): PrivateFileKind {
  return {
    label: "conf file",
    secret: "the LAN secret",
    remake: `globus-streams environment initialize ${tunnelId}`,
  };
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
  /** Tunnel ids whose lock this store holds now (remove may take their lock files). */
  #held = new Set<string>();

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
    this.#dirChecked = checkPrivateDir(this.dir);
    return this.#dirChecked;
  }

  /** Creates the directory (and missing parents) with mode 0700 when absent, then checks it. */
  async ensureDir(): Promise<void> {
    if (this.#checkDir()) return;
    await ensurePrivateDir(this.dir);
    this.#dirChecked = true;
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
    const bytes = readPrivateFileSync(path, confFileKind(id));
    if (bytes === undefined) return undefined;
    let text: string;
    try {
      text = decodeText(bytes);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new ConfError(`Cannot read conf file "${path}": it is not UTF-8 text`, { path });
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

  /**
   * Removes a tunnel's conf file; returns whether it existed. Called under withLock, it
   * removes the lock file too: sound, since every waiter checks once it holds the lock
   * that the name still leads to the file it locked, and starts over when not.
   */
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
    // Without the lock, someone else may hold it: their lock file stays.
    if (this.#held.has(id)) await Deno.remove(this.#lockPath(id)).catch(() => {});
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

  #lockPath(id: string): string {
    return `${this.dir}/${id}.lock`;
  }

  /**
   * Runs fn while holding the tunnel's exclusive lock (other processes' withLock wait,
   * readers do not). Waits at most the lock timeout, then throws ConfError.
   */
  async withLock<T>(tunnelId: string, fn: () => Promise<T>): Promise<T> {
    const id = this.#checkId(tunnelId);
    await this.ensureDir();
    const lockPath = this.#lockPath(id);
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (;;) {
      const file = await this.#lockedFile(lockPath, deadline);
      try {
        // A holder may have removed the lock file (remove, under the lock) while this
        // one waited on it: a lock on a file no name leads to excludes no one.
        if (!sameFile(file.statSync(), statOrUndefined(lockPath))) {
          if (Date.now() < deadline) continue;
          throw new ConfError(
            `Cannot lock "${lockPath}": it was removed or replaced each time it was locked, for ` +
              `${Math.round(this.#lockTimeoutMs / 1000)} s (does something delete it in a loop?)`,
            { path: lockPath },
          );
        }
        this.#held.add(id);
        try {
          return await fn();
        } finally {
          this.#held.delete(id);
        }
      } finally {
        await file.unlock().catch(() => {});
        file.close();
      }
    }
  }

  /** Opens (creating) the lock file and waits until it holds its flock. */
  async #lockedFile(lockPath: string, deadline: number): Promise<Deno.FsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
    } catch (error) {
      throw ioError("open lock file", lockPath, error);
    }
    try {
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
    } catch (error) {
      file.close();
      throw error;
    }
    return file;
  }
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo | undefined): boolean {
  return b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
