// What a driver implements. The framework, not the driver, owns timeouts, cancel,
// wait-for-bytes, byte counts, state checks and error typing: a driver's hooks do the
// one thing they name and throw plain errors (the framework wraps them as SYSTEM) or an
// XioError when they know the kind (EOF, CANCELED, CONTACT_STRING, PARAMETER).

import type { DebugLog } from "./_debug.ts";
import type { Options, OptionSpecs } from "./_options.ts";

/** Facts a layer reports about its connection (addresses, handshake results). */
export type LinkInfo = Record<string, string | number | boolean | null>;

/**
 * One driver's part of one open handle. read() is given a buffer of at least one byte
 * and resolves with the count placed in it, 0 meaning end of stream; write() writes all
 * of bytes. Neither is called again before the previous call of the same kind settles.
 */
export interface DriverLink {
  read(buffer: Uint8Array): Promise<number>;
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Half-close: no more writes. The framework calls it on each layer, top to bottom,
   * so a transform flushes what it holds and the transport sends end-of-stream.
   */
  closeWrite?(): Promise<void>;
  /**
   * Releases this layer's own resources; the framework closes the layers below after
   * it. signal aborts when the close times out or is canceled: stop waiting then.
   */
  close(signal: AbortSignal): Promise<void>;
  /** Facts for Handle.info, keyed by the driver's name there. */
  info?(): LinkInfo;
}

/** What the framework hands a transform: the stack below it, as one byte stream. */
export interface Lower {
  /**
   * Reads into buffer until at least waitForBytes (default 1) bytes arrived or the
   * stream ended; resolves with the count, fewer than waitForBytes only at the end. A
   * signal abort rejects with its reason (an XioError when it is one, else CANCELED).
   */
  read(
    buffer: Uint8Array,
    options?: { waitForBytes?: number; signal?: AbortSignal },
  ): Promise<number>;
  /** Writes all of bytes. */
  write(bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
  /** The info of the layers below, by driver name. */
  info(): Record<string, LinkInfo>;
}

/** Per-open facts for a driver hook. */
export interface DriverContext {
  /** The stack's text, for messages. */
  stack: string;
  /** The contact string given to open/listen ("" for a transform on accept). */
  contact: string;
  /** "open" for Stack.open, "accept" for a handle that came from Server.accept. */
  side: "open" | "accept";
  options: Options;
  /** What the caller passed for this driver in StackOptions.attrs (never logged). */
  attrs: unknown;
  /** Aborts when the open/accept times out or is canceled. */
  signal: AbortSignal;
  debug: DebugLog;
}

/** A listening transport. accept() is not called again before the previous one settles. */
export interface DriverListener {
  /** The bound address as a contact string ("127.0.0.1:40123"). */
  readonly address: string;
  accept(): Promise<DriverLink>;
  close(): Promise<void>;
}

interface DriverBase {
  /** The name in stack strings: lower case, [a-z0-9_]. */
  readonly name: string;
  /** One line for help. */
  readonly summary: string;
  readonly options: OptionSpecs;
  /**
   * Checks options and attrs when the stack is built, before any I/O. Throw a plain
   * Error (it becomes PARAMETER) for a bad combination.
   */
  validate?(options: Options, attrs: unknown): void;
}

/** The bottom of a stack: makes connections. */
export interface TransportDriver extends DriverBase {
  readonly kind: "transport";
  open(contact: string, context: DriverContext): Promise<DriverLink>;
  /** Absent when the transport cannot accept (popen). */
  listen?(contact: string, context: DriverContext): Promise<DriverListener>;
}

/** Above the transport: changes or watches the bytes. */
export interface TransformDriver extends DriverBase {
  readonly kind: "transform";
  /** Opens this layer over lower (after lower opened); may exchange bytes (a handshake). */
  open(lower: Lower, context: DriverContext): Promise<DriverLink>;
}

export type Driver = TransportDriver | TransformDriver;

/**
 * A transform's link once its work at open is done (a handshake, a decision): bytes
 * pass through unchanged, and info() tells what the layer did.
 */
export class PassLink implements DriverLink {
  readonly #lower: Lower;
  readonly #info: LinkInfo;

  constructor(lower: Lower, info: LinkInfo) {
    this.#lower = lower;
    this.#info = info;
  }

  read(buffer: Uint8Array): Promise<number> {
    return this.#lower.read(buffer);
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#lower.write(bytes);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  info(): LinkInfo {
    return this.#info;
  }
}
