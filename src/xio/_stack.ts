// A Stack: one transport at the bottom, transforms above, parsed from a string or built
// from driver objects. open() gives a Handle, listen() a Server.

import type { ResolvedEntry, StackConfig, Timeouts } from "./_config.ts";
import { type DebugLog, defaultDebugLog } from "./_debug.ts";
import type { Driver, DriverLink, TransformDriver, TransportDriver } from "./_driver.ts";
import { XioError } from "./_error.ts";
import { Guard, type OpControl } from "./_guard.ts";
import { Handle } from "./_handle.ts";
import { callDriver, makeLayer, wrapError } from "./_io.ts";
import { abandonLayers, closeLate, driverContext, openTransforms } from "./_open.ts";
import { escapeValue, type OptionValue, parseStackText, typeOptions } from "./_options.ts";
import { defaultRegistry, type DriverRegistry } from "./_registry.ts";
import { Server } from "./_server.ts";
import { oneLine } from "../quote/mod.ts";

/** A driver and its options, for building a stack in code. */
export interface StackEntry {
  /** A driver object, or the name of a registered one. */
  driver: Driver | string;
  /** Typed values (or text, as in a stack string) by option name. */
  options?: Record<string, OptionValue>;
  /** Attributes only code can give (secrets, callbacks); overrides StackOptions.attrs. */
  attrs?: unknown;
}

/** How a stack is set up beyond its drivers. */
export interface StackOptions {
  /**
   * Attributes by driver name that do not belong in a string (and so never in a
   * message or a log): `{ gsa1: { secret, secretId } }`, `{ popen: { args } }`.
   */
  attrs?: Record<string, unknown>;
  /** Default timeouts per operation in ms (a call's own timeoutMs wins). */
  timeouts?: Timeouts;
  /** Debug output; default from GLOBUS_STREAMS_DEBUG. */
  debug?: DebugLog;
  /** Where driver names are looked up; default the built-in drivers. */
  registry?: DriverRegistry;
}

// Set by Stack.parse around its constructor call, so the stack keeps the text as written.
let parsedText: string | undefined;

function entryText(name: string, options: Record<string, OptionValue> | undefined): string {
  const parts = Object.entries(options ?? {}).map(([key, value]) => {
    if (value === true) return key;
    const text = Array.isArray(value)
      ? value.map(escapeValue).join("|")
      : escapeValue(String(value));
    return `${key}=${text}`;
  });
  return parts.length ? `${name}:${parts.join(";")}` : name;
}

/**
 * A stack of drivers: exactly one transport at the bottom (first), transforms above.
 *
 * @example
 * ```ts
 * import { Stack } from "../xio/mod.ts";
 * const stack = Stack.parse(`tcp:nodelay,gsa1:role=responder;tunnel=${tunnelId}`, {
 *   attrs: { gsa1: { secret: lankey, secretId: lankeyId } },
 *   timeouts: { open: 15000 },
 * });
 * const handle = await stack.open("127.0.0.1:4001");
 * ```
 */
export class Stack {
  /** The stack as a string (as parsed, or made from the entries). */
  readonly text: string;
  readonly #config: StackConfig;

  /** Builds a stack from driver objects or names. Throws STACK or PARAMETER. */
  constructor(entries: readonly StackEntry[], options: StackOptions = {}) {
    const registry = options.registry ?? defaultRegistry;
    const text = parsedText ??
      entries.map((entry) =>
        entryText(
          typeof entry.driver === "string" ? entry.driver : entry.driver.name,
          entry.options,
        )
      ).join(",");
    parsedText = undefined;
    const resolved = entries.map((entry) => {
      const driver = typeof entry.driver === "string"
        ? lookup(registry, entry.driver, text)
        : entry.driver;
      return { driver, raw: Object.entries(entry.options ?? {}), attrs: entry.attrs };
    });
    this.text = text;
    this.#config = configure(text, resolved, options);
  }

  /**
   * Parses a stack string, transport first: `tcp,gsa1:role=responder;tunnel=<id>,rate:rate=10M`.
   * Throws STACK (unknown driver, transport not at the bottom, two transports) or
   * PARAMETER (bad option).
   */
  static parse(text: string, options: StackOptions = {}): Stack {
    const registry = options.registry ?? defaultRegistry;
    const entries = parseStackText(text).map((raw) => ({
      driver: lookup(registry, raw.name, text),
      options: Object.fromEntries(raw.options) as Record<string, OptionValue>,
    }));
    parsedText = text;
    try {
      return new Stack(entries, options);
    } finally {
      parsedText = undefined;
    }
  }

  /** The drivers' names, bottom first. */
  get drivers(): string[] {
    return [this.#config.transport, ...this.#config.transforms].map((e) => e.driver.name);
  }

  /**
   * Opens the stack to contact: the transport connects, then each transform opens in
   * turn (handshakes). Throws CONTACT_STRING, CANCELED (timeout), SYSTEM, ...
   */
  async open(contact: string, options: OpControl = {}): Promise<Handle> {
    const config = this.#config;
    const what = `open "${contact}" with stack "${config.text}"`;
    const guard = new Guard(what, {
      timeoutMs: options.timeoutMs ?? config.timeouts.open,
      signal: options.signal,
    });
    const started = performance.now();
    const transport = config.transport;
    const layers = [];
    try {
      const context = driverContext(config, transport, contact, "open", guard.signal);
      const pending = callDriver(() => transport.driver.open(contact, context));
      let link: DriverLink;
      try {
        link = await guard.race(pending);
      } catch (error) {
        if (error === guard.error) closeLate(pending);
        throw error === guard.error ? error : wrapError(error, what);
      }
      layers.push(
        makeLayer(transport.driver.name, link, `"${contact}" with stack "${config.text}"`),
      );
      await openTransforms(config, layers, contact, "open", guard, what);
    } catch (error) {
      abandonLayers(layers, what);
      if (config.debug.spec.levels) config.debug.log("ERROR", "xio", oneLine(error));
      throw error;
    } finally {
      guard.done();
    }
    if (config.debug.spec.levels) {
      config.debug.log(
        "INFO",
        "xio",
        `${what}: ok (${(performance.now() - started).toFixed(0)} ms)`,
      );
    }
    return new Handle({ config, contact, layers, side: "open" });
  }

  /** Listens on contact (e.g. "127.0.0.1:0" for any free port). */
  async listen(contact: string, options: OpControl = {}): Promise<Server> {
    const config = this.#config;
    const what = `listen on "${contact}" with stack "${config.text}"`;
    const listen = config.transport.driver.listen;
    if (listen === undefined) {
      throw new XioError(
        "STACK",
        `Cannot ${what}: transport "${config.transport.driver.name}" cannot accept connections`,
      );
    }
    const guard = new Guard(what, { timeoutMs: options.timeoutMs, signal: options.signal });
    try {
      const context = driverContext(config, config.transport, contact, "accept", guard.signal);
      const pending = callDriver(() => listen.call(config.transport.driver, contact, context));
      try {
        const listener = await guard.race(pending);
        if (config.debug.spec.levels) {
          config.debug.log("INFO", "xio", `${what}: listening on "${listener.address}"`);
        }
        return new Server(config, listener);
      } catch (error) {
        if (error === guard.error) pending.then((l) => l.close()).catch(() => {});
        throw error === guard.error ? error : wrapError(error, what);
      }
    } finally {
      guard.done();
    }
  }
}

function lookup(registry: DriverRegistry, name: string, text: string): Driver {
  const driver = registry.get(name);
  if (driver === undefined) {
    throw new XioError(
      "STACK",
      `Cannot use stack "${text}": unknown driver "${name}" (want one of ${
        registry.names().join(", ")
      })`,
    );
  }
  return driver;
}

function configure(
  text: string,
  entries: { driver: Driver; raw: [string, unknown][]; attrs: unknown }[],
  options: StackOptions,
): StackConfig {
  if (entries.length === 0) {
    throw new XioError("STACK", `Cannot use stack "${text}": it names no driver`);
  }
  const [first, ...rest] = entries;
  if (first.driver.kind !== "transport") {
    throw new XioError(
      "STACK",
      `Cannot use stack "${text}": the first (bottom) driver must be a transport, and "${first.driver.name}" is a transform`,
    );
  }
  for (const entry of rest) {
    if (entry.driver.kind === "transport") {
      throw new XioError(
        "STACK",
        `Cannot use stack "${text}": "${entry.driver.name}" is a second transport (only the bottom driver may be one)`,
      );
    }
  }
  const resolved: ResolvedEntry[] = entries.map(({ driver, raw, attrs }) => {
    const typed = typeOptions(text, driver.name, driver.options, raw);
    const attributes = attrs ?? options.attrs?.[driver.name];
    try {
      driver.validate?.(typed, attributes);
    } catch (error) {
      if (error instanceof XioError) throw error;
      throw new XioError(
        "PARAMETER",
        `Cannot use stack "${text}": driver "${driver.name}": ${oneLine(error)}`,
        { cause: error },
      );
    }
    return { driver, options: typed, attrs: attributes };
  });
  const [bottom, ...above] = resolved;
  return {
    text,
    transport: bottom as ResolvedEntry<TransportDriver>,
    transforms: above as ResolvedEntry<TransformDriver>[],
    timeouts: { ...options.timeouts },
    debug: options.debug ?? defaultDebugLog(),
  };
}
