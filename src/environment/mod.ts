/**
 * The environment of a tunnel on this host: its conf file, and the rules around it.
 * The one rule for a contact ("fresh, or refreshed from Transfer, or the stored one
 * while the service cannot answer", `currentConf`) that contact-lookup, connect and
 * forward share; the answer the preload library reads (`preloadLines`); and
 * `initializeEnvironment`, which waits for ACTIVE, asks for a LAN secret and writes the
 * conf file. The CLI only parses arguments, calls these and prints.
 *
 * Start-up matters here: contact-lookup runs once per preloaded process, so this folder
 * imports src/globus (and zod with it) only on the paths that talk to a service, and by
 * a computed specifier (loadGlobus in _contact.ts).
 *
 * @example
 * ```ts
 * import { currentConf, preloadLines, readConf } from "../environment/mod.ts";
 * const store = ConfStore.fromEnv(deps.env);
 * const { conf, ttlSeconds } = await currentConf(store, id, await readConf(store, id), { deps });
 * console.log(preloadLines(id, conf.values, ttlSeconds));
 * ```
 * @module
 */
export { EnvironmentError, type EnvironmentErrorKind } from "./_error.ts";
export type { ServiceDeps } from "./_deps.ts";
export {
  connectorContact,
  type CurrentConf,
  currentConf,
  GLOBUS_MODULE,
  type InitiatingTarget,
  initiatingTarget,
  isoSeconds,
  missingConf,
  preloadLines,
  readConf,
  readSideConf,
  refreshConf,
  refreshDeadlineMs,
  serviceUnavailable,
  STALE_FALLBACK_TTL_SECONDS,
  storedSecret,
  tunnelValues,
} from "./_contact.ts";
export { cleanupConfs, type CleanupOutcome } from "./_cleanup.ts";
export {
  DEFAULT_CONTACT_TTL_SECONDS,
  DEFAULT_WAIT_SECONDS,
  type Initialized,
  initializeEnvironment,
  type InitializeEvents,
  type InitializeOptions,
} from "./_initialize.ts";
