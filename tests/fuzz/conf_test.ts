// Fuzzing the conf file parser (src/conf parseConf/formatConf, and ConfStore.read on raw
// bytes): only ConfError, naming the file and the line; whatever parses formats and
// parses back to the same values; and no message shows the LAN secret.
import assert from "node:assert/strict";
import { type Conf, ConfError, ConfStore, formatConf, parseConf } from "../../src/conf/mod.ts";
import {
  corpusTexts,
  fuzzConfig,
  fuzzLoop,
  FuzzStats,
  mutateBytesN,
  mutateTextN,
  type Rng,
} from "./_fuzz.ts";

const tunnelId = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";
const path = `/home/user/.globus/streams/${tunnelId}.conf`;
const where = { path, tunnelId };
/** The lankey every corpus file carries, so a message can be searched for it. */
const SECRET = "Qm9yZWFsaXMtbGFuLXNlY3JldC0wMTIzNDU2Nzg5YWJj";
const secretPieces = [SECRET, SECRET.slice(0, 16), SECRET.slice(-16)];

const corpus = corpusTexts("conf").map(([, text]) => text);
const keys = [
  "lankey",
  "lankey_id",
  "connector_contact_string",
  "update_time",
  "connector_contact_string_ttl",
  "endpoint_id",
  "fake_port",
  "tunnel_expiration_time",
  "tunnel_id",
  "side",
  "listener_contact_string",
];
const tokens = [
  ...keys.map((k) => `${k}=`),
  ...keys.map((k) => `\n${k}=`),
  "lankey=" + SECRET,
  "listening",
  "initiating",
  "127.0.0.1:1",
  "[::1]:8888",
  "999999999999",
  "9999999999999",
  tunnelId,
  tunnelId.toUpperCase(),
];

/**
 * The lines a person (or a terminal) sees: any of \r\n, \r, \n ends a line. The secret
 * counts as leaked when it shows in a message while it sits only on lines whose key is
 * "lankey" (whatever follows it: "=", a space, a colon), where only the secret was meant
 * to be. A mutation that turns the line into another key's (lankey_id=...) is not a leak.
 */
function secretOnlyOnLankeyLines(text: string, piece: string): boolean {
  const lines = text.split(/\r\n|\r|\n/).filter((line) => line.includes(piece));
  return lines.length > 0 && lines.every((line) => /^\s*lankey(?![A-Za-z0-9_.-])/.test(line));
}

/** The invariants of one parse; returns the conf when the text parsed. */
function checkText(text: string, stats: FuzzStats): Conf | undefined {
  let conf: Conf;
  try {
    conf = parseConf(text, where);
  } catch (error) {
    if (!(error instanceof ConfError)) {
      throw new Error(
        `parseConf threw ${error instanceof Error ? error.name : typeof error}: ${error}`,
      );
    }
    const message = error.message;
    assert.equal(error.path, path);
    assert.ok(message.startsWith(`Cannot read conf file "${path}": `), message);
    assert.ok(!message.includes("\n"), `one line: ${JSON.stringify(message)}`);
    const rows = text.split("\n").length;
    assert.ok(error.line >= 0 && error.line <= rows, `line ${error.line} of ${rows}`);
    if (error.line > 0) assert.ok(message.includes(`: line ${error.line}: `), message);
    else {assert.match(
        message,
        /: (missing key [a-z_]+|tunnel_id ".*" does not match the file name) \(/s,
      );}
    for (const piece of secretPieces) {
      if (!message.includes(piece) || !secretOnlyOnLankeyLines(text, piece)) continue;
      assert.fail(`message shows the secret: ${JSON.stringify(message)}`);
    }
    // deno-lint-ignore no-control-regex
    const controlCharacters = /[\x00-\x1f\x7f]/;
    assert.doesNotMatch(message, controlCharacters, `control: ${JSON.stringify(message)}`);
    stats.add(error.line > 0 ? "rejected_line" : "rejected_file");
    return undefined;
  }
  const formatted = formatConf(conf, { path });
  const again = parseConf(formatted, where);
  assert.deepEqual(again.values, conf.values, "format then parse gives the same values");
  // Stable but for the "\r" each rewrite takes off a line ending in several of them.
  const strip = (t: string) => t.replace(/\r+$/gm, "");
  assert.equal(strip(formatConf(again, { path })), strip(formatted), "formatting is stable");
  if (conf.values.connectorContactString !== undefined) {
    // Other tools read this line with a regular expression: it stays plain.
    assert.ok(
      formatted.split("\n").includes(
        `connector_contact_string=${conf.values.connectorContactString}`,
      ),
    );
  }
  if (conf.values.lankey !== undefined) assert.match(conf.values.lankey, /^[\x21-\x7e]+$/);
  stats.add("parsed");
  return conf;
}

function generate(rng: Rng): string {
  const base = rng.pick(corpus);
  if (rng.chance(0.03)) return base;
  return mutateTextN(rng, base, { tokens, others: corpus, max: 5, maxLength: 8192 });
}

Deno.test("conf parser: only ConfError with file and line, a stable round trip, no secret shown", async () => {
  const config = fuzzConfig("conf", 20_000);
  const stats = await fuzzLoop(
    config,
    generate,
    (text, _rng, stats) => void checkText(text, stats),
  );
  assert.ok(stats.get("parsed") > 100 && stats.get("rejected_line") > 100, "both outcomes reached");
});

Deno.test("conf store: raw bytes in the file give a Conf or a ConfError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gs-fuzz-conf-" });
  try {
    await Deno.chmod(dir, 0o700);
    const store = new ConfStore(dir);
    const file = store.path(tunnelId);
    const seeds = corpus.map((text) => new TextEncoder().encode(text));
    const config = fuzzConfig("conf-store", 300);
    const stats = await fuzzLoop(
      config,
      (rng) => {
        const bytes = mutateBytesN(rng, rng.pick(seeds), seeds, 6);
        return rng.chance(0.02) ? new Uint8Array(64 * 1024 + 1).fill(0x61) : bytes;
      },
      async (bytes, _rng, stats) => {
        await Deno.writeFile(file, bytes, { mode: 0o600 });
        try {
          const conf = await store.read(tunnelId);
          assert.ok(conf !== undefined);
          stats.add("parsed");
        } catch (error) {
          if (!(error instanceof ConfError)) {
            throw new Error(
              `ConfStore.read threw ${error instanceof Error ? error.name : error}: ${error}`,
            );
          }
          assert.ok(!error.message.includes("\n"));
          assert.ok(error.message.includes(file), error.message);
          stats.add("rejected");
        }
      },
    );
    assert.ok(stats.get("rejected") > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("conf corpus: every file parses, or fails with its line", () => {
  const stats = new FuzzStats();
  for (const text of corpus) checkText(text, stats);
  assert.ok(stats.get("parsed") >= 5, "most corpus files are valid");
});

/** The ConfError fn throws; fails when it throws nothing or something else. */
function confError(fn: () => unknown): ConfError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfError) return error;
    throw error;
  }
  assert.fail("want a ConfError");
}

const goodLines = [
  `update_time=1767225600`,
  `connector_contact_string_ttl=10`,
  `fake_port=4001`,
];

Deno.test({
  name: "conf error for a malformed lankey line does not show the secret",
  fn() {
    for (const line of [`lankey ${SECRET}=`, `lankey:${SECRET}=x`, `lankey\t${SECRET}==`]) {
      const error = confError(() => parseConf([line, ...goodLines].join("\n") + "\n", where));
      assert.ok(!error.message.includes(SECRET.slice(0, 16)), error.message);
    }
  },
});

Deno.test({
  name: "conf error for a file with CR line ends does not show the secret",
  fn() {
    const text = [goodLines[0], `lankey=${SECRET}`, ...goodLines.slice(1)].join("\r") + "\r";
    const error = confError(() => parseConf(text, where));
    assert.ok(!error.message.includes(SECRET), error.message);
  },
});

Deno.test({
  name: "conf error messages carry no control characters",
  fn() {
    for (const value of ["1\r2", "1\x1b[2J"]) {
      const text = [`update_time=${value}`, ...goodLines.slice(1)].join("\n") + "\n";
      const error = confError(() => parseConf(text, where));
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(error.message, /[\x00-\x1f\x7f]/);
    }
  },
});
