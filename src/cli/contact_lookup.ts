// `environment contact-lookup`: the command the preload library runs once per process
// to resolve `globus.<id>`. Its fresh path reads one conf file and prints it, with no
// network and no module beyond src/conf; the Globus client is imported only when the
// stored contact is stale.
import {
  type Command,
  CommandError,
  formatOf,
  formatOption,
  type ParsedArgs,
  UsageError,
} from "./_command.ts";
import type { CliDeps } from "./_deps.ts";
import { ExitCode } from "./mod.ts";
import {
  type Conf,
  ConfError,
  ConfStore,
  type ConfValues,
  freshFor,
  isUuid,
  withValues,
} from "../conf/mod.ts";
import { formatContact, isIpAddress, parseContact } from "../contact/mod.ts";
import { quoteText } from "../quote/mod.ts";
import type { GlobusApiError, Tunnel } from "../globus/mod.ts";

/** The TUNNEL_ID positional (or another id at index), checked and lower-cased. */
export function tunnelIdArg(args: ParsedArgs, index = 0, what = "tunnel id"): string {
  const text = args.positionals[index];
  if (!isUuid(text)) throw new UsageError(`Invalid ${what} "${text}": want a UUID`);
  return text.toLowerCase();
}

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
    throw new CommandError(
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
    throw new CommandError(`Cannot read the tunnel's created_time ${quoteText(text, 100)}`);
  }
  return Math.floor(ms / 1000);
}

/** Unix seconds the tunnel expires at, as the conf file holds it. */
function expirationOf(tunnel: Tunnel): number {
  const minutes = tunnel.lifetimeMins;
  // lifetime_mins is minutes: the expiration is created_time plus that many * 60 s.
  const seconds = minutes === null ? NaN : isoSeconds(tunnel.createdTime) + minutes * 60;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_CONF_SECONDS) {
    throw new CommandError(
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
  options: { deps: CliDeps; onlyIfStale: boolean },
): Promise<Conf> {
  const { deps } = options;
  return store.withLock(tunnelId, async () => {
    const conf = await readConf(store, tunnelId);
    if (options.onlyIfStale && freshFor(conf.values, deps.now()) > 0) return conf;
    const { TransferClient } = await import("../globus/mod.ts");
    const client = new TransferClient({ env: deps.env, fetch: deps.fetch, now: deps.now });
    const tunnel = await client.getTunnel(tunnelId);
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
  options: { deps: CliDeps; deadlineMs?: number },
): Promise<CurrentConf> {
  const { deps } = options;
  let conf = stored;
  if (freshFor(conf.values, deps.now()) <= 0) {
    try {
      conf = await withDeadline(
        refreshConf(store, tunnelId, { deps, onlyIfStale: true }),
        options.deadlineMs,
      );
    } catch (error) {
      const late = error instanceof DeadlineMarker;
      const reason = late
        ? `the service did not answer within ${Math.round(options.deadlineMs! / 100) / 10} s`
        : (error as Error).message.replace(/\s*\n\s*/g, " ");
      if (late && stored.values.connectorContactString === undefined) {
        throw new CommandError(`Cannot refresh tunnel ${tunnelId}: ${reason}`, {
          exitCode: ExitCode.unreachable,
        });
      }
      if (stored.values.connectorContactString === undefined) throw error;
      if (!late && !serviceUnavailable(error)) throw error;
      return { conf: stored, ttlSeconds: STALE_FALLBACK_TTL_SECONDS, fallback: reason };
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

const formats = ["plain", "preload", "json"] as const;

/** The `key=value` lines the preload library reads (see architecture.md). */
function preloadLines(tunnelId: string, values: ConfValues, ttlSeconds: number): string {
  const lines = [
    `tunnel_id=${tunnelId}`,
    `connector_contact_string=${values.connectorContactString}`,
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

async function run(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const format = formatOf(args, formats);
  const tunnelId = tunnelIdArg(args);
  const store = ConfStore.fromEnv(deps.env);
  const stored = await readConf(store, tunnelId);
  const { conf, ttlSeconds, fallback } = await currentConf(store, tunnelId, stored, {
    deps,
    deadlineMs: refreshDeadlineMs(deps.env),
  });
  if (fallback !== undefined) {
    deps.io.stderr(
      `globus-streams: warning: cannot refresh tunnel ${tunnelId}, ` +
        `using the stored contact for ${ttlSeconds} s: ${fallback}\n`,
    );
  }
  const values = conf.values;
  if (values.connectorContactString === undefined) {
    throw new CommandError(
      `Tunnel ${tunnelId} has no connector contact yet: the service gave none ` +
        `(is the tunnel ACTIVE? see 'globus-streams tunnel show ${tunnelId}')`,
    );
  }
  if (format === "plain") {
    deps.io.stdout(`${values.connectorContactString}\n`);
  } else if (format === "preload") {
    deps.io.stdout(preloadLines(tunnelId, values, ttlSeconds));
  } else {
    deps.io.stdout(
      JSON.stringify(
        {
          tunnel_id: tunnelId,
          connector_contact_string: values.connectorContactString,
          listener_contact_string: values.listenerContactString ?? null,
          fake_port: values.fakePort,
          ttl_seconds: ttlSeconds,
          secured: values.lankey !== undefined,
        },
        null,
        2,
      ) + "\n",
    );
  }
  return 0;
}

/** `globus-streams environment contact-lookup [--format plain|preload|json] TUNNEL_ID`. */
export const contactLookupCommand: Command = {
  name: "environment contact-lookup",
  summary: "print a tunnel's contact string, refreshing it when stale",
  usage: "[--format plain|preload|json] TUNNEL_ID",
  description: [
    "Prints the connector contact (HOST:PORT) stored for the tunnel. When it is older than",
    "its TTL (connector_contact_string_ttl), fetches the tunnel from Transfer once, rewrites",
    "the conf file and prints the new one.",
    "",
    `When that fetch cannot be made (the service cannot be reached, fails with 5xx or 429,`,
    `or gives no answer within two thirds of GLOBUS_STREAMS_LOOKUP_TIMEOUT), it prints the`,
    `stored contact with a TTL of ${STALE_FALLBACK_TTL_SECONDS} s, says so in one line on stderr and exits 0;`,
    "the conf file stays stale, so the next lookup asks again. Definite answers stay errors:",
    "a tunnel Transfer does not know (404) and refused credentials (exit 4), since the",
    "stored contact would only hide them.",
    "",
    "Formats: plain (the contact only), preload (key=value lines for the preload library,",
    "the only format that includes the LAN secret), json (no secret).",
  ].join("\n"),
  options: {
    format: formatOption([...formats], "output format: plain (default), preload or json"),
  },
  positionals: { min: 1, max: 1 },
  run,
};
