// Opening one stream into a tunnel, as the initiating app: a TCP connection to the
// initiating access point's LAN contact, then GSA1 as responder when the conf file has
// a LAN secret (plain TCP otherwise).  tcp:nodelay,gsa1:role=responder;tunnel=<id>
import { type Handle, handshakeReason, isXioError, Stack } from "../xio/mod.ts";
import { HelperError } from "./_error.ts";
import { oneLine } from "../quote/mod.ts";

/** Where a tunnel takes new streams on the initiating side, from its conf file. */
export interface TunnelTarget {
  tunnelId: string;
  /** connector_contact_string: the initiating access point's LAN contact. */
  contact: string;
  /** lankey; absent when the gateway requires no LAN secret (plain TCP). */
  secret?: string;
  /** lankey_id. */
  secretId?: string;
}

/** Finds the target afresh (the contact may change; see contact-lookup's TTL). */
export type TargetLookup = () => Promise<TunnelTarget>;

/** Timeouts of a helper's connections. */
export interface StreamTimeouts {
  /** GSA1 step timeout (default GLOBUS_STREAMS_HANDSHAKE_TIMEOUT, else 10 s). */
  handshakeTimeoutMs?: number;
  /** Longest wait for a TCP connect plus handshake (default 30 s). */
  openTimeoutMs?: number;
}

const DEFAULT_OPEN_TIMEOUT_MS = 30_000;

const reasonText: Record<string, string> = {
  bad_proof: "bad proof (the LAN secret is wrong)",
  secret_expired: "the LAN secret expired",
  unknown_tunnel: "the access point does not know this tunnel",
  refused: "refused (the LAN secret is not one the gateway issued for this tunnel)",
  bad_tag: "the access point's answer does not match the LAN secret",
  eof: "the access point closed the connection during the handshake",
  malformed: "the access point sent a malformed message",
};

/** The innermost message of an error and its causes, on one line. */
export function rootMessage(error: unknown): string {
  let inner = error;
  for (
    let depth = 0;
    depth < 8 && inner instanceof Error && inner.cause instanceof Error;
    depth++
  ) {
    inner = inner.cause;
  }
  return oneLine(inner);
}

/** The stack for one stream into the tunnel. */
export function tunnelStack(target: TunnelTarget, options: StreamTimeouts = {}): Stack {
  if (target.secret === undefined) return Stack.parse("tcp:nodelay");
  return Stack.parse(`tcp:nodelay,gsa1:role=responder;tunnel=${target.tunnelId}`, {
    attrs: {
      gsa1: {
        secret: target.secret,
        secretId: target.secretId,
        timeoutMs: options.handshakeTimeoutMs,
      },
    },
  });
}

/**
 * Opens one stream into the tunnel. Throws HelperError: "unreachable" when the access
 * point cannot be reached or does not answer, "refused" when it refuses the handshake.
 *
 * @example
 * ```ts
 * const handle = await openTunnelStream({ tunnelId, contact: "127.0.0.1:4001", secret, secretId });
 * ```
 */
export async function openTunnelStream(
  target: TunnelTarget,
  options: StreamTimeouts & { signal?: AbortSignal } = {},
): Promise<Handle> {
  const stack = tunnelStack(target, options);
  try {
    return await stack.open(target.contact, {
      timeoutMs: options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS,
      signal: options.signal,
    });
  } catch (error) {
    const where = `the initiating access point of tunnel ${target.tunnelId} at "${target.contact}"`;
    const reason = handshakeReason(error);
    if (reason !== undefined) {
      throw new HelperError(
        "refused",
        `Cannot open a stream into tunnel ${target.tunnelId}: ${where} refused the GSA1 handshake: ${
          reasonText[reason] ?? reason
        }`,
        { cause: error },
      );
    }
    if (isXioError(error, "CANCELED") && !error.timedOut) throw error;
    throw new HelperError(
      "unreachable",
      `Cannot reach ${where}: ${rootMessage(error)} ` +
        `(is the tunnel ACTIVE? see 'globus-streams tunnel show ${target.tunnelId}')`,
      { cause: error },
    );
  }
}
