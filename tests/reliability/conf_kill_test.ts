// The conf file's TTL expires under 100 concurrent `environment contact-lookup --format
// preload` processes (the preload library's lookups), while processes are SIGKILLed at
// random points, some of them while holding the tunnel's lock and fetching it. Afterwards
// the conf file must be whole (the old one or the new one), a reader must never have seen
// a torn file, left-over temp files must break nothing, and a later lookup must work.
import assert from "node:assert/strict";
import { parseConf, withValues } from "../../src/conf/mod.ts";
import { runCliInProcess } from "../_support/cli.ts";
import { iterationRng } from "../fuzz/_fuzz.ts";
import { linesOf, parsePreload, spawnCli, type Spawned, startWorld } from "./_world.ts";

/** 3 in `./dev test`; GS_RELIABILITY_ROUNDS=N for a longer run by hand. */
const ROUNDS = roundsFromEnv(3);
const PROCESSES = 100;
/** Half the processes are killed at a time uniform over this window after the spawns. */
const KILL_WINDOW_MS = 1500;
/**
 * And whenever a GET of the tunnel arrives (a process holds the lock and is refreshing),
 * each running process is killed with this chance within HOLD_KILL_MS: the holder among
 * them, sometimes, in the middle of its fetch or its write.
 */
const HOLD_KILL_CHANCE = 0.25;
const HOLD_KILL_MS = 200;
const SEED = 0x6b111;

function roundsFromEnv(fallback: number): number {
  const text = Deno.env.get("GS_RELIABILITY_ROUNDS");
  if (text === undefined || text === "") return fallback;
  const rounds = Number(text);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`GS_RELIABILITY_ROUNDS "${text}"`);
  return rounds;
}

function tempFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((name) => name.endsWith(".tmp"));
}

Deno.test("conf file survives its TTL expiring under 100 lookups killed at random", async () => {
  // Each GET of the tunnel is held 150 ms, so the lock holder is often killed mid-refresh.
  await using world = await startWorld({ tunnelDelayMs: 150 });
  const tunnelId = await world.initializedTunnel({ ttl: 60 });
  const store = world.stores.initiator;
  const path = store.path(tunnelId);
  const original = (await store.read(tunnelId))!.values;
  assert.ok(original.lankey && original.connectorContactString);
  const env = world.env("initiator");
  const totals = { killed: 0, refreshes: 0, strays: 0, reads: 0, torn: 0, answered: 0 };

  for (let round = 0; round < ROUNDS; round++) {
    const rng = iterationRng(SEED, round);
    const conf = (await store.read(tunnelId))!;
    const staleTime = Math.floor(Date.now() / 1000) - 3600;
    await store.write(tunnelId, withValues(conf, { updateTime: staleTime }));
    // What a writer killed between its temp file and its rename leaves: half a conf file
    // (killing inside that sub-millisecond window by chance is rare, so one is planted).
    const text = await Deno.readTextFile(path);
    const planted = `${world.dirs.initiator}/.${tunnelId}.conf.${
      (0xdead0000 + round).toString(16)
    }.tmp`;
    await Deno.writeTextFile(planted, text.slice(0, text.length >> 1), { mode: 0o600 });
    const getsBefore = world.tunnelGets(tunnelId);
    const roundStart = Math.floor(Date.now() / 1000);

    // A reader that keeps reading the file as the preload library's lookups would.
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const text = await Deno.readTextFile(path);
        totals.reads++;
        try {
          const values = parseConf(text, { path, tunnelId }).values;
          if (values.lankey !== original.lankey || values.fakePort !== original.fakePort) {
            totals.torn++;
          }
        } catch {
          totals.torn++;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();

    const args = ["environment", "contact-lookup", "--format", "preload", tunnelId];
    const processes: Spawned[] = Array.from({ length: PROCESSES }, () => spawnCli(args, env));
    const killed = new Set<number>();
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const killLater = (i: number, ms: number) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (processes[i].kill()) killed.add(i);
      }, ms);
      timers.add(timer);
    };
    processes.forEach((_, i) => rng.chance(0.5) && killLater(i, rng.int(KILL_WINDOW_MS)));
    world.hooks.tunnelGet = () => {
      processes.forEach((_, i) =>
        rng.chance(HOLD_KILL_CHANCE) && killLater(i, rng.int(HOLD_KILL_MS))
      );
    };
    const results = await Promise.all(processes.map((p) => p.done));
    world.hooks.tunnelGet = undefined;
    timers.forEach((timer) => clearTimeout(timer));
    reading = false;
    await reader;

    let roundKilled = 0;
    for (const [i, result] of results.entries()) {
      if (result.signal === "SIGKILL") {
        assert.ok(killed.has(i), `process ${i} was killed by someone else`);
        roundKilled++;
        continue;
      }
      // A survivor answered in full: the same secret and fake port, a contact.
      assert.equal(result.code, 0, `process ${i}: ${result.stderr}`);
      assert.equal(result.stderr, "");
      const answer = parsePreload(result.stdout);
      assert.equal(answer.lankey, original.lankey);
      assert.equal(answer.fake_port, String(original.fakePort));
      assert.equal(answer.connector_contact_string, original.connectorContactString);
      totals.answered++;
    }
    totals.killed += roundKilled;

    // The file is whole: the old one or the new one.
    const after = parseConf(await Deno.readTextFile(path), { path, tunnelId }).values;
    assert.equal(after.lankey, original.lankey);
    assert.equal(after.fakePort, original.fakePort);
    assert.ok(
      after.updateTime === staleTime || after.updateTime >= roundStart,
      `update_time ${after.updateTime}: neither the old ${staleTime} nor new`,
    );
    // One GET per lock holder that died before writing, plus the one that wrote.
    const gets = world.tunnelGets(tunnelId) - getsBefore;
    assert.ok(gets <= roundKilled + 1, `${gets} GETs with ${roundKilled} killed`);
    totals.refreshes += gets;

    // Left-over temp files: not tunnels, and cleanup removes them once old.
    const strays = tempFiles(world.dirs.initiator);
    assert.ok(strays.includes(planted.slice(planted.lastIndexOf("/") + 1)));
    totals.strays += strays.length - 1;
    assert.deepEqual(await store.tunnelIds(), [tunnelId]);
    const list = await runCliInProcess(["environment", "list", "-F", "json"], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stderr, "");
    assert.deepEqual(JSON.parse(list.stdout).map((row: { tunnel_id: string }) => row.tunnel_id), [
      tunnelId,
    ]);
    const old = new Date(Date.now() - 120_000);
    for (const name of strays) await Deno.utime(`${world.dirs.initiator}/${name}`, old, old);
    const cleanup = await runCliInProcess(["environment", "cleanup"], { env });
    assert.equal(cleanup.code, 0, cleanup.stderr);
    assert.deepEqual(tempFiles(world.dirs.initiator), [], "cleanup removes old temp files");

    // A later lookup works and leaves the contact fresh.
    const later = spawnCli(args, env);
    const result = await later.done;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(linesOf(result.stderr), []);
    assert.equal(parsePreload(result.stdout).lankey, original.lankey);
    const fresh = (await store.read(tunnelId))!.values;
    assert.ok(fresh.updateTime >= roundStart);
  }
  assert.equal(totals.torn, 0);
  console.log(
    `reliability: conf-kill rounds=${ROUNDS} processes=${ROUNDS * PROCESSES} ` +
      `killed=${totals.killed} answered=${totals.answered} tunnel_gets=${totals.refreshes} ` +
      `stray_temps=${totals.strays} planted_temps=${ROUNDS} reads=${totals.reads} torn=${totals.torn}`,
  );
});
