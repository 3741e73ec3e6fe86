// `environment initialize` as a plain function: set the listener contact (listening
// side), wait for ACTIVE (initiating side), ask the endpoint for a LAN secret, and
// write the conf file once, under its lock. The CLI parses and prints around it.
import { type Conf, ConfError, ConfStore, type ConfValues, type Side } from "../conf/mod.ts";
import type { LanSecret, Tunnel } from "../globus/mod.ts";
import { oneLine } from "../quote/mod.ts";
import { sleep } from "../timer/mod.ts";
import { loadGlobus, tunnelValues } from "./_contact.ts";
import type { ServiceDeps } from "./_deps.ts";
import { EnvironmentError } from "./_error.ts";

/** How long a looked-up contact stays fresh unless `--cs-ttl` says otherwise. */
export const DEFAULT_CONTACT_TTL_SECONDS = 10;
/** How long the initiating side waits for ACTIVE unless `--wait-timeout` says otherwise. */
export const DEFAULT_WAIT_SECONDS = 600;
const pollMs = 1000;

/** What to initialize; the CLI's options, checked. */
export interface InitializeOptions {
  tunnelId: string;
  /** The endpoint to ask for a LAN secret; default the access point's host endpoint. */
  endpointId?: string;
  /** Listening side: the listener contact to set on the tunnel (an IP address and port). */
  listenerContact?: { host: string; port: number };
  side: Side;
  contactTtlSeconds: number;
  /** Initiating side: wait for ACTIVE instead of failing at once. */
  wait: boolean;
  waitSeconds: number;
  /** Replace an existing (even unreadable) conf file, keeping its fake port. */
  force: boolean;
}

/** What initialize tells its caller along the way. */
export interface InitializeEvents {
  /** The conf directory is fine and no conf file is in the way: the services come next. */
  started?(): void;
  /** Initiating side, once per poll while the tunnel is not ACTIVE. */
  waiting?(tunnel: Tunnel, elapsedMs: number): void;
  /** The endpoint refused a LAN secret: the legs are plain TCP (why, on one line). */
  unsecured?(reason: string): void;
}

/** What initialize wrote. */
export interface Initialized {
  store: ConfStore;
  values: ConfValues;
  /** Initiating side: `globus.<id>:<fake port>`, what the user's client dials. */
  contactString: string | null;
  secured: boolean;
  /**
   * Initiating side, tunnel not ACTIVE yet (without --wait): its state. The conf file
   * has no connector contact; contact-lookup fetches it once the tunnel is ACTIVE.
   */
  pendingState?: string;
}

async function globusClients(deps: ServiceDeps) {
  const globus = await loadGlobus();
  const options = { env: deps.env, fetch: deps.fetch, now: deps.now };
  const authorizer = new globus.Authorizer(options);
  return {
    globus,
    authorizer,
    transfer: new globus.TransferClient({ ...options, authorizer }),
    options,
  };
}
type Clients = Awaited<ReturnType<typeof globusClients>>;

function randomFakePort(): number {
  const [value] = crypto.getRandomValues(new Uint32Array(1));
  return 1000 + (value % 4001);
}

/** A stopping or stopped tunnel will not become ACTIVE again: an error. */
function refuseEnded(tunnel: Tunnel): void {
  if (tunnel.state === "STOPPING" || tunnel.state === "STOPPED") {
    throw new EnvironmentError(
      "failure",
      `Tunnel ${tunnel.id} is not ACTIVE: state ${tunnel.state}, it will not start again ` +
        `(create a new one with 'globus-streams tunnel create')`,
    );
  }
}

/** Polls until the tunnel is ACTIVE; a stopped tunnel or the timeout is an error. */
async function waitUntilActive(
  clients: Clients,
  first: Tunnel,
  deps: ServiceDeps & { signal: AbortSignal },
  options: { timeoutSeconds: number; waiting?: InitializeEvents["waiting"] },
): Promise<Tunnel> {
  const started = deps.now();
  let tunnel = first;
  while (tunnel.state !== "ACTIVE") {
    refuseEnded(tunnel);
    const elapsed = deps.now() - started;
    if (elapsed >= options.timeoutSeconds * 1000) {
      throw new EnvironmentError(
        "failure",
        `Timed out after ${options.timeoutSeconds} s waiting for tunnel ${tunnel.id} to ` +
          `become ACTIVE: state ${tunnel.state} (is the listening side initialized?)`,
      );
    }
    options.waiting?.(tunnel, elapsed);
    await sleep(pollMs, deps.signal);
    tunnel = await clients.transfer.getTunnel(tunnel.id);
  }
  return tunnel;
}

/** Creates a LAN secret, or returns why the service refused one. */
async function createLanSecret(
  clients: Clients,
  request: { endpointId: string; tunnelId: string; accessPointId: string },
): Promise<LanSecret | { refused: string }> {
  try {
    const url = await clients.transfer.gcsManagerUrl(request.endpointId);
    const gcs = new clients.globus.GcsClient(url, request.endpointId, {
      ...clients.options,
      authorizer: clients.authorizer,
    });
    return await gcs.createLanSecret({
      tunnelId: request.tunnelId,
      streamAccessPointId: request.accessPointId,
    });
  } catch (error) {
    if (!(error instanceof Error) || error.name !== "GlobusApiError") throw error;
    return { refused: oneLine(error) };
  }
}

/** An existing conf, or undefined; with force an unreadable one counts as absent. */
async function existingConf(
  store: ConfStore,
  tunnelId: string,
  force: boolean,
): Promise<Conf | undefined> {
  try {
    return await store.read(tunnelId);
  } catch (error) {
    if (force && error instanceof ConfError && error.path === store.path(tunnelId)) {
      return undefined;
    }
    throw error;
  }
}

function alreadyInitialized(store: ConfStore, tunnelId: string): ConfError {
  return new ConfError(
    `Conf file "${store.path(tunnelId)}" already exists: run 'globus-streams environment ` +
      `update ${tunnelId}' to refresh it, or pass --force to replace it`,
    { path: store.path(tunnelId) },
  );
}

/**
 * Initializes the environment of one tunnel on this host and writes its conf file.
 *
 * @example
 * ```ts
 * const done = await initializeEnvironment(
 *   { tunnelId, side: "initiating", contactTtlSeconds: 10, wait: true, waitSeconds: 600, force: false },
 *   { ...deps, signal },
 * );
 * console.log(done.contactString); // "globus.<tunnel id>:<port>"
 * ```
 */
export async function initializeEnvironment(
  options: InitializeOptions,
  deps: ServiceDeps & { signal: AbortSignal; events?: InitializeEvents },
): Promise<Initialized> {
  const { tunnelId, side, force } = options;
  const events = deps.events ?? {};
  const store = ConfStore.fromEnv(deps.env);
  await store.ensureDir();
  const previous = await existingConf(store, tunnelId, force);
  if (previous && !force) throw alreadyInitialized(store, tunnelId);
  events.started?.();

  const clients = await globusClients(deps);
  let tunnel = await clients.transfer.getTunnel(tunnelId);
  const contact = options.listenerContact;
  if (contact) {
    tunnel = await clients.transfer.updateTunnel(tunnelId, {
      listenerIpAddress: contact.host,
      listenerPort: contact.port,
    });
  }
  if (side === "initiating" && tunnel.state !== "ACTIVE") {
    // Not ACTIVE yet: without --wait the conf file is written now, without a connector
    // contact (the Globus guide's order); contact-lookup fetches it once ACTIVE.
    if (options.wait) {
      tunnel = await waitUntilActive(clients, tunnel, deps, {
        timeoutSeconds: options.waitSeconds,
        waiting: events.waiting,
      });
    } else {
      refuseEnded(tunnel);
    }
  }
  const accessPointId = side === "listening"
    ? tunnel.listenerAccessPointId
    : tunnel.initiatorAccessPointId;
  const endpointId = options.endpointId ??
    (await clients.transfer.getAccessPoint(accessPointId)).hostEndpointId;
  const made = await createLanSecret(clients, { endpointId, tunnelId, accessPointId });
  const secret = "refused" in made ? undefined : made;
  if ("refused" in made) events.unsecured?.(made.refused);

  const values: ConfValues = {
    lankey: secret?.secret,
    lankeyId: secret?.id,
    updateTime: 0,
    connectorContactStringTtl: options.contactTtlSeconds,
    endpointId,
    fakePort: previous?.values.fakePort ?? randomFakePort(),
    ...tunnelValues(tunnel, deps.now()),
    tunnelId,
    side,
  };
  await store.withLock(tunnelId, async () => {
    // Someone may have initialized it meanwhile; re-check under the lock.
    if (!force && await existingConf(store, tunnelId, false)) {
      throw alreadyInitialized(store, tunnelId);
    }
    await store.write(tunnelId, { values, lines: previous?.lines ?? [] });
  });
  const initiating = side === "initiating";
  // The contact string names the fake port only, so it is known before the tunnel is ACTIVE.
  const contactString = initiating ? `globus.${tunnelId}:${values.fakePort}` : null;
  const pendingState = initiating && values.connectorContactString === undefined
    ? tunnel.state
    : undefined;
  return { store, values, contactString, secured: secret !== undefined, pendingState };
}
