// What the helper commands (connect, forward, expose) share: the initiating side's
// lookup with its one warning, the interruption they end with, and the closing line.
import type { CliDeps } from "./_deps.ts";
import { interrupted } from "./_exit.ts";
import { ConfStore } from "../conf/mod.ts";
import { initiatingTarget } from "../environment/mod.ts";
import { formatTotals, type TargetLookup, type Totals } from "../helpers/mod.ts";

/**
 * The initiating side's target, read for every new stream by src/environment's rule
 * (the stored contact while fresh, else refreshed, else the stored one), warning once
 * when it falls back to the stored contact.
 */
export function initiatingLookup(
  tunnelId: string,
  deps: CliDeps,
  warn: (line: string) => void,
): TargetLookup {
  const store = ConfStore.fromEnv(deps.env);
  let warned = false;
  return async () => {
    const { target, fallback } = await initiatingTarget(store, tunnelId, deps);
    if (fallback !== undefined && !warned) {
      warned = true;
      warn(`cannot refresh the contact of tunnel ${tunnelId}, using the stored one: ${fallback}`);
    }
    return target;
  };
}

/** A helper's failure as it is reported: an interruption when the signal stopped it. */
export function helperFailure(error: unknown, deps: CliDeps): unknown {
  return deps.signal.aborted ? interrupted() : error;
}

/** The line a helper prints on stderr when it stops: its totals. */
export function stopLine(deps: CliDeps, command: string, totals: Totals): void {
  deps.io.stderr(`globus-streams: ${command}: stopped: ${formatTotals(totals)}\n`);
}
