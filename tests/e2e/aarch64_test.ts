// The aarch64 build, for real: the preload library built for aarch64-linux-gnu.2.17 (as
// the release ships it) runs in aarch64 C programs (glibc, dynamically linked, so the
// preload applies) through a tunnel of the real emulator. On an x86_64 machine the
// programs run under qemu-user (Debian's qemu-user-static, with the aarch64 glibc of
// libc6-arm64-cross in /usr/aarch64-linux-gnu, both installed by tests/run.ts); on an
// aarch64 machine they run directly. The library's lookup child is the host's
// bin/globus-streams (a sh script): qemu-user passes the guest's exec of a host program
// to the kernel, so it runs natively.
//
// Both ways: the aarch64 client dials globus.<id> and the native python server under
// `globus-streams-launch -p` answers; then the aarch64 server accepts on a marked port
// (GLOBUS_STREAMS_INTERCEPT_PORT_<port>, as the launcher's -p sets it) and the native
// python client under the launcher dials in.
import assert from "node:assert/strict";
import {
  cliBin,
  emulatorLine,
  fixtures,
  lastJson,
  onPath,
  pythonExe,
  repoRoot,
  run,
  runInitiator,
  spawn,
  startListeningApp,
  startTunnelWorld,
  type TunnelWorld,
} from "./_support.ts";
import { scratchDir } from "../_support/process.ts";

const target = "aarch64-linux-gnu.2.17";
/** Where libc6-arm64-cross puts the aarch64 glibc (qemu's -L: the guest's root). */
const sysroot = "/usr/aarch64-linux-gnu";
const seccompFixtures = `${repoRoot}tests/native/fixtures/seccomp/`;

/** How this machine runs aarch64 programs, or why it cannot. */
async function findRunner(): Promise<{ qemu?: string; skip?: string }> {
  if (Deno.build.arch === "aarch64") return {};
  let qemu: string | undefined;
  for (const name of ["qemu-aarch64-static", "qemu-aarch64"]) {
    if (await onPath(name)) {
      qemu = name;
      break;
    }
  }
  if (!qemu) {
    return { skip: "no qemu-aarch64-static or qemu-aarch64 on PATH (Debian: qemu-user-static)" };
  }
  try {
    await Deno.stat(`${sysroot}/lib/ld-linux-aarch64.so.1`);
  } catch {
    return { skip: `no aarch64 glibc in ${sysroot} (Debian: libc6-arm64-cross)` };
  }
  return { qemu };
}

const runner = await findRunner();
const ignore = runner.skip !== undefined;
const note = runner.skip ? ` [skipped: ${runner.skip}]` : runner.qemu ? " (under qemu-user)" : "";
if (runner.skip) console.error(`aarch64_test: skipped: ${runner.skip}`);

// --- the aarch64 builds, once per process --------------------------------------------

/** A temp dir for this process's builds, removed at exit. */
const buildDir = () => scratchDir("gs-aarch64-build-");

let library: Promise<string> | undefined;

/** The preload library built for aarch64 with the release's options. */
function aarch64Library(): Promise<string> {
  library ??= (async () => {
    const prefix = `${buildDir()}/prefix`;
    const result = await run(
      `${repoRoot}dev`,
      ["zig", "build", `-Dtarget=${target}`, "-Doptimize=ReleaseSafe", "--prefix", prefix],
      { cwd: `${repoRoot}native`, timeoutMs: 300_000 },
    );
    if (result.code !== 0) {
      throw new Error(`zig build -Dtarget=${target} failed:\n${result.stderr}`);
    }
    return `${prefix}/lib/libglobus_streams_client.so.0`;
  })();
  return library;
}

const programs = new Map<string, Promise<string>>();

/** tests/native/fixtures/seccomp/<name>.c built for aarch64 glibc, dynamically linked. */
function aarch64Program(name: string): Promise<string> {
  let program = programs.get(name);
  if (!program) {
    program = (async () => {
      const out = `${buildDir()}/${name}`;
      const result = await run(`${repoRoot}dev`, [
        "zig",
        "cc",
        "-target",
        target,
        "-O2",
        "-Wall",
        "-Werror",
        "-o",
        out,
        `${seccompFixtures}${name}.c`,
      ], { timeoutMs: 180_000 });
      if (result.code !== 0) {
        throw new Error(`zig cc -target ${target} ${name}.c:\n${result.stderr}`);
      }
      return out;
    })();
    programs.set(name, program);
  }
  return program;
}

/**
 * The command line that runs an aarch64 program with the aarch64 library preloaded.
 * Under qemu the guest gets LD_PRELOAD with -E, so a dynamically linked qemu-aarch64
 * does not try to preload an aarch64 library into itself.
 */
async function aarch64Command(
  program: string,
  args: string[],
): Promise<{ cmd: string; args: string[]; env: Record<string, string> }> {
  const lib = await aarch64Library();
  if (!runner.qemu) return { cmd: program, args, env: { LD_PRELOAD: lib } };
  return {
    cmd: runner.qemu,
    args: ["-L", sysroot, "-E", `LD_PRELOAD=${lib}`, program, ...args],
    env: {},
  };
}

/** Polls ready() every 50 ms; throws after ms. */
async function waitFor(ready: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`not ready in ${ms} ms: ${ready}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The LAN port of the initiating access point. */
function lanPort(world: TunnelWorld): string {
  return world.connector.slice(world.connector.lastIndexOf(":") + 1);
}

Deno.test({
  name: `an aarch64 C client dials globus.<id> through the tunnel to a native server${note}`,
  ignore,
}, async () => {
  const client = await aarch64Program("static_client");
  await using world = await startTunnelWorld();
  const python = await pythonExe();
  const app = await startListeningApp(world, [
    python,
    `${fixtures}http_server_asyncio.py`,
    world.listenerHost,
    String(world.listenerPort),
  ]);
  try {
    // The lookup child is the host's bin/globus-streams behind a wrapper that notes the
    // machine it runs on and the LD_PRELOAD it got, then runs the real one.
    const childLog = `${world.root}/lookup-child.log`;
    const wrapper = `${world.root}/globus-streams`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\necho "machine=$(uname -m) ld_preload=\${LD_PRELOAD-unset} argv=$*" >>'${childLog}'\n` +
        `exec '${cliBin}' "$@"\n`,
      { mode: 0o755 },
    );
    const { cmd, args, env } = await aarch64Command(client, [world.name, String(world.fakePort)]);
    // The initiating side's environment (conf dir, debug lines), without the native
    // library the world would preload.
    const result = await run(cmd, args, {
      env: {
        ...world.env("initiator", { GLOBUS_STREAMS_LIB: undefined, GLOBUS_STREAMS_BIN: wrapper }),
        ...env,
      },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    // The name resolved to the tunnel's pool address and the reply came back whole.
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "address 127.77.83.1",
      "reply-bytes 60", // http_server_asyncio.py's whole response: headers and "ok\n"
      "body ok",
    ], result.stderr);
    // The lookup child (the host's sh script, run natively) found the access point, and
    // the connection passed GSA1 on it.
    const accessPoint = `127\\.0\\.0\\.1:${lanPort(world)}`;
    const shortId = world.tunnelId.slice(0, 8);
    assert.match(
      result.stderr,
      new RegExp(
        `\\[getaddrinfo\\] ${world.name.replaceAll(".", "\\.")} -> 127\\.77\\.83\\.1:0 ` +
          `\\(tunnel ${world.tunnelId}, access point ${accessPoint}\\)`,
      ),
    );
    assert.match(
      result.stderr,
      new RegExp(
        `\\[connect\\] globus\\.${shortId}:${world.fakePort} -> ${accessPoint} ` +
          `\\(tunnel ${world.tunnelId}, gsa1 ok\\)`,
      ),
    );
    // The guest's posix_spawn ran the host's sh script natively (uname is the host's),
    // once, without the aarch64 library in its LD_PRELOAD.
    const hostMachine = (await run("uname", ["-m"])).stdout.trim();
    assert.deepEqual((await Deno.readTextFile(childLog)).trim().split("\n"), [
      `machine=${hostMachine} ld_preload=unset argv=environment contact-lookup --format preload ${world.tunnelId}`,
    ]);
    assert.doesNotMatch(result.stderr, /cannot execute|Exec format error|cannot be preloaded/);
    const short = `tunnel ${shortId}\\.\\.`;
    await emulatorLine(
      world.emulator.stderr,
      new RegExp(`^\\[ap site-a\\] ${short}: stream \\d+ closed: lan gsa1 ok, wan ok, `),
    );
    await emulatorLine(
      world.emulator.stderr,
      new RegExp(
        `^\\[ap site-b\\] ${short}: stream \\d+ closed: wan gsa1 ok, ` +
          `listener "127\\.0\\.0\\.1:${world.listenerPort}" gsa1 ok`,
      ),
    );
  } catch (error) {
    console.error(`listening app's stderr:\n${app.stderr()}`);
    throw error;
  } finally {
    await app.stop();
  }
});

Deno.test({
  name: `an aarch64 C server accepts only the tunnel's connections on its marked port${note}`,
  ignore,
}, async () => {
  const server = await aarch64Program("static_server");
  await using world = await startTunnelWorld();
  const port = String(world.listenerPort);
  const { cmd, args, env } = await aarch64Command(server, [port]);
  // What `globus-streams-launch -p PORT TUNNEL` sets, by hand: the launcher would preload
  // the native library into qemu rather than the aarch64 one into the guest.
  const app = spawn(cmd, args, {
    env: {
      ...world.env("listener", { GLOBUS_STREAMS_LIB: undefined }),
      ...env,
      GLOBUS_STREAMS_TUNNEL: world.tunnelId,
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: world.tunnelId,
      // The plain connection below is dropped when its handshake times out.
      GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "3",
    },
  });
  try {
    await app.waitForLine(/^listening$/, 60_000);
    const python = await pythonExe();
    const result = await runInitiator(world, [
      python,
      `${fixtures}echo_client.py`,
      world.name,
      String(world.fakePort),
      "1000",
    ], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lastJson(result), {
      address: "127.77.83.1",
      port: world.fakePort,
      peer: world.connector,
      sent: 1000,
      received: 1000,
      same: true,
    });
    await app.waitForLine(/^peer 127\.0\.0\.1$/);
    const short = `tunnel ${world.tunnelId.slice(0, 8)}\\.\\.`;
    await emulatorLine(
      world.emulator.stderr,
      new RegExp(
        `^\\[ap site-b\\] ${short}: stream \\d+ closed: wan gsa1 ok, ` +
          `listener "127\\.0\\.0\\.1:${port}" gsa1 ok`,
      ),
    );
    // A plain connection to the marked port never reaches the server: its accept()
    // challenged it and dropped it.
    const plain = await Deno.connect({ hostname: world.listenerHost, port: world.listenerPort });
    await plain.write(new TextEncoder().encode("plain hello\n"));
    // Read to the end (the challenger's hello, then its close when the handshake times
    // out: 12 bytes are no proof).
    let answered = "";
    const buffer = new Uint8Array(256);
    for (;;) {
      const got = await plain.read(buffer).catch(() => null);
      if (got === null) break;
      answered += new TextDecoder().decode(buffer.subarray(0, got));
    }
    plain.close();
    assert.ok(!answered.includes("plain hello"), "the server echoed a plain connection");
    // The library logs the refusal just after it closes the peer.
    await waitFor(() => /\[accept\] 1 peers closed: gsa1 timed out/.test(app.stderr()), 10_000);
    const stopped = await app.stop();
    assert.equal(stopped.stdout.split("\n").filter((l) => l.startsWith("peer ")).length, 1);
    assert.match(
      stopped.stderr,
      new RegExp(`\\[accept\\] 127\\.0\\.0\\.1:\\d+ on port ${port} .*gsa1 ok\\)`),
    );
  } catch (error) {
    console.error(`aarch64 server's stderr:\n${app.stderr()}`);
    throw error;
  } finally {
    await app.stop();
  }
});
