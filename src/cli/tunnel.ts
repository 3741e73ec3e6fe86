// `tunnel ...` and `access-point ...`: the Transfer API's tunnels and stream access
// points, printed the way the official `globus` CLI prints them: records as aligned
// "Field: value" lines, lists as tables, `-F json` for the service's own JSON.
import type { CliDeps } from "./_deps.ts";
import { type Command, formatOf, formatOption, type ParsedArgs, UsageError } from "./_command.ts";
import {
  type AccessPoint,
  GlobusApiError,
  isUuid,
  type Listing,
  TransferClient,
  type Tunnel,
  type TunnelEvent,
} from "../globus/mod.ts";
import { CONTACT_HINT, formatContact, parseContact } from "../contact/mod.ts";

const FORMATS = ["text", "json"] as const;
type Format = typeof FORMATS[number];

function client(deps: CliDeps): TransferClient {
  return new TransferClient({ env: deps.env, fetch: deps.fetch, now: deps.now });
}

/** Text of one value the way the Globus CLI shows it: null as "None". */
function shown(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === "") return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

/** Aligned "Field: value" lines. */
export function formatRecord(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  return fields.map(([name, value]) => `${(name + ":").padEnd(width)} ${value}\n`).join("");
}

/** A table: header row, a separator, one row per item, columns joined by " | ". A null
 * or missing cell shows as "None". */
export function formatTable(
  headers: string[],
  cells: readonly (string | null | undefined)[][],
): string {
  const rows = cells.map((row) => headers.map((_, i) => row[i] ?? "None"));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i].length))
  );
  const line = (row: string[]) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join(" | ")
      .trimEnd() + "\n";
  return line(headers) + widths.map((w) => "-".repeat(w)).join(" | ") + "\n" +
    rows.map(line).join("");
}

function printJson(deps: CliDeps, value: unknown): void {
  deps.io.stdout(JSON.stringify(value, null, 2) + "\n");
}

function contactOf(host: string | null, port: number | null): string {
  return host !== null && port !== null ? formatContact({ host, port }) : "None";
}

function tunnelRecord(t: Tunnel): string {
  return formatRecord([
    ["ID", t.id],
    ["Label", shown(t.label)],
    ["State", t.state],
    ["Status", shown(t.status)],
    ["Listener Access Point", t.listenerAccessPointId],
    ["Listener IP", shown(t.listenerIpAddress)],
    ["Listener Port", shown(t.listenerPort)],
    ["Initiator Access Point", t.initiatorAccessPointId],
    ["Initiator IP", shown(t.initiatorIpAddress)],
    ["Initiator Port", shown(t.initiatorPort)],
    ["Lifetime (minutes)", shown(t.lifetimeMins)],
    ["Restartable", shown(t.restartable)],
    ["Created", t.createdTime],
    ["Owner", shown(t.ownerId)],
  ]);
}

function accessPointRecord(p: AccessPoint): string {
  return formatRecord([
    ["ID", p.id],
    ["Display Name", p.displayName],
    ["Host Endpoint", p.hostEndpointId],
    ["TLSFTP Server", shown(p.tlsftpServer)],
    ["Advertised Owner", shown(p.advertised_owner)],
    ["Contact Email", shown(p.contact_email)],
    ["Contact Info", shown(p.contact_info)],
    ["Department", shown(p.department)],
    ["Description", shown(p.description)],
    ["Info Link", shown(p.info_link)],
    ["Keywords", shown(p.keywords)],
    ["Organization", shown(p.organization)],
  ]);
}

function uuidArgument(what: string, text: string): string {
  if (!isUuid(text)) throw new UsageError(`Invalid ${what} "${text}": want a UUID`);
  return text.toLowerCase();
}

function contactOption(args: ParsedArgs): { host: string; port: number } | undefined {
  const text = args.values["listener-contact-string"] as string | undefined;
  if (text === undefined) return undefined;
  const contact = parseContact(text);
  if (!contact) throw new UsageError(`Invalid listener contact "${text}": ${CONTACT_HINT}`);
  return contact;
}

function labelOption(args: ParsedArgs): string | undefined {
  const label = args.values.label as string | undefined;
  if (label !== undefined && label.length > 256) {
    throw new UsageError(`Invalid label: ${label.length} characters (at most 256)`);
  }
  return label;
}

/** Runs a one-resource call and prints the record or, with -F json, the document. */
async function showOne<T>(
  args: ParsedArgs,
  deps: CliDeps,
  call: (onDocument: (doc: unknown) => void) => Promise<T>,
  text: (value: T) => string,
): Promise<number> {
  const format: Format = formatOf(args, FORMATS);
  let document: unknown = null;
  const value = await call((doc) => document = doc);
  if (format === "json") printJson(deps, document);
  else deps.io.stdout(text(value));
  return 0;
}

/**
 * Runs a list call and prints the table or, with -F json, the array of resources. A
 * record the client could not read is one warning line on stderr while the table shows
 * the others (exit 0): a row would need values it does not have, and a script reading
 * the table gets only rows it can trust; -F json prints it as sent, with the others.
 */
async function showList<T>(
  args: ParsedArgs,
  deps: CliDeps,
  call: (onDocument: (doc: unknown) => void) => Promise<Listing<T>>,
  headers: string[],
  row: (value: T) => (string | null | undefined)[],
): Promise<number> {
  const format: Format = formatOf(args, FORMATS);
  const documents: unknown[] = [];
  const listing = await call((doc) => documents.push(doc));
  if (format === "json") printJson(deps, documents);
  else {
    deps.io.stdout(formatTable(headers, listing.items.map(row)));
    for (const record of listing.unreadable) {
      deps.io.stderr(`globus-streams: warning: ${record.note} (-F json shows it as sent)\n`);
    }
  }
  return 0;
}

const formatOpt = formatOption([...FORMATS]);

export const tunnelCreateCommand: Command = {
  name: "tunnel create",
  summary: "create a tunnel between two stream access points",
  usage: "[options] INITIATOR_AP LISTENER_AP",
  description: `Creates a tunnel from the initiating stream access point (where clients connect)
to the listening one (next to the server). Without --listener-contact-string the
tunnel waits in AWAITING_LISTENER until 'tunnel update --listener-contact-string'
(or 'environment initialize --listener-contact-string') gives it one.

Example:
  globus-streams tunnel create --label demo --listener-contact-string 10.0.0.5:8888 \\
    $INITIATOR_AP $LISTENER_AP`,
  options: {
    label: { type: "string", value: "TEXT", help: "a label for the tunnel" },
    "lifetime-mins": {
      type: "string",
      value: "MINUTES",
      help: "how long the tunnel lives (service default 360)",
    },
    restartable: { type: "boolean", help: "restart the tunnel after errors" },
    "listener-contact-string": {
      type: "string",
      value: "HOST:PORT",
      help: "where the listening access point connects to",
    },
    format: formatOpt,
  },
  positionals: { min: 2, max: 2 },
  run(args, deps) {
    const initiator = uuidArgument("initiator access point", args.positionals[0]);
    const listener = uuidArgument("listener access point", args.positionals[1]);
    const lifetimeText = args.values["lifetime-mins"] as string | undefined;
    let lifetimeMins: number | undefined;
    if (lifetimeText !== undefined) {
      lifetimeMins = /^\d{1,9}$/.test(lifetimeText) ? Number(lifetimeText) : NaN;
      if (!(lifetimeMins >= 1)) {
        throw new UsageError(`Invalid --lifetime-mins "${lifetimeText}": want a whole number >= 1`);
      }
    }
    const contact = contactOption(args);
    const label = labelOption(args);
    return showOne(args, deps, (onDocument) =>
      client(deps).createTunnel({
        initiatorAccessPointId: initiator,
        listenerAccessPointId: listener,
        label,
        lifetimeMins,
        restartable: args.values.restartable ? true : undefined,
        listenerIpAddress: contact?.host,
        listenerPort: contact?.port,
      }, { onDocument }), tunnelRecord);
  },
};

export const tunnelShowCommand: Command = {
  name: "tunnel show",
  summary: "show one tunnel",
  usage: "[options] TUNNEL_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  run(args, deps) {
    const id = uuidArgument("tunnel id", args.positionals[0]);
    return showOne(
      args,
      deps,
      (onDocument) => client(deps).getTunnel(id, { onDocument }),
      tunnelRecord,
    );
  },
};

export const tunnelListCommand: Command = {
  name: "tunnel list",
  summary: "list your tunnels",
  usage: "[options]",
  options: { format: formatOpt },
  positionals: { min: 0, max: 0 },
  run(args, deps) {
    return showList(
      args,
      deps,
      (onDocument) => client(deps).listTunnels({ onDocument }),
      ["ID", "Label", "State", "Initiator Contact", "Listener Contact", "Created"],
      (t: Tunnel) => [
        t.id,
        shown(t.label),
        t.state,
        contactOf(t.initiatorIpAddress, t.initiatorPort),
        contactOf(t.listenerIpAddress, t.listenerPort),
        t.createdTime,
      ],
    );
  },
};

export const tunnelUpdateCommand: Command = {
  name: "tunnel update",
  summary: "change a tunnel's label or listener contact",
  usage: "[options] TUNNEL_ID",
  description: `Setting the listener contact of a tunnel in AWAITING_LISTENER starts it.

Example:
  globus-streams tunnel update --listener-contact-string 10.0.0.5:8888 $TUNNEL`,
  options: {
    label: { type: "string", value: "TEXT", help: "a new label" },
    "listener-contact-string": {
      type: "string",
      value: "HOST:PORT",
      help: "where the listening access point connects to",
    },
    format: formatOpt,
  },
  positionals: { min: 1, max: 1 },
  run(args, deps) {
    const id = uuidArgument("tunnel id", args.positionals[0]);
    const contact = contactOption(args);
    const label = labelOption(args);
    if (contact === undefined && label === undefined) {
      throw new UsageError("Nothing to update: give --label or --listener-contact-string");
    }
    return showOne(args, deps, (onDocument) =>
      client(deps).updateTunnel(id, {
        label,
        listenerIpAddress: contact?.host,
        listenerPort: contact?.port,
      }, { onDocument }), tunnelRecord);
  },
};

export const tunnelStopCommand: Command = {
  name: "tunnel stop",
  summary: "stop a tunnel",
  usage: "[options] TUNNEL_ID",
  description: "Asks the service to stop the tunnel; it goes STOPPING, then STOPPED.",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  run(args, deps) {
    const id = uuidArgument("tunnel id", args.positionals[0]);
    return showOne(
      args,
      deps,
      (onDocument) => client(deps).updateTunnel(id, { state: "STOPPING" }, { onDocument }),
      (t) => `Tunnel ${t.id} is stopping: state ${t.state}\n`,
    );
  },
};

export const tunnelDeleteCommand: Command = {
  name: "tunnel delete",
  summary: "delete a stopped tunnel",
  usage: "[options] TUNNEL_ID",
  description: "Only a STOPPED tunnel can be deleted: run 'globus-streams tunnel stop' first.",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  async run(args, deps) {
    const id = uuidArgument("tunnel id", args.positionals[0]);
    try {
      return await showOne(
        args,
        deps,
        (onDocument) => client(deps).deleteTunnel(id, { onDocument }),
        () => `Tunnel ${id} deleted successfully\n`,
      );
    } catch (error) {
      if (error instanceof GlobusApiError && error.status === 409) {
        throw new GlobusApiError(
          error.kind,
          `${error.message} (run 'globus-streams tunnel stop ${id}' first)`,
          { status: error.status, code: error.code, cause: error },
        );
      }
      throw error;
    }
  },
};

export const tunnelEventsCommand: Command = {
  name: "tunnel events",
  summary: "list a tunnel's events",
  usage: "[options] TUNNEL_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  run(args, deps) {
    const id = uuidArgument("tunnel id", args.positionals[0]);
    return showList(
      args,
      deps,
      (onDocument) => client(deps).tunnelEvents(id, { onDocument }),
      ["ID", "Time", "Code", "Error", "Description", "Details"],
      (e: TunnelEvent) => [
        String(e.id),
        e.time,
        e.code,
        shown(e.isError),
        shown(e.description),
        shown(e.details),
      ],
    );
  },
};

export const accessPointShowCommand: Command = {
  name: "access-point show",
  summary: "show one stream access point",
  usage: "[options] ACCESS_POINT_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  run(args, deps) {
    const id = uuidArgument("stream access point id", args.positionals[0]);
    return showOne(
      args,
      deps,
      (onDocument) => client(deps).getAccessPoint(id, { onDocument }),
      accessPointRecord,
    );
  },
};

export const accessPointListCommand: Command = {
  name: "access-point list",
  summary: "list stream access points",
  usage: "[options]",
  options: {
    "filter-fulltext": { type: "string", value: "TEXT", help: "only those matching TEXT" },
    "filter-endpoint-admin": {
      type: "string",
      value: "IDENTITY_ID",
      help: "only those on endpoints this identity administers",
    },
    format: formatOpt,
  },
  positionals: { min: 0, max: 0 },
  run(args, deps) {
    const admin = args.values["filter-endpoint-admin"] as string | undefined;
    if (admin !== undefined) uuidArgument("identity id", admin);
    const fulltext = args.values["filter-fulltext"] as string | undefined;
    return showList(
      args,
      deps,
      (onDocument) =>
        client(deps).listAccessPoints({ fulltext, endpointAdmin: admin }, { onDocument }),
      ["ID", "Display Name", "Host Endpoint"],
      (p: AccessPoint) => [p.id, p.displayName, p.hostEndpointId],
    );
  },
};
