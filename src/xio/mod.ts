/**
 * The I/O core, after Globus XIO: stacks of drivers with exactly one transport at the
 * bottom (tcp, popen, memory) and transforms above (gsa1, rate, netlog). The framework
 * owns wait-for-bytes reads, ordered end-of-stream, cancel, close, per-operation
 * timeouts and typed errors (XioError); drivers only move bytes.
 *
 * Stack strings list drivers transport first, options after a colon, separated by ";":
 * `tcp:nodelay,gsa1:role=responder;tunnel=<id>,rate:rate=10M`. Secrets and callbacks
 * go in StackOptions.attrs, never in the string.
 *
 * @example
 * ```ts
 * import { relay, Stack } from "../xio/mod.ts";
 * const server = await Stack.parse("tcp").listen("127.0.0.1:0");
 * const upstream = Stack.parse(`tcp,gsa1:role=responder;tunnel=${tunnel}`, {
 *   attrs: { gsa1: { secret, secretId } },
 * });
 * const client = await server.accept();
 * const peer = await upstream.open("127.0.0.1:4001", { timeoutMs: 10_000 });
 * await relay(client, peer);
 * await Promise.allSettled([client.close(), peer.close()]);
 * ```
 * @module
 */

export { handshakeReason, isXioError, XioError, type XioErrorKind } from "./_error.ts";
export {
  DEBUG_LEVELS,
  type DebugLevel,
  DebugLog,
  type DebugSink,
  type DebugSpec,
  defaultDebugLog,
  parseDebugSpec,
} from "./_debug.ts";
export type {
  Driver,
  DriverContext,
  DriverLink,
  DriverListener,
  LinkInfo,
  Lower,
  TransformDriver,
  TransportDriver,
} from "./_driver.ts";
export { PassLink } from "./_driver.ts";
export {
  Options,
  type OptionSpec,
  type OptionSpecs,
  type OptionType,
  type OptionValue,
  parseSize,
} from "./_options.ts";
export type { Timeouts } from "./_config.ts";
export type { OpControl } from "./_guard.ts";
export { Handle, type HandleState, type ReadOptions } from "./_handle.ts";
export { Accepted, Server } from "./_server.ts";
export { Stack, type StackEntry, type StackOptions } from "./_stack.ts";
export { defaultRegistry, DriverRegistry, registerDriver } from "./_registry.ts";
export {
  type AdaptiveBuffers,
  adaptiveBuffers,
  BufferBudget,
  relay,
  type RelayOptions,
  type RelayResult,
} from "./_relay.ts";
export {
  type Gsa1Attrs,
  gsa1Driver,
  handshakeTimeoutMs,
  memoryDriver,
  type MemoryStats,
  memoryStats,
  netlogDriver,
  type PopenAttrs,
  popenDriver,
  rateDriver,
  tcpDriver,
  TokenBucket,
} from "./drivers/mod.ts";
