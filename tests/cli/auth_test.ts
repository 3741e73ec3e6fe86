// `login`, `logout`, `whoami`: the PKCE login end to end with real processes (the
// emulator, `login` reading the pasted code on stdin), revocation, and the refusals.
import assert from "node:assert/strict";
import { cliBin, runCli, runCliInProcess } from "../_support/cli.ts";
import {
  approveLogin,
  startEmulatorInProcess,
  startEmulatorProcess,
} from "../_support/emulator.ts";

const LOGIN_TIMEOUT_MS = 30_000;

/** The environment of a user who logs in: no client credentials, a private dir. */
function userEnv(exports: Record<string, string>, dir: string): Record<string, string> {
  return {
    GLOBUS_SDK_SERVICE_URL_AUTH: exports.GLOBUS_SDK_SERVICE_URL_AUTH,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: exports.GLOBUS_SDK_SERVICE_URL_TRANSFER,
    GLOBUS_SDK_VERIFY_SSL: exports.GLOBUS_SDK_VERIFY_SSL,
    GLOBUS_STREAMS_DIR: `${dir}/streams`,
  };
}

/** Runs `login` as a process, opens the URL it prints, pastes the code on its stdin. */
async function loginAsProcess(
  env: Record<string, string>,
  approvalSecret: string,
  args: string[] = [],
) {
  const child = new Deno.Command(cliBin, {
    args: ["login", ...args],
    env: { ...env, GLOBUS_CLI_CLIENT_ID: "", GLOBUS_CLI_CLIENT_SECRET: "" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), LOGIN_TIMEOUT_MS);
  const decoder = new TextDecoder();
  const stderrText = new Response(child.stderr).text();
  let stdout = "";
  const reader = child.stdout.getReader();
  try {
    while (!stdout.includes("Authorization Code here: ")) {
      const chunk = await reader.read();
      if (chunk.done) break;
      stdout += decoder.decode(chunk.value, { stream: true });
    }
    const url = stdout.split("\n").find((line) => line.startsWith("http"));
    assert.ok(url, `no URL in: ${stdout}`);
    const code = await approveLogin(url, approvalSecret);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(code + "\n"));
    await writer.close();
    while (true) {
      const chunk = await reader.read();
      if (chunk.done) break;
      stdout += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  await child.stdout.cancel();
  const stderr = await stderrText;
  const status = await child.status;
  clearTimeout(timer);
  return {
    code: status.code,
    stdout,
    stderr,
    url: stdout.split("\n").find((l) => l.startsWith("http"))!,
  };
}

Deno.test("login end to end, whoami, and logout that revokes", async () => {
  const emulator = await startEmulatorProcess();
  const dir = await Deno.makeTempDir({ prefix: "gs-login-" });
  try {
    const env = userEnv(emulator.env, dir);
    const login = await loginAsProcess(env, emulator.approvalSecret);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /^Please authenticate with Globus here:\n-+\nhttp/);
    assert.ok(login.url.startsWith(`${env.GLOBUS_SDK_SERVICE_URL_AUTH}v2/oauth2/authorize?`));
    assert.match(
      login.stdout,
      /\nYou have successfully logged in to the Globus Streams CLI as emulated-user@example\.org\n$/,
    );
    const tokensPath = `${env.GLOBUS_STREAMS_DIR}/tokens.json`;
    assert.equal((await Deno.stat(tokensPath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(env.GLOBUS_STREAMS_DIR)).mode! & 0o777, 0o700);

    const whoami = await runCli(["whoami"], {
      env: { ...env, GLOBUS_CLI_CLIENT_ID: undefined, GLOBUS_CLI_CLIENT_SECRET: undefined },
    });
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.equal(whoami.stdout, "emulated-user@example.org\n");
    const created = await runCliInProcess([
      "tunnel",
      "create",
      emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    ], { env });
    assert.equal(created.code, 0, created.stderr);

    const stored = JSON.parse(await Deno.readTextFile(tokensPath));
    const transferToken = stored.tokens.find((t: { resource_server: string }) =>
      t.resource_server === "transfer.api.globus.org"
    ).access_token;
    const logout = await runCliInProcess(["logout"], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(
      logout.stdout,
      /^You are now logged out: 4 token\(s\) revoked and ".*tokens\.json" removed\n$/,
    );
    await assert.rejects(Deno.stat(tokensPath), Deno.errors.NotFound);
    const revoked = await fetch(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      headers: { Authorization: `Bearer ${transferToken}` },
    });
    await revoked.body?.cancel();
    assert.equal(revoked.status, 401, "the old token no longer works");
    const later = await runCliInProcess(["tunnel", "list"], { env });
    assert.equal(later.code, 4);
    assert.match(later.stderr, /^globus-streams: Not logged in: run 'globus-streams login'/);
    const again = await runCliInProcess(["logout"], { env });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^You are not logged in: there is no ".*tokens\.json"\n$/);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("login --gcs adds the endpoint's scope; a later login keeps it", async () => {
  const emulator = await startEmulatorInProcess();
  const dir = await Deno.makeTempDir({ prefix: "gs-login-" });
  try {
    const env = userEnv(emulator.env, dir);
    const endpoint = emulator.emulator.config.endpoints[1].id;
    const first = await loginAsProcess(env, emulator.approvalSecret, [
      "--gcs",
      endpoint,
      "--no-browser",
    ]);
    assert.equal(first.code, 0, first.stderr);
    const scope = `urn:globus:auth:scope:${endpoint}:manage_collections`;
    assert.ok(new URL(first.url).searchParams.get("scope")!.split(" ").includes(scope));
    const second = await loginAsProcess(env, emulator.approvalSecret);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(new URL(second.url).searchParams.get("scope")!.split(" ").includes(scope));
    const stored = JSON.parse(await Deno.readTextFile(`${env.GLOBUS_STREAMS_DIR}/tokens.json`));
    assert.ok(
      stored.tokens.some((t: { resource_server: string }) => t.resource_server === endpoint),
    );
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("login refuses: client credentials set, no code, a wrong code, a bad --gcs", async () => {
  const emulator = await startEmulatorInProcess();
  const dir = await Deno.makeTempDir({ prefix: "gs-login-" });
  try {
    const env = userEnv(emulator.env, dir);
    const asClient = await runCliInProcess(["login"], { env: emulator.env });
    assert.equal(asClient.code, 4);
    assert.match(
      asClient.stderr,
      /^globus-streams: Cannot log in while GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET are set: .*\n$/,
    );
    const empty = await runCliInProcess(["login"], { env, stdin: [] });
    assert.equal(empty.code, 4);
    assert.match(
      empty.stderr,
      /No authorization code entered: run 'globus-streams login' again\n$/,
    );
    const wrong = await runCliInProcess(["login"], { env, stdin: ["not-the-code"] });
    assert.equal(wrong.code, 4);
    assert.equal(
      wrong.stderr,
      "globus-streams: Globus Auth refused the authorization code (400 invalid_grant): run 'globus-streams login' again and paste the new code\n",
    );
    await assert.rejects(Deno.stat(`${env.GLOBUS_STREAMS_DIR}/tokens.json`), Deno.errors.NotFound);
    const badGcs = await runCliInProcess(["login", "--gcs", "site-a"], { env });
    assert.equal(badGcs.code, 2);
    assert.match(badGcs.stderr, /Invalid --gcs "site-a": want an endpoint UUID/);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("whoami with client credentials names the client identity", async () => {
  const emulator = await startEmulatorInProcess();
  try {
    const text = await runCliInProcess(["whoami"], { env: emulator.env });
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `${emulator.env.GLOBUS_CLI_CLIENT_ID}@clients.auth.globus.org\n`);
    const json = await runCliInProcess(["whoami", "-F", "json"], { env: emulator.env });
    assert.equal(JSON.parse(json.stdout).sub, emulator.env.GLOBUS_CLI_CLIENT_ID);
    const half = await runCliInProcess(["whoami"], {
      env: { ...emulator.env, GLOBUS_CLI_CLIENT_SECRET: "" },
    });
    assert.equal(half.code, 4);
    assert.match(half.stderr, /GLOBUS_CLI_CLIENT_ID is set but GLOBUS_CLI_CLIENT_SECRET is not/);
  } finally {
    await emulator.stop();
  }
});
