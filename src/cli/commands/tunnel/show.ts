// `tunnel show`: one tunnel.
import { defineCommand } from "../../_command.ts";
import { formatArg, formatOpt, showOne, transferClient, tunnelRecord } from "../../_transfer.ts";
import { uuidArg } from "../../_values.ts";

/** `globus-streams tunnel show [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ id: uuidArg(args.positionals[0]), format: formatArg(args.values.format) }),
  run: ({ id, format }, deps) =>
    showOne(
      format,
      deps,
      (onDocument) => transferClient(deps).getTunnel(id, { onDocument }),
      tunnelRecord,
    ),
});
