// `environment cleanup` as a plain function: which conf files go (expired ones, or any
// with force), each decided and removed under its lock.
import { type Conf, ConfError, ConfStore } from "../conf/mod.ts";
import { missingConf } from "./_contact.ts";

/** What became of one conf file; `expires` is its tunnel_expiration_time when known. */
export type CleanupOutcome =
  & { tunnelId: string; path: string }
  & (
    | { outcome: "removed"; expires?: number }
    | { outcome: "kept"; expires?: number }
    /** Unreadable (without force): left alone. */
    | { outcome: "skipped"; error: unknown }
  );

/**
 * Removes the conf files whose tunnel has expired by nowMs (with force: every one, also
 * unreadable ones), of the named tunnel or of all, yielding each file's outcome as it
 * is decided; then removes temporary files that writers left behind.
 */
export async function* cleanupConfs(
  store: ConfStore,
  options: { tunnelId?: string; force: boolean; nowMs: number },
): AsyncGenerator<CleanupOutcome> {
  const { tunnelId: named, force } = options;
  const nowSeconds = Math.floor(options.nowMs / 1000);
  let ids: string[];
  if (named) {
    if (!(await store.tunnelIds()).includes(named)) throw missingConf(store, named);
    ids = [named];
  } else {
    ids = await store.tunnelIds();
  }
  for (const tunnelId of ids) {
    const path = store.path(tunnelId);
    yield await store.withLock(tunnelId, async (): Promise<CleanupOutcome> => {
      let conf: Conf | undefined;
      try {
        conf = await store.read(tunnelId);
      } catch (error) {
        if (!(error instanceof ConfError) || !force) {
          return { tunnelId, path, outcome: "skipped", error };
        }
      }
      const expires = conf?.values.tunnelExpirationTime;
      const expired = expires !== undefined && expires <= nowSeconds;
      if (!force && !expired) return { tunnelId, path, outcome: "kept", expires };
      await store.remove(tunnelId);
      return { tunnelId, path, outcome: "removed", expires };
    });
  }
  await store.removeStaleTemps(options.nowMs);
}
