import assert from "node:assert/strict";
import {
  type Conf,
  ConfError,
  formatConf,
  freshFor,
  parseConf,
  withValues,
} from "../../src/conf/mod.ts";

const id = "5f2c3a1e-0000-4000-8000-000000000001";
const where = { path: "/h/.globus/streams/x.conf", tunnelId: id };

const official = [
  "lankey=s3cr3t-Value_1",
  "lankey_id=0b8e6a7e-1111-4222-8333-444455556666",
  "connector_contact_string=10.0.0.7:50123",
  "update_time=1700000000",
  "connector_contact_string_ttl=10",
  "endpoint_id=aa8e6a7e-1111-4222-8333-444455556666",
  "fake_port=4242",
  "tunnel_expiration_time=1700021600",
  "",
].join("\n");

function confError(fn: () => unknown): ConfError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfError, `want ConfError, got ${error}`);
    assert.equal(error.name, "ConfError");
    assert.ok(!error.message.includes("\n"), "one line");
    return error;
  }
  throw new Error("no error thrown");
}

Deno.test("parseConf reads the official keys", () => {
  const conf = parseConf(official, where);
  assert.deepEqual(conf.values, {
    lankey: "s3cr3t-Value_1",
    lankeyId: "0b8e6a7e-1111-4222-8333-444455556666",
    connectorContactString: "10.0.0.7:50123",
    updateTime: 1700000000,
    connectorContactStringTtl: 10,
    endpointId: "aa8e6a7e-1111-4222-8333-444455556666",
    fakePort: 4242,
    tunnelExpirationTime: 1700021600,
  });
});

Deno.test("formatConf of an unchanged file gives the same text", () => {
  assert.equal(formatConf(parseConf(official, where), where), official);
});

Deno.test("unknown keys, comments and blank lines keep their place on rewrite", () => {
  const text = "# written by hand\nfuture_key=a=b\n" + official.replace("fake_port=4242\n", "") +
    "\nzzz=last\nfake_port=4242\n";
  const conf = parseConf(text, where);
  const changed = withValues(conf, { connectorContactString: "[::1]:80", updateTime: 1 });
  const out = formatConf(changed, where);
  const lines = out.split("\n");
  assert.equal(lines[0], "# written by hand");
  assert.equal(lines[1], "future_key=a=b");
  assert.ok(lines.includes("connector_contact_string=[::1]:80"));
  assert.ok(lines.includes("update_time=1"));
  assert.deepEqual(lines.slice(-4), ["", "zzz=last", "fake_port=4242", ""]);
  // and it reads back to the same values
  assert.deepEqual(parseConf(out, where).values, changed.values);
});

Deno.test("new keys are appended in the documented order, removed keys disappear", () => {
  const conf: Conf = {
    values: { updateTime: 5, connectorContactStringTtl: 1, fakePort: 1000, side: "initiating" },
    lines: [],
  };
  assert.equal(
    formatConf(conf, where),
    "update_time=5\nconnector_contact_string_ttl=1\nfake_port=1000\nside=initiating\n",
  );
  const parsed = parseConf(official, where);
  const out = formatConf(withValues(parsed, { lankey: undefined, lankeyId: undefined }), where);
  assert.ok(!out.includes("lankey"));
});

Deno.test("a line without = is named by its line number", () => {
  const error = confError(() => parseConf(official.replace("fake_port=4242", "fake_port"), where));
  assert.equal(error.line, 7);
  assert.match(error.message, /^Cannot read conf file "\/h\/\.globus\/streams\/x\.conf": line 7: /);
  assert.match(error.message, /initialize --force 5f2c3a1e/);
});

Deno.test("a torn file (cut in the middle of a line) is refused, not half-read", () => {
  const torn = official.slice(0, official.indexOf("update_time") + 5);
  const error = confError(() => parseConf(torn, where));
  assert.equal(error.line, 4);
  const cutValue = official.slice(0, official.indexOf("fake_port=") + "fake_port=".length);
  assert.equal(confError(() => parseConf(cutValue, where)).line, 7);
});

Deno.test("bad values are refused with key, value and line", () => {
  const cases: [string, string, number, RegExp][] = [
    ["fake_port=4242", "fake_port=42x", 7, /fake_port "42x": want a port number/],
    ["fake_port=4242", "fake_port=70000", 7, /want a port 1-65535/],
    ["update_time=1700000000", "update_time=-1", 4, /update_time "-1": want whole seconds/],
    ["update_time=1700000000", "update_time=1.5", 4, /want whole seconds/],
    ["endpoint_id=aa8e6a7e-1111-4222-8333-444455556666", "endpoint_id=nope", 6, /want a UUID/],
    [
      "connector_contact_string=10.0.0.7:50123",
      "connector_contact_string=10.0.0.7",
      3,
      /want HOST:PORT/,
    ],
    [
      "connector_contact_string=10.0.0.7:50123",
      "connector_contact_string=::1:80",
      3,
      /want HOST:PORT/,
    ],
  ];
  for (const [from, to, line, pattern] of cases) {
    const error = confError(() => parseConf(official.replace(from, to), where));
    assert.equal(error.line, line, to);
    assert.match(error.message, pattern);
  }
});

Deno.test("a bad secret is refused without echoing it", () => {
  const error = confError(() =>
    parseConf(official.replace("lankey=s3cr3t-Value_1", "lankey=has space"), where)
  );
  assert.equal(error.line, 1);
  assert.ok(!error.message.includes("has space"));
});

Deno.test("duplicate and missing keys are refused", () => {
  assert.match(
    confError(() => parseConf(official + "fake_port=1\n", where)).message,
    /line 9: duplicate key fake_port/,
  );
  assert.match(
    confError(() => parseConf(official.replace("fake_port=4242\n", ""), where)).message,
    /missing key fake_port/,
  );
  assert.match(
    confError(() => parseConf("", where)).message,
    /missing key update_time/,
  );
});

Deno.test("a tunnel_id that is not the file's is refused", () => {
  const other = "5f2c3a1e-0000-4000-8000-000000000002";
  assert.match(
    confError(() => parseConf(official + `tunnel_id=${other}\n`, where)).message,
    /does not match the file name/,
  );
  assert.equal(
    parseConf(official + `tunnel_id=${id.toUpperCase()}\n`, where).values.tunnelId,
    id.toUpperCase(),
  );
});

Deno.test("CRLF line ends are read", () => {
  assert.equal(parseConf(official.replaceAll("\n", "\r\n"), where).values.fakePort, 4242);
});

Deno.test("formatConf refuses values that would not read back", () => {
  const conf = parseConf(official, where);
  assert.match(
    confError(() => formatConf(withValues(conf, { lankey: "a\nfake_port=1" }), where)).message,
    /^Cannot write conf file .*lankey: want printable text/,
  );
  assert.match(
    confError(() => formatConf(withValues(conf, { connectorContactString: "x" }), where)).message,
    /connector_contact_string "x"/,
  );
  assert.match(
    confError(() => formatConf(withValues(conf, { fakePort: 0 }), where)).message,
    /fake_port "0"/,
  );
});

Deno.test("freshFor counts from update_time + connector_contact_string_ttl", () => {
  const values = parseConf(official, where).values;
  assert.equal(freshFor(values, 1700000000_000), 10);
  assert.equal(freshFor(values, 1700000009_500), 0.5);
  assert.ok(freshFor(values, 1700000010_000) <= 0);
  assert.equal(freshFor({ ...values, connectorContactString: undefined }, 0), 0);
});
