// --listen on a non-loopback address opens a service to other hosts: the emulator's
// Auth/Transfer/GCS, or a way into a tunnel with this host's LAN secret. That needs
// --allow-remote, and then one warning naming what becomes reachable.
import { type BooleanOptionSpec, UsageError } from "./_command.ts";
import type { CliDeps } from "./_deps.ts";
import { isLoopbackHost } from "../contact/mod.ts";

/** The --allow-remote option of commands that listen. */
export const allowRemoteOption: BooleanOptionSpec = {
  type: "boolean",
  help: "allow a --listen address other hosts can reach (not loopback)",
};

/**
 * Passes a loopback --listen address (HOST:PORT or [V6]:PORT, already checked); refuses
 * any other unless --allow-remote is given, and then warns on stderr. `reachable`
 * completes "other hosts could ...".
 */
export function checkListenAddress(
  text: string,
  deps: CliDeps,
  options: { command: string; reachable: string; allowRemote: boolean },
): void {
  const host = text.startsWith("[")
    ? text.slice(1, text.indexOf("]"))
    : text.slice(0, text.lastIndexOf(":"));
  if (isLoopbackHost(host)) return;
  if (!options.allowRemote) {
    throw new UsageError(
      `Refusing --listen "${text}": it is not a loopback address, so other hosts could ` +
        `${options.reachable} (listen on 127.0.0.1, or pass --allow-remote to mean it)`,
    );
  }
  deps.io.stderr(
    `globus-streams: ${options.command}: warning: listening on "${text}", not loopback: ` +
      `other hosts can ${options.reachable}\n`,
  );
}
