// The `environment` commands: write, refresh, list, show and remove the conf files
// that tell the preload library and the helpers how to reach a tunnel.
import { type Command, formatOf, formatOption, type ParsedArgs, UsageError } from "./_command.ts";
import type { CliDeps } from "./_deps.ts";
import { type Conf, ConfError, ConfStore, formatConf, freshFor, type Side } from "../conf/mod.ts";
import { CONTACT_HINT, isIpAddress, parseContact } from "../contact/mod.ts";
import {
  DEFAULT_CONTACT_TTL_SECONDS,
  DEFAULT_WAIT_SECONDS,
  initializeEnvironment,
  missingConf,
  readConf,
  refreshConf,
} from "../environment/mod.ts";
import type { Tunnel } from "../globus/mod.ts";
import { oneLine } from "../quote/mod.ts";
import { tunnelIdArg } from "./contact_lookup.ts";

const progressEveryMs = 5000;

function wholeSeconds(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) {
    throw new UsageError(`Invalid --${option} "${text}": want whole seconds, e.g. 10`);
  }
  return Number(text);
}

function timeText(unixSeconds: number | undefined): string {
  if (unixSeconds === undefined) return "unknown";
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Checks a listener contact: HOST:PORT where HOST is an IP address. */
function listenerContact(text: string): { host: string; port: number } {
  const contact = parseContact(text);
  if (!contact) throw new UsageError(`Invalid listener contact string "${text}": ${CONTACT_HINT}`);
  if (!isIpAddress(contact.host)) {
    throw new UsageError(
      `Invalid listener contact string "${text}": the host must be an IP address, ` +
        `not a name (Transfer stores listener_ip_address), e.g. "10.0.0.5:8888"`,
    );
  }
  return contact;
}

/**
 * Progress while waiting for ACTIVE, on stderr: one line redrawn in place on a terminal,
 * else a line every few seconds. end() clears or finishes the drawn line.
 */
function waitProgress(deps: CliDeps) {
  const { io } = deps;
  let lastLineAt = -Infinity;
  let drawn = false;
  return {
    waiting(tunnel: Tunnel, elapsedMs: number): void {
      const line = `Waiting for tunnel ${tunnel.id} to become ACTIVE: state ${tunnel.state}, ` +
        `${Math.floor(elapsedMs / 1000)} s`;
      if (io.stderrIsTerminal) {
        io.stderr(`\r\x1b[2K${line}`);
        drawn = true;
      } else if (elapsedMs - lastLineAt >= progressEveryMs) {
        io.stderr(line + "\n");
        lastLineAt = elapsedMs;
      }
    },
    end(ok: boolean): void {
      if (drawn) io.stderr(ok ? "\r\x1b[2K" : "\n");
      drawn = false;
    },
  };
}

async function initialize(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const format = formatOf(args, ["text", "json"] as const);
  const tunnelId = tunnelIdArg(args);
  const endpointId = args.positionals[1] === undefined
    ? undefined
    : tunnelIdArg(args, 1, "endpoint id");
  const contactText = args.values["listener-contact-string"] as string | undefined;
  const contact = contactText === undefined ? undefined : listenerContact(contactText);
  const side: Side = contact || args.values.listener ? "listening" : "initiating";
  const contactTtlSeconds = wholeSeconds(
    args.values["cs-ttl"] as string | undefined,
    "cs-ttl",
    DEFAULT_CONTACT_TTL_SECONDS,
  );
  const waitSeconds = wholeSeconds(
    args.values["wait-timeout"] as string | undefined,
    "wait-timeout",
    DEFAULT_WAIT_SECONDS,
  );
  const text = format === "text";
  const progress = waitProgress(deps);
  let done;
  try {
    done = await initializeEnvironment({
      tunnelId,
      endpointId,
      listenerContact: contact,
      side,
      contactTtlSeconds,
      wait: Boolean(args.values.wait),
      waitSeconds,
      force: Boolean(args.values.force),
    }, {
      env: deps.env,
      now: deps.now,
      fetch: deps.fetch,
      signal: deps.signal,
      events: {
        started: () => {
          if (text) deps.io.stdout(`Initializing the environment for tunnel: ${tunnelId}\n`);
        },
        waiting: progress.waiting,
        unsecured: (reason) => {
          progress.end(true);
          deps.io.stderr(
            `globus-streams: warning: The LAN connection for this tunnel is not secured: ` +
              `${reason}\n`,
          );
        },
      },
    });
  } catch (error) {
    progress.end(false);
    throw error;
  }
  progress.end(true);
  const { store, values, contactString } = done;
  if (text) {
    deps.io.stdout(
      `The environment is initialized for use with tunnel ${tunnelId}\n` +
        `Your application key file base directory is ${store.dir}/\n` +
        (contactString ? `Your contact string is: ${contactString}\n` : ""),
    );
  } else {
    deps.io.stdout(
      JSON.stringify(
        {
          tunnel_id: tunnelId,
          side,
          directory: `${store.dir}/`,
          conf_file: store.path(tunnelId),
          contact_string: contactString,
          connector_contact_string: values.connectorContactString ?? null,
          listener_contact_string: values.listenerContactString ?? null,
          endpoint_id: values.endpointId,
          secured: done.secured,
        },
        null,
        2,
      ) + "\n",
    );
  }
  return 0;
}

/** `environment initialize`. */
export const initializeCommand: Command = {
  name: "environment initialize",
  summary: "write the conf file for a tunnel and print its contact string",
  usage: "[options] TUNNEL_ID [ENDPOINT_ID]",
  description: [
    "Listening side (--listener or --listener-contact-string): sets the tunnel's listener",
    "contact when given, which starts the tunnel. Initiating side (the default): needs an",
    "ACTIVE tunnel and prints the contact string globus.<id>:<port> for your client.",
    "Both sides ask the endpoint (ENDPOINT_ID, default the access point's host endpoint)",
    "for a LAN secret and store everything in <dir>/<tunnel id>.conf, where <dir> is",
    "GLOBUS_STREAMS_DIR or $HOME/.globus/streams.",
    "",
    "Example:",
    "  globus-streams environment initialize --listener-contact-string 10.0.0.5:8888 TUNNEL_ID",
    "  globus-streams environment initialize --wait TUNNEL_ID",
  ].join("\n"),
  options: {
    "listener-contact-string": {
      type: "string",
      value: "HOST:PORT",
      help: "listening side: where the access point connects (IP address and port)",
    },
    listener: { type: "boolean", help: "listening side, without changing the listener contact" },
    "cs-ttl": {
      type: "string",
      value: "SECONDS",
      help: `how long a looked-up contact stays fresh (default ${DEFAULT_CONTACT_TTL_SECONDS})`,
    },
    force: { type: "boolean", help: "replace an existing conf file (keeps its fake port)" },
    wait: { type: "boolean", help: "initiating side: wait until the tunnel is ACTIVE" },
    "wait-timeout": {
      type: "string",
      value: "SECONDS",
      help: `give up waiting after this long (default ${DEFAULT_WAIT_SECONDS})`,
    },
    format: formatOption(["text", "json"]),
  },
  positionals: { min: 1, max: 2 },
  run: initialize,
};

async function update(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const tunnelId = tunnelIdArg(args);
  const store = ConfStore.fromEnv(deps.env);
  await readConf(store, tunnelId);
  const conf = await refreshConf(store, tunnelId, { deps, onlyIfStale: false });
  const { connectorContactString, listenerContactString } = conf.values;
  deps.io.stdout(
    `Updated the environment for tunnel ${tunnelId}: connector contact ` +
      `${connectorContactString ?? "(none yet)"}, listener contact ` +
      `${listenerContactString ?? "(none yet)"}\n`,
  );
  return 0;
}

/** `environment update`. */
export const updateCommand: Command = {
  name: "environment update",
  summary: "refresh a tunnel's contact and listener, keeping its secret",
  usage: "TUNNEL_ID",
  description: "Fetches the tunnel from Transfer now and rewrites its contacts and expiration.",
  options: {},
  positionals: { min: 1, max: 1 },
  run: update,
};

async function cleanup(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const all = Boolean(args.values.all);
  const force = Boolean(args.values.force);
  const named = args.positionals.length > 0 ? tunnelIdArg(args) : undefined;
  if (named && all) throw new UsageError("Give either TUNNEL_ID or --all, not both");
  const store = ConfStore.fromEnv(deps.env);
  const nowSeconds = Math.floor(deps.now() / 1000);
  let ids: string[];
  if (named) {
    if (!(await store.tunnelIds()).includes(named)) throw missingConf(store, named);
    ids = [named];
  } else {
    ids = await store.tunnelIds();
  }
  let removed = 0;
  let failed = false;
  for (const id of ids) {
    const outcome = await store.withLock(id, async () => {
      let conf: Conf | undefined;
      try {
        conf = await store.read(id);
      } catch (error) {
        if (!(error instanceof ConfError) || !force) return { error };
      }
      const expires = conf?.values.tunnelExpirationTime;
      const expired = expires !== undefined && expires <= nowSeconds;
      if (!force && !expired) return { kept: expires };
      await store.remove(id);
      return { removed: expires };
    });
    const path = store.path(id);
    if ("error" in outcome) {
      deps.io.stderr(`globus-streams: Skipped: ${oneLine(outcome.error)}\n`);
      failed = true;
    } else if ("removed" in outcome) {
      removed++;
      const when = outcome.removed === undefined
        ? "expiration unknown"
        : `${outcome.removed <= nowSeconds ? "expired" : "expires"} ${timeText(outcome.removed)}`;
      deps.io.stdout(`Removed ${path} (tunnel ${id}, ${when})\n`);
    } else if (named) {
      deps.io.stdout(
        `Kept ${path}: tunnel ${id} expires ${
          timeText(outcome.kept)
        } (pass --force to remove it)\n`,
      );
    }
  }
  await store.removeStaleTemps(deps.now());
  if (removed === 0 && !named) deps.io.stdout(`No expired conf files in ${store.dir}\n`);
  return failed && named ? 3 : 0;
}

/** `environment cleanup`. */
export const cleanupCommand: Command = {
  name: "environment cleanup",
  summary: "remove conf files of expired tunnels",
  usage: "[--all] [--force] [TUNNEL_ID]",
  description: [
    "Removes the conf files whose tunnel_expiration_time has passed: the named tunnel's,",
    "or every one (the default, or --all). With --force, removes the named one, or all",
    "with --all, whether expired or not (also unreadable ones).",
  ].join("\n"),
  options: {
    all: { type: "boolean", help: "consider every conf file in the directory" },
    force: { type: "boolean", help: "remove even when not expired or unreadable" },
  },
  positionals: { min: 0, max: 1 },
  run: cleanup,
};

async function list(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const format = formatOf(args, ["text", "json"] as const);
  const store = ConfStore.fromEnv(deps.env);
  const nowSeconds = deps.now() / 1000;
  const rows: Record<string, string | number | boolean | null>[] = [];
  for (const id of await store.tunnelIds()) {
    try {
      const values = (await readConf(store, id)).values;
      const expires = values.tunnelExpirationTime;
      rows.push({
        tunnel_id: id,
        side: values.side ?? null,
        connector_contact_string: values.connectorContactString ?? null,
        listener_contact_string: values.listenerContactString ?? null,
        tunnel_expiration_time: expires ?? null,
        expired: expires !== undefined && expires <= nowSeconds,
        conf_file: store.path(id),
      });
    } catch (error) {
      if (!(error instanceof ConfError)) throw error;
      deps.io.stderr(`globus-streams: warning: ${oneLine(error)}\n`);
      if (format === "json") rows.push({ tunnel_id: id, error: oneLine(error) });
    }
  }
  if (format === "json") {
    deps.io.stdout(JSON.stringify(rows, null, 2) + "\n");
    return 0;
  }
  if (rows.length === 0) {
    deps.io.stdout(`No conf files in ${store.dir}\n`);
    return 0;
  }
  const table = [["TUNNEL ID", "SIDE", "CONNECTOR CONTACT", "EXPIRES"]];
  for (const row of rows) {
    const expires = row.tunnel_expiration_time as number | null;
    table.push([
      String(row.tunnel_id),
      String(row.side ?? "-"),
      String(row.connector_contact_string ?? "-"),
      expires === null ? "-" : timeText(expires) + (row.expired ? " (expired)" : ""),
    ]);
  }
  const widths = table[0].map((_, column) => Math.max(...table.map((r) => r[column].length)));
  for (const row of table) {
    deps.io.stdout(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd() + "\n");
  }
  return 0;
}

/** `environment list`. */
export const listCommand: Command = {
  name: "environment list",
  summary: "list the tunnels this host has conf files for",
  usage: "[-F text|json]",
  options: { format: formatOption(["text", "json"]) },
  positionals: { min: 0, max: 0 },
  run: list,
};

const redacted = "(redacted)";

async function show(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const format = formatOf(args, ["text", "json"] as const);
  const tunnelId = tunnelIdArg(args);
  const store = ConfStore.fromEnv(deps.env);
  const conf = await readConf(store, tunnelId);
  const path = store.path(tunnelId);
  // Every key in file order, as written; the secret never leaves the file.
  const pairs = formatConf(conf, { path }).split("\n").filter((line) => line.includes("="))
    .filter((line) => !line.trimStart().startsWith("#"))
    .map((line) => {
      const equals = line.indexOf("=");
      const key = line.slice(0, equals).trim();
      return [key, key === "lankey" ? redacted : line.slice(equals + 1)] as const;
    });
  const fresh = freshFor(conf.values, deps.now());
  if (format === "json") {
    deps.io.stdout(
      JSON.stringify(
        {
          conf_file: path,
          fresh_seconds: Math.max(0, Math.floor(fresh)),
          values: Object.fromEntries(pairs),
        },
        null,
        2,
      ) + "\n",
    );
    return 0;
  }
  deps.io.stdout(`# ${path}\n`);
  for (const [key, value] of pairs) deps.io.stdout(`${key}=${value}\n`);
  deps.io.stdout(
    fresh > 0
      ? `# contact fresh for ${Math.floor(fresh)} s\n`
      : "# contact stale: the next contact-lookup fetches it again\n",
  );
  return 0;
}

/** `environment show`. */
export const showCommand: Command = {
  name: "environment show",
  summary: "show a tunnel's conf file, secret redacted",
  usage: "[-F text|json] TUNNEL_ID",
  options: { format: formatOption(["text", "json"]) },
  positionals: { min: 1, max: 1 },
  run: show,
};
