// `expose`: the listening side's helper: takes the access point's connections (with
// GSA1 when the conf file has a LAN secret) and relays them to a local service. The
// relay is src/helpers' job; the conf file is read by src/environment's rule.
import { defineCommand, formatOf, formatOption, UsageError, uuidArg } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { helperFailure, stopLine } from "../_helpers.ts";
import { addressOption } from "../_values.ts";
import { ConfStore } from "../../conf/mod.ts";
import { readSideConf, storedSecret } from "../../environment/mod.ts";
import { exposePort } from "../../helpers/mod.ts";
import { handshakeTimeoutMs } from "../../xio/mod.ts";

const formats = ["plain", "json"] as const;

/** `globus-streams expose [--listen HOST:PORT] --to HOST:PORT TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[--listen HOST:PORT] --to HOST:PORT [-F plain|json] TUNNEL_ID",
  description: `Listens at the tunnel's listener contact (--listen, default the conf file's
listener_contact_string) and takes each connection the listening access point makes:
with the GSA1 handshake as challenger when the listening side's conf file has a LAN
secret, as plain TCP otherwise. Connections that pass are relayed to --to; refused
ones are closed with one line on stderr. Runs until interrupted, then prints the
counts on stderr. The first line on stdout says where it listens.

Example (listening host; the service runs on 127.0.0.1:8080):
  globus-streams environment initialize --listener-contact-string 127.0.0.1:8888 $TUNNEL
  globus-streams expose --listen 127.0.0.1:8888 --to 127.0.0.1:8080 $TUNNEL`,
  options: {
    listen: {
      type: "string",
      value: "HOST:PORT",
      help: "where to listen (default the tunnel's listener contact)",
    },
    to: { type: "string", value: "HOST:PORT", help: "the local service to relay to (required)" },
    format: formatOption([...formats], "format of the first line: plain (default) or json"),
  },
  positionals: { min: 1, max: 1 },
  parse(args) {
    const format = formatOf(args.values.format, formats);
    const tunnelId = uuidArg(args.positionals[0]);
    const to = addressOption(args.values.to, "to");
    if (to === undefined) {
      throw new UsageError("Missing --to HOST:PORT: where to relay connections");
    }
    return { format, tunnelId, to, listen: addressOption(args.values.listen, "listen") };
  },
  async run({ format, tunnelId, to, listen: given }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    const conf = await readSideConf(store, tunnelId, "listening");
    const log = (line: string) => deps.io.stderr(`globus-streams: expose: ${line}\n`);
    const stored = conf.values.listenerContactString;
    const listen = given ?? stored;
    if (listen === undefined) {
      throw new UsageError(
        `Missing --listen HOST:PORT: the conf file of tunnel ${tunnelId} names no listener contact`,
      );
    }
    if (stored !== undefined && stored !== listen) {
      log(
        `the tunnel's listener contact is "${stored}": the access point connects there, not to "${listen}"`,
      );
    }
    const keyed = conf.values.lankey !== undefined;
    try {
      const totals = await exposePort(tunnelId, {
        listen,
        to,
        signal: deps.signal,
        log,
        handshakeTimeoutMs: handshakeTimeoutMs(deps.env),
        secret: keyed ? () => storedSecret(store, tunnelId) : undefined,
        onListening: (address) =>
          deps.io.stdout(
            format === "json"
              ? JSON.stringify({ listen: address, to, tunnel_id: tunnelId }) + "\n"
              : `Exposing tunnel ${tunnelId}: listening on ${address} -> ${to}\n`,
          ),
      });
      stopLine(deps, "expose", totals);
    } catch (error) {
      throw helperFailure(error, deps);
    }
    return ExitCode.ok;
  },
});
