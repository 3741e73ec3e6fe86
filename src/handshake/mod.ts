/**
 * GSA1, this project's LAN handshake (shared/design/handshake.md), as pure functions:
 * build and parse the three messages, compute and verify the tags, and decide each
 * step. No I/O here: the xio `gsa1` driver moves the bytes.
 *
 * @example
 * ```ts
 * import { answerHello, buildHello, checkVerdict, judgeProof, newNonce } from "../handshake/mod.ts";
 * const nc = newNonce();
 * const session = await answerHello(buildHello(nc), { tunnelId, secret, secretId });
 * const judgement = await judgeProof(session.proof, { nc, lookup: () => ({ secret }) });
 * await checkVerdict(judgement.verdict, session); // throws a HandshakeError on refusal
 * ```
 * @module
 */

export { HandshakeError, type HandshakeReason } from "./_error.ts";
export {
  buildHello,
  buildProof,
  buildVerdict,
  bytesToUuid,
  type Hello,
  HELLO_SIZE,
  NONCE_SIZE,
  parseHello,
  parseProof,
  parseVerdict,
  type Proof,
  PROOF_SIZE,
  TAG_SIZE,
  uuidToBytes,
  type Verdict,
  VERDICT_SIZE,
  type VerdictName,
  VerdictStatus,
} from "./_wire.ts";
export {
  challengerTag,
  newNonce,
  responderTag,
  type TagInput,
  tagsEqual,
  verifyChallengerTag,
  verifyResponderTag,
} from "./_tags.ts";
export {
  answerHello,
  type Challenge,
  checkVerdict,
  type Judgement,
  judgeProof,
  type ResponderIdentity,
  type ResponderSession,
  type SecretAnswer,
  type SecretLookup,
} from "./_steps.ts";
