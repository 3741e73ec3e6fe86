// Fuzzing the I/O core's text inputs (src/xio): stack strings, typed driver options,
// sizes and GLOBUS_STREAMS_DEBUG specs. Only XioError (STACK or PARAMETER) may come out,
// never a TypeError, and no message may show a secret given in attrs.
import assert from "node:assert/strict";
import {
  defaultRegistry,
  handshakeTimeoutMs,
  type OptionValue,
  parseDebugSpec,
  parseSize,
  Stack,
  type StackEntry,
  XioError,
} from "../../src/xio/mod.ts";
import {
  corpusTexts,
  fuzzConfig,
  fuzzLoop,
  FuzzStats,
  mutateTextN,
  randomJsonValue,
  type Rng,
} from "./_fuzz.ts";
import { expectXio, uniqueName } from "../xio/_support.ts";

const corpus = Object.fromEntries(
  corpusTexts("xio").map((
    [name, text],
  ) => [name.replace(/\.json$/, ""), JSON.parse(text) as string[]]),
);
const stacks = corpus.stacks;
const driverNames = defaultRegistry.names();
const optionNames = [
  ...new Set(driverNames.flatMap((name) => Object.keys(defaultRegistry.get(name)!.options))),
];
const tokens = [
  ...driverNames,
  ...optionNames.map((o) => `${o}=`),
  "\\,",
  "\\;",
  "\\|",
  "\\",
  "=",
  ",",
  ";",
  "|",
];
const SECRET = "xio-fuzz-secret-7f3a9c";

function randomAttrs(rng: Rng): Record<string, unknown> | undefined {
  switch (rng.int(6)) {
    case 0:
      return undefined;
    case 1:
      return { gsa1: { secret: SECRET } };
    case 2:
      return {
        gsa1: {
          secret: SECRET,
          secretId: rng.pick(["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "nope"]),
        },
      };
    case 3:
      return {
        gsa1: rng.pick([5, null, "x", { secret: "" }, { secrets: 1 }]),
        popen: { args: ["a"] },
      };
    case 4:
      return { popen: rng.pick([{ args: "x" }, { args: [1] }, null, { env: 7 }]) };
    default:
      return { gsa1: { secret: SECRET }, popen: { args: [SECRET] } };
  }
}

/** A value of one of the types StackEntry.options declares (OptionValue), any content. */
function optionValue(rng: Rng): OptionValue {
  switch (rng.int(5)) {
    case 0:
      return rng.pick([NaN, Infinity, -Infinity, -0, 0, 1, -5, 1.5, 2 ** 53, 2 ** 60, 3e9]);
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([
        "",
        "10M",
        "x",
        "true",
        "opaque",
        "a|b",
        "\\",
        "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f",
      ]);
    case 3:
      return Array.from({ length: rng.int(3) }, () => rng.pick(["", "a", "opaque", "read:start"]));
    default: {
      const value = randomJsonValue(rng);
      return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
        ? value
        : String(value);
    }
  }
}

/** The XioError fn throws, checked; or undefined when it returned. */
function xioOutcome(what: string, fn: () => unknown, input: string): XioError | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (!(error instanceof XioError)) {
      throw new Error(
        `${what} threw ${error instanceof Error ? error.name : typeof error}: ${error}`,
      );
    }
    assert.ok(error.kind === "STACK" || error.kind === "PARAMETER", `${what}: kind ${error.kind}`);
    assert.ok(error.message.startsWith("Cannot "), error.message);
    if (!input.includes("\n")) assert.ok(!error.message.includes("\n"), "one line");
    assert.ok(!error.message.includes(SECRET), `${what} shows the secret: ${error.message}`);
    return error;
  }
}

function checkParsed(stack: Stack, text: string): void {
  assert.equal(stack.text, text);
  const kinds = stack.drivers.map((name) => defaultRegistry.get(name)!.kind);
  assert.equal(kinds[0], "transport");
  assert.ok(kinds.slice(1).every((kind) => kind === "transform"));
}

Deno.test("xio stack strings: a Stack or an XioError (STACK, PARAMETER), no secret shown", async () => {
  const config = fuzzConfig("xio-stack", 20_000);
  const stats = await fuzzLoop(
    config,
    (rng) => ({
      text: rng.chance(0.03)
        ? rng.pick(stacks)
        : mutateTextN(rng, rng.pick(stacks), { tokens, others: stacks }),
      attrs: randomAttrs(rng),
    }),
    ({ text, attrs }, _rng, stats) => {
      let stack: Stack | undefined;
      const error = xioOutcome("Stack.parse", () => stack = Stack.parse(text, { attrs }), text);
      if (error) stats.add(`rejected_${error.kind}`);
      else {
        checkParsed(stack!, text);
        stats.add("parsed");
      }
    },
  );
  assert.ok(stats.get("parsed") > 100 && stats.get("rejected_STACK") > 100);
  assert.ok(stats.get("rejected_PARAMETER") > 100);
});

Deno.test("xio stacks built in code: typed option values of any type give only XioError", async () => {
  const config = fuzzConfig("xio-entries", 10_000);
  await fuzzLoop(
    config,
    (rng) => {
      const entries: StackEntry[] = Array.from({ length: rng.range(1, 3) }, () => ({
        driver: rng.chance(0.95) ? rng.pick(driverNames) : "nope",
        options: Object.fromEntries(
          Array.from({ length: rng.int(3) }, () => [
            rng.pick(optionNames),
            optionValue(rng),
          ]),
        ) as StackEntry["options"],
      }));
      return { entries, attrs: randomAttrs(rng) };
    },
    ({ entries, attrs }, _rng, stats) => {
      let stack: Stack | undefined;
      const error = xioOutcome(
        "new Stack",
        () => stack = new Stack(entries, { attrs }),
        entries.map((e) => Object.values(e.options ?? {}).flat().join(" ")).join(" "),
      );
      if (error) stats.add(`rejected_${error.kind}`);
      else {
        assert.ok(stack!.text.length > 0);
        stats.add("built");
      }
    },
  );
});

Deno.test("xio sizes and debug specs: parseSize and parseDebugSpec never throw", async () => {
  const sizes = corpus.sizes;
  const specs = corpus.debug;
  const config = fuzzConfig("xio-options", 20_000);
  await fuzzLoop(
    config,
    (rng) => ({
      size: mutateTextN(rng, rng.pick(sizes), {
        tokens: ["k", "M", "G", "T", "iB", "b", "."],
        others: sizes,
      }),
      spec: mutateTextN(rng, rng.pick(specs), {
        tokens: ["ERROR", "ALL", "^", "|", ",", "#"],
        others: specs,
      }),
      timeout: mutateTextN(rng, rng.pick(["10", "0.5", "3000000", "-1", "1e-9", ""]), { max: 2 }),
    }),
    ({ size, spec, timeout }, _rng, stats) => {
      const bytes = parseSize(size);
      if (bytes === undefined) stats.add("size_rejected");
      else {
        assert.ok(
          Number.isSafeInteger(bytes) && bytes >= 0,
          `parseSize(${JSON.stringify(size)}) = ${bytes}`,
        );
        if (/^\d+$/.test(size.trim())) assert.equal(bytes, Number(size.trim()));
        stats.add("size_parsed");
      }
      const parsed = parseDebugSpec(spec);
      assert.ok(Number.isInteger(parsed.levels) && parsed.levels >= 0 && parsed.levels < 2 ** 32);
      assert.ok(Number.isInteger(parsed.timestampLevels));
      const ms = handshakeTimeoutMs((name) =>
        name === "GLOBUS_STREAMS_HANDSHAKE_TIMEOUT" ? timeout : undefined
      );
      assert.ok(
        (Number.isInteger(ms) || ms === Infinity) && ms >= 0,
        `handshake timeout ${ms} from ${JSON.stringify(timeout)}`,
      );
      assert.ok(ms <= 2 ** 31 - 1, `timeout ${ms} ms overflows setTimeout`);
      assert.ok(ms >= 1, `timeout ${JSON.stringify(timeout)} rounds to 0 ms`);
    },
  );
});

Deno.test("xio corpus: every stack string parses or fails with STACK/PARAMETER", () => {
  const stats = new FuzzStats();
  for (const text of stacks) {
    let stack: Stack | undefined;
    const error = xioOutcome(
      "Stack.parse",
      () => stack = Stack.parse(text, { attrs: { gsa1: { secret: SECRET } } }),
      text,
    );
    if (error) stats.add("rejected");
    else {
      checkParsed(stack!, text);
      stats.add("parsed");
    }
  }
  assert.ok(stats.get("parsed") >= 10 && stats.get("rejected") >= 5);
});

Deno.test({
  name: "a handshake timeout beyond 24.8 days waits instead of expiring at once",
  async fn() {
    const name = uniqueName("fuzz-timeout");
    const server = await Stack.parse("memory").listen(name);
    const controller = new AbortController();
    try {
      const opening = Stack.parse(
        "memory,gsa1:role=responder;tunnel=5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f;timeout_ms=3000000000",
        { attrs: { gsa1: { secret: SECRET } } },
      ).open(name, { signal: controller.signal });
      // Nobody answers HELLO: the open must still be waiting after 300 ms.
      const early = await Promise.race([
        opening.then(() => "opened", (error) => `failed: ${error.message}`),
        new Promise((resolve) => setTimeout(() => resolve("waiting"), 300)),
      ]);
      controller.abort();
      await expectXio(opening, "CANCELED").catch(() => {});
      assert.equal(early, "waiting");
    } finally {
      controller.abort();
      await server.close();
    }
  },
});
