// A Handle is one open stack (after globus_xio_handle_t): reads, writes, half-close,
// close and cancel, with the framework's guarantees on top of the drivers' links.

import type { LinkInfo } from "./_driver.ts";
import type { StackConfig } from "./_config.ts";
import { isXioError, XioError } from "./_error.ts";
import { Canceler, Guard, type OpControl } from "./_guard.ts";
import { callDriver, type Layer, layersInfo, wrapError } from "./_io.ts";

/** Options for Handle.read. */
export interface ReadOptions extends OpControl {
  /**
   * Resolve only when at least this many bytes arrived (default 1, at most the buffer's
   * length). The framework loops over driver reads until then.
   */
  waitForBytes?: number;
}

export type HandleState = "open" | "closing" | "closed";

/** How the framework hands a Handle its opened layers. */
export interface HandleParts {
  config: StackConfig;
  contact: string;
  /** Bottom (transport) first. */
  layers: Layer[];
  side: "open" | "accept";
}

const ignore = () => {};

/** Closes layers top to bottom; returns the first failure. Never throws. */
export async function closeLayers(
  layers: readonly Layer[],
  guard: Guard,
  what: string,
): Promise<XioError | undefined> {
  let first: XioError | undefined;
  for (let i = layers.length - 1; i >= 0; i--) {
    const link = layers[i].link;
    if (guard.error) {
      // Given up: release the rest without waiting (their signal is already aborted).
      callDriver(() => link.close(guard.signal)).catch(ignore);
      continue;
    }
    try {
      await guard.race(callDriver(() => link.close(guard.signal)));
    } catch (error) {
      first ??= wrapError(error, `${what} (driver "${layers[i].name}")`);
    }
  }
  return first ?? guard.error;
}

/**
 * One open stack. Made by Stack.open and Server.accept.
 *
 * Reads: `read(buffer)` resolves with the bytes placed in buffer (at least
 * `waitForBytes`, default 1). At the end of the stream it throws XioError EOF, whose
 * `nbytes` says how many bytes it still placed in buffer (only possible when
 * waitForBytes > 1); every later read throws EOF with nbytes 0. Data always comes
 * before EOF, across every layer.
 *
 * Cancel and timeouts: an operation given up (cancel(), its signal, or its timer) throws
 * CANCELED (cause TIMEOUT for a timer), with `nbytes` for a partial read; the handle
 * stays open. A driver read still in flight then is kept and its bytes are delivered by
 * the next read, in order (it may still write into the old buffer, so do not reuse that
 * buffer for anything else); a write in flight completes before the next write starts.
 *
 * One read and one write may be pending at a time (a second is a STATE error); reads
 * and writes may overlap. Operations on a closed handle are STATE errors; close() twice
 * returns the first close's promise.
 *
 * @example
 * ```ts
 * const handle = await Stack.parse("tcp").open("127.0.0.1:8080");
 * await handle.write(new TextEncoder().encode("ping"));
 * const buffer = new Uint8Array(4);
 * await handle.read(buffer, { waitForBytes: 4, timeoutMs: 1000 });
 * await handle.close();
 * ```
 */
export class Handle {
  /** The stack's text. */
  readonly stack: string;
  /** What it was opened to, or for an accepted handle the peer (or the server's address). */
  readonly contact: string;
  /** "open" for Stack.open, "accept" for Server.accept. */
  readonly side: "open" | "accept";
  readonly #config: StackConfig;
  readonly #layers: Layer[];
  readonly #top: Layer;
  readonly #canceler = new Canceler();
  readonly #what: { read: string; write: string; closeWrite: string; close: string };
  readonly #openedAt = performance.now();
  #state: HandleState = "open";
  #reading = false;
  #writing = false;
  #writeClosed = false;
  #closing: Promise<void> | undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(parts: HandleParts) {
    this.#config = parts.config;
    this.stack = parts.config.text;
    this.contact = parts.contact;
    this.side = parts.side;
    this.#layers = parts.layers;
    this.#top = parts.layers[parts.layers.length - 1];
    const where = `"${this.contact}" with stack "${this.stack}"`;
    this.#what = {
      read: `read from ${where}`,
      write: `write to ${where}`,
      closeWrite: `close writing to ${where}`,
      close: `close ${where}`,
    };
  }

  get state(): HandleState {
    return this.#state;
  }

  /** Bytes delivered by read(). */
  get bytesRead(): number {
    return this.#top.reader.total;
  }

  /** Bytes accepted by write(). */
  get bytesWritten(): number {
    return this.#top.writer.total;
  }

  /** Whether closeWrite() was called. */
  get writeClosed(): boolean {
    return this.#writeClosed;
  }

  /** What each layer reports (addresses, handshake results), by driver name. */
  get info(): Record<string, LinkInfo> {
    return layersInfo(this.#layers);
  }

  #checkState(what: string): void {
    if (this.#state !== "open") {
      throw new XioError("STATE", `Cannot ${what}: the handle is ${this.#state}`);
    }
  }

  /**
   * Reads into buffer; resolves with the count (>= waitForBytes). Throws EOF at the
   * end of the stream (see the class notes), CANCELED, STATE, PARAMETER or SYSTEM.
   */
  async read(buffer: Uint8Array, options: ReadOptions = {}): Promise<number> {
    const what = this.#what.read;
    this.#checkState(what);
    if (this.#reading) throw new XioError("STATE", `Cannot ${what}: a read is already pending`);
    if (buffer.length === 0) return 0;
    const want = options.waitForBytes ?? 1;
    if (!Number.isInteger(want) || want < 1 || want > buffer.length) {
      throw new XioError(
        "PARAMETER",
        `Cannot ${what}: waitForBytes is ${want} (want 1..${buffer.length}, the buffer's length)`,
      );
    }
    const reader = this.#top.reader;
    if (reader.ended) throw new XioError("EOF", `Cannot ${what}: end of stream`);
    const guard = new Guard(
      what,
      { timeoutMs: options.timeoutMs ?? this.#config.timeouts.read, signal: options.signal },
      this.#canceler,
    );
    this.#reading = true;
    try {
      const got = await reader.read(buffer, want, guard);
      if (got < want) {
        throw new XioError(
          "EOF",
          `Cannot ${what}: end of stream${got > 0 ? ` after ${got} of ${want} bytes` : ""}`,
          { nbytes: got },
        );
      }
      return got;
    } catch (error) {
      this.#trace("read", error);
      throw error;
    } finally {
      guard.done();
      this.#reading = false;
    }
  }

  /** Writes all of bytes; resolves with their count. Throws CANCELED, STATE or SYSTEM. */
  async write(bytes: Uint8Array, options: OpControl = {}): Promise<number> {
    const what = this.#what.write;
    this.#checkState(what);
    if (this.#writeClosed) {
      throw new XioError("STATE", `Cannot ${what}: writing was closed (closeWrite)`);
    }
    if (this.#writing) throw new XioError("STATE", `Cannot ${what}: a write is already pending`);
    if (bytes.length === 0) return 0;
    const guard = new Guard(
      what,
      { timeoutMs: options.timeoutMs ?? this.#config.timeouts.write, signal: options.signal },
      this.#canceler,
    );
    this.#writing = true;
    try {
      await this.#top.writer.write(bytes, guard);
      return bytes.length;
    } catch (error) {
      this.#trace("write", error);
      throw error;
    } finally {
      guard.done();
      this.#writing = false;
    }
  }

  /**
   * Half-close: after the bytes already written, the peer reads end-of-stream; this
   * side can still read. A second call does nothing.
   */
  async closeWrite(options: OpControl = {}): Promise<void> {
    const what = this.#what.closeWrite;
    this.#checkState(what);
    if (this.#writeClosed) return;
    if (this.#writing) throw new XioError("STATE", `Cannot ${what}: a write is pending`);
    const guard = new Guard(
      what,
      { timeoutMs: options.timeoutMs ?? this.#config.timeouts.write, signal: options.signal },
      this.#canceler,
    );
    this.#writing = true;
    this.#writeClosed = true;
    try {
      for (let i = this.#layers.length - 1; i >= 0; i--) {
        const layer = this.#layers[i];
        await layer.writer.drain(guard);
        if (layer.link.closeWrite === undefined) continue;
        try {
          await guard.race(callDriver(() => layer.link.closeWrite!()));
        } catch (error) {
          throw error === guard.error
            ? error
            : wrapError(error, `${what} (driver "${layer.name}")`);
        }
      }
      this.#debugLog("TRACE", `${what}: done`);
    } catch (error) {
      this.#trace("closeWrite", error);
      throw error;
    } finally {
      guard.done();
      this.#writing = false;
    }
  }

  /** Ends the pending read and write (and closeWrite) with CANCELED; the handle stays open. */
  cancel(): void {
    this.#canceler.cancelAll("canceled");
  }

  /**
   * Cancels pending operations, then closes every layer, top to bottom. The handle is
   * closed afterwards even if a layer failed (the first failure is thrown, as SYSTEM,
   * or CANCELED when the close timed out).
   */
  close(options: OpControl = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#state = "closing";
    this.#canceler.cancelAll("the handle is closing");
    this.#closing = this.#close(options);
    return this.#closing;
  }

  async #close(options: OpControl): Promise<void> {
    const what = this.#what.close;
    // A bad timeout is reported, but the handle is closed all the same.
    let invalid: XioError | undefined;
    let guard: Guard;
    try {
      guard = new Guard(what, {
        timeoutMs: options.timeoutMs ?? this.#config.timeouts.close,
        signal: options.signal,
      });
    } catch (error) {
      invalid = error as XioError;
      guard = new Guard(what);
    }
    this.#finishClose((await closeLayers(this.#layers, guard, what)) ?? invalid, guard);
  }

  #finishClose(failure: XioError | undefined, guard: Guard): void {
    guard.done();
    this.#state = "closed";
    const ms = (performance.now() - this.#openedAt).toFixed(0);
    this.#debugLog(
      failure ? "ERROR" : "INFO",
      `${this.#what.close}: ${
        failure ? failure.message : "ok"
      } (read ${this.bytesRead}, wrote ${this.bytesWritten} bytes in ${ms} ms)`,
    );
    if (failure) throw failure;
  }

  #trace(op: string, error: unknown): void {
    const debug = this.#config.debug;
    if (!debug.spec.levels) return;
    if (isXioError(error, "EOF")) debug.log("TRACE", "xio", `${op}: end of stream`);
    else debug.log("ERROR", "xio", error instanceof Error ? error.message : String(error));
  }

  #debugLog(level: "TRACE" | "INFO" | "ERROR", message: string): void {
    if (this.#config.debug.spec.levels) this.#config.debug.log(level, "xio", message);
  }

  /**
   * The handle's reading side as a byte stream (made once). Canceling it closes the
   * handle.
   */
  get readable(): ReadableStream<Uint8Array> {
    this.#readable ??= new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 64 * 1024,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view!;
        try {
          const n = await this.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
          request.respond(n);
        } catch (error) {
          if (!isXioError(error, "EOF")) throw error;
          controller.close();
          request.respond(0);
        }
      },
      cancel: () => this.close().catch(ignore),
    });
    return this.#readable;
  }

  /**
   * The handle's writing side as a stream (made once). Closing it half-closes the
   * handle; aborting it closes the handle.
   */
  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= new WritableStream({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.closeWrite(),
      abort: () => this.close().catch(ignore),
    });
    return this.#writable;
  }
}
