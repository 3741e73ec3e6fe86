// Fuzzing the GSA1 parsers and steps (src/handshake) with mutated messages from the
// shared vectors and the corpus: nothing may throw but HandshakeError, whatever parses
// must rebuild to the same bytes, and a mutated PROOF or VERDICT is never accepted.
import assert from "node:assert/strict";
import {
  answerHello,
  buildHello,
  buildProof,
  buildVerdict,
  checkVerdict,
  HandshakeError,
  type HandshakeReason,
  HELLO_SIZE,
  judgeProof,
  parseHello,
  parseProof,
  parseVerdict,
  PROOF_SIZE,
  type ResponderSession,
  type SecretAnswer,
  VERDICT_SIZE,
} from "../../src/handshake/mod.ts";
import {
  corpusTexts,
  fromHex,
  fuzzConfig,
  fuzzLoop,
  FuzzStats,
  mutateBytesN,
  type Rng,
  toHex,
} from "./_fuzz.ts";

interface Vector {
  name: string;
  secret: string;
  tunnel_id: string;
  secret_id: string | null;
  nc_hex: string;
  nr_hex: string;
  hello_hex: string;
  proof_hex: string;
  verdict_ok_hex: string;
}

const vectorFile = JSON.parse(
  await Deno.readTextFile(new URL("../handshake/gsa1_vectors.json", import.meta.url)),
) as { vectors: Vector[]; invalid: { message: string; bytes_hex: string }[] };

const vectors = vectorFile.vectors;
const kinds = ["hello", "proof", "verdict"] as const;
type Kind = typeof kinds[number];

/** Seeds per message kind: the vectors, the vectors' invalid entries, the corpus files. */
function seeds(): Record<Kind, Uint8Array[]> {
  const out: Record<Kind, Uint8Array[]> = { hello: [], proof: [], verdict: [] };
  for (const v of vectors) {
    out.hello.push(fromHex(v.hello_hex));
    out.proof.push(fromHex(v.proof_hex));
    out.verdict.push(fromHex(v.verdict_ok_hex));
  }
  for (const entry of vectorFile.invalid) out[entry.message as Kind].push(fromHex(entry.bytes_hex));
  // Corpus files are named <kind>-<what>.hex.
  for (const [name, text] of corpusTexts("gsa1")) {
    const kind = name.split("-")[0] as Kind;
    assert.ok(kinds.includes(kind), `corpus file ${name}: want <hello|proof|verdict>-....hex`);
    out[kind].push(fromHex(text));
  }
  return out;
}

const corpus = seeds();
const allSeeds = [...corpus.hello, ...corpus.proof, ...corpus.verdict];

/** 1-3 bit flips or byte changes: the size stays right, so the parsers look deeper. */
function sizeKeeping(rng: Rng, base: Uint8Array): Uint8Array {
  const out = base.slice();
  for (let n = rng.range(1, 3); n > 0 && out.length > 0; n--) {
    const at = rng.int(out.length);
    out[at] = rng.chance(0.5) ? out[at] ^ (1 << rng.int(8)) : rng.int(256);
  }
  return out;
}

/** A message to try: mutated from a seed, a seed as is, or random bytes of a near size. */
function generate(rng: Rng): { kind: Kind; vector: number; bytes: Uint8Array } {
  const kind = rng.pick(kinds);
  const vector = rng.int(vectors.length);
  const roll = rng.int(20);
  let bytes: Uint8Array;
  if (roll === 0) {
    const size = { hello: HELLO_SIZE, proof: PROOF_SIZE, verdict: VERDICT_SIZE }[kind];
    bytes = rng.bytes(rng.pick([0, 1, size - 1, size, size + 1, rng.int(300)]));
  } else if (roll === 1) {
    bytes = rng.pick(corpus[kind]);
  } else {
    const base = rng.chance(0.7)
      ? fromHex(
        kind === "hello"
          ? vectors[vector].hello_hex
          : kind === "proof"
          ? vectors[vector].proof_hex
          : vectors[vector].verdict_ok_hex,
      )
      : rng.pick(corpus[kind]);
    bytes = rng.chance(0.5) ? sizeKeeping(rng, base) : mutateBytesN(rng, base, allSeeds);
  }
  return { kind, vector, bytes };
}

const reasons: readonly HandshakeReason[] = [
  "unknown_tunnel",
  "bad_proof",
  "secret_expired",
  "refused",
  "malformed",
  "bad_tag",
  "eof",
];

/** Runs fn; returns its value, or the HandshakeError it threw. Anything else fails. */
async function typed<T>(what: string, fn: () => T | Promise<T>): Promise<T | HandshakeError> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof HandshakeError)) {
      throw new Error(
        `${what} threw ${error instanceof Error ? error.name : typeof error}: ${error}`,
      );
    }
    assert.ok(reasons.includes(error.reason), `${what}: unknown reason ${error.reason}`);
    assert.ok(error.message.length > 0 && !error.message.includes("\n"), `${what}: one line`);
    return error;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The secret lookups a challenger may use: right secret, wrong one, refusals, async. */
function lookupFor(
  rng: Rng,
  v: Vector,
): { lookup: () => SecretAnswer | Promise<SecretAnswer>; right: boolean } {
  switch (rng.int(6)) {
    case 0:
      return { lookup: () => ({ secret: "not the secret" }), right: false };
    case 1:
      return { lookup: () => undefined, right: false };
    case 2:
      return {
        lookup: () => ({
          refuse: rng.pick(["unknown_tunnel", "secret_expired", "refused"] as const),
        }),
        right: false,
      };
    case 3:
      return { lookup: () => Promise.resolve({ secret: v.secret }), right: true };
    default:
      return { lookup: () => ({ secret: v.secret }), right: true };
  }
}

async function session(v: Vector): Promise<ResponderSession> {
  return await answerHello(fromHex(v.hello_hex), {
    tunnelId: v.tunnel_id,
    secret: v.secret,
    secretId: v.secret_id,
    nr: fromHex(v.nr_hex),
  });
}

const sessions = await Promise.all(vectors.map(session));

async function check(
  input: { kind: Kind; vector: number; bytes: Uint8Array },
  rng: Rng,
  stats: FuzzStats,
): Promise<void> {
  const v = vectors[input.vector];
  const bytes = input.bytes;
  stats.add("inputs");
  if (input.kind === "hello") {
    const hello = await typed("parseHello", () => parseHello(bytes));
    if (hello instanceof HandshakeError) {
      assert.equal(hello.reason, "malformed");
      stats.add("rejected");
    } else {
      assert.ok(sameBytes(buildHello(hello.nc), bytes), "a parsed HELLO rebuilds to its bytes");
      stats.add("parsed");
    }
    const answered = await typed(
      "answerHello",
      () => answerHello(bytes, { tunnelId: v.tunnel_id, secret: v.secret, secretId: v.secret_id }),
    );
    assert.equal(answered instanceof HandshakeError, hello instanceof HandshakeError);
    return;
  }
  if (input.kind === "proof") {
    const proof = await typed("parseProof", () => parseProof(bytes));
    if (proof instanceof HandshakeError) {
      assert.equal(proof.reason, "malformed");
      stats.add("rejected");
    } else {
      assert.ok(sameBytes(buildProof(proof), bytes), "a parsed PROOF rebuilds to its bytes");
      stats.add("parsed");
    }
    const { lookup, right } = lookupFor(rng, v);
    const judgement = await typed(
      "judgeProof",
      () => judgeProof(bytes, { nc: fromHex(v.nc_hex), lookup }),
    );
    assert.ok(!(judgement instanceof HandshakeError), "judgeProof refuses, it does not throw");
    assert.equal(judgement.verdict.length, VERDICT_SIZE);
    const verdict = parseVerdict(judgement.verdict);
    assert.equal(verdict.name, judgement.name);
    const genuine = right && sameBytes(bytes, fromHex(v.proof_hex));
    assert.equal(judgement.name === "accepted", genuine, `accepted ${toHex(bytes)}`);
    if (judgement.name === "accepted") {
      assert.ok(sameBytes(judgement.verdict, fromHex(v.verdict_ok_hex)));
    } else {
      assert.ok(judgement.error instanceof HandshakeError);
      assert.ok(judgement.verdict.subarray(1).every((b) => b === 0), "a refusal carries no tag");
    }
    stats.add(`verdict_${judgement.name}`);
    return;
  }
  const verdict = await typed("parseVerdict", () => parseVerdict(bytes));
  if (verdict instanceof HandshakeError) {
    assert.equal(verdict.reason, "malformed");
    stats.add("rejected");
  } else if (verdict.name === "accepted") {
    assert.ok(sameBytes(buildVerdict("accepted", verdict.tc), bytes));
    stats.add("parsed");
  } else {
    assert.ok(sameBytes(buildVerdict(verdict.name).subarray(0, 1), bytes.subarray(0, 1)));
    stats.add("parsed");
  }
  const outcome = await typed("checkVerdict", () => checkVerdict(bytes, sessions[input.vector]));
  const genuine = sameBytes(bytes, fromHex(v.verdict_ok_hex));
  assert.equal(
    !(outcome instanceof HandshakeError),
    genuine,
    `checkVerdict passed ${toHex(bytes)}`,
  );
}

Deno.test("GSA1 parsers and steps take mutated messages with only HandshakeError", async () => {
  const config = fuzzConfig("gsa1", 20_000);
  const stats = await fuzzLoop(config, generate, check);
  assert.ok(stats.get("rejected") > 0 && stats.get("parsed") > 0, "both outcomes reached");
  assert.ok(stats.get("verdict_accepted") > 0, "unchanged proofs are still accepted");
});

Deno.test("GSA1 corpus: every file parses or is refused as documented", async () => {
  const stats = new FuzzStats();
  for (const kind of kinds) {
    for (const bytes of corpus[kind]) {
      const parse = kind === "hello" ? parseHello : kind === "proof" ? parseProof : parseVerdict;
      const result = await typed(`parse ${kind}`, () => parse(bytes));
      stats.add(result instanceof HandshakeError ? "rejected" : "parsed");
    }
  }
  assert.ok(stats.get("rejected") > 0);
});
