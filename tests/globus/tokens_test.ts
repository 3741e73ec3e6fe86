// tokens.json holds bearer tokens: it and its directory are checked as conf files are
// (owner, mode, regular file), and a refused file's token is never sent anywhere.
import assert from "node:assert/strict";
import { ExitCode } from "../../src/cli/mod.ts";
import { runCli } from "../_support/cli.ts";
import { startTinyService, type TinyService } from "./_service.ts";

const isRoot = Deno.uid() === 0;

/** A user's environment with a hand-written login for the tiny service in its own dir. */
async function storedLogin(service: TinyService) {
  const root = await Deno.makeTempDir({ prefix: "gs-tokens-" });
  const dir = `${root}/streams`;
  await Deno.mkdir(dir, { mode: 0o700 });
  const path = `${dir}/tokens.json`;
  const document = {
    version: 1,
    auth_url: service.env.GLOBUS_SDK_SERVICE_URL_AUTH,
    client_id: "d4258783-eb0a-4b56-8e58-fd103038cc55",
    identity_id: null,
    username: null,
    tokens: [{
      resource_server: "transfer.api.globus.org",
      scope: "urn:globus:auth:scope:transfer.api.globus.org:all",
      access_token: "stored-bearer-token",
      refresh_token: null,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    }],
  };
  await Deno.writeTextFile(path, JSON.stringify(document), { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  const env = {
    GLOBUS_SDK_SERVICE_URL_AUTH: service.env.GLOBUS_SDK_SERVICE_URL_AUTH,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: service.env.GLOBUS_SDK_SERVICE_URL_TRANSFER,
    GLOBUS_CLI_CLIENT_ID: undefined,
    GLOBUS_CLI_CLIENT_SECRET: undefined,
    GLOBUS_STREAMS_DIR: dir,
  };
  return {
    dir,
    path,
    env,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** A tiny Transfer that lists no tunnels and keeps every bearer token it was sent. */
function recordingTransfer(): TinyService & { bearers: string[] } {
  const bearers: string[] = [];
  const service = startTinyService((request) => {
    bearers.push(request.headers.get("authorization") ?? "");
    return Response.json({ data: [], links: null });
  });
  return Object.assign(service, { bearers });
}

Deno.test("a well-kept tokens.json is used: its bearer token reaches Transfer", async () => {
  const transfer = recordingTransfer();
  await using login = await storedLogin(transfer);
  try {
    const result = await runCli(["tunnel", "list"], { env: login.env });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(transfer.bearers, ["Bearer stored-bearer-token"]);
  } finally {
    await transfer.stop();
  }
});

Deno.test("a tokens.json or directory that others can read or change is refused with exit 3", async () => {
  const transfer = recordingTransfer();
  await using login = await storedLogin(transfer);
  try {
    await Deno.chmod(login.path, 0o640);
    const file = await runCli(["tunnel", "list"], { env: login.env });
    assert.equal(file.code, ExitCode.conf, file.stderr);
    assert.equal(
      file.stderr,
      `globus-streams: Cannot use login tokens file "${login.path}": mode 0640 lets other users ` +
        `read the login tokens (run: chmod 600 "${login.path}")\n`,
    );
    await Deno.chmod(login.path, 0o600);
    await Deno.chmod(login.dir, 0o777);
    const dir = await runCli(["tunnel", "list"], { env: login.env });
    assert.equal(dir.code, ExitCode.conf, dir.stderr);
    assert.match(
      dir.stderr,
      /^globus-streams: Cannot use conf directory ".*": mode 0777 lets other users replace its files \(run: chmod 700 /,
    );
    assert.deepEqual(transfer.bearers, []);
  } finally {
    await transfer.stop();
  }
});

Deno.test({
  name:
    "a 0600 tokens.json, or its directory, owned by another user is refused and its token never sent",
  ignore: !isRoot,
  async fn() {
    const transfer = recordingTransfer();
    await using login = await storedLogin(transfer);
    try {
      await Deno.chown(login.path, 65534, 65534);
      const file = await runCli(["tunnel", "list"], { env: login.env });
      assert.equal(file.code, ExitCode.conf, file.stderr);
      assert.equal(
        file.stderr,
        `globus-streams: Cannot use login tokens file "${login.path}": it is owned by uid 65534, ` +
          `not by you (uid 0) (run: chown 0 "${login.path}", or remove it)\n`,
      );
      await Deno.chown(login.path, 0, 0);
      await Deno.chown(login.dir, 65534, 65534);
      const dir = await runCli(["tunnel", "list"], { env: login.env });
      assert.equal(dir.code, ExitCode.conf, dir.stderr);
      assert.match(
        dir.stderr,
        /^globus-streams: Cannot use conf directory ".*": it is owned by uid 65534/,
      );
      assert.deepEqual(transfer.bearers, []);
    } finally {
      await transfer.stop();
    }
  },
});

Deno.test("a FIFO or a symbolic link named tokens.json is refused at once with exit 3", async () => {
  const transfer = recordingTransfer();
  await using login = await storedLogin(transfer);
  try {
    const real = `${login.dir}/elsewhere.json`;
    await Deno.rename(login.path, real);
    await Deno.symlink(real, login.path);
    const linked = await runCli(["tunnel", "list"], { env: login.env, timeoutMs: 15_000 });
    assert.equal(linked.code, ExitCode.conf, linked.stderr);
    assert.match(
      linked.stderr,
      /^globus-streams: Cannot use login tokens file ".*": it is a symbolic link \(/,
    );
    await Deno.remove(login.path);
    const made = await new Deno.Command("mkfifo", { args: ["-m", "600", login.path] }).output();
    assert.ok(made.success, "mkfifo");
    const fifo = await runCli(["tunnel", "list"], { env: login.env, timeoutMs: 15_000 });
    assert.equal(fifo.code, ExitCode.conf, fifo.stderr);
    assert.match(
      fifo.stderr,
      /^globus-streams: Cannot use login tokens file ".*": it is not a regular file/,
    );
    assert.deepEqual(transfer.bearers, []);
  } finally {
    await transfer.stop();
  }
});
