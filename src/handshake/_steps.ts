// The protocol's decisions, one function per step, with no I/O: the caller moves the
// bytes (the xio gsa1 driver over a socket, the tests over arrays).

import { HandshakeError } from "./_error.ts";
import { challengerTag, newNonce, responderTag, type TagInput, tagsEqual } from "./_tags.ts";
import {
  buildProof,
  buildVerdict,
  parseHello,
  parseProof,
  parseVerdict,
  type Proof,
  type VerdictName,
} from "./_wire.ts";

/** The responder's identity: which tunnel it wants and the LAN secret it holds. */
export interface ResponderIdentity {
  tunnelId: string;
  secret: string;
  /** The secret's UUID (`lankey_id`), or null/undefined when unknown. */
  secretId?: string | null;
  /** The responder's nonce; default 32 fresh random bytes (tests pass a fixed one). */
  nr?: Uint8Array;
}

/** What the challenger judges a PROOF with. */
export interface Challenge {
  /** The nonce it sent in HELLO. */
  nc: Uint8Array;
  /** Where it finds the secret for the tunnel the PROOF names. */
  lookup: SecretLookup;
}

/**
 * The challenger's answer for a tunnel named in a PROOF: the secret to check it with, or
 * a refusal (undefined = unknown tunnel).
 */
export type SecretAnswer =
  | { secret: string }
  | { refuse: "unknown_tunnel" | "secret_expired" | "refused" }
  | undefined;

/** Finds the secret for a tunnel (and the secret id the responder named, if any). */
export type SecretLookup = (
  tunnelId: string,
  secretId: string | null,
) => SecretAnswer | Promise<SecretAnswer>;

/** The responder's half of a session after PROOF: what VERDICT is checked against. */
export interface ResponderSession {
  input: TagInput;
  proof: Uint8Array;
}

/** The challenger's decision on a PROOF. */
export interface Judgement {
  name: VerdictName;
  /** The VERDICT bytes to send. */
  verdict: Uint8Array;
  /** The parsed PROOF, unless it was malformed. */
  proof?: Proof;
  /** Why it was refused; undefined when accepted. */
  error?: HandshakeError;
}

const reasonText: Record<Exclude<VerdictName, "accepted">, string> = {
  unknown_tunnel: "unknown tunnel",
  bad_proof: "bad proof",
  secret_expired: "secret expired",
  refused: "refused",
};

/**
 * Responder, step 2: answers HELLO with PROOF. Throws a HandshakeError ("malformed")
 * for a bad HELLO.
 */
export async function answerHello(
  hello: Uint8Array,
  identity: ResponderIdentity,
): Promise<ResponderSession> {
  const { nc } = parseHello(hello);
  const nr = identity.nr ?? newNonce();
  const input: TagInput = {
    secret: identity.secret,
    tunnelId: identity.tunnelId.toLowerCase(),
    secretId: identity.secretId?.toLowerCase() ?? null,
    nc,
    nr,
  };
  const tr = await responderTag(input);
  const proof = buildProof({ tunnelId: input.tunnelId, secretId: input.secretId, nr, tr });
  return { input, proof };
}

/**
 * Challenger, step 3: judges PROOF against the nonce it sent. A malformed PROOF is
 * refused with status 4 ("refused"), a wrong tag with 2 ("bad_proof").
 */
export async function judgeProof(
  proofBytes: Uint8Array,
  challenge: Challenge,
): Promise<Judgement> {
  const { nc, lookup } = challenge;
  let proof: Proof;
  try {
    proof = parseProof(proofBytes);
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    return { name: "refused", verdict: buildVerdict("refused"), error };
  }
  const refuse = (name: Exclude<VerdictName, "accepted">): Judgement => ({
    name,
    verdict: buildVerdict(name),
    proof,
    error: new HandshakeError(
      name,
      `GSA1 handshake refused for tunnel ${proof.tunnelId}: ${reasonText[name]}`,
    ),
  });
  const answer = await lookup(proof.tunnelId, proof.secretId);
  if (answer === undefined) return refuse("unknown_tunnel");
  if ("refuse" in answer) return refuse(answer.refuse);
  const input: TagInput = {
    secret: answer.secret,
    tunnelId: proof.tunnelId,
    secretId: proof.secretId,
    nc,
    nr: proof.nr,
  };
  if (!tagsEqual(await responderTag(input), proof.tr)) return refuse("bad_proof");
  return { name: "accepted", verdict: buildVerdict("accepted", await challengerTag(input)), proof };
}

/**
 * Responder, step 4: checks VERDICT. Returns on acceptance with a good Tc; throws a
 * HandshakeError otherwise (reason = the status's name, "bad_tag" or "malformed").
 */
export async function checkVerdict(verdictBytes: Uint8Array, session: ResponderSession) {
  const verdict = parseVerdict(verdictBytes);
  const tunnel = session.input.tunnelId;
  if (verdict.name !== "accepted") {
    throw new HandshakeError(
      verdict.name,
      `GSA1 handshake refused for tunnel ${tunnel}: ${
        reasonText[verdict.name]
      } (status ${verdict.status})`,
    );
  }
  if (!tagsEqual(await challengerTag(session.input), verdict.tc)) {
    throw new HandshakeError(
      "bad_tag",
      `GSA1 handshake failed for tunnel ${tunnel}: the challenger's tag does not match (wrong secret)`,
    );
  }
}
