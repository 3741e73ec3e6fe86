/**
 * Contact strings: `host:port`, `[v6]:port`, the form Globus uses for the
 * listener and connector contacts and our I/O stacks use for TCP.
 *
 * @example
 * ```ts
 * import { formatContact, parseContact } from "../contact/mod.ts";
 * const contact = parseContact("[::1]:8080"); // { host: "::1", port: 8080 }
 * formatContact(contact!); // "[::1]:8080"
 * ```
 * @module
 */

/** A host and a TCP port. host has no brackets, even for IPv6. */
export interface Contact {
  host: string;
  port: number;
}

const hostnamePattern =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$/;

function isIpv4(text: string): boolean {
  // No leading zeros: inet_aton and URL read "010" as octal, inet_pton refuses it.
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function isIpv6(text: string): boolean {
  // Hex groups of 1-4 digits, at most one "::", an optional dotted IPv4 last; no stray colon.
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (half: string) => (half === "" ? [] : half.split(":"));
  const groups = [...groupsOf(halves[0]), ...(halves.length === 2 ? groupsOf(halves[1]) : [])];
  if (groups.some((group) => group === "")) return false;
  let count = groups.length;
  const last = groups.at(-1);
  if (last !== undefined && last.includes(".")) {
    if (!isIpv4(last) || !text.endsWith(last)) return false;
    groups.pop();
    count += 1; // a dotted IPv4 fills two groups
  }
  if (!groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** Whether text is an IP address (v4 or v6, no brackets). */
export function isIpAddress(text: string): boolean {
  return isIpv4(text) || isIpv6(text);
}

/** Whether host is an IPv6 address (no brackets). */
export function isIpv6Address(host: string): boolean {
  return isIpv6(host);
}

/**
 * Whether host names this machine's loopback only: 127.0.0.0/8, ::1, an IPv4-mapped
 * 127.x address, or "localhost". A wildcard (0.0.0.0, ::) or any other name is not.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name === "localhost") return true;
  if (isIpv4(name)) return name.startsWith("127.");
  if (!isIpv6(name)) return false;
  const mapped = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(name);
  if (mapped) {
    return expandIpv6(`${mapped[1]}0:0`) === "0:0:0:0:0:ffff:0:0" && mapped[2].startsWith("127.");
  }
  return expandIpv6(name) === "0:0:0:0:0:0:0:1";
}

/** The eight groups of an IPv6 address (no dotted tail), each in short hex. */
function expandIpv6(text: string): string {
  const [head, tail] = text.split("::");
  const groupsOf = (half: string | undefined) => (half ? half.split(":") : []);
  const left = groupsOf(head);
  const right = groupsOf(tail);
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...middle, ...right].map((group) => parseInt(group, 16).toString(16)).join(
    ":",
  );
}

/** Parses a port: a decimal integer 1..65535. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Parses `host:port` or `[v6]:port`. Returns undefined for anything else, so the
 * caller can word the error for its own context.
 */
export function parseContact(text: string): Contact | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || text[close + 1] !== ":") return undefined;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIpv6(host)) return undefined;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return undefined; // a bare IPv6 address needs brackets
    if (!isIpv4(host) && !(hostnamePattern.test(host) && !/^[\d.]+$/.test(host))) return undefined;
  }
  const port = parsePort(portText);
  return port === undefined ? undefined : { host, port };
}

/** Formats a contact, bracketing IPv6 hosts. */
export function formatContact(contact: Contact): string {
  return contact.host.includes(":")
    ? `[${contact.host}]:${contact.port}`
    : `${contact.host}:${contact.port}`;
}

/** The one-line hint used wherever a contact string is rejected. */
export const CONTACT_HINT = 'want HOST:PORT or [IPV6]:PORT, e.g. "10.0.0.5:8888" or "[::1]:8888"';
