// The host's archive, installed by its own install.sh into a temporary prefix, runs the
// demo flow from there with nothing from the repo on PATH: --version, the emulator,
// a tunnel, initialize on both sides, a server under the launcher, curl through it.
// An INCOMPLETE archive (no denort here) gets a development stand-in for its missing
// bin/globus-streams inside the prefix; every other file is the archive's own.
import assert from "node:assert/strict";
import { join } from "node:path";
import { archiveName, archiveTop, LIBRARY, LIBRARY_LINK, SUPERVISOR } from "../../build/mod.ts";
import { VERSION } from "../../src/version.ts";
import {
  denortOffline,
  offlineEnv,
  repoRoot,
  requireHostTarget,
  runBuild,
  runTool,
} from "./_build.ts";
import { freePort, stopChild } from "../_support/process.ts";

const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";

interface Sandbox {
  dir: string;
  prefix: string;
  home: string;
  /** The environment every installed command runs with: the prefix's bin and system dirs only. */
  env: Record<string, string>;
}

async function makeSandbox(): Promise<Sandbox> {
  const dir = await Deno.makeTempDir({ prefix: "release-install-" });
  const prefix = join(dir, "prefix");
  const home = join(dir, "home");
  await Deno.mkdir(home);
  const env: Record<string, string> = {
    PATH: `${prefix}/bin:${SYSTEM_PATH}`,
    HOME: home,
    LANG: "C.UTF-8",
    TMPDIR: dir,
  };
  return { dir, prefix, home, env };
}

/** Runs `sh -c script` in the sandbox's environment. */
function shell(
  box: Sandbox,
  script: string,
  extra: Record<string, string> = {},
  timeoutMs = 60_000,
) {
  return runTool("sh", ["-c", script], { cwd: box.dir, env: { ...box.env, ...extra }, timeoutMs });
}

/** Parses `export NAME=value` / `NAME=value` lines, with optional quotes. */
function parseExports(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (!match) continue;
    values[match[1]] = match[2].replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1");
  }
  return values;
}

async function waitForFile(
  path: string,
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const text = await Deno.readTextFile(path);
      if (text.includes("\n")) return text;
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!exited) throw new Error(`no "${path}" after ${timeoutMs} ms`);
  const stderr = await new Response(child.stderr).text();
  throw new Error(
    `the emulator exited (${(await child.status).code}) before writing "${path}": ${stderr.trim()}`,
  );
}

/** A long-running process of the demo, stopped and awaited in the end. */
function spawnIn(box: Sandbox, args: string[], extra: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(args[0], {
    args: args.slice(1),
    cwd: box.dir,
    env: { ...box.env, ...extra },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function stop(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  await stopChild(child, 10_000);
  await child.stderr.cancel().catch(() => {});
}

Deno.test("the host archive installs with install.sh and runs the demo flow from the prefix", async (t) => {
  const target = requireHostTarget();
  const out = await Deno.makeTempDir({ prefix: "release-dist-" });
  const box = await makeSandbox();
  const children: Deno.ChildProcess[] = [];
  try {
    const env = offlineEnv();
    const built = await runBuild(["--target", target, "--out", out], env);
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const complete = await denortOffline(target, env);
    const archive = join(out, archiveName(target, complete));
    const unpacked = join(box.dir, "unpacked");
    await Deno.mkdir(unpacked);
    assert.equal((await runTool("tar", ["xzf", archive, "-C", unpacked])).code, 0);
    const installer = join(unpacked, archiveTop(target), "install.sh");

    await t.step("install.sh refuses a damaged archive and installs nothing", async () => {
      const damaged = join(box.dir, archiveName(target, complete));
      const bytes = await Deno.readFile(archive);
      bytes[bytes.length - 1] ^= 0xff;
      await Deno.writeFile(damaged, bytes);
      await Deno.copyFile(join(out, "SHA256SUMS"), join(box.dir, "SHA256SUMS"));
      const run = await shell(
        box,
        `sh '${installer}' --prefix '${box.prefix}' --allow-incomplete '${damaged}'`,
      );
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /^install\.sh: cannot install ".*": its SHA-256 is [0-9a-f]{64}, but ".*SHA256SUMS" says [0-9a-f]{64} \(damaged or not the published file\)$/m,
      );
      assert.equal(await Deno.stat(box.prefix).then(() => true, () => false), false);
    });

    if (!complete) {
      await t.step(
        "install.sh refuses an INCOMPLETE archive without --allow-incomplete",
        async () => {
          const run = await shell(box, `sh '${installer}' --prefix '${box.prefix}' '${archive}'`);
          assert.equal(run.code, 1);
          assert.match(
            run.stderr,
            /it is an INCOMPLETE development build, not a release \(pass --allow-incomplete/,
          );
        },
      );
    }

    await t.step(
      "install.sh --system --destdir stages the prefix and the launcher where the guides name it",
      async () => {
        const root = join(box.dir, "staged-root");
        const run = await shell(
          box,
          `sh '${installer}' --system --destdir '${root}' --allow-incomplete '${archive}'`,
        );
        assert.equal(run.code, 0, run.stderr);
        const guide = join(root, "usr/share/globus/streams/globus-streams-launch.sh");
        // The link names the final path; inside the staged root it leads to the launcher.
        assert.equal(await Deno.readLink(guide), "/usr/local/bin/globus-streams-launch.sh");
        const launcher = join(root, "usr/local/bin/globus-streams-launch.sh");
        assert.equal((await Deno.stat(launcher)).mode! & 0o777, 0o755);
        assert.ok((await Deno.stat(join(root, `usr/local/lib/${LIBRARY}`))).isFile);
        assert.match(
          run.stdout,
          new RegExp(
            `\n  ${guide.replaceAll(".", "\\.")} -> /usr/local/bin/globus-streams-launch\\.sh\n`,
          ),
        );
        assert.ok(!/is not on your PATH/.test(run.stdout), "staged: no PATH advice");
        const relative = await shell(
          box,
          `sh '${installer}' --destdir '${root}' --prefix relative --allow-incomplete '${archive}'`,
        );
        assert.equal(relative.code, 1);
        assert.match(relative.stderr, /cannot use --destdir with the relative prefix "relative"/);
      },
    );

    const installed = await t.step(
      "install.sh verifies the checksum, installs the layout and says what to add to PATH",
      async () => {
        const run = await shell(
          box,
          `sh '${installer}' --prefix '${box.prefix}' --allow-incomplete '${archive}'`,
          {
            PATH: SYSTEM_PATH,
          },
        );
        assert.equal(run.code, 0, run.stderr);
        assert.match(
          run.stdout,
          new RegExp(
            `^install\\.sh: verified ${
              archiveName(target, complete).replaceAll(".", "\\.")
            } against `,
            "m",
          ),
        );
        assert.ok(run.stdout.includes(`  export PATH="${box.prefix}/bin:$PATH"\n`), run.stdout);
        for (
          const file of [
            "bin/globus-streams-launch",
            "bin/globus-streams-launch.sh",
            `bin/${SUPERVISOR}`,
            `lib/${LIBRARY}`,
          ]
        ) {
          assert.equal((await Deno.stat(join(box.prefix, file))).mode! & 0o777, 0o755, file);
        }
        assert.equal(await Deno.readLink(join(box.prefix, "lib", LIBRARY_LINK)), LIBRARY);
        for (const doc of ["README.md", "LICENSE"]) {
          await Deno.stat(join(box.prefix, "share/doc/globus-streams", doc));
        }
        assert.equal(
          await Deno.stat(join(box.prefix, "bin/globus-streams")).then(() => true, () => false),
          complete,
        );
        const leftovers = [...Deno.readDirSync(box.prefix)].map((entry) => entry.name).sort();
        assert.deepEqual(leftovers, ["bin", "lib", "share"]);
      },
    );

    if (!installed) return;
    if (!complete) {
      // The development stand-in for the binary this archive lacks, inside the prefix.
      const standIn = join(box.prefix, "bin", "globus-streams");
      await Deno.writeTextFile(standIn, `#!/bin/sh\nexec '${repoRoot}/bin/globus-streams' "$@"\n`, {
        mode: 0o755,
      });
      await Deno.chmod(standIn, 0o755);
    }

    await t.step("globus-streams on PATH is the prefix's and prints the version", async () => {
      const run = await shell(
        box,
        "command -v globus-streams; command -v globus-streams-launch; globus-streams --version",
      );
      assert.equal(run.code, 0, run.stderr);
      const commit = complete
        ? (await runTool("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"])).stdout.trim()
        : "development tree";
      const [bin, launch, version] = run.stdout.trimEnd().split("\n");
      assert.equal(bin, join(box.prefix, "bin", "globus-streams"));
      assert.equal(launch, join(box.prefix, "bin", "globus-streams-launch"));
      assert.match(
        version,
        new RegExp(`^globus-streams ${VERSION.replaceAll(".", "\\.")} \\(${commit}(-dirty)?\\)$`),
      );
    });

    // The demo flow: emulator, tunnel, initialize both sides, server and client.
    const envFile = join(box.dir, "emulator.env");
    let exports: Record<string, string> = {};
    const started = await t.step(
      "the emulator starts from the prefix and writes its exports",
      async () => {
        const emulator = spawnIn(box, ["globus-streams", "emulator", "--env-file", envFile], {});
        children.push(emulator);
        exports = parseExports(await waitForFile(envFile, emulator, 60_000));
        for (
          const key of [
            "GLOBUS_SDK_SERVICE_URL_AUTH",
            "GLOBUS_SDK_SERVICE_URL_TRANSFER",
            "GLOBUS_CLI_CLIENT_ID",
            "GLOBUS_CLI_CLIENT_SECRET",
          ]
        ) {
          assert.ok(
            exports[key],
            `the env file lacks ${key}: ${JSON.stringify(Object.keys(exports))}`,
          );
        }
        for (const key of ["GLOBUS_SDK_SERVICE_URL_AUTH", "GLOBUS_SDK_SERVICE_URL_TRANSFER"]) {
          assert.match(exports[key], /^http:\/\/127\.0\.0\.1:\d+\//);
        }
      },
    );

    if (!started) return;
    const serverPort = freePort();
    const listenDir = join(box.dir, "listen");
    const initDir = join(box.dir, "init");
    let tunnel = "";
    let contact = "";
    const initialized = await t.step(
      "a tunnel is created and initialized on both sides",
      async () => {
        const initiator = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
        const listener = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
        assert.ok(
          initiator && listener,
          `the env file names no access points: ${JSON.stringify(Object.keys(exports))}`,
        );
        const created = await shell(
          box,
          `globus-streams tunnel create -F json '${initiator}' '${listener}'`,
          exports,
        );
        assert.equal(created.code, 0, created.stderr);
        tunnel = JSON.parse(created.stdout).data.id;
        assert.match(tunnel, /^[0-9a-f-]{36}$/);
        const listening = await shell(
          box,
          `globus-streams environment initialize --listener-contact-string 127.0.0.1:${serverPort} '${tunnel}'`,
          { ...exports, GLOBUS_STREAMS_DIR: listenDir },
        );
        assert.equal(listening.code, 0, listening.stderr);
        assert.match(
          listening.stdout,
          new RegExp(`The environment is initialized for use with tunnel ${tunnel}`),
        );
        const initiating = await shell(
          box,
          `globus-streams environment initialize --wait '${tunnel}'`,
          {
            ...exports,
            GLOBUS_STREAMS_DIR: initDir,
          },
        );
        assert.equal(initiating.code, 0, initiating.stderr);
        contact =
          initiating.stdout.match(/^Your contact string is: (globus\.[0-9a-f-]+:\d+)$/m)?.[1] ?? "";
        assert.ok(contact.startsWith(`globus.${tunnel}:`), initiating.stdout);
      },
    );

    if (!initialized) return;
    await t.step(
      "curl through the tunnel reaches a server started with globus-streams-launch -p",
      async () => {
        const site = join(box.dir, "site");
        await Deno.mkdir(site);
        await Deno.writeTextFile(join(site, "hello.txt"), "hello through the tunnel\n");
        const serve = [
          "python3",
          "-m",
          "http.server",
          String(serverPort),
          "--bind",
          "127.0.0.1",
          "--directory",
          site,
        ];
        const server = spawnIn(box, [
          "globus-streams-launch",
          "-p",
          String(serverPort),
          tunnel,
          ...serve,
        ], {
          ...exports,
          GLOBUS_STREAMS_DIR: listenDir,
        });
        children.push(server);
        // globus.<id> resolves only through the library, and its port is the conf's fake
        // port, not the server's: the answer can only have come through the tunnel.
        assert.notEqual(contact.split(":")[1], String(serverPort));
        const curl =
          `globus-streams-launch '${tunnel}' curl -sS -f --max-time 10 'http://${contact}/hello.txt'`;
        const deadline = Date.now() + 60_000;
        let last = { code: -1, stdout: "", stderr: "" };
        while (Date.now() < deadline) {
          last = await shell(box, curl, { ...exports, GLOBUS_STREAMS_DIR: initDir });
          if (last.code === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 250)); // the server may still be starting
        }
        assert.equal(last.code, 0, `curl through the tunnel failed: ${last.stderr}`);
        assert.equal(last.stdout, "hello through the tunnel\n");
      },
    );
  } finally {
    for (const child of children.reverse()) await stop(child);
    await Deno.remove(out, { recursive: true });
    await Deno.remove(box.dir, { recursive: true });
  }
});
