// The streams data plane, driven the way the preload library drives it: the apps are
// xio stacks (a GSA1 responder connecting to the initiating access point's LAN port, a
// GSA1 challenger listening at the tunnel's listener contact), the emulator runs in
// this process with a short handshake timeout. Real sockets, no mocks.
import assert from "node:assert/strict";
import { type Handle, handshakeReason, isXioError, type Server, Stack } from "../../src/xio/mod.ts";
import type { LanSecret, Tunnel } from "../../src/globus/mod.ts";
import type { EmulatorConfig } from "../../src/emulator/mod.ts";
import { forwardPort } from "../../src/helpers/_forward.ts";
import {
  answerHello,
  HELLO_SIZE,
  parseVerdict,
  type Verdict,
  VERDICT_SIZE,
} from "../../src/handshake/mod.ts";
import {
  type PlaneWorld,
  randomData,
  readAll,
  sha256,
  startPlaneWorld,
  waitFor,
  within,
  writeAll,
} from "../helpers/_world.ts";

const HANDSHAKE_MS = 400;

/** The listening app: echoes every accepted connection (GSA1 challenger when keyed). */
class EchoApp {
  readonly server: Server;
  /** The listening side's secret, set once issued; undefined = plain TCP. */
  secret: string | undefined;
  accepted = 0;
  refused: string[] = [];
  readonly #done: Promise<void>;

  private constructor(server: Server) {
    this.server = server;
    this.#done = this.#loop();
  }

  static async start(options: { keyed: boolean; host?: string }): Promise<EchoApp> {
    const box: { app?: EchoApp } = {};
    const stack = options.keyed
      ? Stack.parse("tcp,gsa1:role=challenger", {
        attrs: {
          gsa1: {
            secrets: () => (box.app?.secret ? { secret: box.app.secret } : undefined),
            timeoutMs: HANDSHAKE_MS,
          },
        },
      })
      : Stack.parse("tcp");
    box.app = new EchoApp(await stack.listen(`${options.host ?? "127.0.0.1"}:0`));
    return box.app;
  }

  get contact(): { host: string; port: number } {
    const at = this.server.address.lastIndexOf(":");
    return {
      host: this.server.address.slice(0, at).replace(/^\[|\]$/g, ""),
      port: Number(this.server.address.slice(at + 1)),
    };
  }

  async #loop(): Promise<void> {
    for (;;) {
      let accepted;
      try {
        accepted = await this.server.acceptRaw();
      } catch {
        return;
      }
      (async () => {
        let handle: Handle;
        try {
          handle = await accepted.open();
        } catch (error) {
          this.refused.push(handshakeReason(error) ?? String(error));
          return;
        }
        this.accepted++;
        const buffer = new Uint8Array(128 * 1024);
        try {
          for (;;) {
            const n = await handle.read(buffer);
            await handle.write(buffer.subarray(0, n));
          }
        } catch (error) {
          if (isXioError(error, "EOF")) await handle.closeWrite().catch(() => {});
        } finally {
          await handle.close().catch(() => {});
        }
      })();
    }
  }

  async stop(): Promise<void> {
    await this.server.close();
    await this.#done;
  }
}

interface Setup {
  world: PlaneWorld;
  app: EchoApp;
  tunnel: Tunnel;
  initiatorSecret: LanSecret;
  listenerSecret: LanSecret;
  /** host:port of the initiating access point's LAN port. */
  lan: string;
  [Symbol.asyncDispose](): Promise<void>;
}

async function setUp(
  options: { keyedApp?: boolean; config?: Partial<EmulatorConfig> } = {},
): Promise<Setup> {
  const world = await startPlaneWorld({
    config: options.config,
    plane: { handshakeTimeoutMs: HANDSHAKE_MS },
  });
  const app = await EchoApp.start({ keyed: options.keyedApp ?? true });
  const tunnel = await world.createTunnel(app.contact);
  assert.equal(tunnel.state, "ACTIVE");
  const initiatorSecret = await world.lanSecret(tunnel.id, "initiator");
  const listenerSecret = await world.lanSecret(tunnel.id, "listener");
  app.secret = listenerSecret.secret;
  return {
    world,
    app,
    tunnel,
    initiatorSecret,
    listenerSecret,
    lan: `${tunnel.initiatorIpAddress}:${tunnel.initiatorPort}`,
    async [Symbol.asyncDispose]() {
      await app.stop();
      await world[Symbol.asyncDispose]();
    },
  };
}

/** Opens a stream as the initiating app (GSA1 responder), with this secret. */
function openStream(
  s: Setup,
  secret: { secret: string; id?: string } = s.initiatorSecret,
): Promise<Handle> {
  const stack = Stack.parse(`tcp,gsa1:role=responder;tunnel=${s.tunnel.id}`, {
    attrs: { gsa1: { secret: secret.secret, secretId: secret.id, timeoutMs: 5000 } },
  });
  return stack.open(s.lan, { timeoutMs: 10_000 });
}

/** Sends data, half-closes, reads the echo to EOF. */
async function roundTrip(handle: Handle, data: Uint8Array): Promise<Uint8Array> {
  const received: Uint8Array[] = [];
  let size = 0;
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      try {
        const n = await handle.read(buffer, { timeoutMs: 20_000 });
        received.push(buffer.slice(0, n));
        size += n;
      } catch (error) {
        if (isXioError(error, "EOF")) return;
        throw error;
      }
    }
  })();
  for (let at = 0; at < data.length; at += 100_000) {
    await handle.write(data.subarray(at, Math.min(data.length, at + 100_000)));
  }
  await handle.closeWrite();
  await reading;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of received) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

async function eventCodes(world: PlaneWorld, tunnelId: string): Promise<string[]> {
  return (await world.events(tunnelId)).map((e) => e.code);
}

Deno.test("a stream crosses all three legs, GSA1 on both LAN legs, checksummed both ways", async () => {
  await using s = await setUp();
  const data = randomData(3 * 1024 * 1024 + 17);
  const handle = await openStream(s);
  assert.equal(handle.info.gsa1.verdict, "accepted");
  const echoed = await within(roundTrip(handle, data), 30_000, "round trip");
  await handle.close();
  assert.equal(echoed.length, data.length);
  assert.equal(sha256(echoed), sha256(data));
  assert.equal(s.app.accepted, 1);
  await waitFor(() => s.world.lines.length >= 2, 5000, "two stream log lines");
  const initiating = s.world.lines.find((l) => l.startsWith("[ap site-a]"))!;
  const listening = s.world.lines.find((l) => l.startsWith("[ap site-b]"))!;
  assert.match(
    initiating,
    /tunnel [0-9a-f]{8}\.\.: stream 1 closed: lan gsa1 ok, wan ok, leg1 3\.1 MB up \/ 3\.1 MB down, wan 3\.1 MB up \/ 3\.1 MB down, \d+ ms$/,
  );
  assert.match(
    listening,
    /stream 1 closed: wan gsa1 ok, listener "127\.0\.0\.1:\d+" gsa1 ok, wan 3\.1 MB up/,
  );
  for (const line of s.world.lines) {
    assert.ok(!line.includes(s.initiatorSecret.secret) && !line.includes(s.listenerSecret.secret));
  }
  // The listening access point's WAN port shows as its tlsftp_server.
  const point = await s.world.transfer.getAccessPoint(s.world.pointOf("listener"));
  assert.match(point.tlsftpServer ?? "", /^tlsftp:\/\/127\.0\.0\.1:\d+$/);
});

/** Reads exactly n bytes, or fewer if the peer closed first. */
async function readExactly(conn: Deno.Conn, n: number, ms = 5000): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (got < n) {
      const m = await conn.read(out.subarray(got)).catch(() => null);
      if (m === null) break;
      got += m;
    }
  } finally {
    clearTimeout(timer);
  }
  return out.subarray(0, got);
}

/** The responder's half of GSA1 by hand over a raw socket; returns the VERDICT. */
async function rawHandshake(
  s: Setup,
  proofFor: (hello: Uint8Array) => Promise<Uint8Array> | Uint8Array,
): Promise<{ conn: Deno.TcpConn; verdict: Verdict | undefined; proof: Uint8Array }> {
  const [host, port] = [s.tunnel.initiatorIpAddress!, s.tunnel.initiatorPort!];
  const conn = await Deno.connect({ hostname: host, port });
  const hello = await readExactly(conn, HELLO_SIZE);
  assert.equal(hello.length, HELLO_SIZE);
  const proof = await proofFor(hello);
  await writeAll(conn, proof);
  const verdictBytes = await readExactly(conn, VERDICT_SIZE);
  const verdict = verdictBytes.length === VERDICT_SIZE ? parseVerdict(verdictBytes) : undefined;
  return { conn, verdict, proof };
}

async function goodProof(s: Setup, hello: Uint8Array): Promise<Uint8Array> {
  const session = await answerHello(hello, {
    tunnelId: s.tunnel.id,
    secret: s.initiatorSecret.secret,
    secretId: s.initiatorSecret.id,
  });
  return session.proof;
}

/** Refusal reason an initiating app gets from a GSA1 open. */
async function openRefusal(s: Setup, secret: { secret: string; id?: string }): Promise<string> {
  try {
    const handle = await openStream(s, secret);
    await handle.close();
    return "accepted";
  } catch (error) {
    return handshakeReason(error) ?? String(error);
  }
}

async function lanEvents(s: Setup, leg: string) {
  return (await s.world.events(s.tunnel.id)).filter((e) =>
    e.code === "LAN_AUTH_FAILED" && e.description.startsWith(leg)
  );
}

Deno.test("leg 1 refuses a wrong secret, an unknown secret id and an expired secret, each with its status", async () => {
  await using s = await setUp({ config: { minuteMs: 300 } });
  const { secret, id } = s.initiatorSecret;
  assert.equal(await openRefusal(s, { secret: secret + "x", id }), "bad_proof");
  assert.equal(await openRefusal(s, { secret, id: crypto.randomUUID() }), "refused");
  // The other side's secret is not good on this leg.
  assert.equal(
    await openRefusal(s, { secret: s.listenerSecret.secret, id: s.listenerSecret.id }),
    "refused",
  );
  // Without an id the newest secret is used.
  assert.equal(await openRefusal(s, { secret }), "accepted");
  const short = await s.world.lanSecret(s.tunnel.id, "initiator", 1);
  assert.equal(await openRefusal(s, { secret: short.secret, id: short.id }), "accepted");
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(await openRefusal(s, { secret: short.secret, id: short.id }), "secret_expired");
  await waitFor(async () => (await lanEvents(s, "Leg 1")).length === 4, 3000, "four leg-1 events");
  const events = await lanEvents(s, "Leg 1");
  assert.deepEqual(
    events.map((e) => e.description.replace(/^.*failed: /, "")),
    ["bad_proof", "refused", "refused", "secret_expired"],
  );
  for (const event of events) {
    assert.equal(event.isError, true);
    assert.match(event.description, /^Leg 1 \(app "127\.0\.0\.1:\d+" -> initiating access point\)/);
    assert.ok(!JSON.stringify(event).includes(secret));
  }
  assert.equal(s.app.accepted, 2);
});

Deno.test("leg 3: a listening app with another secret refuses the access point, which closes leg 1 and logs an event", async () => {
  await using s = await setUp();
  s.app.secret = "not-the-listening-secret";
  const handle = await openStream(s);
  // Leg 1 passed; the stream then ends without a byte, as the app sees it: EOF.
  const buffer = new Uint8Array(16);
  await assert.rejects(
    within(handle.read(buffer, { timeoutMs: 5000 }), 6000, "read"),
    (error) => isXioError(error, "EOF"),
  );
  await handle.close();
  assert.deepEqual(s.app.refused, ["bad_proof"]);
  await waitFor(async () => (await lanEvents(s, "Leg 3")).length === 1, 3000, "a leg-3 event");
  const [event] = await lanEvents(s, "Leg 3");
  assert.match(
    event.description,
    /listener "127\.0\.0\.1:\d+"\): the GSA1 handshake failed: bad_proof/,
  );
  await waitFor(() => s.world.lines.some((l) => l.includes("failed (leg3")), 3000, "log line");
});

Deno.test("a client that connects and sends nothing is closed after the handshake timeout", async () => {
  await using s = await setUp();
  const conn = await Deno.connect({
    hostname: s.tunnel.initiatorIpAddress!,
    port: s.tunnel.initiatorPort!,
  });
  const started = Date.now();
  const hello = await readExactly(conn, HELLO_SIZE);
  assert.equal(hello.length, HELLO_SIZE);
  const rest = await readAll(conn, 5000);
  const waited = Date.now() - started;
  conn.close();
  assert.equal(rest.length, 0);
  assert.ok(
    waited >= HANDSHAKE_MS - 50 && waited < HANDSHAKE_MS + 2000,
    `closed after ${waited} ms`,
  );
  await waitFor(async () => (await lanEvents(s, "Leg 1")).length === 1, 3000, "a leg-1 event");
  assert.match((await lanEvents(s, "Leg 1"))[0].description, /failed: timed out$/);
});

Deno.test("a replayed PROOF is refused (bad proof): the challenge is new on every connection", async () => {
  await using s = await setUp();
  const first = await rawHandshake(s, (hello) => goodProof(s, hello));
  assert.equal(first.verdict?.name, "accepted");
  first.conn.close();
  const replay = await rawHandshake(s, () => first.proof);
  assert.equal(replay.verdict?.name, "bad_proof");
  assert.equal((await readAll(replay.conn, 3000)).length, 0);
  replay.conn.close();
});

Deno.test("garbage and truncated handshakes are refused, probes are not events; the access point goes on serving", async () => {
  await using s = await setUp();
  const garbage = await rawHandshake(s, () => randomData(100));
  assert.equal(garbage.verdict?.name, "refused");
  garbage.conn.close();
  // A PROOF cut short, then the client goes away.
  const conn = await Deno.connect({
    hostname: s.tunnel.initiatorIpAddress!,
    port: s.tunnel.initiatorPort!,
  });
  const hello = await readExactly(conn, HELLO_SIZE);
  await writeAll(conn, (await goodProof(s, hello)).subarray(0, 50));
  await conn.closeWrite();
  assert.equal((await readAll(conn, 3000)).length, 0);
  conn.close();
  // Payload with no handshake at all, as an unpatched client would send.
  const plain = await rawHandshake(
    s,
    () => new TextEncoder().encode("GET / HTTP/1.1\r\n".repeat(7)),
  );
  assert.equal(plain.verdict?.name, "refused");
  plain.conn.close();
  // A burst of clients that connect and leave at once.
  await Promise.all(Array.from({ length: 20 }, async () => {
    const c = await Deno.connect({
      hostname: s.tunnel.initiatorIpAddress!,
      port: s.tunnel.initiatorPort!,
    });
    c.close();
  }));
  const data = randomData(200_000);
  const handle = await openStream(s);
  assert.equal(sha256(await roundTrip(handle, data)), sha256(data));
  await handle.close();
  // Each refused client is logged; the 20 that left without a byte are probes, not
  // failed handshakes, so only the first three became tunnel events.
  await waitFor(
    () => s.world.lines.filter((l) => / failed \(lan/.test(l)).length === 23,
    5000,
    "23 refused streams logged",
  );
  assert.equal(
    s.world.lines.filter((l) => l.includes("the app closed before the handshake")).length,
    20,
  );
  assert.equal((await lanEvents(s, "Leg 1")).length, 3);
});

Deno.test("stopping the tunnel closes its open streams and its LAN port", async () => {
  await using s = await setUp();
  const handle = await openStream(s);
  await handle.write(new TextEncoder().encode("hello"));
  const buffer = new Uint8Array(5);
  await handle.read(buffer, { waitForBytes: 5, timeoutMs: 5000 });
  await s.world.stopTunnel(s.tunnel.id);
  await assert.rejects(
    within(handle.read(buffer, { timeoutMs: 5000 }), 6000, "read after stop"),
    (error) => isXioError(error, "EOF") || isXioError(error, "SYSTEM"),
  );
  await handle.close();
  await assert.rejects(
    Deno.connect({ hostname: s.tunnel.initiatorIpAddress!, port: s.tunnel.initiatorPort! }),
    Deno.errors.ConnectionRefused,
  );
  await waitFor(
    () => s.world.lines.filter((l) => l.includes("failed (the tunnel was stopped)")).length === 2,
    3000,
    "both access points log the stopped stream",
  );
});

Deno.test("an unreachable listener contact: the app sees EOF, the tunnel an event", async () => {
  await using s = await setUp();
  await s.app.stop();
  const handle = await openStream(s);
  await assert.rejects(
    within(handle.read(new Uint8Array(8), { timeoutMs: 5000 }), 6000, "read"),
    (error) => isXioError(error, "EOF"),
  );
  await handle.close();
  await waitFor(
    async () => (await eventCodes(s.world, s.tunnel.id)).includes("LISTENER_UNREACHABLE"),
    3000,
    "a LISTENER_UNREACHABLE event",
  );
  // The initiating end was closed too, not just half-closed.
  await waitFor(
    () =>
      s.world.lines.some((l) =>
        /^\[ap site-a\].*failed \(the listening access point failed: leg3 cannot connect/.test(l)
      ),
    3000,
    "the initiating end closed",
  );
  const event = (await s.world.events(s.tunnel.id)).find((e) => e.code === "LISTENER_UNREACHABLE")!;
  assert.match(
    event.description,
    /^Leg 3 \(listening access point -> listener "127\.0\.0\.1:\d+"\): cannot connect: /,
  );
});

Deno.test("gateways without lan_secret_required: plain TCP on both LAN legs, an IPv6 listener that stays set", async (t) => {
  const config = { ...(await import("../../src/emulator/mod.ts")).defaultEmulatorConfig() };
  config.gateways = config.gateways.map((g) => ({ ...g, lanSecretRequired: false }));
  await using world = await startPlaneWorld({
    config,
    plane: { handshakeTimeoutMs: HANDSHAKE_MS },
  });
  let v6: EchoApp | undefined;
  try {
    v6 = await EchoApp.start({ keyed: false, host: "[::1]" });
  } catch {
    // no IPv6 loopback here
  }
  const v4 = await EchoApp.start({ keyed: false });
  try {
    const tunnel = await world.createTunnel(v6?.contact ?? v4.contact);
    const send = async () => {
      const conn = await Deno.connect({
        hostname: tunnel.initiatorIpAddress!,
        port: tunnel.initiatorPort!,
      });
      const data = randomData(100_000);
      const [echoed] = await Promise.all([
        readAll(conn),
        writeAll(conn, data).then(() => conn.closeWrite()),
      ]);
      conn.close();
      assert.equal(sha256(echoed), sha256(data));
    };
    await t.step(v6 ? "to [::1]" : "to 127.0.0.1 (no IPv6 loopback)", send);
    assert.equal((v6 ?? v4).accepted, 1);
    // A listener contact is set once: moving it is refused and streams keep their listener.
    await assert.rejects(
      world.transfer.updateTunnel(tunnel.id, {
        listenerIpAddress: "127.0.0.1",
        listenerPort: v4.contact.port + (v6 ? 0 : 1),
      }),
      /409 Conflict\): .* already has listener contact/,
    );
    await t.step("again, to the same listener", send);
    assert.equal((v6 ?? v4).accepted, 2);
    assert.ok(world.lines.some((l) => /lan plain, wan ok/.test(l)));
    const listener = v6 ? String.raw`\[::1\]` : String.raw`127\.0\.0\.1`;
    assert.ok(world.lines.some((l) => new RegExp(`listener "${listener}:\\d+" plain`).test(l)));
  } finally {
    await v4.stop();
    await v6?.stop();
  }
});

Deno.test("forward counts a stream that carried data and lost its peer at tunnel stop as ended, not failed", async () => {
  const config = { ...(await import("../../src/emulator/mod.ts")).defaultEmulatorConfig() };
  config.gateways = config.gateways.map((g) => ({ ...g, lanSecretRequired: false }));
  await using world = await startPlaneWorld({
    config,
    plane: { handshakeTimeoutMs: HANDSHAKE_MS },
  });
  const app = await EchoApp.start({ keyed: false });
  const abort = new AbortController();
  const lines: string[] = [];
  let conn: Deno.TcpConn | undefined;
  try {
    const tunnel = await world.createTunnel(app.contact);
    const contact = `${tunnel.initiatorIpAddress}:${tunnel.initiatorPort}`;
    let listening = "";
    const forwarding = forwardPort(() => Promise.resolve({ tunnelId: tunnel.id, contact }), {
      signal: abort.signal,
      onListening: (address) => listening = address,
      log: (line) => lines.push(line),
    });
    await waitFor(() => listening !== "", 5000, "forward listening");
    const port = Number(listening.split(":").at(-1));
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const data = randomData(10_000);
    await writeAll(conn, data);
    const echoed = new Uint8Array(data.length);
    for (let at = 0; at < echoed.length;) {
      const n = await within(conn.read(echoed.subarray(at)), 5000, "echo");
      if (n === null) throw new Error("the stream ended early");
      at += n;
    }
    await world.stopTunnel(tunnel.id);
    // Keep writing: forward's writes into the closed stream then break (EPIPE/ECONNRESET).
    for (let i = 0; i < 20; i++) {
      try {
        await writeAll(conn, data);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    abort.abort();
    const totals = await within(forwarding, 10_000, "forward stopping");
    assert.equal(totals.connections, 1);
    assert.equal(totals.failed, 0, lines.join("\n"));
    assert.ok(totals.up >= data.length);
  } finally {
    abort.abort();
    try {
      conn?.close();
    } catch {
      // closed
    }
    await app.stop();
  }
});
