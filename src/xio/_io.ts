// Reading and writing one layer's link on the framework's terms: wait-for-bytes, sticky
// end-of-stream, byte counts, and what happens to a driver call that outlives its
// operation (cancel or timeout): a read in flight is kept and its bytes are delivered
// by the next read, in order; a write in flight is waited for by the next write.

import type { DriverLink, LinkInfo, Lower } from "./_driver.ts";
import { XioError } from "./_error.ts";
import { Guard, withBytes } from "./_guard.ts";
import { oneLine } from "../quote/mod.ts";

/** Runs a driver hook, turning a synchronous throw into a rejected promise. */
export function callDriver<T>(hook: () => Promise<T>): Promise<T> {
  try {
    return hook();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A driver failure as an XioError: XioErrors pass as they are, others become SYSTEM. */
export function wrapError(error: unknown, what: string): XioError {
  if (error instanceof XioError) return error;
  return new XioError("SYSTEM", `Cannot ${what}: ${oneLine(error)}`, { cause: error });
}

const ignore = () => {};

/** Reads from one link. Not reentrant: the owner serializes calls. */
export class LinkReader {
  readonly #link: DriverLink;
  readonly #what: string;
  #eof = false;
  #inflight: { promise: Promise<number>; target: Uint8Array } | undefined;
  #leftover: Uint8Array | undefined;
  /** Bytes delivered to callers. */
  total = 0;

  constructor(link: DriverLink, what: string) {
    this.#link = link;
    this.#what = what;
  }

  /** Whether the stream ended and nothing is left to deliver. */
  get ended(): boolean {
    return this.#eof && this.#leftover === undefined && this.#inflight === undefined;
  }

  /**
   * Reads into buffer until want bytes arrived or the stream ended; returns the count
   * (less than want only at the end). Throws the guard's CANCELED (with nbytes) or a
   * SYSTEM error for a driver failure.
   */
  async read(buffer: Uint8Array, want: number, guard?: Guard): Promise<number> {
    let got = 0;
    try {
      if (this.#leftover !== undefined) got = this.#takeLeftover(buffer);
      while (got < want && !this.#eof) {
        const n = this.#inflight !== undefined
          ? await this.#resume(buffer, got, guard)
          : await this.#fresh(buffer.subarray(got), guard);
        if (n === 0) {
          this.#eof = true;
          break;
        }
        got += n;
        guard?.restart();
      }
    } catch (error) {
      this.total += got;
      throw error instanceof XioError && error === guard?.error ? withBytes(error, got) : error;
    }
    this.total += got;
    return got;
  }

  #takeLeftover(buffer: Uint8Array): number {
    const leftover = this.#leftover!;
    const n = Math.min(leftover.length, buffer.length);
    buffer.set(leftover.subarray(0, n));
    this.#leftover = n < leftover.length ? leftover.subarray(n) : undefined;
    return n;
  }

  #check(n: number, room: number): number {
    if (!Number.isInteger(n) || n < 0 || n > room) {
      throw new XioError(
        "SYSTEM",
        `Cannot ${this.#what}: the driver returned ${n} for ${room} bytes`,
      );
    }
    return n;
  }

  async #fresh(target: Uint8Array, guard?: Guard): Promise<number> {
    const promise = callDriver(() => this.#link.read(target));
    if (guard === undefined) {
      try {
        return this.#check(await promise, target.length);
      } catch (error) {
        throw wrapError(error, this.#what);
      }
    }
    try {
      return this.#check(await guard.race(promise), target.length);
    } catch (error) {
      if (error === guard.error) {
        promise.catch(ignore);
        this.#inflight = { promise, target };
        throw error;
      }
      throw wrapError(error, this.#what);
    }
  }

  /** Finishes a read left by a canceled call and moves its bytes into buffer at offset. */
  async #resume(buffer: Uint8Array, offset: number, guard?: Guard): Promise<number> {
    const { promise, target } = this.#inflight!;
    let n: number;
    try {
      n = this.#check(await (guard ? guard.race(promise) : promise), target.length);
    } catch (error) {
      if (guard && error === guard.error) throw error; // still in flight
      this.#inflight = undefined;
      throw wrapError(error, this.#what);
    }
    this.#inflight = undefined;
    const room = buffer.length - offset;
    const fit = Math.min(n, room);
    buffer.set(target.subarray(0, fit), offset);
    if (n > fit) this.#leftover = target.slice(fit, n);
    return fit;
  }
}

/** Writes to one link. Not reentrant: the owner serializes calls. */
export class LinkWriter {
  readonly #link: DriverLink;
  readonly #what: string;
  #inflight: { promise: Promise<void>; length: number } | undefined;
  /** Bytes the driver accepted. */
  total = 0;

  constructor(link: DriverLink, what: string) {
    this.#link = link;
    this.#what = what;
  }

  /** Waits for a write left by a canceled call. */
  async drain(guard?: Guard): Promise<void> {
    if (this.#inflight === undefined) return;
    const { promise, length } = this.#inflight;
    try {
      await (guard ? guard.race(promise) : promise);
    } catch (error) {
      if (guard && error === guard.error) throw error;
      this.#inflight = undefined;
      throw wrapError(error, this.#what);
    }
    this.#inflight = undefined;
    this.total += length;
  }

  /** Writes all of bytes. Throws the guard's CANCELED or a SYSTEM error. */
  async write(bytes: Uint8Array, guard?: Guard): Promise<void> {
    if (this.#inflight !== undefined) await this.drain(guard);
    const promise = callDriver(() => this.#link.write(bytes));
    try {
      await (guard ? guard.race(promise) : promise);
    } catch (error) {
      if (guard && error === guard.error) {
        promise.catch(ignore);
        this.#inflight = { promise, length: bytes.length };
        throw error;
      }
      throw wrapError(error, this.#what);
    }
    this.total += bytes.length;
  }
}

/** One layer of an open stack: its driver's name, link, reader and writer. */
export interface Layer {
  name: string;
  link: DriverLink;
  reader: LinkReader;
  writer: LinkWriter;
}

/** Makes a layer's reader and writer, naming it in messages. */
export function makeLayer(name: string, link: DriverLink, where: string): Layer {
  return {
    name,
    link,
    reader: new LinkReader(link, `read from ${where} (driver "${name}")`),
    writer: new LinkWriter(link, `write to ${where} (driver "${name}")`),
  };
}

/** The info of a list of layers, by driver name (a repeated name gets "#2", "#3"). */
export function layersInfo(layers: readonly Layer[]): Record<string, LinkInfo> {
  const out: Record<string, LinkInfo> = {};
  for (const layer of layers) {
    let key = layer.name;
    for (let i = 2; key in out; i++) key = `${layer.name}#${i}`;
    out[key] = layer.link.info?.() ?? {};
  }
  return out;
}

/** What a transform sees of the layers below it. */
export class LowerStack implements Lower {
  readonly #layers: readonly Layer[];
  readonly #top: Layer;

  /** layers: bottom first; the transform sits above the last one. */
  constructor(layers: readonly Layer[]) {
    this.#layers = layers;
    this.#top = layers[layers.length - 1];
  }

  #guard(verb: string, signal: AbortSignal | undefined): Guard | undefined {
    return signal === undefined ? undefined : new Guard(`${verb} driver "${this.#top.name}"`, {
      signal,
    });
  }

  /** The abort's own reason when it is an XioError (a driver's step timeout). */
  #reason(error: unknown, guard: Guard | undefined, signal: AbortSignal | undefined): unknown {
    if (guard && error instanceof XioError && error.kind === "CANCELED" && signal?.aborted) {
      const reason = signal.reason;
      if (reason instanceof XioError) return withBytes(reason, error.nbytes);
    }
    return error;
  }

  async read(
    buffer: Uint8Array,
    options: { waitForBytes?: number; signal?: AbortSignal } = {},
  ): Promise<number> {
    if (buffer.length === 0) return 0;
    const want = Math.min(Math.max(options.waitForBytes ?? 1, 1), buffer.length);
    const guard = this.#guard("read from", options.signal);
    try {
      return await this.#top.reader.read(buffer, want, guard);
    } catch (error) {
      throw this.#reason(error, guard, options.signal);
    } finally {
      guard?.done();
    }
  }

  async write(bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (bytes.length === 0) return;
    const guard = this.#guard("write to", options.signal);
    try {
      await this.#top.writer.write(bytes, guard);
    } catch (error) {
      throw this.#reason(error, guard, options.signal);
    } finally {
      guard?.done();
    }
  }

  info(): Record<string, LinkInfo> {
    return layersInfo(this.#layers);
  }
}
