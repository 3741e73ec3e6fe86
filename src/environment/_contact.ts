// The one rule for a tunnel's contact: the stored one while it is fresh, else refreshed
// from Transfer, else (the service cannot answer now) the stored one for a few seconds.
// contact-lookup, connect and forward all ask here, and read the conf file the way every
// command does (a missing one names the command that writes it; one written for the
// other end of the tunnel is refused). The fresh path reads one conf file and touches no
// network and no module beyond src/conf; the Globus client is imported only when the
// stored contact is stale. One file, not several: contact-lookup runs once per preloaded
// process, and each module costs it start-up time (bench/contact_lookup.ts).
import {
  type Conf,
  ConfError,
  ConfStore,
  type ConfValues,
  freshFor,
  type Side,
  withValues,
} from "../conf/mod.ts";
import { formatContact, isIpAddress, parseContact } from "../contact/mod.ts";
import type { GlobusApiError, Tunnel } from "../globus/mod.ts";
import { oneLine, quoteText } from "../quote/mod.ts";
import type { ServiceDeps } from "./_deps.ts";
import { EnvironmentError } from "./_error.ts";

/** The error for a tunnel without a conf file, naming the command that writes one. */
export function missingConf(store: ConfStore, tunnelId: string): ConfError {
  return new ConfError(
    `No conf file for tunnel ${tunnelId} in ${store.dir}: ` +
      `run 'globus-streams environment initialize ${tunnelId}'`,
    { path: store.path(tunnelId) },
  );
}

/** Reads a tunnel's conf file, or throws ConfError when there is none. */
export async function readConf(store: ConfStore, tunnelId: string): Promise<Conf> {
  const conf = await store.read(tunnelId);
  if (!conf) throw missingConf(store, tunnelId);
  return conf;
}

/**
 * Reads a tunnel's conf file for one side: a file written for the other end of the
 * tunnel is a conf problem, said plainly (connect and forward run on the initiating
 * side, expose on the listening side).
 */
export async function readSideConf(store: ConfStore, tunnelId: string, want: Side): Promise<Conf> {
  const conf = await readConf(store, tunnelId);
  const side = conf.values.side;
  if (side === undefined || side === want) return conf;
  const runs = want === "initiating"
    ? "connect and forward run on the initiating side (expose on the listening side)"
    : "expose runs on the listening side (connect and forward on the initiating side)";
  throw new ConfError(
    `Cannot use the conf file of tunnel ${tunnelId} in ${store.dir}: it is for the ${side} side: ${runs}`,
    { path: store.path(tunnelId) },
  );
}

/**
 * The LAN secret the conf file holds now (undefined when it has none): the listening
 * side reads it for every connection, so a re-initialized secret takes effect at once.
 */
export async function storedSecret(
  store: ConfStore,
  tunnelId: string,
): Promise<{ secret: string; secretId?: string } | undefined> {
  const conf = await store.read(tunnelId);
  const { lankey, lankeyId } = conf?.values ?? {};
  return lankey === undefined ? undefined : { secret: lankey, secretId: lankeyId };
}

/** The path of src/globus that loadGlobus imports, for build/'s `deno compile --include`. */
export const GLOBUS_MODULE = "src/globus/mod.ts";

/**
 * src/globus (and zod with it), imported only when a service must be asked, and by a
 * computed specifier: for a literal `import("../globus/mod.ts")` Deno builds that graph
 * as soon as this module loads, which cost contact-lookup's fresh path about 0.5 ms
 * (bench/contact_lookup.ts). build/ passes GLOBUS_MODULE to `deno compile --include`.
 */
export function loadGlobus(): Promise<typeof import("../globus/mod.ts")> {
  return import(new URL("../globus/mod.ts", import.meta.url).href);
}

/** Latest expiration the conf file holds: 12 digits of unix seconds. */
const MAX_CONF_SECONDS = 999_999_999_999;

/**
 * A contact the conf file can hold, or undefined when the tunnel has none yet. The
 * client keeps the service's values as sent (so 'tunnel show' shows them); here the
 * command acts on them, so a value it cannot use is refused in one line.
 */
function contactOf(
  tunnel: Tunnel,
  side: "initiator" | "listener",
): string | undefined {
  const host = side === "initiator" ? tunnel.initiatorIpAddress : tunnel.listenerIpAddress;
  const port = side === "initiator" ? tunnel.initiatorPort : tunnel.listenerPort;
  if (host === null || host === "" || port === null) return undefined;
  const text = formatContact({ host, port });
  const contact = Number.isInteger(port) ? parseContact(text) : undefined;
  // The preload library connects to the initiator contact itself: an address, not a name.
  const usable = contact !== undefined && contact.host === host && contact.port === port &&
    (side === "listener" || isIpAddress(host));
  if (!usable) {
    throw new EnvironmentError(
      "failure",
      `Cannot use tunnel ${tunnel.id}'s ${side} contact ${quoteText(text, 300)}: want ${
        side === "initiator" ? "an IP address" : "an IP address or a host name"
      } and a port 1-65535 ('globus-streams tunnel show ${tunnel.id}' shows it as sent)`,
    );
  }
  return text;
}

/** Unix seconds of an ISO 8601 time; a time without a zone is UTC, as Transfer means it. */
export function isoSeconds(text: string): number {
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned.replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(ms)) {
    throw new EnvironmentError(
      "failure",
      `Cannot read the tunnel's created_time ${quoteText(text, 100)}`,
    );
  }
  return Math.floor(ms / 1000);
}

/** Unix seconds the tunnel expires at, as the conf file holds it. */
function expirationOf(tunnel: Tunnel): number {
  const minutes = tunnel.lifetimeMins;
  // lifetime_mins is minutes: the expiration is created_time plus that many * 60 s.
  const seconds = minutes === null ? NaN : isoSeconds(tunnel.createdTime) + minutes * 60;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_CONF_SECONDS) {
    throw new EnvironmentError(
      "failure",
      `Cannot use tunnel ${tunnel.id}'s lifetime: created_time ${
        quoteText(tunnel.createdTime, 100)
      } and lifetime_mins ${String(minutes)} give no expiration time the conf file can ` +
        `hold ('globus-streams tunnel show ${tunnel.id}' shows them as sent)`,
    );
  }
  return seconds;
}

/** The conf values a tunnel document determines: contacts, expiration, update time. */
export function tunnelValues(tunnel: Tunnel, nowMs: number): Partial<ConfValues> {
  return {
    connectorContactString: contactOf(tunnel, "initiator"),
    listenerContactString: contactOf(tunnel, "listener"),
    updateTime: Math.floor(nowMs / 1000),
    tunnelExpirationTime: expirationOf(tunnel),
  };
}

/**
 * Fetches the tunnel and rewrites its contacts, update time and expiration, keeping
 * everything else (secret, fake port, unknown keys). Runs under the tunnel's lock and
 * re-reads the file first, so with `onlyIfStale` concurrent callers fetch once.
 */
export function refreshConf(
  store: ConfStore,
  tunnelId: string,
  options: { deps: ServiceDeps; onlyIfStale: boolean; onTunnel?: (tunnel: Tunnel) => void },
): Promise<Conf> {
  const { deps } = options;
  return store.withLock(tunnelId, async () => {
    const conf = await readConf(store, tunnelId);
    if (options.onlyIfStale && freshFor(conf.values, deps.now()) > 0) return conf;
    const { TransferClient } = await loadGlobus();
    const client = new TransferClient({ env: deps.env, fetch: deps.fetch, now: deps.now });
    const tunnel = await client.getTunnel(tunnelId);
    options.onTunnel?.(tunnel);
    const next = withValues(conf, tunnelValues(tunnel, deps.now()));
    await store.write(tunnelId, next);
    return next;
  });
}

/** Seconds a stale contact is answered for when the service cannot say a newer one. */
export const STALE_FALLBACK_TTL_SECONDS = 5;

/** The library's default and largest GLOBUS_STREAMS_LOOKUP_TIMEOUT, in ms (native/src/environment.zig). */
const LIBRARY_LOOKUP_TIMEOUT_MS = 15_000;
const LIBRARY_LOOKUP_TIMEOUT_MAX_MS = 600_000;

/**
 * Whether a failed refresh says only that the service cannot answer now (unreachable,
 * too slow, failing, or asking us to slow down), so that the stored contact, valid a
 * moment ago, is the best answer. A 404 (the tunnel is gone), refused credentials or a
 * malformed answer say something definite and stay errors.
 */
export function serviceUnavailable(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== "GlobusApiError") return false;
  const { kind, status } = error as GlobusApiError;
  return kind === "network" || (kind === "api" && (status >= 500 || status === 429));
}

/** A conf to answer with now and for how many whole seconds. */
export interface CurrentConf {
  conf: Conf;
  ttlSeconds: number;
  /** Why the stored contact is used although stale; undefined when it is fresh. */
  fallback?: string;
}

/** Thrown by withDeadline; never leaves this module. */
class DeadlineMarker extends Error {}

/** work, or a DeadlineMarker after ms; work goes on (the process exits soon after). */
async function withDeadline<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return await work;
  work.catch(() => {}); // a late failure has no one to tell
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineMarker()), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The contact to use now, from the conf as read: the stored one while it is fresh;
 * else refreshed from Transfer (once, under the conf lock); and when the service cannot
 * answer (see serviceUnavailable) or not within deadlineMs, the stored one for
 * STALE_FALLBACK_TTL_SECONDS, with the reason. Any other failure is thrown.
 */
export async function currentConf(
  store: ConfStore,
  tunnelId: string,
  stored: Conf,
  options: { deps: ServiceDeps; deadlineMs?: number },
): Promise<CurrentConf> {
  const { deps } = options;
  let conf = stored;
  if (freshFor(conf.values, deps.now()) <= 0) {
    // A conf without a connector contact (initialized before the tunnel was ACTIVE) is
    // never fresh, so every lookup asks until the service gives one.
    let state: string | undefined;
    try {
      conf = await withDeadline(
        refreshConf(store, tunnelId, {
          deps,
          onlyIfStale: true,
          onTunnel: (tunnel) => state = tunnel.state,
        }),
        options.deadlineMs,
      );
    } catch (error) {
      const late = error instanceof DeadlineMarker;
      const reason = late
        ? `the service did not answer within ${Math.round(options.deadlineMs! / 100) / 10} s`
        : oneLine(error);
      if (late && stored.values.connectorContactString === undefined) {
        throw new EnvironmentError("unreachable", `Cannot refresh tunnel ${tunnelId}: ${reason}`);
      }
      if (stored.values.connectorContactString === undefined) throw error;
      if (!late && !serviceUnavailable(error)) throw error;
      return { conf: stored, ttlSeconds: STALE_FALLBACK_TTL_SECONDS, fallback: reason };
    }
    if (conf.values.connectorContactString === undefined && state !== undefined) {
      throw notActiveYet(tunnelId, state);
    }
  }
  // Whole seconds the answer stays fresh; at least 1 so a caller can always cache it.
  return { conf, ttlSeconds: Math.max(1, Math.floor(freshFor(conf.values, deps.now()))) };
}

/**
 * How long contact-lookup may spend refreshing: two thirds of the library's lookup
 * timeout (GLOBUS_STREAMS_LOOKUP_TIMEOUT, which the library's child inherits), so that
 * the stale fallback reaches the library before it gives up on the child.
 */
export function refreshDeadlineMs(env: (name: string) => string | undefined): number {
  const text = env("GLOBUS_STREAMS_LOOKUP_TIMEOUT")?.trim() ?? "";
  const ms = /^\d{1,9}$/.test(text) && Number(text) >= 1 &&
      Number(text) <= LIBRARY_LOOKUP_TIMEOUT_MAX_MS
    ? Number(text)
    : LIBRARY_LOOKUP_TIMEOUT_MS;
  return Math.max(100, Math.floor(ms * 2 / 3));
}

/** The error for a tunnel whose connector contact the service does not give yet. */
function notActiveYet(tunnelId: string, state: string): EnvironmentError {
  return new EnvironmentError(
    "failure",
    `Tunnel ${tunnelId} has no connector contact yet: state ${state}, not ACTIVE ` +
      `(initialize the listening side, or see 'globus-streams tunnel show ${tunnelId}')`,
  );
}

/** The connector contact of a conf, or an EnvironmentError: the service gave none yet. */
export function connectorContact(tunnelId: string, values: ConfValues): string {
  const contact = values.connectorContactString;
  if (contact !== undefined) return contact;
  throw new EnvironmentError(
    "failure",
    `Tunnel ${tunnelId} has no connector contact yet: the service gave none ` +
      `(is the tunnel ACTIVE? see 'globus-streams tunnel show ${tunnelId}')`,
  );
}

/** Where a new stream into the tunnel goes (the helpers' TunnelTarget), and why stale. */
export interface InitiatingTarget {
  target: { tunnelId: string; contact: string; secret?: string; secretId?: string };
  /** Why the stored contact is used although stale (see currentConf). */
  fallback?: string;
}

/**
 * The initiating side's target for a new stream, by the same rule as contact-lookup:
 * the conf file must be the initiating side's, its contact fresh or refreshed or (the
 * service cannot answer) the stored one.
 */
export async function initiatingTarget(
  store: ConfStore,
  tunnelId: string,
  deps: ServiceDeps,
): Promise<InitiatingTarget> {
  const want: Side = "initiating";
  const stored = await readSideConf(store, tunnelId, want);
  const { conf, fallback } = await currentConf(store, tunnelId, stored, { deps });
  const { lankey, lankeyId } = conf.values;
  const contact = connectorContact(tunnelId, conf.values);
  return { target: { tunnelId, contact, secret: lankey, secretId: lankeyId }, fallback };
}

/**
 * The `key=value` lines the preload library reads from `contact-lookup --format preload`
 * (architecture.md, "The contract between the preload library and the binary"): the
 * only answer that carries the LAN secret.
 */
export function preloadLines(
  tunnelId: string,
  values: ConfValues,
  ttlSeconds: number,
): string {
  // The library requires a connector contact: no answer rather than an incomplete one.
  const contact = connectorContact(tunnelId, values);
  const lines = [
    `tunnel_id=${tunnelId}`,
    `connector_contact_string=${contact}`,
    `fake_port=${values.fakePort}`,
  ];
  if (values.lankey !== undefined) {
    lines.push(`lankey=${values.lankey}`);
    if (values.lankeyId !== undefined) lines.push(`lankey_id=${values.lankeyId}`);
  }
  if (values.listenerContactString !== undefined) {
    lines.push(`listener_contact_string=${values.listenerContactString}`);
  }
  lines.push(`ttl_seconds=${ttlSeconds}`);
  return lines.join("\n") + "\n";
}
