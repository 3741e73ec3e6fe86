// Malformed API documents: the real clients (src/globus) and the CLI in-process against
// answers captured from the emulator and served back with one of them broken. Every
// failure must be one GlobusApiError line of the right kind (the CLI: one stderr line and
// exit 1, or 4 for a refused login), never a TypeError or a stack trace.
import assert from "node:assert/strict";
import {
  Authorizer,
  GcsClient,
  GlobusApiError,
  TRANSFER_SCOPE,
  TransferClient,
} from "../../src/globus/mod.ts";
import { ConfStore, formatConf, withValues } from "../../src/conf/mod.ts";
import { runCliInProcess } from "../_support/cli.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";
import type { Emulator } from "../../src/emulator/mod.ts";
import {
  checkApiError,
  type Exchange,
  type Fault,
  loopbackFetch,
  makeFault,
  recordingFetch,
  ReplayServer,
} from "./_api.ts";
import { corpusTexts, fuzzConfig, fuzzLoop, FuzzStats, type Rng } from "./_fuzz.ts";

type Env = (name: string) => string | undefined;

interface ClientScenario {
  name: string;
  run(env: Env, fetcher: typeof fetch, origin: string): Promise<unknown>;
}

const SUBMISSION = "7d1c2b3a-4e5f-4a6b-8c7d-000000000f22";

/** Client options with fast retries and a bounded wait. */
function options(env: Env, fetcher: typeof fetch) {
  return { env, fetch: fetcher, retryBaseMs: 1, timeoutMs: 5000 };
}

function envFor(exports: Record<string, string>, origin: string): Env {
  const values: Record<string, string> = {
    ...exports,
    GLOBUS_SDK_SERVICE_URL_AUTH: `${origin}/auth/`,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: `${origin}/transfer/`,
  };
  // The replay serves plain HTTP; only the emulator's GCS managers need its CA.
  if (origin !== new URL(exports.GLOBUS_SDK_SERVICE_URL_AUTH ?? origin).origin) {
    delete values.GLOBUS_SDK_VERIFY_SSL;
  }
  return (name) => values[name];
}

/** The origins the emulator serves from: its services and each GCS manager. */
function emulatorOrigins(emulator: Emulator): string[] {
  return [
    new URL(emulator.authUrl).origin,
    ...emulator.config.endpoints.map((e) => emulator.gcsManagerUrl(e.id)),
  ];
}

interface Captured {
  scenarios: { scenario: ClientScenario; exchanges: Exchange[] }[];
  secrets: string[];
}

/** Runs every client call once against the emulator, recording what it answered. */
async function captureClients(
  exports: Record<string, string>,
  origins: string[],
  replayOrigin: string,
): Promise<Captured> {
  const emulatorOrigin = new URL(exports.GLOBUS_SDK_SERVICE_URL_AUTH).origin;
  const initiator = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
  const listener = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
  const ids: Record<string, string> = {};
  const secrets = [exports.GLOBUS_CLI_CLIENT_SECRET];
  let capturing = true;
  const transfer = (env: Env, f: typeof fetch) => new TransferClient(options(env, f));
  // The GCS manager has its own origin at capture; the replay serves it from its one origin.
  const gcs = (env: Env, f: typeof fetch, origin: string) => {
    const url = new URL(ids.gcsUrl);
    const base = origin === emulatorOrigin ? url.origin : origin;
    return new GcsClient(`${base}${url.pathname}`, ids.endpoint, options(env, f));
  };
  const scenarios: ClientScenario[] = [
    { name: "token", run: (env, f) => new Authorizer(options(env, f)).token(TRANSFER_SCOPE) },
    {
      name: "createTunnel",
      run: async (env, f) => {
        const tunnel = await transfer(env, f).createTunnel({
          initiatorAccessPointId: initiator,
          listenerAccessPointId: listener,
          label: "fuzz",
          submissionId: SUBMISSION,
        });
        ids.tunnel ??= tunnel.id;
        return tunnel;
      },
    },
    { name: "getTunnel", run: (env, f) => transfer(env, f).getTunnel(ids.tunnel) },
    {
      name: "updateTunnel",
      run: (env, f) =>
        transfer(env, f).updateTunnel(ids.tunnel, {
          listenerIpAddress: "127.0.0.1",
          listenerPort: 9,
        }),
    },
    { name: "getActiveTunnel", run: (env, f) => transfer(env, f).getTunnel(ids.tunnel) },
    { name: "listTunnels", run: (env, f) => transfer(env, f).listTunnels() },
    { name: "tunnelEvents", run: (env, f) => transfer(env, f).tunnelEvents(ids.tunnel) },
    {
      name: "getAccessPoint",
      run: async (env, f) => {
        const point = await transfer(env, f).getAccessPoint(initiator);
        ids.endpoint ??= point.hostEndpointId;
        return point;
      },
    },
    {
      name: "listAccessPoints",
      run: (env, f) => transfer(env, f).listAccessPoints({ fulltext: "a" }),
    },
    {
      name: "gcsManagerUrl",
      run: async (env, f) => {
        const url = await transfer(env, f).gcsManagerUrl(ids.endpoint);
        ids.gcsUrl ??= url;
        return url;
      },
    },
    {
      // The URL from the endpoint document goes straight into a GCS client.
      name: "gcsChain",
      run: async (env, f) => {
        const url = await transfer(env, f).gcsManagerUrl(ids.endpoint);
        return await new GcsClient(url, ids.endpoint, options(env, f)).listStreamGateways();
      },
    },
    {
      name: "createLanSecret",
      run: async (env, f, origin) => {
        const secret = await gcs(env, f, origin).createLanSecret({
          tunnelId: ids.tunnel,
          streamAccessPointId: initiator,
        });
        if (capturing) secrets.push(secret.secret);
        return secret;
      },
    },
    {
      name: "listStreamGateways",
      run: (env, f, origin) => gcs(env, f, origin).listStreamGateways(),
    },
  ];
  const env = envFor(exports, emulatorOrigin);
  const captured: Captured["scenarios"] = [];
  for (const scenario of scenarios) {
    const exchanges: Exchange[] = [];
    await scenario.run(
      env,
      recordingFetch(origins, replayOrigin, exchanges),
      emulatorOrigin,
    );
    assert.ok(exchanges.length > 0, scenario.name);
    captured.push({ scenario, exchanges });
  }
  capturing = false;
  return { scenarios: captured, secrets };
}

/** Whether a fault broke a token answer's access_token for use in a header. */
function breaksBearer(fault: Fault, exchanges: readonly Exchange[]): boolean {
  if (!exchanges[fault.index].target.endsWith("/oauth2/token") || fault.kind !== "body") {
    return false;
  }
  try {
    const doc = JSON.parse(fault.body) as {
      access_token?: unknown;
      other_tokens?: { access_token?: unknown }[];
    };
    const tokens = [doc.access_token, ...(doc.other_tokens ?? []).map((t) => t?.access_token)];
    return tokens.some((t) => typeof t === "string" && !/^[\x20-\x7e]+$/.test(t));
  } catch {
    return false;
  }
}

/** The fields TransferClient adds to an AccessPoint besides its attributes. */
const ACCESS_POINT_FIELDS = ["id", "displayName", "tlsftpServer", "hostEndpointId"];

/** Whether a fault gave an access point an attribute named like one of those. */
function overridesField(fault: Fault): boolean {
  try {
    const doc = JSON.parse(fault.body.replace(/^\ufeff/, "")) as { data?: unknown };
    const items = Array.isArray(doc.data) ? doc.data : [doc.data];
    return items.some((item) => {
      const attributes = (item as { attributes?: unknown } | null)?.attributes;
      return attributes !== null && typeof attributes === "object" &&
        ACCESS_POINT_FIELDS.some((field) => Object.hasOwn(attributes, field));
    });
  } catch {
    return false;
  }
}

/** Whether an error is `new URL`'s for a URL a fault put into a document. */
function breaksUrl(error: unknown): boolean {
  return error instanceof TypeError && /Invalid URL/i.test(error.message);
}

/** One client call against a fault, checked; counts the outcome in stats. */
async function checkClientCall(
  captured: Captured,
  replay: ReplayServer,
  env: Env,
  input: { scenario: string; fault: Fault },
  stats: FuzzStats,
): Promise<void> {
  const { scenario: name, fault } = input;
  const { scenario, exchanges } = captured.scenarios.find((s) => s.scenario.name === name)!;
  replay.load(exchanges, fault);
  let error: unknown;
  try {
    const value = await scenario.run(env, loopbackFetch(), replay.origin);
    if (name === "getAccessPoint" && fault.kind === "body" && fault.index === 1) {
      const served = JSON.parse(fault.body.replace(/^\ufeff/, "")) as {
        data: { id: string; relationships: { host_endpoint: { data: { id: string } } } };
      };
      const point = value as { id: string; hostEndpointId: string };
      const what = overridesField(fault) ? " (an attribute is named like a field)" : "";
      assert.equal(point.id, served.data.id, `the id is the resource's${what}`);
      assert.equal(
        point.hostEndpointId,
        served.data.relationships.host_endpoint.data.id,
        `the host endpoint is the relationship's${what}`,
      );
    }
    return stats.add("ok");
  } catch (caught) {
    error = caught;
  }
  assert.ok(!breaksUrl(error), `${fault.what}: a TypeError for a bad URL: ${error}`);
  const kind = checkApiError(error, fault, captured.secrets, stats);
  assert.ok(
    !(kind === "network" && breaksBearer(fault, exchanges)),
    `${fault.what}: a token a header cannot carry taken for a network failure`,
  );
  // A gcs_manager_url changed to another host is unreachable here (loopbackFetch).
  const urlChanged = name === "gcsChain" && exchanges[fault.index].target.includes("/endpoint/");
  const allowed = fault.kind === "body"
    ? ["malformed", "api", ...(urlChanged ? ["network"] : [])]
    : fault.kind === "status"
    ? ["api", "auth", "malformed"]
    : ["network"];
  assert.ok(
    allowed.includes(kind),
    `${fault.what} on request ${fault.index}: kind ${kind}: ${(error as Error).message}`,
  );
}

/** The emulator's answers, captured, and a replay server to serve them broken. */
async function withCapturedClients(
  fn: (captured: Captured, replay: ReplayServer, env: Env) => Promise<void>,
): Promise<void> {
  const replay = new ReplayServer();
  const emulator = await startEmulatorInProcess();
  try {
    const captured = await captureClients(
      emulator.env,
      emulatorOrigins(emulator.emulator),
      replay.origin,
    );
    await emulator.stop();
    await fn(captured, replay, envFor(emulator.env, replay.origin));
  } finally {
    await emulator.stop();
    await replay.stop();
  }
}

Deno.test("Globus clients: every malformed answer is one GlobusApiError line", async () => {
  await withCapturedClients(async (captured, replay, env) => {
    const config = fuzzConfig("api-clients", 1500);
    const stats = await fuzzLoop(
      config,
      (rng: Rng) => {
        const { scenario, exchanges } = rng.pick(captured.scenarios);
        return { scenario: scenario.name, fault: makeFault(rng, exchanges, true) };
      },
      (input, _rng, stats) => checkClientCall(captured, replay, env, input, stats),
    );
    assert.ok(
      stats.get("ok") > 50 && stats.get("error_malformed") > 100 && stats.get("error_api") > 50,
    );
  });
});

/** A stored answer: which scenario, which request (by path), and what to send instead. */
interface CorpusAnswer {
  about: string;
  scenario: string;
  /** A piece of the request's path, e.g. "/oauth2/token" or "/v2/tunnels/". */
  request: string;
  status: number;
  /** JSON to send (a string is sent as is). */
  body: unknown;
}

Deno.test("Globus clients: the stored malformed answers (corpus/api) are typed errors", async () => {
  const files = corpusTexts("api");
  await withCapturedClients(async (captured, replay, env) => {
    const stats = new FuzzStats();
    for (const [name, text] of files) {
      const answer = JSON.parse(text) as CorpusAnswer;
      const found = captured.scenarios.find((s) => s.scenario.name === answer.scenario);
      assert.ok(found, `${name}: no scenario ${answer.scenario}`);
      const index = found.exchanges.findIndex((e) => e.target.includes(answer.request));
      assert.ok(index >= 0, `${name}: no request ${answer.request} in ${answer.scenario}`);
      const body = typeof answer.body === "string"
        ? answer.body
        : JSON.stringify(answer.body).replaceAll("ORIGIN", replay.origin);
      const fault: Fault = {
        kind: answer.status === found.exchanges[index].status ? "body" : "status",
        index,
        status: answer.status,
        headers: { "content-type": "application/json" },
        body,
        cutAt: 0,
        what: `${name} (${answer.about})`,
      };
      try {
        await checkClientCall(captured, replay, env, { scenario: answer.scenario, fault }, stats);
      } catch (error) {
        throw new Error(`corpus/api/${name}: ${error instanceof Error ? error.message : error}`);
      }
    }
    console.log(
      `fuzz: api-corpus files=${files.length} ${
        [...stats.counts].map(([k, v]) => `${k}=${v}`).join(" ")
      }`,
    );
  });
});

// ----------------------------------------------------------------------------------------
// The CLI in-process.

interface CliScenario {
  name: string;
  args: string[];
  /** Which side's conf directory the command runs with. */
  side: "listener" | "initiator";
  /** Conf text to put in place before each run (the tunnel's conf file), if any. */
  conf?: () => string;
}

Deno.test("CLI in-process: malformed answers give one stderr line and exit 1 (4 for auth)", async () => {
  const replay = new ReplayServer();
  const emulator = await startEmulatorInProcess();
  const root = await Deno.makeTempDir({ prefix: "gs-fuzz-cli-" });
  try {
    const exports = emulator.env;
    const emulatorOrigin = new URL(exports.GLOBUS_SDK_SERVICE_URL_AUTH).origin;
    const dirs = { listener: `${root}/listener`, initiator: `${root}/initiator` };
    const cliEnv = (origin: string, side: "listener" | "initiator") => {
      const values: Record<string, string> = {
        ...exports,
        GLOBUS_SDK_SERVICE_URL_AUTH: `${origin}/auth/`,
        GLOBUS_SDK_SERVICE_URL_TRANSFER: `${origin}/transfer/`,
        HOME: root,
        GLOBUS_STREAMS_DIR: dirs[side],
      };
      // The replay serves plain HTTP; only the emulator's GCS managers need its CA.
      if (origin !== emulatorOrigin) delete values.GLOBUS_SDK_VERIFY_SSL;
      return values;
    };
    const captureEnv: Record<string, string> = cliEnv(emulatorOrigin, "listener");
    const transfer = new TransferClient({ env: (n) => captureEnv[n] });
    const tunnel = await transfer.createTunnel({
      initiatorAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      label: "cli fuzz",
    });
    const id = tunnel.id;
    const store = new ConfStore(dirs.initiator);
    let staleConf = "";
    const scenarios: CliScenario[] = [
      {
        name: "initialize listener",
        side: "listener",
        args: [
          "environment",
          "initialize",
          "--force",
          "--listener-contact-string",
          "127.0.0.1:9",
          id,
        ],
      },
      {
        name: "initialize initiator",
        side: "initiator",
        args: ["environment", "initialize", "--force", id],
      },
      {
        name: "contact-lookup stale",
        side: "initiator",
        args: ["environment", "contact-lookup", "-F", "preload", id],
        conf: () => staleConf,
      },
      {
        name: "update",
        side: "initiator",
        args: ["environment", "update", id],
        conf: () => staleConf,
      },
      { name: "tunnel show", side: "initiator", args: ["tunnel", "show", id] },
      { name: "tunnel show json", side: "initiator", args: ["tunnel", "show", "-F", "json", id] },
      { name: "tunnel list", side: "initiator", args: ["tunnel", "list"] },
      { name: "tunnel events", side: "initiator", args: ["tunnel", "events", id] },
      { name: "access-point list", side: "initiator", args: ["access-point", "list"] },
    ];
    const captured: { scenario: CliScenario; exchanges: Exchange[] }[] = [];
    const secrets = [exports.GLOBUS_CLI_CLIENT_SECRET];
    for (const scenario of scenarios) {
      if (scenario.conf) await Deno.writeTextFile(store.path(id), scenario.conf(), { mode: 0o600 });
      const exchanges: Exchange[] = [];
      const result = await runCliInProcess(scenario.args, {
        env: cliEnv(emulatorOrigin, scenario.side),
        fetch: recordingFetch(emulatorOrigins(emulator.emulator), replay.origin, exchanges),
      });
      assert.equal(result.code, 0, `${scenario.name}: ${result.stderr}`);
      captured.push({ scenario, exchanges });
      if (scenario.name === "initialize initiator") {
        const conf = (await store.read(id))!;
        secrets.push(conf.values.lankey!);
        staleConf = formatConf(withValues(conf, { updateTime: 0 }), { path: store.path(id) });
      }
    }
    secrets.push((await new ConfStore(dirs.listener).read(id))!.values.lankey!);
    await emulator.stop();

    const config = fuzzConfig("api-cli", 1000);
    const stats = await fuzzLoop(
      config,
      (rng: Rng) => {
        const which = rng.int(captured.length);
        // No 429/5xx or broken connections here: the CLI retries those after 250 ms and
        // more (the client fuzzer covers them with fast retries).
        return { which, fault: makeFault(rng, captured[which].exchanges, false) };
      },
      async ({ which, fault }, _rng, stats) => {
        const { scenario, exchanges } = captured[which];
        if (scenario.conf) {
          await Deno.writeTextFile(store.path(id), scenario.conf(), { mode: 0o600 });
        }
        replay.load(exchanges, fault);
        const result = await runCliInProcess(scenario.args, {
          env: cliEnv(replay.origin, scenario.side),
          fetch: loopbackFetch(),
        });
        const lines = result.stderr.split("\n").filter((line) => line !== "");
        const output = result.stdout + result.stderr;
        assert.ok(!output.includes(secrets[0]), "client secret shown");
        for (const lankey of secrets.slice(1)) {
          assert.ok(!result.stderr.includes(lankey), "lankey on stderr");
          if (!scenario.args.includes("preload")) {
            assert.ok(!result.stdout.includes(lankey), "lankey on stdout");
          }
        }
        for (const line of lines) {
          assert.match(line, /^globus-streams: /, `stderr line ${JSON.stringify(line)}`);
        }
        const errors = lines.filter((line) => !line.startsWith("globus-streams: warning: "));
        if (result.code === 0) {
          assert.deepEqual(errors, [], "success says nothing but warnings on stderr");
          return stats.add("ok");
        }
        assert.equal(errors.length, 1, `one error line: ${JSON.stringify(result.stderr)}`);
        const line = errors[0];
        assert.ok(!/\bat .*\.ts:\d+/.test(result.stderr), "no stack trace");
        const because = overridesField(fault)
          ? " (an access point attribute is named like a field)"
          : breaksBearer(fault, exchanges)
          ? " (a token a header cannot carry)"
          : "";
        assert.ok(!line.includes("Unexpected failure"), `${line}${because}`);
        assert.ok(
          !(result.code === 3 && /Cannot write conf file/.test(line)),
          `a conf error for the service's answer: ${line}`,
        );
        const allowed = fault.kind === "body" ? [1] : [1, 4];
        assert.ok(
          allowed.includes(result.code),
          `${scenario.name}, ${fault.what} on request ${fault.index}: exit ${result.code}: ${line}`,
        );
        stats.add(`exit_${result.code}`);
      },
    );
    assert.ok(stats.get("ok") > 20 && stats.get("exit_1") > 50);
  } finally {
    await emulator.stop();
    await replay.stop();
    await Deno.remove(root, { recursive: true });
  }
});

// ----------------------------------------------------------------------------------------
// The bugs the fuzzers found (RELIABILITY.md, bugs 7-10), one deterministic test each.

/** A one-shot local service answering every request with the given JSON documents in turn. */
async function withService(
  answers: { status: number; body: unknown }[],
  fn: (origin: string) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  let next = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, async (request) => {
    await request.body?.cancel();
    const answer = answers[Math.min(next++, answers.length - 1)];
    return Response.json(answer.body, { status: answer.status });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    controller.abort();
    await server.finished;
  }
}

const TOKEN = {
  access_token: "tok",
  expires_in: 3600,
  resource_server: "x",
  scope: TRANSFER_SCOPE,
};
const ENDPOINT = "9c4e1d2a-7b3f-4e6a-8d5c-1f2e3a4b5c6d";
const CREDENTIALS = { GLOBUS_CLI_CLIENT_ID: "c", GLOBUS_CLI_CLIENT_SECRET: "s" };

async function apiError(work: Promise<unknown>): Promise<GlobusApiError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof GlobusApiError, `want GlobusApiError, got ${error}`);
    return error;
  }
  assert.fail("want a GlobusApiError");
}

Deno.test({
  name: "a gcs_manager_url or links.next that is not a URL is a malformed answer",
  async fn() {
    await withService([
      { status: 200, body: TOKEN },
      { status: 200, body: { data: [], links: { next: "http://[::1" } } },
    ], async (origin) => {
      const env = envFor(CREDENTIALS, origin);
      const error = await apiError(new TransferClient(options(env, fetch)).listTunnels());
      assert.equal(error.kind, "malformed");
    });
    await withService([{ status: 200, body: TOKEN }], async (origin) => {
      const env = envFor(CREDENTIALS, origin);
      const error = await apiError(
        new GcsClient("not a url", ENDPOINT, options(env, fetch)).listStreamGateways(),
      );
      assert.equal(error.kind, "malformed");
    });
  },
});

Deno.test({
  name: "an access point attribute named id or hostEndpointId does not replace the real one",
  async fn() {
    const point = {
      type: "StreamAccessPoint",
      id: "45a32dca-d28e-4efc-aae3-d142aac27a02",
      attributes: { display_name: "A", tlsftp_server: null, id: null, hostEndpointId: "other" },
      relationships: { host_endpoint: { data: { type: "Endpoint", id: ENDPOINT } } },
    };
    await withService(
      [{ status: 200, body: TOKEN }, { status: 200, body: { data: point } }],
      async (origin) => {
        const env = envFor(CREDENTIALS, origin);
        const got = await new TransferClient(options(env, fetch)).getAccessPoint(point.id);
        assert.equal(got.id, point.id);
        assert.equal(got.hostEndpointId, ENDPOINT);
      },
    );
    await withService([{ status: 200, body: TOKEN }, {
      status: 200,
      body: { data: [point], links: null },
    }], async (origin) => {
      const result = await runCliInProcess(["access-point", "list"], {
        env: {
          ...CREDENTIALS,
          GLOBUS_SDK_SERVICE_URL_AUTH: `${origin}/auth/`,
          GLOBUS_SDK_SERVICE_URL_TRANSFER: `${origin}/transfer/`,
        },
      });
      assert.ok(!result.stderr.includes("Unexpected failure"), result.stderr);
    });
  },
});

Deno.test({
  name: "an access token that cannot go in a header is a malformed answer, not unreachable",
  async fn() {
    await withService(
      [{ status: 200, body: { ...TOKEN, access_token: "line\nbreak" } }],
      async (origin) => {
        const env = envFor(CREDENTIALS, origin);
        const error = await apiError(
          new TransferClient(options(env, fetch)).getTunnel("5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f"),
        );
        assert.equal(error.kind, "malformed", error.message);
      },
    );
  },
});

Deno.test({
  name: "a tunnel document with impossible values is a malformed answer, not a conf error",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "gs-fuzz-bug-" });
    try {
      const id = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";
      const store = new ConfStore(root);
      const stale = "update_time=0\nconnector_contact_string_ttl=10\nfake_port=4001\n" +
        "connector_contact_string=127.0.0.1:1\n";
      const tunnel = (attributes: Record<string, unknown>) => ({
        data: {
          type: "Tunnel",
          id,
          attributes: {
            lifetime_mins: 360,
            created_time: "2026-01-01T00:00:00",
            state: "ACTIVE",
            initiator_ip_address: "127.0.0.1",
            initiator_port: 4001,
            ...attributes,
          },
          relationships: {
            initiator: { data: { type: "StreamAccessPoint", id: ENDPOINT } },
            listener: { data: { type: "StreamAccessPoint", id: ENDPOINT } },
          },
        },
      });
      for (
        const bad of [{ initiator_port: 70000 }, { initiator_ip_address: "a b" }, {
          lifetime_mins: 1e12,
        }]
      ) {
        await Deno.writeTextFile(store.path(id), stale, { mode: 0o600 });
        await withService(
          [{ status: 200, body: TOKEN }, { status: 200, body: tunnel(bad) }],
          async (origin) => {
            const result = await runCliInProcess(["environment", "contact-lookup", id], {
              env: {
                ...CREDENTIALS,
                ...Object.fromEntries(
                  ["AUTH", "TRANSFER"].map((
                    s,
                  ) => [`GLOBUS_SDK_SERVICE_URL_${s}`, `${origin}/${s.toLowerCase()}/`]),
                ),
                GLOBUS_STREAMS_DIR: root,
              },
            });
            assert.equal(result.code, 1, `${JSON.stringify(bad)}: ${result.stderr}`);
          },
        );
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
