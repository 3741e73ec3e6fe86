// Globus Auth: access tokens by client credentials or from the stored login, the PKCE
// "paste the code" login itself, logout (revocation) and userinfo.
import { z } from "zod";
import { createHash, randomBytes } from "node:crypto";
import { GlobusApiError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";
import { headerToken, HttpClient } from "./_http.ts";
import { type Env, isProductionAuth, serviceUrls } from "./_urls.ts";
import {
  readTokens,
  removeTokens,
  type StoredToken,
  type TokenFile,
  writeTokens,
} from "./_tokens.ts";

/** The Transfer API's scope. */
export const TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all";

/** The scope a GCS endpoint's manager API wants. */
export function gcsScope(endpointId: string): string {
  return `urn:globus:auth:scope:${endpointId}:manage_collections`;
}

const GCS_SCOPE_PATTERN = /^urn:globus:auth:scope:([0-9a-f-]{36}):manage_collections$/i;

/** The scopes `login` asks for besides Transfer and GCS. */
export const LOGIN_BASE_SCOPES = ["openid", "profile", "email"];

/**
 * This project's placeholder native-app client id, used when
 * GLOBUS_STREAMS_NATIVE_CLIENT_ID is unset. It is NOT registered with Globus Auth:
 * production use needs a native app registered at app.globus.org, its id set in that
 * variable. The emulator accepts any UUID as a native client.
 */
export const PLACEHOLDER_NATIVE_CLIENT_ID = "6c1d8b1e-3f0a-4d2b-9a57-0e4c2f9b7d13";

/** Refresh or re-request a token this long before it expires. */
const EXPIRY_MARGIN_MS = 60_000;

/** Lookup of environment variables plus the injectable parts of every client. */
export interface ClientOptions {
  env: Env;
  fetch?: typeof fetch;
  /** ms since the epoch, for token expiry. */
  now?: () => number;
  /** First retry delay (ms); tests make it small. */
  retryBaseMs?: number;
  /** Overrides GLOBUS_SDK_HTTP_TIMEOUT (ms). */
  timeoutMs?: number;
}

const tokenGrant = z.object({
  // Goes in an Authorization header: a token that cannot is a malformed answer.
  access_token: headerToken,
  expires_in: z.number(),
  resource_server: z.string(),
  scope: z.string(),
  token_type: z.string().optional(),
  refresh_token: z.string().min(1).nullable().optional(),
});

const tokenAnswer = tokenGrant.extend({
  other_tokens: z.array(tokenGrant).optional(),
  id_token: z.string().optional(),
});

type TokenGrant = z.infer<typeof tokenGrant>;

const userInfoAnswer = z.object({
  sub: z.string().min(1),
  preferred_username: z.string().optional(),
  name: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
});

/** Who a token belongs to, from Auth's userinfo. */
export interface UserInfo {
  /** Identity id. */
  sub: string;
  username: string | null;
  name: string | null;
  email: string | null;
}

/** Client credentials from GLOBUS_CLI_CLIENT_ID/SECRET: both or neither, else an error. */
export function clientCredentials(env: Env): { id: string; secret: string } | undefined {
  const id = env("GLOBUS_CLI_CLIENT_ID") || undefined;
  const secret = env("GLOBUS_CLI_CLIENT_SECRET") || undefined;
  if (id === undefined && secret === undefined) return undefined;
  if (id === undefined || secret === undefined) {
    const set = id === undefined ? "GLOBUS_CLI_CLIENT_SECRET" : "GLOBUS_CLI_CLIENT_ID";
    const unset = id === undefined ? "GLOBUS_CLI_CLIENT_ID" : "GLOBUS_CLI_CLIENT_SECRET";
    throw new GlobusApiError(
      "auth",
      `Cannot use client credentials: ${set} is set but ${unset} is not (set both, or neither to use 'globus-streams login')`,
    );
  }
  return { id, secret };
}

/** The native-app client id `login` uses. */
export function nativeClientId(env: Env): string {
  const id = env("GLOBUS_STREAMS_NATIVE_CLIENT_ID") || PLACEHOLDER_NATIVE_CLIENT_ID;
  if (!isUuid(id)) {
    throw new GlobusApiError(
      "auth",
      `Cannot use GLOBUS_STREAMS_NATIVE_CLIENT_ID "${id}": want a UUID`,
    );
  }
  return id;
}

function authHttp(options: ClientOptions): HttpClient {
  return new HttpClient({
    service: "Globus Auth",
    baseUrl: serviceUrls(options.env).auth,
    env: options.env,
    fetch: options.fetch,
    urlSetting: "GLOBUS_SDK_SERVICE_URL_AUTH",
    retryBaseMs: options.retryBaseMs,
    timeoutMs: options.timeoutMs,
  });
}

function toStored(grant: TokenGrant, nowMs: number): StoredToken {
  return {
    resource_server: grant.resource_server,
    scope: grant.scope,
    access_token: grant.access_token,
    refresh_token: grant.refresh_token ?? null,
    expires_at: Math.floor(nowMs / 1000) + grant.expires_in,
  };
}

function grants(answer: z.infer<typeof tokenAnswer>): TokenGrant[] {
  return [answer, ...(answer.other_tokens ?? [])];
}

function covers(token: { scope: string }, scope: string): boolean {
  const held = token.scope.split(/\s+/);
  return scope.split(/\s+/).filter(Boolean).every((wanted) => held.includes(wanted));
}

const NOT_LOGGED_IN =
  "Not logged in: run 'globus-streams login' or set GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET";

/**
 * Obtains access tokens: by client credentials when GLOBUS_CLI_CLIENT_ID and
 * GLOBUS_CLI_CLIENT_SECRET are set, else from the tokens `login` stored (refreshing
 * them when expired).
 *
 * @example
 * ```ts
 * const authorizer = new Authorizer({ env: deps.env, fetch: deps.fetch });
 * const token = await authorizer.token(TRANSFER_SCOPE);
 * ```
 */
export class Authorizer {
  #options: ClientOptions;
  #now: () => number;
  #cache = new Map<string, { token: string; expiresAtMs: number }>();
  #file: TokenFile | undefined;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The fix a refused token's message ends with. */
  get authFix(): string {
    try {
      return clientCredentials(this.#options.env)
        ? "check GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET"
        : "run 'globus-streams login' again";
    } catch {
      return "set both GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET, or neither";
    }
  }

  /** A bearer token carrying every scope in `scope` (space-separated). */
  async token(scope: string): Promise<string> {
    const client = clientCredentials(this.#options.env);
    return client ? await this.#clientToken(client, scope) : await this.#loginToken(scope);
  }

  async #clientToken(client: { id: string; secret: string }, scope: string): Promise<string> {
    const cached = this.#cache.get(scope);
    if (cached && cached.expiresAtMs - EXPIRY_MARGIN_MS > this.#now()) return cached.token;
    const { value } = await authHttp(this.#options).request({
      method: "POST",
      path: "v2/oauth2/token",
      form: { grant_type: "client_credentials", scope },
      basic: { user: client.id, password: client.secret },
      schema: tokenAnswer,
      idempotent: true,
      onError: (error) =>
        new GlobusApiError(
          "auth",
          `Globus Auth refused the client credentials of "${client.id}" for scope "${scope}" (${error.status}${
            error.code ? " " + error.code : ""
          }): check GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET`,
          { status: error.status, code: error.code },
        ),
    });
    const grant = grants(value).find((g) => covers(g, scope)) ?? value;
    this.#cache.set(scope, {
      token: grant.access_token,
      expiresAtMs: this.#now() + grant.expires_in * 1000,
    });
    return grant.access_token;
  }

  async #loginToken(scope: string): Promise<string> {
    const authUrl = serviceUrls(this.#options.env).auth;
    const file = this.#file ?? await readTokens(this.#options.env);
    if (!file) throw new GlobusApiError("auth", NOT_LOGGED_IN);
    if (file.auth_url !== authUrl) {
      throw new GlobusApiError(
        "auth",
        `Not logged in to "${authUrl}": the stored login is for "${file.auth_url}" (run 'globus-streams login' again)`,
      );
    }
    this.#file = file;
    const index = file.tokens.findIndex((token) => covers(token, scope));
    if (index === -1) {
      const endpoint = GCS_SCOPE_PATTERN.exec(scope)?.[1];
      throw new GlobusApiError(
        "auth",
        endpoint
          ? `Not logged in to endpoint "${endpoint}": run 'globus-streams login --gcs ${endpoint}'`
          : `Not logged in for scope "${scope}": run 'globus-streams login' again`,
      );
    }
    const stored = file.tokens[index];
    if (stored.expires_at * 1000 - EXPIRY_MARGIN_MS > this.#now()) return stored.access_token;
    if (!stored.refresh_token) {
      throw new GlobusApiError(
        "auth",
        "The stored login expired: run 'globus-streams login' again",
      );
    }
    const refreshed = await this.#refresh(file, stored);
    file.tokens[index] = refreshed;
    await writeTokens(this.#options.env, file);
    return refreshed.access_token;
  }

  async #refresh(file: TokenFile, stored: StoredToken): Promise<StoredToken> {
    const { value } = await authHttp(this.#options).request({
      method: "POST",
      path: "v2/oauth2/token",
      form: {
        grant_type: "refresh_token",
        refresh_token: stored.refresh_token!,
        client_id: file.client_id,
      },
      schema: tokenAnswer,
      idempotent: true,
      onError: (error) =>
        error.status === 400 || error.status === 401
          ? new GlobusApiError(
            "auth",
            `The stored login for "${stored.resource_server}" expired or was revoked (${error.status}${
              error.code ? " " + error.code : ""
            }): run 'globus-streams login' again`,
            { status: error.status, code: error.code },
          )
          : error,
    });
    const grant = grants(value).find((g) => g.resource_server === stored.resource_server) ?? value;
    const next = toStored(grant, this.#now());
    next.refresh_token ??= stored.refresh_token;
    return next;
  }
}

/** A login in progress: the URL to open and what finishing it needs. */
export interface LoginRequest {
  url: string;
  authUrl: string;
  clientId: string;
  redirectUri: string;
  verifier: string;
  state: string;
  scopes: string[];
}

/** The PKCE S256 challenge of a verifier. */
export function pkceChallenge(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

/**
 * Starts a PKCE (S256) native-app login: the URL to open and the verifier to keep.
 * GCS manage_collections scopes are added for each of gcsEndpoints.
 */
export function startLogin(
  options: ClientOptions & { gcsEndpoints?: string[] },
): LoginRequest {
  const authUrl = serviceUrls(options.env).auth;
  const clientId = nativeClientId(options.env);
  const redirectUri = isProductionAuth(authUrl)
    ? "https://auth.globus.org/v2/web/auth-code"
    : `${authUrl}v2/web/auth-code`;
  const endpoints = [...new Set(options.gcsEndpoints ?? [])];
  for (const endpoint of endpoints) {
    if (!isUuid(endpoint)) {
      throw new GlobusApiError(
        "auth",
        `Cannot log in to endpoint "${endpoint}": want an endpoint UUID`,
      );
    }
  }
  const scopes = [
    ...LOGIN_BASE_SCOPES,
    TRANSFER_SCOPE,
    ...endpoints.map(gcsScope),
    "offline_access",
  ];
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(12).toString("base64url");
  const url = new URL(`${authUrl}v2/oauth2/authorize`);
  url.search = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: scopes.join(" "),
    state,
    response_type: "code",
    code_challenge: pkceChallenge(verifier),
    code_challenge_method: "S256",
    access_type: "offline",
  }).toString();
  return { url: url.toString(), authUrl, clientId, redirectUri, verifier, state, scopes };
}

/** Exchanges the pasted code, stores the tokens (0600), and says who logged in. */
export async function finishLogin(
  request: LoginRequest,
  code: string,
  options: ClientOptions,
): Promise<UserInfo> {
  const now = options.now ?? Date.now;
  const trimmed = code.trim();
  if (!/^[A-Za-z0-9._~-]{1,512}$/.test(trimmed)) {
    throw new GlobusApiError(
      "auth",
      `Cannot use authorization code "${
        trimmed.slice(0, 40)
      }": it has characters a code never has (paste only the code)`,
    );
  }
  const { value } = await authHttp(options).request({
    method: "POST",
    path: "v2/oauth2/token",
    form: {
      grant_type: "authorization_code",
      code: trimmed,
      redirect_uri: request.redirectUri,
      client_id: request.clientId,
      code_verifier: request.verifier,
    },
    schema: tokenAnswer,
    onError: (error) =>
      error.status >= 400 && error.status < 500
        ? new GlobusApiError(
          "auth",
          `Globus Auth refused the authorization code (${error.status}${
            error.code ? " " + error.code : ""
          }): run 'globus-streams login' again and paste the new code`,
          { status: error.status, code: error.code },
        )
        : error,
  });
  const tokens = grants(value).map((grant) => toStored(grant, now()));
  const openid = tokens.find((token) => covers(token, "openid"));
  const info = openid ? await fetchUserInfo(options, openid.access_token) : undefined;
  await writeTokens(options.env, {
    version: 1,
    auth_url: request.authUrl,
    client_id: request.clientId,
    identity_id: info?.sub ?? null,
    username: info?.username ?? null,
    tokens,
  });
  return info ?? { sub: "", username: null, name: null, email: null };
}

/** GCS endpoints the stored login has tokens for (so a new login keeps them). */
export async function storedGcsEndpoints(env: Env): Promise<string[]> {
  let file: TokenFile | undefined;
  try {
    file = await readTokens(env);
  } catch {
    return [];
  }
  const found = new Set<string>();
  for (const token of file?.tokens ?? []) {
    for (const scope of token.scope.split(/\s+/)) {
      const endpoint = GCS_SCOPE_PATTERN.exec(scope)?.[1];
      if (endpoint) found.add(endpoint);
    }
  }
  return [...found];
}

/** What logout did. */
export interface LogoutResult {
  /** Whether there was a stored login. */
  hadLogin: boolean;
  /** Tokens Globus Auth confirmed revoked. */
  revoked: number;
  /** One line per token that could not be revoked. */
  failures: string[];
}

/** Revokes every stored token (access and refresh) and deletes tokens.json. */
export async function logout(options: ClientOptions): Promise<LogoutResult> {
  let file: TokenFile | undefined;
  try {
    file = await readTokens(options.env);
  } catch {
    // A corrupt or unsafe file cannot be revoked from; removing it is all we can do.
    return { hadLogin: await removeTokens(options.env), revoked: 0, failures: [] };
  }
  if (!file) return { hadLogin: false, revoked: 0, failures: [] };
  const http = authHttp(options);
  let revoked = 0;
  const failures: string[] = [];
  const secrets = file.tokens.flatMap((t) => [t.access_token, t.refresh_token ?? []].flat());
  for (const token of secrets) {
    try {
      await http.request({
        method: "POST",
        path: "v2/oauth2/token/revoke",
        form: { token, client_id: file.client_id },
        schema: z.unknown(),
        idempotent: true,
      });
      revoked++;
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  await removeTokens(options.env);
  return { hadLogin: true, revoked, failures };
}

async function fetchUserInfo(options: ClientOptions, token: string): Promise<UserInfo> {
  const { value } = await authHttp(options).request({
    method: "GET",
    path: "v2/oauth2/userinfo",
    bearer: token,
    schema: userInfoAnswer,
  });
  return {
    sub: value.sub,
    username: value.preferred_username ?? null,
    name: value.name ?? null,
    email: value.email ?? null,
  };
}

/** The identity the CLI acts as: the logged-in user, or the client of the credentials. */
export async function whoAmI(
  options: ClientOptions & { authorizer?: Authorizer },
): Promise<UserInfo> {
  const authorizer = options.authorizer ?? new Authorizer(options);
  const token = await authorizer.token(LOGIN_BASE_SCOPES.join(" "));
  return await fetchUserInfo(options, token);
}
