// Throughput against write size for each path a stream can take on this machine, plotted
// to bench/throughput.svg and bench/throughput.png (rsvg-convert, from Debian's
// librsvg2-bin, which bench/run.ts installs when missing), data in bench/throughput.json.
//
// The same two python programs (bench/_throughput.py) are the ends of every path: a
// writer that sends 32-256 MiB in writes of 1 KiB .. 1 MiB and a sink that counts them.
//   direct              writer -> sink
//   xio relay           writer -> a tcp-stack relay of src/xio (its own process) -> sink
//   socat, 3 legs       writer -> socat -> socat -> sink (the tunnel's shape: 3 TCP legs;
//                       -b 262144, the emulator's relay buffer size)
//   emulator            writer -> emulator LAN port -> WAN leg -> sink; gateways without
//                       LAN secrets, so the ends are plain TCP
//   preloaded           both ends preloaded (libglobus_streams_client.so.0, GSA1 on legs
//                       1 and 3) through the default emulator
// Each point is the median of BENCH_RUNS (default 5) transfers, the paths taking turns. One figure is emitted
// (bench/emulator_path.ts already sets the emulator against socat): the preloaded path
// against the plain emulator path, target >= 0.9, since the library is not on the data
// path once connect() and accept() have returned.
import { parseArgs } from "node:util";
import { relay, Stack } from "../src/xio/mod.ts";
import { startEmulatorProcess } from "../tests/_support/emulator.ts";
import { runCliInProcess } from "../tests/_support/cli.ts";
import { buildLibrary, libraryPath } from "../tests/native/_support.ts";
import { emit, median, onPath, progress, repoRoot, result } from "./_lib.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const SIZES = [1, 4, 16, 64, 256, 1024].map((k) => k * KIB);
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const FIGURE_SIZE = 64 * KIB;
const app = `${repoRoot}bench/_throughput.py`;
const decoder = new TextDecoder();

function totalFor(size: number): number {
  return Math.min(256 * MIB, Math.max(32 * MIB, size * 32 * KIB));
}

interface Proc {
  pid: number;
  /** Stdout lines so far. */
  lines: string[];
  nextLine(ms?: number): Promise<string>;
  done: Promise<Deno.CommandStatus>;
  kill(): Promise<void>;
  stderr(): string;
}

function spawn(cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = new Deno.Command(cmd, {
    args,
    env: { ...Deno.env.toObject(), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let taken = 0;
  let stderr = "";
  let wake = () => {};
  const pump = (async () => {
    let pending = "";
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      lines.push(...parts);
      wake();
    }
  })();
  (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  let exited = false;
  const done = child.status.then(async (status) => {
    exited = true;
    await pump;
    wake();
    return status;
  });
  return {
    pid: child.pid,
    lines,
    stderr: () => stderr,
    done,
    async nextLine(ms = 30_000) {
      const deadline = performance.now() + ms;
      while (taken >= lines.length) {
        if (exited || performance.now() > deadline) {
          throw new Error(`${cmd} ${args.join(" ")}: no line (${stderr.trim()})`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return lines[taken++];
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await done;
    },
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitListening(port: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Where the writer connects, how it runs, and what to stop afterwards. */
interface Route {
  host: string;
  port: number;
  /** Prefix of the writer's command (the launcher for the preloaded path). */
  prefix: string[];
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function startSink(prefix: string[] = [], port = 0, env: Record<string, string> = {}) {
  const [cmd, ...rest] = [...prefix, "python3", app, "sink", String(port)];
  const sink = spawn(cmd, rest, env);
  return { sink, port: Number(await sink.nextLine()) };
}

const plainRoute = (port: number, stop: () => Promise<void>): Route => ({
  host: "127.0.0.1",
  port,
  prefix: [],
  env: {},
  stop,
});

async function direct(): Promise<Route> {
  const { sink, port } = await startSink();
  return plainRoute(port, () => sink.kill());
}

async function xioRelay(): Promise<Route> {
  const { sink, port } = await startSink();
  const relayProc = spawn(Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    import.meta.filename!,
    "--xio-relay",
    String(port),
  ]);
  const relayPort = Number(await relayProc.nextLine());
  return plainRoute(relayPort, async () => {
    await relayProc.kill();
    await sink.kill();
  });
}

async function socatThreeLegs(): Promise<Route> {
  const { sink, port } = await startSink();
  const [first, second] = [freePort(), freePort()];
  const hop = (listen: number, to: number) =>
    spawn("socat", [
      "-b",
      "262144",
      `TCP-LISTEN:${listen},bind=127.0.0.1,reuseaddr,fork`,
      `TCP:127.0.0.1:${to}`,
    ]);
  const b = hop(second, port);
  const a = hop(first, second);
  await waitListening(second);
  await waitListening(first);
  return plainRoute(first, async () => {
    await a.kill();
    await b.kill();
    await sink.kill();
  });
}

/** The default topology with neither gateway requiring LAN secrets. */
const openGatewaysToml = `
[[endpoints]]
id = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
display_name = "Site A"
[[endpoints]]
id = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
display_name = "Site B"
[[gateways]]
id = "d587e953-cb44-4d95-bc66-d7cba1b38121"
endpoint = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
display_name = "Site A gateway"
lan_secret_required = false
[[gateways]]
id = "316e3017-b4e3-43eb-9177-052bb0f761b9"
endpoint = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
display_name = "Site B gateway"
lan_secret_required = false
[[access_points]]
id = "45a32dca-d28e-4efc-aae3-d142aac27a02"
endpoint = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
gateway = "d587e953-cb44-4d95-bc66-d7cba1b38121"
display_name = "Site A access point"
[[access_points]]
id = "11314cd2-5139-4275-9f3c-cea5774ebfe8"
endpoint = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
gateway = "316e3017-b4e3-43eb-9177-052bb0f761b9"
display_name = "Site B access point"
`;

async function cliOk(args: string[], env: Record<string, string>): Promise<string> {
  const out = await runCliInProcess(args, { env });
  if (out.code !== 0) throw new Error(`globus-streams ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

async function emulatorPath(): Promise<Route> {
  const { sink, port } = await startSink();
  const emulator = await startEmulatorProcess({ configToml: openGatewaysToml });
  const root = await Deno.makeTempDir({ prefix: "gs-bench-plot-" });
  const env = { ...emulator.env, HOME: root, GLOBUS_STREAMS_DIR: `${root}/streams` };
  const created = JSON.parse(
    await cliOk([
      "tunnel",
      "create",
      "-F",
      "json",
      "--listener-contact-string",
      `127.0.0.1:${port}`,
      emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    ], env),
  );
  const attributes = created.data.attributes;
  return {
    host: attributes.initiator_ip_address,
    port: attributes.initiator_port,
    prefix: [],
    env: {},
    async stop() {
      await emulator.stop();
      await sink.kill();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function preloaded(): Promise<Route> {
  await buildLibrary();
  const emulator = await startEmulatorProcess();
  const root = await Deno.makeTempDir({ prefix: "gs-bench-plot-" });
  const dirs = { initiator: `${root}/initiator`, listener: `${root}/listener` };
  const env = (side: keyof typeof dirs) => ({
    ...emulator.env,
    HOME: root,
    GLOBUS_STREAMS_DIR: dirs[side],
  });
  const created = JSON.parse(
    await cliOk([
      "tunnel",
      "create",
      "-F",
      "json",
      emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    ], env("initiator")),
  );
  const tunnelId: string = created.data.id;
  const listenPort = freePort();
  await cliOk([
    "environment",
    "initialize",
    "--listener-contact-string",
    `127.0.0.1:${listenPort}`,
    tunnelId,
  ], env("listener"));
  await cliOk(["environment", "initialize", tunnelId], env("initiator"));
  const conf = await Deno.readTextFile(`${dirs.initiator}/${tunnelId}.conf`);
  const fakePort = Number(/^fake_port=(\d+)$/m.exec(conf)![1]);
  const launcher = `${repoRoot}bin/globus-streams-launch`;
  const preload = {
    GLOBUS_STREAMS_BIN: `${repoRoot}bin/globus-streams`,
    GLOBUS_STREAMS_LIB: libraryPath,
  };
  const { sink } = await startSink(
    [launcher, "-p", String(listenPort), tunnelId],
    listenPort,
    { ...env("listener"), ...preload },
  );
  return {
    host: `globus.${tunnelId}`,
    port: fakePort,
    prefix: [launcher, tunnelId],
    env: { ...env("initiator"), ...preload },
    async stop() {
      await sink.kill();
      await emulator.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const paths = [
  { name: "direct", label: "direct (no relay)", color: "#555555", start: direct },
  { name: "xio", label: "xio relay (1 hop)", color: "#1f77b4", start: xioRelay },
  { name: "socat", label: "socat, 3 legs", color: "#2ca02c", start: socatThreeLegs },
  { name: "emulator", label: "emulator, 3 legs", color: "#d62728", start: emulatorPath },
  { name: "preloaded", label: "preloaded, emulator + GSA1", color: "#9467bd", start: preloaded },
] as const;

type PathName = (typeof paths)[number]["name"];

/** One transfer per write size through a route; MiB/s per size. */
async function transferOnce(route: Route): Promise<Record<number, number>> {
  const [cmd, ...prefix] = [...route.prefix, "python3"];
  const writer = spawn(cmd, [
    ...prefix,
    app,
    "writer",
    route.host,
    String(route.port),
    SIZES.join(","),
    SIZES.map(totalFor).join(","),
    "1",
  ], route.env);
  const status = await writer.done;
  if (!status.success) throw new Error(`the writer failed: ${writer.stderr().trim()}`);
  const rates: Record<number, number> = {};
  for (const line of writer.lines.filter((l) => l.startsWith("{"))) {
    const { size, bytes, seconds } = JSON.parse(line);
    rates[size] = bytes / MIB / seconds;
  }
  return rates;
}

// --- the figure ----------------------------------------------------------------------

function sizeLabel(size: number): string {
  return size >= MIB ? `${size / MIB} MiB` : `${size / KIB} KiB`;
}

function niceMax(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function svg(data: Record<PathName, Record<number, number>>): string {
  const width = 900, height = 540;
  const left = 80, right = 240, top = 50, bottom = 70;
  const plotW = width - left - right, plotH = height - top - bottom;
  const maxY = niceMax(Math.max(...Object.values(data).flatMap((row) => Object.values(row))));
  const x = (size: number) =>
    left + (Math.log2(size / SIZES[0]) / Math.log2(SIZES.at(-1)! / SIZES[0])) * plotW;
  const y = (value: number) => top + plotH - (value / maxY) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left + plotW / 2}" y="28" text-anchor="middle" font-size="16">` +
    `Throughput against write size (loopback, median of ${RUNS})</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const value = (maxY / 5) * i;
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(value)}" y2="${
        y(value)
      }" stroke="#dddddd"/>`,
      `<text x="${left - 8}" y="${y(value) + 4}" text-anchor="end">${Math.round(value)}</text>`,
    );
  }
  for (const size of SIZES) {
    out.push(
      `<line x1="${x(size)}" x2="${x(size)}" y1="${top}" y2="${top + plotH}" stroke="#eeeeee"/>`,
      `<text x="${x(size)}" y="${top + plotH + 20}" text-anchor="middle">${sizeLabel(size)}</text>`,
    );
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`,
    `<text x="${left + plotW / 2}" y="${
      height - 20
    }" text-anchor="middle">size of each write</text>`,
    `<text transform="translate(24 ${
      top + plotH / 2
    }) rotate(-90)" text-anchor="middle">MiB/s</text>`,
  );
  paths.forEach((path, index) => {
    const row = data[path.name];
    const points = SIZES.map((size) => `${x(size).toFixed(1)},${y(row[size]).toFixed(1)}`);
    out.push(
      `<polyline points="${
        points.join(" ")
      }" fill="none" stroke="${path.color}" stroke-width="2.5"/>`,
      ...SIZES.map((size) =>
        `<circle cx="${x(size).toFixed(1)}" cy="${
          y(row[size]).toFixed(1)
        }" r="3.5" fill="${path.color}"/>`
      ),
    );
    const legendY = top + 10 + index * 24;
    out.push(
      `<line x1="${left + plotW + 20}" x2="${
        left + plotW + 44
      }" y1="${legendY}" y2="${legendY}" stroke="${path.color}" stroke-width="3"/>`,
      `<text x="${left + plotW + 52}" y="${legendY + 4}">${path.label}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

async function writePlot(data: Record<PathName, Record<number, number>>): Promise<void> {
  const base = `${repoRoot}bench/throughput`;
  await Deno.writeTextFile(`${base}.svg`, svg(data));
  await Deno.writeTextFile(
    `${base}.json`,
    JSON.stringify({ runs: RUNS, mibPerSecond: data }, null, 2) + "\n",
  );
  if (!onPath("rsvg-convert")) {
    progress(
      "plot: rsvg-convert is missing (Debian librsvg2-bin): wrote only bench/throughput.svg",
    );
    return;
  }
  const converted = await new Deno.Command("rsvg-convert", {
    args: ["--format", "png", "--output", `${base}.png`, `${base}.svg`],
    stderr: "piped",
  }).output();
  if (!converted.success) {
    throw new Error(`rsvg-convert failed: ${decoder.decode(converted.stderr).trim()}`);
  }
  progress("plot: wrote bench/throughput.png");
}

/** --xio-relay mode: a relay built from tcp stacks, one connection at a time. */
async function xioRelayMain(sinkPort: number): Promise<void> {
  const stack = Stack.parse("tcp");
  const server = await stack.listen("127.0.0.1:0");
  console.log(server.address.split(":").at(-1));
  for (;;) {
    const client = await server.accept();
    (async () => {
      const upstream = await stack.open(`127.0.0.1:${sinkPort}`);
      await relay(client, upstream, { bufferSize: 64 * KIB }).catch(() => {});
      await Promise.allSettled([client.close(), upstream.close()]);
    })();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { "xio-relay": { type: "string" } } });
  if (values["xio-relay"]) return await xioRelayMain(Number(values["xio-relay"]));
  // Every route stays up while the runs rotate over them, so drift on the machine hits
  // every path alike.
  const routes: Route[] = [];
  const data = {} as Record<PathName, Record<number, number>>;
  try {
    for (const path of paths) routes.push(await path.start());
    const samples = paths.map(() => Object.fromEntries(SIZES.map((s) => [s, [] as number[]])));
    for (let run = 0; run < RUNS; run++) {
      for (let k = 0; k < paths.length; k++) {
        const index = (run + k) % paths.length;
        const rates = await transferOnce(routes[index]);
        for (const size of SIZES) samples[index][size].push(rates[size]);
      }
    }
    paths.forEach((path, index) => {
      data[path.name] = Object.fromEntries(
        SIZES.map((size) => [size, median(samples[index][size])]),
      );
      progress(
        `plot: ${path.label}: ${
          SIZES.map((s) => `${sizeLabel(s)} ${data[path.name][s].toFixed(0)}`).join(", ")
        } MiB/s`,
      );
    });
  } finally {
    for (const route of routes) await route.stop();
  }
  await writePlot(data);
  const note = `MiB/s with ${sizeLabel(FIGURE_SIZE)} writes, median of ${RUNS} transfers of ` +
    `${totalFor(FIGURE_SIZE) / MIB} MiB by python3 ends; all sizes in bench/throughput.png`;
  emit(result({
    name: `throughput: preloaded ends vs plain ends through the emulator (${
      sizeLabel(FIGURE_SIZE)
    } writes)`,
    ours: data.preloaded[FIGURE_SIZE],
    baseline: data.emulator[FIGURE_SIZE],
    unit: "MiB/s",
    target: 0.9,
    better: "higher",
    note,
    runs: RUNS,
  }));
}

if (import.meta.main) await main();
