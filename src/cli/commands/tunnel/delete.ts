// `tunnel delete`: delete a stopped tunnel.
import { defineCommand } from "../../_command.ts";
import { formatArg, formatOpt, showOne, transferClient } from "../../_transfer.ts";
import { uuidArg } from "../../_values.ts";
import { GlobusApiError } from "../../../globus/mod.ts";

/** `globus-streams tunnel delete [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  description: "Only a STOPPED tunnel can be deleted: run 'globus-streams tunnel stop' first.",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ id: uuidArg(args.positionals[0]), format: formatArg(args.values.format) }),
  async run({ id, format }, deps) {
    try {
      return await showOne(
        format,
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
