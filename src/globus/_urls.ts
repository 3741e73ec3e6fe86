import { timerDelay } from "../timer/mod.ts";
import { GlobusApiError } from "./_error.ts";

/** Lookup of environment variables (CliDeps.env). */
export type Env = (name: string) => string | undefined;

/** Base URLs, each ending in "/". Paths like "v2/tunnels" are appended. */
export interface ServiceUrls {
  auth: string;
  transfer: string;
}

const PRODUCTION_AUTH = "https://auth.globus.org/";

function setting(env: Env, name: string): string | undefined {
  const value = env(name)?.trim();
  return value ? value : undefined;
}

function checkedBase(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GlobusApiError("network", `Cannot use ${name} "${value}": not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new GlobusApiError("network", `Cannot use ${name} "${value}": want an http or https URL`);
  }
  url.search = "";
  url.hash = "";
  const text = url.toString();
  return text.endsWith("/") ? text : text + "/";
}

/**
 * The Auth and Transfer base URLs: GLOBUS_SDK_SERVICE_URL_AUTH / _TRANSFER when set,
 * else derived from GLOBUS_SDK_ENVIRONMENT the way the Globus SDK does.
 *
 * @example
 * ```ts
 * serviceUrls(() => undefined).transfer; // "https://transfer.api.globus.org/"
 * ```
 */
export function serviceUrls(env: Env): ServiceUrls {
  const name = setting(env, "GLOBUS_SDK_ENVIRONMENT") ?? "production";
  if (!/^[a-z][a-z0-9-]*$/i.test(name)) {
    throw new GlobusApiError(
      "network",
      `Cannot use GLOBUS_SDK_ENVIRONMENT "${name}": want a name like "production" or "sandbox"`,
    );
  }
  let auth: string;
  let transfer: string;
  if (name === "production") {
    auth = PRODUCTION_AUTH;
    transfer = "https://transfer.api.globus.org/";
  } else if (name === "preview") {
    auth = "https://auth.preview.globus.org/";
    transfer = "https://transfer.api.preview.globus.org/";
  } else {
    auth = `https://auth.${name}.globuscs.info/`;
    transfer = `https://transfer.api.${name}.globuscs.info/`;
  }
  const authOverride = setting(env, "GLOBUS_SDK_SERVICE_URL_AUTH");
  const transferOverride = setting(env, "GLOBUS_SDK_SERVICE_URL_TRANSFER");
  return {
    auth: authOverride ? checkedBase("GLOBUS_SDK_SERVICE_URL_AUTH", authOverride) : auth,
    transfer: transferOverride
      ? checkedBase("GLOBUS_SDK_SERVICE_URL_TRANSFER", transferOverride)
      : transfer,
  };
}

/** Whether an Auth base URL is production Globus Auth. */
export function isProductionAuth(authBase: string): boolean {
  return authBase === PRODUCTION_AUTH;
}

/**
 * GLOBUS_SDK_HTTP_TIMEOUT in ms (default 60 s); "-1" or "0" means no timeout. Longer
 * than 24.8 days is waited as 24.8 days (as good as none); shorter than 1 ms as 1 ms.
 */
export function httpTimeoutMs(env: Env): number | undefined {
  const text = setting(env, "GLOBUS_SDK_HTTP_TIMEOUT");
  if (text === undefined) return 60_000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds)) {
    throw new GlobusApiError(
      "network",
      `Cannot use GLOBUS_SDK_HTTP_TIMEOUT "${text}": want a number of seconds`,
    );
  }
  if (seconds <= 0) return undefined;
  return timerDelay(seconds * 1000);
}
