// forward: a local port whose every connection becomes a new stream into the tunnel.
//   local app -> tcp (listen) ==relay== tcp,gsa1:role=responder -> initiating access point
import { adaptiveBuffers, relay, Stack } from "../xio/mod.ts";
import { HelperError } from "./_error.ts";
import { serveUntil, type Totals } from "./_serve.ts";
import {
  openTunnelStream,
  rootMessage,
  type StreamTimeouts,
  type TargetLookup,
} from "./_tunnel.ts";

export interface ForwardOptions extends StreamTimeouts {
  /** Where to listen (default "127.0.0.1:0", any free port). */
  listen?: string;
  /** Stops the forward: the port and every stream are closed. */
  signal: AbortSignal;
  /** Called once with the bound address ("127.0.0.1:40123"). */
  onListening?: (address: string) => void;
  /** One line per failed connection (no newline). */
  log?: (line: string) => void;
  /**
   * Bytes per relay read, fixed. By default each direction of a relay starts with a
   * 16 KiB buffer and only a direction that keeps filling it grows (x4 per step) up to
   * 1 MiB, while this port's streams hold fewer than 16 MiB of grown buffers.
   */
  bufferSize?: number;
}

/** Whether error (or a cause) says the other end of a connection went away. */
function peerWentAway(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (
      e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset ||
      e instanceof Deno.errors.ConnectionAborted
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Listens on a local port and carries each connection into the tunnel as its own
 * stream, until options.signal aborts; resolves with the totals.
 *
 * @example
 * ```ts
 * const totals = await forwardPort(lookup, {
 *   signal, onListening: (address) => console.log(`Forwarding ${address}`),
 * });
 * ```
 */
export async function forwardPort(lookup: TargetLookup, options: ForwardOptions): Promise<Totals> {
  const listen = options.listen ?? "127.0.0.1:0";
  const log = options.log ?? (() => {});
  let server;
  try {
    server = await Stack.parse("tcp:nodelay").listen(listen);
  } catch (error) {
    throw new HelperError("failed", `Cannot listen on "${listen}": ${rootMessage(error)}`, {
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
  await serveUntil(server, signal, async (accepted, track) => {
    totals.connections++;
    const local = await accepted.open();
    track(local);
    let tunnel;
    try {
      tunnel = await openTunnelStream(await lookup(), { ...options, signal });
    } catch (error) {
      if (signal.aborted) return;
      totals.failed++;
      const text = error instanceof HelperError ? error.message : rootMessage(error);
      log(`connection from "${accepted.contact}": ${text}`);
      return;
    }
    track(tunnel);
    try {
      await relay(local, tunnel, { signal, ...buffers });
    } catch (error) {
      // A stream that carried data and then lost its peer (the tunnel was stopped, the
      // far app reset) ended; it did not fail.
      const carried = tunnel.bytesRead > 0 || tunnel.bytesWritten > 0;
      if (!signal.aborted && !(carried && peerWentAway(error))) {
        totals.failed++;
        log(`connection from "${accepted.contact}": the stream broke: ${rootMessage(error)}`);
      }
    } finally {
      totals.up += tunnel.bytesWritten;
      totals.down += tunnel.bytesRead;
    }
  }, log);
  return totals;
}
