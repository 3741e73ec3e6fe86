// Stack strings and typed driver options.
//   stack  = entry *("," entry)          transport first
//   entry  = name [":" option *(";" option)]
//   option = key ["=" value]             a bare key is the boolean true
// A backslash escapes the next character in a value ("\," "\;" "\|" "\\").
// Option types: int, bool (true/false/yes/no/on/off/1/0), size (10M, 512k: powers of
// 1024), string (optionally one of a few choices), list (items joined by "|").

import { XioError } from "./_error.ts";

export type OptionType = "int" | "bool" | "size" | "string" | "list";
export type OptionValue = number | boolean | string | string[];

/** One option a driver understands. */
export interface OptionSpec {
  type: OptionType;
  /** One line for help and error messages. */
  doc: string;
  default?: OptionValue;
  /** For int and size. */
  min?: number;
  max?: number;
  /** For string: the values allowed. */
  choices?: readonly string[];
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** A stack entry as written: a driver name and its options' raw text. */
export interface RawEntry {
  name: string;
  /** key -> raw value (escapes still in), or true for a bare key. */
  options: Map<string, string | true>;
}

/** Splits text on an unescaped separator, keeping escapes in the parts. */
export function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Removes escapes: "\x" -> "x". */
export function unescape(text: string): string {
  return text.replace(/\\(.)/gs, "$1");
}

/** Escapes a value so that it survives a stack string. */
export function escapeValue(text: string): string {
  return text.replace(/[\\,;|=]/g, (ch) => `\\${ch}`);
}

/** Parses a stack string into entries. Throws XioError STACK or PARAMETER. */
export function parseStackText(text: string): RawEntry[] {
  if (text.trim() === "") {
    throw new XioError("STACK", `Cannot use stack "${text}": it names no driver`);
  }
  return splitUnescaped(text, ",").map((part) => {
    const colon = part.indexOf(":");
    const name = (colon === -1 ? part : part.slice(0, colon)).trim();
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
      throw new XioError("STACK", `Cannot use stack "${text}": bad driver name "${name}"`);
    }
    const options = new Map<string, string | true>();
    if (colon !== -1) {
      for (const option of splitUnescaped(part.slice(colon + 1), ";")) {
        if (option.trim() === "") continue;
        const eq = option.indexOf("=");
        const key = (eq === -1 ? option : option.slice(0, eq)).trim();
        if (!/^[a-z][a-z0-9_]*$/.test(key)) {
          throw new XioError(
            "PARAMETER",
            `Cannot use stack "${text}": bad option name "${key}" for driver "${name}"`,
          );
        }
        if (options.has(key)) {
          throw new XioError(
            "PARAMETER",
            `Cannot use stack "${text}": option "${key}" given twice for driver "${name}"`,
          );
        }
        options.set(key, eq === -1 ? true : option.slice(eq + 1));
      }
    }
    return { name, options };
  });
}

const sizeUnits: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** Parses a size: "65536", "512k", "10M", "1.5G" (powers of 1024). Undefined if bad. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) return undefined;
  const value = Math.floor(Number(match[1]) * sizeUnits[match[2].toLowerCase()]);
  return Number.isSafeInteger(value) ? value : undefined;
}

const truthy = new Set(["true", "yes", "on", "1"]);
const falsy = new Set(["false", "no", "off", "0"]);

const typeHint: Record<OptionType, string> = {
  int: "an integer",
  bool: "true or false",
  size: "a size like 10M or 512k",
  string: "a string",
  list: 'a list like "a|b"',
};

function coerce(spec: OptionSpec, raw: unknown): OptionValue | undefined {
  if (typeof raw === "string") {
    switch (spec.type) {
      case "int":
        return /^-?\d+$/.test(raw.trim()) && Number.isSafeInteger(Number(raw))
          ? Number(raw)
          : undefined;
      case "size":
        return parseSize(unescape(raw));
      case "bool": {
        const word = raw.trim().toLowerCase();
        return truthy.has(word) ? true : falsy.has(word) ? false : undefined;
      }
      case "string":
        return unescape(raw);
      case "list":
        return raw === "" ? [] : splitUnescaped(raw, "|").map(unescape);
    }
  }
  if (raw === true && spec.type === "bool") return true;
  if (typeof raw === "boolean" && spec.type === "bool") return raw;
  if (typeof raw === "number" && (spec.type === "int" || spec.type === "size")) {
    return Number.isSafeInteger(raw) ? raw : undefined;
  }
  if (Array.isArray(raw) && spec.type === "list" && raw.every((x) => typeof x === "string")) {
    return [...raw];
  }
  return undefined;
}

function shown(raw: unknown): string {
  return raw === true ? "(no value)" : `"${Array.isArray(raw) ? raw.join("|") : String(raw)}"`;
}

/**
 * Turns raw option values (text from a stack string, or typed values from code) into
 * typed ones, filling defaults. Throws XioError PARAMETER naming the stack and driver.
 */
export function typeOptions(
  stackText: string,
  driver: string,
  specs: OptionSpecs,
  raw: Iterable<[string, unknown]>,
): Options {
  const values = new Map<string, OptionValue>();
  const fail = (what: string) =>
    new XioError("PARAMETER", `Cannot use stack "${stackText}": ${what}`);
  for (const [key, value] of raw) {
    const spec = specs[key];
    if (spec === undefined) {
      const known = Object.keys(specs);
      throw fail(
        `unknown option "${key}" for driver "${driver}" (want ${
          known.length ? `one of ${known.join(", ")}` : "none"
        })`,
      );
    }
    const typed = coerce(spec, value);
    if (typed === undefined) {
      throw fail(
        `option "${key}" of driver "${driver}" wants ${typeHint[spec.type]}, got ${shown(value)}`,
      );
    }
    if (typeof typed === "number") {
      if (
        (spec.min !== undefined && typed < spec.min) || (spec.max !== undefined && typed > spec.max)
      ) {
        throw fail(
          `option "${key}" of driver "${driver}" is ${typed}: want ${spec.min ?? "-inf"}..${
            spec.max ?? "inf"
          }`,
        );
      }
    }
    if (typeof typed === "string" && spec.choices && !spec.choices.includes(typed)) {
      throw fail(
        `option "${key}" of driver "${driver}" is "${typed}": want one of ${
          spec.choices.join(", ")
        }`,
      );
    }
    values.set(key, typed);
  }
  for (const [key, spec] of Object.entries(specs)) {
    if (!values.has(key) && spec.default !== undefined) values.set(key, spec.default);
  }
  return new Options(values);
}

/** A driver's typed options, with getters that check the type asked for. */
export class Options {
  readonly #values: Map<string, OptionValue>;

  constructor(values: Map<string, OptionValue>) {
    this.#values = values;
  }

  #get<T>(key: string, check: (v: OptionValue) => boolean): T | undefined {
    const value = this.#values.get(key);
    if (value === undefined) return undefined;
    if (!check(value)) throw new TypeError(`option "${key}" is not of the type asked for`);
    return value as T;
  }

  has(key: string): boolean {
    return this.#values.has(key);
  }

  number(key: string): number | undefined {
    return this.#get<number>(key, (v) => typeof v === "number");
  }

  bool(key: string): boolean | undefined {
    return this.#get<boolean>(key, (v) => typeof v === "boolean");
  }

  string(key: string): string | undefined {
    return this.#get<string>(key, (v) => typeof v === "string");
  }

  list(key: string): string[] | undefined {
    return this.#get<string[]>(key, Array.isArray);
  }
}
