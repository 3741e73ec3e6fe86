// Relaying two handles both ways, with back-pressure (a chunk is written before the
// next is read) and half-close (end-of-stream on one side becomes closeWrite() on the
// other).

import { isXioError, XioError } from "./_error.ts";
import type { Handle } from "./_handle.ts";
import { timerDelay } from "../timer/mod.ts";

export interface RelayOptions {
  /** Stops the relay (it then throws CANCELED). */
  signal?: AbortSignal;
  /** Bytes per read (default 64 KiB); each direction has its own buffer. */
  bufferSize?: number;
  /** Give up (CANCELED, cause TIMEOUT) when neither direction moved a byte for this long. */
  idleTimeoutMs?: number;
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
  const bufferSize = options.bufferSize ?? 64 * 1024;
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new XioError(
      "PARAMETER",
      `Cannot relay: bufferSize ${bufferSize} is not a positive integer`,
    );
  }
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
    const buffer = new Uint8Array(bufferSize);
    let total = 0;
    try {
      while (failure === undefined) {
        let n: number;
        try {
          n = await from.read(buffer);
        } catch (error) {
          if (isXioError(error, "EOF")) break;
          throw error;
        }
        lastActivity = performance.now();
        await to.write(buffer.subarray(0, n));
        total += n;
      }
      if (failure === undefined) await to.closeWrite();
    } catch (error) {
      stop(asXioError(error));
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
