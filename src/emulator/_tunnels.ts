// The tunnels of the emulated Transfer service and their lifecycle:
// UNINITIALIZED/AWAITING_LISTENER -> ACTIVE (the data plane gives the initiator
// contact) -> STOPPING -> STOPPED, or STOPPED when the lifetime runs out.
import type { AccessPointConfig, EmulatorConfig, GatewayConfig } from "./_config.ts";
import type { AccessPointPlane, PlaneEvent, PlaneTunnel } from "./_plane.ts";
import { formatContact } from "../contact/mod.ts";
import type { TunnelState } from "../globus/mod.ts";
import { serviceTime } from "./_respond.ts";

/** Status texts: the first two are the real service's, the rest this project's. */
export const STATUS = {
  awaiting: "The tunnel is waiting for listening contact detail setup.",
  stopping: "A request to stop tunnel has been received.",
  starting: "The tunnel is starting.",
  active: "The tunnel is active.",
  stopped: "The tunnel is stopped.",
  expired: "The tunnel reached the end of its lifetime.",
  failed: "The tunnel failed to start.",
} as const;

/** Events the real service records, with its codes, descriptions and details. */
const EVENTS = {
  started: { code: "STARTED", description: "started", details: "Attempting tunnel establishment" },
  active: {
    code: "TUNNEL_ACTIVE",
    description: "tunnel is active",
    details: "Tunnel has been established",
  },
  stopped: {
    code: "TUNNEL_STOPPED",
    description: "tunnel has been stopped",
    details: "Tunnel stopped as requested.",
  },
} as const;

/** The real service numbers events across all tunnels; ids start here (as if it had run). */
const FIRST_EVENT_ID = 1001;

export interface TunnelEventRecord {
  id: number;
  code: string;
  isError: boolean;
  description: string;
  details: string;
  time: string;
}

export interface TunnelRecord {
  id: string;
  ownerId: string;
  submissionId: string;
  label: string | null;
  lifetimeMins: number;
  restartable: boolean;
  listenerIpAddress: string | null;
  listenerPort: number | null;
  initiatorIpAddress: string | null;
  initiatorPort: number | null;
  createdMs: number;
  /** Creation order (ms timestamps tie). */
  sequence: number;
  createdTime: string;
  state: TunnelState;
  status: string;
  initiatorAccessPointId: string;
  listenerAccessPointId: string;
  events: TunnelEventRecord[];
  /** idle: never given to the plane; pending: being opened; open: the plane carries it. */
  plane: "idle" | "pending" | "open";
  timers: Set<ReturnType<typeof setTimeout>>;
  deleted: boolean;
}

export interface NewTunnel {
  ownerId: string;
  submissionId: string;
  label: string | null;
  lifetimeMins: number;
  restartable: boolean;
  listenerIpAddress: string | null;
  listenerPort: number | null;
  initiatorAccessPointId: string;
  listenerAccessPointId: string;
}

export interface TunnelChanges {
  label?: string | null;
  listenerIpAddress?: string | null;
  listenerPort?: number | null;
  state?: "STOPPING";
}

/** A refusal the HTTP layer turns into a JSON:API error. */
export interface Refusal {
  status: number;
  code: string;
  detail: string;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether a tunnel is stopping or stopped (a function, so TypeScript re-reads the state). */
function isOver(record: TunnelRecord): boolean {
  return record.state === "STOPPING" || record.state === "STOPPED";
}

export class TunnelBook {
  #config: EmulatorConfig;
  #gatewayOf: (accessPointId: string) => GatewayConfig | undefined;
  #plane: AccessPointPlane | undefined;
  #tunnels = new Map<string, TunnelRecord>();
  #bySubmission = new Map<string, TunnelRecord>();
  #closed = false;
  #sequence = 0;
  #nextEventId = FIRST_EVENT_ID;

  constructor(
    config: EmulatorConfig,
    gatewayOf: (accessPointId: string) => GatewayConfig | undefined,
  ) {
    this.#config = config;
    this.#gatewayOf = gatewayOf;
  }

  set plane(plane: AccessPointPlane) {
    this.#plane = plane;
  }

  accessPoint(id: string): AccessPointConfig | undefined {
    return this.#config.accessPoints.find((p) => p.id === id);
  }

  /** Any tunnel, whoever owns it (the data plane and GCS use this). */
  find(id: string): TunnelRecord | undefined {
    const record = this.#tunnels.get(id.toLowerCase());
    return record && !record.deleted ? record : undefined;
  }

  /** A tunnel as its owner sees it; undefined for anyone else. */
  get(ownerId: string, id: string): TunnelRecord | undefined {
    const record = this.find(id);
    return record && record.ownerId === ownerId ? record : undefined;
  }

  list(ownerId: string): TunnelRecord[] {
    return [...this.#tunnels.values()]
      .filter((t) => t.ownerId === ownerId && !t.deleted)
      .sort((a, b) => a.sequence - b.sequence);
  }

  all(): TunnelRecord[] {
    return [...this.#tunnels.values()].filter((t) => !t.deleted);
  }

  /** Creates a tunnel, or returns the one made earlier with the same submission id. */
  async create(input: NewTunnel): Promise<{ record: TunnelRecord; created: boolean }> {
    const key = `${input.ownerId}/${input.submissionId.toLowerCase()}`;
    const earlier = this.#bySubmission.get(key);
    if (earlier && !earlier.deleted) return { record: earlier, created: false };
    const now = Date.now();
    const record: TunnelRecord = {
      ...input,
      id: crypto.randomUUID(),
      initiatorIpAddress: null,
      initiatorPort: null,
      createdMs: now,
      sequence: ++this.#sequence,
      createdTime: serviceTime(),
      state: "UNINITIALIZED",
      status: STATUS.starting,
      events: [],
      plane: "idle",
      timers: new Set(),
      deleted: false,
    };
    this.#tunnels.set(record.id, record);
    this.#bySubmission.set(key, record);
    this.addEvent(record, { ...EVENTS.started, isError: false });
    if (!this.#hasListener(record)) {
      record.state = "AWAITING_LISTENER";
      record.status = STATUS.awaiting;
    }
    const lifetimeMs = Math.min(record.lifetimeMins * this.#config.minuteMs, MAX_TIMER_MS);
    this.#after(record, lifetimeMs, () => this.#finish(record, STATUS.expired, "expired"));
    await this.#maybeOpen(record);
    return { record, created: true };
  }

  /** Applies a PATCH; a Refusal when the state does not allow it. */
  async update(record: TunnelRecord, changes: TunnelChanges): Promise<Refusal | undefined> {
    const touchesListener = changes.listenerIpAddress !== undefined ||
      changes.listenerPort !== undefined;
    if (touchesListener && (record.state === "STOPPING" || record.state === "STOPPED")) {
      return {
        status: 409,
        code: "Conflict",
        detail: `Tunnel ${record.id} is ${record.state}: its listener contact can no longer change`,
      };
    }
    const refused = this.#listenerChangeRefusal(record, changes);
    if (refused) return refused;
    if (changes.label !== undefined) record.label = changes.label;
    if (changes.listenerIpAddress !== undefined) {
      record.listenerIpAddress = changes.listenerIpAddress;
    }
    if (changes.listenerPort !== undefined) record.listenerPort = changes.listenerPort;
    if (changes.state === "STOPPING") {
      this.#stop(record);
      return undefined;
    }
    if (touchesListener) {
      // An open tunnel has its listener contact for good (refused above if it changes),
      // so the plane never needs to hear of a new one.
      if (!this.#hasListener(record) && record.state === "UNINITIALIZED") {
        record.state = "AWAITING_LISTENER";
        record.status = STATUS.awaiting;
      }
      await this.#maybeOpen(record);
    }
    return undefined;
  }

  /** Deletes a STOPPED tunnel; a Refusal otherwise. */
  remove(record: TunnelRecord): Refusal | undefined {
    if (record.state !== "STOPPED") {
      return {
        status: 409,
        code: "Conflict",
        detail:
          `Tunnel ${record.id} is ${record.state}: a tunnel must be STOPPED before it can be deleted`,
      };
    }
    record.deleted = true;
    for (const timer of record.timers) clearTimeout(timer);
    record.timers.clear();
    this.#tunnels.delete(record.id);
    return undefined;
  }

  addEvent(record: TunnelRecord, event: PlaneEvent): void {
    record.events.push({
      id: this.#nextEventId++,
      code: event.code,
      isError: event.isError,
      description: event.description,
      details: event.details ?? "",
      time: serviceTime(),
    });
  }

  snapshot(record: TunnelRecord): PlaneTunnel {
    const initiator = this.accessPoint(record.initiatorAccessPointId)!;
    const listener = this.accessPoint(record.listenerAccessPointId)!;
    return {
      id: record.id,
      ownerId: record.ownerId,
      state: record.state,
      initiatorAccessPoint: initiator,
      listenerAccessPoint: listener,
      initiatorGateway: this.#gatewayOf(initiator.id)!,
      listenerGateway: this.#gatewayOf(listener.id)!,
      listenerIpAddress: record.listenerIpAddress,
      listenerPort: record.listenerPort,
      initiatorIpAddress: record.initiatorIpAddress,
      initiatorPort: record.initiatorPort,
    };
  }

  /** Stops every timer and the plane; the emulator is going away. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const record of this.#tunnels.values()) {
      for (const timer of record.timers) clearTimeout(timer);
      record.timers.clear();
    }
    await this.#plane?.close();
  }

  /**
   * A listener contact is set once (the Globus guide: to listen elsewhere, make a new
   * tunnel); sending the same one again is not a change and passes.
   */
  #listenerChangeRefusal(record: TunnelRecord, changes: TunnelChanges): Refusal | undefined {
    if (!this.#hasListener(record)) return undefined;
    const host = changes.listenerIpAddress;
    const port = changes.listenerPort;
    const changesHost = host !== undefined && host !== record.listenerIpAddress;
    const changesPort = port !== undefined && port !== record.listenerPort;
    if (!changesHost && !changesPort) return undefined;
    const current = formatContact({ host: record.listenerIpAddress!, port: record.listenerPort! });
    return {
      status: 409,
      code: "Conflict",
      detail: `Tunnel ${record.id} already has listener contact ${current}: ` +
        `a listener contact is set once (create a new tunnel to listen elsewhere)`,
    };
  }

  #hasListener(record: TunnelRecord): boolean {
    return record.listenerIpAddress !== null && record.listenerPort !== null;
  }

  #after(record: TunnelRecord, ms: number, action: () => Promise<void> | void): void {
    const timer = setTimeout(() => {
      record.timers.delete(timer);
      if (!this.#closed) void action();
    }, ms);
    record.timers.add(timer);
  }

  async #maybeOpen(record: TunnelRecord): Promise<void> {
    if (!this.#hasListener(record) || record.plane !== "idle") return;
    if (record.state !== "UNINITIALIZED" && record.state !== "AWAITING_LISTENER") return;
    record.plane = "pending";
    record.status = STATUS.starting;
    const delay = this.#config.activationDelayMs;
    // Without a delay the answer to the request that set the listener already says ACTIVE.
    if (delay === 0) await this.#open(record);
    else this.#after(record, delay, () => this.#open(record));
  }

  async #open(record: TunnelRecord): Promise<void> {
    if (this.#closed || isOver(record)) return;
    if (!this.#plane) return;
    let contact;
    try {
      contact = await this.#plane.openTunnel(this.snapshot(record));
    } catch (error) {
      record.plane = "open"; // whatever it opened must be closed
      this.addEvent(record, {
        code: "TUNNEL_ERROR",
        description: "The access point could not start the tunnel",
        details: error instanceof Error ? error.message : String(error),
        isError: true,
      });
      await this.#finish(record, STATUS.failed, "failed");
      return;
    }
    record.plane = "open";
    if (record.deleted || isOver(record)) {
      await this.#plane.closeTunnel(record.id);
      return;
    }
    record.initiatorIpAddress = contact.host;
    record.initiatorPort = contact.port;
    record.state = "ACTIVE";
    record.status = STATUS.active;
    this.addEvent(record, { ...EVENTS.active, isError: false });
  }

  #stop(record: TunnelRecord): void {
    if (record.state === "STOPPING" || record.state === "STOPPED") return;
    record.state = "STOPPING";
    record.status = STATUS.stopping;
    this.#after(
      record,
      this.#config.stopDelayMs,
      () => this.#finish(record, STATUS.stopped, "stopped"),
    );
  }

  async #finish(record: TunnelRecord, status: string, why: string): Promise<void> {
    if (record.state === "STOPPED") return;
    for (const timer of record.timers) clearTimeout(timer);
    record.timers.clear();
    if (record.plane !== "idle") {
      try {
        await this.#plane?.closeTunnel(record.id);
      } catch {
        // the plane cleans up what it can; the tunnel is stopped either way
      }
    }
    record.state = "STOPPED";
    record.status = status;
    // "stopped" is the real service's text; expiry and failure texts are this project's.
    const details = why === "expired"
      ? `Tunnel stopped at the end of its lifetime (${record.lifetimeMins} minutes).`
      : why === "failed"
      ? "Tunnel stopped because it failed to start."
      : EVENTS.stopped.details;
    this.addEvent(record, { ...EVENTS.stopped, details, isError: why === "failed" });
  }
}
