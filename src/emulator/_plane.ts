// The seam between the emulator's control plane (the HTTP APIs, in this folder) and
// its data plane (access points carrying real traffic). The control plane calls an
// AccessPointPlane when a tunnel starts and stops; the plane reads the current state
// through PlaneHost. The default plane below only binds a real, unique LAN port per
// active tunnel and closes what connects; the real data plane replaces it.
import type { Contact } from "../contact/mod.ts";
import type { AccessPointConfig, EmulatorConfig, GatewayConfig } from "./_config.ts";
import type { TunnelState } from "../globus/mod.ts";

/** What the data plane needs to know of a tunnel, as of the moment it asks. */
export interface PlaneTunnel {
  id: string;
  ownerId: string;
  state: TunnelState;
  initiatorAccessPoint: AccessPointConfig;
  listenerAccessPoint: AccessPointConfig;
  /** The gateways of the two access points, as they are now (PATCH can change them). */
  initiatorGateway: GatewayConfig;
  listenerGateway: GatewayConfig;
  listenerIpAddress: string | null;
  listenerPort: number | null;
  /** Set once the tunnel is ACTIVE. */
  initiatorIpAddress: string | null;
  initiatorPort: number | null;
}

/** A LAN secret the emulated GCS issued and has not deleted. */
export interface IssuedLanSecret {
  id: string;
  secret: string;
  /** ms since the epoch. */
  expiresMs: number;
  tunnelId: string;
  streamAccessPointId: string;
  identityId: string;
}

/** An event the data plane adds to a tunnel (e.g. a failed handshake). */
export interface PlaneEvent {
  code: string;
  description: string;
  details?: string;
  isError: boolean;
}

/** The control plane, as the data plane sees it. */
export interface PlaneHost {
  readonly config: EmulatorConfig;
  /** The tunnel now; undefined once deleted. */
  tunnel(tunnelId: string): PlaneTunnel | undefined;
  /** Unexpired, undeleted LAN secrets issued for this tunnel and access point. */
  lanSecretsFor(tunnelId: string, accessPointId: string): IssuedLanSecret[];
  /** The gateway of an access point as it is now. */
  gatewayOf(accessPointId: string): GatewayConfig | undefined;
  addTunnelEvent(tunnelId: string, event: PlaneEvent): void;
}

/** The data plane, as the control plane drives it. */
export interface AccessPointPlane {
  /**
   * Starts carrying a tunnel that just got its listener contact; returns the
   * initiating access point's LAN contact (initiator_ip_address, initiator_port).
   * A rejection stops the tunnel with an error event.
   */
  openTunnel(tunnel: PlaneTunnel): Promise<Contact>;
  /** The listener contact of an open tunnel changed. */
  updateTunnel(tunnel: PlaneTunnel): void;
  /** Stops carrying a tunnel (stop, expiry, failure). Safe to call twice or for unknown ids. */
  closeTunnel(tunnelId: string): Promise<void>;
  /** The emulator is stopping: close everything. */
  close(): Promise<void>;
}

/** Builds a plane once the host exists. */
export type AccessPointPlaneFactory = (host: PlaneHost) => AccessPointPlane;

/**
 * The stand-in data plane: one real TCP listener per open tunnel on the initiating
 * access point's lan_host (so the contact is real and unique), closing every
 * connection it accepts.
 */
export function closingListenerPlane(_host: PlaneHost): AccessPointPlane {
  const listeners = new Map<string, { listener: Deno.Listener; done: Promise<void> }>();
  async function acceptAndClose(listener: Deno.Listener): Promise<void> {
    try {
      for await (const conn of listener) {
        try {
          conn.close();
        } catch {
          // already closed by the peer
        }
      }
    } catch {
      // the listener was closed
    }
  }
  async function closeOne(tunnelId: string): Promise<void> {
    const entry = listeners.get(tunnelId);
    if (!entry) return;
    listeners.delete(tunnelId);
    try {
      entry.listener.close();
    } catch {
      // already closed
    }
    await entry.done;
  }
  return {
    openTunnel(tunnel) {
      const existing = listeners.get(tunnel.id);
      const listener = existing?.listener ??
        Deno.listen({ hostname: tunnel.initiatorAccessPoint.lanHost, port: 0 });
      if (!existing) listeners.set(tunnel.id, { listener, done: acceptAndClose(listener) });
      const addr = listener.addr as Deno.NetAddr;
      return Promise.resolve({ host: addr.hostname, port: addr.port });
    },
    updateTunnel() {},
    closeTunnel: closeOne,
    async close() {
      await Promise.all([...listeners.keys()].map(closeOne));
    },
  };
}
