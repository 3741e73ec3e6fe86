import assert from "node:assert/strict";
import { MAX_TIMER_MS, timerDelay } from "../../src/timer/mod.ts";

Deno.test("timerDelay keeps delays within what setTimeout can take", () => {
  assert.equal(timerDelay(0), 1);
  assert.equal(timerDelay(0.2), 1);
  assert.equal(timerDelay(1500), 1500);
  assert.equal(timerDelay(3e12), MAX_TIMER_MS);
  assert.equal(timerDelay(NaN), MAX_TIMER_MS);
});
