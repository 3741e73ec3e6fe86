// Attacks on the seccomp engine (globus-streams-supervise) the way a user's program would
// make them, each a real static program against the fake `globus-streams` and a test
// access point playing GSA1: signal storms around connect(), a program killed by SIGKILL,
// connections made through io_uring (which no seccomp filter sees), and a lookup that
// never answers the launcher's check.
import assert from "node:assert/strict";
import {
  buildLibrary,
  fakeBin,
  freePort,
  launcher,
  run,
  secret,
  secretId,
  startAccessPoint,
  startServer,
  tunnelId,
  writeAnswer,
} from "./_support.ts";
import { compileStatic, supervisor } from "./_seccomp.ts";

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "gs-seccomp-attack-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function answerFor(port: number) {
  return {
    tunnel_id: tunnelId,
    connector_contact_string: `127.0.0.1:${port}`,
    fake_port: 4001,
    lankey: secret,
    lankey_id: secretId,
    ttl_seconds: 30,
  };
}

function supervisedEnv(answer: string, extra: Record<string, string | undefined> = {}) {
  return {
    GLOBUS_STREAMS_TUNNEL: tunnelId,
    GLOBUS_STREAMS_BIN: fakeBin,
    GLOBUS_STREAMS_DEBUG: undefined,
    FAKE_ANSWER: answer,
    ...extra,
  };
}

/** True when io_uring_setup() works here at all (it can be switched off by sysctl). */
async function ioUringWorks(): Promise<boolean> {
  const program = await compileStatic("uring_socket");
  const probe = await run(program, ["connect", "127.0.0.1", "1"]);
  return !/^setup errno/m.test(probe.stdout);
}

/** A plain TCP server that only counts the connections it gets. */
function startCounter(hostname: string) {
  const listener = Deno.listen({ hostname, port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      await accepting;
    },
  };
}

Deno.test("a program killed by SIGKILL: the supervisor dies of SIGKILL too (status 137), without a panic", async () => {
  await buildLibrary();
  const killed = await run(supervisor, ["sh", "-c", "kill -KILL $$"]);
  // Seen: 134 and "panic: reached unreachable code" (sigaction() on SIGKILL asserts).
  assert.doesNotMatch(killed.stderr, /panic/, killed.stderr);
  assert.equal(killed.code, 137, killed.stderr);
});

/**
 * A forwarder in front of port that waits delayMs before connecting on: a tunnel connect
 * then takes longer than the storm's 1 ms, so signals land inside it on every connect.
 */
function startSlowForwarder(port: number, delayMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const forward = async (conn: Deno.Conn) => {
    open.add(conn);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
    open.add(upstream);
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
  };
  const accepting = (async () => {
    for await (const conn of listener) forward(conn).catch(() => {});
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Closed by its pipe already.
        }
      }
    },
  };
}

for (const mode of ["restart", "retry"]) {
  const how = mode === "restart" ? "with SA_RESTART" : "without SA_RESTART, made again after EINTR";
  Deno.test(`20 connects into the tunnel under SIGALRM every millisecond (${how}) all succeed`, async () => {
    await buildLibrary();
    const storm = await compileStatic("signal_storm");
    const ap = startAccessPoint();
    // An access point 3 ms away: without it the storm hits a connect only under load.
    const slow = startSlowForwarder(ap.port, 3);
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(slow.port));
        const result = await run(supervisor, [storm, mode, "127.77.83.1", "4001", "20"], {
          env: supervisedEnv(answer),
          // Seen: 20 connects do not finish in 40 s (each "gsa1 timed out" costs 10 s).
          timeoutMs: 60_000,
        });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        // A plain loopback connect under the same storm never fails: the kernel restarts
        // (or, made again, completes) a blocking connect. Seen under the supervisor, both
        // variants: most of the 20 fail with "errno 114" (EALREADY) or "errno 106"
        // (EISCONN), and the supervisor logs "gsa1 timed out" and "cannot reach the access
        // point" for connects it made twice on one socket. With no delay, under load only.
        assert.match(result.stdout, /^ok 20 failed 0 /m, result.stdout);
      });
    } finally {
      await slow.close();
      await ap.close();
    }
  });
}

Deno.test("a connect through io_uring to the tunnel's address does not reach it in clear", async () => {
  await buildLibrary();
  if (!(await ioUringWorks())) return;
  const program = await compileStatic("uring_socket");
  // A plain server where the tunnel's address is: nothing supervised may ever reach it.
  const counter = startCounter("127.77.83.1");
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(1));
      const result = await run(
        supervisor,
        [program, "connect", "127.77.83.1", String(counter.port)],
        { env: supervisedEnv(answer) },
      );
      // Seen: "connected", and the plain server counted it (IORING_OP_CONNECT is no system
      // call: the filter never sees it). Expected: refused, as io_uring_setup() could be.
      assert.doesNotMatch(result.stdout, /^connected$/m, result.stdout);
      assert.equal(counter.connections, 0);
    });
  } finally {
    await counter.close();
  }
});

Deno.test("an accept through io_uring on a -p port does not hand the program a peer that skipped GSA1", async () => {
  await buildLibrary();
  if (!(await ioUringWorks())) return;
  const program = await compileStatic("uring_socket");
  await withTemp(async (dir) => {
    const port = freePort();
    const answer = await writeAnswer(dir, {
      connector_contact_string: "127.0.0.1:1",
      fake_port: 4001,
      lankey: secret,
      lankey_id: secretId,
    });
    const server = startServer(supervisor, [program, "accept", String(port)], {
      GLOBUS_STREAMS_BIN: fakeBin,
      FAKE_ANSWER: answer,
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
    });
    try {
      await server.waitFor("setup errno 1", 3_000).catch(() => {});
      if (!server.lines.some((line) => line.startsWith("setup errno"))) {
        await server.waitFor("listening");
        // A peer that skips GSA1 and speaks in clear.
        const peer = await Deno.connect({ hostname: "127.0.0.1", port });
        await peer.write(new TextEncoder().encode("in clear"));
        await new Promise((resolve) => setTimeout(resolve, 500));
        peer.close();
      }
    } finally {
      const result = await server.stop();
      // Seen: "accepted in clear" (IORING_OP_ACCEPT never reaches the supervisor).
      assert.doesNotMatch(result.stdout, /^accepted/m, result.stdout + result.stderr);
    }
  });
});

Deno.test("the launcher's check gives up on a lookup that never answers, with a one-line error", async () => {
  await buildLibrary();
  const client = await compileStatic("static_client");
  await withTemp(async (dir) => {
    const hung = `${dir}/hung-globus-streams`;
    await Deno.writeTextFile(hung, "#!/bin/sh\nexec sleep 600\n");
    await Deno.chmod(hung, 0o755);
    const started = performance.now();
    let result;
    try {
      result = await run(launcher, ["--engine", "seccomp", tunnelId, client, "127.0.0.1", "1"], {
        env: {
          GLOBUS_STREAMS_BIN: hung,
          GLOBUS_STREAMS_SUPERVISE: supervisor,
          GLOBUS_STREAMS_DEBUG: undefined,
        },
        timeoutMs: 45_000,
      });
    } catch (error) {
      // Seen: the launcher waits for ever (the supervisor's own lookup gives up after 15 s
      // with ETIMEDOUT under --no-check; the launcher's check has no deadline).
      assert.fail(`the launcher still waits after 45 s: ${error}`);
    }
    assert.notEqual(result.code, 0);
    assert.ok(performance.now() - started < 45_000);
    assert.match(result.stderr, /^globus-streams-launch: cannot use tunnel .*$/m);
  });
});

Deno.test("a static program opening /etc/hosts 2,000 times gets the tunnel's name every time and keeps its descriptors flat", async () => {
  await buildLibrary();
  const reader = await compileStatic("hosts_reader");
  await withTemp(async (dir) => {
    const answer = await writeAnswer(dir, answerFor(1));
    const result = await run(supervisor, [reader, "2000", "/etc/hosts"], {
      env: supervisedEnv(answer),
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const counts = /^opened 2000 failed 0 with-name 2000 fds (\d+) -> (\d+)$/m.exec(result.stdout);
    assert.ok(counts, result.stdout);
    assert.equal(counts[2], counts[1], "descriptors leaked");
    // Other files open untouched.
    const other = await run(supervisor, [reader, "200", "/etc/passwd"], {
      env: supervisedEnv(answer),
    });
    assert.match(other.stdout, /^opened 200 failed 0 with-name 0 fds (\d+) -> \1$/m);
  });
});
