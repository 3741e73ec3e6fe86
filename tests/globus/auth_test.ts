// Authorizer and the login functions against the in-process emulator: client
// credentials, the PKCE code flow, stored tokens (0600), refresh, revocation.
import assert from "node:assert/strict";
import {
  Authorizer,
  finishLogin,
  GcsClient,
  GlobusApiError,
  logout,
  startLogin,
  TRANSFER_SCOPE,
  TransferClient,
  whoAmI,
} from "../../src/globus/mod.ts";
import { ConfError } from "../../src/conf/mod.ts";
import { approveLogin, startEmulatorInProcess } from "../_support/emulator.ts";

async function failure(promise: Promise<unknown>): Promise<GlobusApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GlobusApiError, `want GlobusApiError, got ${error}`);
    assert.ok(!error.message.includes("\n"));
    return error;
  }
  assert.fail("expected a GlobusApiError");
}

function countingFetch(): { fetch: typeof fetch; count: (path: string) => number } {
  const seen: string[] = [];
  return {
    fetch: (input, init) => {
      seen.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
      return fetch(input, init);
    },
    count: (path) => seen.filter((p) => p.endsWith(path)).length,
  };
}

/** A user environment (no client credentials) with its own GLOBUS_STREAMS_DIR. */
async function userEnv(exports: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "gs-auth-" });
  const values: Record<string, string> = {
    GLOBUS_SDK_SERVICE_URL_AUTH: exports.GLOBUS_SDK_SERVICE_URL_AUTH,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: exports.GLOBUS_SDK_SERVICE_URL_TRANSFER,
    GLOBUS_SDK_VERIFY_SSL: exports.GLOBUS_SDK_VERIFY_SSL,
    GLOBUS_STREAMS_DIR: `${dir}/streams`,
  };
  return { dir, values, env: (name: string) => values[name] };
}

async function logIn(
  env: (name: string) => string | undefined,
  approvalSecret: string,
  gcsEndpoints: string[] = [],
) {
  const request = startLogin({ env, gcsEndpoints });
  const code = await approveLogin(request.url, approvalSecret);
  return await finishLogin(request, code, { env });
}

Deno.test("client credentials: one token request per scope, then cached", async () => {
  const { env: exports, stop } = await startEmulatorInProcess();
  try {
    const counter = countingFetch();
    const env = (name: string) => exports[name];
    const client = new TransferClient({ env, fetch: counter.fetch });
    await client.listTunnels();
    await client.listAccessPoints();
    assert.equal(counter.count("/v2/oauth2/token"), 1);
    const who = await whoAmI({ env, fetch: counter.fetch });
    assert.equal(who.username, `${exports.GLOBUS_CLI_CLIENT_ID}@clients.auth.globus.org`);
    assert.equal(counter.count("/v2/oauth2/token"), 2, "openid is another scope");
  } finally {
    await stop();
  }
});

Deno.test("client credentials with a wrong secret are refused as an auth error", async () => {
  const { env: exports, stop } = await startEmulatorInProcess();
  try {
    const env = (name: string) =>
      name === "GLOBUS_CLI_CLIENT_SECRET" ? "wrong-secret" : exports[name];
    const error = await failure(new TransferClient({ env }).listTunnels());
    assert.equal(error.kind, "auth");
    assert.equal(error.status, 401);
    assert.match(
      error.message,
      /^Globus Auth refused the client credentials of "d4258783-[^"]+" for scope "urn:globus:auth:scope:transfer\.api\.globus\.org:all" \(401 invalid_client\): check GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET$/,
    );
  } finally {
    await stop();
  }
});

Deno.test("client credentials need both variables", async () => {
  let requests = 0;
  const fetchNothing: typeof fetch = () => {
    requests++;
    return Promise.reject(new Error("no request expected"));
  };
  for (const only of ["GLOBUS_CLI_CLIENT_ID", "GLOBUS_CLI_CLIENT_SECRET"]) {
    const env = (name: string) => name === only ? "something" : undefined;
    const error = await failure(new Authorizer({ env, fetch: fetchNothing }).token(TRANSFER_SCOPE));
    assert.equal(error.kind, "auth");
    assert.match(error.message, new RegExp(`${only} is set but GLOBUS_CLI_CLIENT_\\w+ is not`));
  }
  assert.equal(requests, 0);
});

Deno.test("without a login or credentials: 'Not logged in' with the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = (name: string) => name === "GLOBUS_STREAMS_DIR" ? dir : undefined;
    const error = await failure(new Authorizer({ env }).token(TRANSFER_SCOPE));
    assert.equal(error.kind, "auth");
    assert.equal(
      error.message,
      "Not logged in: run 'globus-streams login' or set GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET",
    );
    const noHome = await failure(new Authorizer({ env: () => undefined }).token(TRANSFER_SCOPE));
    assert.match(noHome.message, /HOME and GLOBUS_STREAMS_DIR are both unset/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PKCE login stores tokens in a 0700 dir, file 0600, and whoami names the user", async () => {
  const emulator = await startEmulatorInProcess();
  const { dir, env, values } = await userEnv(emulator.env);
  try {
    const request = startLogin({ env });
    const url = new URL(request.url);
    assert.equal(url.searchParams.get("code_challenge_method"), "S256");
    assert.equal(
      url.searchParams.get("redirect_uri"),
      `${emulator.env.GLOBUS_SDK_SERVICE_URL_AUTH}v2/web/auth-code`,
    );
    assert.deepEqual(url.searchParams.get("scope")!.split(" "), [
      "openid",
      "profile",
      "email",
      TRANSFER_SCOPE,
      "offline_access",
    ]);
    const who = await finishLogin(
      request,
      await approveLogin(request.url, emulator.approvalSecret),
      { env },
    );
    assert.equal(who.username, "emulated-user@example.org");
    const path = `${values.GLOBUS_STREAMS_DIR}/tokens.json`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(values.GLOBUS_STREAMS_DIR)).mode! & 0o777, 0o700);
    const stored = JSON.parse(await Deno.readTextFile(path));
    assert.equal(stored.username, "emulated-user@example.org");
    assert.deepEqual(stored.tokens.map((t: { resource_server: string }) => t.resource_server), [
      "auth.globus.org",
      "transfer.api.globus.org",
    ]);
    assert.equal((await whoAmI({ env })).username, "emulated-user@example.org");
    const tunnels = await new TransferClient({ env }).listTunnels();
    assert.deepEqual(tunnels, { items: [], unreadable: [] });
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a login code works once, and only with its verifier", async () => {
  const emulator = await startEmulatorInProcess();
  const { dir, env } = await userEnv(emulator.env);
  try {
    const request = startLogin({ env });
    const code = await approveLogin(request.url, emulator.approvalSecret);
    const wrong = await failure(
      finishLogin({ ...request, verifier: "A".repeat(43) }, code, { env }),
    );
    assert.equal(wrong.kind, "auth");
    assert.match(wrong.message, /\(400 invalid_grant\): run 'globus-streams login' again/);
    const reused = await failure(finishLogin(request, code, { env }));
    assert.equal(reused.code, "invalid_grant", "the failed attempt used the code up");
    const pasted = await failure(finishLogin(request, "some code; rm -rf", { env }));
    assert.match(pasted.message, /has characters a code never has/);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("expired access tokens are refreshed and the new ones stored", async () => {
  // Tokens living 30 s are inside the 60 s margin, so every use refreshes.
  const emulator = await startEmulatorInProcess({ configToml: "access_token_lifetime_s = 30\n" });
  const { dir, env, values } = await userEnv(emulator.env);
  try {
    await logIn(env, emulator.approvalSecret);
    const path = `${values.GLOBUS_STREAMS_DIR}/tokens.json`;
    const before = JSON.parse(await Deno.readTextFile(path));
    const counter = countingFetch();
    await new TransferClient({ env, fetch: counter.fetch }).listTunnels();
    assert.equal(counter.count("/v2/oauth2/token"), 1);
    const after = JSON.parse(await Deno.readTextFile(path));
    const transfer = (file: { tokens: { resource_server: string; access_token: string }[] }) =>
      file.tokens.find((t) => t.resource_server === "transfer.api.globus.org")!;
    assert.notEqual(transfer(after).access_token, transfer(before).access_token);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logout revokes: saved tokens stop working", async () => {
  const emulator = await startEmulatorInProcess({ configToml: "access_token_lifetime_s = 30\n" });
  const { dir, env, values } = await userEnv(emulator.env);
  try {
    await logIn(env, emulator.approvalSecret);
    const path = `${values.GLOBUS_STREAMS_DIR}/tokens.json`;
    const saved = await Deno.readTextFile(path);
    const result = await logout({ env });
    assert.deepEqual(result, { hadLogin: true, revoked: 4, failures: [] });
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    // Put the revoked tokens back: the refresh is refused, as an auth error.
    await Deno.writeTextFile(path, saved, { mode: 0o600 });
    const error = await failure(new TransferClient({ env }).listTunnels());
    assert.equal(error.kind, "auth");
    assert.match(
      error.message,
      /expired or was revoked \(400 invalid_grant\): run 'globus-streams login' again$/,
    );
    assert.deepEqual(await logout({ env }), { hadLogin: true, revoked: 4, failures: [] });
    assert.deepEqual(await logout({ env }), { hadLogin: false, revoked: 0, failures: [] });
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing GCS token says which 'login --gcs' to run; with it GCS works", async () => {
  const emulator = await startEmulatorInProcess();
  const { dir, env } = await userEnv(emulator.env);
  try {
    await logIn(env, emulator.approvalSecret);
    const transfer = new TransferClient({ env });
    const tunnel = await transfer.createTunnel({
      initiatorAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    });
    const point = await transfer.getAccessPoint(tunnel.initiatorAccessPointId);
    const gcsUrl = await transfer.gcsManagerUrl(point.hostEndpointId);
    const request = { tunnelId: tunnel.id, streamAccessPointId: point.id };
    const error = await failure(
      new GcsClient(gcsUrl, point.hostEndpointId, { env }).createLanSecret(request),
    );
    assert.equal(
      error.message,
      `Not logged in to endpoint "${point.hostEndpointId}": run 'globus-streams login --gcs ${point.hostEndpointId}'`,
    );
    await logIn(env, emulator.approvalSecret, [point.hostEndpointId]);
    const secret = await new GcsClient(gcsUrl, point.hostEndpointId, { env }).createLanSecret(
      request,
    );
    assert.equal(secret.tunnelId, tunnel.id);
    const issued = emulator.emulator.state.lanSecretsFor(tunnel.id, point.id);
    assert.deepEqual(issued.map((s) => s.secret), [secret.secret]);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokens.json that others can read, or that is torn, is refused", async () => {
  const emulator = await startEmulatorInProcess();
  const { dir, env, values } = await userEnv(emulator.env);
  try {
    await logIn(env, emulator.approvalSecret);
    const path = `${values.GLOBUS_STREAMS_DIR}/tokens.json`;
    await Deno.chmod(path, 0o644);
    // Unsafe is a conf problem (exit 3), as for conf files: tests/globus/tokens_test.ts.
    await assert.rejects(
      new Authorizer({ env }).token(TRANSFER_SCOPE),
      (error) =>
        error instanceof ConfError &&
        /mode 0644 lets other users read the login tokens \(run: chmod 600 /.test(error.message),
    );
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.slice(0, text.length / 2));
    await Deno.chmod(path, 0o600);
    const torn = await failure(new Authorizer({ env }).token(TRANSFER_SCOPE));
    assert.match(
      torn.message,
      /^Cannot read login tokens ".*": not JSON: run 'globus-streams login' again$/,
    );
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a login for another Auth service is not used", async () => {
  const emulator = await startEmulatorInProcess();
  const { dir, env, values } = await userEnv(emulator.env);
  try {
    await logIn(env, emulator.approvalSecret);
    values.GLOBUS_SDK_SERVICE_URL_AUTH = "http://127.0.0.1:9/auth/";
    const error = await failure(new Authorizer({ env }).token(TRANSFER_SCOPE));
    assert.match(
      error.message,
      /^Not logged in to "http:\/\/127\.0\.0\.1:9\/auth\/": the stored login is for "http:\/\/127\.0\.0\.1:\d+\/auth\/"/,
    );
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
