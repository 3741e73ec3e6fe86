// `tunnel stop`: ask the service to stop a tunnel.
import { defineCommand } from "../../_command.ts";
import { byId, showOne, transferClient } from "../../_transfer.ts";

/** `globus-streams tunnel stop [options] TUNNEL_ID`. */
export const command = defineCommand({
  ...byId(),
  description: "Asks the service to stop the tunnel; it goes STOPPING, then STOPPED.",
  run: ({ id, output }, deps) =>
    showOne(
      output,
      deps,
      (onDocument) => transferClient(deps).updateTunnel(id, { state: "STOPPING" }, { onDocument }),
      (t) => `Tunnel ${t.id} is stopping: state ${t.state}\n`,
    ),
});
