// The Transfer API's tunnels and stream access points, printed the way the official
// `globus` CLI prints them: records as aligned "Field: value" lines, lists as its tables,
// and with -F json|unix or --jq the service's own document (_globus_output.ts). Shared by
// the `tunnel` and `access-point` commands.
import type { CliDeps } from "./_deps.ts";
import {
  formatOf,
  formatOption,
  type ParsedArgs,
  type StringOptionSpec,
  UsageError,
  uuidArg,
} from "./_command.ts";
import { ExitCode } from "./_exit.ts";
import { documentPrinter, type Output, OUTPUT_FORMATS } from "./_globus_output.ts";
import { type AccessPoint, type Listing, TransferClient, type Tunnel } from "../globus/mod.ts";
import { CONTACT_HINT, formatContact, parseContact } from "../contact/mod.ts";

/** The `-F text|json|unix` and `--jq` options of every tunnel and access-point command. */
export const outputOptions = {
  format: formatOption([...OUTPUT_FORMATS]),
  jq: {
    type: "string",
    value: "EXPRESSION",
    help: "a JMESPath query of the JSON document (implies -F json unless -F unix)",
  } as StringOptionSpec,
};

/** The checked -F and --jq: as the official CLI, --jq turns text output into json. */
export function outputArg(values: { format?: string; jq?: string }): Output {
  const format = formatOf(values.format, OUTPUT_FORMATS);
  if (values.jq === undefined) return { format };
  return { format: format === "text" ? "json" : format, jq: values.jq };
}

/**
 * The interface of a command about one resource by id (`tunnel show`, `access-point
 * show`, ...): usage, the output options, one positional, parsed into { id, output }.
 */
export function byId(what = "tunnel id", usage = "[options] TUNNEL_ID") {
  return {
    usage,
    options: outputOptions,
    positionals: { min: 1, max: 1 },
    parse: (args: ParsedArgs<typeof outputOptions>) => ({
      id: uuidArg(args.positionals[0], what),
      output: outputArg(args.values),
    }),
  };
}

export function transferClient(deps: CliDeps): TransferClient {
  return new TransferClient({ env: deps.env, fetch: deps.fetch, now: deps.now });
}

/** Text of one value in a record: null and "" as "None". */
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

/**
 * A table as the official CLI prints it to a file or pipe: cells padded to their
 * column's width and joined by " | ", a rule of dashes joined by "-+-". A null or missing
 * cell shows as "None". (On an interactive terminal it folds wide tables into boxes;
 * this never does.)
 */
export function formatTable(
  headers: string[],
  cells: readonly (string | null | undefined)[][],
): string {
  const rows = cells.map((row) => headers.map((_, i) => row[i] ?? "None"));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i].length))
  );
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join(" | ") + "\n";
  return line(headers) + widths.map((w) => "-".repeat(w)).join("-+-") + "\n" +
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

/** Runs a one-resource call and prints the record or, with -F json|unix, the document. */
export async function showOne<T>(
  output: Output,
  deps: CliDeps,
  call: (onDocument: (doc: unknown) => void) => Promise<T>,
  text: (value: T) => string,
): Promise<number> {
  const print = output.format === "text" ? undefined : await documentPrinter(output);
  let document: unknown = null;
  const value = await call((doc) => document = doc);
  deps.io.stdout(print ? print(document) : text(value));
  return ExitCode.ok;
}

/** A table's columns: the official CLI's, and this project's extra ones. */
export interface Columns<T> {
  headers: string[];
  row: (value: T) => (string | null | undefined)[];
}

/**
 * A fetch that also keeps the JSON document of every successful GET, in order: the pages
 * of a list as the service sent them (the client hands on only their resources).
 */
function recordingFetch(inner: typeof fetch, pages: unknown[]): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    if (method.toUpperCase() === "GET" && response.ok) {
      pages.push(await response.clone().json().catch(() => undefined));
    }
    return response;
  };
}

/**
 * The pages of a list as one document: the only page as it is; several pages as the
 * first with every page's `data`, and the last page's `links` (null once all are read).
 */
export function wholeDocument(pages: unknown[]): unknown {
  const documents = pages.filter((page) =>
    typeof page === "object" && page !== null &&
    Array.isArray((page as { data?: unknown }).data)
  ) as { data: unknown[]; links?: unknown }[];
  if (documents.length <= 1) return documents[0] ?? null;
  const last = documents[documents.length - 1];
  return {
    ...documents[0],
    data: documents.flatMap((document) => document.data),
    links: last.links ?? null,
  };
}

/**
 * Runs a list call and prints the table or, with -F json|unix, the service's whole
 * document (`data`, `links`, `meta`, as the official CLI prints it).
 */
export async function showList<T>(
  output: Output,
  deps: CliDeps,
  call: (client: TransferClient) => Promise<Listing<T>>,
  columns: Columns<T>,
): Promise<number> {
  const print = output.format === "text" ? undefined : await documentPrinter(output);
  const pages: unknown[] = [];
  const client = transferClient({ ...deps, fetch: recordingFetch(deps.fetch, pages) });
  const listing = await call(client);
  if (print) {
    deps.io.stdout(print(wholeDocument(pages)));
    return ExitCode.ok;
  }
  // A record the client could not read is one warning line on stderr while the table
  // shows the others (exit 0): a row would need values it does not have, and a script
  // reading the table gets only rows it can trust; -F json prints it as sent.
  deps.io.stdout(formatTable(columns.headers, listing.items.map(columns.row)));
  for (const record of listing.unreadable) {
    deps.io.stderr(`globus-streams: warning: ${record.note} (-F json shows it as sent)\n`);
  }
  return ExitCode.ok;
}
