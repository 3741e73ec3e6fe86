// `tunnel show`: one tunnel.
import { defineCommand } from "../../_command.ts";
import { byId, showOne, transferClient, tunnelRecord } from "../../_transfer.ts";

/** `globus-streams tunnel show [options] TUNNEL_ID`. */
export const command = defineCommand({
  ...byId(),
  run: ({ id, output }, deps) =>
    showOne(
      output,
      deps,
      (onDocument) => transferClient(deps).getTunnel(id, { onDocument }),
      tunnelRecord,
    ),
});
