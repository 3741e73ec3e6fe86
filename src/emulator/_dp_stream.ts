// One stream through one access point: its legs (xio handles), what each step did, and
// the one line it logs when it ends, e.g.
//   [ap site-a] tunnel 5f2c3a1e..: stream 3 closed: lan gsa1 ok, wan ok,
//     leg1 120 B up / 5.1 kB down, wan 120 B up / 5.1 kB down, 12 ms
// "up" is always the initiating app -> listening app direction.
import { type Handle, isXioError } from "../xio/mod.ts";

/** Bytes as a person reads them: "120 B", "5.1 kB", "64.0 MB" (powers of 1000). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** The short form of a tunnel id in logs: its first 8 characters and "..". */
export function shortId(id: string): string {
  return `${id.slice(0, 8)}..`;
}

/** One leg's handle, and whether "up" is what the handle reads or what it writes. */
interface Leg {
  name: string;
  handle: Handle;
  upIsRead: boolean;
}

/** Bytes of one leg, as the access point moved them. */
export interface LegCounts {
  name: string;
  up: number;
  down: number;
}

/** A stream at one access point: its legs, steps and outcome. */
export class StreamRun {
  /** Its number in the tunnel (the listening side learns it late). */
  number: number;
  readonly #started = performance.now();
  readonly #legs: Leg[] = [];
  readonly #steps: string[] = [];
  #failure: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(number: number) {
    this.number = number;
  }

  /** Adds an open leg; it is closed with the stream. */
  addLeg(name: string, handle: Handle, upIsRead: boolean): void {
    this.#legs.push({ name, handle, upIsRead });
    if (this.#closing) handle.close().catch(() => {});
  }

  /** Notes what a step did ("lan gsa1 ok", "wan ok"). */
  step(text: string): void {
    this.#steps.push(text);
  }

  /** Marks the stream failed (the first reason wins). */
  fail(reason: string): void {
    this.#failure ??= reason;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Why it failed (the first reason), if it did. */
  get failure(): string | undefined {
    return this.#failure;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Bytes per leg so far. */
  counts(): LegCounts[] {
    return this.#legs.map(({ name, handle, upIsRead }) => ({
      name,
      up: upIsRead ? handle.bytesRead : handle.bytesWritten,
      down: upIsRead ? handle.bytesWritten : handle.bytesRead,
    }));
  }

  /** Closes every leg (safe to call twice); the relays over them then end. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled(this.#legs.map((leg) => leg.handle.close())).then(
      () => {},
    );
    return this.#closing;
  }

  /** The log line's text after the access point's and tunnel's names. */
  summary(): string {
    const ms = (performance.now() - this.#started).toFixed(0);
    const parts = [
      ...this.#steps,
      ...this.counts().map((c) =>
        `${c.name} ${formatBytes(c.up)} up / ${formatBytes(c.down)} down`
      ),
      `${ms} ms`,
    ];
    const outcome = this.#failure === undefined ? "closed" : `failed (${this.#failure})`;
    return `stream ${this.number} ${outcome}: ${parts.join(", ")}`;
  }
}

/** Buffer sizes of an adaptive relay (see relayAdaptive). */
export interface RelaySizes {
  /** Where every direction starts (bytes). */
  small: number;
  /** The most a direction grows to (bytes). */
  large: number;
}

/**
 * The bytes an access point may hold in relay buffers beyond their small size, shared
 * by all its relays: it bounds how many large buffers exist at once.
 */
export class BufferBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes taken now. */
  get used(): number {
    return this.#used;
  }

  /** Takes bytes if that stays within the limit; whether it did. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** Full reads in a row before a direction's buffer grows (x4 per step). */
const GROW_AFTER = 2;
/** Reads in a row that would have fit the small buffer before a grown one is dropped. */
const SHRINK_AFTER = 8;
const GROWTH = 4;

/**
 * Copies a to b and b to a like xio's relay() (a chunk is written before the next is
 * read; end-of-stream becomes closeWrite() on the other side; on a failure both handles'
 * pending operations are canceled and the first error is thrown; the handles are not
 * closed), but each direction's buffer is sized by use: it starts at sizes.small and
 * grows x4 after GROW_AFTER reads in a row that filled it, up to sizes.large, as long as
 * budget allows; after SHRINK_AFTER reads in a row that the small size would have held it
 * goes back to small and the bytes return to budget. So an idle or chatty stream costs
 * two small buffers and only bulk directions get large ones.
 */
export async function relayAdaptive(
  a: Handle,
  b: Handle,
  sizes: RelaySizes,
  budget: BufferBudget,
): Promise<{ aToB: number; bToA: number }> {
  let failure: unknown;
  let failed = false;
  const stop = (error: unknown) => {
    if (!failed) {
      failed = true;
      failure = error;
    }
    a.cancel();
    b.cancel();
  };
  const pump = async (from: Handle, to: Handle): Promise<number> => {
    let buffer = new Uint8Array(sizes.small);
    let full = 0;
    let slight = 0;
    let total = 0;
    try {
      while (!failed) {
        let n: number;
        try {
          n = await from.read(buffer);
        } catch (error) {
          if (isXioError(error, "EOF")) break;
          throw error;
        }
        await to.write(buffer.subarray(0, n));
        total += n;
        const size = buffer.length;
        if (n === size) {
          slight = 0;
          if (++full >= GROW_AFTER && size < sizes.large) {
            const next = Math.min(size * GROWTH, sizes.large);
            if (budget.take(next - size)) buffer = new Uint8Array(next);
            full = 0;
          }
        } else {
          full = 0;
          if (size > sizes.small && n <= sizes.small && ++slight >= SHRINK_AFTER) {
            budget.give(size - sizes.small);
            buffer = new Uint8Array(sizes.small);
            slight = 0;
          }
        }
      }
      if (!failed) await to.closeWrite();
    } catch (error) {
      stop(error);
    } finally {
      if (buffer.length > sizes.small) budget.give(buffer.length - sizes.small);
    }
    return total;
  };
  const [aToB, bToA] = await Promise.all([pump(a, b), pump(b, a)]);
  if (failed) throw failure;
  return { aToB, bToA };
}
