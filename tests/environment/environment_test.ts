// src/environment's pieces that need no service: times, deadlines, the side check, the
// missing contact. The contact rule against a real service is in tests/cli/contact_lookup_test.ts.
import assert from "node:assert/strict";
import { ConfError, ConfStore } from "../../src/conf/mod.ts";
import {
  connectorContact,
  EnvironmentError,
  isoSeconds,
  preloadLines,
  readSideConf,
  refreshDeadlineMs,
} from "../../src/environment/mod.ts";

const tunnelId = "5f2c3a1e-0000-4000-8000-000000000e71";

Deno.test("isoSeconds: a time without a zone is UTC, microseconds are cut, nonsense is an EnvironmentError", () => {
  assert.equal(isoSeconds("2026-01-02T03:04:05"), Date.UTC(2026, 0, 2, 3, 4, 5) / 1000);
  assert.equal(isoSeconds("2026-01-02T03:04:05.123456"), Date.UTC(2026, 0, 2, 3, 4, 5) / 1000);
  assert.equal(isoSeconds("2026-01-02T03:04:05+01:00"), Date.UTC(2026, 0, 2, 2, 4, 5) / 1000);
  assert.throws(
    () => isoSeconds("yesterday"),
    (error) =>
      error instanceof EnvironmentError && error.kind === "failure" &&
      error.message === `Cannot read the tunnel's created_time "yesterday"`,
  );
});

Deno.test("refreshDeadlineMs: two thirds of the library's lookup timeout, its default when bad", () => {
  const env = (value?: string) => (name: string) =>
    name === "GLOBUS_STREAMS_LOOKUP_TIMEOUT" ? value : undefined;
  assert.equal(refreshDeadlineMs(env()), 10_000);
  assert.equal(refreshDeadlineMs(env("3000")), 2_000);
  assert.equal(refreshDeadlineMs(env("60")), 100, "never below 100 ms");
  for (const bad of ["0", "-5", "1e3", "600001", "abc", ""]) {
    assert.equal(refreshDeadlineMs(env(bad)), 10_000, bad);
  }
});

Deno.test("readSideConf refuses the other side's conf file; connectorContact wants a contact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gs-environment-" });
  try {
    const store = new ConfStore(dir);
    const values = { updateTime: 0, connectorContactStringTtl: 10, fakePort: 4000, tunnelId };
    await store.write(tunnelId, { values: { ...values, side: "listening" }, lines: [] });
    const conf = await readSideConf(store, tunnelId, "listening");
    assert.equal(conf.values.side, "listening");
    await assert.rejects(
      () => readSideConf(store, tunnelId, "initiating"),
      (error) => error instanceof ConfError && /it is for the listening side/.test(error.message),
    );
    await assert.rejects(
      () => readSideConf(store, "5f2c3a1e-0000-4000-8000-000000000e72", "initiating"),
      (error) => error instanceof ConfError && /environment initialize/.test(error.message),
    );
    assert.throws(
      () => connectorContact(tunnelId, conf.values),
      (error) =>
        error instanceof EnvironmentError && /no connector contact yet/.test(error.message),
    );
    assert.throws(
      () => preloadLines(tunnelId, conf.values, 7),
      (error) =>
        error instanceof EnvironmentError && /no connector contact yet/.test(error.message),
      "never an answer the preload library would refuse",
    );
    const contact = { ...conf.values, connectorContactString: "127.0.0.1:4001" };
    assert.equal(connectorContact(tunnelId, contact), "127.0.0.1:4001");
    assert.equal(
      preloadLines(tunnelId, contact, 7),
      `tunnel_id=${tunnelId}\nconnector_contact_string=127.0.0.1:4001\nfake_port=4000\nttl_seconds=7\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
