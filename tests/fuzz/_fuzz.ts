// The fuzzers' shared machinery: a small deterministic PRNG (mulberry32), the seed and
// iteration count (GS_FUZZ_SEED, GS_FUZZ_ITERATIONS), corpus files, mutators for bytes,
// text and JSON, and a loop that names the seed, the iteration and the input on failure.
//
// Every iteration gets its own generator derived from (seed, iteration), so a failure
// reported at iteration I of seed S is reproduced by GS_FUZZ_SEED=S GS_FUZZ_ITERATIONS=I+1
// (the failure message spells it out). A longer run by hand:
//   GS_FUZZ_SEED=random GS_FUZZ_ITERATIONS=100000 ./dev deno test --allow-all tests/fuzz/

/** mulberry32: 32 bits of state, good enough to pick mutations, fully reproducible. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** The generator of one iteration: independent of how much earlier ones used. */
export function iterationRng(seed: number, iteration: number): Rng {
  const mixed = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^
    Math.imul(iteration + 1, 0xc2b2ae35);
  return new Rng(mixed >>> 0);
}

export interface FuzzConfig {
  target: string;
  /** What GS_FUZZ_SEED says (default 1); each target mixes in its own name. */
  baseSeed: number;
  /** The target's own seed, from baseSeed and its name. */
  seed: number;
  iterations: number;
}

function envValue(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** A stable number for a name, so each target has its own stream from one seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const DEFAULT_SEED = 1;
/** GS_FUZZ_SEED=random: one seed for the whole run, so one number reproduces it. */
let randomSeed: number | undefined;

/**
 * The seed and iteration count for a target: GS_FUZZ_SEED (an integer, or "random";
 * default 1, so `./dev test` is deterministic) and GS_FUZZ_ITERATIONS (iterations of
 * every target; default the target's own, sized for a few seconds on 2 cores).
 */
export function fuzzConfig(target: string, defaultIterations: number): FuzzConfig {
  const seedText = envValue("GS_FUZZ_SEED")?.trim();
  let baseSeed = DEFAULT_SEED;
  if (seedText === "random") {
    baseSeed = randomSeed ??= crypto.getRandomValues(new Uint32Array(1))[0];
  } else if (seedText) {
    const parsed = Number(seedText);
    if (!Number.isInteger(parsed) || parsed < 0 || parsed > 0xffffffff) {
      throw new Error(`GS_FUZZ_SEED "${seedText}": want an integer 0..4294967295 or "random"`);
    }
    baseSeed = parsed;
  }
  const iterationsText = envValue("GS_FUZZ_ITERATIONS")?.trim();
  let iterations = defaultIterations;
  if (iterationsText) {
    const parsed = Number(iterationsText);
    if (!Number.isInteger(parsed) || parsed < 1) {
      throw new Error(`GS_FUZZ_ITERATIONS "${iterationsText}": want a positive integer`);
    }
    iterations = parsed;
  }
  return { target, baseSeed, seed: (baseSeed ^ hashName(target)) >>> 0, iterations };
}

/** Counts kept by a fuzz loop, printed as one summary line. */
export class FuzzStats {
  readonly counts = new Map<string, number>();

  add(name: string, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  line(config: FuzzConfig): string {
    const parts = [...this.counts.entries()].map(([k, v]) => `${k}=${v}`);
    return `fuzz: ${config.target} seed=${config.baseSeed} iterations=${config.iterations} ${
      parts.join(" ")
    }`;
  }
}

/** Shows an input in a failure message: strings as JSON, bytes as hex. */
export function show(input: unknown): string {
  if (input instanceof Uint8Array) return `hex:${toHex(input)}`;
  const text = JSON.stringify(input);
  return text === undefined
    ? String(input)
    : text.length > 4000
    ? text.slice(0, 4000) + "..."
    : text;
}

/**
 * Runs check on `iterations` generated inputs. A failure is rethrown naming the target,
 * the seed and iteration, and the input, so it can be reproduced and added to the corpus.
 */
export async function fuzzLoop<T>(
  config: FuzzConfig,
  generate: (rng: Rng, iteration: number) => T,
  check: (input: T, rng: Rng, stats: FuzzStats) => void | Promise<void>,
  stats = new FuzzStats(),
): Promise<FuzzStats> {
  for (let i = 0; i < config.iterations; i++) {
    const rng = iterationRng(config.seed, i);
    const input = generate(rng, i);
    try {
      await check(input, rng, stats);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `fuzz ${config.target} failed at iteration ${i} (reproduce: GS_FUZZ_SEED=${config.baseSeed}` +
          ` GS_FUZZ_ITERATIONS=${i + 1}; input ${show(input)}): ${message}`,
        { cause: error },
      );
    }
  }
  console.log(stats.line(config));
  return stats;
}

// ---------------------------------------------------------------------------------------
// Corpus files: tests/fuzz/corpus/<target>/...

export const corpusRoot = new URL("./corpus/", import.meta.url).pathname;

/** Every file of a target's corpus, sorted by name, as [name, bytes]. */
export function corpusFiles(target: string): [string, Uint8Array][] {
  const dir = `${corpusRoot}${target}`;
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  return names.map((name) => [name, Deno.readFileSync(`${dir}/${name}`)]);
}

/** A target's corpus files as text (UTF-8), by name. */
export function corpusTexts(target: string): [string, string][] {
  const decoder = new TextDecoder();
  return corpusFiles(target).map(([name, bytes]) => [name, decoder.decode(bytes)]);
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex "${text}"`);
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

// ---------------------------------------------------------------------------------------
// Mutators.

/** Tokens worth inserting into any text: separators, line ends, NUL, numbers, unicode. */
export const COMMON_TOKENS: readonly string[] = [
  "=",
  "==",
  "\r",
  "\n",
  "\r\n",
  "\0",
  " ",
  "\t",
  "#",
  ":",
  "::",
  "[",
  "]",
  ".",
  "-",
  ",",
  ";",
  "|",
  "\\",
  '"',
  "'",
  "0",
  "-1",
  "00",
  "65535",
  "65536",
  "4294967296",
  "9007199254740993",
  "99999999999999999999999",
  "1e309",
  "NaN",
  "Infinity",
  "0x10",
  "é",
  "Ω",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "\ud800",
  "\udfff",
  "🙂",
  "\x1b[2J",
  "\x7f",
  "%00",
  "__proto__",
  "constructor",
];

const INTERESTING_BYTES = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x3d, 0x7f, 0x80, 0xc3, 0xfe, 0xff];

/** One random change to bytes; `others` are corpus entries to splice with. */
export function mutateBytes(rng: Rng, input: Uint8Array, others: readonly Uint8Array[] = []) {
  const data = Array.from(input);
  const at = () => rng.int(data.length + 1);
  switch (rng.int(10)) {
    case 0: // flip one bit
      if (data.length) data[rng.int(data.length)] ^= 1 << rng.int(8);
      break;
    case 1: // set a byte to an interesting value
      if (data.length) data[rng.int(data.length)] = rng.pick(INTERESTING_BYTES);
      break;
    case 2: // set a byte to anything
      if (data.length) data[rng.int(data.length)] = rng.int(256);
      break;
    case 3: // truncate
      data.length = rng.int(data.length + 1);
      break;
    case 4: { // delete a range
      const start = at();
      data.splice(start, rng.int(Math.min(16, data.length - start) + 1));
      break;
    }
    case 5: { // insert random bytes
      data.splice(at(), 0, ...rng.bytes(rng.range(1, 8)));
      break;
    }
    case 6: { // duplicate a range
      const start = rng.int(data.length);
      const piece = data.slice(start, start + rng.range(1, 16));
      data.splice(at(), 0, ...piece);
      break;
    }
    case 7: { // splice with another entry
      if (others.length) {
        const other = rng.pick(others);
        const cut = at();
        return Uint8Array.from([...data.slice(0, cut), ...other.slice(rng.int(other.length + 1))]);
      }
      break;
    }
    case 8: // append one byte (off-by-one sizes)
      data.push(rng.int(256));
      break;
    default: // overwrite a range with one interesting byte
    {
      const start = rng.int(data.length);
      const end = Math.min(data.length, start + rng.range(1, 8));
      const value = rng.pick(INTERESTING_BYTES);
      for (let i = start; i < end; i++) data[i] = value;
    }
  }
  return Uint8Array.from(data);
}

/** A printable or arbitrary UTF-16 code unit, mostly printable ASCII. */
function randomChar(rng: Rng): string {
  const roll = rng.int(10);
  if (roll < 6) return String.fromCharCode(rng.range(0x20, 0x7e));
  if (roll < 8) return String.fromCharCode(rng.int(0x20));
  return String.fromCharCode(rng.int(0x10000));
}

/** One random change to text; tokens are the target's own words (plus COMMON_TOKENS). */
export function mutateText(
  rng: Rng,
  input: string,
  options: { tokens?: readonly string[]; others?: readonly string[]; maxLength?: number } = {},
): string {
  const tokens = options.tokens ?? [];
  const others = options.others ?? [];
  const maxLength = options.maxLength ?? 4096;
  let text = input;
  const at = () => rng.int(text.length + 1);
  switch (rng.int(12)) {
    case 0:
    case 1: { // insert a token
      const token = tokens.length && rng.chance(0.5) ? rng.pick(tokens) : rng.pick(COMMON_TOKENS);
      const i = at();
      text = text.slice(0, i) + token + text.slice(i);
      break;
    }
    case 2: { // replace a character
      if (text.length) {
        const i = rng.int(text.length);
        text = text.slice(0, i) + randomChar(rng) + text.slice(i + 1);
      }
      break;
    }
    case 3: { // delete a range
      const i = at();
      text = text.slice(0, i) + text.slice(i + rng.range(1, 12));
      break;
    }
    case 4: // truncate
      text = text.slice(0, at());
      break;
    case 5: { // duplicate a range
      const i = rng.int(text.length);
      const piece = text.slice(i, i + rng.range(1, 24));
      const j = at();
      text = text.slice(0, j) + piece + text.slice(j);
      break;
    }
    case 6: { // splice with another entry
      if (others.length) {
        const other = rng.pick(others);
        text = text.slice(0, at()) + other.slice(rng.int(other.length + 1));
      }
      break;
    }
    case 7: { // replace a token occurrence with another token
      const from = tokens.length ? rng.pick(tokens) : rng.pick(COMMON_TOKENS);
      const index = text.indexOf(from);
      if (index !== -1) {
        const to = rng.pick(COMMON_TOKENS);
        text = text.slice(0, index) + to + text.slice(index + from.length);
      }
      break;
    }
    case 8: { // swap two lines
      const lines = text.split("\n");
      if (lines.length > 1) {
        const a = rng.int(lines.length);
        const b = rng.int(lines.length);
        [lines[a], lines[b]] = [lines[b], lines[a]];
        text = lines.join("\n");
      }
      break;
    }
    case 9: { // change line ends
      text = text.replaceAll("\n", rng.pick(["\r\n", "\r", "\n\n", "\n \n"]));
      break;
    }
    case 10: { // repeat a piece many times (long input)
      const i = rng.int(text.length);
      const piece = text.slice(i, i + rng.range(1, 8)) || "A";
      const j = at();
      text = text.slice(0, j) + piece.repeat(rng.range(16, 512)) + text.slice(j);
      break;
    }
    default: { // flip case of a character
      if (text.length) {
        const i = rng.int(text.length);
        const c = text[i];
        const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
        text = text.slice(0, i) + flipped + text.slice(i + 1);
      }
    }
  }
  return text.length > maxLength ? text.slice(0, maxLength) : text;
}

/** Applies 1..max mutations. */
export function mutateTextN(
  rng: Rng,
  input: string,
  options: Parameters<typeof mutateText>[2] & { max?: number } = {},
): string {
  let text = input;
  const count = rng.range(1, options.max ?? 4);
  for (let i = 0; i < count; i++) text = mutateText(rng, text, options);
  return text;
}

export function mutateBytesN(
  rng: Rng,
  input: Uint8Array,
  others: readonly Uint8Array[] = [],
  max = 4,
): Uint8Array {
  let data = input;
  const count = rng.range(1, max);
  for (let i = 0; i < count; i++) data = mutateBytes(rng, data, others);
  return data;
}

/** Values of every JSON type, including the awkward ones. */
export function randomJsonValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 9 : 11)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 65535, 65536, -0, 1.5, 2 ** 53 + 2, 1e300, -1e300, 4294967296]);
    case 3:
      return "";
    case 4:
      return rng.pick(COMMON_TOKENS);
    case 5:
      return "x".repeat(rng.range(1, 5000));
    case 6:
      return rng.pick([
        "ACTIVE",
        "Tunnel",
        "StreamAccessPoint",
        "127.0.0.1",
        "::1",
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "2024-13-45T99:99:99",
        "http://127.0.0.1:1/",
        "http://[::1",
        "//[",
        "line one\nline two",
        "\x1b[31mred\x1b[0m",
      ]);
    case 7:
      return String.fromCharCode(
        ...Array.from({ length: rng.range(1, 12) }, () => rng.int(0x10000)),
      );
    case 8:
      return rng.int(100000);
    case 9:
      return Array.from({ length: rng.int(3) }, () => randomJsonValue(rng, depth + 1));
    default:
      return Object.fromEntries(
        Array.from(
          { length: rng.int(3) },
          () => [rng.pick(["a", "id", "type", "data"]), randomJsonValue(rng, depth + 1)],
        ),
      );
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every [container, key] in a JSON document, for picking where to mutate. */
function slots(doc: Json): [Json[] | Record<string, Json>, string | number][] {
  const out: [Json[] | Record<string, Json>, string | number][] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        out.push([node, i]);
        walk(child);
      });
    } else if (node !== null && typeof node === "object") {
      for (const key of Object.keys(node)) {
        out.push([node, key]);
        walk(node[key]);
      }
    }
  };
  walk(doc);
  return out;
}

/** One structural change to a JSON document (a deep copy is changed and returned). */
export function mutateJson(rng: Rng, input: unknown): unknown {
  const doc = structuredClone(input) as Json;
  const all = slots(doc);
  if (all.length === 0 || rng.chance(0.03)) return randomJsonValue(rng);
  // Mostly a leaf, in place and of its own type: the document stays valid enough to get
  // past the schema, and what the program does with odd values shows.
  const leaves = all.filter(([c, k]) => {
    const value = (c as Record<string, Json>)[k as string];
    return value === null || typeof value !== "object";
  });
  const [container, key] = leaves.length && rng.chance(0.6) ? rng.pick(leaves) : rng.pick(all);
  const get = () => (container as Record<string, Json>)[key as string];
  const set = (value: unknown) => {
    (container as Record<string, Json>)[key as string] = value as Json;
  };
  const leaf = get();
  if (typeof leaf === "number" && rng.chance(0.5)) {
    set(
      rng.pick([
        0,
        -1,
        1,
        65535,
        65536,
        2 ** 31,
        2 ** 53 - 1,
        1e12,
        1e15,
        -1e9,
        0.5,
        leaf + 1,
        -leaf,
        leaf * 1e6,
      ]),
    );
    return doc;
  }
  if (typeof leaf === "string" && rng.chance(0.5)) {
    set(rng.chance(0.5) ? mutateText(rng, leaf, { maxLength: 512 }) : rng.pick(COMMON_TOKENS));
    return doc;
  }
  switch (rng.int(8)) {
    case 0: // remove it
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key as string];
      break;
    case 1:
    case 2: // another value of any type
      set(randomJsonValue(rng));
      break;
    case 3: { // rename the key
      if (!Array.isArray(container)) {
        const value = get();
        delete container[key as string];
        container[rng.pick([String(key).toUpperCase(), `${String(key)}_`, "", "__proto__", "id"])] =
          value;
      }
      break;
    }
    case 4: { // a string changed by the text mutator, a number nudged
      const value = get();
      if (typeof value === "string") set(mutateText(rng, value, { maxLength: 512 }));
      else if (typeof value === "number") {
        set(rng.pick([value + 1, value - 1, -value, value * 1e6, value + 0.5]));
      } else set(randomJsonValue(rng));
      break;
    }
    case 5: // wrap it in an array
      set([get()]);
      break;
    case 6: { // duplicate an array item or empty the array
      const value = get();
      if (Array.isArray(value)) set(rng.chance(0.5) ? [] : [...value, ...value]);
      else set(null);
      break;
    }
    default: // a string where a number was, and the reverse
    {
      const value = get();
      set(
        typeof value === "number"
          ? String(value)
          : typeof value === "string"
          ? Number(value) || 0
          : "1",
      );
    }
  }
  return doc;
}
