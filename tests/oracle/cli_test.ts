// The official Globus CLI (pinned, from PyPI) against the emulator, pointed at it only by
// the emulator's exports: `globus login` (it registers its client instance, then the
// link flow with the approval secret and the pasted code), `whoami`, `logout`, and every
// `globus streams` tunnel and access-point command with their refusals. Where the
// official CLI and the emulator disagree, the emulator is wrong.
import assert from "node:assert/strict";
import { officialClients } from "../_support/oracle.ts";
import { approveLogin, startEmulatorInProcess } from "../_support/emulator.ts";
import { runCliInProcess } from "../_support/cli.ts";

const oracle = await officialClients();
const LOGIN_TIMEOUT_MS = 60_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `globus ARGS` with only these variables (and PATH). */
async function globus(env: Record<string, string>, ...args: string[]): Promise<Run> {
  if (!oracle.ok) throw new Error(oracle.reason);
  const out = await new Deno.Command(oracle.globus, {
    args,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...env },
    stdin: "null",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The same words run by this project's CLI (`globus-streams tunnel list ...`). */
async function ours(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return await runCliInProcess(args, { env });
}

/** A field of the CLI's record output ("Label:   demo"). */
function field(stdout: string, name: string): string | undefined {
  const line = stdout.split("\n").find((l) => l.startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

/** The rows of the CLI's table output, as arrays of cells (header and rule dropped). */
function rows(stdout: string): string[][] {
  return stdout.trimEnd().split("\n").slice(2).map((l) => l.split(" | ").map((c) => c.trim()));
}

Deno.test({
  name: "the official CLI's streams commands as a client identity, and their refusals",
  ignore: !oracle.ok,
  async fn() {
    const { env: exports, stop } = await startEmulatorInProcess({
      configToml: "stop_delay_ms = 20\n",
    });
    const home = await Deno.makeTempDir({ prefix: "gs-oracle-cli-" });
    try {
      const env = { ...exports, HOME: home };
      const ap1 = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
      const ap2 = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;

      const created = await globus(env, "streams", "tunnel", "create", ap1, ap2, "--label", "a");
      assert.equal(created.code, 0, created.stderr);
      assert.equal(field(created.stdout, "State"), "AWAITING_LISTENER");
      assert.equal(
        field(created.stdout, "Status"),
        "The tunnel is waiting for listening contact detail setup.",
      );
      assert.equal(field(created.stdout, "Listener Access Point"), ap2);
      assert.equal(field(created.stdout, "Initiator Access Point"), ap1);
      const id = field(created.stdout, "ID")!;
      const json = await globus(
        env,
        "streams",
        "tunnel",
        "create",
        ap1,
        ap2,
        "--lifetime-minutes",
        "5",
        "-F",
        "json",
      );
      assert.equal(json.code, 0, json.stderr);
      const second = JSON.parse(json.stdout);
      assert.equal(second.data.attributes.lifetime_mins, 5);
      assert.match(second.data.attributes.created_time, /^\d{4}-\d\d-\d\dT[\d:]{8}\.\d{6}$/);

      const list = await globus(env, "streams", "tunnel", "list");
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^ID +\| Label \| State +\| Created Time/);
      assert.deepEqual(rows(list.stdout).map((r) => r[0]).sort(), [id, second.data.id].sort());
      const listJson = JSON.parse(
        (await globus(env, "streams", "tunnel", "list", "-F", "json")).stdout,
      );
      assert.equal(listJson.data.length, 2);
      assert.ok("links" in listJson && "meta" in listJson, "the whole document");

      const shown = await globus(env, "streams", "tunnel", "show", id);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(field(shown.stdout, "Label"), "a");
      const updated = await globus(env, "streams", "tunnel", "update", id, "--label", "b");
      assert.equal(updated.code, 0, updated.stderr);
      assert.equal(field(updated.stdout, "Label"), "b");

      const point = await globus(env, "streams", "access-point", "show", ap1);
      assert.equal(point.code, 0, point.stderr);
      assert.equal(field(point.stdout, "ID"), ap1);
      assert.equal(field(point.stdout, "Display Name"), "Site A access point");

      // Refusals: the CLI shows the service's status, code and message.
      const early = await globus(env, "streams", "tunnel", "delete", id);
      assert.equal(early.code, 1);
      assert.match(early.stderr, /HTTP status: +409\n/);
      assert.match(early.stderr, /code: +Conflict\n/);
      assert.match(early.stderr, /must be STOPPED before it can be deleted/);
      const unknown = crypto.randomUUID();
      const missing = await globus(env, "streams", "tunnel", "show", unknown);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /HTTP status: +404\n[^]*code: +NotFound\n/);
      const noPoint = await globus(env, "streams", "access-point", "show", unknown);
      assert.equal(noPoint.code, 1);
      assert.match(noPoint.stderr, /HTTP status: +404/);
      const badPoint = await globus(env, "streams", "tunnel", "create", unknown, ap2);
      assert.equal(badPoint.code, 1);
      assert.match(badPoint.stderr, /HTTP status: +422\n[^]*code: +ValidationError\n/);
      const notUuid = await globus(env, "streams", "tunnel", "show", "not-a-uuid");
      assert.equal(notUuid.code, 2);
      assert.match(notUuid.stderr, /'not-a-uuid' is not a valid UUID/);

      const stopped = await globus(env, "streams", "tunnel", "stop", id);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(field(stopped.stdout, "State"), "STOPPING");
      assert.equal(field(stopped.stdout, "Status"), "A request to stop tunnel has been received.");
      let state = "";
      for (let i = 0; i < 100 && state !== "STOPPED"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        state = field((await globus(env, "streams", "tunnel", "show", id)).stdout, "State") ?? "";
      }
      assert.equal(state, "STOPPED");

      const events = await globus(env, "streams", "tunnel", "events", id);
      assert.equal(events.code, 0, events.stderr);
      assert.match(events.stdout, /^Code +\| Error \| Details +\| Time/);
      assert.deepEqual(rows(events.stdout).map((r) => r.slice(0, 3)), [
        ["STARTED", "False", "Attempting tunnel establishment"],
        ["TUNNEL_STOPPED", "False", "Tunnel stopped as requested."],
      ]);
      const deleted = await globus(env, "streams", "tunnel", "delete", id);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(deleted.stdout, "Tunnel deleted successfully\n");

      const who = await globus(env, "whoami");
      assert.equal(who.code, 0, who.stderr);
      assert.equal(who.stdout, `${exports.GLOBUS_CLI_CLIENT_ID}@clients.auth.globus.org\n`);
    } finally {
      await stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});

/** Everything a stream carries, read as it comes (so the child never blocks on it). */
async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text;
}

/** `globus login --no-local-server`: opens the printed link, approves, pastes the code. */
async function login(env: Record<string, string>, approvalSecret: string): Promise<Run> {
  if (!oracle.ok) throw new Error(oracle.reason);
  const child = new Deno.Command(oracle.globus, {
    args: ["login", "--no-local-server"],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), LOGIN_TIMEOUT_MS);
  const stderr = drain(child.stderr);
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let stdout = "";
  try {
    while (!stdout.includes("Enter the resulting Authorization Code here")) {
      const chunk = await reader.read();
      if (chunk.done) break;
      stdout += decoder.decode(chunk.value, { stream: true });
    }
    const url = stdout.split("\n").find((line) => line.startsWith("http"));
    assert.ok(url, `no login link in: ${stdout}`);
    const code = await approveLogin(url, approvalSecret);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(code + "\n"));
    await writer.close();
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      stdout += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
    clearTimeout(timer);
  }
  const status = await child.status;
  return { code: status.code, stdout, stderr: await stderr };
}

Deno.test({
  name: "globus login against the emulator, then whoami, a streams command and logout as the user",
  ignore: !oracle.ok,
  async fn() {
    const { env: exports, approvalSecret, stop } = await startEmulatorInProcess();
    const home = await Deno.makeTempDir({ prefix: "gs-oracle-login-" });
    try {
      // A user: the exports without the client credentials.
      const { GLOBUS_CLI_CLIENT_ID: _id, GLOBUS_CLI_CLIENT_SECRET: _secret, ...user } = exports;
      const env = { ...user, HOME: home };
      const before = await globus(env, "whoami");
      assert.equal(before.code, 4, "the CLI's exit for a missing login");
      assert.match(before.stderr, /globus login/);

      const loggedIn = await login(env, approvalSecret);
      assert.equal(loggedIn.code, 0, loggedIn.stderr);
      const link = new URL(loggedIn.stdout.split("\n").find((l) => l.startsWith("http"))!);
      assert.equal(
        link.origin + link.pathname,
        `${exports.GLOBUS_SDK_SERVICE_URL_AUTH}v2/oauth2/authorize`,
      );
      assert.match(
        link.searchParams.get("scope")!,
        /urn:globus:auth:scope:auth\.globus\.org:view_identity_set/,
      );
      assert.match(loggedIn.stdout, /You have successfully logged in to the Globus CLI!/);
      // The tokens are stored under the emulator's environment, apart from production's.
      const db = await Deno.readFile(`${home}/.globus/cli/storage.db`);
      assert.ok(new TextDecoder("latin1").decode(db).includes("userprofile/emulator"));

      const who = await globus(env, "whoami");
      assert.equal(who.code, 0, who.stderr);
      assert.equal(who.stdout, "emulated-user@example.org\n");
      const verbose = await globus(env, "whoami", "-v");
      assert.equal(field(verbose.stdout, "Name"), "Emulated User");
      assert.equal(field(verbose.stdout, "Email"), "emulated-user@example.org");
      const linked = await globus(env, "whoami", "--linked-identities");
      assert.equal(linked.code, 0, linked.stderr);
      assert.equal(linked.stdout, "emulated-user@example.org\n");
      const tunnels = await globus(env, "streams", "tunnel", "list", "-F", "json");
      assert.equal(tunnels.code, 0, tunnels.stderr);
      assert.deepEqual(JSON.parse(tunnels.stdout).data, []);

      // Its stored refresh token validates (POST /v2/oauth2/token/validate): no new login.
      const again = await globus(env, "login", "--no-local-server");
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^You are already logged in!/);

      const out = await globus(env, "logout", "--yes");
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /You are now successfully logged out of the Globus CLI/);
      const after = await globus(env, "whoami");
      assert.equal(after.code, 4);
    } finally {
      await stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "this project's tunnel commands print what the official CLI prints: tables, -F json|unix, --jq",
  ignore: !oracle.ok,
  async fn() {
    const { env: exports, stop } = await startEmulatorInProcess({
      configToml: "stop_delay_ms = 20\n",
    });
    const home = await Deno.makeTempDir({ prefix: "gs-oracle-output-" });
    try {
      const env = { ...exports, HOME: home };
      const ap1 = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
      const ap2 = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
      // Made by this CLI with the official spelling, read back by the official one; a
      // label outside ASCII, which both print escaped in JSON.
      const made = await ours(
        env,
        "tunnel",
        "create",
        "--label",
        "démo ✓",
        "--lifetime-minutes",
        "7",
        "-F",
        "json",
        ap1,
        ap2,
      );
      assert.equal(made.code, 0, made.stderr);
      const id = JSON.parse(made.stdout).data.id;
      const official = await globus(env, "streams", "tunnel", "show", id);
      assert.equal(field(official.stdout, "Label"), "démo ✓");
      const old = await ours(
        env,
        "tunnel",
        "create",
        "--lifetime-mins",
        "9",
        "-F",
        "json",
        ap1,
        ap2,
      );
      assert.equal(old.code, 0, old.stderr);
      assert.equal(JSON.parse(old.stdout).data.attributes.lifetime_mins, 9, "the old spelling");
      const stopped = await ours(env, "tunnel", "stop", JSON.parse(old.stdout).data.id);
      assert.equal(stopped.code, 0, stopped.stderr);
      await new Promise((resolve) => setTimeout(resolve, 200));

      // The same words, the same bytes. meta.request_id differs per request, so the JSON
      // comparisons leave meta out with --jq (which both apply as JMESPath).
      const same = [
        ["tunnel", "list"],
        ["tunnel", "events", id],
        ["tunnel", "show", id, "--jq", "data"],
        ["tunnel", "list", "--jq", "{data: data, links: links}"],
        ["tunnel", "list", "-F", "json", "--jq", "{data: data, links: links}"],
        ["tunnel", "events", id, "--jq", "{data: data, links: links}"],
        ["tunnel", "list", "-F", "unix", "--jq", "data"],
        ["tunnel", "list", "-F", "unix", "--jq", "data[].id"],
        ["tunnel", "events", id, "-F", "unix", "--jq", "{data: data, links: links}"],
        ["tunnel", "list", "--jq", "data[].attributes.label"],
        ["tunnel", "list", "-F", "unix", "--jq", "data[].[id, attributes.lifetime_mins]"],
        ["tunnel", "events", id, "--jq", "data[?attributes.code == 'STARTED'].id | [0]"],
        ["tunnel", "events", id, "-F", "unix", "--jq", "data[0].attributes.details"],
      ];
      for (const words of same) {
        const theirs = await globus(env, "streams", ...words);
        const mine = await ours(env, ...words);
        assert.equal(theirs.code, 0, theirs.stderr);
        assert.equal(mine.code, 0, mine.stderr);
        assert.equal(mine.stdout, theirs.stdout, words.join(" "));
      }

      // -F json of a list is the whole document, meta included, not a bare array.
      for (const words of [["tunnel", "list"], ["tunnel", "events", id]]) {
        const theirs = JSON.parse((await globus(env, "streams", ...words, "-F", "json")).stdout);
        const mine = JSON.parse((await ours(env, ...words, "-F", "json")).stdout);
        assert.deepEqual(Object.keys(mine), Object.keys(theirs), words.join(" "));
        assert.deepEqual(Object.keys(mine), ["data", "links", "meta"]);
        assert.equal(typeof mine.meta.request_id, "string");
        assert.deepEqual(mine.data, theirs.data);
      }

      // The project's extra columns only on request; the official ones stay first.
      const all = await ours(env, "tunnel", "list", "--all-columns");
      assert.match(
        all.stdout,
        /^ID +\| Label +\| State +\| Created Time +\| Initiator Contact \| Listener Contact\n/,
      );
      const allEvents = await ours(env, "tunnel", "events", "--all-columns", id);
      assert.match(allEvents.stdout, /^Code +\| Error \| Details +\| Time +\| ID +\| Description/);
    } finally {
      await stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
