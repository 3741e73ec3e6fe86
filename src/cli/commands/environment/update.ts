// `environment update`: fetch the tunnel now and rewrite its contacts and expiration.
import { defineCommand, uuidArg } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { ConfStore } from "../../../conf/mod.ts";
import { readConf, refreshConf } from "../../../environment/mod.ts";

/** `globus-streams environment update TUNNEL_ID`. */
export const command = defineCommand({
  usage: "TUNNEL_ID",
  description: "Fetches the tunnel from Transfer now and rewrites its contacts and expiration.",
  options: {},
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ tunnelId: uuidArg(args.positionals[0]) }),
  async run({ tunnelId }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    await readConf(store, tunnelId);
    const conf = await refreshConf(store, tunnelId, { deps, onlyIfStale: false });
    const { connectorContactString, listenerContactString } = conf.values;
    deps.io.stdout(
      `Updated the environment for tunnel ${tunnelId}: connector contact ` +
        `${connectorContactString ?? "(none yet)"}, listener contact ` +
        `${listenerContactString ?? "(none yet)"}\n`,
    );
    return ExitCode.ok;
  },
});
