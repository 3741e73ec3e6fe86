// `tunnel events`: a tunnel's events, as the official CLI's table.
import { defineCommand, uuidArg } from "../../_command.ts";
import { pythonStr } from "../../_globus_output.ts";
import { type Columns, outputArg, outputOptions, showList } from "../../_transfer.ts";
import type { TunnelEvent } from "../../../globus/mod.ts";

/** The official CLI's columns (`globus streams tunnel events`). */
const official: Columns<TunnelEvent> = {
  headers: ["Code", "Error", "Details", "Time"],
  row: (e) => [e.code, pythonStr(e.isError), pythonStr(e.details), e.time],
};

/** With --all-columns: the event's id and description as well. */
const all: Columns<TunnelEvent> = {
  headers: [...official.headers, "ID", "Description"],
  row: (e) => [...official.row(e), String(e.id), pythonStr(e.description)],
};

/** `globus-streams tunnel events [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  description: "Lists the tunnel's events, oldest first. The table has the official CLI's\n" +
    "columns; --all-columns adds each event's id and description.",
  options: {
    "all-columns": { type: "boolean", help: "also show each event's id and description" },
    ...outputOptions,
  },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({
    id: uuidArg(args.positionals[0]),
    output: outputArg(args.values),
    columns: args.values["all-columns"] ? all : official,
  }),
  run: ({ id, output, columns }, deps) =>
    showList(output, deps, (client) => client.tunnelEvents(id), columns),
});
