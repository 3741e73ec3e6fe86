/**
 * The emulator's data plane: access points that carry real traffic, built from xio
 * stacks. One stream is three TCP connections (globus-facts.md, "The three legs"):
 *   leg 1  app -> initiating access point: a per-tunnel LAN port; GSA1 with the app as
 *          responder when the initiating gateway requires LAN secrets.
 *   leg 2  initiating -> listening access point, the WAN leg. This project's own design
 *          (docs/data-plane.md): one TCP connection per stream to the listening access
 *          point's WAN port, authenticated with GSA1 keyed by a random per-emulator WAN
 *          key (listening point = challenger, initiating point = responder, tunnel id =
 *          the tunnel), so the listening point knows the stream's tunnel and that a
 *          peer access point opened it. Not TLS: nothing leaves loopback.
 *   leg 3  listening access point -> the tunnel's listener contact; GSA1 with the
 *          access point as responder when the listening gateway requires LAN secrets.
 * Then two relays (xio relay: back-pressure, ordered half-close, adaptive buffers) move
 * the bytes. When any leg fails the others are closed, so the apps see EOF, never a hang.
 *
 * The parts, one file each: _initiator.ts (leg 1 and the initiating end of leg 2),
 * _wan.ts (the WAN ports and key), _listener.ts (leg 3), sharing _context.ts and one
 * _carrier.ts per open tunnel; _drivers.ts holds the two small xio transforms the stacks
 * use and _stream.ts one stream's legs, counts and log line.
 *
 * @example
 * ```ts
 * import { streamsDataPlaneWith } from "./data_plane/mod.ts";
 * const emulator = await startEmulator(config, {
 *   plane: streamsDataPlaneWith({ log: (line) => console.error(line) }),
 * });
 * ```
 * @module
 */
import type { Contact } from "../../contact/mod.ts";
import { settleWithin } from "../../timer/mod.ts";
import type {
  AccessPointPlane,
  AccessPointPlaneFactory,
  PlaneHost,
  PlaneTunnel,
} from "../_plane.ts";
import { CLOSE_WAIT_MS, PlaneContext, type StreamsDataPlaneOptions } from "./_context.ts";
import { InitiatorPoint } from "./_initiator.ts";
import { ListenerPoint } from "./_listener.ts";
import { WanPairs, WanPorts } from "./_wan.ts";

export type { StreamsDataPlaneOptions } from "./_context.ts";

/**
 * The plane as the control plane drives it: the initiating part opens tunnels, the WAN
 * part hands each authenticated WAN connection to the listening part, and closing stops
 * every stream at both access points.
 */
class StreamsPlane implements AccessPointPlane {
  readonly #context: PlaneContext;
  readonly #pairs = new WanPairs();
  readonly #wan: WanPorts;
  readonly #initiator: InitiatorPoint;

  constructor(host: PlaneHost, options: StreamsDataPlaneOptions) {
    this.#context = new PlaneContext(host, options);
    const listener = new ListenerPoint(this.#context, this.#pairs);
    this.#wan = new WanPorts(this.#context, (carrier, wan) => listener.stream(carrier, wan));
    this.#initiator = new InitiatorPoint(this.#context, this.#wan, this.#pairs);
  }

  openTunnel(tunnel: PlaneTunnel): Promise<Contact> {
    return this.#initiator.open(tunnel);
  }

  updateTunnel(tunnel: PlaneTunnel): void {
    const carrier = this.#context.tunnels.get(tunnel.id);
    if (carrier) carrier.snapshot = tunnel;
  }

  async closeTunnel(tunnelId: string): Promise<void> {
    const tunnels = this.#context.tunnels;
    const carrier = tunnels.get(tunnelId.toLowerCase());
    if (!carrier) return;
    tunnels.delete(carrier.id);
    carrier.closed = true;
    carrier.abort.abort();
    await carrier.lan.close().catch(() => {});
    for (const run of carrier.streams) run.fail("the tunnel was stopped");
    await Promise.all([...carrier.streams].map((run) => run.close()));
    await settleWithin([carrier.loop, ...carrier.tasks], CLOSE_WAIT_MS);
  }

  async close(): Promise<void> {
    this.#context.closed = true;
    await Promise.all([...this.#context.tunnels.keys()].map((id) => this.closeTunnel(id)));
    await this.#wan.close();
    this.#pairs.clear();
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
