// Issue 10's items that only a user's odd program reaches, each with a real program
// against the fake `globus-streams` and a test access point playing GSA1:
//   - item 5: a C program chains a tunnel name's result list with libc's (AI_CANONNAME)
//     and frees the chain with one freeaddrinfo, in both orders;
//   - item 6: SO_RCVTIMEO on a blocking intercepted listener;
//   - item 7: sendto()/sendmsg() with MSG_FASTOPEN on an unconnected TCP socket;
//   - the synthetic pool: an address of 127.77.83.0/24 this process never handed out.
// A plain server listening on every local address at the port dialled proves that
// nothing went around the tunnel: it must count zero connections.
import assert from "node:assert/strict";
import {
  answerFor,
  buildLibrary,
  fixtures,
  freePort,
  hasCommand,
  libraryPath,
  preloadEnv,
  repoRoot,
  respondTo,
  run,
  secret,
  startAccessPoint,
  startServer,
  tunnelId,
  withTemp as withTempDir,
  writeAnswer,
} from "./_support.ts";

const name = `globus.${tunnelId}`;
const EHOSTUNREACH = 113;
const EAGAIN = 11;

const withTemp = (fn: (dir: string) => Promise<void>) => withTempDir("gs-edges-", fn);

/** A plain TCP server on every local address that counts and closes what it accepts. */
class CountingServer {
  count = 0;
  readonly port = freePort();
  readonly #listener = Deno.listen({ hostname: "0.0.0.0", port: this.port });
  readonly #loop = (async () => {
    try {
      for await (const conn of this.#listener) {
        this.count++;
        conn.close();
      }
    } catch {
      // Closed.
    }
  })();

  async close(): Promise<void> {
    this.#listener.close();
    await this.#loop;
  }
}

/** The last stdout line of a run, parsed as JSON, after checking it exited 0. */
function lastJson(result: { code: number; stdout: string; stderr: string }) {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}");
}

// --- item 5 --------------------------------------------------------------------------

/** Compiles tests/native/fixtures/<file> with `zig cc` into dir; extra flags first. */
async function compile(dir: string, file: string, flags: string[] = []): Promise<string> {
  const out = `${dir}/${file.replace(/\.c$/, "")}`;
  const result = await run(
    `${repoRoot}dev`,
    ["zig", "cc", "-O2", "-Wall", "-Werror", ...flags, "-o", out, `${fixtures}${file}`],
    { timeoutMs: 180_000 },
  );
  if (result.code !== 0) throw new Error(`zig cc ${file} failed:\n${result.stderr}`);
  return out;
}

// Debian's multiarch directory: x86_64-linux-gnu or aarch64-linux-gnu.
const mallocDebug = `/usr/lib/${Deno.build.arch}-linux-gnu/libc_malloc_debug.so.0`;
const hasMallocDebug = await Deno.stat(mallocDebug).then(() => true, () => false);
const hasValgrind = await hasCommand("valgrind");

const chainedLines = [
  `tunnel+libc freed 2 nodes, canon ${name}`,
  "libc+tunnel freed 2 nodes, canon localhost",
];

Deno.test("a tunnel's getaddrinfo list chained with libc's frees as one list, both orders", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const program = await compile(dir, "chained_addrinfo.c");
    const answer = await writeAnswer(dir, answerFor(1));
    const plain = await run(program, [name], { env: preloadEnv(answer) });
    assert.equal(plain.code, 0, `exit ${plain.code}: ${plain.stderr}`);
    assert.deepEqual(plain.stdout.trim().split("\n"), chainedLines);
    if (!hasMallocDebug) return;
    // glibc's checking allocator aborts on a pointer it did not hand out.
    const checked = await run(program, [name], {
      env: preloadEnv(answer, {
        LD_PRELOAD: `${libraryPath}:${mallocDebug}`,
        MALLOC_CHECK_: "3",
      }),
    });
    assert.equal(checked.code, 0, `exit ${checked.code} under MALLOC_CHECK_=3: ${checked.stderr}`);
    assert.deepEqual(checked.stdout.trim().split("\n"), chainedLines);
  });
});

Deno.test({
  name: "valgrind finds no bad free and no leak in the chained lists" +
    (hasValgrind ? "" : " [skipped: valgrind not on PATH]"),
  ignore: !hasValgrind,
}, async () => {
  await withTemp(async (dir) => {
    // Valgrind does not decode every instruction of this machine's CPU: a baseline build.
    const prefix = `${dir}/prefix`;
    const built = await run(
      `${repoRoot}dev`,
      ["zig", "build", "-Dcpu=baseline", "--prefix", prefix],
      { cwd: `${repoRoot}native`, timeoutMs: 240_000 },
    );
    assert.equal(built.code, 0, built.stderr);
    const program = await compile(dir, "chained_addrinfo.c", ["-mcpu=baseline"]);
    const answer = await writeAnswer(dir, answerFor(1));
    const result = await run(
      "valgrind",
      ["-q", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite"]
        .concat([program, name]),
      {
        env: preloadEnv(answer, {
          LD_PRELOAD: `${prefix}/lib/libglobus_streams_client.so.0`,
          GLOBUS_STREAMS_DEBUG: undefined,
        }),
        timeoutMs: 120_000,
      },
    );
    // Valgrind's own warnings about Zig's debug info are not the program's errors.
    const errors = result.stderr.split("\n").filter((l) => /^==\d+== (Invalid|\d+ bytes)/.test(l));
    assert.equal(result.code, 0, `valgrind exit ${result.code}:\n${errors.join("\n")}`);
    assert.deepEqual(result.stdout.trim().split("\n"), chainedLines);
  });
});

// --- item 6 --------------------------------------------------------------------------

const rcvtimeoServer = `
import errno, socket, struct, sys, time
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 1, 0))
print("listening", flush=True)
while True:
    started = time.monotonic()
    try:
        conn, _ = s.accept()
    except OSError as error:
        print(f"error {error.errno} {time.monotonic() - started:.2f}", flush=True)
        continue
    data = conn.recv(1024)
    print("got " + data.decode(), flush=True)
    conn.sendall(data)
    conn.close()
`;

Deno.test("SO_RCVTIMEO on a blocking intercepted listener: EAGAIN after 1 s, and peers still pass", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const port = freePort();
    const answer = await writeAnswer(dir, answerFor(1));
    const server = startServer("python3", ["-c", rcvtimeoServer, String(port)], {
      ...preloadEnv(answer),
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
    });
    try {
      await server.waitFor("listening");
      // No peer: the first accept() gives up after the timeout, as libc's would.
      await waitForLine(server.lines, /^error /, 5000);
      const [, errno, seconds] = server.lines.find((l) => l.startsWith("error "))!.split(" ");
      assert.equal(Number(errno), EAGAIN);
      assert.ok(Number(seconds) >= 0.9 && Number(seconds) < 2, `gave up after ${seconds} s`);
      // A peer that passes GSA1 is still handed over.
      assert.deepEqual(await respondTo(port, secret, "hello"), {
        outcome: "accepted",
        echo: "hello",
      });
      await server.waitFor("got hello");
      assert.deepEqual(await respondTo(port, "wrong", "bad"), { outcome: "bad_proof" });
      assert.ok(!server.lines.includes("got bad"));
    } finally {
      await server.stop();
    }
  });
});

async function waitForLine(lines: string[], pattern: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!lines.some((l) => pattern.test(l))) {
    if (Date.now() > deadline) throw new Error(`no line ${pattern} in ${ms} ms: ${lines}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// --- item 7 and the pool ---------------------------------------------------------------

/**
 * Sends a request with MSG_FASTOPEN on an unconnected TCP socket (sendto, or sendmsg) to
 * HOST:PORT, reads the reply; prints {"reply": ...} or {"errno": N}.
 */
const fastOpenClient = `
import json, socket, sys
host, port, call = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(10)
request = b"GET / HTTP/1.0\\r\\n\\r\\n"
try:
    address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    if call == "sendto":
        s.sendto(request, socket.MSG_FASTOPEN, address)
    else:
        s.sendmsg([request], [], socket.MSG_FASTOPEN, address)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(json.dumps({"address": address[0], "reply": data.decode(errors="replace")}))
except OSError as error:
    print(json.dumps({"errno": error.errno}))
`;

/** Connects (connect(), or sendto with MSG_FASTOPEN) to HOST:PORT; prints {"errno": N}. */
const connectClient = `
import json, socket, sys
host, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(5)
try:
    if how == "connect":
        s.connect((host, port))
    else:
        s.sendto(b"x", socket.MSG_FASTOPEN, (host, port))
    print(json.dumps({"errno": 0}))
except OSError as error:
    print(json.dumps({"errno": error.errno}))
`;

for (const call of ["sendto", "sendmsg"]) {
  Deno.test(`${call}() with MSG_FASTOPEN to globus.<id> goes into the tunnel, on any port`, async () => {
    await buildLibrary();
    const ap = startAccessPoint();
    const plain = new CountingServer();
    try {
      await withTemp(async (dir) => {
        const answer = await writeAnswer(dir, answerFor(ap.port));
        for (const port of [4001, plain.port]) {
          const out = lastJson(
            await run("python3", ["-c", fastOpenClient, name, String(port), call], {
              env: preloadEnv(answer),
            }),
          );
          assert.equal(out.address, "127.77.83.1");
          assert.match(out.reply ?? `errno ${out.errno}`, /through the tunnel/);
        }
        // Both through GSA1 at the access point; nothing at the pool address's port.
        assert.deepEqual(ap.results, ["accepted", "accepted"]);
        assert.equal(plain.count, 0, "a plain server on every address saw a connection");
      });
    } finally {
      await ap.close();
      await plain.close();
    }
  });
}

Deno.test("a pool address never handed out fails with EHOSTUNREACH and reaches no server", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  const plain = new CountingServer();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const env = preloadEnv(answer, { GLOBUS_STREAMS_TUNNEL: tunnelId });
      const port = String(plain.port);
      for (const host of ["127.77.83.7", "::ffff:127.77.83.7", "127.77.83.0", "127.77.83.255"]) {
        for (const how of ["connect", "fastopen"]) {
          const out = lastJson(
            await run("python3", ["-c", connectClient, host, port, how], { env }),
          );
          assert.equal(out.errno, EHOSTUNREACH, `${how} to ${host}: errno ${out.errno}`);
        }
      }
      // Slot 1 taken by resolving the name: slot 2 still means nothing.
      const script = `import socket, sys
socket.getaddrinfo(sys.argv[1], 1)
s = socket.socket()
try:
    s.connect(("127.77.83.2", int(sys.argv[2])))
    print(0)
except OSError as error:
    print(error.errno)`;
      const after = await run("python3", ["-c", script, name, port], { env });
      assert.equal(after.code, 0, after.stderr);
      assert.equal(Number(after.stdout.trim()), EHOSTUNREACH);
      assert.equal(plain.count, 0, "a plain server on every address saw a connection");
      assert.deepEqual(ap.results, [], "nothing went to the access point either");
    });
  } finally {
    await ap.close();
    await plain.close();
  }
});

// --- defects found by trying (issue 10's promise: into the tunnel or a clear errno) -----

/** Connects to HOST:PORT, sends hello; prints what came back: "echo", "app", or an errno. */
const dialClient = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("tunnel" if b"through the tunnel" in data else "other")
`;

Deno.test("the listener contact goes into the tunnel on the first connect, before any answer, when the launcher did not check", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  const destination = new CountingServer();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, {
        ...answerFor(ap.port),
        listener_contact_string: `127.0.0.1:${destination.port}`,
      });
      // What `globus-streams-launch --no-check` leaves: the contact is not known yet.
      const env = preloadEnv(answer, {
        GLOBUS_STREAMS_TUNNEL: tunnelId,
        GLOBUS_STREAMS_LISTENER_CONTACT: undefined,
      });
      const result = await run(
        "python3",
        ["-c", dialClient, "127.0.0.1", String(destination.port)],
        { env },
      );
      assert.equal(destination.count, 0, "the first connect reached the listener contact in clear");
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "tunnel");
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
    await destination.close();
  }
});

const connectTwice = `
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
started = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    again = 0
except OSError as error:
    again = error.errno
took = time.monotonic() - started
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(json.dumps({"again": again, "ms": round(took * 1000), "reply": data.decode(errors="replace")}))
`;

Deno.test("a second connect() on a tunnelled socket gets the kernel's answer at once and leaves the connection alone", async () => {
  await buildLibrary();
  const ap = startAccessPoint();
  try {
    await withTemp(async (dir) => {
      const answer = await writeAnswer(dir, answerFor(ap.port));
      const result = await run("python3", ["-c", connectTwice, name, "4001"], {
        env: preloadEnv(answer, { GLOBUS_STREAMS_HANDSHAKE_TIMEOUT: "2" }),
      });
      assert.equal(result.code, 0, result.stderr);
      const out = lastJson(result);
      // The kernel says EISCONN; python's connect() on a socket with a timeout takes that as
      // "connected" (it does the same without the library), a blocking one raises it.
      assert.ok(
        out.again === 0 || out.again === 106,
        `the second connect gave errno ${out.again} (want EISCONN, 106, or python's 0): ${result.stderr}`,
      );
      assert.ok(out.ms < 500, `the second connect took ${out.ms} ms`);
      assert.match(out.reply, /through the tunnel/);
      assert.deepEqual(ap.results, ["accepted"]);
    });
  } finally {
    await ap.close();
  }
});

const deferredServer = `
import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
# As nginx's "listen ... deferred" does, after listen(): wake accept() only once data came.
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
print("listening", flush=True)
while True:
    conn, _ = s.accept()
    data = conn.recv(1024)
    print("got " + data.decode(), flush=True)
    conn.sendall(data)
    conn.close()
`;

Deno.test("a listener with TCP_DEFER_ACCEPT (nginx's deferred) still hands over a passed peer at once", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const port = freePort();
    const answer = await writeAnswer(dir, answerFor(1));
    const server = startServer("python3", ["-c", deferredServer, String(port)], {
      ...preloadEnv(answer),
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
    });
    try {
      await server.waitFor("listening");
      // The peer waits for the listener's HELLO, so a deferred accept never comes early;
      // the wake connection sends nothing either.
      for (const message of ["first", "second"]) {
        const started = performance.now();
        const outcome = await respondTo(port, secret, message);
        const waited = Math.round(performance.now() - started);
        assert.deepEqual(outcome, { outcome: "accepted", echo: message });
        assert.ok(waited < 1000, `the ${message} peer waited ${waited} ms`);
      }
    } finally {
      await server.stop();
    }
  });
});

const eventLoopServer = `
import select, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
s.setblocking(False)
print("listening", flush=True)
worst, last, end = 0.0, time.monotonic(), time.monotonic() + seconds
while time.monotonic() < end:
    readable, _, _ = select.select([s], [], [], 0.02)
    if readable:
        try:
            s.accept()[0].close()
        except BlockingIOError:
            pass
    now = time.monotonic()
    worst, last = max(worst, now - last), now
print(f"worst-stall-ms {round(worst * 1000)}", flush=True)
`;

Deno.test("a non-blocking listener's event loop never waits on a lookup that hangs", async () => {
  await buildLibrary();
  await withTemp(async (dir) => {
    const port = freePort();
    const server = startServer("python3", ["-c", eventLoopServer, String(port), "4"], {
      ...preloadEnv(`${dir}/none`, {
        FAKE_MODE: "hang",
        GLOBUS_STREAMS_LOOKUP_TIMEOUT: "2500",
        GLOBUS_STREAMS_DEBUG: undefined,
      }),
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${port}`]: tunnelId,
    });
    try {
      await server.waitFor("listening");
      // A peer arrives while the tunnel's first lookup hangs (the service went away).
      const peer = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await waitForLine(server.lines, /^worst-stall-ms /, 15_000);
      } finally {
        peer.close();
      }
      const stall = Number(
        server.lines.find((l) => l.startsWith("worst-stall-ms "))!.split(" ")[1],
      );
      assert.ok(stall < 500, `the event loop stood still ${stall} ms inside accept()`);
    } finally {
      await server.stop();
    }
  });
});
