// `tunnel events`: a tunnel's events, as a table.
import { defineCommand } from "../../_command.ts";
import { byId, showList, shown, transferClient } from "../../_transfer.ts";
import type { TunnelEvent } from "../../../globus/mod.ts";

/** `globus-streams tunnel events [options] TUNNEL_ID`. */
export const command = defineCommand({
  ...byId(),
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
