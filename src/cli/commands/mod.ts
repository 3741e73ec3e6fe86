/**
 * The one table of commands: the words that select each, its summary, and the module
 * under this folder that defines it (exporting `command`). Help and completion list it,
 * the CLI loads from it, and build/ passes its modules to `deno compile --include`.
 * Adding a command is one row here and one file.
 *
 * Modules are imported by a computed specifier on purpose: Deno builds the graph of
 * every literal `import("./x.ts")` at start-up, npm packages included, which cost
 * contact-lookup ~3 ms it never uses (bench/contact_lookup.ts). So this file imports
 * nothing at run time, and `deno compile` cannot find the modules by itself.
 *
 * @example
 * ```ts
 * import { COMMANDS, loadCommand } from "./commands/mod.ts";
 * const command = await loadCommand("tunnel list");
 * ```
 * @module
 */
import type { Command } from "../_command.ts";

/** One row of the table. */
export interface CommandRow {
  /** The words that select it: "environment initialize", "login". */
  name: string;
  /** One line for the command lists of help and completion. */
  summary: string;
  /** Its module under src/cli/commands/, without ".ts": "environment/initialize". */
  module: string;
}

export const COMMANDS: readonly CommandRow[] = [
  {
    name: "environment initialize",
    summary: "write the conf file for a tunnel and print its contact string",
    module: "environment/initialize",
  },
  {
    name: "environment contact-lookup",
    summary: "print a tunnel's contact string, refreshing it when stale",
    module: "environment/contact_lookup",
  },
  {
    name: "environment update",
    summary: "refresh a tunnel's contact and listener, keeping its secret",
    module: "environment/update",
  },
  {
    name: "environment cleanup",
    summary: "remove conf files of expired tunnels",
    module: "environment/cleanup",
  },
  {
    name: "environment list",
    summary: "list the tunnels this host has conf files for",
    module: "environment/list",
  },
  {
    name: "environment show",
    summary: "show a tunnel's conf file, secret redacted",
    module: "environment/show",
  },
  {
    name: "tunnel create",
    summary: "create a tunnel between two stream access points",
    module: "tunnel/create",
  },
  { name: "tunnel show", summary: "show one tunnel", module: "tunnel/show" },
  { name: "tunnel list", summary: "list your tunnels", module: "tunnel/list" },
  {
    name: "tunnel update",
    summary: "change a tunnel's label or listener contact",
    module: "tunnel/update",
  },
  { name: "tunnel stop", summary: "stop a tunnel", module: "tunnel/stop" },
  { name: "tunnel delete", summary: "delete a stopped tunnel", module: "tunnel/delete" },
  { name: "tunnel events", summary: "list a tunnel's events", module: "tunnel/events" },
  {
    name: "access-point show",
    summary: "show one stream access point",
    module: "access_point/show",
  },
  {
    name: "access-point list",
    summary: "list stream access points",
    module: "access_point/list",
  },
  {
    name: "login",
    summary: "log in to Globus (prints a URL, reads the code you paste)",
    module: "login",
  },
  { name: "logout", summary: "revoke and forget the stored login", module: "logout" },
  { name: "whoami", summary: "show the identity the CLI acts as", module: "whoami" },
  {
    name: "connect",
    summary: "bridge stdin/stdout into a tunnel (for ssh ProxyCommand)",
    module: "connect",
  },
  {
    name: "forward",
    summary: "listen on a local port and carry each connection into a tunnel",
    module: "forward",
  },
  {
    name: "expose",
    summary: "take a tunnel's connections on the listening side to a local app",
    module: "expose",
  },
  {
    name: "emulator",
    summary: "run a local stand-in for the Globus services, with real access points",
    module: "emulator",
  },
  {
    name: "completion",
    summary: "print a shell completion script (bash, zsh or fish)",
    module: "completion",
  },
];

/** The row of a command by its words, e.g. "tunnel create". */
export function findRow(name: string): CommandRow | undefined {
  return COMMANDS.find((row) => row.name === name);
}

/** Each row's module file, relative to this folder: "environment/initialize.ts". */
export function commandFiles(): string[] {
  return [...new Set(COMMANDS.map((row) => `${row.module}.ts`))];
}

/** Loads one command's definition by its words; undefined for an unknown name. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const row = findRow(name);
  if (!row) return undefined;
  const module = await import(new URL(`./${row.module}.ts`, import.meta.url).href);
  return module.command;
}
