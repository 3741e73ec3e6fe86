import assert from "node:assert/strict";
import { ExitCode } from "../../src/cli/mod.ts";
import { ConfStore, withValues } from "../../src/conf/mod.ts";
import { runCli, runCliInProcess } from "../_support/cli.ts";
import { confRecord, oneLine, startWorld, type World } from "./_environment.ts";

/** A tunnel with both sides initialized; returns its id. */
async function initializedTunnel(world: World, initiatorArgs: string[] = []): Promise<string> {
  const tunnel = await world.createTunnel();
  const listening = await runCliInProcess(
    [
      "environment",
      "initialize",
      "--listener-contact-string",
      `127.0.0.1:${world.freePort()}`,
      tunnel.id,
    ],
    { env: world.env("listener") },
  );
  assert.equal(listening.code, 0, listening.stderr);
  const initiating = await runCliInProcess(
    ["environment", "initialize", ...initiatorArgs, tunnel.id],
    { env: world.env("initiator") },
  );
  assert.equal(initiating.code, 0, initiating.stderr);
  return tunnel.id;
}

/** A fetch that fails the test if anything calls it. */
const noNetwork: typeof fetch = () => {
  throw new Error("contact-lookup used the network on its fresh path");
};

function parsePreload(text: string): Record<string, string> {
  assert.ok(text.endsWith("\n"));
  const lines = text.trimEnd().split("\n");
  for (const line of lines) assert.match(line, /^[a-z_]+=\S+$/);
  return Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

Deno.test("contact-lookup prints a fresh contact from the conf alone", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  const conf = await confRecord(world.stores.initiator, tunnelId);
  const env = world.env("initiator");

  const plain = await runCliInProcess(["environment", "contact-lookup", tunnelId], {
    env,
    fetch: noNetwork,
  });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${conf.connector_contact_string}\n`);
  assert.match(plain.stdout, /^127\.0\.0\.1:\d+\n$/);

  const preload = await runCliInProcess([
    "environment",
    "contact-lookup",
    "--format",
    "preload",
    tunnelId,
  ], { env, fetch: noNetwork });
  assert.equal(preload.code, 0, preload.stderr);
  const lines = preload.stdout.trimEnd().split("\n").map((line) =>
    line.slice(0, line.indexOf("="))
  );
  assert.deepEqual(lines, [
    "tunnel_id",
    "connector_contact_string",
    "fake_port",
    "lankey",
    "lankey_id",
    "listener_contact_string",
    "ttl_seconds",
  ]);
  const record = parsePreload(preload.stdout);
  assert.equal(record.tunnel_id, tunnelId);
  assert.equal(record.connector_contact_string, conf.connector_contact_string);
  assert.equal(record.fake_port, conf.fake_port);
  assert.equal(record.lankey, conf.lankey);
  assert.equal(record.lankey_id, conf.lankey_id);
  assert.equal(record.listener_contact_string, conf.listener_contact_string);
  assert.ok(Number(record.ttl_seconds) >= 1 && Number(record.ttl_seconds) <= 10);

  const json = await runCliInProcess(["environment", "contact-lookup", "-F", "json", tunnelId], {
    env,
    fetch: noNetwork,
  });
  assert.equal(json.code, 0);
  const parsed = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(parsed).sort(), [
    "connector_contact_string",
    "fake_port",
    "listener_contact_string",
    "secured",
    "ttl_seconds",
    "tunnel_id",
  ]);
  assert.equal(parsed.secured, true);
  assert.equal(parsed.fake_port, Number(conf.fake_port));
  assert.ok(!json.stdout.includes(conf.lankey) && !plain.stdout.includes(conf.lankey));
  assert.equal(world.tunnelGets(tunnelId), 2, "only the two initializes fetched the tunnel");
});

Deno.test("contact-lookup of the real binary: same answer, exit 0, nothing on stderr", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  const result = await runCli(["environment", "contact-lookup", "--format", "preload", tunnelId], {
    env: world.env("initiator"),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.equal(parsePreload(result.stdout).tunnel_id, tunnelId);
});

Deno.test("preload omits lankey and lankey_id when there is no secret", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  const store = world.stores.initiator;
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { lankey: undefined, lankeyId: undefined }));
  const result = await runCliInProcess(
    ["environment", "contact-lookup", "-F", "preload", tunnelId],
    {
      env: world.env("initiator"),
      fetch: noNetwork,
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!/^lankey/m.test(result.stdout));
  const json = await runCliInProcess(["environment", "contact-lookup", "-F", "json", tunnelId], {
    env: world.env("initiator"),
    fetch: noNetwork,
  });
  assert.equal(JSON.parse(json.stdout).secured, false);
});

Deno.test("a contact older than its TTL is fetched again and the file rewritten", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world, ["--cs-ttl", "1"]);
  const env = world.env("initiator");
  const before = await confRecord(world.stores.initiator, tunnelId);
  const gets = world.tunnelGets(tunnelId);
  const fresh = await runCliInProcess(
    ["environment", "contact-lookup", "-F", "preload", tunnelId],
    { env },
  );
  assert.equal(parsePreload(fresh.stdout).listener_contact_string, before.listener_contact_string);
  assert.equal(world.tunnelGets(tunnelId), gets);

  await new Promise((resolve) => setTimeout(resolve, 1100));
  const stale = await runCliInProcess(
    ["environment", "contact-lookup", "-F", "preload", tunnelId],
    { env },
  );
  assert.equal(stale.code, 0, stale.stderr);
  assert.equal(world.tunnelGets(tunnelId), gets + 1);
  const record = parsePreload(stale.stdout);
  assert.equal(record.listener_contact_string, before.listener_contact_string);
  assert.equal(record.ttl_seconds, "1", "fresh for at least a second right after a refresh");
  const after = await confRecord(world.stores.initiator, tunnelId);
  assert.ok(Number(after.update_time) > Number(before.update_time));
  assert.equal(after.listener_contact_string, before.listener_contact_string);
  for (
    const key of [
      "lankey",
      "lankey_id",
      "fake_port",
      "endpoint_id",
      "connector_contact_string_ttl",
      "side",
    ]
  ) {
    assert.equal(after[key], before[key], key);
  }
  // And now it is fresh again: no further request.
  await runCliInProcess(["environment", "contact-lookup", tunnelId], { env });
  assert.equal(world.tunnelGets(tunnelId), gets + 1);
});

Deno.test("100 concurrent lookups of an expired entry fetch it once and leave the file whole", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world, ["--cs-ttl", "60"]);
  const store = world.stores.initiator;
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { updateTime: conf.values.updateTime - 3600 }));
  const before = await confRecord(store, tunnelId);
  const gets = world.tunnelGets(tunnelId);

  const results = await Promise.all(
    Array.from(
      { length: 100 },
      () =>
        runCli(["environment", "contact-lookup", "--format", "preload", tunnelId], {
          env: world.env("initiator"),
          timeoutMs: 120_000,
        }),
    ),
  );
  const failures = results.filter((r) => r.code !== 0).map((r) => r.stderr);
  assert.deepEqual(failures, []);
  assert.equal(world.tunnelGets(tunnelId), gets + 1, "exactly one GET of the tunnel");
  const answers = new Set(results.map((r) => parsePreload(r.stdout).connector_contact_string));
  assert.deepEqual([...answers], [before.connector_contact_string]);

  const after = await confRecord(store, tunnelId);
  assert.ok(Number(after.update_time) >= Number(before.update_time) + 3600 - 5);
  assert.deepEqual({ ...after, update_time: "" }, { ...before, update_time: "" });
  assert.ok(await new ConfStore(world.dirs.initiator).read(tunnelId));
  const leftovers = [...Deno.readDirSync(world.dirs.initiator)].map((e) => e.name).filter((n) =>
    n.endsWith(".tmp")
  );
  assert.deepEqual(leftovers, []);
});

Deno.test("contact-lookup errors: missing conf, corrupt conf", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  const unknown = "5f2c3a1e-0000-4000-8000-00000000dead";
  const missing = await runCliInProcess(["environment", "contact-lookup", unknown], {
    env: world.env("initiator"),
  });
  assert.equal(missing.code, ExitCode.conf);
  assert.equal(
    oneLine(missing.stderr),
    `globus-streams: No conf file for tunnel ${unknown} in ${world.dirs.initiator}: ` +
      `run 'globus-streams environment initialize ${unknown}'`,
  );

  const store = world.stores.initiator;
  const path = store.path(tunnelId);
  const good = await Deno.readTextFile(path);
  const lines = good.split("\n");
  const at = lines.findIndex((line) => line.startsWith("connector_contact_string="));
  lines[at] = "connector_contact_string=not a contact";
  await Deno.writeTextFile(path, lines.join("\n"));
  const corrupt = await runCliInProcess(["environment", "contact-lookup", tunnelId], {
    env: world.env("initiator"),
  });
  assert.equal(corrupt.code, ExitCode.conf);
  assert.match(
    oneLine(corrupt.stderr),
    new RegExp(
      `^globus-streams: Cannot read conf file "${path}": line ${
        at + 1
      }: connector_contact_string "not a contact": want HOST:PORT`,
    ),
  );
  assert.equal(await Deno.readTextFile(path), lines.join("\n"), "left as it was");
});

/** Makes the tunnel's initiating conf stale; returns the file's text after that. */
async function makeStale(world: World, tunnelId: string): Promise<string> {
  const store = world.stores.initiator;
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { updateTime: 0 }));
  return await Deno.readTextFile(store.path(tunnelId));
}

/** The warning contact-lookup prints when it answers a stale contact. */
function fallbackLine(tunnelId: string, reason: string): RegExp {
  return new RegExp(
    `^globus-streams: warning: cannot refresh tunnel ${tunnelId}, ` +
      `using the stored contact for 5 s: ${reason}`,
  );
}

Deno.test("stale, and the service cannot be reached: the stored contact for 5 s in every format", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  const staleText = await makeStale(world, tunnelId);
  const stored = await confRecord(world.stores.initiator, tunnelId);
  // A port nothing listens on: connection refused, as when the service is down.
  const down = `http://127.0.0.1:${world.freePort()}/`;
  const env = world.env("initiator", {
    GLOBUS_SDK_SERVICE_URL_AUTH: down,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: down,
  });
  const reason = `Cannot reach Globus Auth at "${down.replaceAll(".", "\\.")}": connection refused`;

  // The real binary, as the preload library runs it.
  const preload = await runCli(["environment", "contact-lookup", "-F", "preload", tunnelId], {
    env,
  });
  assert.equal(preload.code, 0, preload.stderr);
  assert.match(oneLine(preload.stderr), fallbackLine(tunnelId, reason));
  const record = parsePreload(preload.stdout);
  assert.equal(record.connector_contact_string, stored.connector_contact_string);
  assert.equal(record.lankey, stored.lankey);
  assert.equal(record.ttl_seconds, "5");

  const plain = await runCliInProcess(["environment", "contact-lookup", tunnelId], { env });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${stored.connector_contact_string}\n`);
  assert.match(oneLine(plain.stderr), fallbackLine(tunnelId, reason));

  const json = await runCliInProcess(["environment", "contact-lookup", "-F", "json", tunnelId], {
    env,
  });
  assert.equal(json.code, 0, json.stderr);
  assert.match(oneLine(json.stderr), fallbackLine(tunnelId, reason));
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.connector_contact_string, stored.connector_contact_string);
  assert.equal(parsed.ttl_seconds, 5);

  assert.equal(
    await Deno.readTextFile(world.stores.initiator.path(tunnelId)),
    staleText,
    "still stale: the next lookup tries the service again",
  );
});

/** A Transfer that answers every request with status (Auth stays the emulator's). */
function failingTransfer(status: number): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ code: "Failing", message: `always ${status}` }, { status }),
  );
}

Deno.test("stale, and Transfer fails (503, 429): the stored contact for 5 s", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  await makeStale(world, tunnelId);
  const stored = await confRecord(world.stores.initiator, tunnelId);
  for (const status of [503, 429]) {
    await using server = failingTransfer(status);
    const result = await runCliInProcess(
      ["environment", "contact-lookup", "-F", "json", tunnelId],
      {
        env: world.env("initiator", {
          GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${server.addr.port}/`,
        }),
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      oneLine(result.stderr),
      fallbackLine(tunnelId, `Transfer (failed|refused) the request \\(${status} Failing\\)`),
    );
    const parsed = JSON.parse(result.stdout);
    assert.equal(parsed.connector_contact_string, stored.connector_contact_string);
    assert.equal(parsed.ttl_seconds, 5);
  }
});

Deno.test("stale, and the service does not answer: the stored contact before the library's timeout", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  await makeStale(world, tunnelId);
  const stored = await confRecord(world.stores.initiator, tunnelId);
  // Accepts connections and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const url = `http://127.0.0.1:${silent.addr.port}/`;
    const started = performance.now();
    const result = await runCli(["environment", "contact-lookup", "-F", "preload", tunnelId], {
      env: world.env("initiator", {
        GLOBUS_SDK_SERVICE_URL_AUTH: url,
        GLOBUS_SDK_SERVICE_URL_TRANSFER: url,
        GLOBUS_STREAMS_LOOKUP_TIMEOUT: "3000",
      }),
    });
    const elapsed = performance.now() - started;
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      oneLine(result.stderr),
      fallbackLine(tunnelId, "the service did not answer within 2 s$"),
    );
    assert.equal(
      parsePreload(result.stdout).connector_contact_string,
      stored.connector_contact_string,
    );
    assert.equal(parsePreload(result.stdout).ttl_seconds, "5");
    assert.ok(elapsed < 3000, `answered after ${elapsed} ms, past the library's 3000 ms`);
  } finally {
    silent.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("stale, and the credentials are refused: an error, not the stored contact", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  await makeStale(world, tunnelId);
  const result = await runCliInProcess(["environment", "contact-lookup", tunnelId], {
    env: world.env("initiator", { GLOBUS_CLI_CLIENT_SECRET: "not-the-secret" }),
  });
  assert.equal(result.code, ExitCode.auth, result.stderr);
  assert.equal(result.stdout, "");
  assert.match(
    oneLine(result.stderr),
    /^globus-streams: Globus Auth refused the client credentials .*\(401 invalid_client\)/,
  );
});

Deno.test("contact-lookup of a deleted tunnel fails in one line and keeps the conf", async () => {
  await using world = await startWorld();
  const tunnelId = await initializedTunnel(world);
  await world.transfer.updateTunnel(tunnelId, { state: "STOPPING" });
  for (let i = 0; i < 100; i++) {
    if ((await world.transfer.getTunnel(tunnelId)).state === "STOPPED") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await world.transfer.deleteTunnel(tunnelId);
  const store = world.stores.initiator;
  const conf = (await store.read(tunnelId))!;
  await store.write(tunnelId, withValues(conf, { updateTime: 0 }));
  const result = await runCliInProcess(["environment", "contact-lookup", tunnelId], {
    env: world.env("initiator"),
  });
  assert.equal(result.code, ExitCode.failure, "a 404 is definite: no stale fallback");
  assert.equal(result.stdout, "");
  assert.match(oneLine(result.stderr), new RegExp(`^globus-streams: .*${tunnelId}.*\\(404`));
  assert.equal((await store.read(tunnelId))?.values.updateTime, 0);
});
