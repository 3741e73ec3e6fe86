// The framework's cost on the data path: a relay built from `tcp` stacks (Stack.listen,
// Stack.open, relay()) against bare Deno relays (Deno.listen/Deno.connect with a copy
// loop using the same 64 KiB buffer, and with pipeTo), moving the same bytes over
// loopback. The baseline is the faster bare relay.
//
// Each trial: a peer process (this file with --peer) runs a sink and a source; the
// relay under test runs here, between them. The peer times source-connect to sink-EOF.
// Variants alternate; the figure is the median of the runs. Prints one JSON line:
//   {"name","ours","baseline","unit","ratio","target","met"}
// Usage: deno run --allow-all bench/xio_relay.ts [--mib 256] [--runs 7]

import { parseArgs } from "node:util";
import { relay, Stack } from "../src/xio/mod.ts";

const BUFFER = 64 * 1024;
const TARGET = 0.9;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/** The peer: sink listener, then (once told where the relay is) the source. */
async function peer(totalBytes: number): Promise<void> {
  const sink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const encoder = new TextEncoder();
  await writeAll(Deno.stdout as unknown as Deno.Conn, encoder.encode(`${sink.addr.port}\n`));
  // The relay's port arrives on stdin.
  const reader = Deno.stdin.readable.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("peer: no relay port on stdin");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const relayPort = Number(text.trim());
  const counted = (async () => {
    const conn = await sink.accept();
    const buffer = new Uint8Array(1024 * 1024);
    let got = 0;
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      got += n;
    }
    conn.close();
    return got;
  })();
  const started = performance.now();
  const source = await Deno.connect({ hostname: "127.0.0.1", port: relayPort });
  const chunk = new Uint8Array(1024 * 1024).fill(0x5a);
  for (let sent = 0; sent < totalBytes; sent += chunk.length) {
    await writeAll(source, chunk.subarray(0, Math.min(chunk.length, totalBytes - sent)));
  }
  await source.closeWrite();
  const got = await counted;
  const ms = performance.now() - started;
  source.close();
  sink.close();
  await writeAll(
    Deno.stdout as unknown as Deno.Conn,
    encoder.encode(JSON.stringify({ bytes: got, ms }) + "\n"),
  );
}

/** A bare Deno relay: one connection, both ways, a manual copy loop. */
async function bareRelay(listener: Deno.TcpListener, sinkPort: number): Promise<void> {
  const client = await listener.accept();
  const upstream = await Deno.connect({ hostname: "127.0.0.1", port: sinkPort });
  const copy = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(BUFFER);
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
    await to.closeWrite();
  };
  await Promise.all([copy(client, upstream), copy(upstream, client)]);
  client.close();
  upstream.close();
}

/** A bare Deno relay with web streams: pipeTo both ways (streams queue, so reads and
 * writes overlap). */
async function pipeRelay(listener: Deno.TcpListener, sinkPort: number): Promise<void> {
  const client = await listener.accept();
  const upstream = await Deno.connect({ hostname: "127.0.0.1", port: sinkPort });
  // A conn's readable closes the whole conn at its end, so half-close is best effort
  // here (this bench sends one way only).
  const ignore = () => {};
  await Promise.all([
    client.readable.pipeTo(upstream.writable, { preventClose: true }).then(() =>
      upstream.closeWrite().catch(ignore)
    ),
    upstream.readable.pipeTo(client.writable, { preventClose: true }).catch(ignore),
  ]);
  for (const conn of [client, upstream]) {
    try {
      conn.close();
    } catch {
      // Already closed by its readable.
    }
  }
}

/** The same relay built from xio stacks. */
async function xioRelay(
  stack: Stack,
  sinkPort: number,
  server: Awaited<ReturnType<Stack["listen"]>>,
) {
  const client = await server.accept();
  const upstream = await stack.open(`127.0.0.1:${sinkPort}`);
  await relay(client, upstream, { bufferSize: BUFFER });
  await Promise.all([client.close(), upstream.close()]);
}

async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>, state: { text: string }) {
  const decoder = new TextDecoder();
  while (!state.text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the peer ended early");
    state.text += decoder.decode(value, { stream: true });
  }
  const at = state.text.indexOf("\n");
  const line = state.text.slice(0, at);
  state.text = state.text.slice(at + 1);
  return line;
}

/** One trial; returns bytes per second as the peer measured it. */
type Variant = "ours" | "copy" | "pipe";

async function trial(variant: Variant, totalBytes: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      import.meta.filename!,
      "--peer",
      "--bytes",
      String(totalBytes),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const state = { text: "" };
  const stdin = child.stdin.getWriter();
  try {
    const sinkPort = Number(await readLine(reader, state));
    let relayDone: Promise<void>;
    let relayPort: number;
    if (variant !== "ours") {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      relayPort = listener.addr.port;
      const bare = variant === "copy" ? bareRelay : pipeRelay;
      relayDone = bare(listener, sinkPort).finally(() => listener.close());
    } else {
      const stack = Stack.parse("tcp");
      const server = await stack.listen("127.0.0.1:0");
      relayPort = Number(server.address.split(":").at(-1));
      relayDone = xioRelay(stack, sinkPort, server).finally(() => server.close());
    }
    await stdin.write(new TextEncoder().encode(`${relayPort}\n`));
    const result = JSON.parse(await readLine(reader, state)) as { bytes: number; ms: number };
    await relayDone;
    if (result.bytes !== totalBytes) {
      throw new Error(`${variant}: the sink got ${result.bytes} of ${totalBytes} bytes`);
    }
    return totalBytes / (result.ms / 1000);
  } finally {
    await stdin.close().catch(() => {});
    await reader.cancel().catch(() => {});
    await child.status;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      peer: { type: "boolean", default: false },
      bytes: { type: "string" },
      mib: { type: "string", default: "256" },
      runs: { type: "string", default: "7" },
    },
  });
  if (values.peer) return await peer(Number(values.bytes));
  const totalBytes = Number(values.mib) * 1024 * 1024;
  const runs = Number(values.runs);
  const rates: Record<Variant, number[]> = { ours: [], copy: [], pipe: [] };
  const order: Variant[] = ["copy", "ours", "pipe"];
  for (const variant of order) await trial(variant, 16 * 1024 * 1024); // warm-up
  for (let i = 0; i < runs; i++) {
    // Rotate the order so drift on the machine hits every variant alike.
    for (let k = 0; k < order.length; k++) {
      const variant = order[(i + k) % order.length];
      const rate = await trial(variant, totalBytes);
      rates[variant].push(rate);
      console.error(`xio_relay: run ${i + 1} ${variant} ${(rate / 2 ** 20).toFixed(0)} MiB/s`);
    }
  }
  const oursMedian = median(rates.ours);
  // The baseline is the faster of the two bare relays.
  const baselineMedian = Math.max(median(rates.copy), median(rates.pipe));
  console.error(
    `xio_relay: medians ours ${(oursMedian / 2 ** 20).toFixed(0)}, copy loop ${
      (median(rates.copy) / 2 ** 20).toFixed(0)
    }, pipeTo ${(median(rates.pipe) / 2 ** 20).toFixed(0)} MiB/s`,
  );
  const ratio = oursMedian / baselineMedian;
  console.log(JSON.stringify({
    name: "xio_relay",
    ours: Math.round(oursMedian),
    baseline: Math.round(baselineMedian),
    unit: "bytes/s",
    ratio: Number(ratio.toFixed(3)),
    target: TARGET,
    met: ratio >= TARGET,
  }));
}

if (import.meta.main) await main();
