/**
 * UUIDs in their 36-character text form (8-4-4-4-12 hex digits, any version, either
 * case): Globus ids, tunnel ids, LAN secret ids. Its own folder so that conf/ (on every
 * preloaded process's start-up path), handshake/, globus/ and the emulator share one
 * check without importing each other for it.
 *
 * @example
 * ```ts
 * import { isUuid } from "../uuid/mod.ts";
 * isUuid("5f2c1a3e-0b7d-4c52-9e1f-2a6b8d4c0e91"); // true
 * isUuid("../../etc/passwd"); // false
 * ```
 * @module
 */

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether text is a UUID in its 36-character text form. */
export function isUuid(text: string): boolean {
  return UUID_PATTERN.test(text);
}
