// A strict argument parser for the subset of node:util parseArgs the commands use
// (string/boolean options, short flags, --name=value, multiple, "--"). It exists
// because importing node:util costs ~5 ms, a third of contact-lookup's start-up
// budget (bench/contact_lookup.ts); errors are TypeErrors worded like node's.

/** One option as the parser takes it. */
export interface ArgSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

export type ArgValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** Parses args against options; throws TypeError on an unknown option or a missing value. */
export function parseArgv(
  args: string[],
  options: Record<string, ArgSpec>,
): { values: ArgValues; positionals: string[] } {
  const values: ArgValues = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) if (spec.short) byShort.set(spec.short, name);
  const set = (name: string, value: string | boolean) => {
    if (!options[name].multiple) values[name] = value;
    else values[name] = [...((values[name] ?? []) as (string | boolean)[]), value] as string[];
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
      inline = equals === -1 ? undefined : arg.slice(equals + 1);
      shown = `--${name}`;
      if (!Object.hasOwn(options, name)) throw new TypeError(`Unknown option "${shown}"`);
    } else if (arg.startsWith("-") && arg.length > 1) {
      shown = arg.slice(0, 2);
      name = byShort.get(arg[1]);
      if (!name) throw new TypeError(`Unknown option "${shown}"`);
      if (arg.length > 2) inline = arg.slice(2);
    } else {
      positionals.push(arg);
      continue;
    }
    if (options[name].type === "boolean") {
      if (inline !== undefined) throw new TypeError(`Option "${shown}" takes no value`);
      set(name, true);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new TypeError(`Option "${shown}" needs a value`);
    set(name, value);
  }
  return { values, positionals };
}
