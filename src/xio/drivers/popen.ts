// popen: a transport to a program's stdin and stdout. The contact is the program (a
// name on PATH or a path); its arguments come from the "args" option ("a|b") or, safer
// for arbitrary text, from attrs { args: string[], env, cwd }. close() ends stdin,
// waits for the program (killing it after kill_after_ms), and fails with its exit
// status and the end of its stderr when it did not exit with 0.

import type { DriverContext, DriverLink, LinkInfo, TransportDriver } from "../_driver.ts";
import { XioError } from "../_error.ts";
import type { Options } from "../_options.ts";
import { settleWithin } from "../../timer/mod.ts";

/** What code may pass for popen in StackOptions.attrs. */
export interface PopenAttrs {
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
}

const STDERR_KEEP = 4096;
const decoder = new TextDecoder();

function attrsOf(attrs: unknown): PopenAttrs {
  if (attrs === undefined) return {};
  if (typeof attrs !== "object" || attrs === null) throw new Error("attrs must be an object");
  const { args, env, cwd } = attrs as PopenAttrs;
  if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === "string"))) {
    throw new Error("attrs.args must be a list of strings");
  }
  if (cwd !== undefined && typeof cwd !== "string") throw new Error("attrs.cwd must be a string");
  if (env !== undefined && (typeof env !== "object" || env === null)) {
    throw new Error("attrs.env must be an object of strings");
  }
  return { args, env, cwd };
}

/** Keeps the last bytes a stream produced; stop() gives up on the rest. */
class Tail {
  #kept = new Uint8Array(0);
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
    this.done = this.#run().catch(() => {});
  }

  async #run(): Promise<void> {
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) return;
      const kept = this.#kept;
      const joined = new Uint8Array(Math.min(kept.length + value.length, STDERR_KEEP));
      const fromChunk = Math.min(value.length, joined.length);
      const fromKept = joined.length - fromChunk;
      joined.set(kept.subarray(kept.length - fromKept), 0);
      joined.set(value.subarray(value.length - fromChunk), fromKept);
      this.#kept = joined;
    }
  }

  /** What was kept, waiting at most ms for the stream's end (a grandchild may hold it). */
  async bytes(ms: number): Promise<Uint8Array> {
    await settleWithin([this.done], ms);
    await this.#reader.cancel().catch(() => {});
    await this.done;
    return this.#kept;
  }
}

function stderrLine(bytes: Uint8Array): string {
  const text = decoder.decode(bytes).trim().replace(/\s*\n\s*/g, " | ");
  return text === "" ? "" : `: ${text}`;
}

class PopenLink implements DriverLink {
  readonly #program: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: ReadableStreamDefaultReader<Uint8Array>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stderr: Tail;
  readonly #killAfterMs: number;
  #pending: Uint8Array | undefined;
  #stdinClosed = false;
  #status: Deno.CommandStatus | undefined;

  constructor(program: string, child: Deno.ChildProcess, killAfterMs: number) {
    this.#program = program;
    this.#child = child;
    this.#stdout = child.stdout.getReader();
    this.#stdin = child.stdin.getWriter();
    this.#stderr = new Tail(child.stderr);
    this.#killAfterMs = killAfterMs;
    child.status.then((status) => this.#status = status);
  }

  async read(buffer: Uint8Array): Promise<number> {
    let chunk = this.#pending;
    this.#pending = undefined;
    if (chunk === undefined) {
      const { value, done } = await this.#stdout.read();
      if (done) return 0;
      chunk = value;
    }
    const n = Math.min(chunk.length, buffer.length);
    buffer.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#pending = chunk.subarray(n);
    return n;
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.#stdin.write(bytes);
  }

  async closeWrite(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#stdin.close();
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  async close(signal: AbortSignal): Promise<void> {
    if (!this.#stdinClosed) {
      this.#stdinClosed = true;
      await this.#stdin.close().catch(() => {});
    }
    // Nobody reads stdout any more: a program still writing gets EPIPE rather than
    // blocking forever.
    await this.#stdout.cancel().catch(() => {});
    let killedBy: Deno.Signal | undefined;
    if (!(await this.#exitsWithin(this.#killAfterMs, signal))) {
      killedBy = "SIGTERM";
      this.#kill(killedBy);
      if (!(await this.#exitsWithin(1000, undefined))) {
        killedBy = "SIGKILL";
        this.#kill(killedBy);
      }
    }
    const status = await this.#child.status;
    const stderr = await this.#stderr.bytes(500);
    if (status.success) return;
    if (status.signal !== null) {
      if (killedBy !== undefined || status.signal === "SIGPIPE") return; // we ended it
      throw new Error(
        `program "${this.#program}" was killed by signal ${status.signal}${stderrLine(stderr)}`,
      );
    }
    throw new Error(
      `program "${this.#program}" exited with status ${status.code}${stderrLine(stderr)}`,
    );
  }

  /** Whether the program exits within ms (false at once if signal is aborted). */
  async #exitsWithin(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#status !== undefined) return true;
    if (signal?.aborted) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const giveUp = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      onAbort = () => resolve(false);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([this.#child.status.then(() => true as const), giveUp]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  info(): LinkInfo {
    return {
      program: this.#program,
      pid: this.#child.pid,
      exit_code: this.#status?.code ?? null,
    };
  }
}

/** The popen transport. */
export const popenDriver: TransportDriver = {
  name: "popen",
  kind: "transport",
  summary: "a program's stdin and stdout; the contact is the program",
  options: {
    args: { type: "list", doc: 'the program\'s arguments, joined by "|"' },
    kill_after_ms: {
      type: "int",
      doc: "on close, how long to wait for the program before SIGTERM",
      default: 2000,
      min: 0,
    },
  },
  validate(options: Options, attrs: unknown): void {
    const given = attrsOf(attrs);
    if (given.args !== undefined && options.has("args")) {
      throw new Error('give the arguments as the "args" option or as attrs.args, not both');
    }
  },
  open(contact: string, context: DriverContext): Promise<DriverLink> {
    if (contact.trim() === "") {
      throw new XioError(
        "CONTACT_STRING",
        `Cannot open "${contact}" with stack "${context.stack}": want a program name or path`,
      );
    }
    const attrs = attrsOf(context.attrs);
    const child = new Deno.Command(contact, {
      args: attrs.args ?? context.options.list("args") ?? [],
      env: attrs.env,
      cwd: attrs.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return Promise.resolve(
      new PopenLink(contact, child, context.options.number("kill_after_ms") ?? 2000),
    );
  },
};
