// `access-point list`: stream access points, as a table.
import { defineCommand, uuidArg } from "../../_command.ts";
import { outputArg, outputOptions, showList } from "../../_transfer.ts";
import type { AccessPoint } from "../../../globus/mod.ts";

/** `globus-streams access-point list [options]`. */
export const command = defineCommand({
  usage: "[options]",
  options: {
    "filter-fulltext": { type: "string", value: "TEXT", help: "only those matching TEXT" },
    "filter-endpoint-admin": {
      type: "string",
      value: "IDENTITY_ID",
      help: "only those on endpoints this identity administers",
    },
    ...outputOptions,
  },
  positionals: { min: 0, max: 0 },
  parse(args) {
    const admin = args.values["filter-endpoint-admin"];
    // Checked, but passed on as given: the service compares it.
    if (admin !== undefined) uuidArg(admin, "identity id");
    return {
      endpointAdmin: admin,
      fulltext: args.values["filter-fulltext"],
      output: outputArg(args.values),
    };
  },
  run: ({ endpointAdmin, fulltext, output }, deps) =>
    showList(
      output,
      deps,
      (client) => client.listAccessPoints({ fulltext, endpointAdmin }),
      {
        headers: ["ID", "Display Name", "Host Endpoint"],
        row: (p: AccessPoint) => [p.id, p.displayName, p.hostEndpointId],
      },
    ),
});
