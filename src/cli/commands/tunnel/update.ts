// `tunnel update`: a tunnel's label or listener contact.
import { defineCommand, UsageError, uuidArg } from "../../_command.ts";
import {
  labelArg,
  listenerContactArg,
  listenerContactOpt,
  outputArg,
  outputOptions,
  showOne,
  transferClient,
  tunnelRecord,
} from "../../_transfer.ts";

/** `globus-streams tunnel update [options] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID",
  description: `Setting the listener contact of a tunnel in AWAITING_LISTENER starts it.

Example:
  globus-streams tunnel update --listener-contact-string 10.0.0.5:8888 $TUNNEL`,
  options: {
    label: { type: "string", value: "TEXT", help: "a new label" },
    "listener-contact-string": listenerContactOpt,
    ...outputOptions,
  },
  positionals: { min: 1, max: 1 },
  parse(args) {
    const id = uuidArg(args.positionals[0]);
    const contact = listenerContactArg(args.values["listener-contact-string"]);
    const label = labelArg(args.values.label);
    if (contact === undefined && label === undefined) {
      throw new UsageError("Nothing to update: give --label or --listener-contact-string");
    }
    return { id, contact, label, output: outputArg(args.values) };
  },
  run: ({ id, contact, label, output }, deps) =>
    showOne(output, deps, (onDocument) =>
      transferClient(deps).updateTunnel(id, {
        label,
        listenerIpAddress: contact?.host,
        listenerPort: contact?.port,
      }, { onDocument }), tunnelRecord),
});
