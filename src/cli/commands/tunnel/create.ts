// `tunnel create`: a tunnel between two stream access points.
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

/** --lifetime-minutes (the official spelling) or --lifetime-mins (the old one), checked. */
function lifetimeArg(official: string | undefined, old: string | undefined): number | undefined {
  if (official !== undefined && old !== undefined) {
    throw new UsageError("Give --lifetime-minutes once (--lifetime-mins is the same option)");
  }
  const text = official ?? old;
  if (text === undefined) return undefined;
  const option = official !== undefined ? "--lifetime-minutes" : "--lifetime-mins";
  const minutes = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(minutes >= 1)) {
    throw new UsageError(`Invalid ${option} "${text}": want a whole number >= 1`);
  }
  return minutes;
}

/** `globus-streams tunnel create [options] INITIATOR_AP LISTENER_AP`. */
export const command = defineCommand({
  usage: "[options] INITIATOR_AP LISTENER_AP",
  description: `Creates a tunnel from the initiating stream access point (where clients connect)
to the listening one (next to the server). Without --listener-contact-string the
tunnel waits in AWAITING_LISTENER until 'tunnel update --listener-contact-string'
(or 'environment initialize --listener-contact-string') gives it one.

Example:
  globus-streams tunnel create --label demo --listener-contact-string 10.0.0.5:8888 \\
    $INITIATOR_AP $LISTENER_AP`,
  options: {
    label: { type: "string", value: "TEXT", help: "a label for the tunnel" },
    "lifetime-minutes": {
      type: "string",
      value: "MINUTES",
      help: "how long the tunnel lives (service default 360)",
    },
    "lifetime-mins": {
      type: "string",
      value: "MINUTES",
      help: "the same as --lifetime-minutes (the older spelling)",
    },
    restartable: { type: "boolean", help: "restart the tunnel after errors" },
    "listener-contact-string": listenerContactOpt,
    ...outputOptions,
  },
  positionals: { min: 2, max: 2 },
  parse: (args) => ({
    initiator: uuidArg(args.positionals[0], "initiator access point"),
    listener: uuidArg(args.positionals[1], "listener access point"),
    lifetimeMins: lifetimeArg(args.values["lifetime-minutes"], args.values["lifetime-mins"]),
    contact: listenerContactArg(args.values["listener-contact-string"]),
    label: labelArg(args.values.label),
    restartable: args.values.restartable ? true : undefined,
    output: outputArg(args.values),
  }),
  run(options, deps) {
    const { contact } = options;
    return showOne(options.output, deps, (onDocument) =>
      transferClient(deps).createTunnel({
        initiatorAccessPointId: options.initiator,
        listenerAccessPointId: options.listener,
        label: options.label,
        lifetimeMins: options.lifetimeMins,
        restartable: options.restartable,
        listenerIpAddress: contact?.host,
        listenerPort: contact?.port,
      }, { onDocument }), tunnelRecord);
  },
});
