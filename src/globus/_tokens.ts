// The tokens `login` stores: $GLOBUS_STREAMS_DIR/tokens.json (default
// $HOME/.globus/streams), directory 0700, file 0600, always replaced atomically.
import { writeFileAtomic } from "../atomic/mod.ts";
import { z } from "zod";
import { dirname, join } from "node:path";
import { GlobusApiError } from "./_error.ts";
import type { Env } from "./_urls.ts";
import { describeIssues, headerToken } from "./_http.ts";

const storedToken = z.object({
  resource_server: z.string(),
  /** Space-separated scopes the token carries. */
  scope: z.string(),
  access_token: headerToken,
  refresh_token: z.string().min(1).nullable(),
  /** POSIX seconds. */
  expires_at: z.number(),
});

const tokenFileSchema = z.object({
  version: z.literal(1),
  /** The Auth base URL the tokens came from; tokens from another one are not used. */
  auth_url: z.string(),
  /** The native client id the login used (refresh and revoke need it). */
  client_id: z.string(),
  identity_id: z.string().nullable(),
  username: z.string().nullable(),
  tokens: z.array(storedToken),
});

export type StoredToken = z.infer<typeof storedToken>;
export type TokenFile = z.infer<typeof tokenFileSchema>;

const LOGIN_FIX = "run 'globus-streams login' again";

/** The directory for tokens and conf files. */
export function streamsDir(env: Env): string {
  const dir = env("GLOBUS_STREAMS_DIR");
  if (dir) return dir;
  const home = env("HOME");
  if (!home) {
    throw new GlobusApiError(
      "auth",
      "Cannot find where login tokens live: HOME and GLOBUS_STREAMS_DIR are both unset",
    );
  }
  return join(home, ".globus", "streams");
}

/** Path of tokens.json. */
export function tokensPath(env: Env): string {
  return join(streamsDir(env), "tokens.json");
}

/** Reads tokens.json; undefined when there is none. Unsafe or corrupt files are errors. */
export async function readTokens(env: Env): Promise<TokenFile | undefined> {
  const path = tokensPath(env);
  let text: string;
  try {
    const info = await Deno.stat(path);
    const mode = (info.mode ?? 0) & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new GlobusApiError(
        "auth",
        `Cannot use login tokens "${path}": mode 0${
          mode.toString(8)
        } lets other users read them (want 0600; run 'chmod 600 ${path}' or log in again)`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof GlobusApiError) throw error;
    throw new GlobusApiError(
      "auth",
      `Cannot read login tokens "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new GlobusApiError("auth", `Cannot read login tokens "${path}": not JSON: ${LOGIN_FIX}`);
  }
  const checked = tokenFileSchema.safeParse(document);
  if (!checked.success) {
    throw new GlobusApiError(
      "auth",
      `Cannot read login tokens "${path}": ${describeIssues(checked.error)}: ${LOGIN_FIX}`,
    );
  }
  return checked.data;
}

/** Replaces tokens.json atomically: temp file 0600, fsync, rename. */
export async function writeTokens(env: Env, file: TokenFile): Promise<void> {
  const path = tokensPath(env);
  const dir = dirname(path);
  try {
    await ensurePrivateDir(dir);
    const bytes = new TextEncoder().encode(JSON.stringify(file, null, 2) + "\n");
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw new GlobusApiError(
      "auth",
      `Cannot write login tokens "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Removes tokens.json; false when there was none. */
export async function removeTokens(env: Env): Promise<boolean> {
  try {
    await Deno.remove(tokensPath(env));
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new GlobusApiError(
      "auth",
      `Cannot remove login tokens "${tokensPath(env)}": ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await Deno.stat(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
  }
}
