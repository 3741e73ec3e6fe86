// memory: an in-process transport for tests. Contacts are names; listen("x") then
// open("x") gives two connected links joined by bounded byte pipes. It can inject a
// failure at the start or at the completion of any operation, or stall one, so tests
// can check what the framework does with each. An injected failure is a plain Error
// whose message starts "injected failure at the <start|end> of <op>".
//   memory:capacity=64k;fail=read:end|accept:start;stall=close

import type {
  DriverContext,
  DriverLink,
  DriverListener,
  LinkInfo,
  TransportDriver,
} from "../_driver.ts";
import type { Options } from "../_options.ts";

/** Operations a fault can hit. */
export const MEMORY_FAULT_OPS = [
  "open",
  "accept",
  "read",
  "write",
  "close_write",
  "close",
] as const;
export type MemoryFaultOp = typeof MEMORY_FAULT_OPS[number];

/** One direction: a bounded queue of bytes with end-of-stream. */
class Pipe {
  readonly #capacity: number;
  readonly #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #broken = false;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  #wait(side: "reader" | "writer"): Promise<void> {
    return new Promise((resolve) => {
      if (side === "reader") this.#wakeReader = resolve;
      else this.#wakeWriter = resolve;
    });
  }

  #wake(side: "reader" | "writer"): void {
    const wake = side === "reader" ? this.#wakeReader : this.#wakeWriter;
    if (side === "reader") this.#wakeReader = undefined;
    else this.#wakeWriter = undefined;
    wake?.();
  }

  async read(buffer: Uint8Array): Promise<number> {
    while (this.#size === 0 && !this.#ended && !this.#broken) await this.#wait("reader");
    let got = 0;
    while (got < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const n = Math.min(chunk.length, buffer.length - got);
      buffer.set(chunk.subarray(0, n), got);
      got += n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    this.#size -= got;
    this.#wake("writer");
    return got;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#broken) throw new Error("Broken pipe: the peer closed its memory link");
      if (this.#ended) throw new Error("Cannot write: writing was closed");
      if (this.#size >= this.#capacity) {
        await this.#wait("writer");
        continue;
      }
      const n = Math.min(bytes.length - offset, this.#capacity - this.#size);
      this.#chunks.push(bytes.slice(offset, offset + n));
      this.#size += n;
      offset += n;
      this.#wake("reader");
    }
  }

  /** The writer is done: the reader gets end-of-stream after the queued bytes. */
  end(): void {
    this.#ended = true;
    this.#wake("reader");
  }

  /** The reader is gone: writes fail, reads end. */
  break(): void {
    this.#broken = true;
    this.#chunks.length = 0;
    this.#size = 0;
    this.#wake("writer");
    this.#wake("reader");
  }
}

interface Faults {
  fail: Map<MemoryFaultOp, "start" | "end">;
  stall: Set<MemoryFaultOp>;
}

function parseFaults(options: Options): Faults {
  const fail = new Map<MemoryFaultOp, "start" | "end">();
  for (const item of options.list("fail") ?? []) {
    const [op, when] = item.split(":");
    if (
      !(MEMORY_FAULT_OPS as readonly string[]).includes(op) || (when !== "start" && when !== "end")
    ) {
      throw new Error(
        `fault "${item}" is not OP:start or OP:end with OP one of ${MEMORY_FAULT_OPS.join(", ")}`,
      );
    }
    fail.set(op as MemoryFaultOp, when);
  }
  const stall = new Set<MemoryFaultOp>();
  for (const op of options.list("stall") ?? []) {
    if (!(MEMORY_FAULT_OPS as readonly string[]).includes(op)) {
      throw new Error(`cannot stall "${op}": want one of ${MEMORY_FAULT_OPS.join(", ")}`);
    }
    stall.add(op as MemoryFaultOp);
  }
  return { fail, stall };
}

/** Counts what happened, per listener name, so tests can see cleanup. */
export interface MemoryStats {
  opened: number;
  accepted: number;
  closed: number;
}

const stats = new Map<string, MemoryStats>();

/** What the memory driver did under a name (opened/accepted/closed links). */
export function memoryStats(name: string): MemoryStats {
  let entry = stats.get(name);
  if (entry === undefined) {
    entry = { opened: 0, accepted: 0, closed: 0 };
    stats.set(name, entry);
  }
  return entry;
}

class FaultPlan {
  readonly #faults: Faults;
  readonly #fired = new Set<string>();
  readonly #stalls = new Set<() => void>();

  constructor(faults: Faults) {
    this.#faults = faults;
  }

  /** Throws if op should fail at when (once per op). */
  check(op: MemoryFaultOp, when: "start" | "end"): void {
    if (this.#faults.fail.get(op) !== when || this.#fired.has(op)) return;
    this.#fired.add(op);
    throw new Error(`injected failure at the ${when} of ${op}`);
  }

  /** Never resolves unless released (link closed) or signal aborts. */
  async stall(op: MemoryFaultOp, signal?: AbortSignal): Promise<void> {
    if (!this.#faults.stall.has(op)) return;
    await new Promise<void>((resolve, reject) => {
      const release = () => reject(new Error(`stalled ${op} released: the link closed`));
      this.#stalls.add(release);
      signal?.addEventListener("abort", () => {
        this.#stalls.delete(release);
        reject(signal.reason);
      }, { once: true });
      void resolve;
    });
  }

  releaseStalls(): void {
    for (const release of this.#stalls) release();
    this.#stalls.clear();
  }
}

class MemoryLink implements DriverLink {
  readonly #in: Pipe;
  readonly #out: Pipe;
  readonly #plan: FaultPlan;
  readonly #name: string;
  readonly #side: string;
  #closed = false;

  constructor(inbound: Pipe, outbound: Pipe, plan: FaultPlan, name: string, side: string) {
    this.#in = inbound;
    this.#out = outbound;
    this.#plan = plan;
    this.#name = name;
    this.#side = side;
  }

  async read(buffer: Uint8Array): Promise<number> {
    this.#plan.check("read", "start");
    await this.#plan.stall("read");
    const n = await this.#in.read(buffer);
    this.#plan.check("read", "end");
    return n;
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.#plan.check("write", "start");
    await this.#plan.stall("write");
    await this.#out.write(bytes);
    this.#plan.check("write", "end");
  }

  async closeWrite(): Promise<void> {
    this.#plan.check("close_write", "start");
    await this.#plan.stall("close_write");
    this.#out.end();
    this.#plan.check("close_write", "end");
  }

  async close(signal: AbortSignal): Promise<void> {
    this.#plan.check("close", "start");
    await this.#plan.stall("close", signal).finally(() => this.#release());
    this.#plan.check("close", "end");
  }

  #release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#plan.releaseStalls();
    this.#out.end();
    this.#in.break();
    memoryStats(this.#name).closed++;
  }

  info(): LinkInfo {
    return { name: this.#name, side: this.#side, closed: this.#closed };
  }
}

class MemoryListener implements DriverListener {
  readonly address: string;
  readonly #plan: FaultPlan;
  readonly #queue: MemoryLink[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;

  constructor(name: string, plan: FaultPlan) {
    this.address = name;
    this.#plan = plan;
  }

  /** Called by open(): queues the accepting side's link. */
  offer(link: MemoryLink): void {
    this.#queue.push(link);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  get plan(): FaultPlan {
    return this.#plan;
  }

  async accept(): Promise<DriverLink> {
    this.#plan.check("accept", "start");
    await this.#plan.stall("accept");
    while (this.#queue.length === 0) {
      if (this.#closed) throw new Error(`memory listener "${this.address}" is closed`);
      await new Promise<void>((resolve) => this.#waiter = resolve);
    }
    const link = this.#queue.shift()!;
    memoryStats(this.address).accepted++;
    try {
      this.#plan.check("accept", "end");
    } catch (error) {
      await link.close(AbortSignal.abort());
      throw error;
    }
    return link;
  }

  close(): Promise<void> {
    this.#closed = true;
    listeners.delete(this.address);
    for (const link of this.#queue.splice(0)) link.close(AbortSignal.abort()).catch(() => {});
    this.#plan.releaseStalls();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
    return Promise.resolve();
  }
}

const listeners = new Map<string, MemoryListener>();

function capacityOf(options: Options): number {
  return options.number("capacity") ?? 64 * 1024;
}

/** The memory transport. */
export const memoryDriver: TransportDriver = {
  name: "memory",
  kind: "transport",
  summary: "in-process pipes by name, with injected faults (for tests)",
  options: {
    capacity: { type: "size", doc: "bytes a direction holds before writes wait", min: 1 },
    fail: { type: "list", doc: "OP:start or OP:end: fail that operation once" },
    stall: { type: "list", doc: "operations that never complete (until close or cancel)" },
  },
  validate(options: Options): void {
    parseFaults(options);
  },
  async open(contact: string, context: DriverContext): Promise<DriverLink> {
    const plan = new FaultPlan(parseFaults(context.options));
    plan.check("open", "start");
    await plan.stall("open", context.signal);
    const listener = listeners.get(contact);
    if (listener === undefined) throw new Error(`no memory listener "${contact}"`);
    const capacity = capacityOf(context.options);
    const up = new Pipe(capacity);
    const down = new Pipe(capacity);
    const mine = new MemoryLink(down, up, plan, contact, "open");
    listener.offer(new MemoryLink(up, down, listener.plan, contact, "accept"));
    memoryStats(contact).opened++;
    try {
      plan.check("open", "end");
    } catch (error) {
      await mine.close(AbortSignal.abort());
      throw error;
    }
    return mine;
  },
  listen(contact: string, context: DriverContext): Promise<DriverListener> {
    if (contact === "") return Promise.reject(new Error("a memory listener needs a name"));
    if (listeners.has(contact)) {
      return Promise.reject(new Error(`memory listener "${contact}" already exists`));
    }
    const listener = new MemoryListener(contact, new FaultPlan(parseFaults(context.options)));
    listeners.set(contact, listener);
    return Promise.resolve(listener);
  },
};
