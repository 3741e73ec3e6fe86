// 1,000 concurrent streams through the emulator: how fast they are set up and what they
// cost the emulator process in memory, against a bare Deno relay measured in the same run.
//
// Ours: a `globus-streams emulator` process (the real command, default topology: both
// gateways require LAN secrets), a tunnel initialised on both sides by the CLI. This
// process opens 1,000 streams, at most 100 setting up at once, each: leg 1 with GSA1 (we
// are the responder), the emulator's WAN leg (GSA1 between its access points), leg 3 to
// our echo server (GSA1, we are the challenger), then 64 bytes echoed end to end. All
// 1,000 stay open while the emulator's memory is read from /proc/<pid>/status (VmRSS,
// VmHWM), then close.
// Baseline: the same 1,000 streams as plain TCP through a bare Deno relay process (this
// file with --relay: accept, connect upstream, a 64 KiB copy loop each way) to a plain
// echo server. Runs alternate; figures are medians over BENCH_RUNS (default 3) runs.
//
// Targets (ratios ours / baseline), chosen from what a stream costs each side: the
// emulator makes four TCP connections and four GSA1 handshake sides per stream where the
// relay makes two connections and no handshake, so set-up at a fifth of the relay's rate
// or better, memory per stream within 4x, and peak memory within 3x (the emulator also
// carries its HTTP control plane).
import { parseArgs } from "node:util";
import { type Handle, Stack } from "../src/xio/mod.ts";
import { ConfStore } from "../src/conf/mod.ts";
import { startEmulatorProcess } from "../tests/_support/emulator.ts";
import { runCliInProcess } from "../tests/_support/cli.ts";
import { emit, median, processMemory, progress, result } from "./_lib.ts";

const STREAMS = Number(Deno.env.get("BENCH_STREAMS") ?? 1000);
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const WINDOW = 100;
const MESSAGE = new Uint8Array(64).fill(0x61);
const WARMUP_STREAMS = 50;
const TARGETS = { rate: 0.2, perStream: 4, peak: 3 };

interface RunFigures {
  /** Streams set up per second. */
  rate: number;
  /** (VmRSS with every stream open - VmRSS before) / streams, KiB. */
  perStreamKiB: number;
  /** VmHWM at the end, MiB. */
  peakMiB: number;
  /** CPU the measured process used during set-up, as a share of the wall time. */
  cpuShare: number;
  /** The same for this process (the load generator). */
  selfCpuShare: number;
}

interface Stream {
  close(): void;
}

async function readExact(conn: Deno.Conn, n: number): Promise<void> {
  const buffer = new Uint8Array(n);
  for (let at = 0; at < n;) {
    const got = await conn.read(buffer.subarray(at));
    if (got === null) throw new Error(`stream closed after ${at} of ${n} bytes`);
    at += got;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Opens count streams, at most WINDOW setting up at once; they all stay open. */
async function openStreams(
  count: number,
  open: () => Promise<Stream>,
): Promise<{ ms: number; streams: Stream[] }> {
  const streams: Stream[] = [];
  let started = 0;
  const begin = performance.now();
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (started < count) {
      started++;
      streams.push(await open());
    }
  }));
  return { ms: performance.now() - begin, streams };
}

function closeAll(streams: Stream[]): void {
  for (const stream of streams) {
    try {
      stream.close();
    } catch {
      // already closed
    }
  }
}

/** User + system CPU time of a process so far, ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Opens, measures and closes; pid is the process whose memory counts. */
async function measure(pid: number, open: () => Promise<Stream>): Promise<RunFigures> {
  closeAll((await openStreams(WARMUP_STREAMS, open)).streams);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = processMemory(pid).rssKiB;
  const cpuBefore = [cpuMs(pid), cpuMs(Deno.pid)];
  const { ms, streams } = await openStreams(STREAMS, open);
  const cpuAfter = [cpuMs(pid), cpuMs(Deno.pid)];
  const during = processMemory(pid);
  closeAll(streams);
  return {
    rate: STREAMS / (ms / 1000),
    perStreamKiB: (during.rssKiB - before) / STREAMS,
    peakMiB: during.peakKiB / 1024,
    cpuShare: (cpuAfter[0] - cpuBefore[0]) / ms,
    selfCpuShare: (cpuAfter[1] - cpuBefore[1]) / ms,
  };
}

// --- the baseline: a bare relay -------------------------------------------------------

/** --relay mode: a bare Deno relay in its own process, to upstream. */
async function relayMain(upstreamPort: number): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log((listener.addr as Deno.NetAddr).port);
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        await writeAll(to, buffer.subarray(0, n));
      }
      await to.closeWrite();
    } catch {
      // the other side went away
    }
  };
  for await (const client of listener) {
    (async () => {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
      await Promise.all([copy(client, upstream), copy(upstream, client)]);
      for (const conn of [client, upstream]) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    })().catch(() => {});
  }
}

/** A plain echo server in this process. */
function plainEcho(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            await writeAll(conn, buffer.subarray(0, n));
          }
        } catch {
          // closed
        }
        try {
          conn.close();
        } catch {
          // closed
        }
      })();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

async function baselineRun(): Promise<RunFigures> {
  const echo = plainEcho();
  const relay = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      import.meta.filename!,
      "--relay",
      String(echo.port),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = relay.stdout.getReader();
  try {
    const { value } = await reader.read();
    const port = Number(new TextDecoder().decode(value).trim());
    return await measure(relay.pid, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeAll(conn, MESSAGE);
      await readExact(conn, MESSAGE.length);
      return conn;
    });
  } finally {
    try {
      relay.kill("SIGKILL");
    } catch {
      // it already exited
    }
    await relay.status;
    await reader.cancel().catch(() => {});
    echo.close();
  }
}

// --- ours: the emulator ---------------------------------------------------------------

/** A GSA1 challenger echo server (the listening app of the tunnel). */
async function gsa1Echo(tunnelId: string, secret: () => string) {
  const stack = Stack.parse(`tcp:nodelay,gsa1:role=challenger;tunnel=${tunnelId}`, {
    attrs: { gsa1: { secrets: () => ({ secret: secret() }) } },
  });
  const server = await stack.listen("127.0.0.1:0");
  const serve = async () => {
    for (;;) {
      let accepted;
      try {
        accepted = await server.acceptRaw();
      } catch {
        return;
      }
      (async () => {
        let handle: Handle | undefined;
        try {
          handle = await accepted.open();
          const buffer = new Uint8Array(4096);
          for (;;) {
            const n = await handle.read(buffer);
            await handle.write(buffer.subarray(0, n));
          }
        } catch {
          // EOF or closed
        } finally {
          await handle?.close().catch(() => {});
          await accepted.close().catch(() => {});
        }
      })();
    }
  };
  const loop = serve();
  return {
    port: Number(server.address.split(":").at(-1)),
    async close() {
      await server.close().catch(() => {});
      await loop;
    },
  };
}

async function emulatorRun(): Promise<RunFigures> {
  const emulator = await startEmulatorProcess();
  const root = await Deno.makeTempDir({ prefix: "gs-bench-streams-" });
  let listenerSecret = "";
  try {
    const home = `${root}/home`;
    await Deno.mkdir(home);
    const dirs = { initiator: `${root}/initiator`, listener: `${root}/listener` };
    const cli = async (side: keyof typeof dirs, args: string[]) => {
      const env = { ...emulator.env, HOME: home, GLOBUS_STREAMS_DIR: dirs[side] };
      const out = await runCliInProcess(args, { env });
      if (out.code !== 0) throw new Error(`${args.join(" ")}: ${out.stderr}`);
      return out.stdout;
    };
    const created = JSON.parse(
      await cli("initiator", [
        "tunnel",
        "create",
        "-F",
        "json",
        emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
        emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      ]),
    );
    const tunnelId: string = created.data.id;
    const server = await gsa1Echo(tunnelId, () => listenerSecret);
    try {
      await cli("listener", [
        "environment",
        "initialize",
        "--listener-contact-string",
        `127.0.0.1:${server.port}`,
        tunnelId,
      ]);
      await cli("initiator", ["environment", "initialize", tunnelId]);
      const listenerConf = (await new ConfStore(dirs.listener).read(tunnelId))!.values;
      const initiatorConf = (await new ConfStore(dirs.initiator).read(tunnelId))!.values;
      listenerSecret = listenerConf.lankey!;
      const stack = Stack.parse(`tcp:nodelay,gsa1:role=responder;tunnel=${tunnelId}`, {
        attrs: { gsa1: { secret: initiatorConf.lankey!, secretId: initiatorConf.lankeyId } },
      });
      const contact = initiatorConf.connectorContactString!;
      const reply = new Uint8Array(MESSAGE.length);
      return await measure(emulator.pid, async () => {
        const handle = await stack.open(contact, { timeoutMs: 60_000 });
        await handle.write(MESSAGE);
        await handle.read(reply, { waitForBytes: reply.length, timeoutMs: 60_000 });
        return { close: () => void handle.close().catch(() => {}) };
      });
    } finally {
      await server.close();
    }
  } finally {
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
  }
}

function describe(figures: RunFigures): string {
  return `${figures.rate.toFixed(0)} streams/s, ${figures.perStreamKiB.toFixed(1)} KiB/stream, ` +
    `peak ${figures.peakMiB.toFixed(1)} MiB, CPU during set-up: measured process ` +
    `${(figures.cpuShare * 100).toFixed(0)}%, load generator ${
      (figures.selfCpuShare * 100).toFixed(0)
    }%`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { relay: { type: "string" } } });
  if (values.relay) return await relayMain(Number(values.relay));
  const ours: RunFigures[] = [];
  const baseline: RunFigures[] = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternate which goes first, so drift on the machine hits both alike.
    const order = run % 2 === 0 ? ["ours", "baseline"] : ["baseline", "ours"];
    for (const which of order) {
      const figures = which === "ours" ? await emulatorRun() : await baselineRun();
      (which === "ours" ? ours : baseline).push(figures);
      progress(`emulator_streams: run ${run + 1} ${which}: ${describe(figures)}`);
    }
  }
  const pick = (list: RunFigures[], key: keyof RunFigures) => median(list.map((f) => f[key]));
  const note = `${STREAMS} streams open at once (${WINDOW} setting up at a time), median of ` +
    `${RUNS} alternating runs; ours: the emulator process (GSA1 on legs 1-3, 64-byte echo ` +
    `end to end); baseline: a bare Deno relay process (plain TCP, 64 KiB copy loop)`;
  emit(result({
    name: `emulator: set-up rate of ${STREAMS} concurrent streams`,
    ours: pick(ours, "rate"),
    baseline: pick(baseline, "rate"),
    unit: "streams/s",
    target: TARGETS.rate,
    better: "higher",
    note,
    runs: RUNS,
  }));
  emit(result({
    name: "emulator: memory per open stream (VmRSS)",
    ours: pick(ours, "perStreamKiB"),
    baseline: pick(baseline, "perStreamKiB"),
    unit: "KiB",
    target: TARGETS.perStream,
    note,
    runs: RUNS,
  }));
  emit(result({
    name: `emulator: peak RSS with ${STREAMS} open streams (VmHWM)`,
    ours: pick(ours, "peakMiB"),
    baseline: pick(baseline, "peakMiB"),
    unit: "MiB",
    target: TARGETS.peak,
    note,
    runs: RUNS,
  }));
}

if (import.meta.main) await main();
