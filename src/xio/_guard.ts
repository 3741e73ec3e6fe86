// Cancel, per-operation timers and caller signals, for every operation the framework
// runs. A guarded operation ends with CANCELED as soon as one fires (TIMEOUT as the
// cause when the timer did); the driver's promise is left to settle on its own and the
// caller decides what to do with it (keep it for the next call, or close the link).

import { XioError } from "./_error.ts";
import { timerDelay } from "../timer/mod.ts";

/** Timeout and signal for one call; both optional. */
export interface OpControl {
  /** Give up (CANCELED, cause TIMEOUT) when no progress is made for this long. */
  timeoutMs?: number;
  /** Give up (CANCELED) when this aborts. */
  signal?: AbortSignal;
}

/** The pending operations of one handle or server, so cancel() can end them all. */
export class Canceler {
  readonly #guards = new Set<Guard>();

  add(guard: Guard): void {
    this.#guards.add(guard);
  }

  delete(guard: Guard): void {
    this.#guards.delete(guard);
  }

  /** Ends every pending operation with CANCELED, saying why ("canceled", "the handle is closing"). */
  cancelAll(reason: string): void {
    for (const guard of [...this.#guards]) guard.cancel(reason);
  }
}

function checkTimeout(what: string, timeoutMs: number | undefined): void {
  if (timeoutMs === undefined || timeoutMs === Infinity) return;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new XioError("PARAMETER", `Cannot ${what}: timeout ${timeoutMs} ms is not >= 0`);
  }
}

/**
 * One guarded operation. Call done() when it ends, however it ends. Kept small: one is
 * made per read and per write.
 */
export class Guard {
  readonly #what: string;
  readonly #timeoutMs: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #canceler: Canceler | undefined;
  #onAbort: (() => void) | undefined;
  #reject: ((error: XioError) => void) | undefined;
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: XioError | undefined;

  /** what completes "Cannot ..." in messages, e.g. `read from stack "tcp"`. */
  constructor(what: string, control: OpControl = {}, canceler?: Canceler) {
    checkTimeout(what, control.timeoutMs);
    this.#what = what;
    this.#timeoutMs = control.timeoutMs === Infinity ? undefined : control.timeoutMs;
    this.#signal = control.signal;
    this.#canceler = canceler;
    canceler?.add(this);
    const signal = control.signal;
    if (signal?.aborted) this.#abortedBySignal();
    else if (signal) {
      this.#onAbort = () => this.#abortedBySignal();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (this.#timeoutMs !== undefined) this.restart();
  }

  #abortedBySignal(): void {
    this.#stop(
      new XioError("CANCELED", `Cannot ${this.#what}: canceled`, { cause: this.#signal?.reason }),
    );
  }

  #stop(error: XioError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    this.#controller?.abort(error);
    this.#reject?.(error);
  }

  /** Gives the operation up with CANCELED, saying why. */
  cancel(reason: string): void {
    this.#stop(new XioError("CANCELED", `Cannot ${this.#what}: ${reason}`));
  }

  /** Aborts when the operation is given up; for drivers that can stop work early. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#error) this.#controller.abort(this.#error);
    }
    return this.#controller.signal;
  }

  /** The error that ended the operation, if one did. */
  get error(): XioError | undefined {
    return this.#error;
  }

  /**
   * Resolves like work unless the operation is given up first (then rejects with
   * CANCELED). One race at a time per guard.
   */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<T>((resolve, reject) => {
      this.#reject = reject;
      work.then(resolve, reject);
    });
  }

  /** Starts the inactivity timer again (after progress). */
  restart(): void {
    if (this.#timeoutMs === undefined || this.#error) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const ms = this.#timeoutMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const cause = new XioError("TIMEOUT", `Timed out after ${ms} ms`);
      this.#stop(
        new XioError("CANCELED", `Cannot ${this.#what}: timed out after ${ms} ms`, { cause }),
      );
    }, timerDelay(ms));
  }

  /** Releases the timer and listeners. */
  done(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#canceler?.delete(this);
    this.#reject = undefined;
  }
}

/** A copy of a CANCELED/EOF error carrying the bytes moved before it. */
export function withBytes(error: XioError, nbytes: number): XioError {
  if (nbytes === 0) return error;
  return new XioError(error.kind, error.message, { cause: error.cause, nbytes });
}
