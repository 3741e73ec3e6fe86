// Debug output in the GLOBUS_XIO_DEBUG style (globus_debug.c):
//   GLOBUS_STREAMS_DEBUG = levels[,[#]file[,flags[,timestamp_levels]]]
// levels: a decimal bit mask or names joined by "|" (ALL, "^" negates); file: append
// to it ("#" truncates first; empty = stderr); flags: 1 = prefix the pid, 2 = append
// ".<pid>" to the file name; timestamp_levels: levels whose lines carry a timestamp.
// A file that is a link, not a regular file, or another user's is not used: the lines
// go to stderr, after one line saying why.

/** Level bits, as GLOBUS_XIO_DEBUG numbers them. */
export const DEBUG_LEVELS = {
  ERROR: 1,
  WARNING: 2,
  TRACE: 4,
  INTERNAL_TRACE: 8,
  INFO: 16,
  STATE: 32,
  INFO_VERBOSE: 64,
} as const;

export type DebugLevel = keyof typeof DEBUG_LEVELS;

/** A parsed GLOBUS_STREAMS_DEBUG value. */
export interface DebugSpec {
  /** Bit mask of enabled levels; 0 = off. */
  levels: number;
  /** Where lines go; undefined = stderr. */
  file?: string;
  /** Truncate the file first ("#file"). */
  truncate: boolean;
  /** flags & 1: prefix each line with the pid. */
  showPid: boolean;
  /** flags & 2: append ".<pid>" to the file name. */
  appendPid: boolean;
  /** Levels whose lines carry a timestamp. */
  timestampLevels: number;
  /** Level names that were not understood (ignored, as globus_debug does). */
  unknownNames: string[];
}

function parseLevels(text: string, unknown: string[]): number {
  const trimmed = text.trim();
  if (trimmed === "") return 0;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) >>> 0;
  let negate = false;
  let names = trimmed;
  if (names.startsWith("^")) {
    negate = true;
    names = names.slice(1);
  }
  let mask = 0;
  for (const raw of names.split("|")) {
    const name = raw.trim().toUpperCase();
    if (name === "ALL") mask = 0x7fffffff;
    else if (name in DEBUG_LEVELS) mask |= DEBUG_LEVELS[name as DebugLevel];
    else if (name !== "") unknown.push(raw.trim());
  }
  return negate ? ~mask & 0x7fffffff : mask;
}

/**
 * Parses a GLOBUS_STREAMS_DEBUG value. Undefined or empty means off.
 *
 * @example
 * ```ts
 * parseDebugSpec("ERROR|INFO,#/tmp/xio.log,1").levels; // 17
 * ```
 */
export function parseDebugSpec(text: string | undefined): DebugSpec {
  const unknownNames: string[] = [];
  const spec: DebugSpec = {
    levels: 0,
    truncate: false,
    showPid: false,
    appendPid: false,
    timestampLevels: 0,
    unknownNames,
  };
  if (text === undefined || text.trim() === "") return spec;
  const [levels, file, flags, stamps] = text.split(",", 4);
  spec.levels = parseLevels(levels, unknownNames);
  if (file !== undefined && file !== "") {
    spec.truncate = file.startsWith("#");
    const name = spec.truncate ? file.slice(1) : file;
    if (name !== "") spec.file = name;
  }
  const flagBits = Number.parseInt(flags ?? "0", 10) || 0;
  spec.showPid = (flagBits & 1) !== 0;
  spec.appendPid = (flagBits & 2) !== 0;
  if (stamps !== undefined) spec.timestampLevels = parseLevels(stamps, unknownNames);
  return spec;
}

const encoder = new TextEncoder();

/** Where debug lines are written. Tests pass a function that keeps them. */
export type DebugSink = (line: string) => void;

function writeAll(write: (bytes: Uint8Array) => number, bytes: Uint8Array): void {
  let offset = 0;
  for (let tries = 0; offset < bytes.length && tries < 1000; tries++) {
    offset += write(bytes.subarray(offset));
  }
}

function stderrSink(): DebugSink {
  return (line) => {
    try {
      writeAll((b) => Deno.stderr.writeSync(b), encoder.encode(line));
    } catch {
      // Debug output must never break the I/O it describes.
    }
  };
}

/**
 * Opens the debug file as a log a stranger may have prepared (the documented example is
 * in /tmp): a new file is created 0600 with O_EXCL, which never follows a link; an
 * existing one must be a regular file this user owns, and still the same inode once
 * open (Deno.open has no O_NOFOLLOW). Truncation waits for that check, so a name
 * swapped in between truncates nothing. (Only in a directory others may write without
 * the sticky bit could the name become a FIFO between lstat and open, and stall it.)
 */
function openDebugFile(path: string, truncate: boolean): Deno.FsFile {
  for (let tries = 1;; tries++) {
    let named: Deno.FileInfo | undefined;
    try {
      named = Deno.lstatSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (named === undefined) {
      try {
        return Deno.openSync(path, { write: true, append: true, createNew: true, mode: 0o600 });
      } catch (error) {
        // Someone made the name meanwhile: look at what it is now.
        if (error instanceof Deno.errors.AlreadyExists && tries < 3) continue;
        throw error;
      }
    }
    checkDebugFile(named);
    const file = Deno.openSync(path, { write: true, append: !truncate });
    try {
      const opened = file.statSync();
      if (opened.dev !== named.dev || opened.ino !== named.ino) {
        throw new Error("it was replaced while being opened");
      }
      if (truncate) file.truncateSync(0);
      return file;
    } catch (error) {
      file.close();
      throw error;
    }
  }
}

function checkDebugFile(info: Deno.FileInfo): void {
  if (info.isSymlink) throw new Error("it is a symbolic link");
  if (!info.isFile) throw new Error("it is not a regular file");
  const uid = Deno.uid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new Error(`it is owned by uid ${info.uid}, not by you (uid ${uid})`);
  }
}

function fileSink(spec: DebugSpec, opened: (file: Deno.FsFile) => void): DebugSink {
  let path = spec.file!;
  if (spec.appendPid) path = `${path}.${Deno.pid}`;
  try {
    const file = openDebugFile(path, spec.truncate);
    opened(file);
    const sink: DebugSink = (line) => {
      try {
        writeAll((b) => file.writeSync(b), encoder.encode(line));
      } catch {
        // As above: never fail the caller.
      }
    };
    sink(`### ${Deno.pid}: GLOBUS_STREAMS_DEBUG ###\n`);
    return sink;
  } catch (error) {
    const fallback = stderrSink();
    fallback(
      `GLOBUS_STREAMS_DEBUG: Could not open "${path}", using stderr for debug messages: ${
        error instanceof Error ? error.message : String(error)
      }\n`,
    );
    return fallback;
  }
}

/**
 * A debug logger. Lines look like `[xio] open "127.0.0.1:4001" with stack "tcp": ok`,
 * optionally prefixed by a timestamp and the pid. Never given a secret: drivers log ids,
 * contacts and counts only.
 */
export class DebugLog {
  readonly spec: DebugSpec;
  #sink: DebugSink | undefined;
  #makeSink: () => DebugSink;
  #file: Deno.FsFile | undefined;

  constructor(spec: DebugSpec, sink?: DebugSink) {
    this.spec = spec;
    this.#sink = sink;
    this.#makeSink = () =>
      spec.file === undefined ? stderrSink() : fileSink(spec, (file) => this.#file = file);
  }

  /** A logger from GLOBUS_STREAMS_DEBUG (read through env, default Deno.env). */
  static fromEnv(env: (name: string) => string | undefined = readEnv): DebugLog {
    return new DebugLog(parseDebugSpec(env("GLOBUS_STREAMS_DEBUG")));
  }

  /** Whether lines of that level are written. */
  enabled(level: DebugLevel): boolean {
    return (this.spec.levels & DEBUG_LEVELS[level]) !== 0;
  }

  /** Closes the debug file, if one was opened; later lines open it again. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
    this.#sink = undefined;
  }

  /** Writes one line at level, tagged (e.g. "xio", "gsa1"). */
  log(level: DebugLevel, tag: string, message: string): void {
    if (!this.enabled(level)) return;
    this.#sink ??= this.#makeSink();
    let prefix = "";
    if ((this.spec.timestampLevels & DEBUG_LEVELS[level]) !== 0) {
      prefix += `${new Date().toISOString()} `;
    }
    if (this.spec.showPid) prefix += `${Deno.pid}: `;
    this.#sink(`${prefix}[${tag}] ${message.replace(/\s*\n\s*/g, " ")}\n`);
  }
}

/** Reads an environment variable; undefined when it is unset or not allowed. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

let processDebug: DebugLog | undefined;

/** The process-wide logger from GLOBUS_STREAMS_DEBUG, made on first use. */
export function defaultDebugLog(): DebugLog {
  processDebug ??= DebugLog.fromEnv();
  return processDebug;
}
