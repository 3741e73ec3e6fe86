// What the seccomp engine (globus-streams-supervise) costs a program, in three figures:
// - connect() to globus.<id> under the supervisor against the same connect() through the
//   preload library, and against a plain loopback connect(); warm caches, GSA1 included,
//   timed inside warm C processes (tests/e2e/fixtures/connect_timer.c) that take turns a
//   batch at a time, as bench/preload_connect.ts does. The access point is connect_timer
//   accepting with the library preloaded (its accept() plays the GSA1 challenger). The
//   supervised dialler resolves globus.<id> from the /etc/hosts the supervisor injects.
// - the data path of a supervised program (bulk send over loopback, not tunnelled)
//   against the same sender unsupervised, as bench/preload_datapath.ts does: the filter
//   never traps read or write. Target >= 0.99.
// Prints one JSON line per figure (bench/_lib.ts).
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
const CONNECT_PAIRS = Number(Deno.env.get("BENCH_RUNS") ?? 15);
const DATA_PAIRS = Number(Deno.env.get("BENCH_DATA_RUNS") ?? 40);
const BYTES_PER_ROUND = Number(Deno.env.get("BENCH_MIB") ?? 128) * 1024 * 1024;
const CONNECT_TARGET_VS_PRELOAD = 2;
const CONNECT_TARGET_VS_PLAIN = 6;
const DATA_TARGET = 0.99;
const tunnelId = "5f2c3a1e-0000-4000-8000-00000005ecc0";
const fakePort = 4242;

const [library, timer, stream] = await Promise.all([
  buildReleaseLibrary(),
  compileFixture("connect_timer"),
  compileFixture("stream"),
]);
const supervisor = `${library.slice(0, library.lastIndexOf("/lib/"))}/bin/globus-streams-supervise`;
const root = await Deno.makeTempDir({ prefix: "gs-bench-seccomp-" });
const accessPointPort = freePort();
const plainPort = freePort();
const sinkPort = freePort();
const servers: Proc[] = [];
try {
  await writeTunnelConfs(root, tunnelId, { accessPoint: accessPointPort, fake: fakePort });
  const side = (name: string) => ({
    GLOBUS_STREAMS_TUNNEL: tunnelId,
    GLOBUS_STREAMS_DIR: `${root}/${name}`,
    GLOBUS_STREAMS_BIN: cliBin,
  });
  const preload = (name: string) => ({ LD_PRELOAD: library, ...side(name) });
  const accessPoint = spawn(timer, ["serve", "127.0.0.1", String(accessPointPort)], {
    env: {
      ...preload("listening"),
      [`GLOBUS_STREAMS_INTERCEPT_PORT_${accessPointPort}`]: tunnelId,
    },
    lifetimeMs: 600_000,
  });
  servers.push(accessPoint);
  const plain = spawn(timer, ["serve", "127.0.0.1", String(plainPort)], { lifetimeMs: 600_000 });
  servers.push(plain);
  const sink = spawn(stream, ["sink", "127.0.0.1", String(sinkPort)], { lifetimeMs: 600_000 });
  servers.push(sink);
  for (const server of servers) await server.waitForLine(/^listening$/);

  const tunnelArgs = ["dial", `globus.${tunnelId}`, String(fakePort)];
  // The supervised connect really goes through the tunnel: the supervisor's debug line.
  const check = await run(supervisor, [timer, ...tunnelArgs, "1"], {
    env: { ...side("initiating"), GLOBUS_STREAMS_DEBUG: "1" },
  });
  const proof = new RegExp(
    `\\[connect\\] 127\\.77\\.83\\.1:${fakePort} -> 127\\.0\\.0\\.1:${accessPointPort} ` +
      `\\(tunnel ${tunnelId}, gsa1 ok\\)`,
  );
  if (check.code !== 0 || !proof.test(check.stderr)) {
    throw new Error(`no GSA1 on the supervised connect (exit ${check.code}): ${check.stderr}`);
  }
  const connects = await connectFigures(side, preload, tunnelArgs);
  const data = await dataPathFigures(side);
  const note = (vs: string) =>
    `median of ${connects.seccomp.length} connect() calls timed inside three warm C processes ` +
    `taking turns in ${CONNECT_PAIRS} rounds of batches of ${BATCH}; ours: globus.<id> under ` +
    `globus-streams-supervise (GSA1 run by the supervisor on a pidfd_getfd copy), baseline: ${vs}`;
  emit(result({
    name: "connect() under the seccomp engine vs the preload library, GSA1 included",
    ours: median(connects.seccomp),
    baseline: median(connects.preload),
    unit: "us",
    target: CONNECT_TARGET_VS_PRELOAD,
    runs: connects.seccomp.length,
    note: note("the same connect() through LD_PRELOAD of the library"),
  }));
  emit(result({
    name: "connect() under the seccomp engine vs a plain connect()",
    ours: median(connects.seccomp),
    baseline: median(connects.plain),
    unit: "us",
    target: CONNECT_TARGET_VS_PLAIN,
    runs: connects.seccomp.length,
    note: note("127.0.0.1 to a plain listener, unsupervised"),
  }));
  emit(result({
    name: "supervised program's data path (bulk send over loopback, not tunnelled)",
    ours: median(data.supervised) / 1e6,
    baseline: median(data.plain) / 1e6,
    unit: "MB/s",
    target: DATA_TARGET,
    better: "higher",
    runs: DATA_PAIRS,
    note: `median of ${DATA_PAIRS} rounds of ${BYTES_PER_ROUND / (1024 * 1024)} MiB each, ` +
      "alternating between two warm sender processes, each round a new connection; ours: " +
      "the C sender under globus-streams-supervise (its connect() trapped and continued), " +
      `baseline: the same sender unsupervised; median of per-pair ratios ${data.paired}`,
  }));
} finally {
  for (const server of servers) await server.stop();
  await Deno.remove(root, { recursive: true });
}

async function connectFigures(
  side: (name: string) => Record<string, string>,
  preload: (name: string) => Record<string, string>,
  tunnelArgs: string[],
): Promise<{ seccomp: number[]; preload: number[]; plain: number[] }> {
  const diallers = {
    seccomp: startDriven(supervisor, [timer, ...tunnelArgs, "0"], side("initiating")),
    preload: startDriven(timer, [...tunnelArgs, "0"], preload("initiating")),
    plain: startDriven(timer, ["dial", "127.0.0.1", String(plainPort), "0"]),
  };
  const times = { seccomp: [] as number[], preload: [] as number[], plain: [] as number[] };
  const order = ["seccomp", "preload", "plain"] as const;
  try {
    progress(`seccomp connect: ${CONNECT_PAIRS} rounds of batches of ${BATCH} connects, 3 ways`);
    for (const name of order) await batch(diallers[name]);
    for (let round = 0; round < CONNECT_PAIRS; round++) {
      // Rotate which goes first, so none always follows another.
      for (let k = 0; k < order.length; k++) {
        const name = order[(round + k) % order.length];
        times[name].push(...await batch(diallers[name]));
      }
    }
  } finally {
    await Promise.all(Object.values(diallers).map((dialler) => dialler.close()));
  }
  progress(
    `seccomp connect: median ${median(times.seccomp).toFixed(1)} us supervised, ` +
      `${median(times.preload).toFixed(1)} us preloaded, ${
        median(times.plain).toFixed(1)
      } us plain`,
  );
  return times;
}

/** Microseconds of each connect() of one batch. */
async function batch(dialler: Driven): Promise<number[]> {
  const times = (await dialler.ask(String(BATCH))).split(" ").map(Number);
  if (times.length !== BATCH || times.some((t) => !(t > 0))) {
    throw new Error(
      `connect_timer printed ${JSON.stringify(times.slice(0, 5))}: ${dialler.stderr()}`,
    );
  }
  return times;
}

async function dataPathFigures(
  side: (name: string) => Record<string, string>,
): Promise<{ supervised: number[]; plain: number[]; paired: string }> {
  const args = ["send", "127.0.0.1", String(sinkPort), String(BYTES_PER_ROUND), "0"];
  const senders = {
    supervised: startDriven(supervisor, [stream, ...args], side("initiating")),
    plain: startDriven(stream, args),
  };
  const rates = { supervised: [] as number[], plain: [] as number[] };
  try {
    progress(`seccomp data path: 3 warm-up rounds each, then ${DATA_PAIRS} alternating pairs`);
    for (let i = 0; i < 3; i++) {
      await sendRound(senders.supervised);
      await sendRound(senders.plain);
    }
    for (let pair = 0; pair < DATA_PAIRS; pair++) {
      const first = pair % 2 === 0 ? "supervised" : "plain";
      const second = first === "plain" ? "supervised" : "plain";
      rates[first].push(await sendRound(senders[first]));
      rates[second].push(await sendRound(senders[second]));
    }
  } finally {
    await Promise.all([senders.supervised.close(), senders.plain.close()]);
  }
  // Each pair's own ratio: slow drifts in the machine's load cancel within a pair.
  const paired = median(rates.supervised.map((rate, i) => rate / rates.plain[i])).toFixed(3);
  progress(
    `seccomp data path: median ${(median(rates.supervised) / 1e6).toFixed(0)} vs ` +
      `${(median(rates.plain) / 1e6).toFixed(0)} MB/s; median of per-pair ratios ${paired}`,
  );
  return { ...rates, paired };
}

/** Bytes per second of one round of a `stream send ... 0` process. */
async function sendRound(sender: Driven): Promise<number> {
  const answer = await sender.ask("go");
  const [bytes, seconds] = answer.split(" ").map(Number);
  if (!(bytes === BYTES_PER_ROUND && seconds > 0)) {
    throw new Error(`stream send said ${JSON.stringify(answer)}: ${sender.stderr()}`);
  }
  return bytes / seconds;
}
