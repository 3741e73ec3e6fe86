/**
 * Timers: delays as setTimeout can take them, the one sleep, and bounded waits. Beyond 2^31-1 ms
 * setTimeout fires at once (with a TimeoutOverflowWarning), so a huge timeout must be
 * capped, not passed on. Used by the I/O core's timeouts, the HTTP client's timeouts and
 * retry sleeps, the conf lock's back-off, rate limiting and the accept loops' retries.
 *
 * @example
 * ```ts
 * import { sleep, timerDelay } from "../timer/mod.ts";
 * setTimeout(() => {}, timerDelay(3e12)); // waits ~24.8 days, not 0 ms
 * await sleep(100, signal); // rejects with signal.reason if it aborts first
 * ```
 * @module
 */

/** setTimeout's longest delay, about 24.8 days: as good as no timeout. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay for setTimeout: a whole number of ms, at least 1, at most MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms)) return MAX_TIMER_MS;
  return Math.min(Math.max(Math.ceil(ms), 1), MAX_TIMER_MS);
}

/**
 * Resolves after ms (clamped by timerDelay); with a signal, rejects with its reason as
 * soon as it aborts (at once when it already has), and the timer is cleared.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, timerDelay(ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Waits for the promises to settle, but no longer than ms; never rejects. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise((resolve) => timer = setTimeout(resolve, timerDelay(ms))),
  ]);
  clearTimeout(timer);
}
