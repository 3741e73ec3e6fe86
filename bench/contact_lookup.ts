// Start-up cost of a fresh `environment contact-lookup --format preload`: the command the
// preload library runs once per process. Measured against `deno run` of an empty module
// with the launcher's Deno, DENO_DIR and permissions; target ratio <= 1.3.
import { ConfStore } from "../src/conf/mod.ts";
import {
  compareCommands,
  emit,
  launcherEnv,
  launcherPermissions,
  progress,
  repoRoot,
  result,
} from "./_lib.ts";

const runs = Number(Deno.env.get("BENCH_RUNS") ?? 30);
const warmup = 3;
const target = 1.3;
const tunnelId = "5f2c3a1e-0000-4000-8000-00000000be4c";

/** The fastest run of each side: less disturbed by other load on the machine. */
function mins(runs: { oursRuns: number[]; baselineRuns: number[] }): string {
  const ours = Math.min(...runs.oursRuns);
  const baseline = Math.min(...runs.baselineRuns);
  return `${ours.toFixed(1)} vs ${baseline.toFixed(1)} ms (ratio ${(ours / baseline).toFixed(2)})`;
}

const dir = await Deno.makeTempDir({ prefix: "gs-bench-" });
let emptyLauncher: string | undefined;
try {
  await new ConfStore(dir).write(tunnelId, {
    values: {
      lankey: "bench-secret-0123456789",
      lankeyId: "0b8e6a7e-1111-4222-8333-444455556666",
      connectorContactString: "127.0.0.1:50123",
      listenerContactString: "127.0.0.1:8888",
      updateTime: Math.floor(Date.now() / 1000),
      connectorContactStringTtl: 24 * 3600, // fresh for the whole run: no network
      fakePort: 4242,
      tunnelId,
      side: "initiating",
    },
    lines: [],
  });
  const env = launcherEnv({ GLOBUS_STREAMS_DIR: dir });
  const deno = `${repoRoot}.tools/bin/deno`;
  const flags = ["run", "--quiet", "--no-prompt", "--config", `${repoRoot}deno.json`];
  const permissions = await launcherPermissions();
  const lookupArgs = ["environment", "contact-lookup", "--format", "preload", tunnelId];
  const check = (stdout: string) => {
    if (!stdout.includes("connector_contact_string=127.0.0.1:50123\n")) {
      throw new Error(`contact-lookup printed ${JSON.stringify(stdout)}`);
    }
  };
  const baseline = {
    cmd: deno,
    args: [...flags, ...permissions, `${repoRoot}bench/_empty.ts`],
    env,
  };
  const viaLauncher = { cmd: `${repoRoot}bin/globus-streams`, args: lookupArgs, env, check };
  // "Under the same launcher": an exact copy of bin/globus-streams that runs the empty
  // module instead of src/main.ts. It lives in bench/ so its "$here/.." is the repo too.
  const launcherText = await Deno.readTextFile(`${repoRoot}bin/globus-streams`);
  if (!launcherText.includes('"$root/src/main.ts"')) {
    throw new Error('bin/globus-streams no longer runs "$root/src/main.ts": update this bench');
  }
  emptyLauncher = await Deno.makeTempFile({ dir: `${repoRoot}bench`, prefix: ".empty-launcher-" });
  await Deno.writeTextFile(
    emptyLauncher,
    launcherText.replace('"$root/src/main.ts"', '"$root/bench/_empty.ts"'),
  );
  await Deno.chmod(emptyLauncher, 0o755);
  const launcherBaseline = { cmd: emptyLauncher, args: [], env };
  const direct = {
    cmd: deno,
    args: [...flags, ...permissions, `${repoRoot}src/main.ts`, ...lookupArgs],
    env,
    check,
  };
  const note = `median of ${runs} alternating runs after ${warmup} warm-up; baseline: deno run ` +
    "of an empty module, same Deno, DENO_DIR and permissions";

  progress(`contact-lookup via bin/globus-streams: ${runs} runs`);
  const launched = await compareCommands(viaLauncher, launcherBaseline, { runs, warmup });
  emit(result({
    name: "contact-lookup start-up (bin/globus-streams)",
    ours: launched.ours,
    baseline: launched.baseline,
    unit: "ms",
    target,
    note: `${note}, run through a copy of bin/globus-streams (the issue's "same launcher"); ` +
      `fastest runs ${mins(launched)}`,
  }));

  progress(`contact-lookup via deno run src/main.ts (no sh launcher): ${runs} runs`);
  const plain = await compareCommands(direct, baseline, { runs, warmup });
  emit(result({
    name: "contact-lookup start-up (deno run src/main.ts, no sh launcher)",
    ours: plain.ours,
    baseline: plain.baseline,
    unit: "ms",
    target,
    note: `${note}; fastest runs ${mins(plain)}`,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
  if (emptyLauncher) await Deno.remove(emptyLauncher).catch(() => {});
}
