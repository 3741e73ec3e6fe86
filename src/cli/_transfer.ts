// The Transfer API's tunnels and stream access points, printed the way the official
// `globus` CLI prints them: records as aligned "Field: value" lines, lists as tables,
// `-F json` for the service's own JSON. Shared by the `tunnel` and `access-point`
// commands.
import type { CliDeps } from "./_deps.ts";
import { formatOf, formatOption, type ParsedArgs, UsageError, uuidArg } from "./_command.ts";
import { ExitCode } from "./_exit.ts";
import { printJson } from "./_print.ts";
import { type AccessPoint, type Listing, TransferClient, type Tunnel } from "../globus/mod.ts";
import { CONTACT_HINT, formatContact, parseContact } from "../contact/mod.ts";

export const FORMATS = ["text", "json"] as const;
export type Format = typeof FORMATS[number];

/** The `-F text|json` option of every tunnel and access-point command. */
export const formatOpt = formatOption([...FORMATS]);

/** The checked `-F` value. */
export function formatArg(value: string | undefined): Format {
  return formatOf(value, FORMATS);
}

/**
 * The interface of a command about one resource by id (`tunnel show`, `access-point
 * show`, ...): usage, the -F option, one positional, parsed into { id, format }.
 */
export function byId(what = "tunnel id", usage = "[options] TUNNEL_ID") {
  return {
    usage,
    options: { format: formatOpt },
    positionals: { min: 1, max: 1 },
    parse: (args: ParsedArgs<{ format: typeof formatOpt }>) => ({
      id: uuidArg(args.positionals[0], what),
      format: formatArg(args.values.format),
    }),
  };
}

export function transferClient(deps: CliDeps): TransferClient {
  return new TransferClient({ env: deps.env, fetch: deps.fetch, now: deps.now });
}

/** Text of one value the way the Globus CLI shows it: null as "None". */
export function shown(value: string | number | boolean | null | undefined): string {
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

/** A contact from a host and a port, or "None". */
export function contactText(host: string | null, port: number | null): string {
  return host !== null && port !== null ? formatContact({ host, port }) : "None";
}

export function tunnelRecord(t: Tunnel): string {
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

export function accessPointRecord(p: AccessPoint): string {
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

/** The `--listener-contact-string` option of `tunnel create` and `tunnel update`. */
export const listenerContactOpt = {
  type: "string",
  value: "HOST:PORT",
  help: "where the listening access point connects to",
} as const;

/** A checked `--listener-contact-string` (a host name is allowed here). */
export function listenerContactArg(
  text: string | undefined,
): { host: string; port: number } | undefined {
  if (text === undefined) return undefined;
  const contact = parseContact(text);
  if (!contact) throw new UsageError(`Invalid listener contact "${text}": ${CONTACT_HINT}`);
  return contact;
}

/** A checked `--label`. */
export function labelArg(label: string | undefined): string | undefined {
  if (label !== undefined && label.length > 256) {
    throw new UsageError(`Invalid label: ${label.length} characters (at most 256)`);
  }
  return label;
}

/** Runs a one-resource call and prints the record or, with -F json, the document. */
export async function showOne<T>(
  format: Format,
  deps: CliDeps,
  call: (onDocument: (doc: unknown) => void) => Promise<T>,
  text: (value: T) => string,
): Promise<number> {
  let document: unknown = null;
  const value = await call((doc) => document = doc);
  if (format === "json") printJson(deps, document);
  else deps.io.stdout(text(value));
  return ExitCode.ok;
}

/** Runs a list call and prints the table or, with -F json, the array of resources. */
export async function showList<T>(
  format: Format,
  deps: CliDeps,
  call: (onDocument: (doc: unknown) => void) => Promise<Listing<T>>,
  headers: string[],
  row: (value: T) => (string | null | undefined)[],
): Promise<number> {
  const documents: unknown[] = [];
  const listing = await call((doc) => documents.push(doc));
  if (format === "json") {
    printJson(deps, documents);
    return ExitCode.ok;
  }
  // A record the client could not read is one warning line on stderr while the table
  // shows the others (exit 0): a row would need values it does not have, and a script
  // reading the table gets only rows it can trust; -F json prints it as sent.
  deps.io.stdout(formatTable(headers, listing.items.map(row)));
  for (const record of listing.unreadable) {
    deps.io.stderr(`globus-streams: warning: ${record.note} (-F json shows it as sent)\n`);
  }
  return ExitCode.ok;
}
