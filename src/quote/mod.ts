/**
 * Quoting outside text (a service's answer, a file's value) for a one-line error message:
 * JSON-quoted, so C0 controls are escaped, plus DEL and the C1 range, which terminals
 * also act on; cut to a length so a huge value cannot flood the terminal.
 *
 * @example
 * ```ts
 * import { quoteText } from "../quote/mod.ts";
 * quoteText("a\x1b[2Jb", 80); // "\"a\\u001b[2Jb\""
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
