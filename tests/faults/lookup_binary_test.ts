// The lookup binary missing, slow or crashing: a preloaded program resolving
// globus.<id> must get a normal resolver error (EAI_NONAME, EAI_AGAIN on timeout), never
// hang or crash, and the library must leave no descriptor, zombie or child behind.
// The control case runs the real binary against the emulator, so the probe is shown to
// be able to succeed.
import assert from "node:assert/strict";
import {
  buildLibrary,
  cliBin,
  fixtures,
  launchApp,
  launchEnv,
  launcher,
  startApp,
  startFaultWorld,
  summary,
} from "./_support.ts";

const EAI_NONAME = -2;
const EAI_AGAIN = -3;
const LOOKUP_TIMEOUT_MS = 400;
const ATTEMPTS = 2;
/** Longer than the library caches a failed lookup (1 s), so each attempt runs the binary. */
const GAP_S = 1.1;

interface Probe {
  attempts: { ok?: string; errno?: number; gaierror?: number; ms: number }[];
  fds_before: number[];
  fds_after: number[];
  zombies: number[];
  children: number[];
}

interface Mode {
  name: string;
  bin: string;
  env?: Record<string, string>;
  /** The resolver error every attempt must give (undefined: every attempt succeeds). */
  gaierror: number | undefined;
}

async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

Deno.test("a missing, slow or crashing lookup binary gives a resolver error, no hang, no leak", async () => {
  await buildLibrary();
  await using world = await startFaultWorld();
  const server = launchApp(world, "listener", ["server", String(world.listenerPort)]);
  try {
    await server.waitEvent((e) => e.event === "listening", 10_000, "server listening");
    const answerFile = `${world.root}/answer.txt`;
    await Deno.writeTextFile(
      answerFile,
      await world.cli("initiator", [
        "environment",
        "contact-lookup",
        "--format",
        "preload",
        world.tunnelId,
      ]),
    );
    const fake = `${fixtures}fake_lookup.sh`;
    const modes: Mode[] = [
      { name: "missing", bin: `${world.root}/no/such/globus-streams`, gaierror: EAI_NONAME },
      { name: "segv", bin: fake, gaierror: EAI_NONAME },
      { name: "abort", bin: fake, gaierror: EAI_NONAME },
      { name: "answer-then-segv", bin: fake, gaierror: EAI_NONAME },
      { name: "partial-then-abort", bin: fake, gaierror: EAI_NONAME },
      { name: "flood", bin: fake, gaierror: EAI_NONAME },
      { name: "empty", bin: fake, gaierror: EAI_NONAME },
      { name: "slow", bin: fake, gaierror: EAI_AGAIN },
      { name: "linger", bin: fake, gaierror: EAI_AGAIN },
      // The answer is whole when the binary exits; a child it left holding stdout open
      // does not turn it into a timeout (issue 10, item 8), and is killed.
      { name: "orphan", bin: fake, gaierror: undefined },
    ];
    const run = async (mode: Mode) => {
      const pidFile = `${world.root}/${mode.name}.pids`;
      const probe = startApp(
        launcher,
        [
          // The library's own lookups are under test: the launcher's check would run the
          // failing binary first and refuse to start the probe.
          "--no-check",
          world.tunnelId,
          "python3",
          `${fixtures}lookup_probe.py`,
          `globus.${world.tunnelId}`,
          String(world.fakePort),
          String(ATTEMPTS),
          String(GAP_S),
        ],
        launchEnv(world, "initiator", {
          GLOBUS_STREAMS_BIN: mode.bin,
          GLOBUS_STREAMS_LOOKUP_TIMEOUT: String(LOOKUP_TIMEOUT_MS),
          FAKE_MODE: mode.name,
          FAKE_ANSWER: answerFile,
          FAKE_PID_FILE: pidFile,
        }),
        30_000,
      );
      const status = await probe.status;
      assert.equal(status.code, 0, `${mode.name}: the program died: ${probe.stderr()}`);
      assert.equal(probe.lines.length, 1, `${mode.name}: ${probe.stderr()}`);
      const result: Probe = JSON.parse(probe.lines[0]);
      let sleepers: number[] = [];
      try {
        sleepers = (await Deno.readTextFile(pidFile)).trim().split("\n").map(Number);
      } catch {
        // this mode starts no sleeper
      }
      return { mode, result, sleepers, stderr: probe.stderr() };
    };
    const control = await run({ name: "control", bin: cliBin, gaierror: 0 });
    assert.deepEqual(
      control.result.attempts.map((a) => a.ok),
      Array(ATTEMPTS).fill("ping"),
      `the real binary resolves and the echo comes back: ${control.stderr}`,
    );
    const outcomes = await Promise.all(modes.map(run));
    const worstMs: Record<string, number> = {};
    for (const { mode, result, sleepers, stderr } of outcomes) {
      const what = `${mode.name}: ${JSON.stringify(result)}\n${stderr}`;
      assert.deepEqual(
        result.attempts.map((a) => a.gaierror),
        Array(ATTEMPTS).fill(mode.gaierror),
        what,
      );
      if (mode.gaierror === undefined) {
        assert.deepEqual(result.attempts.map((a) => a.ok), Array(ATTEMPTS).fill("ping"), what);
      }
      // Bounded: a failed lookup never holds the program past the lookup timeout.
      const worst = Math.max(...result.attempts.map((a) => a.ms));
      assert.ok(worst < LOOKUP_TIMEOUT_MS + 1500, `${mode.name}: an attempt took ${worst} ms`);
      worstMs[mode.name] = worst;
      assert.deepEqual(result.fds_after, result.fds_before, `${mode.name}: descriptors leaked`);
      assert.deepEqual(result.zombies, [], `${mode.name}: zombies left`);
      assert.deepEqual(result.children, [], `${mode.name}: children left running`);
      for (const pid of sleepers) {
        assert.ok(await processGone(pid), `${mode.name}: the binary's child ${pid} still runs`);
      }
    }
    summary({
      scenario: "lookup-binary",
      modes: modes.map((m) => m.name).join(","),
      "worst-attempt-ms": Math.max(...Object.values(worstMs)),
      "timeout-ms": LOOKUP_TIMEOUT_MS,
      leaks: 0,
    });
  } finally {
    await server.stop();
  }
});
