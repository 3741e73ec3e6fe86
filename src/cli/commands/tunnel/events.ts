// `tunnel events`: a tunnel's events, as a table.
import { defineCommand } from "../../_command.ts";
import { formatArg, formatOpt, showList, shown, transferClient } from "../../_transfer.ts";
import { uuidArg } from "../../_values.ts";
import type { TunnelEvent } from "../../../globus/mod.ts";

/** `globus-streams tunnel events [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ id: uuidArg(args.positionals[0]), format: formatArg(args.values.format) }),
  run: ({ id, format }, deps) =>
    showList(
      format,
      deps,
      (onDocument) => transferClient(deps).tunnelEvents(id, { onDocument }),
      ["ID", "Time", "Code", "Error", "Description", "Details"],
      (e: TunnelEvent) => [
        String(e.id),
        e.time,
        e.code,
        shown(e.isError),
        shown(e.description),
        shown(e.details),
      ],
    ),
});
