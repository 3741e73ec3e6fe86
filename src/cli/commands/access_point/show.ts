// `access-point show`: one stream access point.
import { defineCommand } from "../../_command.ts";
import {
  accessPointRecord,
  formatArg,
  formatOpt,
  showOne,
  transferClient,
} from "../../_transfer.ts";
import { uuidArg } from "../../_values.ts";

/** `globus-streams access-point show [options] ACCESS_POINT_ID`. */
export const command = defineCommand({
  usage: "[options] ACCESS_POINT_ID",
  options: { format: formatOpt },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({
    id: uuidArg(args.positionals[0], "stream access point id"),
    format: formatArg(args.values.format),
  }),
  run: ({ id, format }, deps) =>
    showOne(
      format,
      deps,
      (onDocument) => transferClient(deps).getAccessPoint(id, { onDocument }),
      accessPointRecord,
    ),
});
