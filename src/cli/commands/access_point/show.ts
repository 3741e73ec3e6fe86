// `access-point show`: one stream access point.
import { defineCommand } from "../../_command.ts";
import { accessPointRecord, byId, showOne, transferClient } from "../../_transfer.ts";

/** `globus-streams access-point show [options] ACCESS_POINT_ID`. */
export const command = defineCommand({
  ...byId("stream access point id", "[options] ACCESS_POINT_ID"),
  run: ({ id, output }, deps) =>
    showOne(
      output,
      deps,
      (onDocument) => transferClient(deps).getAccessPoint(id, { onDocument }),
      accessPointRecord,
    ),
});
