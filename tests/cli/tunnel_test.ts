// `tunnel ...` and `access-point ...` through the CLI against the emulator: output,
// exit codes, and one-line errors.
import assert from "node:assert/strict";
import { runCli, runCliInProcess } from "../_support/cli.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";

type Env = Record<string, string>;

function cli(env: Env) {
  return (...args: string[]) => runCliInProcess(args, { env });
}

/** The value of one "Field: value" line of a record. */
function field(record: string, name: string): string {
  const line = record.split("\n").find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no "${name}" in:\n${record}`);
  return line.slice(name.length + 1).trim();
}

function oneLine(stderr: string): string {
  assert.equal(stderr.split("\n").length, 2, `one line, got: ${stderr}`);
  return stderr.trimEnd();
}

Deno.test("tunnel lifecycle: create, update listener, refused delete, stop, delete", async () => {
  const { env, stop } = await startEmulatorInProcess({ configToml: "stop_delay_ms = 10\n" });
  try {
    const run = cli(env);
    const ap1 = env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
    const ap2 = env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
    const created = await run("tunnel", "create", "--label", "demo", ap1, ap2);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(field(created.stdout, "State"), "AWAITING_LISTENER");
    assert.equal(
      field(created.stdout, "Status"),
      "The tunnel is waiting for listening contact detail setup.",
    );
    assert.equal(field(created.stdout, "Label"), "demo");
    assert.equal(field(created.stdout, "Initiator IP"), "None");
    assert.equal(field(created.stdout, "Lifetime (minutes)"), "360");
    assert.match(created.stdout, /^ID: {21}[0-9a-f-]{36}\n/, "values are aligned");
    const id = field(created.stdout, "ID");

    const updated = await run(
      "tunnel",
      "update",
      "--listener-contact-string",
      "127.0.0.1:8888",
      id,
    );
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal(field(updated.stdout, "State"), "ACTIVE");
    assert.equal(field(updated.stdout, "Listener Port"), "8888");
    assert.equal(field(updated.stdout, "Initiator IP"), "127.0.0.1");
    assert.match(field(updated.stdout, "Initiator Port"), /^\d+$/);
    // A listener contact is set once; the refusal is one line.
    const moved = await run("tunnel", "update", "--listener-contact-string", "127.0.0.1:9999", id);
    assert.equal(moved.code, 1);
    assert.equal(
      oneLine(moved.stderr),
      `globus-streams: Transfer refused the request (409 Conflict): Tunnel ${id} already has listener contact 127.0.0.1:8888: a listener contact is set once (create a new tunnel to listen elsewhere)`,
    );

    const refused = await run("tunnel", "delete", id);
    assert.equal(refused.code, 1);
    assert.equal(
      oneLine(refused.stderr),
      `globus-streams: Transfer refused the request (409 Conflict): Tunnel ${id} is ACTIVE: a tunnel must be STOPPED before it can be deleted (run 'globus-streams tunnel stop ${id}' first)`,
    );

    const stopped = await run("tunnel", "stop", id);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout, `Tunnel ${id} is stopping: state STOPPING\n`);
    let state = "";
    for (let i = 0; i < 50 && state !== "STOPPED"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      state = field((await run("tunnel", "show", id)).stdout, "State");
    }
    assert.equal(state, "STOPPED");

    const events = await run("tunnel", "events", id);
    const lines = events.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^Code +\| Error \| Details +\| Time +$/);
    assert.match(lines[1], /^-+\+-------\+-+\+-+$/);
    assert.deepEqual(lines.slice(2).map((l) => l.split(" | ")[0].trim()), [
      "STARTED",
      "TUNNEL_ACTIVE",
      "TUNNEL_STOPPED",
    ]);

    const deleted = await run("tunnel", "delete", id);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `Tunnel ${id} deleted successfully\n`);
    const gone = await run("tunnel", "show", id);
    assert.equal(gone.code, 1);
    assert.equal(
      oneLine(gone.stderr),
      `globus-streams: Tunnel "${id}" was not found (404 NotFound): check the id with 'globus-streams tunnel list'`,
    );
  } finally {
    await stop();
  }
});

Deno.test("-F json prints the service's documents; lists print the resources", async () => {
  const { env, stop } = await startEmulatorInProcess({ configToml: "page_size = 2\n" });
  try {
    const run = cli(env);
    const ids: string[] = [];
    for (const label of ["a", "b", "c"]) {
      const created = await run(
        "tunnel",
        "create",
        "-F",
        "json",
        "--label",
        label,
        "--lifetime-mins",
        "10",
        "--restartable",
        "--listener-contact-string",
        "[::1]:2222",
        env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
        env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      );
      assert.equal(created.code, 0, created.stderr);
      const document = JSON.parse(created.stdout);
      assert.equal(document.data.type, "Tunnel");
      assert.equal(document.data.attributes.listener_ip_address, "::1");
      assert.equal(document.data.attributes.lifetime_mins, 10);
      assert.equal(document.data.attributes.restartable, true);
      assert.equal(typeof document.meta.request_id, "string");
      ids.push(document.data.id);
    }
    // The whole document as the official CLI prints it; with several pages, every
    // page's resources, the first page's meta and the last page's links (null).
    const list = await run("tunnel", "list", "-F", "json");
    const document = JSON.parse(list.stdout);
    assert.deepEqual(Object.keys(document), ["data", "links", "meta"]);
    assert.deepEqual(document.data.map((r: { id: string }) => r.id), ids, "all pages");
    assert.equal(document.links, null);
    assert.equal(typeof document.meta.request_id, "string");
    const table = await run("tunnel", "list");
    const rows = table.stdout.split("\n");
    assert.equal(rows.length, 6, "header, rule, three rows, and the final newline");
    assert.match(rows[0], /^ID +\| Label \| State +\| Created Time +$/);
    assert.match(rows[1], /^-{37}\+-------\+-+\+-{27}$/);
    const wide = (await run("tunnel", "list", "--all-columns")).stdout.split("\n");
    assert.match(
      wide[0],
      /^ID +\| Label \| State +\| Created Time +\| Initiator Contact +\| Listener Contact$/,
    );
    assert.match(wide[2], /\| \[::1\]:2222 *$/);
    const ids2 = await run("tunnel", "list", "-F", "unix", "--jq", "data[].id");
    assert.equal(ids2.stdout, ids.join("\t") + "\n", "plain values on one line, as official");
    const shown = JSON.parse((await run("tunnel", "show", "-F", "json", ids[0])).stdout);
    assert.equal(shown.data.id, ids[0]);
    const events = JSON.parse((await run("tunnel", "events", "--format", "json", ids[0])).stdout);
    assert.equal(events.data[0].type, "TunnelEvent");
    const point = JSON.parse(
      (await run("access-point", "show", "-F", "json", env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP))
        .stdout,
    );
    assert.equal(point.data.type, "StreamAccessPoint");
    const points = JSON.parse((await run("access-point", "list", "-F", "json")).stdout);
    assert.equal(points.data.length, 2);
    const stopped = JSON.parse((await run("tunnel", "stop", "-F", "json", ids[0])).stdout);
    assert.equal(stopped.data.attributes.state, "STOPPING");
  } finally {
    await stop();
  }
});

Deno.test("access-point list and show, with filters", async () => {
  const { env, emulator, stop } = await startEmulatorInProcess();
  try {
    const run = cli(env);
    const list = await run("access-point", "list");
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split("\n");
    assert.match(rows[0], /^ID +\| Display Name +\| Host Endpoint +$/);
    assert.equal(rows.length, 4);
    const filtered = await run("access-point", "list", "--filter-fulltext", "listening");
    assert.equal(filtered.stdout.trimEnd().split("\n").length, 3);
    assert.ok(filtered.stdout.includes(env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP));
    const admin = await run(
      "access-point",
      "list",
      "--filter-endpoint-admin",
      crypto.randomUUID(),
    );
    assert.equal(admin.stdout.trimEnd().split("\n").length, 2, "header and separator only");
    const shown = await run("access-point", "show", env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP);
    assert.equal(field(shown.stdout, "Display Name"), "Site A access point");
    assert.equal(field(shown.stdout, "Host Endpoint"), emulator.config.endpoints[0].id);
    assert.equal(field(shown.stdout, "Info Link"), "None");
    const missing = await run("access-point", "show", crypto.randomUUID());
    assert.equal(missing.code, 1);
    assert.match(
      oneLine(missing.stderr),
      /Stream access point "[^"]+" was not found \(404 NotFound\)/,
    );
  } finally {
    await stop();
  }
});

Deno.test("command-line mistakes exit 2 before any request", async () => {
  let requests = 0;
  const env = {
    GLOBUS_SDK_SERVICE_URL_TRANSFER: "http://127.0.0.1:9/",
    GLOBUS_CLI_CLIENT_ID: "x",
    GLOBUS_CLI_CLIENT_SECRET: "y",
  };
  const counting: typeof fetch = () => {
    requests++;
    return Promise.reject(new Error("no request expected"));
  };
  const ap = crypto.randomUUID();
  const cases: [string[], RegExp][] = [
    [["tunnel", "show", "abc"], /Invalid tunnel id "abc": want a UUID/],
    [["tunnel", "create", ap, "nope"], /Invalid listener access point "nope"/],
    [
      ["tunnel", "create", "--listener-contact-string", "10.0.0.5", ap, ap],
      /Invalid listener contact "10\.0\.0\.5": want HOST:PORT/,
    ],
    [["tunnel", "create", "--lifetime-mins", "0", ap, ap], /Invalid --lifetime-mins "0"/],
    [["tunnel", "create", "--lifetime-minutes", "0", ap, ap], /Invalid --lifetime-minutes "0"/],
    [
      ["tunnel", "create", "--lifetime-minutes", "5", "--lifetime-mins", "5", ap, ap],
      /Give --lifetime-minutes once/,
    ],
    [["tunnel", "list", "--jq", "data[0].[["], /Invalid --jq expression "data\[0\]\.\[\[": /],
    [["tunnel", "create", "--lifetime-mins", "ten", ap, ap], /Invalid --lifetime-mins "ten"/],
    [["tunnel", "update", ap], /Nothing to update: give --label or --listener-contact-string/],
    [
      ["tunnel", "update", "--listener-contact-string", "h:99999", ap],
      /Invalid listener contact "h:99999"/,
    ],
    [["tunnel", "list", "-F", "yaml"], /Unknown format "yaml"/],
    [["tunnel", "delete"], /Missing argument/],
    [["access-point", "list", "--filter-endpoint-admin", "me"], /Invalid identity id "me"/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCliInProcess(args, { env, fetch: counting });
    assert.equal(result.code, 2, args.join(" "));
    assert.match(oneLine(result.stderr), pattern);
  }
  assert.equal(requests, 0);
});

Deno.test("a 422 from the service is one line with exit 1", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const result = await cli(env)(
      "tunnel",
      "create",
      "--lifetime-mins",
      "99999",
      env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    );
    assert.equal(result.code, 1);
    assert.equal(
      oneLine(result.stderr),
      "globus-streams: Transfer refused the request (422 ValidationError): lifetime_mins must be 1-10080",
    );
    const unknownAp = await cli(env)("tunnel", "create", crypto.randomUUID(), crypto.randomUUID());
    assert.equal(unknownAp.code, 1);
    assert.match(
      oneLine(unknownAp.stderr),
      /\(422 ValidationError\): Unknown initiator stream access point/,
    );
  } finally {
    await stop();
  }
});

Deno.test("an unreachable Transfer service: exit 5 and one line", async () => {
  const { env, stop } = await startEmulatorInProcess();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  try {
    const result = await runCli(["tunnel", "list"], {
      env: { ...env, GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${port}/` },
    });
    assert.equal(result.code, 5);
    assert.equal(
      oneLine(result.stderr),
      `globus-streams: Cannot reach Transfer at "http://127.0.0.1:${port}/": connection refused (is the service up? check GLOBUS_SDK_SERVICE_URL_TRANSFER)`,
    );
  } finally {
    await stop();
  }
});

Deno.test("a malformed answer: exit 1 and one line naming what was wrong", async () => {
  const { env, stop } = await startEmulatorInProcess();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ data: { type: "Tunnel", id: 7 }, links: null }),
  );
  try {
    const result = await runCliInProcess(["tunnel", "list"], {
      env: { ...env, GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${server.addr.port}/` },
    });
    assert.equal(result.code, 1);
    assert.match(
      oneLine(result.stderr),
      /^globus-streams: Transfer sent a malformed answer to GET "\/v2\/tunnels": data: .*expected array/,
    );
  } finally {
    await server.shutdown();
    await stop();
  }
});

Deno.test("a list record that cannot be read is one warning line; the list goes on", async () => {
  const { env, stop } = await startEmulatorInProcess();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ data: [{ type: "Tunnel", id: 7 }], links: null }),
  );
  try {
    const result = await runCliInProcess(["tunnel", "list"], {
      env: { ...env, GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${server.addr.port}/` },
    });
    assert.equal(result.code, 0);
    assert.match(
      oneLine(result.stderr),
      /^globus-streams: warning: Transfer sent tunnel 1 of the list \(id "7"\) in a form this program cannot read: id: .*expected string.* \(-F json shows it as sent\)$/,
    );
    assert.equal(result.stdout.split("\n").length, 3, "the header and rule, no row");
  } finally {
    await server.shutdown();
    await stop();
  }
});

Deno.test("without a login or credentials the tunnel commands exit 4", async () => {
  const { env, stop } = await startEmulatorInProcess();
  const dir = await Deno.makeTempDir();
  try {
    const result = await runCliInProcess(["tunnel", "list"], {
      env: {
        GLOBUS_SDK_SERVICE_URL_AUTH: env.GLOBUS_SDK_SERVICE_URL_AUTH,
        GLOBUS_SDK_SERVICE_URL_TRANSFER: env.GLOBUS_SDK_SERVICE_URL_TRANSFER,
        GLOBUS_STREAMS_DIR: dir,
      },
    });
    assert.equal(result.code, 4);
    assert.equal(
      oneLine(result.stderr),
      "globus-streams: Not logged in: run 'globus-streams login' or set GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET",
    );
  } finally {
    await stop();
    await Deno.remove(dir, { recursive: true });
  }
});
