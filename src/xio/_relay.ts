// Relaying two handles both ways, with back-pressure (a chunk is written before the
// next is read) and half-close (end-of-stream on one side becomes closeWrite() on the
// other). Each direction reads into one buffer, by one of two policies: a fixed size, or
// sized by use (adaptive), so that an idle or chatty stream costs two small buffers and
// only bulk directions get large ones, paid from a budget shared by many relays.

import { isXioError, XioError } from "./_error.ts";
import type { Handle } from "./_handle.ts";
import { timerDelay } from "../timer/mod.ts";

export interface RelayOptions {
  /** Stops the relay (it then throws CANCELED). */
  signal?: AbortSignal;
  /**
   * Bytes per read, fixed (default 64 KiB); each direction has its own buffer. Not with
   * adaptive.
   */
  bufferSize?: number;
  /** Buffers sized by use instead of bufferSize (see AdaptiveBuffers). */
  adaptive?: AdaptiveBuffers;
  /** Give up (CANCELED, cause TIMEOUT) when neither direction moved a byte for this long. */
  idleTimeoutMs?: number;
}

/**
 * The adaptive buffer policy: each direction starts at small and grows x4 after
 * GROW_AFTER reads in a row that filled it, up to large, as long as budget allows; after
 * SHRINK_AFTER reads in a row that small would have held it goes back to small and the
 * bytes return to budget. A direction that goes idle keeps its buffer until its next
 * read returns.
 */
export interface AdaptiveBuffers {
  /** Where every direction starts (bytes). */
  small: number;
  /** The most a direction grows to (bytes). */
  large: number;
  /** Pays for growth beyond small; shared by the relays of one owner. */
  budget: BufferBudget;
}

/**
 * The bytes relay buffers may hold beyond their small size, shared by every relay given
 * it: it bounds how many large buffers exist at once.
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

/** The default adaptive sizes: 16 KiB growing to 1 MiB. */
const ADAPTIVE_SMALL_SIZE = 16 * 1024;
const ADAPTIVE_LARGE_SIZE = 1024 * 1024;
/** How many large buffers' worth a default budget pays for (16 MiB less the small parts). */
const ADAPTIVE_LARGE_BUFFERS = 16;

/**
 * A default adaptive policy with its own budget (ADAPTIVE_LARGE_BUFFERS large buffers'
 * worth): one per owner of many relays (an access point, a forward or expose listener).
 *
 * @example
 * ```ts
 * const buffers = adaptiveBuffers();
 * await relay(client, upstream, { adaptive: buffers });
 * ```
 */
export function adaptiveBuffers(): AdaptiveBuffers {
  return {
    small: ADAPTIVE_SMALL_SIZE,
    large: ADAPTIVE_LARGE_SIZE,
    budget: new BufferBudget(ADAPTIVE_LARGE_BUFFERS * (ADAPTIVE_LARGE_SIZE - ADAPTIVE_SMALL_SIZE)),
  };
}

/** Full reads in a row before a direction's buffer grows (x GROWTH per step). */
const GROW_AFTER = 2;
/** Reads in a row that would have fit the small buffer before a grown one is dropped. */
const SHRINK_AFTER = 8;
const GROWTH = 4;

/** One direction's read buffer under a policy. */
interface DirectionBuffer {
  readonly bytes: Uint8Array;
  /** After a read of n bytes was written on: may change bytes. */
  after(n: number): void;
  /** The direction ended: gives back what it holds beyond small. */
  release(): void;
}

function fixedBuffer(size: number): DirectionBuffer {
  return { bytes: new Uint8Array(size), after() {}, release() {} };
}

function adaptiveBuffer(policy: AdaptiveBuffers): DirectionBuffer {
  const { small, large, budget } = policy;
  let full = 0;
  let slight = 0;
  const direction = {
    bytes: new Uint8Array(small),
    after(n: number): void {
      const size = direction.bytes.length;
      if (n === size) {
        slight = 0;
        if (++full >= GROW_AFTER && size < large) {
          const next = Math.min(size * GROWTH, large);
          if (budget.take(next - size)) direction.bytes = new Uint8Array(next);
          full = 0;
        }
      } else {
        full = 0;
        if (size > small && n <= small && ++slight >= SHRINK_AFTER) {
          budget.give(size - small);
          direction.bytes = new Uint8Array(small);
          slight = 0;
        }
      }
    },
    release(): void {
      if (direction.bytes.length > small) budget.give(direction.bytes.length - small);
      direction.bytes = new Uint8Array(0);
    },
  };
  return direction;
}

function positiveInteger(value: number): boolean {
  return Number.isInteger(value) && value >= 1;
}

/** The buffer factory the options ask for; PARAMETER errors name the bad value. */
function bufferPolicy(options: RelayOptions): () => DirectionBuffer {
  const { adaptive, bufferSize } = options;
  if (adaptive !== undefined) {
    if (bufferSize !== undefined) {
      throw new XioError("PARAMETER", "Cannot relay: give bufferSize or adaptive, not both");
    }
    if (!positiveInteger(adaptive.small) || !positiveInteger(adaptive.large)) {
      throw new XioError(
        "PARAMETER",
        `Cannot relay: adaptive sizes ${adaptive.small} and ${adaptive.large} are not positive integers`,
      );
    }
    if (adaptive.large < adaptive.small) {
      throw new XioError(
        "PARAMETER",
        `Cannot relay: adaptive large ${adaptive.large} is below small ${adaptive.small}`,
      );
    }
    return () => adaptiveBuffer(adaptive);
  }
  const size = bufferSize ?? 64 * 1024;
  if (!positiveInteger(size)) {
    throw new XioError("PARAMETER", `Cannot relay: bufferSize ${size} is not a positive integer`);
  }
  return () => fixedBuffer(size);
}

/** Bytes moved each way (written to the other side). */
export interface RelayResult {
  aToB: number;
  bToA: number;
}

function asXioError(error: unknown): XioError {
  return error instanceof XioError
    ? error
    : new XioError("SYSTEM", `Cannot relay: ${String(error)}`, { cause: error });
}

/**
 * Copies a to b and b to a until both directions reached end-of-stream; resolves with
 * the counts. When either direction fails (or the signal aborts, or the idle timer
 * fires) both handles' pending operations are canceled and the first error is thrown.
 * The handles are not closed: the caller closes them.
 *
 * @example
 * ```ts
 * const { aToB, bToA } = await relay(client, upstream, { signal });
 * await Promise.allSettled([client.close(), upstream.close()]);
 * ```
 */
export async function relay(
  a: Handle,
  b: Handle,
  options: RelayOptions = {},
): Promise<RelayResult> {
  const newBuffer = bufferPolicy(options);
  let failure: XioError | undefined;
  let lastActivity = performance.now();
  const stop = (error: XioError) => {
    failure ??= error;
    a.cancel();
    b.cancel();
  };
  const onAbort = () =>
    stop(new XioError("CANCELED", "Cannot relay: canceled", { cause: options.signal?.reason }));
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const idleMs = options.idleTimeoutMs;
  if (idleMs !== undefined) {
    const check = () => {
      const idleFor = performance.now() - lastActivity;
      if (idleFor >= idleMs) {
        const cause = new XioError("TIMEOUT", `Timed out after ${idleMs} ms`);
        stop(new XioError("CANCELED", `Cannot relay: idle for ${idleMs} ms`, { cause }));
        idleTimer = undefined;
      } else {
        idleTimer = setTimeout(check, timerDelay(idleMs - idleFor));
      }
    };
    idleTimer = setTimeout(check, timerDelay(idleMs));
  }

  // One buffer per direction: a chunk is written before the next is read, which is
  // the back-pressure. (Overlapping the next read with the write measured no faster.)
  const pump = async (from: Handle, to: Handle): Promise<number> => {
    const buffer = newBuffer();
    let total = 0;
    try {
      while (failure === undefined) {
        let n: number;
        try {
          n = await from.read(buffer.bytes);
        } catch (error) {
          if (isXioError(error, "EOF")) break;
          throw error;
        }
        lastActivity = performance.now();
        await to.write(buffer.bytes.subarray(0, n));
        total += n;
        buffer.after(n);
      }
      if (failure === undefined) await to.closeWrite();
    } catch (error) {
      stop(asXioError(error));
    } finally {
      buffer.release();
    }
    return total;
  };

  try {
    const [aToB, bToA] = await Promise.all([pump(a, b), pump(b, a)]);
    if (failure) throw failure;
    return { aToB, bToA };
  } finally {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}
