// Leg 2, the WAN leg between the access points. This project's own design
// (docs/data-plane.md): one TCP connection per stream to the listening access point's WAN
// port, authenticated with GSA1 keyed by a random per-emulator WAN key (listening point =
// challenger, initiating point = responder, tunnel id = the tunnel), so the listening
// point knows the stream's tunnel and that a peer access point opened it. Not TLS:
// nothing leaves loopback.
import { randomBytes } from "node:crypto";
import { formatContact } from "../../contact/mod.ts";
import { oneLine } from "../../quote/mod.ts";
import type { SecretAnswer } from "../../handshake/mod.ts";
import { type Accepted, type Handle, type Server, Stack } from "../../xio/mod.ts";
import { settleWithin } from "../../timer/mod.ts";
import type { AccessPointConfig } from "../_config.ts";
import type { Carrier } from "./_carrier.ts";
import { CLOSE_WAIT_MS, failureReason, NODELAY, type PlaneContext } from "./_context.ts";
import type { StreamRun } from "./_stream.ts";

/** What the two ends of one WAN connection share (both access points are in-process). */
export interface WanPair {
  /** The initiating end's stream number, for the listening end's log line. */
  number?: number;
  initiator?: StreamRun;
  /** Set when the listening end failed first. */
  failure?: string;
  /** Ends that have not finished yet. */
  ends: number;
}

/** The two ends of each WAN connection, by the initiating end's address. */
export class WanPairs {
  readonly #pairs = new Map<string, WanPair>();

  /** The pair of a WAN connection, made by whichever end asks first. */
  of(address: string): WanPair {
    let pair = this.#pairs.get(address);
    if (!pair) {
      pair = { ends: 2 };
      this.#pairs.set(address, pair);
    }
    return pair;
  }

  /** One end finished; the pair goes when both have. */
  done(address: string): void {
    const pair = this.#pairs.get(address);
    if (pair && --pair.ends <= 0) this.#pairs.delete(address);
  }

  clear(): void {
    this.#pairs.clear();
  }
}

/** A listening access point's WAN port. */
export interface WanPort {
  server: Server;
  contact: string;
  tasks: Set<Promise<void>>;
  loop: Promise<void>;
}

/** Carries an authenticated WAN connection on at the listening access point. */
export type WanStreamHandler = (carrier: Carrier, wan: Handle) => Promise<void>;

/** The WAN ports of the listening access points, and the key both ends use. */
export class WanPorts {
  readonly #context: PlaneContext;
  readonly #onStream: WanStreamHandler;
  /** The WAN key: GSA1's secret between access points, new for every emulator. */
  readonly #wanKey = randomBytes(32).toString("base64url");
  readonly #wanKeyId = crypto.randomUUID();
  readonly #ports = new Map<string, Promise<WanPort>>();
  /** tlsftp_server values to put back on close. */
  readonly #restore: (() => void)[] = [];

  constructor(context: PlaneContext, onStream: WanStreamHandler) {
    this.#context = context;
    this.#onStream = onStream;
  }

  /** Leg 2's stack at the initiating access point: the GSA1 responder for a tunnel. */
  responderStack(tunnelId: string): Stack {
    return new Stack([
      NODELAY,
      {
        driver: "gsa1",
        options: { role: "responder", tunnel: tunnelId },
        attrs: {
          secret: this.#wanKey,
          secretId: this.#wanKeyId,
          timeoutMs: this.#context.handshakeMs,
        },
      },
    ]);
  }

  /** The WAN port of a listening access point, started on first use. */
  portOf(point: AccessPointConfig): Promise<WanPort> {
    let wan = this.#ports.get(point.id);
    if (!wan) {
      wan = this.#start(point);
      this.#ports.set(point.id, wan);
      wan.catch(() => this.#ports.delete(point.id));
    }
    return wan;
  }

  /** Closes every WAN port, waits (bounded) for its tasks, and puts tlsftp_server back. */
  async close(): Promise<void> {
    const ports = await Promise.allSettled(this.#ports.values());
    this.#ports.clear();
    for (const result of ports) {
      if (result.status !== "fulfilled") continue;
      const wan = result.value;
      await wan.server.close().catch(() => {});
      await settleWithin([wan.loop, ...wan.tasks], CLOSE_WAIT_MS);
    }
    for (const restore of this.#restore.splice(0)) restore();
  }

  async #start(point: AccessPointConfig): Promise<WanPort> {
    const context = this.#context;
    const stack = new Stack([
      NODELAY,
      {
        driver: "gsa1",
        options: { role: "challenger" },
        attrs: {
          secrets: (tunnelId: string, secretId: string | null) =>
            this.#secret(point.id, tunnelId, secretId),
          timeoutMs: context.handshakeMs,
        },
      },
    ], { timeouts: { open: 3 * context.handshakeMs + 1000 } });
    const server = await stack.listen(formatContact({ host: point.lanHost, port: 0 }));
    const wan: WanPort = {
      server,
      contact: server.address,
      tasks: new Set(),
      loop: Promise.resolve(),
    };
    wan.loop = context.acceptLoop(server, () => context.closed, (accepted) => {
      const task = this.#accept(point, accepted).catch((error) =>
        context.line(point, `wan task failed: ${oneLine(error)}`)
      );
      wan.tasks.add(task);
      task.finally(() => wan.tasks.delete(task));
    });
    // Show the WAN port as the access point's tlsftp_server, unless the config set one.
    const configured = context.host.config.accessPoints.find((p) => p.id === point.id);
    if (configured && configured.tlsftpServer === null) {
      configured.tlsftpServer = `tlsftp://${wan.contact}`;
      this.#restore.push(() => configured.tlsftpServer = null);
    }
    return wan;
  }

  /** The challenger's secret: the WAN key, for open tunnels whose listening point this is. */
  #secret(pointId: string, tunnelId: string, secretId: string | null): SecretAnswer {
    const carrier = this.#context.tunnels.get(tunnelId);
    if (!carrier || carrier.closed) return undefined;
    if (carrier.snapshot.listenerAccessPoint.id !== pointId) return undefined;
    if (secretId !== this.#wanKeyId) return { refuse: "refused" };
    return { secret: this.#wanKey };
  }

  async #accept(point: AccessPointConfig, accepted: Accepted): Promise<void> {
    const context = this.#context;
    let wan: Handle;
    try {
      wan = await accepted.open();
    } catch (error) {
      if (!context.closed) {
        context.line(point, `wan: refused "${accepted.contact}": ${failureReason(error)}`);
      }
      return;
    }
    const carrier = context.tunnels.get(String(wan.info.gsa1?.tunnel));
    if (!carrier || carrier.closed) {
      await wan.close().catch(() => {});
      return;
    }
    carrier.track(this.#onStream(carrier, wan), (text) => context.line(point, text));
  }
}
