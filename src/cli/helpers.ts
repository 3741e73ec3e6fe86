// `connect`, `forward`, `expose`: the helpers for programs that cannot be preloaded.
// This file parses and prints; the conf files are read by src/environment's rules (the
// initiating side's contact and secret, refreshed when stale as contact-lookup does; the
// listening side's secret), and the streams themselves are src/helpers' job.
import {
  type Command,
  CommandError,
  formatOf,
  formatOption,
  type ParsedArgs,
  UsageError,
} from "./_command.ts";
import type { CliDeps } from "./_deps.ts";
import { ExitCode } from "./mod.ts";
import { ConfStore } from "../conf/mod.ts";
import { initiatingTarget, readSideConf } from "../environment/mod.ts";
import { CONTACT_HINT, parseContact } from "../contact/mod.ts";
import { handshakeTimeoutMs } from "../xio/mod.ts";
import {
  connectStdio,
  exposePort,
  formatTotals,
  forwardPort,
  type TargetLookup,
  type Totals,
} from "../helpers/mod.ts";
import { tunnelIdArg } from "./contact_lookup.ts";
import { allowRemoteOption, checkListenAddress } from "./_listen.ts";

const formats = ["plain", "json"] as const;

/**
 * The initiating side's target, read for every new stream by src/environment's rule
 * (the stored contact while fresh, else refreshed, else the stored one), warning once
 * when it falls back to the stored contact.
 */
function initiatingLookup(tunnelId: string, deps: CliDeps, warn: (line: string) => void) {
  const store = ConfStore.fromEnv(deps.env);
  let warned = false;
  const lookup: TargetLookup = async () => {
    const { target, fallback } = await initiatingTarget(store, tunnelId, deps);
    if (fallback !== undefined && !warned) {
      warned = true;
      warn(`cannot refresh the contact of tunnel ${tunnelId}, using the stored one: ${fallback}`);
    }
    return target;
  };
  return lookup;
}

/** HelperError -> CommandError with its exit code; an interruption -> AbortError. */
function translate(error: unknown, deps: CliDeps): unknown {
  if (deps.signal.aborted) {
    const interrupted = new Error("Interrupted");
    interrupted.name = "AbortError";
    return interrupted;
  }
  if (!(error instanceof Error) || error.name !== "HelperError") return error;
  const kind = (error as { kind?: string }).kind;
  const exitCode = kind === "unreachable"
    ? ExitCode.unreachable
    : kind === "refused"
    ? ExitCode.auth
    : ExitCode.failure;
  return new CommandError(error.message, { exitCode, cause: error });
}

function contactOption(args: ParsedArgs, name: string): string | undefined {
  const text = args.values[name] as string | undefined;
  if (text === undefined) return undefined;
  const port0 = text.endsWith(":0") ? parseContact(`${text.slice(0, -1)}1`) : undefined;
  if (!parseContact(text) && !port0) {
    throw new UsageError(`Invalid --${name} "${text}": ${CONTACT_HINT}`);
  }
  return text;
}

function stopLine(deps: CliDeps, command: string, totals: Totals): void {
  deps.io.stderr(`globus-streams: ${command}: stopped: ${formatTotals(totals)}\n`);
}

/** `globus-streams connect TUNNEL_ID`. */
export const connectCommand: Command = {
  name: "connect",
  summary: "bridge stdin/stdout into a tunnel (for ssh ProxyCommand)",
  usage: "TUNNEL_ID",
  description: `Opens one stream into the tunnel (the initiating side's conf file gives the access
point's contact and the LAN secret) and copies stdin into it and its bytes to stdout.
The end of stdin half-closes the stream; the command exits 0 when the far side ends
it. Nothing but the stream's bytes goes to stdout; messages go to stderr.

Example:
  ssh -o ProxyCommand="globus-streams connect 5f2c3a1e-0000-4000-8000-000000000001" user@server`,
  options: {},
  positionals: { min: 1, max: 1 },
  async run(args, deps) {
    const tunnelId = tunnelIdArg(args);
    const warn = (line: string) => deps.io.stderr(`globus-streams: connect: ${line}\n`);
    try {
      await connectStdio(initiatingLookup(tunnelId, deps, warn), {
        input: Deno.stdin,
        output: Deno.stdout,
        signal: deps.signal,
        handshakeTimeoutMs: handshakeTimeoutMs(deps.env),
      });
    } catch (error) {
      throw translate(error, deps);
    }
    return ExitCode.ok;
  },
};

/** `globus-streams forward [--listen HOST:PORT] TUNNEL_ID`. */
export const forwardCommand: Command = {
  name: "forward",
  summary: "listen on a local port and carry each connection into a tunnel",
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
  async run(args, deps) {
    const format = formatOf(args, formats);
    const tunnelId = tunnelIdArg(args);
    const listen = contactOption(args, "listen") ?? "127.0.0.1:0";
    checkListenAddress(listen, args, deps, {
      command: "forward",
      reachable: `connect into tunnel ${tunnelId} through it, with this host's LAN secret`,
    });
    const log = (line: string) => deps.io.stderr(`globus-streams: forward: ${line}\n`);
    const lookup = initiatingLookup(tunnelId, deps, log);
    const signal = deps.signal;
    let totals: Totals;
    try {
      await lookup(); // a missing or wrong conf fails now, not at the first connection
      totals = await forwardPort(lookup, {
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
    } catch (error) {
      throw translate(error, deps);
    }
    stopLine(deps, "forward", totals);
    return ExitCode.ok;
  },
};

/** `globus-streams expose [--listen HOST:PORT] --to HOST:PORT TUNNEL_ID`. */
export const exposeCommand: Command = {
  name: "expose",
  summary: "take a tunnel's connections on the listening side to a local app",
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
  async run(args, deps) {
    const format = formatOf(args, formats);
    const tunnelId = tunnelIdArg(args);
    const to = contactOption(args, "to");
    if (to === undefined) {
      throw new UsageError("Missing --to HOST:PORT: where to relay connections");
    }
    const store = ConfStore.fromEnv(deps.env);
    const conf = await readSideConf(store, tunnelId, "listening");
    const log = (line: string) => deps.io.stderr(`globus-streams: expose: ${line}\n`);
    const stored = conf.values.listenerContactString;
    const listen = contactOption(args, "listen") ?? stored;
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
    let totals: Totals;
    try {
      totals = await exposePort(tunnelId, {
        listen,
        to,
        signal: deps.signal,
        log,
        handshakeTimeoutMs: handshakeTimeoutMs(deps.env),
        secret: keyed
          ? async () => {
            const now = await store.read(tunnelId);
            const { lankey, lankeyId } = now?.values ?? {};
            return lankey === undefined ? undefined : { secret: lankey, secretId: lankeyId };
          }
          : undefined,
        onListening: (address) =>
          deps.io.stdout(
            format === "json"
              ? JSON.stringify({ listen: address, to, tunnel_id: tunnelId }) + "\n"
              : `Exposing tunnel ${tunnelId}: listening on ${address} -> ${to}\n`,
          ),
      });
    } catch (error) {
      throw translate(error, deps);
    }
    stopLine(deps, "expose", totals);
    return ExitCode.ok;
  },
};
