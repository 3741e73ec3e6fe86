// A listening stack (after globus_xio_server_t): accept() gives open Handles.

import type { StackConfig } from "./_config.ts";
import type { DriverLink, DriverListener, LinkInfo } from "./_driver.ts";
import { XioError } from "./_error.ts";
import { Canceler, Guard, type OpControl } from "./_guard.ts";
import { Handle } from "./_handle.ts";
import { callDriver, makeLayer, wrapError } from "./_io.ts";
import { abandonLayers, closeLate, openTransforms } from "./_open.ts";

const ignore = () => {};

/**
 * A connection the transport accepted, before the transforms ran (handshakes). open()
 * runs them; running it in a task per connection keeps a slow peer from holding up
 * the next accept.
 */
export class Accepted {
  /** The peer's contact when the transport knows it, else the server's address. */
  readonly contact: string;
  readonly #config: StackConfig;
  readonly #link: DriverLink;
  readonly #canceler: Canceler;
  #used = false;

  constructor(config: StackConfig, link: DriverLink, contact: string, canceler: Canceler) {
    this.#config = config;
    this.#link = link;
    this.contact = contact;
    this.#canceler = canceler;
  }

  /** What the transport reports (addresses). */
  get info(): LinkInfo {
    return this.#link.info?.() ?? {};
  }

  /**
   * Runs the stack's transforms (role "accept") and returns the open Handle. On failure
   * the connection is closed and the error thrown (a handshake refusal is SYSTEM with
   * the HandshakeError as cause; see handshakeReason()).
   */
  async open(options: OpControl = {}): Promise<Handle> {
    const what = `accept "${this.contact}" with stack "${this.#config.text}"`;
    if (this.#used) throw new XioError("STATE", `Cannot ${what}: it was opened or closed already`);
    const guard = new Guard(
      what,
      { timeoutMs: options.timeoutMs ?? this.#config.timeouts.open, signal: options.signal },
      this.#canceler,
    );
    this.#used = true;
    const transport = this.#config.transport.driver.name;
    const where = `"${this.contact}" with stack "${this.#config.text}"`;
    const layers = [makeLayer(transport, this.#link, where)];
    const started = performance.now();
    try {
      await openTransforms(this.#config, layers, this.contact, "accept", guard, what);
    } catch (error) {
      abandonLayers(layers, what);
      if (this.#config.debug.spec.levels) {
        this.#config.debug.log(
          "ERROR",
          "xio",
          error instanceof Error ? error.message : String(error),
        );
      }
      throw error;
    } finally {
      guard.done();
    }
    if (this.#config.debug.spec.levels) {
      this.#config.debug.log(
        "INFO",
        "xio",
        `${what}: ok (${(performance.now() - started).toFixed(0)} ms)`,
      );
    }
    return new Handle({ config: this.#config, contact: this.contact, layers, side: "accept" });
  }

  /** Closes the connection without opening it. */
  async close(): Promise<void> {
    if (this.#used) return;
    this.#used = true;
    await callDriver(() => this.#link.close(AbortSignal.abort())).catch(ignore);
  }
}

/**
 * A listening stack. Made by Stack.listen.
 *
 * @example
 * ```ts
 * const server = await Stack.parse("tcp").listen("127.0.0.1:0");
 * const handle = await server.accept({ timeoutMs: 5000 });
 * ```
 */
export class Server {
  readonly stack: string;
  /** The bound address as a contact string ("127.0.0.1:40123"). */
  readonly address: string;
  readonly #config: StackConfig;
  readonly #listener: DriverListener;
  readonly #canceler = new Canceler();
  readonly #what: string;
  #inflight: Promise<DriverLink> | undefined;
  #accepting = false;
  #closing: Promise<void> | undefined;

  constructor(config: StackConfig, listener: DriverListener) {
    this.#config = config;
    this.#listener = listener;
    this.stack = config.text;
    this.address = listener.address;
    this.#what = `accept on "${this.address}" with stack "${this.stack}"`;
  }

  get state(): "open" | "closed" {
    return this.#closing ? "closed" : "open";
  }

  /**
   * Waits for the transport to accept a connection; the transforms have not run yet
   * (see Accepted.open). One accept may be pending at a time (a second is STATE).
   */
  async acceptRaw(options: OpControl = {}): Promise<Accepted> {
    const what = this.#what;
    if (this.#closing) throw new XioError("STATE", `Cannot ${what}: the server is closed`);
    if (this.#accepting) {
      throw new XioError("STATE", `Cannot ${what}: an accept is already pending`);
    }
    const guard = new Guard(
      what,
      { timeoutMs: options.timeoutMs ?? this.#config.timeouts.accept, signal: options.signal },
      this.#canceler,
    );
    this.#accepting = true;
    try {
      const pending = this.#inflight ?? callDriver(() => this.#listener.accept());
      this.#inflight = undefined;
      let link: DriverLink;
      try {
        link = await guard.race(pending);
      } catch (error) {
        if (error === guard.error) {
          if (this.#closing) closeLate(pending);
          else {
            pending.catch(ignore);
            this.#inflight = pending;
          }
          throw error;
        }
        throw wrapError(error, what);
      }
      const remote = link.info?.().remote;
      const contact = typeof remote === "string" ? remote : this.address;
      return new Accepted(this.#config, link, contact, this.#canceler);
    } finally {
      guard.done();
      this.#accepting = false;
    }
  }

  /** Accepts a connection and runs the transforms: acceptRaw() then Accepted.open(). */
  async accept(options: OpControl = {}): Promise<Handle> {
    const accepted = await this.acceptRaw(options);
    return await accepted.open(options);
  }

  /** Stops listening; a pending accept (or Accepted.open) ends with CANCELED. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#canceler.cancelAll("the server is closing");
    const inflight = this.#inflight;
    this.#inflight = undefined;
    if (inflight) closeLate(inflight);
    this.#closing = callDriver(() => this.#listener.close()).catch((error) => {
      throw wrapError(error, `close the server on "${this.address}"`);
    });
    return this.#closing;
  }
}
