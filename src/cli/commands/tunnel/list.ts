// `tunnel list`: your tunnels, as a table.
import { defineCommand } from "../../_command.ts";
import {
  contactText,
  formatArg,
  formatOpt,
  showList,
  shown,
  transferClient,
} from "../../_transfer.ts";
import type { Tunnel } from "../../../globus/mod.ts";

/** `globus-streams tunnel list [options]`. */
export const command = defineCommand({
  usage: "[options]",
  options: { format: formatOpt },
  positionals: { min: 0, max: 0 },
  parse: (args) => ({ format: formatArg(args.values.format) }),
  run: ({ format }, deps) =>
    showList(
      format,
      deps,
      (onDocument) => transferClient(deps).listTunnels({ onDocument }),
      ["ID", "Label", "State", "Initiator Contact", "Listener Contact", "Created"],
      (t: Tunnel) => [
        t.id,
        shown(t.label),
        t.state,
        contactText(t.initiatorIpAddress, t.initiatorPort),
        contactText(t.listenerIpAddress, t.listenerPort),
        t.createdTime,
      ],
    ),
});
