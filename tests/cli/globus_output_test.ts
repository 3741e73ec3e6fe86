// The official CLI's output forms for shapes the emulator's documents do not have: JSON
// keys that JavaScript would reorder, characters outside the BMP, -F unix of nested and
// mixed lists, and the pages of a list as one document. (tests/oracle/cli_test.ts
// compares whole outputs with the official CLI itself.)
import assert from "node:assert/strict";
import { jqQuery, pythonJson, unixText } from "../../src/cli/_globus_output.ts";
import { formatTable, wholeDocument } from "../../src/cli/_transfer.ts";

Deno.test("-F json: keys sorted as Python sorts them, non-ASCII escaped, empty containers inline", () => {
  // JavaScript objects list integer-like keys first; Python's sort_keys does not.
  const text = pythonJson({ b: [], "10": 1, "9": { z: null, a: true }, a: "é😀\n", c: {} });
  assert.equal(
    text,
    '{\n  "10": 1,\n  "9": {\n    "a": true,\n    "z": null\n  },\n  "a": "\\u00e9\\ud83d\\ude00\\n",\n' +
      '  "b": [],\n  "c": {}\n}\n',
  );
  assert.equal(pythonJson("x"), '"x"\n');
  assert.equal(pythonJson(null), "null\n");
});

Deno.test("-F unix: plain values on a line, nested values under their key, None for null", () => {
  assert.equal(
    unixText({
      links: null,
      data: [{ id: 1, t: "A", attributes: { x: false } }],
      meta: { r: "q" },
    }),
    "None\nDATA\n1\tA\nATTRIBUTES\nFalse\nMETA\nq\n",
  );
  assert.equal(unixText(["a", "b"]), "a\tb\n");
  assert.equal(unixText({ ids: ["a", "b"] }), "IDS\ta\nIDS\tb\n");
  assert.equal(unixText([["a", 1], ["b", 2]]), "a\t1\nb\t2\n");
  assert.equal(unixText(7), "7\n");
  assert.equal(unixText(null), "None\n");
  assert.equal(unixText([]), "");
  // A key missing from one object of a list prints None in its place.
  assert.equal(unixText([{ a: 1, b: 2 }, { a: 3 }]), "1\t2\n3\tNone\n");
  assert.throws(() => unixText([{ a: 1 }, "x"]), /Cannot print this answer with -F unix/);
});

Deno.test("--jq is JMESPath; a bad expression is a usage error naming it", async () => {
  const document = { data: [{ id: "a", n: 1 }, { id: "b", n: 2 }] };
  assert.deepEqual((await jqQuery("data[?n > `1`].id"))(document), ["b"]);
  assert.equal((await jqQuery("nothing"))(document), null);
  const usage = (error: unknown) =>
    error instanceof Error && error.name === "UsageError" && /^Invalid --jq/.test(error.message);
  await assert.rejects(() => jqQuery("data[0].[["), usage);
  const unknown = await jqQuery("nosuch(@)");
  assert.throws(() => unknown(document), usage);
});

Deno.test("pages of a list print as one document; one page as it came", () => {
  const first = { data: [1], links: { next: "x" }, meta: { request_id: "r1" } };
  const last = { data: [2], links: null, meta: { request_id: "r2" } };
  assert.deepEqual(wholeDocument([last]), last);
  assert.deepEqual(wholeDocument([first, last]), {
    data: [1, 2],
    links: null,
    meta: { request_id: "r1" },
  });
  assert.equal(wholeDocument([]), null);
});

Deno.test("tables as the official CLI prints them to a pipe: every cell padded, -+- rule", () => {
  assert.equal(
    formatTable(["A", "Bee"], [["xx", null], ["y", "zzzz"]]),
    "A  | Bee \n---+-----\nxx | None\ny  | zzzz\n",
  );
  assert.equal(formatTable(["A", "B"], []), "A | B\n--+--\n");
});
