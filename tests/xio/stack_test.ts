// Stack strings, typed options, stack structure (STACK errors) and the debug variable.
import assert from "node:assert/strict";
import {
  DEBUG_LEVELS,
  DebugLog,
  DriverRegistry,
  memoryDriver,
  type Options,
  parseDebugSpec,
  parseSize,
  Stack,
  type TransformDriver,
} from "../../src/xio/mod.ts";
import { expectXio } from "./_support.ts";

const TUNNEL = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";

Deno.test("the issue's example stack parses, transport first", () => {
  const stack = Stack.parse(`tcp,gsa1:role=responder;tunnel=${TUNNEL},rate:rate=10M`, {
    attrs: { gsa1: { secret: "s3cret" } },
  });
  assert.deepEqual(stack.drivers, ["tcp", "gsa1", "rate"]);
  assert.equal(stack.text, `tcp,gsa1:role=responder;tunnel=${TUNNEL},rate:rate=10M`);
});

Deno.test("stacks built from driver objects get a text of their own", () => {
  const stack = new Stack([
    { driver: "memory", options: { capacity: 1024, fail: ["read:end", "write:start"] } },
    { driver: "rate", options: { rate: "1M", period: 10 } },
  ]);
  assert.equal(stack.text, "memory:capacity=1024;fail=read:end|write:start,rate:rate=1M;period=10");
  assert.deepEqual(stack.drivers, ["memory", "rate"]);
});

Deno.test("sizes take k, M, G in powers of 1024", () => {
  assert.equal(parseSize("512k"), 512 * 1024);
  assert.equal(parseSize("10M"), 10 * 1024 * 1024);
  assert.equal(parseSize("1.5G"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("65536"), 65536);
  assert.equal(parseSize("2MiB"), 2 * 1024 * 1024);
  for (const bad of ["", "M", "-1k", "1x", "1 0"]) assert.equal(parseSize(bad), undefined, bad);
});

/** A transform that records the typed options it was given. */
function probe(seen: Options[]): TransformDriver {
  return {
    name: "probe",
    kind: "transform",
    summary: "records options",
    options: {
      count: { type: "int", doc: "an int", min: 0, max: 10 },
      flag: { type: "bool", doc: "a bool" },
      size: { type: "size", doc: "a size", default: 4096 },
      word: { type: "string", doc: "a string", choices: ["a", "b;c"] },
      items: { type: "list", doc: "a list" },
      path: { type: "string", doc: "free text" },
    },
    validate(options) {
      seen.push(options);
    },
    open: () => Promise.reject(new Error("not used")),
  };
}

Deno.test("option values are typed: ints, bools, sizes, strings, lists, escapes", () => {
  const seen: Options[] = [];
  const registry = new DriverRegistry([memoryDriver, probe(seen)]);
  Stack.parse(String.raw`memory,probe:count=7;flag;items=a|b\|c|d;word=b\;c;path=C:\\x\,y`, {
    registry,
  });
  const o = seen[0];
  assert.equal(o.number("count"), 7);
  assert.equal(o.bool("flag"), true);
  assert.equal(o.number("size"), 4096);
  assert.deepEqual(o.list("items"), ["a", "b|c", "d"]);
  assert.equal(o.string("word"), "b;c");
  assert.equal(o.string("path"), "C:\\x,y");
  Stack.parse("memory,probe:flag=off;size=2k;items=", { registry });
  assert.equal(seen[1].bool("flag"), false);
  assert.equal(seen[1].number("size"), 2048);
  assert.deepEqual(seen[1].list("items"), []);
  assert.throws(() => seen[1].string("flag"), TypeError);
});

Deno.test("bad options are PARAMETER errors naming the stack, driver and value", async () => {
  const registry = new DriverRegistry([memoryDriver, probe([])]);
  const cases: [string, RegExp][] = [
    ["memory,probe:count=x", /option "count" of driver "probe" wants an integer, got "x"/],
    ["memory,probe:count=11", /option "count" of driver "probe" is 11: want 0\.\.10/],
    ["memory,probe:flag=maybe", /wants true or false, got "maybe"/],
    ["memory,probe:size=lots", /wants a size like 10M or 512k, got "lots"/],
    ["memory,probe:word=z", /is "z": want one of a, b;c/],
    ["memory,probe:count", /wants an integer, got \(no value\)/],
    ["memory,probe:nope=1", /unknown option "nope" for driver "probe" \(want one of count/],
    ["memory,probe:count=1;count=2", /option "count" given twice/],
    ["memory,probe:Bad=1", /bad option name "Bad"/],
    ["memory:fail=read:middle", /driver "memory": fault "read:middle"/],
  ];
  for (const [text, pattern] of cases) {
    const error = await expectXio(() => Stack.parse(text, { registry }), "PARAMETER");
    assert.match(error.message, pattern, text);
    assert.ok(error.message.startsWith(`Cannot use stack "${text}": `), error.message);
  }
});

Deno.test("stack structure errors are STACK: transport not at the bottom, two transports", async () => {
  const cases: [string, RegExp][] = [
    ["", /it names no driver/],
    [
      "rate:rate=1M,tcp",
      /the first \(bottom\) driver must be a transport, and "rate" is a transform/,
    ],
    ["tcp,popen", /"popen" is a second transport/],
    ["tcp,nosuch", /unknown driver "nosuch" \(want one of .*tcp/],
    ["tcp,,rate", /bad driver name ""/],
    ["TCP", /bad driver name "TCP"/],
  ];
  for (const [text, pattern] of cases) {
    const error = await expectXio(() => Stack.parse(text), "STACK");
    assert.match(error.message, pattern, text);
  }
  await expectXio(() => new Stack([]), "STACK");
  await expectXio(() => new Stack([{ driver: "rate", options: { rate: 1 } }]), "STACK");
});

Deno.test("listening on a transport that cannot accept is STACK", async () => {
  const error = await expectXio(Stack.parse("popen").listen("cat"), "STACK");
  assert.match(error.message, /transport "popen" cannot accept connections/);
});

Deno.test("GLOBUS_STREAMS_DEBUG parses like GLOBUS_XIO_DEBUG", () => {
  assert.equal(parseDebugSpec(undefined).levels, 0);
  assert.equal(parseDebugSpec("").levels, 0);
  assert.equal(parseDebugSpec("1").levels, DEBUG_LEVELS.ERROR);
  assert.equal(parseDebugSpec("ERROR|info").levels, DEBUG_LEVELS.ERROR | DEBUG_LEVELS.INFO);
  const all = parseDebugSpec("ALL");
  for (const bit of Object.values(DEBUG_LEVELS)) assert.ok(all.levels & bit);
  const notTrace = parseDebugSpec("^TRACE");
  assert.equal(notTrace.levels & DEBUG_LEVELS.TRACE, 0);
  assert.ok(notTrace.levels & DEBUG_LEVELS.ERROR);
  const full = parseDebugSpec("ERROR|BOGUS,#/tmp/x.log,3,ERROR");
  assert.equal(full.file, "/tmp/x.log");
  assert.ok(full.truncate);
  assert.ok(full.showPid);
  assert.ok(full.appendPid);
  assert.equal(full.timestampLevels, DEBUG_LEVELS.ERROR);
  assert.deepEqual(full.unknownNames, ["BOGUS"]);
  const appended = parseDebugSpec("16,/tmp/y.log");
  assert.equal(appended.truncate, false);
  assert.equal(appended.file, "/tmp/y.log");
});

Deno.test("debug lines go to the file the variable names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/debug.log`;
    await Deno.writeTextFile(path, "old line\n");
    const log = DebugLog.fromEnv((name) =>
      name === "GLOBUS_STREAMS_DEBUG" ? `INFO,#${path},1` : undefined
    );
    log.log("INFO", "xio", "hello\nworld");
    log.log("TRACE", "xio", "not shown");
    log.close();
    const text = await Deno.readTextFile(path);
    assert.ok(!text.includes("old line"));
    assert.match(text, /^### \d+: GLOBUS_STREAMS_DEBUG ###\n\d+: \[xio\] hello world\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
