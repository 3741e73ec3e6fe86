// The Globus service going away mid-use, and a service that stalls: every command exits
// 5 with one line on stderr, within GLOBUS_SDK_HTTP_TIMEOUT (plus retries), and leaves
// the conf files as they were.
import assert from "node:assert/strict";
import { ExitCode } from "../../src/cli/mod.ts";
import { withValues } from "../../src/conf/mod.ts";
import { runCliInProcess } from "../_support/cli.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";
import { linesOf, sleep, spawnCli, startWorld } from "./_world.ts";

/** The error line of a failed command: the last line, after any progress lines. */
function errorLine(stderr: string): string {
  const lines = linesOf(stderr);
  const errors = lines.filter((line) => !/^Waiting for tunnel /.test(line));
  assert.equal(errors.length, 1, `one error line: ${JSON.stringify(stderr)}`);
  assert.equal(lines.at(-1), errors[0], "the error comes last");
  assert.match(errors[0], /^globus-streams: \S/);
  assert.doesNotMatch(stderr, /\bat .*\.ts:\d+|TimeoutOverflowWarning|Unexpected failure/);
  return errors[0];
}

Deno.test("the service going away mid-use: exit 5 in one line (contact-lookup: the stored contact), no hang, conf untouched", async () => {
  await using world = await startWorld();
  const tunnelId = await world.initializedTunnel();
  const waiting = await world.bareTunnel();
  const store = world.stores.initiator;
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { updateTime: 0 }));
  const staleText = await Deno.readTextFile(store.path(tunnelId));
  // Talk to the emulator directly: nothing between the commands and the dying service.
  const direct = { ...world.emulator.env, GLOBUS_SDK_HTTP_TIMEOUT: "2" };
  const env = world.env("initiator", direct);

  // Mid-use: an initiator waiting for its tunnel to become ACTIVE polls every second.
  const started = performance.now();
  const wait = spawnCli(["environment", "initialize", "--wait", waiting], env, 30_000);
  await sleep(1500);
  Deno.kill(world.emulator.pid, "SIGKILL");
  const goneAt = performance.now();

  const commands = [
    ["environment", "contact-lookup", tunnelId],
    ["environment", "contact-lookup", "--format", "preload", tunnelId],
    ["environment", "update", tunnelId],
    ["tunnel", "show", tunnelId],
    ["tunnel", "list"],
    ["access-point", "list"],
  ];
  const runs = commands.map((args) => ({ args, run: spawnCli(args, env, 30_000) }));
  const results = await Promise.all([wait, ...runs.map((r) => r.run)].map((p) => p.done));
  const elapsedMs = performance.now() - goneAt;
  const storedContact = conf.values.connectorContactString!;
  for (const [i, result] of results.entries()) {
    const what = i === 0 ? "initialize --wait" : runs[i - 1].args.join(" ");
    assert.equal(result.signal, null, `${what} was killed by the timeout`);
    const line = errorLine(result.stderr);
    assert.match(line, /127\.0\.0\.1:\d+/, what);
    if (i === 1 || i === 2) {
      // contact-lookup answers the stored contact for a short while (issue 10, item 4).
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(storedContact.replaceAll(".", "\\.")), what);
      assert.match(line, /using the stored contact/, what);
      assert.equal(result.stdout.includes("lankey"), i === 2, what);
      continue;
    }
    assert.equal(result.code, ExitCode.unreachable, `${what}: ${result.stderr}`);
    assert.equal(result.stdout.includes("lankey"), false);
  }
  // Connection refused is retried 3 times (250 ms, 500 ms, 1 s, randomised): seconds, not more.
  assert.ok(elapsedMs < 15_000, `${Math.round(elapsedMs)} ms after the service died`);
  assert.equal(await Deno.readTextFile(store.path(tunnelId)), staleText, "conf untouched");
  assert.equal(await store.read(waiting), undefined, "no conf for the tunnel that never started");
  console.log(
    `reliability: service-gone commands=${results.length} exit5=${
      results.filter((r) => r.code === 5).length
    } stored-contact=${results.filter((r) => r.code === 0).length} slowest_ms=${
      Math.round(elapsedMs)
    } waited_before_kill_ms=${Math.round(goneAt - started)}`,
  );
});

/** A TCP server that accepts and then says nothing (or only the start of an answer). */
function stallingServer(prefix: string | undefined) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      accepted++;
      (async () => {
        const buffer = new Uint8Array(65536);
        let request = "";
        while (!request.includes("\r\n\r\n")) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) return;
          request += new TextDecoder().decode(buffer.subarray(0, n));
        }
        if (prefix !== undefined) {
          await conn.write(new TextEncoder().encode(prefix)).catch(() => {});
        }
        // ...and nothing more, until the test closes it.
      })();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    accepted: () => accepted,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await serving;
    },
  };
}

const TUNNEL = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";

Deno.test("a stalling service: GLOBUS_SDK_HTTP_TIMEOUT is honoured, exit 5", async () => {
  const emulator = await startEmulatorInProcess();
  const silent = stallingServer(undefined);
  const partial = stallingServer(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"data": {',
  );
  const root = await Deno.makeTempDir({ prefix: "gs-stall-" });
  try {
    const base = { ...emulator.env, HOME: root, GLOBUS_STREAMS_DIR: `${root}/streams` };
    const cases = [
      {
        what: "Auth silent",
        timeout: "1",
        auth: silent.url,
        transfer: silent.url,
        service: "Globus Auth",
      },
      {
        what: "Transfer silent",
        timeout: "1",
        auth: undefined,
        transfer: `${silent.url}transfer/`,
        service: "Transfer",
      },
      {
        what: "Transfer half an answer",
        timeout: "1.5",
        auth: undefined,
        transfer: `${partial.url}transfer/`,
        service: "Transfer",
      },
      {
        what: "Transfer silent, 0.5 s",
        timeout: "0.5",
        auth: undefined,
        transfer: `${silent.url}transfer/`,
        service: "Transfer",
      },
    ];
    const runs = cases.map((c) => {
      const env: Record<string, string> = {
        ...base,
        GLOBUS_SDK_HTTP_TIMEOUT: c.timeout,
        GLOBUS_SDK_SERVICE_URL_TRANSFER: c.transfer,
      };
      if (c.auth) env.GLOBUS_SDK_SERVICE_URL_AUTH = c.auth;
      const started = performance.now();
      const run = spawnCli(["tunnel", "show", TUNNEL], env, 30_000);
      return run.done.then((result) => ({ ...c, result, ms: performance.now() - started }));
    });
    const results = await Promise.all(runs);
    for (const { what, timeout, service, result, ms } of results) {
      assert.equal(result.code, ExitCode.unreachable, `${what}: ${result.stderr}`);
      const line = errorLine(result.stderr);
      assert.ok(
        line.includes(`${service} at "`) &&
          line.includes(`did not answer within ${Number(timeout)} s`),
        `${what}: ${line}`,
      );
      // The timeout, plus starting the process: no retries after a timeout.
      assert.ok(ms >= Number(timeout) * 1000, `${what}: gave up after ${Math.round(ms)} ms`);
      assert.ok(ms < Number(timeout) * 1000 + 8000, `${what}: took ${Math.round(ms)} ms`);
    }
    assert.ok(silent.accepted() >= 3 && partial.accepted() >= 1);
    console.log(
      `reliability: slow-service cases=${results.length} exit5=${
        results.filter((r) => r.result.code === 5).length
      } ${results.map((r) => `${r.timeout}s->${Math.round(r.ms)}ms`).join(" ")}`,
    );
  } finally {
    await silent.close();
    await partial.close();
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "a GLOBUS_SDK_HTTP_TIMEOUT beyond 24.8 days does not expire at once",
  async fn() {
    const emulator = await startEmulatorInProcess();
    try {
      const slowFetch: typeof fetch = async (input, init) => {
        await sleep(50);
        return await fetch(input, init);
      };
      const result = await runCliInProcess(["access-point", "list"], {
        env: { ...emulator.env, GLOBUS_SDK_HTTP_TIMEOUT: "3000000" },
        fetch: slowFetch,
      });
      assert.equal(result.code, 0, result.stderr);
    } finally {
      await emulator.stop();
    }
  },
});
