import assert from "node:assert/strict";
import { ExitCode } from "../../src/cli/mod.ts";
import { ConfStore, withValues } from "../../src/conf/mod.ts";
import { runCli, runCliInProcess } from "../_support/cli.ts";
import { confRecord, oneLine, startWorld } from "./_environment.ts";

const unreachable = {
  GLOBUS_SDK_SERVICE_URL_AUTH: "http://127.0.0.1:1/",
  GLOBUS_SDK_SERVICE_URL_TRANSFER: "http://127.0.0.1:1/",
  GLOBUS_CLI_CLIENT_ID: "d4258783-eb0a-4b56-8e58-fd103038cc55",
  GLOBUS_CLI_CLIENT_SECRET: "x",
};

Deno.test("initialize on both sides, as two users on two hosts would", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  assert.equal(tunnel.state, "AWAITING_LISTENER");
  const appPort = world.freePort();

  const listening = await runCli(
    ["environment", "initialize", "--listener-contact-string", `127.0.0.1:${appPort}`, tunnel.id],
    { env: world.env("listener") },
  );
  assert.equal(listening.code, 0, listening.stderr);
  assert.equal(listening.stderr, "");
  assert.equal(
    listening.stdout,
    `Initializing the environment for tunnel: ${tunnel.id}\n` +
      `The environment is initialized for use with tunnel ${tunnel.id}\n` +
      `Your application key file base directory is ${world.dirs.listener}/\n`,
  );
  const active = await world.transfer.getTunnel(tunnel.id);
  assert.equal(active.state, "ACTIVE");
  assert.equal(active.listenerIpAddress, "127.0.0.1");
  assert.equal(active.listenerPort, appPort);

  const initiating = await runCli(["environment", "initialize", tunnel.id], {
    env: world.env("initiator"),
  });
  assert.equal(initiating.code, 0, initiating.stderr);
  const conf = await confRecord(world.stores.initiator, tunnel.id);
  assert.equal(
    initiating.stdout,
    `Initializing the environment for tunnel: ${tunnel.id}\n` +
      `The environment is initialized for use with tunnel ${tunnel.id}\n` +
      `Your application key file base directory is ${world.dirs.initiator}/\n` +
      `Your contact string is: globus.${tunnel.id}:${conf.fake_port}\n`,
  );

  // The initiating side's conf: the initiator access point's LAN contact, a fake port
  // chosen in 1000-5000, the expiration in seconds, a secret from site A's endpoint.
  assert.equal(
    conf.connector_contact_string,
    `${active.initiatorIpAddress}:${active.initiatorPort}`,
  );
  assert.ok(Number(conf.fake_port) >= 1000 && Number(conf.fake_port) <= 5000);
  assert.equal(conf.connector_contact_string_ttl, "10");
  assert.ok(Math.abs(Number(conf.update_time) - Date.now() / 1000) < 30);
  const created = Math.floor(Date.parse(active.createdTime.replace(/(\.\d{3})\d+/, "$1")) / 1000);
  assert.equal(Number(conf.tunnel_expiration_time), created + active.lifetimeMins! * 60);
  assert.equal(conf.side, "initiating");
  assert.equal(conf.tunnel_id, tunnel.id);
  assert.equal(conf.listener_contact_string, `127.0.0.1:${appPort}`);
  assert.match(conf.lankey, /^\S+$/);
  assert.match(conf.lankey_id, /^[0-9a-f-]{36}$/);
  const initiatorPoint = await world.transfer.getAccessPoint(world.initiatorAccessPoint);
  assert.equal(conf.endpoint_id, initiatorPoint.hostEndpointId);

  // The listening side's conf: its own endpoint and a different secret.
  const listenerConf = await confRecord(world.stores.listener, tunnel.id);
  const listenerPoint = await world.transfer.getAccessPoint(world.listenerAccessPoint);
  assert.equal(listenerConf.side, "listening");
  assert.equal(listenerConf.endpoint_id, listenerPoint.hostEndpointId);
  assert.notEqual(listenerConf.lankey, conf.lankey);
  assert.equal(listenerConf.listener_contact_string, `127.0.0.1:${appPort}`);

  // Modes: directory 0700 (created with its parents), file 0600.
  for (const side of ["listener", "initiator"] as const) {
    assert.equal((await Deno.stat(world.dirs[side])).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(world.stores[side].path(tunnel.id))).mode! & 0o777, 0o600);
  }
});

Deno.test("initialize before ACTIVE writes the conf file; contact-lookup fetches the contact once ACTIVE", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const env = world.env("initiator");
  const result = await runCliInProcess(["environment", "initialize", tunnel.id], { env });
  assert.equal(result.code, ExitCode.ok, result.stderr);
  const conf = await confRecord(world.stores.initiator, tunnel.id);
  assert.equal(conf.connector_contact_string, undefined, "no contact yet");
  assert.ok(Number(conf.fake_port) >= 1000 && Number(conf.fake_port) <= 5000);
  assert.match(conf.lankey, /^\S+$/);
  assert.match(conf.endpoint_id, /^[0-9a-f-]{36}$/);
  assert.match(conf.tunnel_expiration_time, /^\d+$/);
  assert.equal(conf.side, "initiating");
  assert.equal(
    result.stdout,
    `Initializing the environment for tunnel: ${tunnel.id}\n` +
      `The environment is initialized for use with tunnel ${tunnel.id}\n` +
      `Your application key file base directory is ${world.dirs.initiator}/\n` +
      `Your contact string is: globus.${tunnel.id}:${conf.fake_port}\n`,
  );
  assert.equal(
    oneLine(result.stderr),
    `globus-streams: note: tunnel ${tunnel.id} is not ACTIVE yet (state AWAITING_LISTENER): ` +
      `its contact is not known yet; 'globus-streams environment contact-lookup ${tunnel.id}' ` +
      "and the preload library fetch it once it is ACTIVE",
  );

  // Still not ACTIVE: every format of contact-lookup fails in one line, the preload one
  // included (the library wants a connector contact), and the conf file stays as it was.
  for (const format of ["plain", "preload", "json"]) {
    const early = await runCliInProcess(
      ["environment", "contact-lookup", "--format", format, tunnel.id],
      { env },
    );
    assert.equal(early.code, ExitCode.failure, format);
    assert.equal(early.stdout, "", format);
    assert.equal(
      oneLine(early.stderr),
      `globus-streams: Tunnel ${tunnel.id} has no connector contact yet: state ` +
        `AWAITING_LISTENER, not ACTIVE (initialize the listening side, or see ` +
        `'globus-streams tunnel show ${tunnel.id}')`,
    );
  }
  assert.equal(
    (await confRecord(world.stores.initiator, tunnel.id)).connector_contact_string,
    undefined,
  );

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
  const active = await world.transfer.getTunnel(tunnel.id);
  assert.equal(active.state, "ACTIVE");
  const contact = `${active.initiatorIpAddress}:${active.initiatorPort}`;
  const lookup = await runCliInProcess(
    ["environment", "contact-lookup", "--format", "preload", tunnel.id],
    { env },
  );
  assert.equal(lookup.code, 0, lookup.stderr);
  assert.match(lookup.stdout, new RegExp(`^connector_contact_string=${contact}$`, "m"));
  assert.match(lookup.stdout, new RegExp(`^fake_port=${conf.fake_port}$`, "m"));
  const after = await confRecord(world.stores.initiator, tunnel.id);
  assert.equal(after.connector_contact_string, contact, "written to the conf file");
  assert.equal(after.lankey, conf.lankey, "the secret kept");
});

Deno.test("initialize refuses a stopped tunnel, which will not become ACTIVE", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  await world.transfer.updateTunnel(tunnel.id, { state: "STOPPING" });
  const result = await runCliInProcess(["environment", "initialize", tunnel.id], {
    env: world.env("initiator"),
  });
  assert.equal(result.code, ExitCode.failure);
  assert.match(
    oneLine(result.stderr),
    /is not ACTIVE: state STOPP(ING|ED), it will not start again/,
  );
  assert.equal(await world.stores.initiator.read(tunnel.id), undefined, "no conf written");
});

Deno.test("--wait waits until the listening side starts the tunnel", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const waiting = runCliInProcess(["environment", "initialize", "--wait", tunnel.id], {
    env: world.env("initiator"),
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
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
  const result = await waiting;
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `^Waiting for tunnel ${tunnel.id} to become ACTIVE: state AWAITING_LISTENER, 0 s\n$`,
    ),
  );
  assert.match(result.stdout, /Your contact string is: globus\./);
});

Deno.test("--wait gives up after --wait-timeout, and stops on the stop signal", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const started = Date.now();
  const result = await runCliInProcess(
    ["environment", "initialize", "--wait", "--wait-timeout", "1", tunnel.id],
    { env: world.env("initiator") },
  );
  assert.equal(result.code, ExitCode.failure);
  assert.match(
    result.stderr.trimEnd().split("\n").at(-1)!,
    new RegExp(
      `^globus-streams: Timed out after 1 s waiting for tunnel ${tunnel.id} to become ACTIVE: state AWAITING_LISTENER`,
    ),
  );
  assert.ok(Date.now() - started < 5000);

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 200);
  const stopped = await runCliInProcess(["environment", "initialize", "--wait", tunnel.id], {
    env: world.env("initiator"),
    signal: controller.signal,
  });
  assert.equal(stopped.code, ExitCode.interrupted);
  assert.match(stopped.stderr, /globus-streams: Interrupted\n$/);
});

Deno.test("an existing conf is kept unless --force, which keeps the fake port", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const args = [
    "environment",
    "initialize",
    "--listener-contact-string",
    `127.0.0.1:${world.freePort()}`,
    tunnel.id,
  ];
  const env = world.env("listener");
  assert.equal((await runCliInProcess(args, { env })).code, 0);
  const before = await confRecord(world.stores.listener, tunnel.id);

  const again = await runCliInProcess(args, { env });
  assert.equal(again.code, ExitCode.conf);
  assert.equal(
    oneLine(again.stderr),
    `globus-streams: Conf file "${world.stores.listener.path(tunnel.id)}" already exists: ` +
      `run 'globus-streams environment update ${tunnel.id}' to refresh it, or pass --force to replace it`,
  );
  assert.equal(again.stdout, "", "refused before saying anything else");

  const forced = await runCliInProcess([
    ...args.slice(0, 2),
    "--force",
    "--cs-ttl",
    "30",
    ...args.slice(2),
  ], { env });
  assert.equal(forced.code, 0, forced.stderr);
  const after = await confRecord(world.stores.listener, tunnel.id);
  assert.equal(after.fake_port, before.fake_port);
  assert.equal(after.connector_contact_string_ttl, "30");
  assert.notEqual(after.lankey_id, before.lankey_id, "a new secret");
});

Deno.test("a corrupt conf is named by line and never overwritten without --force", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const env = world.env("listener");
  const args = ["environment", "initialize", "--listener", tunnel.id];
  assert.equal((await runCliInProcess(args, { env })).code, 0);
  const path = world.stores.listener.path(tunnel.id);
  const corrupt = (await Deno.readTextFile(path)).replace(/^fake_port=.*$/m, "fake_port=abc");
  await Deno.writeTextFile(path, corrupt);
  const line = corrupt.split("\n").indexOf("fake_port=abc") + 1;

  const result = await runCli(args, { env });
  assert.equal(result.code, ExitCode.conf);
  assert.match(
    oneLine(result.stderr),
    new RegExp(
      `^globus-streams: Cannot read conf file ".*": line ${line}: fake_port "abc": want a port number`,
    ),
  );
  assert.equal(await Deno.readTextFile(path), corrupt);

  const forced = await runCliInProcess([...args, "--force"], { env });
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(await world.stores.listener.read(tunnel.id));
});

Deno.test("listener contacts: [::1]:80 is accepted, names and garbage are refused before any request", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const ok = await runCliInProcess(
    ["environment", "initialize", "--listener-contact-string", "[::1]:80", tunnel.id],
    { env: world.env("listener") },
  );
  assert.equal(ok.code, 0, ok.stderr);
  const active = await world.transfer.getTunnel(tunnel.id);
  assert.equal(active.listenerIpAddress, "::1");
  assert.equal(active.listenerPort, 80);
  assert.equal(
    (await confRecord(world.stores.listener, tunnel.id)).listener_contact_string,
    "[::1]:80",
  );

  const cases: [string, RegExp][] = [
    ["example.org:80", /"example\.org:80": the host must be an IP address, not a name/],
    ["10.0.0.5", /"10\.0\.0\.5": want HOST:PORT or \[IPV6\]:PORT/],
    ["10.0.0.5:0", /want HOST:PORT/],
    ["::1:80", /want HOST:PORT/],
  ];
  for (const [contact, pattern] of cases) {
    const result = await runCliInProcess(
      ["environment", "initialize", "--listener-contact-string", contact, tunnel.id],
      { env: { ...unreachable, GLOBUS_STREAMS_DIR: world.dirs.initiator } },
    );
    assert.equal(result.code, ExitCode.usage, contact);
    assert.match(oneLine(result.stderr), pattern);
    assert.match(result.stderr, /^globus-streams: Invalid listener contact string/);
  }
  const ttl = await runCliInProcess(["environment", "initialize", "--cs-ttl", "soon", tunnel.id], {
    env: world.env("initiator"),
  });
  assert.equal(ttl.code, ExitCode.usage);
  assert.match(ttl.stderr, /Invalid --cs-ttl "soon": want whole seconds/);
});

Deno.test("an unknown tunnel and an unreachable service fail in one line with their exit codes", async () => {
  await using world = await startWorld();
  const unknown = "5f2c3a1e-0000-4000-8000-00000000dead";
  const result = await runCliInProcess(["environment", "initialize", "--listener", unknown], {
    env: world.env("listener"),
  });
  assert.equal(result.code, ExitCode.failure);
  assert.match(oneLine(result.stderr), new RegExp(`^globus-streams: .*${unknown}.*`));
  assert.equal(await world.stores.listener.read(unknown), undefined);

  const down = await runCli(["environment", "initialize", "--listener", unknown], {
    env: { ...unreachable, HOME: world.dirs.listener, GLOBUS_STREAMS_DIR: world.dirs.listener },
  });
  assert.equal(down.code, ExitCode.unreachable, down.stderr);
  assert.match(oneLine(down.stderr), /^globus-streams: .*127\.0\.0\.1:1/);
});

Deno.test("when the endpoint gives no LAN secret, initialize warns and goes on without one", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const noSuchEndpoint = "5f2c3a1e-0000-4000-8000-0000000000e9";
  const result = await runCliInProcess(
    ["environment", "initialize", "--listener", tunnel.id, noSuchEndpoint],
    { env: world.env("listener") },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    oneLine(result.stderr),
    /^globus-streams: warning: The LAN connection for this tunnel is not secured: .+/,
  );
  const conf = await confRecord(world.stores.listener, tunnel.id);
  assert.equal(conf.lankey, undefined);
  assert.equal(conf.lankey_id, undefined);
  assert.equal(conf.endpoint_id, noSuchEndpoint);
});

Deno.test("update fetches contact and listener again and keeps the secret", async () => {
  await using world = await startWorld();
  const tunnel = await world.createTunnel();
  const env = world.env("listener");
  const first = world.freePort();
  await runCliInProcess(
    ["environment", "initialize", "--listener-contact-string", `127.0.0.1:${first}`, tunnel.id],
    { env },
  );
  const before = await confRecord(world.stores.listener, tunnel.id);
  // A listener contact is set once (the service refuses a move), so the tunnel keeps it.
  const second = first === 65535 ? first - 1 : first + 1;
  const moved = await runCliInProcess(
    [
      "environment",
      "initialize",
      "--force",
      "--listener-contact-string",
      `127.0.0.1:${second}`,
      tunnel.id,
    ],
    { env },
  );
  assert.equal(moved.code, 1);
  assert.match(
    oneLine(moved.stderr),
    /\(409 Conflict\): Tunnel .* already has listener contact 127\.0\.0\.1:\d+: a listener contact is set once/,
  );
  await new Promise((resolve) => setTimeout(resolve, 1100)); // update_time is in seconds
  const gets = world.tunnelGets(tunnel.id);
  const result = await runCliInProcess(["environment", "update", tunnel.id], { env });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`listener contact 127\\.0\\.0\\.1:${first}\n$`));
  assert.equal(world.tunnelGets(tunnel.id), gets + 1);
  const after = await confRecord(world.stores.listener, tunnel.id);
  assert.equal(after.listener_contact_string, `127.0.0.1:${first}`);
  assert.ok(Number(after.update_time) > Number(before.update_time), "written again");
  assert.equal(after.lankey, before.lankey);
  assert.equal(after.lankey_id, before.lankey_id);
  assert.equal(after.fake_port, before.fake_port);

  const missing = await runCliInProcess([
    "environment",
    "update",
    "5f2c3a1e-0000-4000-8000-00000000dead",
  ], { env });
  assert.equal(missing.code, ExitCode.conf);
  assert.match(
    oneLine(missing.stderr),
    /No conf file for tunnel .* run 'globus-streams environment initialize/,
  );
});

// ---- commands that read only the local files ----

const idA = "5f2c3a1e-0000-4000-8000-00000000000a";
const idB = "5f2c3a1e-0000-4000-8000-00000000000b";
const idC = "5f2c3a1e-0000-4000-8000-00000000000c";

async function localConfs() {
  const dir = await Deno.makeTempDir({ prefix: "gs-env-local-" });
  const store = new ConfStore(`${dir}/streams`);
  const now = Math.floor(Date.now() / 1000);
  const conf = (expires: number, side: "listening" | "initiating") => ({
    values: {
      lankey: "TopSecretLanKey",
      lankeyId: "0b8e6a7e-1111-4222-8333-444455556666",
      connectorContactString: "127.0.0.1:50123",
      updateTime: now,
      connectorContactStringTtl: 10,
      fakePort: 4242,
      tunnelExpirationTime: expires,
      side,
    },
    lines: [{ key: "custom_key", value: "kept" }],
  });
  await store.write(idA, conf(now - 60, "initiating"));
  await store.write(idB, conf(now + 3600, "listening"));
  return {
    dir,
    store,
    env: { GLOBUS_STREAMS_DIR: `${dir}/streams`, ...unreachable },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("show prints every key with the secret redacted, in text and json", async () => {
  await using local = await localConfs();
  const text = await runCliInProcess(["environment", "show", idA], { env: local.env });
  assert.equal(text.code, 0, text.stderr);
  assert.ok(!text.stdout.includes("TopSecretLanKey"));
  assert.match(text.stdout, /^lankey=\(redacted\)$/m);
  assert.match(text.stdout, /^custom_key=kept$/m);
  assert.match(text.stdout, /^lankey_id=0b8e6a7e-/m);
  assert.match(text.stdout, /^# contact fresh for \d+ s$/m);
  const json = await runCliInProcess(["environment", "show", "-F", "json", idA], {
    env: local.env,
  });
  assert.equal(json.code, 0);
  assert.ok(!json.stdout.includes("TopSecretLanKey"));
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.values.lankey, "(redacted)");
  assert.equal(parsed.values.custom_key, "kept");
  assert.equal(parsed.values.fake_port, "4242");
});

Deno.test("list shows a table and json, and warns about files it cannot use", async () => {
  await using local = await localConfs();
  await Deno.writeTextFile(local.store.path(idC), "garbage\n", { mode: 0o600 });
  const text = await runCliInProcess(["environment", "list"], { env: local.env });
  assert.equal(text.code, 0);
  const rows = text.stdout.trimEnd().split("\n");
  assert.match(rows[0], /^TUNNEL ID\s+SIDE\s+CONNECTOR CONTACT\s+EXPIRES$/);
  assert.match(
    rows[1],
    new RegExp(`^${idA}\\s+initiating\\s+127\\.0\\.0\\.1:50123\\s+\\S+Z \\(expired\\)$`),
  );
  assert.match(rows[2], new RegExp(`^${idB}\\s+listening\\s+127\\.0\\.0\\.1:50123\\s+\\S+Z$`));
  assert.equal(rows.length, 3);
  assert.match(
    oneLine(text.stderr),
    new RegExp(`warning: Cannot read conf file ".*${idC}\\.conf": line 1`),
  );
  const json = JSON.parse(
    (await runCliInProcess(["environment", "list", "-F", "json"], { env: local.env })).stdout,
  );
  assert.deepEqual(json.map((row: { tunnel_id: string }) => row.tunnel_id), [idA, idB, idC]);
  assert.equal(json[0].expired, true);
  assert.ok(!JSON.stringify(json).includes("TopSecretLanKey"));
  const empty = await runCliInProcess(["environment", "list"], {
    env: { GLOBUS_STREAMS_DIR: `${local.dir}/none` },
  });
  assert.match(empty.stdout, /^No conf files in /);
});

Deno.test("cleanup removes expired conf files; --force removes the rest", async () => {
  await using local = await localConfs();
  const kept = await runCliInProcess(["environment", "cleanup", idB], { env: local.env });
  assert.equal(kept.code, 0);
  assert.match(kept.stdout, /^Kept .*: tunnel .* expires .* \(pass --force to remove it\)\n$/);
  const all = await runCliInProcess(["environment", "cleanup"], { env: local.env });
  assert.equal(all.code, 0, all.stderr);
  assert.match(
    oneLine(all.stdout),
    new RegExp(`^Removed .*${idA}\\.conf \\(tunnel ${idA}, expired `),
  );
  assert.deepEqual(await local.store.tunnelIds(), [idB]);
  const nothing = await runCliInProcess(["environment", "cleanup", "--all"], { env: local.env });
  assert.match(nothing.stdout, /^No expired conf files in /);
  const forced = await runCliInProcess(["environment", "cleanup", "--force", idB], {
    env: local.env,
  });
  assert.match(forced.stdout, /^Removed .*\(tunnel .*, expires /);
  assert.deepEqual(await local.store.tunnelIds(), []);
  assert.deepEqual([...Deno.readDirSync(local.store.dir)], [], "lock files went too");
  const missing = await runCliInProcess(["environment", "cleanup", idA], { env: local.env });
  assert.equal(missing.code, ExitCode.conf);
  const both = await runCliInProcess(["environment", "cleanup", "--all", idA], { env: local.env });
  assert.equal(both.code, ExitCode.usage);
});

Deno.test("cleanup skips a corrupt file unless --force", async () => {
  await using local = await localConfs();
  await Deno.writeTextFile(local.store.path(idC), "garbage\n", { mode: 0o600 });
  const skipped = await runCliInProcess(["environment", "cleanup", idC], { env: local.env });
  assert.equal(skipped.code, ExitCode.conf);
  assert.match(oneLine(skipped.stderr), /Skipped: Cannot read conf file .*line 1/);
  const forced = await runCliInProcess(["environment", "cleanup", "--force", "--all"], {
    env: local.env,
  });
  assert.equal(forced.code, 0);
  assert.deepEqual(await local.store.tunnelIds(), []);
});

Deno.test("a world-readable conf is refused with exit 3 by every command", async () => {
  await using local = await localConfs();
  await Deno.chmod(local.store.path(idB), 0o644);
  for (const argv of [["environment", "show", idB], ["environment", "contact-lookup", idB]]) {
    const result = await runCliInProcess(argv, { env: local.env });
    assert.equal(result.code, ExitCode.conf, argv.join(" "));
    assert.match(
      oneLine(result.stderr),
      /mode 0644 lets other users read the LAN secret \(run: chmod 600 /,
    );
  }
  await Deno.chmod(local.store.path(idB), 0o600);
  await Deno.chmod(local.store.dir, 0o755);
  const dir = await runCli(["environment", "list"], { env: local.env });
  assert.equal(dir.code, ExitCode.conf);
  assert.match(oneLine(dir.stderr), /Cannot use conf directory .*mode 0755 .*\(run: chmod 700 /);
});

Deno.test("a conf written with the secret never shows it outside --format preload", async () => {
  await using local = await localConfs();
  const values = (await local.store.read(idB))!;
  await local.store.write(idB, withValues(values, { listenerContactString: "[::1]:8080" }));
  for (
    const argv of [
      ["environment", "contact-lookup", idB],
      ["environment", "contact-lookup", "-F", "json", idB],
      ["environment", "show", idB],
      ["environment", "show", "-F", "json", idB],
      ["environment", "list", "-F", "json"],
    ]
  ) {
    const result = await runCliInProcess(argv, { env: local.env });
    assert.equal(result.code, 0, argv.join(" ") + result.stderr);
    assert.ok(!(result.stdout + result.stderr).includes("TopSecretLanKey"), argv.join(" "));
  }
  const preload = await runCliInProcess(["environment", "contact-lookup", "-F", "preload", idB], {
    env: local.env,
  });
  assert.match(preload.stdout, /^lankey=TopSecretLanKey$/m);
});
