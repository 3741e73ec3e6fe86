// `tunnel delete`: delete a stopped tunnel.
import { defineCommand } from "../../_command.ts";
import { byId, showOne, transferClient } from "../../_transfer.ts";
import { GlobusApiError } from "../../../globus/mod.ts";

/** `globus-streams tunnel delete [options] TUNNEL_ID`. */
export const command = defineCommand({
  ...byId(),
  description: "Only a STOPPED tunnel can be deleted: run 'globus-streams tunnel stop' first.",
  async run({ id, output }, deps) {
    try {
      return await showOne(
        output,
        deps,
        (onDocument) => transferClient(deps).deleteTunnel(id, { onDocument }),
        () => `Tunnel ${id} deleted successfully\n`,
      );
    } catch (error) {
      if (error instanceof GlobusApiError && error.status === 409) {
        throw new GlobusApiError(
          error.kind,
          `${error.message} (run 'globus-streams tunnel stop ${id}' first)`,
          { status: error.status, code: error.code, cause: error },
        );
      }
      throw error;
    }
  },
});
