// GSA1 against the shared test vectors (made by an independent Python implementation),
// plus the negative space: every "invalid" entry, wrong secrets, replay, bad ids.
import assert from "node:assert/strict";
import { z } from "zod";
import {
  answerHello,
  buildHello,
  buildProof,
  buildVerdict,
  bytesToUuid,
  challengerTag,
  checkVerdict,
  HandshakeError,
  HELLO_SIZE,
  judgeProof,
  newNonce,
  parseHello,
  parseProof,
  parseVerdict,
  PROOF_SIZE,
  responderTag,
  tagsEqual,
  uuidToBytes,
  VERDICT_SIZE,
  VerdictStatus,
  verifyChallengerTag,
  verifyResponderTag,
} from "../../src/handshake/mod.ts";

const Vector = z.object({
  name: z.string(),
  secret: z.string(),
  tunnel_id: z.string(),
  secret_id: z.string().nullable(),
  nc_hex: z.string(),
  nr_hex: z.string(),
  hello_hex: z.string(),
  tr_hex: z.string(),
  proof_hex: z.string(),
  tc_hex: z.string(),
  verdict_ok_hex: z.string(),
});
const Invalid = z.object({
  name: z.string(),
  message: z.enum(["hello", "proof", "verdict"]),
  bytes_hex: z.string(),
  expect: z.enum(["bad_proof", "bad_tag"]).optional(),
});
const VectorFile = z.object({
  sizes: z.object({ hello: z.number(), proof: z.number(), verdict: z.number() }),
  verdict_status: z.record(z.string(), z.number()),
  vectors: z.array(Vector).min(1),
  invalid: z.array(Invalid).min(1),
});

const file = VectorFile.parse(
  JSON.parse(await Deno.readTextFile(new URL("./gsa1_vectors.json", import.meta.url))),
);

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text: string): Uint8Array {
  assert.equal(text.length % 2, 0);
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

async function rejectsWith(fn: () => unknown, reason: string): Promise<HandshakeError> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof HandshakeError, `want HandshakeError, got ${error}`);
    assert.equal(error.reason, reason);
    return error;
  }
  assert.fail(`want a HandshakeError "${reason}"`);
}

Deno.test("sizes and statuses match the vector file", () => {
  assert.deepEqual(file.sizes, { hello: HELLO_SIZE, proof: PROOF_SIZE, verdict: VERDICT_SIZE });
  assert.deepEqual(file.verdict_status, VerdictStatus);
});

for (const v of file.vectors) {
  const input = {
    secret: v.secret,
    tunnelId: v.tunnel_id,
    secretId: v.secret_id,
    nc: unhex(v.nc_hex),
    nr: unhex(v.nr_hex),
  };

  Deno.test(`vector "${v.name}": messages and tags are byte-exact`, async () => {
    assert.equal(hex(buildHello(input.nc)), v.hello_hex);
    assert.equal(hex(parseHello(unhex(v.hello_hex)).nc), v.nc_hex);
    const tr = await responderTag(input);
    assert.equal(hex(tr), v.tr_hex);
    const proof = buildProof({ tunnelId: v.tunnel_id, secretId: v.secret_id, nr: input.nr, tr });
    assert.equal(hex(proof), v.proof_hex);
    const parsed = parseProof(unhex(v.proof_hex));
    assert.equal(parsed.tunnelId, v.tunnel_id);
    assert.equal(parsed.secretId, v.secret_id);
    assert.equal(hex(parsed.nr), v.nr_hex);
    assert.equal(hex(parsed.tr), v.tr_hex);
    const tc = await challengerTag(input);
    assert.equal(hex(tc), v.tc_hex);
    assert.equal(hex(buildVerdict("accepted", tc)), v.verdict_ok_hex);
    const verdict = parseVerdict(unhex(v.verdict_ok_hex));
    assert.equal(verdict.name, "accepted");
    assert.equal(hex(verdict.tc), v.tc_hex);
    assert.ok(await verifyResponderTag(input, unhex(v.tr_hex)));
    assert.ok(await verifyChallengerTag(input, unhex(v.tc_hex)));
  });

  Deno.test(`vector "${v.name}": the steps agree with the vector end to end`, async () => {
    const identity = { tunnelId: v.tunnel_id, secret: v.secret, secretId: v.secret_id };
    const session = await answerHello(unhex(v.hello_hex), { ...identity, nr: input.nr });
    assert.equal(hex(session.proof), v.proof_hex);
    const judgement = await judgeProof(session.proof, {
      nc: input.nc,
      lookup: (tunnelId, secretId) => {
        assert.equal(tunnelId, v.tunnel_id);
        assert.equal(secretId, v.secret_id);
        return { secret: v.secret };
      },
    });
    assert.equal(judgement.name, "accepted");
    assert.equal(judgement.error, undefined);
    assert.equal(hex(judgement.verdict), v.verdict_ok_hex);
    await checkVerdict(judgement.verdict, session);
  });

  Deno.test(`vector "${v.name}": a wrong secret is refused on both sides`, async () => {
    // Challenger holds another secret: the proof does not verify.
    const judged = await judgeProof(unhex(v.proof_hex), {
      nc: input.nc,
      lookup: () => ({ secret: v.secret + "x" }),
    });
    assert.equal(judged.name, "bad_proof");
    assert.equal(judged.error?.reason, "bad_proof");
    assert.equal(hex(judged.verdict), "02" + "00".repeat(32));
    assert.ok(!judged.error?.message.includes(v.secret));
    // Responder holds another secret: the challenger's Tc does not verify.
    const wrong = await answerHello(unhex(v.hello_hex), {
      tunnelId: v.tunnel_id,
      secret: v.secret + "x",
      secretId: v.secret_id,
      nr: input.nr,
    });
    const error = await rejectsWith(() => checkVerdict(unhex(v.verdict_ok_hex), wrong), "bad_tag");
    assert.ok(!error.message.includes(v.secret));
  });
}

Deno.test("every invalid vector is rejected the way the file says", async () => {
  const good = file.vectors[0];
  const nc = unhex(good.nc_hex);
  const session = await answerHello(unhex(good.hello_hex), {
    tunnelId: good.tunnel_id,
    secret: good.secret,
    secretId: good.secret_id,
    nr: unhex(good.nr_hex),
  });
  const seen = new Set<string>();
  for (const entry of file.invalid) {
    const bytes = unhex(entry.bytes_hex);
    const label = `invalid "${entry.name}"`;
    if (entry.message === "hello") {
      assert.equal(entry.expect, undefined, label);
      await rejectsWith(() => parseHello(bytes), "malformed");
      await rejectsWith(
        () => answerHello(bytes, { tunnelId: good.tunnel_id, secret: good.secret }),
        "malformed",
      );
    } else if (entry.message === "proof") {
      const judged = await judgeProof(bytes, { nc, lookup: () => ({ secret: good.secret }) });
      if (entry.expect === "bad_proof") {
        parseProof(bytes); // well-formed
        assert.equal(judged.name, "bad_proof", label);
      } else {
        await rejectsWith(() => parseProof(bytes), "malformed");
        assert.equal(judged.name, "refused", label);
        assert.equal(judged.error?.reason, "malformed", label);
        assert.equal(judged.verdict[0], VerdictStatus.refused, label);
      }
    } else {
      if (entry.expect === "bad_tag") {
        assert.equal(parseVerdict(bytes).name, "accepted", label);
        await rejectsWith(() => checkVerdict(bytes, session), "bad_tag");
      } else {
        await rejectsWith(() => parseVerdict(bytes), "malformed");
        await rejectsWith(() => checkVerdict(bytes, session), "malformed");
      }
    }
    seen.add(entry.name);
  }
  assert.equal(seen.size, file.invalid.length);
});

Deno.test("a replayed PROOF fails against a fresh challenge", async () => {
  const v = file.vectors[0];
  const session = await answerHello(buildHello(newNonce()), {
    tunnelId: v.tunnel_id,
    secret: v.secret,
    secretId: v.secret_id,
  });
  const freshNc = newNonce();
  const judged = await judgeProof(session.proof, {
    nc: freshNc,
    lookup: () => ({ secret: v.secret }),
  });
  assert.equal(judged.name, "bad_proof");
});

Deno.test("refusals carry the verdict's reason to the responder", async () => {
  const v = file.vectors[0];
  const session = await answerHello(unhex(v.hello_hex), {
    tunnelId: v.tunnel_id,
    secret: v.secret,
  });
  for (const name of ["unknown_tunnel", "bad_proof", "secret_expired", "refused"] as const) {
    const error = await rejectsWith(() => checkVerdict(buildVerdict(name), session), name);
    assert.match(error.message, new RegExp(`status ${VerdictStatus[name]}`));
  }
  const unknown = await judgeProof(session.proof, { nc: unhex(v.nc_hex), lookup: () => undefined });
  assert.equal(unknown.name, "unknown_tunnel");
  const expired = await judgeProof(session.proof, {
    nc: unhex(v.nc_hex),
    lookup: () => ({ refuse: "secret_expired" }),
  });
  assert.equal(expired.name, "secret_expired");
  assert.equal(expired.verdict[0], 3);
});

Deno.test("tags compare by value only, and lengths must match", () => {
  const a = new Uint8Array(32).fill(7);
  assert.ok(tagsEqual(a, a.slice()));
  for (const at of [0, 15, 31]) {
    const b = a.slice();
    b[at] ^= 0x80;
    assert.ok(!tagsEqual(a, b));
  }
  assert.ok(!tagsEqual(a, a.subarray(0, 31)));
  assert.ok(tagsEqual(new Uint8Array(0), new Uint8Array(0)));
});

Deno.test("nonces are 32 random bytes", () => {
  const a = newNonce();
  const b = newNonce();
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
});

Deno.test("UUIDs round-trip and bad ones are refused", async () => {
  const id = "5F2C8E4A-1B3D-4C5E-9F60-7A8B9C0D1E2F";
  assert.equal(bytesToUuid(uuidToBytes(id)), id.toLowerCase());
  for (const bad of ["", "5f2c8e4a", "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2g", "x".repeat(36)]) {
    await rejectsWith(() => uuidToBytes(bad), "malformed");
  }
  await rejectsWith(() => buildHello(new Uint8Array(31)), "malformed");
  await rejectsWith(() => buildVerdict("accepted"), "malformed");
});

Deno.test("garbage of every length never crashes a parser", async () => {
  for (let size = 0; size <= 120; size++) {
    const bytes = crypto.getRandomValues(new Uint8Array(size));
    for (const parse of [parseHello, parseProof, parseVerdict]) {
      try {
        parse(bytes);
      } catch (error) {
        assert.ok(error instanceof HandshakeError, `size ${size}: ${error}`);
      }
    }
    const judged = await judgeProof(bytes, { nc: newNonce(), lookup: () => ({ secret: "s" }) });
    assert.notEqual(judged.name, "accepted");
  }
});
