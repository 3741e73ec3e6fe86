import assert from "node:assert/strict";
import { oneLine, quoteText } from "../../src/quote/mod.ts";

Deno.test("quoteText escapes every control character a terminal acts on, and cuts long text", () => {
  for (const text of ["a\x1b[2Jb", "\r", "\x7f", "\x85", "\x9b31m", "tab\there"]) {
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(quoteText(text, 80), /[\x00-\x1f\x7f-\x9f]/, JSON.stringify(text));
  }
  assert.equal(quoteText("plain", 80), '"plain"');
  assert.equal(quoteText("x".repeat(10), 4), '"xxxx..."');
});

Deno.test("oneLine puts an error's message on one line, and any thrown value as text", () => {
  assert.equal(oneLine(new Error("Cannot connect:\n  refused")), "Cannot connect: refused");
  assert.equal(oneLine(new TypeError("a \r\n\n b\nc")), "a b c");
  assert.equal(oneLine(new Error("one line  stays as it is")), "one line  stays as it is");
  assert.equal(oneLine("thrown\ntext"), "thrown text");
  assert.equal(oneLine(42), "42");
  assert.equal(oneLine(undefined), "undefined");
});
