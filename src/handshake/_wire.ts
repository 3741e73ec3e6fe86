// GSA1 wire format (shared/design/handshake.md): three fixed-size messages, no length
// fields. Builders take already-known parts; parsers check size, magic and ranges only
// (tags are verified by the caller, who knows the secret).

import { HandshakeError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";

/** Size of HELLO: "GSA1" | flags | Nc. */
export const HELLO_SIZE = 37;
/** Size of PROOF: "GSA1" | tunnel id | secret id | Nr | Tr. */
export const PROOF_SIZE = 100;
/** Size of VERDICT: status | Tc. */
export const VERDICT_SIZE = 33;
/** Size of a nonce and of a tag. */
export const NONCE_SIZE = 32;
export const TAG_SIZE = 32;

const MAGIC = new Uint8Array([0x47, 0x53, 0x41, 0x31]); // "GSA1"

/** VERDICT status codes. */
export const VerdictStatus = {
  accepted: 0,
  unknown_tunnel: 1,
  bad_proof: 2,
  secret_expired: 3,
  refused: 4,
} as const;

/** A VERDICT status by name. */
export type VerdictName = keyof typeof VerdictStatus;

const statusNames: readonly VerdictName[] = [
  "accepted",
  "unknown_tunnel",
  "bad_proof",
  "secret_expired",
  "refused",
];

export interface Hello {
  /** The challenger's nonce, 32 bytes. */
  nc: Uint8Array;
}

export interface Proof {
  /** The tunnel's UUID, lower case with dashes. */
  tunnelId: string;
  /** The LAN secret's UUID, or null when the responder sent all zeros (unknown). */
  secretId: string | null;
  /** The responder's nonce, 32 bytes. */
  nr: Uint8Array;
  /** The responder's tag Tr, 32 bytes. */
  tr: Uint8Array;
}

export interface Verdict {
  status: number;
  /** The status by name. */
  name: VerdictName;
  /** The challenger's tag Tc: meaningful only when accepted, zeros otherwise. */
  tc: Uint8Array;
}

/** A UUID's 16 bytes. Throws a HandshakeError ("malformed") for anything else. */
export function uuidToBytes(uuid: string): Uint8Array {
  if (!isUuid(uuid)) {
    throw new HandshakeError("malformed", `Cannot use "${uuid}" as a GSA1 id: want a UUID`);
  }
  const hex = uuid.replaceAll("-", "");
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** The lower-case 8-4-4-4-12 form of 16 bytes. */
export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

function checkSize(what: string, bytes: Uint8Array, size: number): void {
  if (bytes.length !== size) {
    throw new HandshakeError(
      "malformed",
      `Cannot parse GSA1 ${what}: got ${bytes.length} bytes (want ${size})`,
    );
  }
}

function checkMagic(what: string, bytes: Uint8Array): void {
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new HandshakeError("malformed", `Cannot parse GSA1 ${what}: wrong magic`);
    }
  }
}

function checkPart(what: string, part: Uint8Array, size: number): void {
  if (part.length !== size) {
    throw new HandshakeError(
      "malformed",
      `Cannot build GSA1 message: ${what} has ${part.length} bytes (want ${size})`,
    );
  }
}

/** Builds HELLO from the challenger's nonce. */
export function buildHello(nc: Uint8Array): Uint8Array {
  checkPart("Nc", nc, NONCE_SIZE);
  const out = new Uint8Array(HELLO_SIZE);
  out.set(MAGIC, 0);
  out[4] = 0;
  out.set(nc, 5);
  return out;
}

/** Parses HELLO. Throws a HandshakeError ("malformed") on a wrong size, magic or flags. */
export function parseHello(bytes: Uint8Array): Hello {
  checkSize("HELLO", bytes, HELLO_SIZE);
  checkMagic("HELLO", bytes);
  if (bytes[4] !== 0) {
    throw new HandshakeError(
      "malformed",
      `Cannot parse GSA1 HELLO: flags are ${bytes[4]} (want 0)`,
    );
  }
  return { nc: bytes.slice(5, 5 + NONCE_SIZE) };
}

/** Builds PROOF. A null secretId is sent as 16 zero bytes. */
export function buildProof(proof: Proof): Uint8Array {
  checkPart("Nr", proof.nr, NONCE_SIZE);
  checkPart("Tr", proof.tr, TAG_SIZE);
  const out = new Uint8Array(PROOF_SIZE);
  out.set(MAGIC, 0);
  out.set(uuidToBytes(proof.tunnelId), 4);
  if (proof.secretId !== null) out.set(uuidToBytes(proof.secretId), 20);
  out.set(proof.nr, 36);
  out.set(proof.tr, 68);
  return out;
}

/** Parses PROOF. Throws a HandshakeError ("malformed") on a wrong size or magic. */
export function parseProof(bytes: Uint8Array): Proof {
  checkSize("PROOF", bytes, PROOF_SIZE);
  checkMagic("PROOF", bytes);
  const secretIdBytes = bytes.subarray(20, 36);
  return {
    tunnelId: bytesToUuid(bytes.subarray(4, 20)),
    secretId: secretIdBytes.every((b) => b === 0) ? null : bytesToUuid(secretIdBytes),
    nr: bytes.slice(36, 68),
    tr: bytes.slice(68, 100),
  };
}

/** Builds VERDICT. tc is required for "accepted" and ignored (zeros) otherwise. */
export function buildVerdict(name: VerdictName, tc?: Uint8Array): Uint8Array {
  const out = new Uint8Array(VERDICT_SIZE);
  out[0] = VerdictStatus[name];
  if (name === "accepted") {
    if (tc === undefined) {
      throw new HandshakeError("malformed", "Cannot build GSA1 VERDICT: accepted needs Tc");
    }
    checkPart("Tc", tc, TAG_SIZE);
    out.set(tc, 1);
  }
  return out;
}

/** Parses VERDICT. Throws a HandshakeError ("malformed") on a wrong size or unknown status. */
export function parseVerdict(bytes: Uint8Array): Verdict {
  checkSize("VERDICT", bytes, VERDICT_SIZE);
  const name = statusNames[bytes[0]];
  if (name === undefined) {
    throw new HandshakeError("malformed", `Cannot parse GSA1 VERDICT: unknown status ${bytes[0]}`);
  }
  return { status: bytes[0], name, tc: bytes.slice(1, 1 + TAG_SIZE) };
}
