// The emulator's data plane: access points that carry real traffic, built from xio
// stacks. One stream is three TCP connections (globus-facts.md, "The three legs"):
//   leg 1  app -> initiating access point: a per-tunnel LAN port; GSA1 with the app as
//          responder when the initiating gateway requires LAN secrets.
//   leg 2  initiating -> listening access point, the WAN leg. This project's own design
//          (docs/data-plane.md): one TCP connection per stream to the listening access
//          point's WAN port, authenticated with GSA1 keyed by a random per-emulator WAN
//          key (listening point = challenger, initiating point = responder, tunnel id =
//          the tunnel), so the listening point knows the stream's tunnel and that a
//          peer access point opened it. Not TLS: nothing leaves loopback.
//   leg 3  listening access point -> the tunnel's listener contact; GSA1 with the
//          access point as responder when the listening gateway requires LAN secrets.
// Then two relays (xio relay: back-pressure, ordered half-close, adaptive buffers) move
// the bytes. When any leg fails the others are closed, so the apps see EOF, never a hang.
import { randomBytes } from "node:crypto";
import { type Contact, formatContact, parseContact } from "../../contact/mod.ts";
import {
  type Accepted,
  adaptiveBuffers,
  type Handle,
  handshakeReason,
  handshakeTimeoutMs,
  isXioError,
  relay,
  type RelayOptions,
  type Server,
  Stack,
  type StackEntry,
} from "../../xio/mod.ts";
import type { SecretAnswer } from "../../handshake/mod.ts";
import type { AccessPointConfig } from "../_config.ts";
import type {
  AccessPointPlane,
  AccessPointPlaneFactory,
  IssuedLanSecret,
  PlaneHost,
  PlaneTunnel,
} from "../_plane.ts";
import { EmulatorError } from "../_error.ts";
import {
  isLanProbe,
  type LanGsa1Attrs,
  lanGsa1Driver,
  type ReachedAttrs,
  reachedDriver,
} from "./_drivers.ts";
import { shortId, StreamRun } from "./_stream.ts";

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
const CLOSE_WAIT_MS = 5_000;
const ACCEPT_RETRY_MS = 100;
const NODELAY = { driver: "tcp", options: { nodelay: true } } as const;

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");
}

/** Why a leg failed, in a few words: a GSA1 reason name, "timed out", or the message. */
function failureReason(error: unknown): string {
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for the promises, but no longer than ms. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** A listening access point's WAN port. */
interface WanPort {
  server: Server;
  contact: string;
  tasks: Set<Promise<void>>;
  loop: Promise<void>;
}

/** What the two ends of one WAN connection share (both access points are in-process). */
interface WanPair {
  /** The initiating end's stream number, for the listening end's log line. */
  number?: number;
  initiator?: StreamRun;
  /** Set when the listening end failed first. */
  failure?: string;
  /** Ends that have not finished yet. */
  ends: number;
}

/** One open tunnel: its LAN port on the initiating access point and its streams. */
class Carrier {
  readonly id: string;
  readonly lan: Server;
  readonly contact: Contact;
  /** Leg 2's stack (the initiating access point's GSA1 responder), made once. */
  readonly wanStack: Stack;
  readonly abort = new AbortController();
  readonly streams = new Set<StreamRun>();
  readonly tasks = new Set<Promise<void>>();
  snapshot: PlaneTunnel;
  closed = false;
  nextStream = 1;
  loop: Promise<void> = Promise.resolve();

  constructor(snapshot: PlaneTunnel, lan: Server, contact: Contact, wanStack: Stack) {
    this.id = snapshot.id;
    this.snapshot = snapshot;
    this.lan = lan;
    this.contact = contact;
    this.wanStack = wanStack;
  }

  /** Keeps a stream's task until it ends; a task's failure is logged, never thrown. */
  track(task: Promise<void>, log: (text: string) => void): void {
    const guarded = task.catch((error) => log(`stream task failed: ${oneLine(error)}`));
    this.tasks.add(guarded);
    guarded.finally(() => this.tasks.delete(guarded));
  }
}

class StreamsPlane implements AccessPointPlane {
  readonly #host: PlaneHost;
  readonly #log: ((line: string) => void) | undefined;
  readonly #handshakeMs: number;
  readonly #connectMs: number;
  readonly #bufferSize: number | undefined;
  /** Each access point's relay buffers (adaptive, one budget each), by access point id. */
  readonly #buffers = new Map<string, RelayOptions>();
  /** The WAN key: GSA1's secret between access points, new for every emulator. */
  readonly #wanKey = randomBytes(32).toString("base64url");
  readonly #wanKeyId = crypto.randomUUID();
  readonly #tunnels = new Map<string, Carrier>();
  readonly #wans = new Map<string, Promise<WanPort>>();
  /** tlsftp_server values to put back on close. */
  readonly #restore: (() => void)[] = [];
  /** LAN secret id -> expiry (ms) of every secret seen, to tell "expired" from "unknown". */
  readonly #seenSecrets = new Map<string, number>();
  /** The two ends of each WAN connection, by the initiating end's address. */
  readonly #pairs = new Map<string, WanPair>();
  #closed = false;

  constructor(host: PlaneHost, options: StreamsDataPlaneOptions) {
    this.#host = host;
    this.#log = options.log;
    this.#handshakeMs = options.handshakeTimeoutMs ?? handshakeTimeoutMs();
    this.#connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#bufferSize = options.bufferSize;
  }

  async openTunnel(tunnel: PlaneTunnel): Promise<Contact> {
    if (this.#closed) {
      throw new EmulatorError(`Cannot open tunnel ${tunnel.id}: the emulator is stopping`);
    }
    const existing = this.#tunnels.get(tunnel.id);
    if (existing) return existing.contact;
    await this.#wanOf(tunnel.listenerAccessPoint);
    const point = tunnel.initiatorAccessPoint;
    const where = formatContact({ host: point.lanHost, port: 0 });
    const lan = await this.#lanStack(tunnel).listen(where);
    const contact = parseContact(lan.address);
    if (!contact) {
      await lan.close();
      throw new EmulatorError(`Cannot open tunnel ${tunnel.id}: bad LAN address "${lan.address}"`);
    }
    const carrier = new Carrier(tunnel, lan, contact, this.#wanStack(tunnel.id));
    this.#tunnels.set(tunnel.id, carrier);
    this.#remember(this.#host.lanSecretsFor(tunnel.id, point.id));
    carrier.loop = this.#acceptLoop(lan, () => carrier.closed, (accepted) => {
      carrier.track(
        this.#initiatorStream(carrier, accepted),
        (text) => this.#line(tunnel.initiatorAccessPoint, text),
      );
    });
    return contact;
  }

  updateTunnel(tunnel: PlaneTunnel): void {
    const carrier = this.#tunnels.get(tunnel.id);
    if (carrier) carrier.snapshot = tunnel;
  }

  async closeTunnel(tunnelId: string): Promise<void> {
    const carrier = this.#tunnels.get(tunnelId.toLowerCase());
    if (!carrier) return;
    this.#tunnels.delete(carrier.id);
    carrier.closed = true;
    carrier.abort.abort();
    await carrier.lan.close().catch(() => {});
    for (const run of carrier.streams) run.fail("the tunnel was stopped");
    await Promise.all([...carrier.streams].map((run) => run.close()));
    await settleWithin([carrier.loop, ...carrier.tasks], CLOSE_WAIT_MS);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#tunnels.keys()].map((id) => this.closeTunnel(id)));
    const wans = await Promise.allSettled(this.#wans.values());
    this.#wans.clear();
    for (const result of wans) {
      if (result.status !== "fulfilled") continue;
      const wan = result.value;
      await wan.server.close().catch(() => {});
      await settleWithin([wan.loop, ...wan.tasks], CLOSE_WAIT_MS);
    }
    for (const restore of this.#restore.splice(0)) restore();
    this.#pairs.clear();
  }

  // --- the initiating access point -------------------------------------------------

  #lanStack(tunnel: PlaneTunnel): Stack {
    const pointId = tunnel.initiatorAccessPoint.id;
    const attrs: LanGsa1Attrs = {
      required: () => this.#requiresSecret(pointId, tunnel.initiatorGateway.lanSecretRequired),
      secrets: (tunnelId, secretId) => this.#lanSecret(tunnelId, pointId, secretId),
      timeoutMs: this.#handshakeMs,
    };
    return new Stack([
      NODELAY,
      { driver: lanGsa1Driver, options: { role: "challenger", tunnel: tunnel.id }, attrs },
    ], { timeouts: { open: 3 * this.#handshakeMs + 1000 } });
  }

  #requiresSecret(pointId: string, fallback: boolean): boolean {
    return this.#host.gatewayOf(pointId)?.lanSecretRequired ?? fallback;
  }

  #remember(secrets: IssuedLanSecret[]): void {
    for (const secret of secrets) this.#seenSecrets.set(secret.id, secret.expiresMs);
  }

  /** The secret a PROOF on leg 1 names (or the newest, when it names none). */
  #lanSecret(tunnelId: string, pointId: string, secretId: string | null): SecretAnswer {
    const tunnel = this.#host.tunnel(tunnelId);
    if (!tunnel || !this.#tunnels.has(tunnel.id)) return undefined;
    if (tunnel.state !== "ACTIVE") return { refuse: "refused" };
    // lanSecretsFor lists the secrets in the order they were issued: newest last.
    const secrets = this.#host.lanSecretsFor(tunnelId, pointId);
    this.#remember(secrets);
    if (secretId === null) {
      const newest = secrets.at(-1);
      return newest ? { secret: newest.secret } : { refuse: "refused" };
    }
    const named = secrets.find((s) => s.id === secretId);
    if (named) return { secret: named.secret };
    const expiredAt = this.#seenSecrets.get(secretId);
    if (expiredAt !== undefined && expiredAt <= Date.now()) return { refuse: "secret_expired" };
    // Deleted, issued for another tunnel or access point, or never issued.
    return { refuse: "refused" };
  }

  async #initiatorStream(carrier: Carrier, accepted: Accepted): Promise<void> {
    const run = new StreamRun(carrier.nextStream++);
    carrier.streams.add(run);
    const tunnel = carrier.snapshot;
    let wanAddress: string | undefined;
    try {
      let app: Handle;
      try {
        app = await accepted.open({ signal: carrier.abort.signal });
      } catch (error) {
        if (carrier.closed) return;
        if (isLanProbe(error)) {
          run.fail("lan: the app closed before the handshake");
          return;
        }
        const reason = failureReason(error);
        run.fail(`lan gsa1 ${reason}`);
        this.#host.addTunnelEvent(carrier.id, {
          code: "LAN_AUTH_FAILED",
          isError: true,
          description:
            `Leg 1 (app "${accepted.contact}" -> initiating access point): the GSA1 handshake failed: ${reason}`,
          details: oneLine(error),
        });
        return;
      }
      run.addLeg("leg1", app, true);
      run.step(app.info.lan_gsa1?.handshake === "gsa1" ? "lan gsa1 ok" : "lan plain");
      if (carrier.closed) return;
      const wanContact = (await this.#wanOf(tunnel.listenerAccessPoint)).contact;
      let wan: Handle;
      try {
        wan = await carrier.wanStack.open(wanContact, {
          signal: carrier.abort.signal,
          timeoutMs: this.#connectMs + 3 * this.#handshakeMs,
        });
      } catch (error) {
        if (carrier.closed) return;
        run.fail(`wan ${failureReason(error)}`);
        this.#host.addTunnelEvent(carrier.id, {
          code: "WAN_FAILED",
          isError: true,
          description:
            `Leg 2 (initiating -> listening access point at "${wanContact}"): cannot open: ${
              failureReason(error)
            }`,
          details: oneLine(error),
        });
        return;
      }
      run.addLeg("wan", wan, false);
      run.step("wan ok");
      wanAddress = String(wan.info.tcp?.local);
      const pair = this.#pair(wanAddress);
      pair.number = run.number;
      pair.initiator = run;
      if (pair.failure !== undefined) run.fail(pair.failure);
      if (carrier.closed || run.failed) return;
      try {
        await relay(app, wan, this.#relayBuffers(tunnel.initiatorAccessPoint));
      } catch (error) {
        run.fail(oneLine(error));
      }
    } finally {
      await run.close();
      carrier.streams.delete(run);
      if (wanAddress !== undefined) this.#unpair(wanAddress);
      this.#logStream(tunnel.initiatorAccessPoint, carrier.id, run);
    }
  }

  #wanStack(tunnelId: string): Stack {
    return new Stack([
      NODELAY,
      {
        driver: "gsa1",
        options: { role: "responder", tunnel: tunnelId },
        attrs: { secret: this.#wanKey, secretId: this.#wanKeyId, timeoutMs: this.#handshakeMs },
      },
    ]);
  }

  // --- the listening access point --------------------------------------------------

  /** The WAN port of a listening access point, started on first use. */
  #wanOf(point: AccessPointConfig): Promise<WanPort> {
    let wan = this.#wans.get(point.id);
    if (!wan) {
      wan = this.#startWan(point);
      this.#wans.set(point.id, wan);
      wan.catch(() => this.#wans.delete(point.id));
    }
    return wan;
  }

  async #startWan(point: AccessPointConfig): Promise<WanPort> {
    const stack = new Stack([
      NODELAY,
      {
        driver: "gsa1",
        options: { role: "challenger" },
        attrs: {
          secrets: (tunnelId: string, secretId: string | null) =>
            this.#wanSecret(point.id, tunnelId, secretId),
          timeoutMs: this.#handshakeMs,
        },
      },
    ], { timeouts: { open: 3 * this.#handshakeMs + 1000 } });
    const server = await stack.listen(formatContact({ host: point.lanHost, port: 0 }));
    const wan: WanPort = {
      server,
      contact: server.address,
      tasks: new Set(),
      loop: Promise.resolve(),
    };
    wan.loop = this.#acceptLoop(server, () => this.#closed, (accepted) => {
      const task = this.#wanStream(point, accepted).catch((error) =>
        this.#line(point, `wan task failed: ${oneLine(error)}`)
      );
      wan.tasks.add(task);
      task.finally(() => wan.tasks.delete(task));
    });
    // Show the WAN port as the access point's tlsftp_server, unless the config set one.
    const configured = this.#host.config.accessPoints.find((p) => p.id === point.id);
    if (configured && configured.tlsftpServer === null) {
      configured.tlsftpServer = `tlsftp://${wan.contact}`;
      this.#restore.push(() => configured.tlsftpServer = null);
    }
    return wan;
  }

  #wanSecret(pointId: string, tunnelId: string, secretId: string | null): SecretAnswer {
    const carrier = this.#tunnels.get(tunnelId);
    if (!carrier || carrier.closed) return undefined;
    if (carrier.snapshot.listenerAccessPoint.id !== pointId) return undefined;
    if (secretId !== this.#wanKeyId) return { refuse: "refused" };
    return { secret: this.#wanKey };
  }

  async #wanStream(point: AccessPointConfig, accepted: Accepted): Promise<void> {
    let wan: Handle;
    try {
      wan = await accepted.open();
    } catch (error) {
      if (!this.#closed) {
        this.#line(point, `wan: refused "${accepted.contact}": ${failureReason(error)}`);
      }
      return;
    }
    const carrier = this.#tunnels.get(String(wan.info.gsa1?.tunnel));
    if (!carrier || carrier.closed) {
      await wan.close().catch(() => {});
      return;
    }
    carrier.track(this.#listenerStream(carrier, wan), (text) => this.#line(point, text));
  }

  async #listenerStream(carrier: Carrier, wan: Handle): Promise<void> {
    const run = new StreamRun(0);
    carrier.streams.add(run);
    run.addLeg("wan", wan, true);
    run.step("wan gsa1 ok");
    const point = carrier.snapshot.listenerAccessPoint;
    const address = String(wan.info.tcp?.remote);
    const pair = this.#pair(address);
    try {
      const app = await this.#openListener(carrier, run);
      if (!app) return;
      try {
        await relay(wan, app, this.#relayBuffers(point));
      } catch (error) {
        run.fail(oneLine(error));
      }
    } finally {
      await run.close();
      carrier.streams.delete(run);
      // A failure here ends the initiating end at once (both access points are in this
      // process), so its app is not left half-open on a stream that cannot go on.
      if (run.failure !== undefined && !carrier.closed) {
        pair.failure = `the listening access point failed: ${run.failure}`;
        pair.initiator?.fail(pair.failure);
        await pair.initiator?.close();
      }
      run.number = pair.number ?? run.number;
      this.#unpair(address);
      this.#logStream(point, carrier.id, run);
    }
  }

  /** Leg 3: connects to the listener contact (GSA1 as responder when required). */
  async #openListener(carrier: Carrier, run: StreamRun): Promise<Handle | undefined> {
    const tunnel = this.#host.tunnel(carrier.id) ?? carrier.snapshot;
    const point = tunnel.listenerAccessPoint;
    const fail = (code: string, where: string, reason: string, details: string) => {
      run.fail(`leg3 ${reason}`);
      this.#host.addTunnelEvent(carrier.id, {
        code,
        isError: true,
        description: `Leg 3 (listening access point -> listener ${where}): ${reason}`,
        details,
      });
    };
    if (tunnel.listenerIpAddress === null || tunnel.listenerPort === null) {
      fail("LISTENER_UNREACHABLE", "(none)", "the tunnel has no listener contact", "");
      return undefined;
    }
    const contact = formatContact({ host: tunnel.listenerIpAddress, port: tunnel.listenerPort });
    let secret: IssuedLanSecret | undefined;
    if (this.#requiresSecret(point.id, tunnel.listenerGateway.lanSecretRequired)) {
      const secrets = this.#host.lanSecretsFor(carrier.id, point.id);
      this.#remember(secrets);
      secret = secrets.at(-1);
      if (!secret) {
        const reason = "no unexpired LAN secret was issued for the listening access point";
        fail("LAN_AUTH_FAILED", `"${contact}"`, reason, "");
        return undefined;
      }
    }
    let reached = false;
    const entries: StackEntry[] = [NODELAY];
    if (secret) {
      entries.push({
        driver: reachedDriver,
        attrs: { reached: () => reached = true } as ReachedAttrs,
      }, {
        driver: "gsa1",
        options: { role: "responder", tunnel: carrier.id },
        attrs: { secret: secret.secret, secretId: secret.id, timeoutMs: this.#handshakeMs },
      });
    }
    try {
      const app = await new Stack(entries).open(contact, {
        signal: carrier.abort.signal,
        timeoutMs: this.#connectMs + 3 * this.#handshakeMs,
      });
      run.addLeg("leg3", app, false);
      run.step(`listener "${contact}" ${secret ? "gsa1 ok" : "plain"}`);
      return app;
    } catch (error) {
      if (carrier.closed) return undefined;
      const reason = failureReason(error);
      if (secret && reached) {
        fail(
          "LAN_AUTH_FAILED",
          `"${contact}"`,
          `the GSA1 handshake failed: ${reason}`,
          oneLine(error),
        );
      } else {
        fail("LISTENER_UNREACHABLE", `"${contact}"`, `cannot connect: ${reason}`, oneLine(error));
      }
      return undefined;
    }
  }

  // --- shared ---------------------------------------------------------------------

  /** An access point's relay buffers: the fixed size asked for, else adaptive with its own budget. */
  #relayBuffers(point: AccessPointConfig): RelayOptions {
    if (this.#bufferSize !== undefined) return { bufferSize: this.#bufferSize };
    let buffers = this.#buffers.get(point.id);
    if (!buffers) {
      buffers = { adaptive: adaptiveBuffers() };
      this.#buffers.set(point.id, buffers);
    }
    return buffers;
  }

  /** Accepts until the server closes, handing each connection on without waiting. */
  async #acceptLoop(
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
        await delay(ACCEPT_RETRY_MS);
        continue;
      }
      take(accepted);
    }
  }

  #pair(address: string): WanPair {
    let pair = this.#pairs.get(address);
    if (!pair) {
      pair = { ends: 2 };
      this.#pairs.set(address, pair);
    }
    return pair;
  }

  #unpair(address: string): void {
    const pair = this.#pairs.get(address);
    if (pair && --pair.ends <= 0) this.#pairs.delete(address);
  }

  #line(point: AccessPointConfig, text: string): void {
    this.#log?.(`[ap ${pointLabel(point)}] ${text}`);
  }

  #logStream(point: AccessPointConfig, tunnelId: string, run: StreamRun): void {
    if (this.#log) this.#line(point, `tunnel ${shortId(tunnelId)}: ${run.summary()}`);
  }
}

/**
 * The data plane whose access points carry real traffic (see docs/data-plane.md): a
 * LAN port per tunnel on the initiating access point, a WAN port per listening access
 * point, GSA1 on each LAN leg whose gateway requires LAN secrets, and GSA1 keyed by a
 * per-emulator WAN key between the access points.
 *
 * @example
 * ```ts
 * const emulator = await startEmulator(config, {
 *   plane: streamsDataPlaneWith({ log: (line) => console.error(line) }),
 * });
 * ```
 */
export function streamsDataPlane(
  host: PlaneHost,
  options: StreamsDataPlaneOptions = {},
): AccessPointPlane {
  return new StreamsPlane(host, options);
}

/** A factory for startEmulator's `plane`, with options (logging, timeouts). */
export function streamsDataPlaneWith(options: StreamsDataPlaneOptions): AccessPointPlaneFactory {
  return (host) => streamsDataPlane(host, options);
}
