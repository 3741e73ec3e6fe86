// Output pieces shared by several commands.
import type { CliDeps } from "./_deps.ts";

/** A value as indented JSON on stdout, the `-F json` form of every command. */
export function printJson(deps: CliDeps, value: unknown): void {
  deps.io.stdout(JSON.stringify(value, null, 2) + "\n");
}

/** Unix seconds as an ISO 8601 UTC time without milliseconds; "unknown" when absent. */
export function timeText(unixSeconds: number | undefined): string {
  if (unixSeconds === undefined) return "unknown";
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
