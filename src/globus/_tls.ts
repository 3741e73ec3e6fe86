// Which TLS certificates the clients trust: the system's, plus the CA file that
// GLOBUS_SDK_VERIFY_SSL names, as the Globus SDK reads that variable (a path, or a
// true/false word). The emulator's env file names its GCS managers' CA there.
import { GlobusApiError } from "./_error.ts";
import type { Env } from "./_urls.ts";

const TRUE_WORDS = new Set(["y", "yes", "t", "true", "on", "1"]);
const FALSE_WORDS = new Set(["n", "no", "f", "false", "off", "0"]);

/**
 * The CA certificates (PEM) that GLOBUS_SDK_VERIFY_SSL adds to the system's; undefined
 * when it is unset or true. A client made from them (Deno.createHttpClient) lives for
 * one request: a kept one would be a resource left open.
 *
 * @example
 * ```ts
 * const pem = trustedCaPem(deps.env);
 * const client = pem ? Deno.createHttpClient({ caCerts: [pem] }) : undefined;
 * ```
 */
export function trustedCaPem(env: Env): string | undefined {
  const value = env("GLOBUS_SDK_VERIFY_SSL")?.trim();
  if (!value || TRUE_WORDS.has(value.toLowerCase())) return undefined;
  if (FALSE_WORDS.has(value.toLowerCase())) {
    throw new GlobusApiError(
      "network",
      `Cannot use GLOBUS_SDK_VERIFY_SSL "${value}": globus-streams always verifies TLS certificates; unset it, or set it to a CA file to trust`,
    );
  }
  let pem: string;
  try {
    pem = Deno.readTextFileSync(value);
  } catch (error) {
    const why = error instanceof Error ? error.message.split(": ")[0] : String(error);
    throw new GlobusApiError(
      "network",
      `Cannot use GLOBUS_SDK_VERIFY_SSL "${value}": cannot read it (${why}); set it to a readable CA file (PEM)`,
    );
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new GlobusApiError(
      "network",
      `Cannot use GLOBUS_SDK_VERIFY_SSL "${value}": no PEM certificate in it; set it to a CA file (PEM)`,
    );
  }
  return pem;
}
