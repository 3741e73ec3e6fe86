// The preload library on the initiating side, driven with real programs (python3, curl,
// node) against a fake `globus-streams` and a test access point playing GSA1.
import assert from "node:assert/strict";
import {
  answerFor,
  buildLibrary,
  count,
  fixtures,
  hasCommand,
  preloadEnv,
  processGone,
  run,
  type RunResult,
  startAccessPoint,
  tunnelId,
  tunnelReply,
  withTemp as withTempDir,
  writeAnswer,
} from "./_support.ts";

const client = `${fixtures}client.py`;
const hasCurl = await hasCommand("curl");
const hasNode = await hasCommand("node");
const hasJava = await hasCommand("java");
const hasIpv6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();
const name = `globus.${tunnelId}`;

interface ClientResult {
  address?: string;
  port?: number;
  reply?: string;
  errno?: number;
  gaierror?: number;
}

function parseClient(result: RunResult): ClientResult {
  assert.equal(result.code, 0, `client failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}");
}

const withTemp = (fn: (dir: string) => Promise<void>) => withTempDir("gs-native-", fn);

Deno.test("python3 resolves globus.<id> and connects through the access point with GSA1", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const log = `${dir}/lookups.log`;
      const result = await run("python3", [client, name.toUpperCase() + ".", "4001"], {
        env: preloadEnv(answer, { FAKE_LOG: log }),
      });
      const out = parseClient(result);
      // The tunnel's pool address, never the access point's: it can mean nothing else.
      assert.equal(out.address, "127.77.83.1");
      assert.equal(out.port, 4001);
      assert.match(out.reply ?? "", new RegExp(tunnelReply.trim()));
      assert.deepEqual(ap.results, ["accepted"]);
      assert.match(
        result.stderr,
        /\[connect\] globus\.5f2c8e4a:4001 -> 127\.0\.0\.1:\d+ \(tunnel 5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f, gsa1 ok\)/,
      );
      const lookups = await Deno.readTextFile(log);
      assert.equal(count(lookups, "argv="), 1, "one lookup, then the cache");
      assert.match(
        lookups,
        new RegExp(`argv=environment contact-lookup --format preload ${tunnelId}\n`),
      );
      assert.match(lookups, /ld_preload=unset/);
    });
  } finally {
    await ap.close();
  }
});

Deno.test({
  name: "curl reaches the access point through globus.<id> with a non-blocking connect",
  ignore: !hasCurl,
}, async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const result = await run("curl", ["-sS", "--max-time", "10", `http://${name}:4001/`], {
        env: preloadEnv(answer),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, tunnelReply);
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("a wrong LAN secret makes connect() fail with ECONNREFUSED and one debug line", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port, { lankey: "not-the-secret" }));
      const result = await run("python3", [client, name, "4001"], { env: preloadEnv(answer) });
      assert.equal(parseClient(result).errno, 111);
      assert.deepEqual(ap.results, ["bad_proof"]);
      assert.equal(count(result.stderr, "[connect]"), 1);
      assert.match(result.stderr, /gsa1 refused: bad proof/);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("without a LAN secret the connection is plain TCP", async () => {
  await buildLibrary();
  const ap = startAccessPoint({ secret: null });
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(
        dir,
        answerFor(ap.port, { lankey: undefined, lankey_id: undefined }),
      );
      const result = await run("python3", [client, name, "4001"], { env: preloadEnv(answer) });
      assert.match(parseClient(result).reply ?? "", /through the tunnel/);
      assert.deepEqual(ap.results, ["plain"]);
      assert.match(result.stderr, /no LAN secret, plain TCP/);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("a tunnel without conf fails with EAI_NONAME; the binary's stderr passes through", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const answer = await writeAnswer(dir, {});
    const result = await run("python3", [client, name, "4001"], {
      env: preloadEnv(answer, { FAKE_MODE: "fail" }),
    });
    assert.equal(parseClient(result).gaierror, -2);
    assert.match(result.stderr, /globus-streams: no environment for tunnel '5f2c8e4a-/);
    assert.equal(count(result.stderr, "[getaddrinfo]"), 1);
    assert.match(result.stderr, /exited with status 3/);
  });
});

Deno.test("a missing binary or an unreadable answer fails with EAI_NONAME, no crash", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const garbage = `${dir}/garbage.txt`;
    await Deno.writeTextFile(garbage, "Your contact string is: globus.x:1\n");
    const missing = await run("python3", [client, name, "4001"], {
      env: preloadEnv(garbage, { GLOBUS_STREAMS_BIN: `${dir}/no-such-binary` }),
    });
    assert.equal(parseClient(missing).gaierror, -2);
    assert.match(missing.stderr, /cannot find the globus-streams binary/);
    const unreadable = await run("python3", [client, name, "4001"], { env: preloadEnv(garbage) });
    assert.equal(parseClient(unreadable).gaierror, -2);
    assert.match(unreadable.stderr, /cannot read the lookup answer: NotKeyValue/);
    const quiet = await run("python3", [client, name, "4001"], {
      env: preloadEnv(garbage, { GLOBUS_STREAMS_DEBUG: undefined }),
    });
    assert.equal(parseClient(quiet).gaierror, -2);
    assert.equal(quiet.stderr, "", "nothing on stderr without GLOBUS_STREAMS_DEBUG");
  });
});

Deno.test("a hanging binary is killed, with what it started, after the lookup timeout", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const pidFile = `${dir}/sleep.pid`;
    const result = await run("python3", [client, name, "4001"], {
      env: preloadEnv(`${dir}/none`, {
        FAKE_MODE: "hang",
        FAKE_PID_FILE: pidFile,
        GLOBUS_STREAMS_LOOKUP_TIMEOUT: "500",
      }),
    });
    assert.equal(parseClient(result).gaierror, -3, "EAI_AGAIN");
    assert.ok(result.ms < 5000, `took ${result.ms} ms`);
    assert.match(result.stderr, /did not finish in time/);
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    assert.ok(await processGone(pid), `the fake's child ${pid} still runs`);
  });
});

Deno.test("GLOBUS_STREAMS_TUNNEL takes the listener contact, --host names and --all into the tunnel", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  const other = startAccessPoint({ secret: null });
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(
        dir,
        answerFor(ap.port, { listener_contact_string: "127.0.0.2:8443" }),
      );
      const env = preloadEnv(answer, { GLOBUS_STREAMS_TUNNEL: tunnelId });
      const listener = await run("python3", [client, "127.0.0.2", "8443"], { env });
      assert.match(parseClient(listener).reply ?? "", /through the tunnel/);
      const hosts = { ...env, GLOBUS_STREAMS_HOSTS: "real.example,other.example" };
      const named = await run("python3", [client, "REAL.example", "443"], { env: hosts });
      const namedOut = parseClient(named);
      assert.equal(namedOut.address, "127.77.83.1");
      assert.match(namedOut.reply ?? "", /through the tunnel/);
      // Without --all, a connection elsewhere passes through untouched.
      const elsewhere = await run("python3", [client, "127.0.0.1", String(other.port)], { env });
      assert.match(parseClient(elsewhere).reply ?? "", /through the tunnel/);
      assert.deepEqual(other.results, ["plain"]);
      const all = { ...env, GLOBUS_STREAMS_ALL: "1" };
      const anywhere = await run("python3", [client, "127.0.0.3", "9"], { env: all });
      assert.match(parseClient(anywhere).reply ?? "", /through the tunnel/);
      assert.deepEqual(ap.results, ["accepted", "accepted", "accepted"]);
      assert.deepEqual(other.results, ["plain"]);
    });
  } finally {
    await ap.close();
    await other.close();
  }
});

Deno.test({
  name: "an IPv6 access point is reached from AF_INET6 results and from AF_INET sockets",
  ignore: !hasIpv6,
}, async () => {
  await buildLibrary();
  const ap = startAccessPoint({ hostname: "::1" });
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, {
        ...answerFor(ap.port),
        connector_contact_string: `[::1]:${ap.port}`,
      });
      // Any family resolves (the pool address, v4-mapped for AF_INET6) and reaches the
      // IPv6 access point: the library puts a socket of its family in place when needed.
      const result = await run("python3", [client, name, "4001"], { env: preloadEnv(answer) });
      const out = parseClient(result);
      assert.equal(out.address, "127.77.83.1");
      assert.match(out.reply ?? "", /through the tunnel/);
      const v6 = await run("python3", [client, name, "4001", "--family", "6"], {
        env: preloadEnv(answer),
      });
      assert.equal(parseClient(v6).address, "::ffff:127.77.83.1");
      assert.match(parseClient(v6).reply ?? "", /through the tunnel/);
      // An AF_INET socket dialling the listener contact gets an AF_INET6 one in its place.
      const listenerAnswer = await writeAnswer(dir, {
        ...answerFor(ap.port),
        connector_contact_string: `[::1]:${ap.port}`,
        listener_contact_string: "127.0.0.2:8443",
      });
      const replaced = await run("python3", [client, "127.0.0.2", "8443"], {
        env: preloadEnv(listenerAnswer, { GLOBUS_STREAMS_TUNNEL: tunnelId }),
      });
      assert.match(parseClient(replaced).reply ?? "", /through the tunnel/);
      assert.match(replaced.stderr, /replaced by a new socket of the access point's family/);
      assert.deepEqual(ap.results, ["accepted", "accepted", "accepted"]);
    });
  } finally {
    await ap.close();
  }
});

const threaded = `
import socket, sys, threading
results = []
def go():
    s = socket.create_connection((sys.argv[1], 4001), timeout=10)
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    results.append(b"through the tunnel" in s.makefile("rb").read())
    s.close()
threads = [threading.Thread(target=go) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
import os
pid = os.fork()
if pid == 0:
    go()
    os._exit(0 if results[-1] else 1)
_, status = os.waitpid(pid, 0)
print(sum(results), status)
`;

Deno.test("threads share one lookup, and a forked child keeps working", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const log = `${dir}/lookups.log`;
      const result = await run("python3", ["-c", threaded, name], {
        env: preloadEnv(answer, { FAKE_LOG: log }),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "6 0");
      assert.equal(count(await Deno.readTextFile(log), "argv="), 1);
      assert.equal(ap.results.filter((r) => r === "accepted").length, 7);
    });
  } finally {
    await ap.close();
  }
});

Deno.test({ name: "node (libuv) connects through globus.<id>", ignore: !hasNode }, async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const script = `require("http").get("http://${name}:4001/", (r) => { let d = "";
        r.on("data", (c) => d += c); r.on("end", () => console.log(d)); })
        .on("error", (e) => { console.log("error " + e.code); });`;
      const result = await run("node", ["-e", script], { env: preloadEnv(answer) });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, tunnelReply + "\n");
      assert.doesNotMatch(result.stderr, /pthread_create/);
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
  }
});

Deno.test(
  { name: "java connects through globus.<id>, blocking and NIO", ignore: !hasJava },
  async () => {
    await buildLibrary();
    const ap = startAccessPoint();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        const result = await run("java", [`${fixtures}Client.java`, name, "4001"], {
          env: preloadEnv(answer),
          timeoutMs: 60_000,
        });
        assert.equal(result.code, 0, result.stderr);
        const head = `HTTP/1.0 200 OK\r\nContent-Length: ${tunnelReply.length}\r\n` +
          "Connection: close\r\n\r\n";
        const replyBytes = head.length + tunnelReply.length;
        assert.equal(result.stdout, `socket ${replyBytes}\nnio ${replyBytes}\n`);
        assert.deepEqual(ap.results, ["accepted", "accepted"]);
      });
    } finally {
      await ap.close();
    }
  },
);

Deno.test("an access point that never speaks makes connect() fail with ETIMEDOUT", async () => {
  await buildLibrary();
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })().catch(() => {});
  try {
    await withTemp(async (dir) => {
      const port = (silent.addr as Deno.NetAddr).port;
      const answer = await writeAnswer(dir, answerFor(port));
      const result = await run("python3", [client, name, "4001"], {
        env: preloadEnv(answer, { GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "1" }),
      });
      assert.equal(parseClient(result).errno, 110);
      assert.ok(result.ms < 5000, `took ${result.ms} ms`);
      assert.match(result.stderr, /gsa1 timed out/);
    });
  } finally {
    silent.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});

const leakCheck = `
import os, socket, sys
def fds():
    return len(os.listdir("/proc/self/fd"))
def attempt():
    try:
        s = socket.create_connection((sys.argv[1], 4001), timeout=10)
        s.close()
    except OSError:
        pass
attempt()
before = fds()
for _ in range(10):
    attempt()
print(before, fds())
`;

Deno.test("repeated lookups and refused handshakes leak no descriptors", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(
        dir,
        answerFor(ap.port, { lankey: "wrong", ttl_seconds: 0 }),
      );
      const log = `${dir}/lookups.log`;
      const result = await run("python3", ["-c", leakCheck, name], {
        env: preloadEnv(answer, { FAKE_LOG: log, GLOBUS_STREAMS_DEBUG: undefined }),
      });
      assert.equal(result.code, 0, result.stderr);
      const [before, after] = result.stdout.trim().split(" ").map(Number);
      assert.equal(after, before);
      assert.ok(count(await Deno.readTextFile(log), "argv=") >= 11, "a lookup per attempt");
      assert.equal(ap.results.length, 11);
      assert.ok(ap.results.every((r) => r === "bad_proof"));
    });
  } finally {
    await ap.close();
  }
});
