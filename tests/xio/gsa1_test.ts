// The gsa1 transform over real loopback TCP: both roles, refusals with their reasons,
// stalled peers, replay, garbage, and secrets kept out of messages and logs. Peers
// that misbehave are raw Deno sockets driven with the handshake module.
import assert from "node:assert/strict";
import {
  answerHello,
  buildVerdict,
  challengerTag,
  HELLO_SIZE,
  newNonce,
  parseVerdict,
  PROOF_SIZE,
  VERDICT_SIZE,
} from "../../src/handshake/mod.ts";
import {
  DebugLog,
  handshakeReason,
  handshakeTimeoutMs,
  parseDebugSpec,
  type Server,
  Stack,
} from "../../src/xio/mod.ts";
import { bytes, decoder, expectXio } from "./_support.ts";

const TUNNEL = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";
const OTHER_TUNNEL = "00112233-4455-4677-8899-aabbccddeeff";
const SECRET_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const SECRET = "s3cret-lan-key-for-tests";
const STEP_MS = 300;

function challengerStack(attrs: Record<string, unknown> = { secret: SECRET }, debug?: DebugLog) {
  return Stack.parse(`tcp,gsa1:tunnel=${TUNNEL};timeout_ms=${STEP_MS}`, {
    attrs: { gsa1: attrs },
    debug,
  });
}

function responderStack(secret = SECRET, tunnel = TUNNEL, debug?: DebugLog) {
  return Stack.parse(
    `tcp,gsa1:role=responder;tunnel=${tunnel};secret_id=${SECRET_ID};timeout_ms=${STEP_MS}`,
    { attrs: { gsa1: { secret } }, debug },
  );
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

async function readExactly(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const n = await conn.read(buffer.subarray(at));
    if (n === null) throw new Error(`peer closed after ${at} of ${size} bytes`);
    at += n;
  }
  return buffer;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

async function withChallenger(
  attrs: Record<string, unknown> | undefined,
  body: (server: Server) => Promise<void>,
  debug?: DebugLog,
) {
  const server = await challengerStack(attrs, debug).listen("127.0.0.1:0");
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** A raw responder: answers HELLO with a real PROOF; returns the PROOF and the verdict. */
async function rawRespond(address: string, proofOverride?: Uint8Array) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: portOf(address) });
  try {
    const hello = await readExactly(conn, HELLO_SIZE);
    const session = await answerHello(hello, {
      tunnelId: TUNNEL,
      secret: SECRET,
      secretId: SECRET_ID,
    });
    await writeAll(conn, proofOverride ?? session.proof);
    return { proof: session.proof, verdict: parseVerdict(await readExactly(conn, VERDICT_SIZE)) };
  } finally {
    conn.close();
  }
}

Deno.test("gsa1: both roles accept with the same secret, then bytes pass unchanged", async () => {
  await withChallenger(undefined, async (server) => {
    const [accepted, opened] = await Promise.all([
      server.accept({ timeoutMs: 5000 }),
      responderStack().open(server.address, { timeoutMs: 5000 }),
    ]);
    try {
      assert.deepEqual(
        { ...accepted.info.gsa1, peer: undefined },
        {
          role: "challenger",
          tunnel: TUNNEL,
          secret_id: SECRET_ID,
          verdict: "accepted",
          peer: undefined,
        },
      );
      assert.equal(opened.info.gsa1.role, "responder");
      assert.equal(opened.info.gsa1.verdict, "accepted");
      await opened.write(bytes("GSA1 is over; this is the application"));
      const buffer = new Uint8Array(37);
      await accepted.read(buffer, { waitForBytes: 37, timeoutMs: 2000 });
      assert.equal(decoder.decode(buffer), "GSA1 is over; this is the application");
    } finally {
      await Promise.all([accepted.close(), opened.close()]);
    }
  });
});

Deno.test("gsa1: a challenger serving many tunnels looks the secret up by tunnel", async () => {
  const asked: [string, string | null][] = [];
  const secrets = (tunnelId: string, secretId: string | null) => {
    asked.push([tunnelId, secretId]);
    return tunnelId === OTHER_TUNNEL ? { secret: "other-secret" } : undefined;
  };
  const server = await Stack.parse(`tcp,gsa1:timeout_ms=${STEP_MS}`, {
    attrs: { gsa1: { secrets } },
  }).listen("127.0.0.1:0");
  try {
    const [accepted, opened] = await Promise.all([
      server.accept({ timeoutMs: 5000 }),
      responderStack("other-secret", OTHER_TUNNEL).open(server.address),
    ]);
    assert.deepEqual(asked, [[OTHER_TUNNEL, SECRET_ID]]);
    assert.equal(accepted.info.gsa1.tunnel, OTHER_TUNNEL);
    await Promise.all([accepted.close(), opened.close()]);
    // A tunnel the lookup does not know is refused as unknown on both sides.
    const refused = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    const error = await expectXio(responderStack().open(server.address), "SYSTEM");
    assert.equal(handshakeReason(error), "unknown_tunnel");
    assert.match(error.message, /refused for tunnel .*: unknown tunnel \(status 1\)/);
    assert.equal(handshakeReason(await refused), "unknown_tunnel");
  } finally {
    await server.close();
  }
});

Deno.test("gsa1: a wrong secret is refused, with the reason on both sides", async () => {
  await withChallenger(undefined, async (server) => {
    const accepting = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    const responderError = await expectXio(
      responderStack("wrong-secret").open(server.address),
      "SYSTEM",
    );
    assert.equal(handshakeReason(responderError), "bad_proof");
    const challengerError = await accepting;
    assert.equal(handshakeReason(challengerError), "bad_proof");
    assert.match(
      challengerError.message,
      /^Cannot accept "127\.0\.0\.1:\d+" with stack ".*" \(driver "gsa1"\): GSA1 handshake refused for tunnel 5f2c8e4a-.*: bad proof$/,
    );
    for (const error of [responderError, challengerError]) {
      assert.ok(!error.message.includes(SECRET) && !error.message.includes("wrong-secret"));
    }
  });
});

Deno.test("gsa1: the responder refuses a challenger that does not know the secret", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fake = (async () => {
    const conn = await listener.accept();
    try {
      const nc = newNonce();
      await writeAll(conn, new Uint8Array([0x47, 0x53, 0x41, 0x31, 0, ...nc]));
      const proof = await readExactly(conn, PROOF_SIZE);
      // Says "accepted", but its Tc is made with another secret.
      const tc = await challengerTag({
        secret: "not-the-secret",
        tunnelId: TUNNEL,
        secretId: SECRET_ID,
        nc,
        nr: proof.slice(36, 68),
      });
      await writeAll(conn, buildVerdict("accepted", tc));
      await conn.read(new Uint8Array(1)).catch(() => null); // until the responder closes
    } finally {
      conn.close();
    }
  })();
  try {
    const error = await expectXio(
      responderStack().open(`127.0.0.1:${(listener.addr as Deno.NetAddr).port}`),
      "SYSTEM",
    );
    assert.equal(handshakeReason(error), "bad_tag");
    assert.match(error.message, /the challenger's tag does not match/);
    await fake;
  } finally {
    listener.close();
  }
});

Deno.test("gsa1: refusals for an expired secret or a failed lookup carry their reason", async () => {
  for (
    const [secrets, reason] of [
      [() => ({ refuse: "secret_expired" }), "secret_expired"],
      [() => {
        throw new Error("conf file unreadable");
      }, "refused"],
    ] as const
  ) {
    await withChallenger({ secrets }, async (server) => {
      const accepting = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
      const error = await expectXio(responderStack().open(server.address), "SYSTEM");
      assert.equal(handshakeReason(error), reason);
      assert.equal(handshakeReason(await accepting), reason);
    });
  }
});

Deno.test("gsa1: a stalled peer is timed out on either side", async () => {
  // A client that connects and says nothing: the challenger gives up waiting for PROOF.
  await withChallenger(undefined, async (server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const started = performance.now();
    const error = await expectXio(server.accept({ timeoutMs: 5000 }), "CANCELED");
    const elapsed = performance.now() - started;
    assert.ok(error.timedOut);
    assert.match(error.message, new RegExp(`timed out waiting for PROOF after ${STEP_MS} ms`));
    assert.ok(elapsed >= STEP_MS - 20 && elapsed < 3000, `${elapsed} ms`);
    // The challenger closed the connection: the client reads HELLO, then the end.
    assert.equal((await readExactly(conn, HELLO_SIZE))[0], 0x47);
    assert.equal(await conn.read(new Uint8Array(1)), null);
    conn.close();
  });
  // A server that accepts and says nothing: the responder gives up waiting for HELLO;
  // one that sends HELLO but never a VERDICT: it gives up waiting for VERDICT.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  try {
    for (const stage of ["HELLO", "VERDICT"]) {
      const silent = (async () => {
        const conn = await listener.accept();
        if (stage === "VERDICT") {
          await writeAll(conn, new Uint8Array([0x47, 0x53, 0x41, 0x31, 0, ...newNonce()]));
          await readExactly(conn, PROOF_SIZE);
        }
        await conn.read(new Uint8Array(1)).catch(() => null);
        conn.close();
      })();
      const error = await expectXio(responderStack().open(address), "CANCELED");
      assert.ok(error.timedOut);
      assert.match(error.message, new RegExp(`as responder .* timed out waiting for ${stage}`));
      await silent;
    }
  } finally {
    listener.close();
  }
});

Deno.test("gsa1: the step timeout defaults to GLOBUS_STREAMS_HANDSHAKE_TIMEOUT", async () => {
  assert.equal(handshakeTimeoutMs(() => undefined), 10_000);
  assert.equal(handshakeTimeoutMs(() => "2.5"), 2500);
  assert.equal(handshakeTimeoutMs(() => "soon"), 10_000);
  assert.equal(handshakeTimeoutMs(() => "-1"), 10_000);
  const saved = Deno.env.get("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT");
  Deno.env.set("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT", "0.2");
  try {
    const server = await Stack.parse("tcp,gsa1", { attrs: { gsa1: { secret: SECRET } } })
      .listen("127.0.0.1:0");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const error = await expectXio(server.accept({ timeoutMs: 5000 }), "CANCELED");
    assert.match(error.message, /after 200 ms$/);
    conn.close();
    await server.close();
  } finally {
    if (saved === undefined) Deno.env.delete("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT");
    else Deno.env.set("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT", saved);
  }
});

Deno.test("gsa1: a replayed PROOF fails against the challenger's fresh nonce", async () => {
  await withChallenger(undefined, async (server) => {
    const first = server.accept({ timeoutMs: 5000 });
    const { proof, verdict } = await rawRespond(server.address);
    assert.equal(verdict.name, "accepted");
    await (await first).close();
    const second = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    const replay = await rawRespond(server.address, proof);
    assert.equal(replay.verdict.name, "bad_proof");
    assert.equal(handshakeReason(await second), "bad_proof");
  });
});

Deno.test("gsa1: garbage and truncated messages are refused and the server goes on", async () => {
  await withChallenger(undefined, async (server) => {
    const port = portOf(server.address);
    // Not GSA1 at all: refused with status 4.
    const http = await Deno.connect({ hostname: "127.0.0.1", port });
    const accepting = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    await readExactly(http, HELLO_SIZE);
    await writeAll(http, bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n".padEnd(PROOF_SIZE, " ")));
    assert.equal(parseVerdict(await readExactly(http, VERDICT_SIZE)).name, "refused");
    assert.equal(handshakeReason(await accepting), "malformed");
    http.close();
    // A PROOF cut short: the peer closed early.
    const short = await Deno.connect({ hostname: "127.0.0.1", port });
    const accepting2 = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    await readExactly(short, HELLO_SIZE);
    await writeAll(short, new Uint8Array(50));
    await short.closeWrite();
    const truncated = await accepting2;
    assert.equal(handshakeReason(truncated), "eof");
    assert.match(truncated.message, /closed after 50 of 100 bytes of PROOF/);
    short.close();
    // The server still serves a proper responder.
    const [accepted, opened] = await Promise.all([
      server.accept({ timeoutMs: 5000 }),
      responderStack().open(server.address),
    ]);
    await Promise.all([accepted.close(), opened.close()]);
  });
  // The responder side: garbage HELLO, short HELLO, short VERDICT, unknown status.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const cases: [string, (conn: Deno.Conn) => Promise<void>, string][] = [
    [
      "garbage HELLO",
      (c) => writeAll(c, bytes("SSH-2.0-OpenSSH_9.6\r\n".padEnd(HELLO_SIZE))),
      "malformed",
    ],
    ["short HELLO", (c) => writeAll(c, new Uint8Array(20)), "eof"],
    ["short VERDICT", async (c) => {
      await writeAll(c, new Uint8Array([0x47, 0x53, 0x41, 0x31, 0, ...newNonce()]));
      await readExactly(c, PROOF_SIZE);
      await writeAll(c, new Uint8Array(10));
    }, "eof"],
    ["unknown status", async (c) => {
      await writeAll(c, new Uint8Array([0x47, 0x53, 0x41, 0x31, 0, ...newNonce()]));
      await readExactly(c, PROOF_SIZE);
      await writeAll(c, new Uint8Array(VERDICT_SIZE).fill(7, 0, 1));
    }, "malformed"],
  ];
  try {
    for (const [label, behave, reason] of cases) {
      const peer = (async () => {
        const conn = await listener.accept();
        try {
          await behave(conn);
          await conn.closeWrite();
          await conn.read(new Uint8Array(200)).catch(() => null);
        } finally {
          conn.close();
        }
      })();
      const error = await expectXio(responderStack().open(address), "SYSTEM");
      assert.equal(handshakeReason(error), reason, label);
      await peer;
    }
  } finally {
    listener.close();
  }
});

Deno.test("gsa1: acceptRaw lets a slow handshake run beside a good one", async () => {
  await withChallenger(undefined, async (server) => {
    const staller = await Deno.connect({ hostname: "127.0.0.1", port: portOf(server.address) });
    const first = await server.acceptRaw({ timeoutMs: 5000 });
    const stalledOpen = expectXio(first.open(), "CANCELED");
    const opening = responderStack().open(server.address);
    const second = await server.acceptRaw({ timeoutMs: 5000 });
    const [accepted, opened] = await Promise.all([second.open(), opening]);
    assert.equal(accepted.info.gsa1.verdict, "accepted");
    assert.ok((await stalledOpen).timedOut);
    await expectXio(first.open(), "STATE");
    await Promise.all([accepted.close(), opened.close()]);
    staller.close();
  });
});

Deno.test("gsa1: secrets appear in no message and no debug line", async () => {
  const lines: string[] = [];
  const debug = new DebugLog(parseDebugSpec("ALL"), (line) => lines.push(line));
  await withChallenger({ secret: SECRET }, async (server) => {
    const good = await Promise.all([
      server.accept({ timeoutMs: 5000 }),
      responderStack(SECRET, TUNNEL, debug).open(server.address),
    ]);
    await Promise.all(good.map((h) => h.close()));
    const accepting = expectXio(server.accept({ timeoutMs: 5000 }), "SYSTEM");
    const bad = await expectXio(
      responderStack("another-secret", TUNNEL, debug).open(server.address),
      "SYSTEM",
    );
    await accepting;
    assert.ok(!bad.message.includes("another-secret"));
  }, debug);
  const text = lines.join("");
  assert.match(text, /\[gsa1\] challenger with .*: tunnel 5f2c8e4a-.*: accepted/);
  assert.match(
    text,
    /\[gsa1\] responder with .*: bad_proof: GSA1 handshake refused for tunnel 5f2c8e4a-/,
  );
  assert.ok(!text.includes(SECRET) && !text.includes("another-secret"));
});

Deno.test("gsa1: a stack without a secret, or with a bad id, is refused before any I/O", async () => {
  await expectXio(() => Stack.parse(`tcp,gsa1:role=responder;tunnel=${TUNNEL}`), "PARAMETER");
  await expectXio(
    () => Stack.parse("tcp,gsa1:role=responder", { attrs: { gsa1: { secret: "s" } } }),
    "PARAMETER",
  );
  const bad = await expectXio(
    () => Stack.parse("tcp,gsa1:tunnel=not-a-uuid", { attrs: { gsa1: { secret: "hunter2" } } }),
    "PARAMETER",
  );
  assert.match(bad.message, /option "tunnel" is "not-a-uuid": want a UUID/);
  assert.ok(!bad.message.includes("hunter2"));
  await expectXio(
    () => Stack.parse("tcp,gsa1", { attrs: { gsa1: { secrets: "not a function" } } }),
    "PARAMETER",
  );
  // The secret stays out of the stack's text.
  assert.ok(!responderStack().text.includes(SECRET));
});

// Not a wish but the documented limit (docs/handshake.md, "What GSA1 protects"): GSA1
// authenticates the ends when the connection is made and binds nothing after. When
// that changes, this test and the docs change together.
Deno.test("gsa1: an on-path relay of a good handshake then owns the plain stream", async () => {
  await withChallenger(undefined, async (server) => {
    const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const seenByRelay = new Uint8Array(12);
    const relaying = (async () => {
      const fromResponder = await relay.accept();
      const toChallenger = await Deno.connect({
        hostname: "127.0.0.1",
        port: portOf(server.address),
      });
      // Pass the three messages on unchanged, then speak for the responder.
      await writeAll(fromResponder, await readExactly(toChallenger, HELLO_SIZE));
      await writeAll(toChallenger, await readExactly(fromResponder, PROOF_SIZE));
      await writeAll(fromResponder, await readExactly(toChallenger, VERDICT_SIZE));
      seenByRelay.set(await readExactly(fromResponder, seenByRelay.length));
      await writeAll(toChallenger, bytes("from the relay"));
      return [fromResponder, toChallenger];
    })();
    const [accepted, opened] = await Promise.all([
      server.accept({ timeoutMs: 5000 }),
      responderStack().open(`127.0.0.1:${(relay.addr as Deno.NetAddr).port}`, { timeoutMs: 5000 }),
    ]);
    try {
      assert.equal(accepted.info.gsa1.verdict, "accepted");
      assert.equal(opened.info.gsa1.verdict, "accepted");
      await opened.write(bytes("plain secret"));
      const injected = new Uint8Array(14);
      await accepted.read(injected, { waitForBytes: injected.length, timeoutMs: 2000 });
      assert.equal(decoder.decode(injected), "from the relay");
      for (const conn of await relaying) conn.close();
      assert.equal(decoder.decode(seenByRelay), "plain secret");
    } finally {
      relay.close();
      await Promise.all([accepted.close(), opened.close()]);
    }
  });
});
