import { type ArgSpec, parseArgv } from "./_args.ts";
import type { CliDeps } from "./_deps.ts";

/** One option of a command, as node:util parseArgs takes it, plus its help text. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help for a string option, e.g. "HOST:PORT". */
  value?: string;
  help: string;
}

/** What a command receives after parsing: its options and positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** A command: a plain function behind a declared interface, in the manner of gh. */
export interface Command {
  /** Words that select it: "environment initialize". */
  name: string;
  summary: string;
  /** Positional part of the synopsis: "[options] TUNNEL_ID [ENDPOINT_ID]". */
  usage: string;
  /** Longer text after the synopsis: what it does, examples. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Allowed number of positional arguments. */
  positionals: { min: number; max: number };
  run(args: ParsedArgs, deps: CliDeps): Promise<number>;
}

/** Thrown for bad command-line input; the CLI prints it with a pointer to --help. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure a command reports itself, with the exit code it means (1 unless given). */
export class CommandError extends Error {
  override name = "CommandError";
  readonly exitCode: number;
  constructor(message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** The `-F/--format` option shared by commands with machine-readable output. */
export function formatOption(formats: string[], help?: string): OptionSpec {
  return {
    type: "string",
    short: "F",
    value: formats.join("|"),
    help: help ?? `output format (default ${formats[0]})`,
  };
}

/** Reads `--format`, checking it is one of the allowed values; the first is the default. */
export function formatOf<T extends string>(args: ParsedArgs, formats: readonly T[]): T {
  const value = (args.values.format as string | undefined) ?? formats[0];
  if (!(formats as readonly string[]).includes(value)) {
    throw new UsageError(`Unknown format "${value}": want one of ${formats.join(", ")}`);
  }
  return value as T;
}

/** Parses argv for a command, or throws UsageError. Adds -h/--help. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs | "help" {
  const options: Record<string, ArgSpec> = { help: { type: "boolean", short: "h" } };
  for (const [name, spec] of Object.entries(command.options)) options[name] = spec;
  let parsed;
  try {
    parsed = parseArgv(argv, options);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values.help) return "help";
  const count = parsed.positionals.length;
  const { min, max } = command.positionals;
  if (count < min) {
    throw new UsageError(`Missing argument for "${command.name}": usage: ${command.usage}`);
  }
  if (count > max) {
    throw new UsageError(
      `Unexpected argument "${
        parsed.positionals[max]
      }" for "${command.name}": usage: ${command.usage}`,
    );
  }
  return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals };
}

/** The text `COMMAND --help` prints. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: globus-streams ${command.name} ${command.usage}`, "", command.summary];
  if (command.description) lines.push("", command.description.trimEnd());
  lines.push("", "Options:");
  const rows: [string, string][] = [];
  for (const [name, spec] of Object.entries(command.options)) {
    const flag = (spec.short ? `-${spec.short}, ` : "    ") + `--${name}` +
      (spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : "");
    rows.push([flag, spec.help]);
  }
  rows.push(["-h, --help", "show this help and exit"]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}  ${help}`);
  return lines.join("\n") + "\n";
}
