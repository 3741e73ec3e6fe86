// The preload library's cost on the data path, which should be nothing: it hooks
// connection set-up only, never read or write. A C sender (tests/e2e/fixtures/stream.c,
// built with `zig cc`) pushes bytes over loopback to a C sink, directly; "ours" runs it
// with the library preloaded and GLOBUS_STREAMS_TUNNEL set (so its connect() goes
// through the hook, which looks the tunnel up and lets this connection pass), the
// baseline runs the same binary without the preload. Both senders stay up and take turns,
// one round (a new connection, timed after connect() returned) at a time, so neither
// pays process start-up or cold caches. Target: ours/baseline >= 0.99.
// (The library exports only its nine hooks, none on the data path; on a shared machine
// the figure's spread is about a percent either way.)
// Prints one JSON line (bench/_lib.ts).
import { ConfStore } from "../src/conf/mod.ts";
import { emit, median, progress, result } from "./_lib.ts";
import {
  buildReleaseLibrary,
  cliBin,
  compileFixture,
  type Driven,
  freePort,
  run,
  spawn,
  startDriven,
} from "../tests/e2e/_support.ts";

const BYTES_PER_ROUND = Number(Deno.env.get("BENCH_MIB") ?? 128) * 1024 * 1024;
const PAIRS = Number(Deno.env.get("BENCH_RUNS") ?? 100);
const WARMUP = 3;
const TARGET = 0.99;
const tunnelId = "5f2c3a1e-0000-4000-8000-00000000da7a";

/** Bytes per second of one round of a `stream send ... 0` process. */
async function round(sender: Driven): Promise<number> {
  const answer = await sender.ask("go");
  const [bytes, seconds] = answer.split(" ").map(Number);
  if (!(bytes === BYTES_PER_ROUND && seconds > 0)) {
    throw new Error(`stream send said ${JSON.stringify(answer)}: ${sender.stderr()}`);
  }
  return bytes / seconds;
}

const [library, stream] = await Promise.all([buildReleaseLibrary(), compileFixture("stream")]);
const dir = await Deno.makeTempDir({ prefix: "gs-bench-datapath-" });
const port = freePort();
const sink = spawn(stream, ["sink", "127.0.0.1", String(port)], { lifetimeMs: 300_000 });
try {
  await sink.waitForLine(/^listening$/);
  // A tunnel whose listener contact is elsewhere: the hook looks it up once, then lets
  // connections to the sink pass untouched.
  await new ConfStore(dir).write(tunnelId, {
    values: {
      lankey: "bench-secret-0123456789",
      lankeyId: "0b8e6a7e-1111-4222-8333-444455556666",
      connectorContactString: "127.0.0.1:9",
      listenerContactString: "127.0.0.1:8888",
      updateTime: Math.floor(Date.now() / 1000),
      connectorContactStringTtl: 24 * 3600,
      fakePort: 4242,
      tunnelId,
      side: "initiating",
    },
    lines: [],
  });
  const preloaded = {
    LD_PRELOAD: library,
    GLOBUS_STREAMS_TUNNEL: tunnelId,
    GLOBUS_STREAMS_DIR: dir,
    GLOBUS_STREAMS_BIN: cliBin,
  };
  const args = ["send", "127.0.0.1", String(port), String(BYTES_PER_ROUND)];

  // The library is really loaded and consulted: with a binary that does not exist, its
  // connect() hook says so on stderr (and still lets the connection pass).
  const check = await run(stream, [...args.slice(0, 3), "1024", "1"], {
    env: { ...preloaded, GLOBUS_STREAMS_BIN: `${dir}/no-such-binary`, GLOBUS_STREAMS_DEBUG: "1" },
  });
  if (
    check.code !== 0 || !/\[connect\] .*cannot find the globus-streams binary/.test(check.stderr)
  ) {
    throw new Error(`the preload did not take part (exit ${check.code}): ${check.stderr}`);
  }

  const senders = {
    ours: startDriven(stream, [...args, "0"], preloaded),
    plain: startDriven(stream, [...args, "0"]),
  };
  const ours: number[] = [];
  const plain: number[] = [];
  try {
    progress(`preload data path: ${WARMUP} warm-up rounds each, then ${PAIRS} alternating pairs`);
    for (let i = 0; i < WARMUP; i++) {
      await round(senders.ours);
      await round(senders.plain);
    }
    for (let pair = 0; pair < PAIRS; pair++) {
      // Alternate which goes first, so neither always follows the other.
      if (pair % 2 === 0) {
        ours.push(await round(senders.ours));
        plain.push(await round(senders.plain));
      } else {
        plain.push(await round(senders.plain));
        ours.push(await round(senders.ours));
      }
    }
  } finally {
    await Promise.all([senders.ours.close(), senders.plain.close()]);
  }
  const mib = BYTES_PER_ROUND / (1024 * 1024);
  const gbps = (rate: number) => (rate * 8 / 1e9).toFixed(2);
  // Each pair's own ratio: slow drifts in the machine's load cancel within a pair.
  const paired = median(ours.map((rate, i) => rate / plain[i])).toFixed(3);
  progress(
    `preload data path: median ${gbps(median(ours))} vs ` +
      `${gbps(median(plain))} Gbit/s; ` +
      `best ${gbps(Math.max(...ours))} vs ${gbps(Math.max(...plain))}; ` +
      `median of per-pair ratios ${paired}`,
  );
  emit(result({
    name: "preloaded program's data path (bulk send over loopback, not tunnelled)",
    ours: median(ours) / 1e6,
    baseline: median(plain) / 1e6,
    unit: "MB/s",
    target: TARGET,
    better: "higher",
    runs: PAIRS,
    note: `median of ${PAIRS} rounds of ${mib} MiB each, alternating between two warm ` +
      "sender processes, each round a new connection timed after connect() returned; " +
      "ours: LD_PRELOAD of the ReleaseSafe library with GLOBUS_STREAMS_TUNNEL set, " +
      `baseline: the same C sender without the preload; median of per-pair ratios ${paired}`,
  }));
} finally {
  await sink.stop();
  await Deno.remove(dir, { recursive: true });
}
