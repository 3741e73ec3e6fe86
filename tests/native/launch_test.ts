// bin/globus-streams-launch: usage errors, the engine for static and Go binaries, the
// tunnel check before the command starts, the environment it hands the command, the
// release layout, and one run through an access point.
import assert from "node:assert/strict";
import { startCliWorld } from "../helpers/_world.ts";
import { runCliInProcess } from "../_support/cli.ts";
import {
  buildLibrary,
  fakeBin,
  fixtures,
  freePort,
  launcher,
  libraryPath,
  repoRoot,
  run,
  secret,
  secretId,
  startAccessPoint,
  tunnelId,
  tunnelReply,
  writeAnswer,
} from "./_support.ts";

const env = { GLOBUS_STREAMS_LIB: libraryPath };

function lines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const equals = line.indexOf("=");
    if (equals > 0) out[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return out;
}

Deno.test("the launcher rejects bad usage with exit 2 and one reason", async () => {
  await buildLibrary();
  const cases: [string[], RegExp][] = [
    [[], /missing TUNNEL_ID and COMMAND/],
    [[tunnelId], /missing COMMAND to run/],
    [["not-a-uuid", "true"], /cannot use tunnel id 'not-a-uuid'/],
    [["5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2", "true"], /cannot use tunnel id/],
    [["-p", "0", tunnelId, "true"], /cannot use port '0'/],
    [["-p", "65536", tunnelId, "true"], /cannot use port '65536'/],
    [["-p", "80x", tunnelId, "true"], /cannot use port '80x'/],
    [["-p"], /option '-p' needs a PORT/],
    [["--host", "a,b", tunnelId, "true"], /cannot use host name 'a,b'/],
    [["--bogus", tunnelId, "true"], /unknown option '--bogus'/],
  ];
  for (const [args, reason] of cases) {
    const result = await run(launcher, args, { env });
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, reason);
    assert.match(result.stderr, /^globus-streams-launch: /);
  }
  const help = await run(launcher, ["--help"], { env });
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /^usage: globus-streams-launch \[-p PORT\]\.\.\. \[--all\] \[--host NAME\]\.\.\. \[--engine E\] \[--no-check\]\n +TUNNEL_ID COMMAND/,
  );
  assert.match(help.stdout, /--no-check/);
  assert.match(help.stdout, /GLOBUS_STREAMS_LISTENER_CONTACT/);
  const missing = await run(launcher, [tunnelId, "no-such-command-here"], { env });
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /cannot run 'no-such-command-here': command not found/);
});

Deno.test("the launcher runs a statically linked command under the seccomp engine, and refuses to preload it", async () => {
  await buildLibrary();
  const dir = await Deno.makeTempDir({ prefix: "gs-launch-" });
  try {
    await Deno.writeTextFile(`${dir}/hello.zig`, "pub fn main() void {}\n");
    const built = await run(`${repoRoot}dev`, [
      "zig",
      "build-exe",
      `${dir}/hello.zig`,
      "-static",
      `-femit-bin=${dir}/hello-static`,
    ], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(built.code, 0, built.stderr);
    const supervised = await run(launcher, ["--no-check", tunnelId, `${dir}/hello-static`], {
      env,
    });
    assert.equal(supervised.code, 0, supervised.stderr);
    const result = await run(launcher, [
      "--no-check",
      "--engine",
      "preload",
      tunnelId,
      `${dir}/hello-static`,
    ], { env });
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.match(result.stderr, /cannot preload into '.*hello-static': it is statically linked/);
    assert.match(result.stderr, /globus-streams forward/);
    // A dynamically linked command found on PATH runs.
    const dynamic = await run(launcher, ["--no-check", tunnelId, "sh", "-c", "echo ran"], { env });
    assert.equal(dynamic.code, 0, dynamic.stderr);
    assert.equal(dynamic.stdout, "ran\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the launcher prepends the library to LD_PRELOAD and sets the variables", async () => {
  await buildLibrary();
  const result = await run(launcher, [
    "-p",
    "8888",
    "--port=9999",
    "--all",
    "--host",
    "a.example",
    "--host=b.example",
    "--no-check",
    tunnelId,
    "env",
  ], {
    env: {
      ...env,
      LD_PRELOAD: "/nonexistent/other.so",
      GLOBUS_STREAMS_BIN: undefined,
      GLOBUS_STREAMS_LISTENER_CONTACT: "10.9.9.9:1",
    },
  });
  assert.equal(result.code, 0, result.stderr);
  const vars = lines(result.stdout);
  assert.equal(vars.LD_PRELOAD, `${libraryPath}:/nonexistent/other.so`);
  assert.equal(vars.GLOBUS_STREAMS_TUNNEL, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_INTERCEPT_PORT_8888, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_INTERCEPT_PORT_9999, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_ALL, "1");
  assert.equal(vars.GLOBUS_STREAMS_HOSTS, "a.example,b.example");
  assert.equal(vars.GLOBUS_STREAMS_BIN, `${repoRoot}bin/globus-streams`);
  // No check: the listener contact is unknown, so unset (the library waits to learn it).
  assert.equal(vars.GLOBUS_STREAMS_LISTENER_CONTACT, undefined, "no check, no listener contact");

  // Nested launches do not preload twice; without --all/--host those variables go.
  const nested = await run(launcher, ["--no-check", tunnelId, "env"], {
    env: { ...env, LD_PRELOAD: libraryPath, GLOBUS_STREAMS_ALL: "1", GLOBUS_STREAMS_HOSTS: "x" },
  });
  const again = lines(nested.stdout);
  assert.equal(again.LD_PRELOAD, libraryPath);
  assert.equal(again.GLOBUS_STREAMS_ALL, undefined);
  assert.equal(again.GLOBUS_STREAMS_HOSTS, undefined);
});

/**
 * A globus-streams stand-in for the layout test only (the check itself is tested
 * against the real binary below): records its argv and whether it was preloaded, and
 * prints a json answer.
 */
function answeringBin(argsFile: string): string {
  return [
    "#!/bin/sh",
    `printf '%s preload=%s\\n' "$*" "\${LD_PRELOAD-unset}" >>'${argsFile}'`,
    "cat <<'JSON'",
    JSON.stringify(
      {
        tunnel_id: tunnelId,
        connector_contact_string: "127.0.0.1:6666",
        listener_contact_string: "127.0.0.1:7777",
        fake_port: 4001,
        ttl_seconds: 10,
        secured: true,
      },
      null,
      2,
    ),
    "JSON",
    "",
  ].join("\n");
}

Deno.test("installed as globus-streams-launch.sh, it finds ../lib and the binary beside it", async () => {
  await buildLibrary();
  const dir = await Deno.makeTempDir({ prefix: "gs-layout-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.mkdir(`${dir}/lib`);
    await Deno.copyFile(launcher, `${dir}/bin/globus-streams-launch`);
    await Deno.chmod(`${dir}/bin/globus-streams-launch`, 0o755);
    await Deno.symlink("globus-streams-launch", `${dir}/bin/globus-streams-launch.sh`);
    await Deno.copyFile(libraryPath, `${dir}/lib/libglobus_streams_client.so.0`);
    const bare = await run(`${dir}/bin/globus-streams-launch.sh`, ["--no-check", tunnelId, "env"], {
      env: { GLOBUS_STREAMS_BIN: undefined },
    });
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(lines(bare.stdout).LD_PRELOAD, `${dir}/bin/../lib/libglobus_streams_client.so.0`);
    assert.equal(lines(bare.stdout).GLOBUS_STREAMS_BIN, undefined);
    // Without a binary anywhere the check cannot run: one line, and the command does not.
    const noBin = await run(`${dir}/bin/globus-streams-launch.sh`, [tunnelId, "env"], {
      env: { GLOBUS_STREAMS_BIN: undefined, PATH: "/usr/bin:/bin" },
    });
    assert.equal(noBin.code, 1);
    assert.equal(noBin.stdout, "");
    assert.match(
      noBin.stderr,
      /^globus-streams-launch: cannot use tunnel .*: cannot find globus-streams to check it: set GLOBUS_STREAMS_BIN, or start with --no-check\n$/,
    );
    // The binary beside the launcher is the one the check runs and the library is given.
    await Deno.writeTextFile(`${dir}/bin/globus-streams`, answeringBin(`${dir}/check.args`), {
      mode: 0o755,
    });
    const withBin = await run(`${dir}/bin/globus-streams-launch.sh`, [tunnelId, "env"], {
      env: { GLOBUS_STREAMS_BIN: undefined },
    });
    assert.equal(withBin.code, 0, withBin.stderr);
    assert.equal(lines(withBin.stdout).GLOBUS_STREAMS_BIN, `${dir}/bin/globus-streams`);
    assert.equal(lines(withBin.stdout).GLOBUS_STREAMS_LISTENER_CONTACT, "127.0.0.1:7777");
    assert.equal(
      await Deno.readTextFile(`${dir}/check.args`),
      `environment contact-lookup --format json ${tunnelId} preload=unset\n`,
    );
    await Deno.remove(`${dir}/lib/libglobus_streams_client.so.0`);
    const noLib = await run(`${dir}/bin/globus-streams-launch.sh`, [tunnelId, "env"]);
    assert.equal(noLib.code, 1);
    assert.match(noLib.stderr, /cannot find the preload library '.*': set GLOBUS_STREAMS_LIB/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a command started by the launcher reaches the tunnel through globus.<id>", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  const dir = await Deno.makeTempDir({ prefix: "gs-launch-run-" });
  try {
    const answer = await writeAnswer(dir, {
      connector_contact_string: `127.0.0.1:${ap.port}`,
      fake_port: 4001,
      lankey: secret,
      lankey_id: secretId,
    });
    // --no-check: the fake binary answers the library's preload lookups only.
    const result = await run(launcher, [
      "--no-check",
      tunnelId,
      "python3",
      `${fixtures}client.py`,
      `globus.${tunnelId}`,
      "4001",
    ], { env: { ...env, GLOBUS_STREAMS_BIN: fakeBin, FAKE_ANSWER: answer } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(JSON.parse(result.stdout).reply, new RegExp(tunnelReply.trim()));
    assert.deepEqual(ap.results, ["accepted"]);
  } finally {
    await ap.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the launcher checks the tunnel with the real binary before it starts the command", async () => {
  await buildLibrary();
  await using world = await startCliWorld();
  const conf = (side: "initiator" | "listener") =>
    Deno.readTextFile(`${world.dirs[side]}/${world.tunnelId}.conf`);
  const confValue = async (side: "initiator" | "listener", key: string) =>
    new RegExp(`^${key}=(.*)$`, "m").exec(await conf(side))?.[1];
  const launchEnv = (side: "initiator" | "listener", extra: Record<string, string> = {}) => ({
    ...world.env(side),
    ...env,
    GLOBUS_STREAMS_BIN: undefined, // the launcher finds bin/globus-streams beside it
    GLOBUS_STREAMS_LISTENER_CONTACT: "10.9.9.9:1", // inherited: replaced by the check's answer
    ...extra,
  });
  const secretOf = await confValue("initiator", "lankey");
  assert.ok(secretOf, "the conf file has a LAN secret");

  // A fresh conf: the command runs with the tunnel's listener contact, and no secret.
  for (const side of ["initiator", "listener"] as const) {
    const ok = await run(launcher, [world.tunnelId, "env"], { env: launchEnv(side) });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr, "");
    const vars = lines(ok.stdout);
    assert.equal(vars.GLOBUS_STREAMS_LISTENER_CONTACT, `127.0.0.1:${world.listenerPort}`);
    assert.equal(vars.GLOBUS_STREAMS_BIN, `${repoRoot}bin/globus-streams`);
    assert.ok(!ok.stdout.includes(secretOf), "the secret is not in the command's environment");
  }

  // No conf file for the tunnel: the binary's line, the launcher's line, exit 1, no command.
  const other = crypto.randomUUID();
  const missing = await run(launcher, [other, "sh", "-c", "echo ran"], {
    env: launchEnv("initiator"),
  });
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "", "the command did not run");
  const [why, verdict, ...rest] = missing.stderr.trimEnd().split("\n");
  assert.deepEqual(rest, []);
  assert.match(why, new RegExp(`^globus-streams: No conf file for tunnel ${other} `));
  assert.match(
    verdict,
    new RegExp(
      `^globus-streams-launch: cannot use tunnel ${other}: '.*globus-streams environment contact-lookup' ` +
        `failed \\(exit 3, reason above\\); fix that, or start with --no-check$`,
    ),
  );
  // ... and --no-check starts it anyway, without a listener contact.
  const unchecked = await run(launcher, ["--no-check", other, "env"], {
    env: launchEnv("initiator"),
  });
  assert.equal(unchecked.code, 0, unchecked.stderr);
  assert.equal(lines(unchecked.stdout).GLOBUS_STREAMS_LISTENER_CONTACT, undefined);

  // A conf without a listener contact: the variable is empty, not inherited.
  const path = `${world.dirs.initiator}/${world.tunnelId}.conf`;
  const good = await conf("initiator");
  await Deno.writeTextFile(path, good.replace(/^listener_contact_string=.*\n/m, ""));
  const noListener = await run(launcher, [world.tunnelId, "env"], { env: launchEnv("initiator") });
  assert.equal(noListener.code, 0, noListener.stderr);
  assert.equal(lines(noListener.stdout).GLOBUS_STREAMS_LISTENER_CONTACT, "");
  await Deno.writeTextFile(path, good);

  // Stale, and the service is down: the stored contact, a warning, the command runs.
  await world.editConf("initiator", "update_time", "0");
  const down = `http://127.0.0.1:${freePort()}/`;
  const stale = await run(launcher, [world.tunnelId, "env"], {
    env: launchEnv("initiator", {
      GLOBUS_SDK_SERVICE_URL_AUTH: down,
      GLOBUS_SDK_SERVICE_URL_TRANSFER: down,
    }),
  });
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(
    stale.stderr,
    new RegExp(
      `^globus-streams: warning: cannot refresh tunnel ${world.tunnelId}, using the stored contact for 5 s: [^\\n]+\\n$`,
    ),
  );
  assert.equal(
    lines(stale.stdout).GLOBUS_STREAMS_LISTENER_CONTACT,
    `127.0.0.1:${world.listenerPort}`,
  );

  // Stale and the service answers: the check refreshes the conf file before the command.
  const refreshed = await run(launcher, [world.tunnelId, "true"], { env: launchEnv("initiator") });
  assert.equal(refreshed.code, 0, refreshed.stderr);
  assert.ok(Number(await confValue("initiator", "update_time")) > 0, "the check refreshed it");

  // Initialized before the tunnel is ACTIVE: no contact yet, so the check fails with the
  // binary's one line naming the state, and the command does not run.
  const pending = await runCliInProcess([
    "tunnel",
    "create",
    "-F",
    "json",
    world.emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
    world.emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
  ], { env: world.env("initiator") });
  const pendingId = JSON.parse(pending.stdout).data.id;
  const early = await runCliInProcess(["environment", "initialize", pendingId], {
    env: world.env("initiator"),
  });
  assert.equal(early.code, 0, early.stderr);
  const notYet = await run(launcher, [pendingId, "sh", "-c", "echo ran"], {
    env: launchEnv("initiator"),
  });
  assert.equal(notYet.code, 1);
  assert.equal(notYet.stdout, "", "the command did not run");
  const [reason, verdict2, ...more] = notYet.stderr.trimEnd().split("\n");
  assert.deepEqual(more, []);
  assert.match(
    reason,
    new RegExp(
      `^globus-streams: Tunnel ${pendingId} has no connector contact yet: state AWAITING_LISTENER`,
    ),
  );
  assert.match(verdict2, /contact-lookup' failed \(exit 1, reason above\)/);
});

const goTool = "/usr/local/go/bin/go";

/** Builds a Go program that resolves and dials, in dir; argv for `go build` after "build". */
async function buildGo(dir: string, name: string, cgo: boolean, flags: string[] = []) {
  const built = await run(goTool, ["build", ...flags, "-o", `${dir}/${name}`, `${dir}/dial.go`], {
    cwd: dir,
    timeoutMs: 300_000,
    // Nothing from $HOME or the network: a cache and GOPATH of the test's own.
    env: {
      HOME: dir,
      GOCACHE: `${dir}/go-cache`,
      GOPATH: `${dir}/go-path`,
      GOTOOLCHAIN: "local",
      GOPROXY: "off",
      GOFLAGS: "",
      GO111MODULE: "",
      CGO_ENABLED: cgo ? "1" : "0",
    },
  });
  assert.equal(built.code, 0, built.stderr);
  return `${dir}/${name}`;
}

/** The ELF's program interpreter (PT_INTERP), or undefined for a static binary. */
async function interpreterOf(path: string): Promise<string | undefined> {
  const headers = await run("readelf", ["-l", "-W", path]);
  assert.equal(headers.code, 0, headers.stderr);
  return /Requesting program interpreter: ([^\]]+)\]/.exec(headers.stdout)?.[1];
}

const hasGo = await Deno.stat(goTool).then(() => true, () => false);
if (!hasGo) console.error(`launch_test.ts: no Go toolchain at ${goTool}: the Go test is skipped`);

Deno.test(
  "the launcher runs Go programs, dynamic or static, under seccomp and refuses to preload them",
  {
    ignore: !hasGo,
  },
  async () => {
    await buildLibrary();
    const dir = await Deno.makeTempDir({ prefix: "gs-launch-go-" });
    try {
      await Deno.writeTextFile(
        `${dir}/dial.go`,
        [
          "package main",
          "",
          'import (\n\t"fmt"\n\t"net"\n\t"os"\n)',
          "",
          "func main() {",
          '\tconn, err := net.Dial("tcp", os.Args[1])',
          "\tif err == nil {\n\t\tconn.Close()\n\t}",
          '\tfmt.Println("dialled:", err)',
          "}",
          "",
        ].join("\n"),
      );
      const dynamic = await buildGo(dir, "dial-dynamic", true);
      const stripped = await buildGo(dir, "dial-stripped", true, ["-ldflags=-s -w"]);
      const statik = await buildGo(dir, "dial-static", false);
      assert.match((await interpreterOf(dynamic)) ?? "", /ld-linux/, "cgo: dynamically linked");
      assert.match((await interpreterOf(stripped)) ?? "", /ld-linux/);
      assert.equal(await interpreterOf(statik), undefined, "CGO_ENABLED=0: statically linked");
      // The programs work: not refused for being broken.
      const direct = await run(dynamic, ["127.0.0.1:1"]);
      assert.match(direct.stdout, /^dialled: dial tcp 127\.0\.0\.1:1: connect: connection refused/);

      for (const program of [dynamic, stripped, statik]) {
        const result = await run(launcher, [
          "--no-check",
          "--engine",
          "preload",
          tunnelId,
          program,
          `globus.${tunnelId}:80`,
        ], { env });
        assert.equal(result.code, 1, `${program}: ${result.stderr}`);
        assert.equal(result.stdout, "", "not run");
        assert.equal(
          result.stderr,
          `globus-streams-launch: cannot preload into '${program}': it is a Go program, which ` +
            `resolves names and connects without libc; use --engine seccomp, or ` +
            `'globus-streams forward' (or connect/expose) instead\n`,
        );
        // By default it runs, supervised: its dial is answered by the seccomp engine.
        const supervised = await run(launcher, ["--no-check", tunnelId, program, "127.0.0.1:1"], {
          env,
        });
        assert.equal(supervised.code, 0, `${program}: ${supervised.stderr}`);
        assert.match(supervised.stdout, /^dialled: /);
      }
      // A C program that merely links the same libc is not mistaken for Go.
      const python = await run(launcher, ["--no-check", tunnelId, "python3", "-c", "print(1)"], {
        env,
      });
      assert.equal(python.code, 0, python.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
