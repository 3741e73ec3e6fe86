// The conf file format: `key=value` lines (not TOML), as the official tool writes them.
// Unknown keys, comments and blank lines are kept in place on rewrite; readers ignore
// unknown keys. Every known value is checked by the table below on the way in and out.
import { CONTACT_HINT, parseContact } from "../contact/mod.ts";
import { ConfError } from "./_error.ts";
import { quoteText } from "../quote/mod.ts";
import { isUuid } from "../uuid/mod.ts";

/** Which end of the tunnel this host is. Our own key, not the official tool's. */
export type Side = "listening" | "initiating";

/** The known keys of a conf file, typed. Optional ones may be absent from a file. */
export interface ConfValues {
  /** The LAN secret; absent when the gateway does not require one. */
  lankey?: string;
  lankeyId?: string;
  /** `initiator_ip_address:initiator_port`: the initiating access point's LAN contact. */
  connectorContactString?: string;
  /** When the contact was fetched, unix seconds. */
  updateTime: number;
  /** How long the contact stays fresh after updateTime, seconds. */
  connectorContactStringTtl: number;
  endpointId?: string;
  /** The port of the `globus.<id>` name, chosen once per tunnel. */
  fakePort: number;
  /** created_time + lifetime_mins, unix seconds. */
  tunnelExpirationTime?: number;
  /** Our own keys. */
  tunnelId?: string;
  side?: Side;
  listenerContactString?: string;
}

/** A line of a conf file: a key and its text, or a comment/blank line kept as is. */
export type ConfLine = { key: string; value: string } | { text: string };

/** A parsed conf file: typed values plus every line in order, for faithful rewrite. */
export interface Conf {
  values: ConfValues;
  lines: readonly ConfLine[];
}

// The value checks. Deliberately not zod, unlike the rest of the program: this module
// is on the start-up path of every preloaded process (`contact-lookup`), and importing
// zod there costs about as much as starting Deno itself (bench/contact_lookup.ts). The
// table below is still the one place a conf value is checked, on reading and on writing.
type Check = (text: string) => { value: string | number } | { reason: string };

const wholeSeconds: Check = (text) =>
  /^\d{1,12}$/.test(text) ? { value: Number(text) } : { reason: "want whole seconds" };

const uuid: Check = (text) => isUuid(text) ? { value: text } : { reason: "want a UUID" };

const contact: Check = (text) =>
  parseContact(text) !== undefined ? { value: text } : { reason: CONTACT_HINT };

const port: Check = (text) => {
  if (!/^\d{1,5}$/.test(text)) return { reason: "want a port number" };
  const value = Number(text);
  return value >= 1 && value <= 65535 ? { value } : { reason: "want a port 1-65535" };
};

const secret: Check = (text) =>
  /^[\x21-\x7e]+$/.test(text) ? { value: text } : { reason: "want printable text without spaces" };

const side: Check = (text) =>
  text === "listening" || text === "initiating"
    ? { value: text }
    : { reason: "want listening or initiating" };

/** Key name in the file -> property, check, and whether the value is secret. */
const fields = {
  lankey: { prop: "lankey", check: secret, secret: true },
  lankey_id: { prop: "lankeyId", check: uuid },
  connector_contact_string: { prop: "connectorContactString", check: contact },
  update_time: { prop: "updateTime", check: wholeSeconds },
  connector_contact_string_ttl: { prop: "connectorContactStringTtl", check: wholeSeconds },
  endpoint_id: { prop: "endpointId", check: uuid },
  fake_port: { prop: "fakePort", check: port },
  tunnel_expiration_time: { prop: "tunnelExpirationTime", check: wholeSeconds },
  tunnel_id: { prop: "tunnelId", check: uuid },
  side: { prop: "side", check: side },
  listener_contact_string: { prop: "listenerContactString", check: contact },
} as const satisfies Record<string, { prop: keyof ConfValues; check: Check; secret?: boolean }>;

type FileKey = keyof typeof fields;

/** Keys in the order a new file lists them: the official ones first, then ours. */
export const CONF_KEYS = Object.keys(fields) as FileKey[];

const required: FileKey[] = ["update_time", "connector_contact_string_ttl", "fake_port"];

function isKnown(key: string): key is FileKey {
  return Object.hasOwn(fields, key);
}

function rewriteHint(tunnelId: string): string {
  return `fix it, or run 'globus-streams environment initialize --force ${tunnelId}'`;
}

/** Checks one value; returns the typed value or a reason. */
function checkValue(key: FileKey, text: string): { value: unknown } | { reason: string } {
  return fields[key].check(text);
}

/**
 * Parses a conf file's text. Throws ConfError naming the file and the line for a line
 * without "=", a bad value, a duplicate key, a missing required key, or a tunnel_id that
 * is not the one the file is named after.
 */
export function parseConf(text: string, where: { path: string; tunnelId: string }): Conf {
  const fail = (line: number, what: string) =>
    new ConfError(
      `Cannot read conf file "${where.path}": ${line ? `line ${line}: ` : ""}${what} (${
        rewriteHint(where.tunnelId)
      })`,
      { path: where.path, line },
    );
  const lines: ConfLine[] = [];
  const values: Record<string, unknown> = {};
  const rows = text.split("\n");
  if (rows.at(-1) === "") rows.pop();
  for (const [index, raw] of rows.entries()) {
    const row = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const number = index + 1;
    // A lone CR (a file saved with old Mac line ends) would make the rest of the file one
    // value, and echoing it could show the secret: refuse it without quoting anything.
    if (row.includes("\r")) {
      throw fail(number, "a carriage return inside the line (save it with \\n line ends)");
    }
    if (row.trim() === "" || row.trimStart().startsWith("#")) {
      lines.push({ text: row });
      continue;
    }
    const equals = row.indexOf("=");
    if (equals === -1) throw fail(number, 'no "=" in the line');
    const key = row.slice(0, equals).trim();
    const value = row.slice(equals + 1);
    // The text before "=" is not quoted back: on a damaged lankey line it is the secret.
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
      throw fail(number, 'the text before "=" is not a key name (letters, digits, _ . -)');
    }
    lines.push({ key, value });
    if (!isKnown(key)) continue;
    const prop = fields[key].prop;
    if (prop in values) throw fail(number, `duplicate key ${key}`);
    const checked = checkValue(key, value);
    if ("reason" in checked) {
      const shown = "secret" in fields[key] ? "" : ` ${quoteText(value, 80)}`;
      throw fail(number, `${key}${shown}: ${checked.reason}`);
    }
    values[prop] = checked.value;
  }
  for (const key of required) {
    if (!(fields[key].prop in values)) throw fail(0, `missing key ${key}`);
  }
  if (values.tunnelId !== undefined && String(values.tunnelId).toLowerCase() !== where.tunnelId) {
    throw fail(0, `tunnel_id "${values.tunnelId}" does not match the file name`);
  }
  return { values: values as unknown as ConfValues, lines };
}

/**
 * Formats a conf: each line in its place, known keys from `values` (dropped when
 * undefined), then known keys the file did not have yet, in CONF_KEYS order. Values are
 * checked with the same table as on reading, so a file we write always reads back.
 */
export function formatConf(conf: Conf, where: { path: string }): string {
  const out: string[] = [];
  const written = new Set<string>();
  const render = (key: FileKey) => {
    written.add(key);
    const value = conf.values[fields[key].prop];
    if (value === undefined) return;
    const text = String(value);
    const checked = checkValue(key, text);
    if ("reason" in checked) {
      const shown = "secret" in fields[key] ? "" : ` ${quoteText(text, 80)}`;
      throw new ConfError(
        `Cannot write conf file "${where.path}": ${key}${shown}: ${checked.reason}`,
        { path: where.path },
      );
    }
    out.push(`${key}=${text}`);
  };
  for (const line of conf.lines) {
    if ("text" in line) out.push(line.text);
    else if (!isKnown(line.key)) out.push(`${line.key}=${line.value}`);
    else if (!written.has(line.key)) render(line.key);
  }
  for (const key of CONF_KEYS) if (!written.has(key)) render(key);
  return out.join("\n") + "\n";
}

/** A conf with the given values changed (undefined removes a key), lines kept. */
export function withValues(conf: Conf, changes: Partial<ConfValues>): Conf {
  return { values: { ...conf.values, ...changes }, lines: conf.lines };
}

/**
 * Seconds (fractional) the stored contact stays fresh from nowMs: fresh while
 * update_time + connector_contact_string_ttl has not passed. <= 0 once stale, and 0 when
 * there is no contact yet.
 */
export function freshFor(values: ConfValues, nowMs: number): number {
  if (values.connectorContactString === undefined) return 0;
  return values.updateTime + values.connectorContactStringTtl - nowMs / 1000;
}
