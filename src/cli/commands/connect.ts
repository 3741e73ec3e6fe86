// `connect`: stdin/stdout bridged into one tunnel stream, for ssh's ProxyCommand. The
// stream is src/helpers' job; the target comes from src/environment's contact rule.
import { defineCommand, uuidArg } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { helperFailure, initiatingLookup } from "../_helpers.ts";
import { connectStdio } from "../../helpers/mod.ts";
import { handshakeTimeoutMs } from "../../xio/mod.ts";

/** `globus-streams connect TUNNEL_ID`. */
export const command = defineCommand({
  usage: "TUNNEL_ID",
  description: `Opens one stream into the tunnel (the initiating side's conf file gives the access
point's contact and the LAN secret) and copies stdin into it and its bytes to stdout.
The end of stdin half-closes the stream; the command exits 0 when the far side ends
it. Nothing but the stream's bytes goes to stdout; messages go to stderr.

Example:
  ssh -o ProxyCommand="globus-streams connect 5f2c3a1e-0000-4000-8000-000000000001" user@server`,
  options: {},
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ tunnelId: uuidArg(args.positionals[0]) }),
  async run({ tunnelId }, deps) {
    const warn = (line: string) => deps.io.stderr(`globus-streams: connect: ${line}\n`);
    try {
      await connectStdio(initiatingLookup(tunnelId, deps, warn), {
        input: Deno.stdin,
        output: Deno.stdout,
        signal: deps.signal,
        handshakeTimeoutMs: handshakeTimeoutMs(deps.env),
      });
    } catch (error) {
      throw helperFailure(error, deps);
    }
    return ExitCode.ok;
  },
});
