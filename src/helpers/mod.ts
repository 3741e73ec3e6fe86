/**
 * The helpers for programs that cannot be preloaded, each a relay between xio stacks:
 * `connectStdio` (stdin/stdout into one tunnel stream, for ssh's ProxyCommand),
 * `forwardPort` (a local port whose connections become tunnel streams) and
 * `exposePort` (the listening side: takes the access point's connections with GSA1 and
 * relays them to a local service). Conf files are the caller's business: the CLI
 * passes a TargetLookup (initiating side) or a SecretSource (listening side).
 *
 * @example
 * ```ts
 * import { forwardPort } from "../helpers/mod.ts";
 * const lookup = () => Promise.resolve({ tunnelId, contact: "127.0.0.1:4001", secret, secretId });
 * const totals = await forwardPort(lookup, { signal, onListening: (a) => console.log(a) });
 * ```
 * @module
 */
export { HelperError, type HelperErrorKind } from "./_error.ts";
export {
  openTunnelStream,
  type StreamTimeouts,
  type TargetLookup,
  tunnelStack,
  type TunnelTarget,
} from "./_tunnel.ts";
export { formatTotals, type Totals } from "./_serve.ts";
export { type BridgeCounts, type ConnectOptions, connectStdio } from "./_connect.ts";
export { type ForwardOptions, forwardPort } from "./_forward.ts";
export { type ExposeOptions, exposePort, type SecretSource } from "./_expose.ts";
export { type ByteSink, type ByteSource, type StdioAttrs, stdioDriver } from "./_stdio.ts";
