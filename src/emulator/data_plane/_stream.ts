// One stream through one access point: its legs (xio handles), what each step did, and
// the one line it logs when it ends, e.g.
//   [ap site-a] tunnel 5f2c3a1e..: stream 3 closed: lan gsa1 ok, wan ok,
//     leg1 120 B up / 5.1 kB down, wan 120 B up / 5.1 kB down, 12 ms
// "up" is always the initiating app -> listening app direction.
import type { Handle } from "../../xio/mod.ts";

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
