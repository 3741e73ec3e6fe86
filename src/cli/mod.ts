/**
 * The globus-streams command line: finds the command, parses its arguments, runs it,
 * and turns any error into one line and an exit code. Each command's module is loaded
 * only when it runs, so a fast command pays for nothing else.
 *
 * @example
 * ```ts
 * import { main } from "./src/cli/mod.ts";
 * const code = await main(["environment", "list"], deps);
 * ```
 * @module
 */
import type { CliDeps } from "./_deps.ts";
import { type Command, commandHelp, parseCommandArgs } from "./_command.ts";
import { VERSION } from "../version.ts";
import { COMMIT } from "../commit.ts";
import { oneLine } from "../quote/mod.ts";

export type { CliDeps, CliIo } from "./_deps.ts";
export type { Command } from "./_command.ts";

/** Exit codes: one meaning each, the same for every command. */
export const ExitCode = {
  ok: 0,
  /** The service refused the request, or the operation failed. */
  failure: 1,
  /** The command line was wrong. */
  usage: 2,
  /** A conf file is missing, unsafe or corrupt. */
  conf: 3,
  /** Not logged in, or the login or credentials were refused. */
  auth: 4,
  /** A service could not be reached or did not answer in time. */
  unreachable: 5,
  /** Stopped by SIGINT/SIGTERM before finishing. */
  interrupted: 130,
} as const;

/**
 * Imports a command module by name. The specifier is computed on purpose: Deno builds
 * the graph of every literal `import("./x.ts")` at start-up, npm packages included, which
 * cost contact-lookup ~3 ms it never uses. build/ passes these modules to
 * `deno compile --include` since they are not found by static analysis.
 */
// deno-lint-ignore no-explicit-any
function load(name: string): Promise<any> {
  return import(new URL(`./${name}.ts`, import.meta.url).href);
}

interface Entry {
  summary: string;
  load: () => Promise<Command>;
}

const entries: Record<string, Entry> = {
  "environment initialize": {
    summary: "write the conf file for a tunnel and print its contact string",
    load: async () => (await load("environment")).initializeCommand,
  },
  "environment contact-lookup": {
    summary: "print a tunnel's contact string, refreshing it when stale",
    load: async () => (await load("contact_lookup")).contactLookupCommand,
  },
  "environment update": {
    summary: "refresh a tunnel's contact and listener, keeping its secret",
    load: async () => (await load("environment")).updateCommand,
  },
  "environment cleanup": {
    summary: "remove conf files of expired tunnels",
    load: async () => (await load("environment")).cleanupCommand,
  },
  "environment list": {
    summary: "list the tunnels this host has conf files for",
    load: async () => (await load("environment")).listCommand,
  },
  "environment show": {
    summary: "show a tunnel's conf file, secret redacted",
    load: async () => (await load("environment")).showCommand,
  },
  "tunnel create": {
    summary: "create a tunnel between two stream access points",
    load: async () => (await load("tunnel")).tunnelCreateCommand,
  },
  "tunnel show": {
    summary: "show one tunnel",
    load: async () => (await load("tunnel")).tunnelShowCommand,
  },
  "tunnel list": {
    summary: "list your tunnels",
    load: async () => (await load("tunnel")).tunnelListCommand,
  },
  "tunnel update": {
    summary: "change a tunnel's label or listener contact",
    load: async () => (await load("tunnel")).tunnelUpdateCommand,
  },
  "tunnel stop": {
    summary: "stop a tunnel",
    load: async () => (await load("tunnel")).tunnelStopCommand,
  },
  "tunnel delete": {
    summary: "delete a stopped tunnel",
    load: async () => (await load("tunnel")).tunnelDeleteCommand,
  },
  "tunnel events": {
    summary: "list a tunnel's events",
    load: async () => (await load("tunnel")).tunnelEventsCommand,
  },
  "access-point show": {
    summary: "show one stream access point",
    load: async () => (await load("tunnel")).accessPointShowCommand,
  },
  "access-point list": {
    summary: "list stream access points",
    load: async () => (await load("tunnel")).accessPointListCommand,
  },
  "login": {
    summary: "log in to Globus (prints a URL, reads the code you paste)",
    load: async () => (await load("auth")).loginCommand,
  },
  "logout": {
    summary: "revoke and forget the stored login",
    load: async () => (await load("auth")).logoutCommand,
  },
  "whoami": {
    summary: "show the identity the CLI acts as",
    load: async () => (await load("auth")).whoamiCommand,
  },
  "connect": {
    summary: "bridge stdin/stdout into a tunnel (for ssh ProxyCommand)",
    load: async () => (await load("helpers")).connectCommand,
  },
  "forward": {
    summary: "listen on a local port and carry each connection into a tunnel",
    load: async () => (await load("helpers")).forwardCommand,
  },
  "expose": {
    summary: "take a tunnel's connections on the listening side to a local app",
    load: async () => (await load("helpers")).exposeCommand,
  },
  "emulator": {
    summary: "run a local stand-in for the Globus services, with real access points",
    load: async () => (await load("emulator")).emulatorCommand,
  },
  "completion": {
    summary: "print a shell completion script (bash, zsh or fish)",
    load: async () => (await load("completion")).completionCommand,
  },
};

/** Every command's words and summary, for help and shell completion. */
export function commandTable(): { name: string; summary: string }[] {
  return Object.entries(entries).map(([name, entry]) => ({ name, summary: entry.summary }));
}

/** Loads one command's definition by its words, e.g. "tunnel create". */
export function loadCommand(name: string): Promise<Command> | undefined {
  return entries[name]?.load();
}

function topHelp(group?: string): string {
  const rows = commandTable().filter((row) => !group || row.name.startsWith(group + " "));
  const width = Math.max(...rows.map((row) => row.name.length));
  const lines = [
    `Usage: globus-streams ${group ?? "COMMAND"} ${group ? "SUBCOMMAND " : ""}[options] [ARGS]`,
    "",
    "Carry unmodified TCP programs between sites through Globus Streams tunnels.",
    "",
    "Commands:",
    ...rows.map((row) => `  ${row.name.padEnd(width)}  ${row.summary}`),
    "",
    "Run 'globus-streams COMMAND --help' for a command's options.",
    "Global: -h/--help, -V/--version.",
  ];
  return lines.join("\n") + "\n";
}

/** Finds the longest run of leading words that names a command. */
function findCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  for (const take of [2, 1]) {
    const name = argv.slice(0, take).join(" ");
    if (argv.length >= take && entries[name]) return { name, rest: argv.slice(take) };
  }
  return undefined;
}

/** Runs the CLI on argv and returns the process exit code; never throws. */
export async function main(argv: string[], deps: CliDeps): Promise<number> {
  const { io } = deps;
  if (argv.length === 0 || argv[0] === "-h" || argv[0] === "--help" || argv[0] === "help") {
    io.stdout(topHelp());
    return argv.length === 0 ? ExitCode.usage : ExitCode.ok;
  }
  if (argv[0] === "-V" || argv[0] === "--version" || argv[0] === "version") {
    io.stdout(`globus-streams ${VERSION} (${COMMIT})\n`);
    return ExitCode.ok;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = commandTable().some((row) => row.name.startsWith(argv[0] + " "));
    if (group && (argv.length === 1 || argv[1] === "-h" || argv[1] === "--help")) {
      io.stdout(topHelp(argv[0]));
      return argv.length === 1 ? ExitCode.usage : ExitCode.ok;
    }
    const what = group ? `${argv[0]} ${argv[1]}` : argv[0];
    io.stderr(
      `globus-streams: Unknown command "${what}": run 'globus-streams --help' for the list\n`,
    );
    return ExitCode.usage;
  }
  let command: Command | undefined;
  try {
    command = await entries[found.name].load();
    const args = parseCommandArgs(command, found.rest);
    if (args === "help") {
      io.stdout(commandHelp(command));
      return ExitCode.ok;
    }
    return await command.run(args, deps);
  } catch (error) {
    return reportError(error, found.name, deps);
  }
}

/**
 * Maps an error to its exit code and prints it as one line. Errors are recognised by
 * name so that this module need not import every folder.
 */
export function reportError(error: unknown, commandName: string, deps: CliDeps): number {
  const debug = Boolean(deps.env("GLOBUS_STREAMS_DEBUG"));
  const say = (text: string) => deps.io.stderr(`globus-streams: ${text}\n`);
  if (!(error instanceof Error)) {
    say(`Unexpected failure: ${String(error)}`);
    return ExitCode.failure;
  }
  const message = oneLine(error);
  if (debug && error.stack) deps.io.stderr(error.stack + "\n");
  switch (error.name) {
    case "UsageError":
      say(`${message} (see 'globus-streams ${commandName} --help')`);
      return ExitCode.usage;
    case "ConfError":
      say(message);
      return ExitCode.conf;
    case "GlobusApiError": {
      say(message);
      const kind = (error as { kind?: string }).kind;
      if (kind === "auth") return ExitCode.auth;
      if (kind === "network") return ExitCode.unreachable;
      return ExitCode.failure;
    }
    case "AbortError":
      say("Interrupted");
      return ExitCode.interrupted;
    case "CommandError":
      say(message);
      return (error as { exitCode?: number }).exitCode ?? ExitCode.failure;
    case "EnvironmentError":
      say(message);
      return (error as { kind?: string }).kind === "unreachable"
        ? ExitCode.unreachable
        : ExitCode.failure;
    case "XioError":
    case "EmulatorError":
      say(message);
      return ExitCode.failure;
    default:
      say(
        `Unexpected failure: ${message}${debug ? "" : " (set GLOBUS_STREAMS_DEBUG=1 for details)"}`,
      );
      return ExitCode.failure;
  }
}
