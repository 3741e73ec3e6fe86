// `forward`: a local port whose connections each become a stream into the tunnel. The
// relay is src/helpers' job; the target comes from src/environment's contact rule.
import { defineCommand, formatOf, formatOption, uuidArg } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { helperFailure, initiatingLookup, stopLine } from "../_helpers.ts";
import { allowRemoteOption, checkListenAddress } from "../_listen.ts";
import { addressOption } from "../_values.ts";
import { forwardPort } from "../../helpers/mod.ts";
import { handshakeTimeoutMs } from "../../xio/mod.ts";

const formats = ["plain", "json"] as const;

/** `globus-streams forward [--listen HOST:PORT] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[--listen HOST:PORT] [-F plain|json] TUNNEL_ID",
  description: `Listens on a local port (default 127.0.0.1 on a free one) and carries each
connection into the tunnel as a stream of its own, until interrupted. The first line
on stdout says where it listens:

  Forwarding 127.0.0.1:PORT -> tunnel TUNNEL_ID

Every connection to that port enters the tunnel with this host's LAN secret, so an
address other hosts can reach (not loopback) needs --allow-remote.

(with -F json: {"listen": "127.0.0.1:PORT", "tunnel_id": "..."}). Failed connections
get one line each on stderr; on exit it prints the counts there.

Example:
  globus-streams forward --listen 127.0.0.1:5432 $TUNNEL &
  psql -h 127.0.0.1 -p 5432 mydb`,
  options: {
    listen: { type: "string", value: "HOST:PORT", help: "where to listen (default 127.0.0.1:0)" },
    "allow-remote": allowRemoteOption,
    format: formatOption([...formats], "format of the first line: plain (default) or json"),
  },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({
    format: formatOf(args.values.format, formats),
    tunnelId: uuidArg(args.positionals[0]),
    listen: addressOption(args.values.listen, "listen") ?? "127.0.0.1:0",
    allowRemote: Boolean(args.values["allow-remote"]),
  }),
  async run({ format, tunnelId, listen, allowRemote }, deps) {
    checkListenAddress(listen, deps, {
      command: "forward",
      reachable: `connect into tunnel ${tunnelId} through it, with this host's LAN secret`,
      allowRemote,
    });
    const log = (line: string) => deps.io.stderr(`globus-streams: forward: ${line}\n`);
    const lookup = initiatingLookup(tunnelId, deps, log);
    const signal = deps.signal; // installs the SIGINT/SIGTERM handlers before the first lookup
    try {
      await lookup(); // a missing or wrong conf fails now, not at the first connection
      const totals = await forwardPort(lookup, {
        listen,
        signal,
        log,
        handshakeTimeoutMs: handshakeTimeoutMs(deps.env),
        onListening: (address) =>
          deps.io.stdout(
            format === "json"
              ? JSON.stringify({ listen: address, tunnel_id: tunnelId }) + "\n"
              : `Forwarding ${address} -> tunnel ${tunnelId}\n`,
          ),
      });
      stopLine(deps, "forward", totals);
    } catch (error) {
      throw helperFailure(error, deps);
    }
    return ExitCode.ok;
  },
});
