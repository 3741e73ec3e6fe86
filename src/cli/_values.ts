// Checks of command-line values shared by several commands: each returns the value in
// the form the command uses, or throws a UsageError that names the value and the fix.
// (uuidArg and formatOf, which contact-lookup uses, live in _command.ts: one module
// fewer on its start-up path.)
import { UsageError } from "./_command.ts";
import { CONTACT_HINT, parseContact } from "../contact/mod.ts";

/** A whole number of seconds given to --option, or fallback when absent. */
export function wholeSeconds(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) {
    throw new UsageError(`Invalid --${option} "${text}": want whole seconds, e.g. 10`);
  }
  return Number(text);
}

/** A HOST:PORT given to --option, where port 0 (any free port) is allowed; as given. */
export function addressOption(text: string | undefined, option: string): string | undefined {
  if (text === undefined) return undefined;
  const port0 = text.endsWith(":0") ? parseContact(`${text.slice(0, -1)}1`) : undefined;
  if (!parseContact(text) && !port0) {
    throw new UsageError(`Invalid --${option} "${text}": ${CONTACT_HINT}`);
  }
  return text;
}
