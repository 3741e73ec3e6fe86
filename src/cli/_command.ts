// What a command is, in the manner of gh: a declared interface (usage, options,
// positionals), a parse step that turns the parsed argv into the command's own typed
// options, and a run step that takes those options and the injected dependencies. A
// command's name and summary live in the one table, commands/mod.ts.
import { type ArgSpec, parseArgv } from "./_args.ts";
import type { CliDeps } from "./_deps.ts";
import { isUuid } from "../uuid/mod.ts";

/** A string option, as node:util parseArgs takes it, plus its help text. */
export interface StringOptionSpec {
  type: "string";
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. "HOST:PORT"; "a|b|c" also feeds completion. */
  value?: string;
  help: string;
}

/** A boolean option (a flag). */
export interface BooleanOptionSpec {
  type: "boolean";
  short?: string;
  help: string;
}

/** One option of a command. */
export type OptionSpec = StringOptionSpec | BooleanOptionSpec;
export type OptionSpecs = Record<string, OptionSpec>;

/** The type an option's value has after parsing: what a command's parse step receives. */
export type OptionValue<S extends OptionSpec> = S extends BooleanOptionSpec ? boolean | undefined
  : S extends { multiple: true } ? string[] | undefined
  : string | undefined;

/** What a command's parse step receives: its options, typed by their specs, and positionals. */
export interface ParsedArgs<O extends OptionSpecs = OptionSpecs> {
  values: { [K in keyof O]: OptionValue<O[K]> };
  positionals: string[];
}

/**
 * A command: its declared interface, `parse` (argv -> typed options, throwing
 * UsageError for bad input) and `run` (options and dependencies -> exit code).
 */
export interface Command<O extends OptionSpecs = OptionSpecs, T = unknown> {
  /** Positional part of the synopsis: "[options] TUNNEL_ID [ENDPOINT_ID]". */
  usage: string;
  /** Longer text after the synopsis: what it does, examples. */
  description?: string;
  options: O;
  /** Allowed number of positional arguments. */
  positionals: { min: number; max: number };
  /** The parsed arguments as this command's options, checked. */
  parse(args: ParsedArgs<O>): T;
  /** Does the work; returns an ExitCode (errors are thrown and mapped in _exit.ts). */
  run(options: T, deps: CliDeps): Promise<number>;
}

/**
 * Declares a command, inferring its option types from `options` so that `parse` reads
 * them without casts.
 *
 * @example
 * ```ts
 * export const command = defineCommand({
 *   usage: "[-F text|json]",
 *   options: { format: formatOption(["text", "json"]) },
 *   positionals: { min: 0, max: 0 },
 *   parse: (args) => ({ format: formatOf(args.values.format, ["text", "json"] as const) }),
 *   run: (options, deps) => ...,
 * });
 * ```
 */
export function defineCommand<const O extends OptionSpecs, T>(
  command: Command<O, T>,
): Command<O, T> {
  return command;
}

/** Thrown for bad command-line input; the CLI prints it with a pointer to --help. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** How a command's own failure counts: exit 1, or exit 4 for a login problem. */
export type CommandErrorKind = "failure" | "auth";

/** A failure a command reports itself; its kind picks the exit code (_exit.ts). */
export class CommandError extends Error {
  override name = "CommandError";
  readonly kind: CommandErrorKind;
  constructor(message: string, options?: { kind?: CommandErrorKind; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.kind = options?.kind ?? "failure";
  }
}

/** The `-F/--format` option shared by commands with machine-readable output. */
export function formatOption(formats: string[], help?: string): StringOptionSpec {
  return {
    type: "string",
    short: "F",
    value: formats.join("|"),
    help: help ?? `output format (default ${formats[0]})`,
  };
}

/** Checks a `--format` value against the allowed ones; the first is the default. */
export function formatOf<T extends string>(value: string | undefined, formats: readonly T[]): T {
  const format = value ?? formats[0];
  if (!(formats as readonly string[]).includes(format)) {
    throw new UsageError(`Unknown format "${format}": want one of ${formats.join(", ")}`);
  }
  return format as T;
}

/** A UUID argument (a tunnel id, an endpoint id, ...), checked and lower-cased. */
export function uuidArg(text: string, what = "tunnel id"): string {
  if (!isUuid(text)) throw new UsageError(`Invalid ${what} "${text}": want a UUID`);
  return text.toLowerCase();
}

/** Parses argv for a command named `name`, or throws UsageError. Adds -h/--help. */
export function parseCommandArgs(
  name: string,
  command: Command,
  argv: string[],
): ParsedArgs | "help" {
  const options: Record<string, ArgSpec> = { help: { type: "boolean", short: "h" } };
  for (const [option, spec] of Object.entries(command.options)) options[option] = spec;
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
    throw new UsageError(`Missing argument for "${name}": usage: ${command.usage}`);
  }
  if (count > max) {
    throw new UsageError(
      `Unexpected argument "${parsed.positionals[max]}" for "${name}": usage: ${command.usage}`,
    );
  }
  // The parser gave each option the type its spec declares: string(s) or boolean.
  return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals };
}

/** The text `COMMAND --help` prints. */
export function commandHelp(name: string, summary: string, command: Command): string {
  const lines = [`Usage: globus-streams ${name} ${command.usage}`, "", summary];
  if (command.description) lines.push("", command.description.trimEnd());
  lines.push("", "Options:");
  const rows: [string, string][] = [];
  for (const [option, spec] of Object.entries(command.options)) {
    const flag = (spec.short ? `-${spec.short}, ` : "    ") + `--${option}` +
      (spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : "");
    rows.push([flag, spec.help]);
  }
  rows.push(["-h, --help", "show this help and exit"]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}  ${help}`);
  return lines.join("\n") + "\n";
}
