// netlog: one line per operation in the NetLogger "best practices" style, appended to
// a file:  ts=2025-01-02T03:04:05.678Z event=xio.read.end level=Info xio.id=3 bytes=65536 dur=0.000120 status=0
// Events: xio.open.end, xio.read.end, xio.write.end, xio.closewrite.end, xio.close.end.
// dur is seconds; status is 0 or -1 (then msg= says why). Lines hold counts, contacts
// and ids only, never data.
//   netlog:file=/tmp/xio.log;id=leg1

import type { DriverContext, DriverLink, LinkInfo, Lower, TransformDriver } from "../_driver.ts";
import { oneLine } from "../../quote/mod.ts";

const encoder = new TextEncoder();

/** Open log files shared by every handle that logs to the same path. */
const files = new Map<string, { file: Deno.FsFile; users: number }>();
let nextId = 1;

function acquire(path: string): Deno.FsFile {
  let entry = files.get(path);
  if (entry === undefined) {
    const file = Deno.openSync(path, { write: true, create: true, append: true });
    entry = { file, users: 0 };
    files.set(path, entry);
  }
  entry.users++;
  return entry.file;
}

function release(path: string): void {
  const entry = files.get(path);
  if (entry === undefined) return;
  if (--entry.users > 0) return;
  files.delete(path);
  entry.file.close();
}

function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

class NetlogLink implements DriverLink {
  readonly #lower: Lower;
  readonly #path: string;
  readonly #file: Deno.FsFile;
  readonly #id: string;
  readonly #openedAt = performance.now();
  #read = 0;
  #written = 0;
  #closed = false;

  constructor(lower: Lower, path: string, id: string) {
    this.#lower = lower;
    this.#path = path;
    this.#file = acquire(path);
    this.#id = id;
  }

  /** Writes one event line. */
  log(event: string, fields: Record<string, string | number>, startedAt?: number, error?: unknown) {
    let line = `ts=${new Date().toISOString()} event=xio.${event} level=${
      error ? "Error" : "Info"
    } xio.id=${quote(this.#id)}`;
    for (const [key, value] of Object.entries(fields)) {
      line += ` ${key}=${typeof value === "number" ? value : quote(value)}`;
    }
    if (startedAt !== undefined) {
      line += ` dur=${((performance.now() - startedAt) / 1000).toFixed(6)}`;
    }
    line += ` status=${error ? -1 : 0}`;
    if (error) line += ` msg=${quote(oneLine(error))}`;
    const bytes = encoder.encode(line + "\n");
    try {
      for (let offset = 0, tries = 0; offset < bytes.length && tries < 100; tries++) {
        offset += this.#file.writeSync(bytes.subarray(offset));
      }
    } catch {
      // A full disk must not break the connection being logged.
    }
  }

  async read(buffer: Uint8Array): Promise<number> {
    const started = performance.now();
    try {
      const n = await this.#lower.read(buffer);
      this.#read += n;
      this.log("read.end", { bytes: n }, started);
      return n;
    } catch (error) {
      this.log("read.end", { bytes: 0 }, started, error);
      throw error;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    const started = performance.now();
    try {
      await this.#lower.write(bytes);
      this.#written += bytes.length;
      this.log("write.end", { bytes: bytes.length }, started);
    } catch (error) {
      this.log("write.end", { bytes: 0 }, started, error);
      throw error;
    }
  }

  closeWrite(): Promise<void> {
    this.log("closewrite.end", { "write.bytes": this.#written });
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.log(
      "close.end",
      { "read.bytes": this.#read, "write.bytes": this.#written },
      this.#openedAt,
    );
    release(this.#path);
    return Promise.resolve();
  }

  info(): LinkInfo {
    return { file: this.#path, id: this.#id };
  }
}

/** The NetLogger-style event log transform. */
export const netlogDriver: TransformDriver = {
  name: "netlog",
  kind: "transform",
  summary: "log one NetLogger-style line per open/read/write/close to a file",
  options: {
    file: { type: "string", doc: "the log file (appended to)" },
    id: { type: "string", doc: "a name for the connection in the log (default a counter)" },
  },
  validate(options): void {
    if (!options.string("file")) {
      throw new Error('option "file" is required, e.g. file=/tmp/xio.log');
    }
  },
  open(lower: Lower, context: DriverContext): Promise<DriverLink> {
    const path = context.options.string("file")!;
    const id = context.options.string("id") ?? String(nextId++);
    const link = new NetlogLink(lower, path, id);
    const below = Object.values(lower.info()).map((info) => info.remote).find((r) =>
      typeof r === "string"
    );
    link.log("open.end", {
      side: context.side,
      contact: context.contact,
      ...(typeof below === "string" ? { peer: below } : {}),
    });
    return Promise.resolve(link);
  },
};
