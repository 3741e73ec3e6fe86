// connect: stdin and stdout as one stream into the tunnel, for
// `ssh -o ProxyCommand="globus-streams connect TUNNEL_ID" host`.
//   stdio ==relay== tcp,gsa1:role=responder -> initiating access point
// stdin's end half-closes the stream; the tunnel's end (after everything it sent was
// written to stdout) ends the bridge.
import { relay, Stack } from "../xio/mod.ts";
import { HelperError } from "./_error.ts";
import { type ByteSink, type ByteSource, stdioDriver } from "./_stdio.ts";
import {
  openTunnelStream,
  rootMessage,
  type StreamTimeouts,
  type TargetLookup,
} from "./_tunnel.ts";

export interface ConnectOptions extends StreamTimeouts {
  /** Payload to send (Deno.stdin). */
  input: ByteSource;
  /** Where the tunnel's bytes go (Deno.stdout): nothing else is written there. */
  output: ByteSink;
  /** Stops the bridge (then CANCELED is thrown). */
  signal?: AbortSignal;
  bufferSize?: number;
}

/** Bytes each way through the bridge. */
export interface BridgeCounts {
  up: number;
  down: number;
}

const DEFAULT_BUFFER_SIZE = 64 * 1024;

/**
 * Bridges input and output into one new stream of the tunnel; resolves once the tunnel
 * side ended and its bytes were written. Throws HelperError ("unreachable", "refused",
 * "failed" when the stream broke).
 *
 * @example
 * ```ts
 * await connectStdio(lookup, { input: Deno.stdin, output: Deno.stdout });
 * ```
 */
export async function connectStdio(
  lookup: TargetLookup,
  options: ConnectOptions,
): Promise<BridgeCounts> {
  const target = await lookup();
  const tunnel = await openTunnelStream(target, options);
  let outputEnded = false;
  const ended = new AbortController();
  const stdio = await new Stack([{
    driver: stdioDriver,
    attrs: {
      input: options.input,
      output: options.output,
      onOutputEnd: () => {
        outputEnded = true;
        // After relay() returned from the closeWrite that called this.
        setTimeout(() => ended.abort(), 0);
      },
    },
  }]).open("stdio");
  const signal = options.signal ? AbortSignal.any([options.signal, ended.signal]) : ended.signal;
  try {
    await relay(stdio, tunnel, {
      signal,
      bufferSize: options.bufferSize ?? DEFAULT_BUFFER_SIZE,
    });
  } catch (error) {
    if (!outputEnded) {
      if (options.signal?.aborted) throw error;
      throw new HelperError(
        "failed",
        `The stream into tunnel ${target.tunnelId} broke: ${rootMessage(error)}`,
        { cause: error },
      );
    }
  } finally {
    await Promise.allSettled([tunnel.close(), stdio.close()]);
  }
  return { up: tunnel.bytesWritten, down: tunnel.bytesRead };
}
