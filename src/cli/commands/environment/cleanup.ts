// `environment cleanup`: remove the conf files of expired tunnels (or, with --force,
// any); src/environment decides and removes, this file prints.
import { defineCommand, UsageError, uuidArg } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { timeText } from "../../_print.ts";
import { ConfStore } from "../../../conf/mod.ts";
import { cleanupConfs } from "../../../environment/mod.ts";
import { oneLine } from "../../../quote/mod.ts";

/** `globus-streams environment cleanup [--all] [--force] [TUNNEL_ID]`. */
export const command = defineCommand({
  usage: "[--all] [--force] [TUNNEL_ID]",
  description: [
    "Removes the conf files whose tunnel_expiration_time has passed: the named tunnel's,",
    "or every one (the default, or --all). With --force, removes the named one, or all",
    "with --all, whether expired or not (also unreadable ones).",
  ].join("\n"),
  options: {
    all: { type: "boolean", help: "consider every conf file in the directory" },
    force: { type: "boolean", help: "remove even when not expired or unreadable" },
  },
  positionals: { min: 0, max: 1 },
  parse(args) {
    const all = Boolean(args.values.all);
    const named = args.positionals.length > 0 ? uuidArg(args.positionals[0]) : undefined;
    if (named && all) throw new UsageError("Give either TUNNEL_ID or --all, not both");
    return { named, force: Boolean(args.values.force) };
  },
  async run({ named, force }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    const nowSeconds = Math.floor(deps.now() / 1000);
    let removed = 0;
    let failed = false;
    for await (
      const done of cleanupConfs(store, { tunnelId: named, force, nowMs: deps.now() })
    ) {
      const { tunnelId: id, path } = done;
      if (done.outcome === "skipped") {
        deps.io.stderr(`globus-streams: Skipped: ${oneLine(done.error)}\n`);
        failed = true;
      } else if (done.outcome === "removed") {
        removed++;
        const when = done.expires === undefined
          ? "expiration unknown"
          : `${done.expires <= nowSeconds ? "expired" : "expires"} ${timeText(done.expires)}`;
        deps.io.stdout(`Removed ${path} (tunnel ${id}, ${when})\n`);
      } else if (named) {
        deps.io.stdout(
          `Kept ${path}: tunnel ${id} expires ${
            timeText(done.expires)
          } (pass --force to remove it)\n`,
        );
      }
    }
    if (removed === 0 && !named) deps.io.stdout(`No expired conf files in ${store.dir}\n`);
    // A named conf file that could not be read is a conf problem; with many, the others
    // were still cleaned and the skipped ones named.
    return failed && named ? ExitCode.conf : ExitCode.ok;
  },
});
