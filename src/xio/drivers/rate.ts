// rate: a token bucket per direction. Every `period` ms a bucket gains rate*period/1000
// bytes, up to `burst` (at least one period's worth). A write waits until the bucket
// holds its bytes (writes larger than burst go in burst-sized pieces); a read waits for
// at least one token and reads no more than the bucket holds.
//   rate:rate=10M;burst=1M;period=100

import type { DriverContext, DriverLink, LinkInfo, Lower, TransformDriver } from "../_driver.ts";
import type { Options } from "../_options.ts";
import { sleep } from "../../timer/mod.ts";

/** A token bucket refilled in whole periods. */
export class TokenBucket {
  readonly #quantum: number;
  readonly #burst: number;
  readonly #periodMs: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  /** rate in bytes per second, burst in bytes, period in ms. */
  constructor(rate: number, burst: number, periodMs: number, now = () => performance.now()) {
    this.#periodMs = periodMs;
    this.#quantum = Math.max(1, Math.floor((rate * periodMs) / 1000));
    this.#burst = Math.max(burst, this.#quantum);
    this.#now = now;
    this.#tokens = this.#burst;
    this.#last = now();
  }

  /** The most bytes one take may ask for. */
  get burst(): number {
    return this.#burst;
  }

  #refill(): void {
    const periods = Math.floor((this.#now() - this.#last) / this.#periodMs);
    if (periods <= 0) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + periods * this.#quantum);
    this.#last += periods * this.#periodMs;
  }

  /** How many whole periods until the bucket holds want bytes (0 = now). */
  #periodsFor(want: number): number {
    return Math.ceil((want - this.#tokens) / this.#quantum);
  }

  async #waitFor(want: number, signal?: AbortSignal): Promise<void> {
    for (this.#refill(); this.#tokens < want; this.#refill()) {
      const ms = this.#last + this.#periodsFor(want) * this.#periodMs - this.#now();
      await sleep(Math.max(1, Math.ceil(ms)), signal);
    }
  }

  /** Waits until n bytes (n <= burst) are available and takes them. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    await this.#waitFor(n, signal);
    this.#tokens -= n;
  }

  /** Waits for at least one token; returns how many are available. */
  async available(signal?: AbortSignal): Promise<number> {
    await this.#waitFor(1, signal);
    return this.#tokens;
  }

  /** Takes n bytes already spent (n <= what available() returned). */
  spend(n: number): void {
    this.#tokens -= n;
  }
}

class RateLink implements DriverLink {
  readonly #lower: Lower;
  readonly #in: TokenBucket;
  readonly #out: TokenBucket;
  readonly #closed = new AbortController();
  readonly #rate: number;

  constructor(lower: Lower, rate: number, burst: number, periodMs: number) {
    this.#lower = lower;
    this.#rate = rate;
    this.#in = new TokenBucket(rate, burst, periodMs);
    this.#out = new TokenBucket(rate, burst, periodMs);
  }

  async read(buffer: Uint8Array): Promise<number> {
    const tokens = await this.#in.available(this.#closed.signal);
    const n = await this.#lower.read(buffer.subarray(0, Math.min(buffer.length, tokens)));
    this.#in.spend(n);
    return n;
  }

  async write(bytes: Uint8Array): Promise<void> {
    const piece = this.#out.burst;
    for (let offset = 0; offset < bytes.length; offset += piece) {
      const part = bytes.subarray(offset, Math.min(bytes.length, offset + piece));
      await this.#out.take(part.length, this.#closed.signal);
      await this.#lower.write(part);
    }
  }

  close(): Promise<void> {
    this.#closed.abort(new Error("the rate layer closed"));
    return Promise.resolve();
  }

  info(): LinkInfo {
    return { rate: this.#rate, burst: this.#out.burst };
  }
}

function settings(options: Options): { rate: number; burst: number; periodMs: number } {
  const rate = options.number("rate");
  if (rate === undefined) throw new Error('option "rate" is required, e.g. rate=10M');
  const periodMs = options.number("period") ?? 100;
  const burst = options.number("burst") ?? Math.floor((rate * periodMs) / 1000);
  return { rate, burst, periodMs };
}

/** The rate-limiting transform. */
export const rateDriver: TransformDriver = {
  name: "rate",
  kind: "transform",
  summary: "token-bucket rate limit per direction",
  options: {
    rate: { type: "size", doc: "bytes per second in each direction, e.g. 10M", min: 1 },
    burst: { type: "size", doc: "bucket size in bytes (default: one period's worth)", min: 1 },
    period: { type: "int", doc: "refill period in ms (default 100)", min: 1, max: 60000 },
  },
  validate(options: Options): void {
    settings(options);
  },
  open(lower: Lower, context: DriverContext): Promise<DriverLink> {
    const { rate, burst, periodMs } = settings(context.options);
    return Promise.resolve(new RateLink(lower, rate, burst, periodMs));
  },
};
