/**
 * The globus-streams command line: finds the command in the one table
 * (commands/mod.ts), parses its arguments into the command's options, runs it, and
 * turns any error into one line and an exit code (_exit.ts). Each command's module is
 * loaded only when it runs, so a fast command pays for nothing else.
 *
 * @example
 * ```ts
 * import { main } from "./src/cli/mod.ts";
 * const code = await main(["environment", "list"], deps);
 * ```
 * @module
 */
import type { CliDeps } from "./_deps.ts";
import { commandHelp, parseCommandArgs } from "./_command.ts";
import { ExitCode, reportError } from "./_exit.ts";
import { COMMANDS, findRow, loadCommand } from "./commands/mod.ts";
import { VERSION } from "../version.ts";
import { COMMIT } from "../commit.ts";

export type { CliDeps, CliIo } from "./_deps.ts";
export type { Command } from "./_command.ts";
export { ExitCode } from "./_exit.ts";
export { type CommandRow, COMMANDS, loadCommand } from "./commands/mod.ts";

function topHelp(group?: string): string {
  const rows = COMMANDS.filter((row) => !group || row.name.startsWith(group + " "));
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
    if (argv.length >= take && findRow(name)) return { name, rest: argv.slice(take) };
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
    const group = COMMANDS.some((row) => row.name.startsWith(argv[0] + " "));
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
  try {
    const command = (await loadCommand(found.name))!;
    const args = parseCommandArgs(found.name, command, found.rest);
    if (args === "help") {
      io.stdout(commandHelp(found.name, findRow(found.name)!.summary, command));
      return ExitCode.ok;
    }
    return await command.run(command.parse(args), deps);
  } catch (error) {
    return reportError(error, found.name, deps);
  }
}
