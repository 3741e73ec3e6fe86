import assert from "node:assert/strict";
import { isUuid } from "../../src/uuid/mod.ts";

const id = "5f2c3a1e-0000-4000-8000-000000000001";

Deno.test("isUuid takes the 36-character text form in either case", () => {
  assert.ok(isUuid(id));
  assert.ok(isUuid(id.toUpperCase()));
  assert.ok(isUuid("5f2c1a3e-0b7d-4c52-9e1f-2a6b8d4c0e91"));
});

Deno.test("isUuid refuses anything else: longer, shorter, braces, no dashes, paths", () => {
  for (
    const text of [
      id + "0",
      id.slice(1),
      `{${id}}`,
      id.replaceAll("-", ""),
      ` ${id}`,
      `${id}\n`,
      "5f2c3a1e-0000-4000-8000-00000000000g",
      "../../etc/passwd",
      "",
    ]
  ) {
    assert.ok(!isUuid(text), JSON.stringify(text));
  }
});
