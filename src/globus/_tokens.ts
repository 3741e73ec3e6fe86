// The tokens `login` stores: $GLOBUS_STREAMS_DIR/tokens.json (default
// $HOME/.globus/streams), directory 0700, file 0600, always replaced atomically. The
// file and directory are checked as conf files are (src/conf/_private.ts): an unsafe
// one is a ConfError (exit 3), and its tokens are never sent.
import { writeFileAtomic } from "../atomic/mod.ts";
import {
  checkPrivateDir,
  ensurePrivateDir,
  type PrivateFileKind,
  readPrivateFileSync,
} from "../conf/mod.ts";
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

const TOKENS_FILE: PrivateFileKind = {
  label: "login tokens file",
  secret: "the login tokens",
  remake: "globus-streams login",
  // One token per resource server: Auth, Transfer and each GCS endpoint logged in to.
  maxBytes: 1024 * 1024,
};

/**
 * Reads tokens.json; undefined when there is none. An unsafe file or directory (owner,
 * mode, a link, not a regular file) is a ConfError; a corrupt one a GlobusApiError.
 */
export function readTokens(env: Env): Promise<TokenFile | undefined> {
  try {
    return Promise.resolve(readTokensSync(env));
  } catch (error) {
    return Promise.reject(error);
  }
}

function readTokensSync(env: Env): TokenFile | undefined {
  const path = tokensPath(env);
  if (!checkPrivateDir(dirname(path))) return undefined;
  const bytes = readPrivateFileSync(path, TOKENS_FILE);
  if (bytes === undefined) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new GlobusApiError("auth", `Cannot read login tokens "${path}": not UTF-8: ${LOGIN_FIX}`);
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

/** Replaces tokens.json atomically: temp file 0600, fsync, rename, in a checked directory. */
export async function writeTokens(env: Env, file: TokenFile): Promise<void> {
  const path = tokensPath(env);
  await ensurePrivateDir(dirname(path));
  try {
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
