// connect as ssh runs a ProxyCommand (sh -c, stdin and stdout pipes), and the helpers'
// one-line errors and exit codes.
import assert from "node:assert/strict";
import { cliBin, runCli } from "../_support/cli.ts";
import {
  freePort,
  randomData,
  readAll,
  sha256,
  startCliWorld,
  startHelper,
  startSinkServer,
  within,
  writeAll,
} from "./_world.ts";

/** Runs `sh -c "<cliBin> connect ID"` the way ssh runs a ProxyCommand. */
function proxyCommand(tunnelId: string, env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", `exec '${cliBin}' connect ${tunnelId}`],
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("connect as a ProxyCommand: stdin into the tunnel, the far side's bytes (only) on stdout", async () => {
  await using world = await startCliWorld();
  const download = randomData(2 * 1024 * 1024);
  const downloadFile = `${world.root}/download.bin`;
  await Deno.writeFile(downloadFile, download);
  const sink = await startSinkServer(world.root, downloadFile);
  const expose = await startHelper(
    ["expose", "--to", `127.0.0.1:${sink.port}`, world.tunnelId],
    world.env("listener"),
  );
  try {
    const child = proxyCommand(world.tunnelId, world.env("initiator"));
    const upload = randomData(3 * 1024 * 1024 + 5);
    const writer = child.stdin.getWriter();
    const [stdout, stderr] = await within(
      Promise.all([
        collect(child.stdout),
        collect(child.stderr),
        (async () => {
          for (let at = 0; at < upload.length; at += 256 * 1024) {
            await writer.write(upload.subarray(at, at + 256 * 1024));
          }
          await writer.close();
        })(),
      ]),
      30_000,
      "connect",
    );
    const status = await child.status;
    assert.equal(new TextDecoder().decode(stderr), "");
    assert.equal(status.code, 0);
    const newline = stdout.indexOf(10);
    assert.equal(new TextDecoder().decode(stdout.subarray(0, newline)), sha256(upload));
    assert.equal(sha256(stdout.subarray(newline + 1)), sha256(download));
  } finally {
    await expose.stop();
    await sink.stop();
  }
});

Deno.test("connect exits 0 when the far side ends the stream, while stdin is still open", async () => {
  await using world = await startCliWorld();
  // A service that greets and hangs up, as an ssh server refusing a client would.
  const service = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await service.accept();
    await writeAll(conn, new TextEncoder().encode("SSH-2.0-greeter\r\n"));
    conn.close();
  })();
  const expose = await startHelper(
    ["expose", "--to", `127.0.0.1:${service.addr.port}`, world.tunnelId],
    world.env("listener"),
  );
  try {
    const child = proxyCommand(world.tunnelId, world.env("initiator"));
    const [stdout, status] = await within(
      Promise.all([collect(child.stdout), child.status]),
      15_000,
      "connect exit",
    );
    await child.stdin.close().catch(() => {});
    await collect(child.stderr);
    assert.equal(status.code, 0);
    assert.equal(new TextDecoder().decode(stdout), "SSH-2.0-greeter\r\n");
    await serving;
  } finally {
    service.close();
    await expose.stop();
  }
});

Deno.test("connect with a stale conf and the service down: the stored contact, one warning", async () => {
  await using world = await startCliWorld();
  const service = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await service.accept();
    await writeAll(conn, new TextEncoder().encode("SSH-2.0-greeter\r\n"));
    conn.close();
  })();
  const expose = await startHelper(
    ["expose", "--to", `127.0.0.1:${service.addr.port}`, world.tunnelId],
    world.env("listener"),
  );
  try {
    await world.editConf("initiator", "update_time", "0");
    const down = `http://127.0.0.1:${freePort()}/`;
    const child = proxyCommand(world.tunnelId, {
      ...world.env("initiator"),
      GLOBUS_SDK_SERVICE_URL_AUTH: down,
      GLOBUS_SDK_SERVICE_URL_TRANSFER: down,
    });
    const [stdout, stderr, status] = await within(
      Promise.all([collect(child.stdout), collect(child.stderr), child.status]),
      15_000,
      "connect exit",
    );
    await child.stdin.close().catch(() => {});
    assert.equal(status.code, 0, new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout), "SSH-2.0-greeter\r\n");
    assert.match(
      new TextDecoder().decode(stderr),
      new RegExp(
        `^globus-streams: connect: cannot refresh the contact of tunnel ${world.tunnelId}, ` +
          `using the stored one: Cannot reach Globus Auth at "[^"]+": connection refused[^\n]*\n$`,
      ),
    );
    await serving;
  } finally {
    service.close();
    await expose.stop();
  }
});

Deno.test("helpers fail with one line and the documented exit code", async (t) => {
  await using world = await startCliWorld();
  const oneLine = (text: string) => {
    assert.equal(text.trimEnd().split("\n").length, 1, text);
    assert.ok(text.startsWith("globus-streams: "), text);
  };
  await t.step("no conf file: 3", async () => {
    const other = crypto.randomUUID();
    const result = await runCli(["connect", other], { env: world.env("initiator") });
    assert.equal(result.code, 3);
    oneLine(result.stderr);
    assert.match(
      result.stderr,
      /No conf file for tunnel .* run 'globus-streams environment initialize/,
    );
    const forward = await runCli(["forward", other], { env: world.env("initiator") });
    assert.equal(forward.code, 3);
    assert.equal(forward.stdout, "");
  });
  await t.step("the other side's conf file: 3", async () => {
    const result = await runCli(["connect", world.tunnelId], { env: world.env("listener") });
    assert.equal(result.code, 3);
    oneLine(result.stderr);
    assert.match(result.stderr, /it is for the listening side/);
    const expose = await runCli(
      ["expose", "--to", "127.0.0.1:1", world.tunnelId],
      { env: world.env("initiator") },
    );
    assert.equal(expose.code, 3);
    assert.match(expose.stderr, /it is for the initiating side/);
  });
  await t.step("usage errors: 2", async () => {
    const noTo = await runCli(["expose", world.tunnelId], { env: world.env("listener") });
    assert.equal(noTo.code, 2);
    oneLine(noTo.stderr);
    const badListen = await runCli(
      ["forward", "--listen", "nowhere", world.tunnelId],
      { env: world.env("initiator") },
    );
    assert.equal(badListen.code, 2);
    assert.match(badListen.stderr, /Invalid --listen "nowhere"/);
  });
  await t.step("--help has an example", async () => {
    for (const command of ["connect", "forward", "expose"]) {
      const help = await runCli([command, "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: globus-streams ${command} `));
      assert.match(help.stdout, /\nExample/);
    }
  });
  await t.step("a wrong LAN secret: 4", async () => {
    await world.editConf("initiator", "lankey", "not-the-secret");
    const result = await runCli(["connect", world.tunnelId], {
      env: world.env("initiator"),
      stdin: "",
    });
    assert.equal(result.code, 4);
    oneLine(result.stderr);
    assert.match(result.stderr, /refused the GSA1 handshake: bad proof/);
    assert.ok(!result.stderr.includes("not-the-secret"));
  });
  await t.step("the access point cannot be reached: 5", async () => {
    await world.editConf("initiator", "connector_contact_string", `127.0.0.1:${freePort()}`);
    const result = await runCli(["connect", world.tunnelId], {
      env: world.env("initiator"),
      stdin: "",
    });
    assert.equal(result.code, 5);
    oneLine(result.stderr);
    assert.match(
      result.stderr,
      /Cannot reach the initiating access point of tunnel .* at "127\.0\.0\.1:\d+": Connection refused/,
    );
  });
});

Deno.test("forward keeps serving after a failed connection and reports it", async () => {
  await using world = await startCliWorld();
  await world.editConf("initiator", "connector_contact_string", `127.0.0.1:${freePort()}`);
  const forward = await startHelper(["forward", world.tunnelId], world.env("initiator"));
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(forward.firstLine)![1]);
  for (let i = 0; i < 2; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal((await readAll(conn, 10_000)).length, 0);
    conn.close();
  }
  assert.equal(await forward.stop(), 0);
  const lines = forward.stderr().trimEnd().split("\n");
  assert.equal(lines.length, 3, forward.stderr());
  assert.match(
    lines[0],
    /^globus-streams: forward: connection from "127\.0\.0\.1:\d+": Cannot reach/,
  );
  assert.match(lines[2], /stopped: 2 connections \(2 failed\), 0 bytes up, 0 bytes down$/);
});
