/**
 * Text for one-line messages. quoteText quotes outside text (a service's answer, a
 * file's value): JSON-quoted, so C0 controls are escaped, plus DEL and the C1 range,
 * which terminals also act on; cut to a length so a huge value cannot flood the
 * terminal. oneLine puts an error's message on one line, for a message or log line
 * built around it.
 *
 * @example
 * ```ts
 * import { oneLine, quoteText } from "../quote/mod.ts";
 * quoteText("a\x1b[2Jb", 80); // "\"a\\u001b[2Jb\""
 * oneLine(new Error("Cannot connect:\n  refused")); // "Cannot connect: refused"
 * ```
 * @module
 */

/** text quoted for a message: escaped, and cut to maxChars with "..." when longer. */
export function quoteText(text: string, maxChars: number): string {
  const cut = text.length > maxChars ? text.slice(0, maxChars) + "..." : text;
  return JSON.stringify(cut).replace(
    /[\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * An error's message (or any other thrown value as text) on one line: each line break,
 * with the blanks around it, becomes one space.
 */
export function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");
}
