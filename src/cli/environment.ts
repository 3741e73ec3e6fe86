// The `environment` commands: write, refresh, list, show and remove the conf files
// that tell the preload library and the helpers how to reach a tunnel.
import {
  type Command,
  CommandError,
  formatOf,
  formatOption,
  type ParsedArgs,
  UsageError,
} from "./_command.ts";
import type { CliDeps } from "./_deps.ts";
import {
  type Conf,
  ConfError,
  ConfStore,
  type ConfValues,
  formatConf,
  freshFor,
  type Side,
} from "../conf/mod.ts";
import { CONTACT_HINT, isIpAddress, parseContact } from "../contact/mod.ts";
import type { LanSecret, Tunnel } from "../globus/mod.ts";
import { oneLine } from "../quote/mod.ts";
import { missingConf, readConf, refreshConf, tunnelIdArg, tunnelValues } from "./contact_lookup.ts";

const defaultTtlSeconds = 10;
const defaultWaitSeconds = 600;
const pollMs = 1000;
const progressEveryMs = 5000;

function wholeSeconds(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) {
    throw new UsageError(`Invalid --${option} "${text}": want whole seconds, e.g. 10`);
  }
  return Number(text);
}

function abortError(): Error {
  const error = new Error("Interrupted");
  error.name = "AbortError";
  return error;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function randomFakePort(): number {
  const [value] = crypto.getRandomValues(new Uint32Array(1));
  return 1000 + (value % 4001);
}

function timeText(unixSeconds: number | undefined): string {
  if (unixSeconds === undefined) return "unknown";
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function globusClients(deps: CliDeps) {
  const globus = await import("../globus/mod.ts");
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

/** Polls until the tunnel is ACTIVE, showing progress on stderr. */
async function waitUntilActive(
  clients: Clients,
  first: Tunnel,
  deps: CliDeps,
  timeoutSeconds: number,
): Promise<Tunnel> {
  const started = deps.now();
  const { io } = deps;
  const signal = deps.signal;
  let tunnel = first;
  let lastLineAt = -Infinity;
  let drawn = false;
  while (tunnel.state !== "ACTIVE") {
    if (tunnel.state === "STOPPING" || tunnel.state === "STOPPED") {
      if (drawn && io.stderrIsTerminal) io.stderr("\n");
      throw new CommandError(
        `Tunnel ${tunnel.id} is not ACTIVE: state ${tunnel.state}, it will not start again ` +
          `(create a new one with 'globus-streams tunnel create')`,
      );
    }
    const elapsed = deps.now() - started;
    if (elapsed >= timeoutSeconds * 1000) {
      if (drawn && io.stderrIsTerminal) io.stderr("\n");
      throw new CommandError(
        `Timed out after ${timeoutSeconds} s waiting for tunnel ${tunnel.id} to become ACTIVE: ` +
          `state ${tunnel.state} (is the listening side initialized?)`,
      );
    }
    const line = `Waiting for tunnel ${tunnel.id} to become ACTIVE: state ${tunnel.state}, ` +
      `${Math.floor(elapsed / 1000)} s`;
    if (io.stderrIsTerminal) {
      io.stderr(`\r\x1b[2K${line}`);
      drawn = true;
    } else if (elapsed - lastLineAt >= progressEveryMs) {
      io.stderr(line + "\n");
      lastLineAt = elapsed;
    }
    await pause(pollMs, signal);
    tunnel = await clients.transfer.getTunnel(tunnel.id);
  }
  if (drawn) io.stderr("\r\x1b[2K");
  return tunnel;
}

/** Creates a LAN secret, or warns and returns undefined when the service refuses. */
async function createSecret(
  clients: Clients,
  request: { endpointId: string; tunnelId: string; accessPointId: string },
  deps: CliDeps,
): Promise<LanSecret | undefined> {
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
    deps.io.stderr(
      `globus-streams: warning: The LAN connection for this tunnel is not secured: ` +
        `${oneLine(error)}\n`,
    );
    return undefined;
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

async function initialize(args: ParsedArgs, deps: CliDeps): Promise<number> {
  const format = formatOf(args, ["text", "json"] as const);
  const tunnelId = tunnelIdArg(args);
  const endpointArg = args.positionals[1] === undefined
    ? undefined
    : tunnelIdArg(args, 1, "endpoint id");
  const contactText = args.values["listener-contact-string"] as string | undefined;
  const contact = contactText === undefined ? undefined : listenerContact(contactText);
  const side: Side = contact || args.values.listener ? "listening" : "initiating";
  const ttl = wholeSeconds(
    args.values["cs-ttl"] as string | undefined,
    "cs-ttl",
    defaultTtlSeconds,
  );
  const waitSeconds = wholeSeconds(
    args.values["wait-timeout"] as string | undefined,
    "wait-timeout",
    defaultWaitSeconds,
  );
  const force = Boolean(args.values.force);
  const store = ConfStore.fromEnv(deps.env);
  await store.ensureDir();
  const previous = await existingConf(store, tunnelId, force);
  if (previous && !force) throw alreadyInitialized(store, tunnelId);
  const text = format === "text";
  if (text) deps.io.stdout(`Initializing the environment for tunnel: ${tunnelId}\n`);

  const clients = await globusClients(deps);
  let tunnel = await clients.transfer.getTunnel(tunnelId);
  if (contact) {
    tunnel = await clients.transfer.updateTunnel(tunnelId, {
      listenerIpAddress: contact.host,
      listenerPort: contact.port,
    });
  }
  if (side === "initiating" && tunnel.state !== "ACTIVE") {
    if (!args.values.wait) {
      throw new CommandError(
        `Tunnel ${tunnelId} is not ACTIVE: state ${tunnel.state} ` +
          `(start the listening side first or pass --wait)`,
      );
    }
    tunnel = await waitUntilActive(clients, tunnel, deps, waitSeconds);
  }
  const accessPointId = side === "listening"
    ? tunnel.listenerAccessPointId
    : tunnel.initiatorAccessPointId;
  const endpointId = endpointArg ??
    (await clients.transfer.getAccessPoint(accessPointId)).hostEndpointId;
  const secret = await createSecret(clients, { endpointId, tunnelId, accessPointId }, deps);

  const values: ConfValues = {
    lankey: secret?.secret,
    lankeyId: secret?.id,
    updateTime: 0,
    connectorContactStringTtl: ttl,
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

  const contactString = side === "initiating" ? `globus.${tunnelId}:${values.fakePort}` : null;
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
          endpoint_id: endpointId,
          secured: secret !== undefined,
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
      help: `how long a looked-up contact stays fresh (default ${defaultTtlSeconds})`,
    },
    force: { type: "boolean", help: "replace an existing conf file (keeps its fake port)" },
    wait: { type: "boolean", help: "initiating side: wait until the tunnel is ACTIVE" },
    "wait-timeout": {
      type: "string",
      value: "SECONDS",
      help: `give up waiting after this long (default ${defaultWaitSeconds})`,
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
