// Secrets never leak: with both sides of a tunnel initialized against an emulator process
// (itself run with GLOBUS_STREAMS_DEBUG=ALL), every command that touches the tunnel is run
// plain and with debug on, and all of their stdout and stderr, and the emulator's, is
// searched for the LAN secrets and the client secret. Child processes started for a
// lookup (by the preload library) or by the xio popen driver are checked through /proc:
// the secret is in neither their argv nor their environment.
import { buildReleaseLibrary } from "../e2e/_support.ts";
import assert from "node:assert/strict";
import { type Server, Stack } from "../../src/xio/mod.ts";
import { cliBin, repoRoot } from "../_support/cli.ts";
import { parseEnvFile } from "../_support/emulator.ts";
import { linesOf, parsePreload, sleep, spawnCli } from "./_world.ts";
import { TransferClient } from "../../src/globus/mod.ts";

interface DebugEmulator {
  env: Record<string, string>;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** `globus-streams emulator` with GLOBUS_STREAMS_DEBUG=ALL, its stderr kept. */
async function startDebugEmulator(dir: string): Promise<DebugEmulator> {
  const envFile = `${dir}/emulator.env`;
  const child = new Deno.Command(cliBin, {
    args: ["emulator", "--env-file", envFile],
    env: { GLOBUS_STREAMS_DEBUG: "ALL" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const pumping = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await pumping;
  };
  for (let i = 0; i < 600; i++) {
    try {
      return {
        env: parseEnvFile(await Deno.readTextFile(envFile)),
        pid: child.pid,
        stderr: () => output,
        stop,
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`the emulator wrote no env file in 30 s: ${output}`);
}

/** Where the secret shows in text (whole, or its first or last 16 characters). */
function leaks(text: string, secret: string): boolean {
  return [secret, secret.slice(0, 16), secret.slice(-16)].some((piece) => text.includes(piece));
}

const REPLY = "through the tunnel\n";

const RECORDER = `#!/bin/sh
# Records this process's argv and environment as the kernel has them, then runs the
# real program in its place (same pid).
cat /proc/$$/cmdline >"$RECORD_DIR/cmdline.$$"
cat /proc/$$/environ >"$RECORD_DIR/environ.$$"
[ -z "$REAL_PROGRAM" ] && exit 0
exec "$REAL_PROGRAM" "$@"
`;

/** The NUL-separated records the recorder wrote, by kind. */
async function records(dir: string): Promise<{ cmdline: string[][]; environ: string[][] }> {
  const out = { cmdline: [] as string[][], environ: [] as string[][] };
  for await (const entry of Deno.readDir(dir)) {
    const kind = entry.name.split(".")[0];
    if (kind !== "cmdline" && kind !== "environ") continue;
    const text = await Deno.readTextFile(`${dir}/${entry.name}`);
    out[kind].push(text.split("\0").filter((part) => part !== ""));
  }
  return out;
}

Deno.test("secrets never leak: CLI output, debug output, the emulator's log, child processes", async () => {
  const root = await Deno.makeTempDir({ prefix: "gs-secrets-" });
  const emulator = await startDebugEmulator(root);
  const servers: Server[] = [];
  try {
    const home = `${root}/home`;
    await Deno.mkdir(home, { mode: 0o700 });
    const dirs = { listener: `${root}/listener`, initiator: `${root}/initiator` };
    const env = (
      side: "listener" | "initiator",
      extra: Record<string, string> = {},
    ): Record<string, string> => ({
      ...emulator.env,
      HOME: home,
      GLOBUS_STREAMS_DIR: dirs[side],
      ...extra,
    });
    const transfer = new TransferClient({ env: (name) => env("listener")[name] });
    const tunnelId = (await transfer.createTunnel({
      initiatorAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      label: "secrets",
    })).id;
    const outputs: { what: string; text: string }[] = [];
    const run = async (
      side: "listener" | "initiator",
      args: string[],
      extra: Record<string, string> = {},
      expectCode = 0,
    ) => {
      const result = await spawnCli(args, env(side, extra), 60_000).done;
      const what = `${side}: ${Object.entries(extra).map(([k, v]) => `${k}=${v} `).join("")}${
        args.join(" ")
      }`;
      assert.equal(result.code, expectCode, `${what}: ${result.stderr}`);
      outputs.push({ what: `${what} (stdout)`, text: result.stdout });
      outputs.push({ what: `${what} (stderr)`, text: result.stderr });
      return result;
    };

    const debug = { GLOBUS_STREAMS_DEBUG: "1" };
    const all = { GLOBUS_STREAMS_DEBUG: "ALL" };
    // The listening app: a GSA1 challenger (as the preload library is in accept()) that
    // answers each connection that passes with one line.
    const listener: { lankey?: string } = {};
    const app = await Stack.parse(`tcp,gsa1:role=challenger;tunnel=${tunnelId}`, {
      attrs: { gsa1: { secrets: () => listener.lankey ? { secret: listener.lankey } : undefined } },
    }).listen("127.0.0.1:0");
    servers.push(app);
    let answered = 0;
    (async () => {
      while (true) {
        const handle = await app.accept().catch(() => undefined);
        if (!handle) return;
        await handle.write(new TextEncoder().encode(REPLY)).catch(() => {});
        answered++;
        await handle.close().catch(() => {});
      }
    })();
    await run("listener", [
      "environment",
      "initialize",
      "--listener-contact-string",
      app.address,
      tunnelId,
    ], all);
    await run("initiator", ["environment", "initialize", tunnelId], all);
    await run("initiator", ["environment", "initialize", "--force", "-F", "json", tunnelId], debug);
    const lankeys = await Promise.all(
      (["listener", "initiator"] as const).map(async (side) => {
        const text = await Deno.readTextFile(`${dirs[side]}/${tunnelId}.conf`);
        const lankey = /^lankey=(.+)$/m.exec(text)?.[1];
        assert.ok(lankey && lankey.length >= 16, `${side} has a secret`);
        return lankey;
      }),
    );
    listener.lankey = lankeys[0];
    const secrets = [...lankeys, emulator.env.GLOBUS_CLI_CLIENT_SECRET];

    const commands = [
      ["environment", "show", tunnelId],
      ["environment", "show", "-F", "json", tunnelId],
      ["environment", "list"],
      ["environment", "list", "-F", "json"],
      ["environment", "contact-lookup", tunnelId],
      ["environment", "contact-lookup", "-F", "json", tunnelId],
      ["environment", "update", tunnelId],
      ["tunnel", "show", tunnelId],
      ["tunnel", "show", "-F", "json", tunnelId],
      ["tunnel", "events", "-F", "json", tunnelId],
    ];
    for (const extra of [{}, debug, all]) {
      await Promise.all(
        (["listener", "initiator"] as const).flatMap((side) =>
          commands.map((args) => run(side, args, extra))
        ),
      );
    }
    // The stale path (fetch, lock, rewrite) with debug on.
    const conf = `${dirs.initiator}/${tunnelId}.conf`;
    const stale = (await Deno.readTextFile(conf)).replace(/^update_time=\d+$/m, "update_time=0");
    await Deno.writeTextFile(conf, stale);
    await run("initiator", ["environment", "contact-lookup", tunnelId], all);
    // Failures: a conf whose secret line is bad, a service that refuses.
    const broken = `${root}/broken`;
    await Deno.mkdir(broken, { mode: 0o700 });
    await Deno.writeTextFile(
      `${broken}/${tunnelId}.conf`,
      stale.replace(/^lankey=(.+)$/m, "lankey=$1 trailing"),
      { mode: 0o600 },
    );
    for (const args of [["environment", "show", tunnelId], ["environment", "list"]]) {
      await run(
        "initiator",
        args,
        { ...all, GLOBUS_STREAMS_DIR: broken },
        args[1] === "show" ? 3 : 0,
      );
    }
    await run("initiator", ["tunnel", "show", tunnelId], {
      ...all,
      GLOBUS_CLI_CLIENT_SECRET: "wrong",
    }, 4);

    // The one place a secret is printed on purpose: the preload format. This also proves
    // the search below would find one.
    const preload = await run("initiator", [
      "environment",
      "contact-lookup",
      "-F",
      "preload",
      tunnelId,
    ], all);
    assert.equal(parsePreload(preload.stdout).lankey, lankeys[1]);
    outputs.pop();
    outputs.pop();

    let searched = 0;
    for (const { what, text } of outputs) {
      for (const secret of secrets) {
        assert.ok(!leaks(text, secret), `secret shown by ${what}: ${text}`);
      }
      searched += text.length;
    }

    // Child processes: the preload library's lookup child, and an xio popen child.
    const recordDir = `${root}/records`;
    await Deno.mkdir(recordDir);
    const recorder = `${root}/record.sh`;
    await Deno.writeTextFile(recorder, RECORDER, { mode: 0o755 });
    // Built here (once per test process) so a fresh clone checks the lookup child too.
    const library = await buildReleaseLibrary();
    let preloadChildren = 0;
    {
      const fakePort = /^fake_port=(\d+)$/m.exec(await Deno.readTextFile(conf))?.[1];
      const app = new Deno.Command("python3", {
        args: [`${repoRoot}tests/native/fixtures/client.py`, `globus.${tunnelId}`, fakePort!],
        env: {
          ...env("initiator", all),
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          LD_PRELOAD: library,
          GLOBUS_STREAMS_BIN: recorder,
          REAL_PROGRAM: cliBin,
          RECORD_DIR: recordDir,
        },
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => app.kill("SIGKILL"), 30_000);
      const output = await app.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      for (const secret of secrets) {
        assert.ok(!leaks(text, secret), `the preloaded app showed a secret: ${text}`);
      }
      searched += text.length;
      const { cmdline, environ } = await records(recordDir);
      preloadChildren = cmdline.length;
      // Through both legs with GSA1, so the handshakes' debug lines were searched too.
      assert.equal(
        JSON.parse(linesOf(new TextDecoder().decode(output.stdout)).at(-1)!).reply,
        REPLY,
      );
      assert.ok(answered >= 1, "the listening app answered");
      assert.ok(preloadChildren >= 1, `the library ran no lookup: ${text}`);
      for (const argv of cmdline) {
        assert.deepEqual(argv.slice(-5), [
          "environment",
          "contact-lookup",
          "--format",
          "preload",
          tunnelId,
        ]);
      }
      for (const entries of [...cmdline, ...environ]) {
        for (const secret of secrets.slice(0, 2)) assert.ok(!leaks(entries.join("\n"), secret));
      }
      for (const entries of environ) {
        assert.ok(!entries.some((e) => e.startsWith("LD_PRELOAD=")), "LD_PRELOAD is not passed on");
      }
      for (const name of [...Deno.readDirSync(recordDir)].map((e) => e.name)) {
        await Deno.remove(`${recordDir}/${name}`);
      }
    }

    // xio popen: the gsa1 secret is an attribute of the stack, never the child's.
    const stack = Stack.parse(`popen,gsa1:role=responder;tunnel=${tunnelId}`, {
      attrs: {
        gsa1: { secret: lankeys[1] },
        popen: { args: ["one", "two"], env: { RECORD_DIR: recordDir, REAL_PROGRAM: "" } },
      },
    });
    await stack.open(recorder, { timeoutMs: 5000 }).then((handle) => handle.close(), () => {});
    const popen = await records(recordDir);
    assert.equal(popen.cmdline.length, 1, "the popen child ran");
    assert.deepEqual(popen.cmdline[0].slice(-2), ["one", "two"]);
    for (const entries of [...popen.cmdline, ...popen.environ]) {
      assert.ok(!leaks(entries.join("\n"), lankeys[1]), `popen child: ${entries.join(" ")}`);
    }

    // The emulator: its own log (debug ALL) and its process's argv and environment.
    const proc = [`/proc/${emulator.pid}/cmdline`, `/proc/${emulator.pid}/environ`];
    const procText = (await Promise.all(proc.map((p) => Deno.readTextFile(p)))).join("\n");
    await emulator.stop();
    const log = emulator.stderr();
    for (const secret of lankeys) {
      assert.ok(!leaks(log, secret), "the emulator's log shows a LAN secret");
      assert.ok(!leaks(procText, secret));
    }
    searched += log.length;
    console.log(
      `reliability: secrets commands=${outputs.length / 2} secrets=${secrets.length} ` +
        `bytes_searched=${searched} emulator_log_lines=${linesOf(log).length} ` +
        `preload_lookup_children=${preloadChildren} ` +
        `popen_children=${popen.cmdline.length} leaks=0`,
    );
  } finally {
    for (const server of servers) await server.close();
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
  }
});
