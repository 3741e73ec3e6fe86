// `tunnel list`: your tunnels, as the official CLI's table.
import { defineCommand } from "../../_command.ts";
import { pythonStr } from "../../_globus_output.ts";
import { type Columns, contactText, outputArg, outputOptions, showList } from "../../_transfer.ts";
import type { Tunnel } from "../../../globus/mod.ts";

/** The official CLI's columns (`globus streams tunnel list`). */
const official: Columns<Tunnel> = {
  headers: ["ID", "Label", "State", "Created Time"],
  row: (t) => [t.id, pythonStr(t.label), t.state, t.createdTime],
};

/** With --all-columns: the contacts as well. */
const all: Columns<Tunnel> = {
  headers: [...official.headers, "Initiator Contact", "Listener Contact"],
  row: (t) => [
    ...official.row(t),
    contactText(t.initiatorIpAddress, t.initiatorPort),
    contactText(t.listenerIpAddress, t.listenerPort),
  ],
};

/** `globus-streams tunnel list [options]`. */
export const command = defineCommand({
  usage: "[options]",
  description: "Lists every tunnel you own (all pages). The table has the official CLI's\n" +
    "columns; --all-columns adds the initiator and listener contacts.",
  options: {
    "all-columns": {
      type: "boolean",
      help: "also show the initiator and listener contacts (text output)",
    },
    ...outputOptions,
  },
  positionals: { min: 0, max: 0 },
  parse: (args) => ({
    output: outputArg(args.values),
    columns: args.values["all-columns"] ? all : official,
  }),
  run: ({ output, columns }, deps) =>
    showList(output, deps, (client) => client.listTunnels(), columns),
});
