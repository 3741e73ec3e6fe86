// What the initiating, WAN and listening parts of the streams data plane share: the
// control plane's view (PlaneHost), the options, the open tunnels, the LAN secrets seen,
// each access point's relay buffers, the log lines and the accept loop.
import {
  type Accepted,
  adaptiveBuffers,
  handshakeReason,
  handshakeTimeoutMs,
  isXioError,
  type RelayOptions,
  type Server,
} from "../../xio/mod.ts";
import { oneLine } from "../../quote/mod.ts";
import { sleep } from "../../timer/mod.ts";
import type { AccessPointConfig } from "../_config.ts";
import type { IssuedLanSecret, PlaneHost } from "../_plane.ts";
import type { Carrier } from "./_carrier.ts";
import { shortId, type StreamRun } from "./_stream.ts";

/** How the streams data plane runs. */
export interface StreamsDataPlaneOptions {
  /** Gets one line (no newline) per stream when it ends, and per refused WAN peer. */
  log?: (line: string) => void;
  /** GSA1 step timeout on every leg (default GLOBUS_STREAMS_HANDSHAKE_TIMEOUT, else 10 s). */
  handshakeTimeoutMs?: number;
  /** Longest wait for a TCP connect on legs 2 and 3 (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Bytes per relay read, fixed. By default each direction of a relay starts with a
   * 16 KiB buffer and only a direction that keeps filling it grows (x4 per step) up to
   * 1 MiB, while its access point holds fewer than 16 MiB of grown buffers.
   */
  bufferSize?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long closeTunnel/close wait for a stream's task after closing its legs. */
export const CLOSE_WAIT_MS = 5_000;
const ACCEPT_RETRY_MS = 100;
export const NODELAY = { driver: "tcp", options: { nodelay: true } } as const;

/** Why a leg failed, in a few words: a GSA1 reason name, "timed out", or the message. */
export function failureReason(error: unknown): string {
  const reason = handshakeReason(error);
  if (reason !== undefined) return reason;
  if (isXioError(error) && error.timedOut) return "timed out";
  return oneLine(error);
}

/** "site-a" for "Site A access point"; the id's start when the name gives nothing. */
function pointLabel(point: AccessPointConfig): string {
  const slug = point.displayName.replace(/\s*(stream\s+)?access\s+point\s*$/i, "").trim()
    .toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return slug || point.id.slice(0, 8);
}

/** The state and services every part of the plane uses; one per plane. */
export class PlaneContext {
  readonly host: PlaneHost;
  readonly handshakeMs: number;
  readonly connectMs: number;
  /** The open tunnels, by id (lower case). */
  readonly tunnels = new Map<string, Carrier>();
  /** Set once the plane is stopping. */
  closed = false;
  readonly #log: ((line: string) => void) | undefined;
  readonly #bufferSize: number | undefined;
  /** Each access point's relay buffers (adaptive, one budget each), by access point id. */
  readonly #buffers = new Map<string, RelayOptions>();
  /** LAN secret id -> expiry (ms) of every secret seen, to tell "expired" from "unknown". */
  readonly #seenSecrets = new Map<string, number>();

  constructor(host: PlaneHost, options: StreamsDataPlaneOptions) {
    this.host = host;
    this.#log = options.log;
    this.handshakeMs = options.handshakeTimeoutMs ?? handshakeTimeoutMs();
    this.connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#bufferSize = options.bufferSize;
  }

  /** Whether an access point's gateway requires LAN secrets now. */
  requiresSecret(pointId: string, fallback: boolean): boolean {
    return this.host.gatewayOf(pointId)?.lanSecretRequired ?? fallback;
  }

  /** Notes the secrets' expiry, so a later PROOF naming one can be told it expired. */
  remember(secrets: IssuedLanSecret[]): void {
    for (const secret of secrets) this.#seenSecrets.set(secret.id, secret.expiresMs);
  }

  /** Whether a secret was seen and has expired by now. */
  expired(secretId: string): boolean {
    const expiredAt = this.#seenSecrets.get(secretId);
    return expiredAt !== undefined && expiredAt <= Date.now();
  }

  /** An access point's relay buffers: the fixed size asked for, else adaptive with its own budget. */
  relayBuffers(point: AccessPointConfig): RelayOptions {
    if (this.#bufferSize !== undefined) return { bufferSize: this.#bufferSize };
    let buffers = this.#buffers.get(point.id);
    if (!buffers) {
      buffers = { adaptive: adaptiveBuffers() };
      this.#buffers.set(point.id, buffers);
    }
    return buffers;
  }

  /** Accepts until the server closes, handing each connection on without waiting. */
  async acceptLoop(
    server: Server,
    stopped: () => boolean,
    take: (accepted: Accepted) => void,
  ): Promise<void> {
    while (!stopped() && server.state === "open") {
      let accepted: Accepted;
      try {
        accepted = await server.acceptRaw();
      } catch (error) {
        if (stopped() || server.state !== "open") return;
        this.#log?.(`[data plane] accept on "${server.address}" failed: ${oneLine(error)}`);
        await sleep(ACCEPT_RETRY_MS);
        continue;
      }
      take(accepted);
    }
  }

  /** One log line of an access point. */
  line(point: AccessPointConfig, text: string): void {
    this.#log?.(`[ap ${pointLabel(point)}] ${text}`);
  }

  /** The line a stream logs when it ends. */
  logStream(point: AccessPointConfig, tunnelId: string, run: StreamRun): void {
    if (this.#log) this.line(point, `tunnel ${shortId(tunnelId)}: ${run.summary()}`);
  }
}
