// Issue 10, initiating side: programs nobody here wrote (curl, wget, python3 urllib and
// asyncio, node net and fetch, Java HttpURLConnection and NIO, git over dumb http), each
// started under bin/globus-streams-launch, fetch a file from a python3 http.server that
// runs under `-p` on the listening side. Each dials three targets:
//   - globus.<id> on the contact (fake) port,
//   - globus.<id> on another port,
//   - the tunnel's listener contact itself (transparent mode, GLOBUS_STREAMS_TUNNEL).
// Every fetch must go through the tunnel: the emulator's initiating access point logs one
// more stream that passed GSA1 on its LAN leg. None may reach an address directly: a plain
// TCP server that counts connections listens on the ports the client dials (the other port
// and the fake port, on every local address, so a connect to the access point's address
// 127.0.0.1 or to any other loopback address is seen), and must count zero; a direct
// connect to the listener contact would show in the listening app's log as a peer that
// does not speak GSA1, and must not.
import assert from "node:assert/strict";
import {
  compileJava,
  fixtures,
  freePort,
  type Proc,
  pythonExe,
  requires,
  run,
  runInitiator,
  type RunResult,
  startListeningApp,
  startTunnelWorld,
  type TunnelWorld,
} from "./_support.ts";

/** How long a client may take (a JVM starts in about a second on this machine). */
const CLIENT_TIMEOUT_MS = 30_000;
/** How long after a client exits its stream's line may take to appear in the emulator's log. */
const STREAM_LOG_WAIT_MS = 3_000;

/** A plain TCP server on every local address that counts and closes what it accepts. */
class CountingServer {
  count = 0;
  readonly #listener: Deno.Listener;
  readonly #loop: Promise<void>;

  constructor(readonly port: number) {
    const listener = Deno.listen({ hostname: "0.0.0.0", port });
    this.#listener = listener;
    this.#loop = (async () => {
      try {
        for await (const conn of listener) {
          this.count++;
          conn.close();
        }
      } catch {
        // closed
      }
    })();
  }

  async close(): Promise<void> {
    this.#listener.close();
    await this.#loop;
  }
}

/** What one client is given to dial. */
interface Target {
  /** What the test's name says. */
  label: string;
  host: string;
  port: number;
}

/** A client program: how to run it (argv) for a target, and what it prints on success. */
interface Client {
  name: string;
  /** The commands it needs, for `requires`. */
  needs: string[];
  argv(target: Target, world: TunnelWorld): Promise<string[]>;
  /** Checks the run's result; the body served is `hello`. */
  check(result: RunResult, world: TunnelWorld, hello: string, target: Target): Promise<void>;
}

const url = (t: Target, path: string) => `http://${t.host}:${t.port}${path}`;
/** Each target clones into its own dir. */
const cloneDir = (world: TunnelWorld, t: Target) => `${world.root}/clone-${t.port}`;

/** The body on stdout is exactly the served file. */
function bodyIs(result: RunResult, _world: TunnelWorld, hello: string): Promise<void> {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  assert.equal(result.stdout, hello);
  return Promise.resolve();
}

const clients: Client[] = [
  {
    name: "curl",
    needs: ["curl"],
    argv: (t) =>
      Promise.resolve(["curl", "-sS", "--noproxy", "*", "--max-time", "20", url(t, "/hello.txt")]),
    check: bodyIs,
  },
  {
    name: "wget",
    needs: ["wget"],
    argv: (t) =>
      Promise.resolve([
        "wget",
        "-q",
        "--no-proxy",
        "--tries=1",
        "--timeout=20",
        "-O",
        "-",
        url(t, "/hello.txt"),
      ]),
    check: bodyIs,
  },
  {
    name: "python3 urllib",
    needs: ["python3"],
    argv: async (t) => [
      await pythonExe(),
      "-c",
      "import sys, urllib.request as u\n" +
      "opener = u.build_opener(u.ProxyHandler({}))\n" +
      "sys.stdout.buffer.write(opener.open(sys.argv[1], timeout=20).read())",
      url(t, "/hello.txt"),
    ],
    check: bodyIs,
  },
  {
    name: "python3 asyncio open_connection",
    needs: ["python3"],
    argv: async (t) => [
      await pythonExe(),
      `${fixtures}http_get_asyncio.py`,
      t.host,
      String(t.port),
      "/hello.txt",
    ],
    check: bodyIs,
  },
  {
    name: "node net.connect",
    needs: ["node"],
    argv: (t) =>
      Promise.resolve([
        "node",
        `${fixtures}http_get_net.mjs`,
        t.host,
        String(t.port),
        "/hello.txt",
      ]),
    check: bodyIs,
  },
  {
    name: "node fetch",
    needs: ["node"],
    argv: (t) => Promise.resolve(["node", `${fixtures}http_get_fetch.mjs`, url(t, "/hello.txt")]),
    check: bodyIs,
  },
  {
    name: "Java HttpURLConnection",
    needs: ["java", "javac"],
    argv: async (t) => ["java", "-cp", await compileJava(), "HttpGet", url(t, "/hello.txt")],
    check: bodyIs,
  },
  {
    name: "Java NIO SocketChannel",
    needs: ["java", "javac"],
    argv: async (t) => [
      "java",
      "-cp",
      await compileJava(),
      "NioGet",
      t.host,
      String(t.port),
      "/hello.txt",
    ],
    check: bodyIs,
  },
  {
    name: "git ls-remote (dumb http)",
    needs: ["git"],
    argv: (t) => Promise.resolve(["git", "ls-remote", url(t, "/repo.git")]),
    check: (result, world) => {
      assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^${commitOf(world)}\\trefs/heads/main$`, "m"));
      return Promise.resolve();
    },
  },
  {
    name: "git clone (dumb http)",
    needs: ["git"],
    argv: (t, world) =>
      Promise.resolve([
        "git",
        "clone",
        "-q",
        url(t, "/repo.git"),
        cloneDir(world, t),
      ]),
    check: async (result, world, hello, target) => {
      assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
      assert.equal(await Deno.readTextFile(`${cloneDir(world, target)}/hello.txt`), hello);
    },
  },
];

// --- the served site: a file and a bare git repository for dumb http ------------------

const commits = new WeakMap<TunnelWorld, string>();
function commitOf(world: TunnelWorld): string {
  return commits.get(world)!;
}

const gitEnv = {
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "test",
  GIT_AUTHOR_EMAIL: "test@example.org",
  GIT_COMMITTER_NAME: "test",
  GIT_COMMITTER_EMAIL: "test@example.org",
};

async function git(args: string[], cwd: string, home: string): Promise<string> {
  const result = await run("git", args, { cwd, env: { ...gitEnv, HOME: home } });
  if (result.code !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

/** www/hello.txt and www/repo.git (a bare repo holding hello.txt, after update-server-info). */
async function makeSite(world: TunnelWorld, hello: string, withGit: boolean): Promise<string> {
  const www = `${world.root}/www`;
  await Deno.mkdir(www);
  await Deno.writeTextFile(`${www}/hello.txt`, hello);
  if (withGit) {
    const home = `${world.root}/listener/home`;
    const work = `${world.root}/work`;
    await Deno.mkdir(work);
    await git(["init", "-q", "-b", "main"], work, home);
    await Deno.writeTextFile(`${work}/hello.txt`, hello);
    await git(["add", "hello.txt"], work, home);
    await git(["commit", "-q", "-m", "hello"], work, home);
    commits.set(world, await git(["rev-parse", "HEAD"], work, home));
    await git(["clone", "-q", "--bare", work, `${www}/repo.git`], world.root, home);
    await git(["update-server-info"], `${www}/repo.git`, home);
  }
  return www;
}

// --- proof of the path taken ----------------------------------------------------------

/** Streams the initiating access point logged as passing GSA1 on its LAN leg. */
function tunnelledStreams(world: TunnelWorld): number {
  const short = `tunnel ${world.tunnelId.slice(0, 8)}\\.\\.`;
  const pattern = new RegExp(`^\\[ap site-a\\] ${short}: stream \\d+ closed: lan gsa1 ok`);
  return world.emulator.stderr().split("\n").filter((line) => pattern.test(line)).length;
}

/**
 * Peers the listening app's accept() turned away (its debug lines, e.g. "gsa1 failed: the
 * peer does not speak GSA1"): what a direct connect to the listener contact becomes.
 */
function directPeers(app: Proc): number {
  return (app.stderr().match(/\[accept\] [^\n]*gsa1 (failed|refused)/g) ?? []).length;
}

async function waitForStreams(world: TunnelWorld, above: number): Promise<number> {
  const deadline = Date.now() + STREAM_LOG_WAIT_MS;
  while (tunnelledStreams(world) <= above && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return tunnelledStreams(world) - above;
}

for (const client of clients) {
  const needed = await requires(...client.needs);
  Deno.test({
    name:
      `${client.name} under the launcher goes through the tunnel, never around it${needed.note}`,
    ignore: needed.ignore,
  }, async (t) => {
    await using world = await startTunnelWorld();
    const hello = `hello from the listening site ${crypto.randomUUID()}\n`;
    const www = await makeSite(world, hello, client.name.startsWith("git"));
    const python = await pythonExe();
    const app = await startListeningApp(world, [
      python,
      "-u",
      "-m",
      "http.server",
      "--bind",
      world.listenerHost,
      "--directory",
      www,
      String(world.listenerPort),
    ], { ready: /^Serving HTTP on / });
    const otherPort = freePort();
    const counters = [new CountingServer(otherPort)];
    // The fake port is only a number in the conf; count there too when it is free.
    try {
      counters.push(new CountingServer(world.fakePort));
    } catch {
      console.error(`fake port ${world.fakePort} is in use here: not counted`);
    }
    const targets: Target[] = [
      { label: "globus.<id> on the contact port", host: world.name, port: world.fakePort },
      { label: "globus.<id> on another port", host: world.name, port: otherPort },
      { label: "the listener contact", host: world.listenerHost, port: world.listenerPort },
    ];
    try {
      for (const target of targets) {
        await t.step(target.label, async () => {
          const streamsBefore = tunnelledStreams(world);
          const directBefore = directPeers(app);
          const countedBefore = counters.map((c) => c.count);
          let result: RunResult;
          try {
            result = await runInitiator(world, await client.argv(target, world), {
              timeoutMs: CLIENT_TIMEOUT_MS,
              env: { ...gitEnv, GLOBUS_STREAMS_DEBUG: undefined },
            });
          } catch (error) {
            throw new Error(`${client.name} to ${target.host}:${target.port}: ${error}`);
          }
          const streams = await waitForStreams(world, streamsBefore);
          const counted = counters.map((c, i) => `${c.port}: ${c.count - countedBefore[i]}`);
          const direct = directPeers(app) - directBefore;
          const seen = `${client.name} to ${target.host}:${target.port}: ` +
            `exit ${result.code}, ${streams} tunnelled stream(s), plain servers counted ` +
            `{${counted.join(", ")}}, ${direct} direct peer(s) at the listening app; ` +
            `stdout ${JSON.stringify(result.stdout.slice(0, 200))}, stderr ` +
            `${JSON.stringify(result.stderr.slice(-600))}`;
          assert.deepEqual(
            counters.map((c, i) => c.count - countedBefore[i]),
            counters.map(() => 0),
            `reached a plain server directly: ${seen}`,
          );
          assert.equal(direct, 0, `reached the listener contact directly: ${seen}`);
          assert.ok(streams >= 1, `no stream through the tunnel: ${seen}`);
          await client.check(result, world, hello, target).catch((error) => {
            throw new Error(`${error.message}\n${seen}`);
          });
        });
      }
    } finally {
      for (const counter of counters) await counter.close();
      await app.stop();
    }
  });
}

// The control: the same probes see a client that goes around the tunnel. curl without
// the launcher, to the access point's address on the other port and to the listener
// contact, is counted by the plain server and turned away by the listening app.
const curl = await requires("curl");
Deno.test({
  name:
    `control: without the launcher, the plain server and the listening app see curl${curl.note}`,
  ignore: curl.ignore,
}, async () => {
  await using world = await startTunnelWorld();
  const www = await makeSite(world, "hello\n", false);
  const app = await startListeningApp(world, [
    await pythonExe(),
    "-u",
    "-m",
    "http.server",
    "--bind",
    world.listenerHost,
    "--directory",
    www,
    String(world.listenerPort),
  ], { ready: /^Serving HTTP on / });
  const counter = new CountingServer(freePort());
  try {
    const plain = (port: number) =>
      run("curl", ["-sS", "--noproxy", "*", "--max-time", "10", `http://127.0.0.1:${port}/`], {
        timeoutMs: CLIENT_TIMEOUT_MS,
      });
    await plain(counter.port);
    await plain(world.listenerPort);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(counter.count, 1);
    assert.equal(directPeers(app), 1, app.stderr());
    assert.equal(tunnelledStreams(world), 0);
  } finally {
    await counter.close();
    await app.stop();
  }
});
