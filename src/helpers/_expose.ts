// expose: the listening side's end of a tunnel for apps that cannot be preloaded. It
// listens at the tunnel's listener contact, takes each connection the listening access
// point makes with GSA1 as challenger (the conf file's LAN secret), and relays the ones
// that pass to the local service.
//   access point -> tcp,gsa1:role=challenger (listen) ==relay== tcp -> local service
import { adaptiveBuffers, handshakeReason, isXioError, relay, Stack } from "../xio/mod.ts";
import { HelperError } from "./_error.ts";
import { serveUntil, type Totals } from "./_serve.ts";
import { rootMessage, type StreamTimeouts } from "./_tunnel.ts";

/** The listening side's LAN secret (lankey, lankey_id), read for each connection. */
export type SecretSource = () => Promise<{ secret: string; secretId?: string } | undefined>;

export interface ExposeOptions extends StreamTimeouts {
  /** Where to listen: the tunnel's listener contact. */
  listen: string;
  /** The local service ("127.0.0.1:8080"). */
  to: string;
  /** The LAN secret; without it connections are plain TCP (no lan_secret_required). */
  secret?: SecretSource;
  signal: AbortSignal;
  onListening?: (address: string) => void;
  /** One line per refused or failed connection (no newline). */
  log?: (line: string) => void;
  /** Bytes per relay read, fixed; by default adaptive, as forward's (see ForwardOptions). */
  bufferSize?: number;
}

const reasonText: Record<string, string> = {
  bad_proof: "bad proof (the access point holds another LAN secret)",
  unknown_tunnel: "the access point named another tunnel",
  refused: "refused",
  malformed: "not a GSA1 handshake",
  eof: "the peer closed during the handshake",
};

function listenStack(tunnelId: string, options: ExposeOptions): Stack {
  const source = options.secret;
  if (!source) return Stack.parse("tcp:nodelay");
  return Stack.parse(`tcp:nodelay,gsa1:role=challenger;tunnel=${tunnelId}`, {
    attrs: {
      gsa1: {
        secrets: async () => {
          const found = await source();
          return found ? { secret: found.secret } : { refuse: "refused" as const };
        },
        timeoutMs: options.handshakeTimeoutMs,
      },
    },
    timeouts: { open: 3 * (options.handshakeTimeoutMs ?? 10_000) + 1000 },
  });
}

/**
 * Serves the tunnel's listener contact until options.signal aborts, relaying every
 * connection that passes the handshake to options.to; resolves with the totals.
 *
 * @example
 * ```ts
 * const totals = await exposePort(tunnelId, {
 *   listen: "127.0.0.1:8888", to: "127.0.0.1:8080", secret: readSecret, signal,
 * });
 * ```
 */
export async function exposePort(tunnelId: string, options: ExposeOptions): Promise<Totals> {
  const log = options.log ?? (() => {});
  let server;
  try {
    server = await listenStack(tunnelId, options).listen(options.listen);
  } catch (error) {
    throw new HelperError("failed", `Cannot listen on "${options.listen}": ${rootMessage(error)}`, {
      cause: error,
    });
  }
  const totals: Totals = { connections: 0, failed: 0, up: 0, down: 0 };
  // One budget for every stream of this port: the bulk ones share 16 large buffers.
  const buffers = options.bufferSize === undefined
    ? { adaptive: adaptiveBuffers() }
    : { bufferSize: options.bufferSize };
  options.onListening?.(server.address);
  const { signal } = options;
  const service = Stack.parse("tcp:nodelay");
  await serveUntil(server, signal, async (accepted, track) => {
    totals.connections++;
    let peer;
    try {
      peer = await accepted.open({ signal });
    } catch (error) {
      if (signal.aborted) return;
      totals.failed++;
      const reason = handshakeReasonOf(error);
      log(`refused "${accepted.contact}": ${reason}`);
      return;
    }
    track(peer);
    let app;
    try {
      app = await service.open(options.to, { signal, timeoutMs: options.openTimeoutMs ?? 30_000 });
    } catch (error) {
      if (signal.aborted) return;
      totals.failed++;
      log(`cannot reach "${options.to}": ${rootMessage(error)}`);
      return;
    }
    track(app);
    try {
      await relay(peer, app, { signal, ...buffers });
    } catch (error) {
      if (!signal.aborted) {
        totals.failed++;
        log(`connection from "${accepted.contact}": the stream broke: ${rootMessage(error)}`);
      }
    } finally {
      totals.up += peer.bytesRead;
      totals.down += peer.bytesWritten;
    }
  }, log);
  return totals;
}

function handshakeReasonOf(error: unknown): string {
  const reason = handshakeReason(error);
  if (reason !== undefined) return `GSA1 ${reasonText[reason] ?? reason}`;
  if (isXioError(error) && error.timedOut) return "GSA1 handshake timed out";
  return rootMessage(error);
}
