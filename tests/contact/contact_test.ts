import assert from "node:assert/strict";
import {
  formatContact,
  isIpAddress,
  isLoopbackHost,
  parseContact,
  parsePort,
} from "../../src/contact/mod.ts";

Deno.test("parseContact accepts IPv4, host names and bracketed IPv6", () => {
  assert.deepEqual(parseContact("127.0.0.1:8888"), { host: "127.0.0.1", port: 8888 });
  assert.deepEqual(parseContact("data.example.org:443"), { host: "data.example.org", port: 443 });
  assert.deepEqual(parseContact("[::1]:80"), { host: "::1", port: 80 });
  assert.deepEqual(parseContact("[::ffff:10.0.0.5]:22"), { host: "::ffff:10.0.0.5", port: 22 });
  assert.deepEqual(parseContact("[2001:db8::1]:65535"), { host: "2001:db8::1", port: 65535 });
});

Deno.test("parseContact rejects what is not HOST:PORT", () => {
  for (
    const bad of [
      "",
      "host",
      ":80",
      "host:",
      "host:0",
      "host:65536",
      "host:8o",
      "host:-1",
      "::1:80", // IPv6 without brackets
      "[::1]80",
      "[::1]:",
      "[not-v6]:80",
      "[fe80::1%eth0]:1",
      "1.2.3:80", // numeric but not an IPv4 address
      "999.1.1.1:80",
      "a..b:80",
      "-host:80",
      "host name:80",
      "[1:2:3:4:5:6:7:8:9]:80",
      "[1::2::3]:80",
    ]
  ) {
    assert.equal(parseContact(bad), undefined, bad);
  }
});

Deno.test("formatContact brackets IPv6 and round-trips with parseContact", () => {
  for (const text of ["10.0.0.5:8888", "[::1]:80", "localhost:22", "[2001:db8::1]:443"]) {
    assert.equal(formatContact(parseContact(text)!), text);
  }
});

Deno.test("parsePort and isIpAddress check their ranges", () => {
  assert.equal(parsePort("1"), 1);
  assert.equal(parsePort("65535"), 65535);
  assert.equal(parsePort("0"), undefined);
  assert.equal(parsePort("123456"), undefined);
  assert.equal(parsePort(" 80"), undefined);
  assert.ok(isIpAddress("::"));
  assert.ok(isIpAddress("255.255.255.255"));
  assert.ok(!isIpAddress("256.0.0.1"));
  assert.ok(!isIpAddress("example.org"));
});

Deno.test("isLoopbackHost: 127/8, ::1 (any spelling), mapped 127.x and localhost only", () => {
  for (
    const host of [
      "127.0.0.1",
      "127.9.8.7",
      "localhost",
      "LOCALHOST.",
      "::1",
      "0:0:0:0:0:0:0:1",
      "0000::0001",
      "::ffff:127.0.0.1",
    ]
  ) {
    assert.ok(isLoopbackHost(host), host);
  }
  for (
    const host of [
      "0.0.0.0",
      "::",
      "10.0.0.5",
      "128.0.0.1",
      "::ffff:10.0.0.1",
      "fe80::1",
      "1::",
      "::2",
      "example.org",
      "localhost.example.org",
      "",
    ]
  ) {
    assert.ok(!isLoopbackHost(host), host);
  }
});
