// What forward and expose share: an accept loop that hands each connection to its own
// task, totals, and shutting everything down when the signal aborts.
import type { Accepted, Handle, Server } from "../xio/mod.ts";
import { settleWithin, sleep } from "../timer/mod.ts";
import { rootMessage } from "./_tunnel.ts";

/** What a forward or expose did, reported when it stops. */
export interface Totals {
  /** Connections accepted. */
  connections: number;
  /** Of those, how many failed (refused, unreachable, broken). */
  failed: number;
  /** Bytes carried from the initiating side to the listening side. */
  up: number;
  /** Bytes carried back. */
  down: number;
}

/** "3 connections (1 failed), 1048576 bytes up, 512 bytes down". */
export function formatTotals(totals: Totals): string {
  const plural = totals.connections === 1 ? "" : "s";
  return `${totals.connections} connection${plural} (${totals.failed} failed), ` +
    `${totals.up} bytes up, ${totals.down} bytes down`;
}

const STOP_WAIT_MS = 5_000;
/** The pause before accepting again after a failed accept (e.g. out of file descriptors). */
const ACCEPT_RETRY_MS = 100;

/**
 * Accepts until signal aborts; handle(accepted, track) runs per connection, registering
 * the handles it opens with track() so that stopping closes them.
 */
export async function serveUntil(
  server: Server,
  signal: AbortSignal,
  handle: (accepted: Accepted, track: (h: Handle) => void) => Promise<void>,
  log: (line: string) => void,
): Promise<void> {
  const open = new Set<Handle>();
  const tasks = new Set<Promise<void>>();
  const stop = () => server.close().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    while (!signal.aborted) {
      let accepted: Accepted;
      try {
        accepted = await server.acceptRaw();
      } catch (error) {
        if (signal.aborted || server.state === "closed") break;
        log(`accept on "${server.address}" failed: ${rootMessage(error)}`);
        await sleep(ACCEPT_RETRY_MS);
        continue;
      }
      const mine: Handle[] = [];
      const track = (h: Handle) => {
        mine.push(h);
        open.add(h);
        if (signal.aborted) h.close().catch(() => {});
      };
      const task = handle(accepted, track).catch((error) => {
        log(`connection from "${accepted.contact}": ${rootMessage(error)}`);
      }).finally(async () => {
        await Promise.allSettled(mine.map((h) => h.close()));
        for (const h of mine) open.delete(h);
        await accepted.close();
      });
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  } finally {
    signal.removeEventListener("abort", stop);
    await server.close().catch(() => {});
    await Promise.allSettled([...open].map((h) => h.close()));
    await settleWithin([...tasks], STOP_WAIT_MS);
  }
}
