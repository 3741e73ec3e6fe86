/**
 * The conf files of tunnels: one `key=value` file per tunnel in GLOBUS_STREAMS_DIR
 * (default `$HOME/.globus/streams`), holding the connector contact, the fake port and
 * the LAN secret. Read on every `environment contact-lookup`, so this module stays small.
 *
 * @example
 * ```ts
 * import { ConfStore, freshFor } from "../conf/mod.ts";
 * const store = ConfStore.fromEnv((name) => Deno.env.get(name));
 * const conf = await store.read("5f2c3a1e-0000-4000-8000-000000000001");
 * if (conf && freshFor(conf.values, Date.now()) > 0) console.log(conf.values.fakePort);
 * ```
 * @module
 */
export { ConfError } from "./_error.ts";
export {
  type Conf,
  CONF_KEYS,
  type ConfLine,
  type ConfValues,
  formatConf,
  freshFor,
  parseConf,
  type Side,
  withValues,
} from "./_format.ts";
export {
  checkPrivateDir,
  ensurePrivateDir,
  type PrivateFileKind,
  readPrivateFileSync,
} from "./_private.ts";
export { confDir, ConfStore, type ConfStoreOptions, type Env } from "./_store.ts";
