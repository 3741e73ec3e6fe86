// What a tunnelled connect() costs a preloaded program once the tunnel's answer is
// cached: connect() to globus.<id> through the library, GSA1 handshake included, against
// a plain loopback connect() to a plain listener. Timed inside C processes
// (tests/e2e/fixtures/connect_timer.c, built with `zig cc`), so process start-up and the
// first lookup do not count; the two diallers stay up and take turns, a batch at a time.
// The access point is the same C program accepting with the library preloaded under
// GLOBUS_STREAMS_INTERCEPT_PORT_<port>: its accept() plays the GSA1 challenger
// in-process, as the emulator's access point does in TypeScript. Both sides' answers
// come from the real binary (`contact-lookup --format preload`) over conf files written
// here. After each connect() the dialler waits, untimed, for the server's EOF: otherwise
// a plain dialler outruns its listener, whose accept queue then stays non-empty (no
// wake-up to pay: a faster, bimodal baseline) until it overflows (1 s SYN retries).
// Target: ours/baseline <= 3. Prints one JSON line.
import { emit, median, progress, result, writeTunnelConfs } from "./_lib.ts";
import {
  buildReleaseLibrary,
  cliBin,
  compileFixture,
  type Driven,
  freePort,
  type Proc,
  run,
  spawn,
  startDriven,
} from "../tests/e2e/_support.ts";

const BATCH = Number(Deno.env.get("BENCH_CONNECTS") ?? 200);
const PAIRS = Number(Deno.env.get("BENCH_RUNS") ?? 15);
const TARGET = 3;
const tunnelId = "5f2c3a1e-0000-4000-8000-0000000c0ec7";
const fakePort = 4242;

const [library, timer] = await Promise.all([
  buildReleaseLibrary(),
  compileFixture("connect_timer"),
]);
const root = await Deno.makeTempDir({ prefix: "gs-bench-connect-" });
const accessPointPort = freePort();
const plainPort = freePort();
const servers: Proc[] = [];
try {
  await writeTunnelConfs(root, tunnelId, { accessPoint: accessPointPort, fake: fakePort });
  const preload = (side: string) => ({
    LD_PRELOAD: library,
    GLOBUS_STREAMS_DIR: `${root}/${side}`,
    GLOBUS_STREAMS_BIN: cliBin,
  });
  const accessPoint = spawn(timer, ["serve", "127.0.0.1", String(accessPointPort)], {
    env: {
      ...preload("listening"),
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${accessPointPort}`]: tunnelId,
    },
    lifetimeMs: 300_000,
  });
  servers.push(accessPoint);
  const plain = spawn(timer, ["serve", "127.0.0.1", String(plainPort)], { lifetimeMs: 300_000 });
  servers.push(plain);
  await accessPoint.waitForLine(/^listening$/);
  await plain.waitForLine(/^listening$/);

  const oursArgs = ["dial", `globus.${tunnelId}`, String(fakePort)];
  const baselineArgs = ["dial", "127.0.0.1", String(plainPort)];

  // The tunnelled connect really runs GSA1: shown by the library's own debug line.
  const check = await run(timer, [...oursArgs, "1"], {
    env: { ...preload("initiating"), GLOBUS_STREAMS_DEBUG: "1" },
  });
  const proof = new RegExp(
    `\\[connect\\] globus\\.5f2c3a1e:${fakePort} -> 127\\.0\\.0\\.1:${accessPointPort} ` +
      `\\(tunnel ${tunnelId}, gsa1 ok\\)`,
  );
  if (check.code !== 0 || !proof.test(check.stderr)) {
    throw new Error(`no GSA1 on the tunnelled connect (exit ${check.code}): ${check.stderr}`);
  }

  const diallers = {
    ours: startDriven(timer, [...oursArgs, "0"], preload("initiating")),
    plain: startDriven(timer, [...baselineArgs, "0"]),
  };
  /** Microseconds of each connect() of one batch. */
  const batch = async (dialler: Driven): Promise<number[]> => {
    const times = (await dialler.ask(String(BATCH))).split(" ").map(Number);
    if (times.length !== BATCH || times.some((t) => !(t > 0))) {
      throw new Error(
        `connect_timer printed ${JSON.stringify(times.slice(0, 5))}: ${dialler.stderr()}`,
      );
    }
    return times;
  };
  const ours: number[] = [];
  const baseline: number[] = [];
  try {
    progress(`preload connect: ${PAIRS} alternating pairs of batches of ${BATCH} connects`);
    await batch(diallers.ours);
    await batch(diallers.plain);
    for (let pair = 0; pair < PAIRS; pair++) {
      // Alternate which goes first, so neither always follows the other.
      if (pair % 2 === 0) {
        ours.push(...await batch(diallers.ours));
        baseline.push(...await batch(diallers.plain));
      } else {
        baseline.push(...await batch(diallers.plain));
        ours.push(...await batch(diallers.ours));
      }
    }
  } finally {
    await Promise.all([diallers.ours.close(), diallers.plain.close()]);
  }
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const p10 = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.1)];
  const p90 = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)];
  progress(
    `preload connect: median ${median(ours).toFixed(1)} vs ${median(baseline).toFixed(1)} us; ` +
      `mean ${mean(ours).toFixed(1)} vs ${mean(baseline).toFixed(1)} us; ` +
      `p10 ${p10(ours).toFixed(1)} vs ${p10(baseline).toFixed(1)} us; ` +
      `p90 ${p90(ours).toFixed(1)} vs ${p90(baseline).toFixed(1)} us`,
  );
  const wakeUs = await processRoundTripUs();
  emit(result({
    name: "connect() through the library, warm cache, GSA1 included",
    ours: median(ours),
    baseline: median(baseline),
    unit: "us",
    target: TARGET,
    runs: ours.length,
    note: `median of ${ours.length} connect() calls timed inside two warm C processes ` +
      `taking turns in ${PAIRS} pairs of batches of ${BATCH} (after a warm-up batch each); ` +
      "ours: globus.<id> to an access point whose accept() runs the library's " +
      "GSA1 challenger, baseline: 127.0.0.1 to a plain listener, no preload; each " +
      "connect() timed alone, then the server's EOF awaited untimed; GSA1 needs two " +
      `round trips between processes, and one (a pipe ping-pong) takes ${wakeUs.toFixed(1)} us ` +
      "on this machine in this run: the figure moves with it",
  }));
} finally {
  for (const server of servers) await server.stop();
  await Deno.remove(root, { recursive: true });
}

/**
 * Median round trip between two processes over pipes (python3), in microseconds: the
 * cost the handshake's two round trips pay on this machine, which the plain connect,
 * finished by the kernel, does not.
 */
async function processRoundTripUs(): Promise<number> {
  const script = [
    "import os, time, statistics",
    "r1, w1 = os.pipe(); r2, w2 = os.pipe()",
    "if os.fork() == 0:",
    "    for _ in range(5000): os.read(r1, 1); os.write(w2, b'x')",
    "    os._exit(0)",
    "ts = []",
    "for _ in range(5000):",
    "    t = time.perf_counter(); os.write(w1, b'x'); os.read(r2, 1)",
    "    ts.append(time.perf_counter() - t)",
    "print(statistics.median(ts) * 1e6)",
  ].join("\n");
  const output = await new Deno.Command("python3", { args: ["-c", script], stderr: "inherit" })
    .output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}
