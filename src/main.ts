// The globus-streams executable's entry point: wire the process to the CLI.
// Kept tiny so that `environment contact-lookup` (run once per preloaded process)
// starts fast: each command's module is imported only when that command runs.
import { main } from "./cli/mod.ts";
import { processDeps } from "./cli/_process.ts";

Deno.exit(await main(Deno.args, processDeps()));
