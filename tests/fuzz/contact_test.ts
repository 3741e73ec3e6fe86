// Fuzzing the contact-string parser (src/contact): it never throws; what parses formats
// and parses back to the same contact; brackets go with IPv6 and only with it; and the
// addresses it accepts are the addresses other parsers (WHATWG URL, as in fetch and
// Deno.connect's callers) read from the same text.
import assert from "node:assert/strict";
import {
  type Contact,
  formatContact,
  isIpAddress,
  isIpv6Address,
  parseContact,
  parsePort,
} from "../../src/contact/mod.ts";
import { corpusTexts, fuzzConfig, fuzzLoop, FuzzStats, mutateTextN, type Rng } from "./_fuzz.ts";

const corpus: string[] = corpusTexts("contact").flatMap(([, text]) => JSON.parse(text) as string[]);
const tokens = [
  "[",
  "]",
  ":",
  "::",
  ".",
  "0",
  "00",
  "255",
  "256",
  "ffff",
  "::ffff:",
  "%eth0",
  "1.2.3.4",
];

function generate(rng: Rng): string {
  if (rng.chance(0.05)) {
    return String.fromCharCode(...Array.from({ length: rng.int(24) }, () => rng.int(0x80)));
  }
  return mutateTextN(rng, rng.pick(corpus), { tokens, others: corpus, max: 3, maxLength: 600 });
}

/** How the WHATWG URL parser reads an IP host; undefined when it refuses it. */
function urlHost(host: string): string | undefined {
  try {
    return new URL(`http://${host.includes(":") ? `[${host}]` : host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** Disagreements with inet_pton and URL (see the tests below); undefined when the contact is sound. */
function knownBug(contact: Contact): string | undefined {
  if (isIpv6Address(contact.host)) {
    return urlHost(contact.host) === undefined ? "accepts_invalid_ipv6" : undefined;
  }
  if (/^[\d.]+$/.test(contact.host) && urlHost(contact.host) !== contact.host) {
    return "accepts_ambiguous_ipv4";
  }
  return undefined;
}

function check(text: string, _rng: Rng, stats: FuzzStats): void {
  let contact: Contact | undefined;
  try {
    contact = parseContact(text);
  } catch (error) {
    throw new Error(`parseContact threw ${error instanceof Error ? error.name : error}: ${error}`);
  }
  if (contact === undefined) {
    stats.add("rejected");
    return;
  }
  assert.ok(Number.isInteger(contact.port) && contact.port >= 1 && contact.port <= 65535);
  assert.ok(contact.host.length > 0, "a host");
  assert.ok(
    // deno-lint-ignore no-control-regex
    !/[\s\0-\x1f\x7f\[\]/]/.test(contact.host),
    `clean host ${JSON.stringify(contact.host)}`,
  );
  const formatted = formatContact(contact);
  assert.deepEqual(parseContact(formatted), contact, "parse(format(x)) is x");
  assert.equal(formatContact(parseContact(formatted)!), formatted, "format is stable");
  // Brackets exactly for IPv6: the text had them iff the host is IPv6.
  assert.equal(text.startsWith("["), isIpv6Address(contact.host));
  assert.equal(formatted.startsWith("["), contact.host.includes(":"));
  assert.equal(parsePort(String(contact.port)), contact.port);
  if (isIpAddress(contact.host)) stats.add("ip");
  const bug = knownBug(contact);
  assert.equal(bug, undefined, `${bug}: ${JSON.stringify(text)}`);
  stats.add("parsed");
}

Deno.test("contact parser: never throws, round-trips, brackets only IPv6", async () => {
  const config = fuzzConfig("contact", 30_000);
  const stats = await fuzzLoop(config, generate, check);
  assert.ok(stats.get("parsed") > 1000 && stats.get("rejected") > 1000);
});

Deno.test("contact corpus: every entry parses or is refused, and never throws", () => {
  const stats = new FuzzStats();
  for (const text of corpus) check(text, undefined as unknown as Rng, stats);
  assert.ok(stats.get("parsed") > 10 && stats.get("rejected") > 5);
});

Deno.test({
  name: "contact parser refuses text that is not an IPv6 address inside brackets",
  fn() {
    for (
      const host of [":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", ":::", "1:2:::3", "::ffff:01.2.3.4"]
    ) {
      assert.equal(urlHost(host), undefined, `${host} is not IPv6`);
      assert.equal(parseContact(`[${host}]:80`), undefined, `[${host}]:80`);
      assert.equal(isIpAddress(host), false, host);
    }
  },
});

Deno.test({
  name: "contact parser refuses IPv4 addresses with leading zeros",
  fn() {
    for (const host of ["010.0.0.1", "127.000.000.001", "0127.0.0.1"]) {
      assert.equal(isIpAddress(host), false, host);
      assert.equal(parseContact(`${host}:80`), undefined, host);
    }
  },
});
