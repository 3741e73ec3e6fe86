import assert from "node:assert/strict";
import { MAX_TIMER_MS, settleWithin, sleep, timerDelay } from "../../src/timer/mod.ts";

Deno.test("timerDelay keeps delays within what setTimeout can take", () => {
  assert.equal(timerDelay(0), 1);
  assert.equal(timerDelay(0.2), 1);
  assert.equal(timerDelay(1500), 1500);
  assert.equal(timerDelay(3e12), MAX_TIMER_MS);
  assert.equal(timerDelay(NaN), MAX_TIMER_MS);
});

Deno.test("sleep waits its time, and an abort ends it at once with the signal's reason", async () => {
  let started = performance.now();
  await sleep(30);
  assert.ok(performance.now() - started >= 25, "slept about 30 ms");

  const aborted = AbortSignal.abort(new Error("already stopped"));
  await assert.rejects(sleep(10_000, aborted), /already stopped/);

  const controller = new AbortController();
  started = performance.now();
  const sleeping = sleep(10_000, controller.signal);
  setTimeout(() => controller.abort(new Error("stopped")), 20);
  await assert.rejects(sleeping, /stopped/);
  assert.ok(performance.now() - started < 5_000, "the abort ended the sleep, not its timer");
});

Deno.test("settleWithin waits for the promises or the time, whichever comes first, and never rejects", async () => {
  let started = performance.now();
  await settleWithin([new Promise(() => {})], 30);
  const waited = performance.now() - started;
  assert.ok(waited >= 25 && waited < 5_000, `waited ${waited} ms for a promise that never settles`);

  started = performance.now();
  await settleWithin([Promise.reject(new Error("failed")), sleep(10)], 10_000);
  assert.ok(performance.now() - started < 5_000, "returned once both settled");
});
