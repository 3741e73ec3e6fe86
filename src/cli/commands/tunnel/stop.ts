// `tunnel stop`: ask the service to stop a tunnel.
import { defineCommand } from "../../_command.ts";
import { formatArg, formatOpt, showOne, transferClient } from "../../_transfer.ts";
import { uuidArg } from "../../_values.ts";

/** `globus-streams tunnel stop [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  description: "Asks the service to stop the tunnel; it goes STOPPING, then STOPPED.",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ id: uuidArg(args.positionals[0]), format: formatArg(args.values.format) }),
  run: ({ id, format }, deps) =>
    showOne(
      format,
      deps,
      (onDocument) => transferClient(deps).updateTunnel(id, { state: "STOPPING" }, { onDocument }),
      (t) => `Tunnel ${t.id} is stopping: state ${t.state}\n`,
    ),
});
