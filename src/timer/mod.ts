/**
 * Timer delays as setTimeout can take them. Beyond 2^31-1 ms setTimeout fires at once
 * (with a TimeoutOverflowWarning), so a huge timeout must be capped, not passed on.
 * Used by the I/O core's timeouts and the HTTP client's timeouts and retry sleeps.
 *
 * @example
 * ```ts
 * import { timerDelay } from "../timer/mod.ts";
 * setTimeout(() => {}, timerDelay(3e12)); // waits ~24.8 days, not 0 ms
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
