import assert from "node:assert/strict";
import { quoteText } from "../../src/quote/mod.ts";

Deno.test("quoteText escapes every control character a terminal acts on, and cuts long text", () => {
  for (const text of ["a\x1b[2Jb", "\r", "\x7f", "\x85", "\x9b31m", "tab\there"]) {
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(quoteText(text, 80), /[\x00-\x1f\x7f-\x9f]/, JSON.stringify(text));
  }
  assert.equal(quoteText("plain", 80), '"plain"');
  assert.equal(quoteText("x".repeat(10), 4), '"xxxx..."');
});
