// GSA1 tags: HMAC-SHA256 keyed by the LAN secret's UTF-8 bytes over a label and the
// session's ids and nonces. Compared in constant time.

import { createHmac } from "node:crypto";
import { NONCE_SIZE, TAG_SIZE, uuidToBytes } from "./_wire.ts";

/** What both tags are computed over. */
export interface TagInput {
  /** The LAN secret (`lankey`); its UTF-8 bytes are the HMAC key. */
  secret: string;
  tunnelId: string;
  /** null = unknown, sent as 16 zero bytes. */
  secretId: string | null;
  nc: Uint8Array;
  nr: Uint8Array;
}

const encoder = new TextEncoder();
const RESPONDER_LABEL = encoder.encode("GSA1 responder");
const CHALLENGER_LABEL = encoder.encode("GSA1 challenger");

/** 32 bytes from the OS CSPRNG. */
export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// node:crypto's synchronous HMAC: WebCrypto's importKey + sign cost 26-63 us a tag
// against about 9 us here, and an access point computes several tags per stream.
function hmac(secret: string, message: Uint8Array): Promise<Uint8Array> {
  const digest = createHmac("sha256", encoder.encode(secret)).update(message).digest();
  return Promise.resolve(Uint8Array.from(digest)); // a copy, not a view into a Buffer pool
}

function idBytes(input: TagInput): [Uint8Array, Uint8Array] {
  const secretId = input.secretId === null ? new Uint8Array(16) : uuidToBytes(input.secretId);
  return [uuidToBytes(input.tunnelId), secretId];
}

/** Tr = HMAC(secret, "GSA1 responder" | tunnel id | secret id | Nc | Nr). */
export function responderTag(input: TagInput): Promise<Uint8Array> {
  const [tunnel, secretId] = idBytes(input);
  return hmac(input.secret, concat([RESPONDER_LABEL, tunnel, secretId, input.nc, input.nr]));
}

/** Tc = HMAC(secret, "GSA1 challenger" | tunnel id | secret id | Nr | Nc). */
export function challengerTag(input: TagInput): Promise<Uint8Array> {
  const [tunnel, secretId] = idBytes(input);
  return hmac(input.secret, concat([CHALLENGER_LABEL, tunnel, secretId, input.nr, input.nc]));
}

/**
 * Compares two byte strings in time that depends only on their lengths, never on where
 * they differ.
 */
export function tagsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether tr is the right responder tag for input. */
export async function verifyResponderTag(input: TagInput, tr: Uint8Array): Promise<boolean> {
  return tr.length === TAG_SIZE && tagsEqual(await responderTag(input), tr);
}

/** Whether tc is the right challenger tag for input. */
export async function verifyChallengerTag(input: TagInput, tc: Uint8Array): Promise<boolean> {
  return tc.length === TAG_SIZE && tagsEqual(await challengerTag(input), tc);
}
