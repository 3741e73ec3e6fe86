// A service document printed the way the official `globus` CLI (3.44) prints it, so that
// scripts written for one work with the other: `-F json` as Python's
// json.dumps(indent=2, sort_keys=True) writes it (keys sorted, non-ASCII as \uXXXX),
// `-F unix` as its UNIX printer's tab-separated lines, and `--jq` a JMESPath expression
// applied to the document first. The tunnel and access-point commands use it.
import { UsageError } from "./_command.ts";

export const OUTPUT_FORMATS = ["text", "json", "unix"] as const;
export type OutputFormat = typeof OUTPUT_FORMATS[number];

/** How a command prints: the format, and the JMESPath expression of --jq if any. */
export interface Output {
  format: OutputFormat;
  jq?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A string as a JSON literal with every character outside printable ASCII escaped. */
function asciiString(text: string): string {
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * JSON as the official CLI prints it: two-space indent, keys sorted by code unit,
 * non-ASCII escaped, and a final newline. Written out rather than JSON.stringify'd
 * because a JavaScript object puts integer-like keys first whatever the order.
 */
export function pythonJson(value: unknown): string {
  const write = (item: unknown, indent: string): string => {
    if (item === null || item === undefined) return "null";
    if (typeof item === "string") return asciiString(item);
    if (typeof item !== "object") return JSON.stringify(item);
    const inner = indent + "  ";
    if (Array.isArray(item)) {
      if (item.length === 0) return "[]";
      return `[\n${item.map((v) => inner + write(v, inner)).join(",\n")}\n${indent}]`;
    }
    const keys = Object.keys(item).sort();
    if (keys.length === 0) return "{}";
    const entries = keys.map((key) =>
      `${inner}${asciiString(key)}: ${write((item as Record<string, unknown>)[key], inner)}`
    );
    return `{\n${entries.join(",\n")}\n${indent}}`;
  };
  return write(value, "") + "\n";
}

/** A scalar as Python's str() shows it: None, True, False, numbers and text as they are. */
export function pythonStr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  return String(value);
}

function unixError(): UsageError {
  return new UsageError(
    "Cannot print this answer with -F unix: a list mixes objects with other values, " +
      "or a key holds both plain and nested values; select plain values with --jq",
  );
}

const nested = (value: unknown) => typeof value === "object" && value !== null;

/** The keys that hold a plain value in any of the objects, sorted. */
function scalarKeys(items: Record<string, unknown>[]): string[] {
  const keys = new Set<string>();
  for (const item of items) {
    for (const [key, value] of Object.entries(item)) if (!nested(value)) keys.add(key);
  }
  return [...keys].sort();
}

function unixDict(
  item: Record<string, unknown>,
  label: string | undefined,
  keys = scalarKeys([item]),
): string[] {
  const lines: string[] = [];
  const scalars = keys.map((key) => {
    if (nested(item[key])) throw unixError();
    return pythonStr(item[key]);
  });
  if (scalars.length > 0) {
    if (label !== undefined) lines.push(label);
    lines.push(scalars.join("\t"));
  }
  for (const key of Object.keys(item).filter((k) => !keys.includes(k)).sort()) {
    const value = item[key];
    if (!nested(value)) throw unixError();
    lines.push(
      ...(Array.isArray(value)
        ? unixList(value, key.toUpperCase())
        : unixDict(value as Record<string, unknown>, key.toUpperCase())),
    );
  }
  return lines;
}

function unixList(items: unknown[], label?: string): string[] {
  if (items.length === 0) return [];
  if (items.every(isObject)) {
    const keys = scalarKeys(items);
    return items.flatMap((item) => unixDict(item, label, keys));
  }
  if (items.some(isObject)) throw unixError();
  const scalars = items.filter((item) => !Array.isArray(item)).map(pythonStr);
  const lists = items.filter(Array.isArray);
  const lines: string[] = [];
  if (lists.length === 0 && label !== undefined) {
    lines.push(...scalars.map((s) => `${label}\t${s}`));
  } else if (scalars.length > 0) {
    lines.push(scalars.join("\t"));
  }
  for (const list of lists) lines.push(...unixList(list, label));
  return lines;
}

/**
 * The official CLI's `-F unix` text: an object's plain values on one tab-separated line
 * (keys sorted), then each nested value under its key in capitals; a list of objects
 * one line each; null as None. Throws UsageError for the shapes it cannot print.
 */
export function unixText(value: unknown): string {
  const lines = Array.isArray(value)
    ? unixList(value)
    : isObject(value)
    ? unixDict(value, undefined)
    : [pythonStr(value)];
  return lines.map((line) => line + "\n").join("");
}

/**
 * --jq's JMESPath expression as a function of the document, checked now (before any
 * request); a bad expression, or one that fails on the document, is a UsageError.
 */
export async function jqQuery(expression: string): Promise<(document: unknown) => unknown> {
  // Imported here: only --jq pays for loading the JMESPath package.
  const { compile, search } = await import("@jmespath-community/jmespath");
  const invalid = (error: unknown) =>
    new UsageError(
      `Invalid --jq expression "${expression}": ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  try {
    compile(expression);
  } catch (error) {
    throw invalid(error);
  }
  return (document) => {
    try {
      return search(document as Json, expression);
    } catch (error) {
      throw invalid(error);
    }
  };
}

/**
 * How -F json or -F unix prints a document, after --jq: made before the request so
 * that a bad expression costs none.
 */
export async function documentPrinter(output: Output): Promise<(document: unknown) => string> {
  const query = output.jq === undefined ? undefined : await jqQuery(output.jq);
  return (document) => {
    const value = query ? query(document) : document;
    return output.format === "unix" ? unixText(value) : pythonJson(value);
  };
}
