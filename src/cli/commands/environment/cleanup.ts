// `environment cleanup`: remove the conf files of expired tunnels (or, with --force,
// any), each under its lock.
import { defineCommand, UsageError, uuidArg } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { timeText } from "../../_print.ts";
import { type Conf, ConfError, ConfStore } from "../../../conf/mod.ts";
import { missingConf } from "../../../environment/mod.ts";
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
    let ids: string[];
    if (named) {
      if (!(await store.tunnelIds()).includes(named)) throw missingConf(store, named);
      ids = [named];
    } else {
      ids = await store.tunnelIds();
    }
    let removed = 0;
    let failed = false;
    for (const id of ids) {
      const outcome = await store.withLock(id, async () => {
        let conf: Conf | undefined;
        try {
          conf = await store.read(id);
        } catch (error) {
          if (!(error instanceof ConfError) || !force) return { error };
        }
        const expires = conf?.values.tunnelExpirationTime;
        const expired = expires !== undefined && expires <= nowSeconds;
        if (!force && !expired) return { kept: expires };
        await store.remove(id);
        return { removed: expires };
      });
      const path = store.path(id);
      if ("error" in outcome) {
        deps.io.stderr(`globus-streams: Skipped: ${oneLine(outcome.error)}\n`);
        failed = true;
      } else if ("removed" in outcome) {
        removed++;
        const when = outcome.removed === undefined
          ? "expiration unknown"
          : `${outcome.removed <= nowSeconds ? "expired" : "expires"} ${timeText(outcome.removed)}`;
        deps.io.stdout(`Removed ${path} (tunnel ${id}, ${when})\n`);
      } else if (named) {
        deps.io.stdout(
          `Kept ${path}: tunnel ${id} expires ${
            timeText(outcome.kept)
          } (pass --force to remove it)\n`,
        );
      }
    }
    await store.removeStaleTemps(deps.now());
    if (removed === 0 && !named) deps.io.stdout(`No expired conf files in ${store.dir}\n`);
    // A named conf file that could not be read is a conf problem; with many, the others
    // were still cleaned and the skipped ones named.
    return failed && named ? ExitCode.conf : ExitCode.ok;
  },
});
