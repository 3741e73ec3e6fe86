// The seccomp engine (native/src/supervise_main.zig, globus-streams-supervise) with real
// static programs — a musl C client, Go clients and servers built with CGO_ENABLED=0 —
// against a fake `globus-streams` and a test access point playing GSA1.
import assert from "node:assert/strict";
import {
  answerFor,
  buildLibrary,
  count,
  fakeBin,
  fixtures,
  freePort,
  launcher,
  libraryPath,
  readExact,
  respondTo,
  run,
  secret,
  secretId,
  type Server,
  startAccessPoint,
  startServer,
  tunnelId,
  tunnelReply,
  within,
  withTemp as withTempDir,
  writeAnswer,
} from "./_support.ts";
import { buildGo, compileStatic, goCommand, isDynamicElf, supervisor } from "./_seccomp.ts";

const name = `globus.${tunnelId}`;

const withTemp = (fn: (dir: string) => Promise<void>) => withTempDir("gs-seccomp-", fn);

function supervisedEnv(answer: string, extra: Record<string, string | undefined> = {}) {
  return {
    GLOBUS_STREAMS_TUNNEL: tunnelId,
    GLOBUS_STREAMS_BIN: fakeBin,
    GLOBUS_STREAMS_DEBUG: "1",
    FAKE_ANSWER: answer,
    ...extra,
  };
}

Deno.test("the supervisor's check passes on this machine and the program's exit status comes back", async () => {
  await buildLibrary();
  const check = await run(supervisor, ["--check"]);
  assert.equal(check.code, 0, check.stderr);
  assert.equal((await run(supervisor, ["sh", "-c", "exit 7"])).code, 7);
  const killed = await run(supervisor, ["sh", "-c", "kill -TERM $$"]);
  assert.equal(killed.code, 143);
  // A process has one notification listener at most: supervision does not nest.
  const nested = await run(supervisor, [supervisor, "--check"]);
  assert.equal(nested.code, 1);
  assert.match(nested.stderr, /already runs under a seccomp notification listener/);
  // A signal sent to the supervisor goes on to the program.
  const forwarded = startServer(supervisor, [
    "sh",
    "-c",
    'trap "echo got-term; exit 5" TERM; echo listening; while :; do sleep 0.05; done',
  ], {});
  await forwarded.waitFor("listening");
  const stopped = await forwarded.stop();
  assert.equal(stopped.code, 5);
  assert.match(stopped.stdout, /got-term/);
  const missing = await run(supervisor, ["globus-streams-no-such-command"]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /cannot run 'globus-streams-no-such-command': command not found/);
});

Deno.test("a static musl client resolves globus.<id> from /etc/hosts and connects through the tunnel with GSA1", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const result = await run(supervisor, [client, name, "4001"], { env: supervisedEnv(answer) });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^address 127\.77\.83\.1$/m);
      assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
      assert.deepEqual(ap.results, ["accepted"]);
      assert.equal(count(result.stderr, "[connect]"), 1, result.stderr);
      assert.match(
        result.stderr,
        /\[connect\] 127\.77\.83\.1:4001 -> 127\.0\.0\.1:\d+ \(tunnel .*, gsa1 ok\)/,
      );
    });
  } finally {
    await ap.close();
  }
});

Deno.test("a static client gets ECONNREFUSED for a wrong secret and EHOSTUNREACH for an unknown pool address", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const wrong = await writeAnswer(dir, answerFor(ap.port, { lankey: "not-the-secret" }));
      const refused = await run(supervisor, [client, name, "4001"], { env: supervisedEnv(wrong) });
      assert.match(refused.stdout, /^errno 111$/m, refused.stderr);
      assert.deepEqual(ap.results, ["bad_proof"]);
      assert.match(refused.stderr, /gsa1 refused: bad proof/);
      const good = await writeAnswer(dir, answerFor(ap.port));
      const unknown = await run(supervisor, [client, "127.77.83.9", "80"], {
        env: supervisedEnv(good),
      });
      assert.match(unknown.stdout, /^errno 113$/m, unknown.stderr);
      assert.deepEqual(ap.results, ["bad_proof"]);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("--host names resolve to the tunnel too; a failed lookup fails the connect, and --all lets nothing out in clear", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const direct = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("direct\n"),
  );
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const hosts = { GLOBUS_STREAMS_HOSTS: "real.example,other.example" };
      const byHost = await run(supervisor, [client, "other.example", "443"], {
        env: supervisedEnv(answer, hosts),
      });
      assert.match(byHost.stdout, /^address 127\.77\.83\.1$/m, byHost.stderr);
      assert.match(byHost.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
      const failing = { FAKE_MODE: "fail" };
      const failed = await run(supervisor, [client, name, "4001"], {
        env: supervisedEnv(answer, failing),
      });
      assert.match(failed.stdout, /^errno 111$/m, failed.stderr);
      const port = String(direct.addr.port);
      const all = { ...failing, GLOBUS_STREAMS_ALL: "1" };
      const blocked = await run(supervisor, [client, "127.0.0.1", port], {
        env: supervisedEnv(answer, all),
      });
      assert.match(blocked.stdout, /^errno 111$/m, blocked.stderr);
      const through = await run(supervisor, [client, "127.0.0.1", port], {
        env: supervisedEnv(answer, { GLOBUS_STREAMS_ALL: "1" }),
      });
      assert.match(through.stdout, new RegExp(`^body ${tunnelReply}`, "m"), through.stderr);
      assert.deepEqual(ap.results, ["accepted", "accepted"]);
    });
  } finally {
    await ap.close();
    await direct.shutdown();
  }
});

Deno.test("with the listener contact from the launcher, other connects pass at once while the lookup hangs", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const direct = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("direct\n"),
  );
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(1));
      const hanging = {
        FAKE_MODE: "hang",
        FAKE_PID_FILE: `${dir}/hang.pid`,
        GLOBUS_STREAMS_LOOKUP_TIMEOUT: "4000",
        GLOBUS_STREAMS_LISTENER_CONTACT: "127.0.0.1:1",
      };
      const port = String(direct.addr.port);
      const started = performance.now();
      const result = await run(supervisor, [client, "127.0.0.1", port], {
        env: supervisedEnv(answer, hanging),
      });
      const waited = performance.now() - started;
      assert.match(result.stdout, /^body direct$/m, result.stderr);
      assert.ok(waited < 2000, `the connect waited ${waited} ms`);
      // Without it, a connect that may be to the listener contact waits for the lookup.
      const cold = { ...hanging, GLOBUS_STREAMS_LISTENER_CONTACT: undefined };
      const coldStarted = performance.now();
      const coldResult = await run(supervisor, [client, "127.0.0.1", port], {
        env: supervisedEnv(answer, cold),
      });
      assert.match(coldResult.stdout, /^body direct$/m, coldResult.stderr);
      assert.ok(performance.now() - coldStarted >= 3500);
    });
  } finally {
    await direct.shutdown();
  }
});

const hasIpv6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "an IPv4 socket is replaced by an IPv6 one, under the same number, when the access point is IPv6",
  ignore: !hasIpv6,
  async fn() {
    await buildLibrary();
    const client = await compileStatic("static_client");
    const ap = startAccessPoint({ hostname: "::1" });
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(
          dir,
          answerFor(0, { connector_contact_string: `[::1]:${ap.port}` }),
        );
        const result = await run(supervisor, [client, name, "4001"], {
          env: supervisedEnv(answer),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^address 127\.77\.83\.1$/m);
        assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
        assert.match(
          result.stderr,
          /\[connect\] 127\.77\.83\.1:4001 -> \[::1\]:\d+ \(tunnel .*, gsa1 ok\)/,
        );
        assert.deepEqual(ap.results, ["accepted"]);
      });
    } finally {
      await ap.close();
    }
  },
});

Deno.test("other connections of a supervised program pass through untouched", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const direct = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("direct\n"),
  );
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const port = String(direct.addr.port);
      const result = await run(supervisor, [client, "127.0.0.1", port], {
        env: supervisedEnv(answer),
      });
      assert.match(result.stdout, /^body direct$/m, result.stderr);
      assert.deepEqual(ap.results, []);
      assert.equal(count(result.stderr, "[connect]"), 0, result.stderr);
    });
  } finally {
    await ap.close();
    await direct.shutdown();
  }
});

Deno.test("a program that forks and execs a child that connects is supervised in the child too", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const result = await run(supervisor, [client, "--fork", name, "4001"], {
        env: supervisedEnv(answer),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
  }
});

const hasGo = (await goCommand()) !== null;

Deno.test({
  name: "a static Go client (CGO_ENABLED=0) resolves globus.<id> and fetches through the tunnel",
  ignore: !hasGo,
  async fn() {
    await buildLibrary();
    const client = await buildGo("go_client");
    const ap = startAccessPoint();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        const url = `http://${name}:4001/`;
        const result = await run(supervisor, [client, url], { env: supervisedEnv(answer) });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(result.stdout, `body ${tunnelReply}`);
        assert.deepEqual(ap.results, ["accepted"]);
        assert.match(result.stderr, /\[connect\] 127\.77\.83\.1:4001 -> .*gsa1 ok/);
      });
    } finally {
      await ap.close();
    }
  },
});

Deno.test({
  name: "a static Go client makes 1,000 requests over 32 connections through the tunnel",
  ignore: !hasGo,
  async fn() {
    await buildLibrary();
    const client = await buildGo("go_client");
    const ap = startAccessPoint();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        const url = `http://${name}:4001/`;
        const started = performance.now();
        const result = await run(supervisor, [client, "-n", "1000", "-c", "32", url], {
          env: supervisedEnv(answer, { GLOBUS_STREAMS_DEBUG: undefined }),
          timeoutMs: 120_000,
        });
        const seconds = (performance.now() - started) / 1000;
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(result.stdout, "ok 1000\n");
        // The test access point closes after each reply: 1,000 tunnel connects, each proven.
        assert.equal(ap.results.length, 1000);
        assert.ok(ap.results.every((outcome) => outcome === "accepted"));
        console.log(`1,000 requests over 32 connections: ${seconds.toFixed(2)} s`);
      });
    } finally {
      await ap.close();
    }
  },
});

Deno.test("a child left running after the program exits stays supervised, and the supervisor then ends", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const out = `${dir}/background.out`;
      const script = `(sleep 0.3; ${client} ${name} 4001 > ${out}.part; mv ${out}.part ${out}) &`;
      const started = performance.now();
      const result = await run(supervisor, ["sh", "-c", script], { env: supervisedEnv(answer) });
      assert.equal(result.code, 0, result.stderr);
      // run() returns once the background child, which shares its pipes, is gone.
      assert.ok(performance.now() - started >= 300);
      const text = await Deno.readTextFile(out);
      assert.match(text, new RegExp(`^body ${tunnelReply}`, "m"));
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("16 threads of a static program connect through the tunnel at once, with one lookup", async () => {
  await buildLibrary();
  const client = await compileStatic("process_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const log = `${dir}/lookups.log`;
      const result = await run(supervisor, [client, "threads", "16", name, "4001"], {
        env: supervisedEnv(answer, { FAKE_LOG: log }),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "ok 16\n");
      assert.equal(ap.results.length, 16);
      assert.equal(count(await Deno.readTextFile(log), "argv="), 1);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("sendto() and sendmsg() with MSG_FASTOPEN to globus.<id> go into the tunnel with their bytes", async () => {
  await buildLibrary();
  const client = await compileStatic("process_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      for (const how of ["sendto", "sendmsg"]) {
        const result = await run(supervisor, [client, "fastopen", how, name, "4001"], {
          env: supervisedEnv(answer),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^sent 18$/m, result.stdout);
        assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
      }
      assert.deepEqual(ap.results, ["accepted", "accepted"]);
    });
  } finally {
    await ap.close();
  }
});

for (const restart of [true, false]) {
  const how = restart ? "restarted (SA_RESTART)" : "interrupted (EINTR) and made again";
  Deno.test(`a connect ${how} by a signal during a slow lookup goes into the tunnel once`, async () => {
    await buildLibrary();
    const client = await compileStatic("process_client");
    const ap = startAccessPoint();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        // A lookup that takes a second: the program's alarm comes at 300 ms.
        const slowBin = `${dir}/slow-globus-streams`;
        await Deno.writeTextFile(slowBin, `#!/bin/sh\nsleep 1\nexec ${fakeBin} "$@"\n`);
        await Deno.chmod(slowBin, 0o755);
        const mode = restart ? "restart" : "norestart";
        const result = await run(supervisor, [client, "signal", mode, name, "4001"], {
          env: supervisedEnv(answer, { GLOBUS_STREAMS_BIN: slowBin }),
        });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /^alarms 1$/m);
        assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
        assert.equal(/^eintr$/m.test(result.stdout), !restart);
        assert.deepEqual(ap.results, ["accepted"]);
      });
    } finally {
      await ap.close();
    }
  });
}

Deno.test({
  name:
    "a dynamically linked Go client (cgo) fetches through the tunnel under the launcher's --engine seccomp",
  ignore: !hasGo,
  async fn() {
    await buildLibrary();
    const client = await buildGo("go_client", { cgo: true });
    assert.ok(await isDynamicElf(client), "the cgo build is dynamically linked");
    assert.ok(!(await isDynamicElf(await buildGo("go_client"))), "the plain build is static");
    const ap = startAccessPoint();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        const env = { GLOBUS_STREAMS_BIN: fakeBin, GLOBUS_STREAMS_DEBUG: "1", FAKE_ANSWER: answer };
        const url = `http://${name}:4001/`;
        // The fake binary answers only the library's lookup: no launcher check.
        const result = await run(launcher, [
          "--no-check",
          "--engine",
          "seccomp",
          tunnelId,
          client,
          url,
        ], { env });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.equal(result.stdout, `body ${tunnelReply}`);
        assert.deepEqual(ap.results, ["accepted"]);
      });
    } finally {
      await ap.close();
    }
  },
});

// --- the listening side (-p PORT) ---------------------------------------------------------

async function withSupervisedServer(
  command: string[],
  options: { port: number; lankey?: string; env?: Record<string, string> },
  fn: (server: Server) => Promise<void>,
): Promise<string> {
  await buildLibrary();
  const dir = await Deno.makeTempDir({ prefix: "gs-seccomp-listener-" });
  const answer = await writeAnswer(dir, {
    connector_contact_string: "127.0.0.1:1",
    fake_port: 4001,
    lankey: options.lankey,
    lankey_id: options.lankey ? secretId : undefined,
  });
  const server = startServer(supervisor, command, {
    GLOBUS_STREAMS_BIN: fakeBin,
    GLOBUS_STREAMS_DEBUG: "1",
    FAKE_ANSWER: answer,
    [`GLOBUS_STREAMS_INTERCEPT_PORT_${options.port}`]: tunnelId,
    ...options.env,
  });
  let failure: unknown;
  try {
    await server.waitFor("listening");
    await fn(server);
  } catch (error) {
    failure = error;
  }
  const result = await server.stop();
  await Deno.remove(dir, { recursive: true });
  if (failure !== undefined) {
    console.error(`server stderr:\n${result.stderr}`);
    throw failure;
  }
  return result.stderr;
}

Deno.test("a static musl server's blocking accept() returns only the peers that pass GSA1", async () => {
  const server = await compileStatic("static_server");
  const port = freePort();
  const stderr = await withSupervisedServer(
    [server, String(port)],
    { port, lankey: secret },
    async (running) => {
      assert.deepEqual(await respondTo(port, "not-the-secret", "intruder"), {
        outcome: "bad_proof",
      });
      assert.deepEqual(await respondTo(port, secret, "hello"), {
        outcome: "accepted",
        echo: "hello",
      });
      // The peer's address reached the program's accept() arguments.
      await running.waitFor("peer 127.0.0.1");
      assert.equal(running.lines.filter((line) => line.startsWith("peer")).length, 1);
    },
  );
  assert.match(stderr, /\[accept\] a peer on port \d+: gsa1 refused: bad proof/);
  assert.match(stderr, /\[accept\] a peer on port \d+: gsa1 ok/);
});

Deno.test({
  name:
    "a static Go HTTP server (non-blocking accept in epoll) serves through GSA1, 1,000 requests from 32 connections",
  ignore: !hasGo,
  async fn() {
    const server = await buildGo("go_server");
    const port = freePort();
    const env = { GLOBUS_STREAMS_DEBUG: "0" };
    await withSupervisedServer([server, String(port)], { port, lankey: secret, env }, async () => {
      const request = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
      const first = await respondTo(port, secret, request);
      assert.equal(first.outcome, "accepted");
      assert.match(first.echo ?? "", /from the go server/);
      assert.deepEqual(await respondTo(port, "not-the-secret", request), { outcome: "bad_proof" });
      let next = 0;
      let served = 0;
      const started = performance.now();
      const worker = async () => {
        while (next < 1000) {
          next += 1;
          const reply = await respondTo(port, secret, request);
          if (reply.outcome === "accepted" && /from the go server/.test(reply.echo ?? "")) {
            served += 1;
          }
        }
      };
      await within(Promise.all(Array.from({ length: 32 }, worker)), 120_000);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(served, 1000);
      console.log(`1,000 requests from 32 connections into the Go server: ${seconds.toFixed(2)} s`);
    });
  },
});

Deno.test("a blocking accept() interrupted by signals every 20 ms still hands over the peer that passes", async () => {
  const port = freePort();
  // Python retries accept() after each EINTR (PEP 475): each retry is a new notification.
  const script = [
    "import signal, socket, sys",
    "ticks = [0]",
    "def tick(signum, frame): ticks[0] += 1",
    "signal.signal(signal.SIGALRM, tick)",
    "signal.siginterrupt(signal.SIGALRM, True)",
    "signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)",
    "server = socket.socket()",
    "server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    `server.bind(("127.0.0.1", ${port}))`,
    "server.listen(16)",
    'print("listening", flush=True)',
    "conn, _ = server.accept()",
    "data = conn.recv(1024)",
    "conn.sendall(data)",
    'print("signals %d" % ticks[0], flush=True)',
    'print("got %s" % data.decode(), flush=True)',
    "signal.setitimer(signal.ITIMER_REAL, 0)",
  ].join("\n");
  await withSupervisedServer(
    ["python3", "-c", script],
    { port, lankey: secret },
    async (running) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await respondTo(port, secret, "hello"), {
        outcome: "accepted",
        echo: "hello",
      });
      await running.waitFor("got hello");
      const signals = running.lines.find((text) => text.startsWith("signals "));
      assert.ok(Number(signals?.split(" ")[1]) >= 10, signals);
    },
  );
});

const SILENT_PEERS = 200;

/** Opens count connections that read their HELLO and then stay silent. */
async function connectSilent(port: number, total: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let at = 0; at < total; at += 8) {
    await within(
      Promise.all(Array.from({ length: Math.min(8, total - at) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(conn);
        await readExact(conn, 37);
      })),
      10_000,
    );
  }
  return conns;
}

for (const nonblocking of [false, true]) {
  const kind = nonblocking ? "non-blocking (select)" : "blocking";
  Deno.test(`a good client gets through a supervised ${kind} listener while ${SILENT_PEERS} silent peers are connected`, async () => {
    const port = freePort();
    const args = [`${fixtures}echo_server.py`, String(port), "2"];
    if (nonblocking) args.push("--nonblocking");
    const env = { GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "30" };
    await withSupervisedServer(
      ["python3", ...args],
      { port, lankey: secret, env },
      async (running) => {
        assert.deepEqual(await respondTo(port, secret, "first"), {
          outcome: "accepted",
          echo: "first",
        });
        const silent = await connectSilent(port, SILENT_PEERS);
        try {
          const started = performance.now();
          assert.deepEqual(await respondTo(port, secret, "hello"), {
            outcome: "accepted",
            echo: "hello",
          });
          const waited = performance.now() - started;
          assert.ok(waited < 3000, `the good client waited ${waited} ms`);
          await running.waitFor("got hello");
        } finally {
          for (const conn of silent) conn.close();
        }
      },
    );
  });
}

// --- the launcher's engines ---------------------------------------------------------------

Deno.test("the launcher picks seccomp for a static client, and --engine seccomp works for a dynamic one", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const env = { GLOBUS_STREAMS_BIN: fakeBin, GLOBUS_STREAMS_DEBUG: "1", FAKE_ANSWER: answer };
      // The fake binary answers only the library's lookup: no launcher check.
      const result = await run(launcher, ["--no-check", tunnelId, client, name, "4001"], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^body ${tunnelReply}`, "m"));
      assert.match(result.stderr, /^\[init\] supervising /m);
      // python3 goes through glibc, which the seccomp engine serves as well.
      const python = await run(launcher, [
        "--no-check",
        "--engine",
        "seccomp",
        tunnelId,
        "python3",
        `${fixtures}client.py`,
        name,
        "4001",
      ], { env: { ...env, GLOBUS_STREAMS_LIB: libraryPath } });
      assert.equal(python.code, 0, python.stderr);
      assert.match(python.stdout, /through the tunnel/);
      assert.doesNotMatch(python.stderr, /\[getaddrinfo\] globus\./); // Not the library.
      assert.deepEqual(ap.results, ["accepted", "accepted"]);
    });
  } finally {
    await ap.close();
  }
});

Deno.test("the launcher refuses the seccomp engine with the reason where seccomp() is forbidden", async () => {
  await buildLibrary();
  const noSeccomp = await compileStatic("no_seccomp");
  const client = await compileStatic("static_client");
  const result = await run(noSeccomp, [launcher, tunnelId, client, name, "4001"], {
    env: { GLOBUS_STREAMS_BIN: fakeBin },
  });
  assert.equal(result.code, 1);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(
    result.stderr,
    /^globus-streams-launch: cannot run '.*static_client' under the seccomp engine: seccomp\(\) is forbidden here .*; use 'globus-streams forward' \(or connect\/expose\) instead$/m,
  );
  const usage = await run(launcher, ["--engine", "ptrace", tunnelId, "true"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /cannot use engine 'ptrace': want preload or seccomp/);
});
