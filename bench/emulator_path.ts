// Single-stream throughput through the emulator's full data path, against the same
// three-hop path built with socat.
//
// ours:     source -> [leg 1, GSA1] -> initiating access point -> [WAN, GSA1] ->
//           listening access point -> [leg 3, GSA1] -> sink
//           The emulator is a `globus-streams emulator` process (both access points in
//           it, as in the demo). Source and sink run GSA1 by hand over plain sockets and
//           then move raw bytes, as a preloaded app does (the library runs the handshake
//           in connect()/accept() and never touches read/write).
// baseline: source -> socat -> socat -> sink (`socat -b 262144 TCP-LISTEN TCP`, one
//           connection each), the same source and sink code without the handshake.
// Both: a peer process runs the sink and the source and times source-connect to
// sink-EOF. Variants alternate; the figure is the median of the runs, MiB/s.
// On stderr (not a record) it also shows the helpers' path, forward -> ... -> expose.
//
// Prints one JSON line: {"name","ours","baseline","unit","ratio","target","met",...}
// Usage: deno run --allow-all bench/emulator_path.ts [--mib 512] [--runs 5] [--skip-helpers]
import { parseArgs } from "node:util";
import { emit, median, progress, repoRoot, result } from "./_lib.ts";
import {
  answerHello,
  buildHello,
  checkVerdict,
  HELLO_SIZE,
  judgeProof,
  newNonce,
  PROOF_SIZE,
  VERDICT_SIZE,
} from "../src/handshake/mod.ts";
import { GcsClient, TransferClient } from "../src/globus/mod.ts";

const TARGET = 0.5;
const CHUNK = 1024 * 1024;
const SOCAT_BUFFER = 1048576;
const cliBin = `${repoRoot}bin/globus-streams`;

// --- the peer: sink and source -------------------------------------------------------

interface PeerPlan {
  bytes: number;
  tunnelId?: string;
  /** Leg 1's secret (the source is the responder). */
  initiator?: { secret: string; id: string };
  /** Leg 3's secret (the sink is the challenger). */
  listener?: { secret: string };
  /** Where the sink listens (0: any free port): the tunnel's listener contact, which is set once. */
  sinkPort?: number;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const m = await conn.read(out.subarray(got));
    if (m === null) throw new Error(`the peer closed after ${got} of ${n} bytes`);
    got += m;
  }
  return out;
}

async function sinkSide(conn: Deno.Conn, plan: PeerPlan): Promise<number> {
  if (plan.listener) {
    const nc = newNonce();
    await writeAll(conn, buildHello(nc));
    const judgement = await judgeProof(await readExactly(conn, PROOF_SIZE), {
      nc,
      lookup: () => ({ secret: plan.listener!.secret }),
    });
    await writeAll(conn, judgement.verdict);
    if (judgement.name !== "accepted") throw new Error(`sink: refused (${judgement.name})`);
  }
  const buffer = new Uint8Array(CHUNK);
  let got = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return got;
    got += n;
  }
}

async function sourceSide(port: number, plan: PeerPlan): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (plan.initiator) {
    const session = await answerHello(await readExactly(conn, HELLO_SIZE), {
      tunnelId: plan.tunnelId!,
      secret: plan.initiator.secret,
      secretId: plan.initiator.id,
    });
    await writeAll(conn, session.proof);
    await checkVerdict(await readExactly(conn, VERDICT_SIZE), session);
  }
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  for (let sent = 0; sent < plan.bytes; sent += chunk.length) {
    await writeAll(conn, chunk.subarray(0, Math.min(chunk.length, plan.bytes - sent)));
  }
  await conn.closeWrite();
  // Wait for the far end to close, so every hop saw the end.
  await conn.read(new Uint8Array(1)).catch(() => null);
  conn.close();
}

/** Reads lines from stdin: the plan (JSON), then the port to send to. */
async function peer(): Promise<void> {
  const lines = stdinLines();
  const plan = JSON.parse(await lines()) as PeerPlan;
  const sink = Deno.listen({ hostname: "127.0.0.1", port: plan.sinkPort ?? 0 });
  console.log(sink.addr.port);
  const port = Number(await lines());
  const counted = (async () => {
    const conn = await sink.accept();
    try {
      return await sinkSide(conn, plan);
    } finally {
      conn.close();
    }
  })();
  const started = performance.now();
  await sourceSide(port, plan);
  const got = await counted;
  const ms = performance.now() - started;
  sink.close();
  console.log(JSON.stringify({ bytes: got, ms }));
}

function stdinLines(): () => Promise<string> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("stdin ended");
      text += decoder.decode(value, { stream: true });
    }
    const at = text.indexOf("\n");
    const line = text.slice(0, at);
    text = text.slice(at + 1);
    return line;
  };
}

// --- the driver --------------------------------------------------------------------

class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #text = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async line(ms = 60_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.#text.includes("\n")) {
      if (Date.now() > deadline) throw new Error("no line in time");
      const timer = setTimeout(() => this.#reader.cancel(), Math.max(1, deadline - Date.now()));
      const { value, done } = await this.#reader.read();
      clearTimeout(timer);
      if (done) throw new Error("the process ended before printing a line");
      this.#text += this.#decoder.decode(value, { stream: true });
    }
    const at = this.#text.indexOf("\n");
    const line = this.#text.slice(0, at);
    this.#text = this.#text.slice(at + 1);
    return line;
  }

  cancel(): Promise<void> {
    return this.#reader.cancel().catch(() => {});
  }
}

/** One trial: spawns the peer, lets route(sinkPort) build the path, returns MiB/s. */
async function trial(
  plan: PeerPlan,
  route: (sinkPort: number) => Promise<{ port: number; done?: () => Promise<void> }>,
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", import.meta.filename!, "--peer"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = new LineReader(child.stdout);
  const stdin = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let done: (() => Promise<void>) | undefined;
  try {
    await stdin.write(encoder.encode(JSON.stringify(plan) + "\n"));
    const sinkPort = Number(await out.line());
    const path = await route(sinkPort);
    done = path.done;
    await stdin.write(encoder.encode(`${path.port}\n`));
    const measured = JSON.parse(await out.line(300_000)) as { bytes: number; ms: number };
    if (measured.bytes !== plan.bytes) {
      throw new Error(`the sink got ${measured.bytes} of ${plan.bytes} bytes`);
    }
    return plan.bytes / 2 ** 20 / (measured.ms / 1000);
  } finally {
    await stdin.close().catch(() => {});
    await out.cancel();
    await child.status;
    await done?.();
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Waits until something accepts on port (socat takes a moment to bind). */
async function untilListening(port: number, child: Deno.ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      // A probe connection would be socat's one connection: check the socket table.
      const table = await Deno.readTextFile("/proc/net/tcp");
      const hex = port.toString(16).toUpperCase().padStart(4, "0");
      if (table.split("\n").some((l) => l.includes(`:${hex} 00000000:0000 0A`))) return;
    } catch {
      // no /proc: wait a fixed time instead
      await new Promise((resolve) => setTimeout(resolve, 200));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill("SIGKILL");
  throw new Error(`socat did not listen on ${port}`);
}

function socat(listenPort: number, toPort: number): Deno.ChildProcess {
  return new Deno.Command("socat", {
    args: [
      "-b",
      String(SOCAT_BUFFER),
      `TCP-LISTEN:${listenPort},bind=127.0.0.1,reuseaddr`,
      `TCP:127.0.0.1:${toPort}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

async function socatRoute(sinkPort: number) {
  const [portB, portA] = [freePort(), freePort()];
  const b = socat(portB, sinkPort);
  await untilListening(portB, b);
  const a = socat(portA, portB);
  await untilListening(portA, a);
  return {
    port: portA,
    async done() {
      for (const child of [a, b]) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await child.status;
        clearTimeout(timer);
      }
    },
  };
}

/** socat on PATH, installing Debian's package when possible; else why not. */
async function ensureSocat(): Promise<string | undefined> {
  const has = async () =>
    (await new Deno.Command("sh", { args: ["-c", "command -v socat"], stdout: "null" }).output())
      .success;
  if (await has()) return undefined;
  progress("emulator_path: socat is missing; trying apt-get install -y socat");
  const apt = await new Deno.Command("sh", {
    args: ["-c", "apt-get install -y socat || (apt-get update && apt-get install -y socat)"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  if (apt?.success && await has()) return undefined;
  return "socat is not installed and 'apt-get install -y socat' did not work (not root, or no package index)";
}

interface World {
  transfer: TransferClient;
  /** The two access points, for more tunnels. */
  points: { initiator: string; listener: string };
  tunnelId: string;
  plan: PeerPlan;
  lan: number;
  env: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

/** An emulator process, a tunnel, and a LAN secret for each side. */
async function startWorld(bytes: number): Promise<World> {
  const dir = await Deno.makeTempDir({ prefix: "gs-bench-" });
  const envFile = `${dir}/emulator.env`;
  const emulator = new Deno.Command(cliBin, {
    args: ["emulator", "--env-file", envFile],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    emulator.kill("SIGTERM");
    const timer = setTimeout(() => emulator.kill("SIGKILL"), 10_000);
    await emulator.status;
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    let text = "";
    for (let i = 0; i < 300 && !text; i++) {
      text = await Deno.readTextFile(envFile).catch(() => "");
      if (!text) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const exports: Record<string, string> = {};
    for (const match of text.matchAll(/^export ([A-Z_0-9]+)='?([^'\n]*)'?$/gm)) {
      exports[match[1]] = match[2];
    }
    const env = (name: string) => exports[name];
    const transfer = new TransferClient({ env });
    const initiatorAp = exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
    const listenerAp = exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
    // A listener contact is set once (as the real service has it): every trial's sink
    // listens on this one port.
    const sinkPort = freePort();
    const tunnel = await transfer.createTunnel({
      initiatorAccessPointId: initiatorAp,
      listenerAccessPointId: listenerAp,
      label: "bench",
      listenerIpAddress: "127.0.0.1",
      listenerPort: sinkPort,
    });
    const secretFor = async (pointId: string) => {
      const point = await transfer.getAccessPoint(pointId);
      const gcs = new GcsClient(
        await transfer.gcsManagerUrl(point.hostEndpointId),
        point.hostEndpointId,
        { env },
      );
      return await gcs.createLanSecret({ tunnelId: tunnel.id, streamAccessPointId: pointId });
    };
    const initiator = await secretFor(initiatorAp);
    const listener = await secretFor(listenerAp);
    return {
      transfer,
      points: { initiator: initiatorAp, listener: listenerAp },
      tunnelId: tunnel.id,
      plan: {
        bytes,
        tunnelId: tunnel.id,
        initiator: { secret: initiator.secret, id: initiator.id },
        listener: { secret: listener.secret },
        sinkPort,
      },
      lan: tunnel.initiatorPort!,
      env: exports,
      dir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The emulator path: the tunnel's listener contact is the sink's (fixed) port. */
function emulatorRoute(world: World, sinkPort: number) {
  if (sinkPort !== world.plan.sinkPort) {
    throw new Error(`the sink listens on ${sinkPort}, not the tunnel's ${world.plan.sinkPort}`);
  }
  return Promise.resolve({ port: world.lan });
}

/** The helpers' path: forward -> emulator -> expose, plain source and sink. */
async function helpersTrial(world: World, bytes: number): Promise<number> {
  const root = `${world.dir}/helpers`;
  const dirs = { initiator: `${root}/initiator`, listener: `${root}/listener` };
  const base = { ...Deno.env.toObject(), ...world.env, HOME: root };
  const cli = async (side: "initiator" | "listener", args: string[]) => {
    const output = await new Deno.Command(cliBin, {
      args,
      env: { ...base, GLOBUS_STREAMS_DIR: dirs[side] },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  };
  // A tunnel of its own: its listener contact is expose's port, set once.
  const exposePort = freePort();
  const { id: tunnelId } = await world.transfer.createTunnel({
    initiatorAccessPointId: world.points.initiator,
    listenerAccessPointId: world.points.listener,
    label: "bench helpers",
  });
  await cli("listener", [
    "environment",
    "initialize",
    "--listener-contact-string",
    `127.0.0.1:${exposePort}`,
    tunnelId,
  ]);
  await cli("initiator", ["environment", "initialize", tunnelId]);
  const spawn = (side: "initiator" | "listener", args: string[]) => {
    const child = new Deno.Command(cliBin, {
      args,
      env: { ...base, GLOBUS_STREAMS_DIR: dirs[side] },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    return { child, out: new LineReader(child.stdout) };
  };
  const helpers: ReturnType<typeof spawn>[] = [];
  try {
    return await trial({ bytes }, async (sinkPort) => {
      const expose = spawn("listener", ["expose", "--to", `127.0.0.1:${sinkPort}`, tunnelId]);
      helpers.push(expose);
      await expose.out.line();
      const forward = spawn("initiator", ["forward", tunnelId]);
      helpers.push(forward);
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(await forward.out.line())![1]);
      return { port };
    });
  } finally {
    for (const { child, out } of helpers) {
      child.kill("SIGTERM");
      await out.cancel();
      await child.status;
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      peer: { type: "boolean", default: false },
      mib: { type: "string", default: "512" },
      runs: { type: "string", default: "5" },
      "skip-helpers": { type: "boolean", default: false },
    },
  });
  if (values.peer) return await peer();
  const bytes = Number(values.mib) * 2 ** 20;
  const runs = Number(values.runs);
  const missing = await ensureSocat();
  if (missing) {
    progress(`emulator_path: skipped: ${missing}`);
    return;
  }
  const world = await startWorld(bytes);
  try {
    const rates = { ours: [] as number[], socat: [] as number[] };
    const ours = () => trial(world.plan, (sink) => emulatorRoute(world, sink));
    const baseline = () => trial({ bytes }, socatRoute);
    // Warm-up (JIT, page cache), then alternate which goes first.
    await trial({ ...world.plan, bytes: 64 * 2 ** 20 }, (sink) => emulatorRoute(world, sink));
    await trial({ bytes: 64 * 2 ** 20 }, socatRoute);
    for (let i = 0; i < runs; i++) {
      for (const variant of i % 2 === 0 ? ["ours", "socat"] as const : ["socat", "ours"] as const) {
        const rate = await (variant === "ours" ? ours() : baseline());
        rates[variant].push(rate);
        progress(`emulator_path: run ${i + 1} ${variant} ${rate.toFixed(0)} MiB/s`);
      }
    }
    if (!values["skip-helpers"]) {
      const rate = await helpersTrial(world, bytes);
      progress(
        `emulator_path: (not a record) forward -> emulator -> expose, plain source and sink: ${
          rate.toFixed(0)
        } MiB/s`,
      );
    }
    emit(result({
      name: "emulator_path",
      ours: median(rates.ours),
      baseline: median(rates.socat),
      unit: "MiB/s",
      target: TARGET,
      better: "higher",
      note: `one ${values.mib} MiB stream, median of ${runs}: source -> initiating AP -> WAN -> ` +
        `listening AP -> sink, GSA1 on all three legs (emulator process), against ` +
        `source -> socat -> socat -> sink (-b ${SOCAT_BUFFER})`,
    }));
  } finally {
    await world.stop();
  }
}

if (import.meta.main) await main();
