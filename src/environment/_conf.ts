// Reading a tunnel's conf file the way every command does: a missing one names the
// command that writes it; one written for the other end of the tunnel is refused.
import { type Conf, ConfError, ConfStore, type Side } from "../conf/mod.ts";

/** The error for a tunnel without a conf file, naming the command that writes one. */
export function missingConf(store: ConfStore, tunnelId: string): ConfError {
  return new ConfError(
    `No conf file for tunnel ${tunnelId} in ${store.dir}: ` +
      `run 'globus-streams environment initialize ${tunnelId}'`,
    { path: store.path(tunnelId) },
  );
}

/** Reads a tunnel's conf file, or throws ConfError when there is none. */
export async function readConf(store: ConfStore, tunnelId: string): Promise<Conf> {
  const conf = await store.read(tunnelId);
  if (!conf) throw missingConf(store, tunnelId);
  return conf;
}

/**
 * Reads a tunnel's conf file for one side: a file written for the other end of the
 * tunnel is a conf problem, said plainly (connect and forward run on the initiating
 * side, expose on the listening side).
 */
export async function readSideConf(store: ConfStore, tunnelId: string, want: Side): Promise<Conf> {
  const conf = await readConf(store, tunnelId);
  const side = conf.values.side;
  if (side === undefined || side === want) return conf;
  const runs = want === "initiating"
    ? "connect and forward run on the initiating side (expose on the listening side)"
    : "expose runs on the listening side (connect and forward on the initiating side)";
  throw new ConfError(
    `Cannot use the conf file of tunnel ${tunnelId} in ${store.dir}: it is for the ${side} side: ${runs}`,
    { path: store.path(tunnelId) },
  );
}
