// bin/globus-streams-launch: usage errors, the engine for static binaries, the environment it
// hands the command, the release layout, and one run through an access point.
import assert from "node:assert/strict";
import {
  buildLibrary,
  fakeBin,
  fixtures,
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
    /^usage: globus-streams-launch \[-p PORT\]\.\.\. \[--all\] \[--host NAME\]\.\.\. TUNNEL_ID COMMAND/,
  );
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
    const supervised = await run(launcher, [tunnelId, `${dir}/hello-static`], { env });
    assert.equal(supervised.code, 0, supervised.stderr);
    const result = await run(launcher, ["--engine", "preload", tunnelId, `${dir}/hello-static`], {
      env,
    });
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split("\n").length, 1);
    assert.match(result.stderr, /cannot preload into '.*hello-static': it is statically linked/);
    assert.match(result.stderr, /globus-streams forward/);
    // A dynamically linked command found on PATH runs.
    const dynamic = await run(launcher, [tunnelId, "sh", "-c", "echo ran"], { env });
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
    tunnelId,
    "env",
  ], { env: { ...env, LD_PRELOAD: "/nonexistent/other.so", GLOBUS_STREAMS_BIN: undefined } });
  assert.equal(result.code, 0, result.stderr);
  const vars = lines(result.stdout);
  assert.equal(vars.LD_PRELOAD, `${libraryPath}:/nonexistent/other.so`);
  assert.equal(vars.GLOBUS_STREAMS_TUNNEL, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_INTERCEPT_PORT_8888, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_INTERCEPT_PORT_9999, tunnelId);
  assert.equal(vars.GLOBUS_STREAMS_ALL, "1");
  assert.equal(vars.GLOBUS_STREAMS_HOSTS, "a.example,b.example");
  assert.equal(vars.GLOBUS_STREAMS_BIN, `${repoRoot}bin/globus-streams`);

  // Nested launches do not preload twice; without --all/--host those variables go.
  const nested = await run(launcher, [tunnelId, "env"], {
    env: { ...env, LD_PRELOAD: libraryPath, GLOBUS_STREAMS_ALL: "1", GLOBUS_STREAMS_HOSTS: "x" },
  });
  const again = lines(nested.stdout);
  assert.equal(again.LD_PRELOAD, libraryPath);
  assert.equal(again.GLOBUS_STREAMS_ALL, undefined);
  assert.equal(again.GLOBUS_STREAMS_HOSTS, undefined);
});

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
    const bare = await run(`${dir}/bin/globus-streams-launch.sh`, [tunnelId, "env"], {
      env: { GLOBUS_STREAMS_BIN: undefined },
    });
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(lines(bare.stdout).LD_PRELOAD, `${dir}/bin/../lib/libglobus_streams_client.so.0`);
    assert.equal(lines(bare.stdout).GLOBUS_STREAMS_BIN, undefined);
    await Deno.copyFile(fakeBin, `${dir}/bin/globus-streams`);
    await Deno.chmod(`${dir}/bin/globus-streams`, 0o755);
    const withBin = await run(`${dir}/bin/globus-streams-launch.sh`, [tunnelId, "env"]);
    assert.equal(lines(withBin.stdout).GLOBUS_STREAMS_BIN, `${dir}/bin/globus-streams`);
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
    const result = await run(launcher, [
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
