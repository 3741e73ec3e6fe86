// A TLS identity per emulator run, made in-process (no openssl needed, works offline):
// a CA certificate and a server certificate it signs for the emulator's host names and
// addresses, both ECDSA P-256, in the DER of RFC 5280 written by hand below. Clients
// trust the CA file (the Globus SDK through GLOBUS_SDK_VERIFY_SSL, this project's client
// too), the way they trust a real GCS manager's certificate.
import { isIP } from "node:net";

/** PEM texts: the CA to trust, the server's certificate (with the CA after it) and key. */
export interface TlsIdentity {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const VALIDITY_MS = 30 * 24 * 3_600_000;
/** Clocks of clients on the same host may lag a little. */
const BACKDATE_MS = 3_600_000;

// ---- DER ----------------------------------------------------------------------------

type Bytes = Uint8Array<ArrayBuffer>;

function concat(parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function tlv(tag: number, content: Uint8Array): Bytes {
  const n = content.length;
  let length: number[];
  if (n < 0x80) length = [n];
  else if (n < 0x100) length = [0x81, n];
  else length = [0x82, n >> 8, n & 0xff];
  return concat([new Uint8Array([tag, ...length]), content]);
}

const sequence = (...items: Uint8Array[]) => tlv(0x30, concat(items));
const set = (...items: Uint8Array[]) => tlv(0x31, concat(items));
const octets = (bytes: Uint8Array) => tlv(0x04, bytes);
const bits = (bytes: Uint8Array) => tlv(0x03, concat([new Uint8Array([0]), bytes]));
const utf8 = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 + n, inner);
const TRUE = new Uint8Array([0x01, 0x01, 0xff]);

/** A non-negative INTEGER from big-endian bytes (minimal, with a 0 when the top bit is set). */
function integer(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  return tlv(0x02, body[0] & 0x80 ? concat([new Uint8Array([0]), body]) : body);
}

function oid(text: string): Uint8Array {
  const [a, b, ...rest] = text.split(".").map(Number);
  const out = [40 * a + b];
  for (const value of rest) {
    const chunk = [value & 0x7f];
    for (let v = value >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}

/** UTCTime (years before 2050, as RFC 5280 wants) or GeneralizedTime. */
function time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-12-07T16:58:57.808Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"; // 20261207165857Z
  const year = new Date(ms).getUTCFullYear();
  return year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

function name(commonName: string): Uint8Array {
  return sequence(set(sequence(oid("2.5.4.3"), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(id), TRUE, octets(value)) : sequence(oid(id), octets(value));
}

function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return new Uint8Array(address.split(".").map(Number));
  // IPv6: expand "::" into zero groups, then 8 groups of 16 bits.
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined
    ? left
    : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return new Uint8Array(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/** subjectAltName: dNSName [2] for names, iPAddress [7] for addresses. */
function altNames(hosts: string[]): Uint8Array {
  return sequence(
    ...hosts.map((host) =>
      isIP(host) ? tlv(0x87, ipBytes(host)) : tlv(0x82, new TextEncoder().encode(host))
    ),
  );
}

// ---- certificates -------------------------------------------------------------------

const ECDSA = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));

/** WebCrypto's raw r||s signature as the DER SEQUENCE { r, s } X.509 wants. */
function derSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

async function keyId(spki: Bytes): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", spki)).subarray(0, 20);
}

interface CertificateSpec {
  subject: string;
  issuer: string;
  spki: Bytes;
  signer: CryptoKey;
  subjectKeyId: Uint8Array;
  issuerKeyId: Uint8Array;
  extensions: Uint8Array[];
}

async function certificate(spec: CertificateSpec): Promise<Uint8Array> {
  const now = Date.now();
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const tbs = sequence(
    explicit(0, integer(new Uint8Array([2]))), // v3
    integer(serial),
    ECDSA_SHA256,
    name(spec.issuer),
    sequence(time(now - BACKDATE_MS), time(now + VALIDITY_MS)),
    name(spec.subject),
    spec.spki,
    explicit(
      3,
      sequence(
        ...spec.extensions,
        extension("2.5.29.14", false, octets(spec.subjectKeyId)),
        extension("2.5.29.35", false, sequence(tlv(0x80, spec.issuerKeyId))),
      ),
    ),
  );
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, spec.signer, tbs);
  return sequence(tbs, ECDSA_SHA256, bits(derSignature(new Uint8Array(signature))));
}

function pem(label: string, der: Uint8Array): string {
  let text = "";
  for (const byte of der) text += String.fromCharCode(byte);
  const lines = btoa(text).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

/**
 * A new CA and a server certificate for `hosts` (names and IP addresses), valid for 30
 * days from an hour ago.
 *
 * @example
 * ```ts
 * const tls = await makeTlsIdentity(["localhost", "127.0.0.1", "::1"]);
 * Deno.serve({ cert: tls.certPem, key: tls.keyPem, port: 0 }, handler);
 * ```
 */
export async function makeTlsIdentity(hosts: string[]): Promise<TlsIdentity> {
  const ca = await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"]);
  const server = await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"]);
  const caSpki = new Uint8Array(await crypto.subtle.exportKey("spki", ca.publicKey));
  const serverSpki = new Uint8Array(await crypto.subtle.exportKey("spki", server.publicKey));
  const caKeyId = await keyId(caSpki);
  const serverKeyId = await keyId(serverSpki);
  const runId = crypto.randomUUID().slice(0, 8);
  const caName = `globus-streams emulator CA ${runId}`;
  const caDer = await certificate({
    subject: caName,
    issuer: caName,
    spki: caSpki,
    signer: ca.privateKey,
    subjectKeyId: caKeyId,
    issuerKeyId: caKeyId,
    extensions: [
      extension("2.5.29.19", true, sequence(new Uint8Array([0x01, 0x01, 0xff]))), // CA:TRUE
      extension("2.5.29.15", true, tlv(0x03, new Uint8Array([1, 0x06]))), // keyCertSign, cRLSign
    ],
  });
  const serverDer = await certificate({
    subject: hosts[0],
    issuer: caName,
    spki: serverSpki,
    signer: ca.privateKey,
    subjectKeyId: serverKeyId,
    issuerKeyId: caKeyId,
    extensions: [
      extension("2.5.29.19", true, sequence()), // CA:FALSE
      extension("2.5.29.15", true, tlv(0x03, new Uint8Array([7, 0x80]))), // digitalSignature
      extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))), // serverAuth
      extension("2.5.29.17", false, altNames(hosts)),
    ],
  });
  const key = new Uint8Array(await crypto.subtle.exportKey("pkcs8", server.privateKey));
  const caPem = pem("CERTIFICATE", caDer);
  return { caPem, certPem: pem("CERTIFICATE", serverDer) + caPem, keyPem: pem("PRIVATE KEY", key) };
}
