// The emulated Globus Auth: opaque random tokens with scopes and expiry, grouped by
// resource server as Globus Auth groups them (other_tokens); client credentials, the
// PKCE authorization-code flow with its "paste this code" page, refresh, revoke,
// userinfo and introspect.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ClientConfig, EmulatorConfig, UserConfig } from "./_config.ts";
import { authError, escapeHtml, html, json, oauthError } from "./_respond.ts";
import { gcsScope, isUuid, TRANSFER_SCOPE } from "../globus/mod.ts";

export const TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org";
export const AUTH_RESOURCE_SERVER = "auth.globus.org";
const CODE_LIFETIME_MS = 10 * 60_000;

/** Who a token speaks for. */
export interface Identity {
  id: string;
  username: string;
  name: string;
  email: string | null;
  kind: "user" | "client";
}

interface AccessRecord {
  identityId: string;
  clientId: string;
  resourceServer: string;
  scopes: string[];
  issuedMs: number;
  expiresMs: number;
  revoked: boolean;
  /** The refresh token this access token belongs to, if any. */
  family: string | undefined;
}

interface RefreshRecord {
  identityId: string;
  clientId: string;
  resourceServer: string;
  scopes: string[];
  revoked: boolean;
}

interface CodeRecord {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scopes: string[];
  offline: boolean;
  identityId: string;
  expiresMs: number;
}

/** A token check's outcome for a resource server. */
export type TokenCheck =
  | { ok: true; identity: Identity; scopes: string[] }
  | { ok: false; reason: string };

function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

function sameText(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The tokens, codes and identities of the emulated Globus Auth. */
export class AuthBook {
  #config: EmulatorConfig;
  /** GCS scope -> endpoint id (the resource server). */
  #gcsScopes: Map<string, string>;
  #access = new Map<string, AccessRecord>();
  #refresh = new Map<string, RefreshRecord>();
  #codes = new Map<string, CodeRecord>();

  constructor(config: EmulatorConfig) {
    this.#config = config;
    this.#gcsScopes = new Map(config.endpoints.map((e) => [gcsScope(e.id), e.id]));
  }

  identity(id: string): Identity | undefined {
    const user = this.#config.users.find((u) => u.id === id);
    if (user) return userIdentity(user);
    const client = this.#config.clients.find((c) => c.id === id);
    return client ? clientIdentity(client) : undefined;
  }

  /** Checks a bearer token for a resource server and one scope it must carry. */
  check(token: string | undefined, resourceServer: string, scope: string): TokenCheck {
    if (!token) return { ok: false, reason: "No bearer token in the Authorization header" };
    const record = this.#access.get(token);
    if (!record || record.revoked || record.expiresMs <= Date.now()) {
      return { ok: false, reason: "The token is not active (unknown, expired or revoked)" };
    }
    if (record.resourceServer !== resourceServer || !record.scopes.includes(scope)) {
      return { ok: false, reason: `The token does not carry scope "${scope}"` };
    }
    const identity = this.identity(record.identityId);
    if (!identity) return { ok: false, reason: "The token's identity no longer exists" };
    return { ok: true, identity, scopes: record.scopes };
  }

  /** Groups scopes by resource server; a message when one is unknown. */
  group(scopes: string[]): Map<string, string[]> | string {
    const groups = new Map<string, string[]>();
    for (const scope of scopes) {
      if (scope === "offline_access") continue;
      let server: string | undefined;
      if (["openid", "profile", "email"].includes(scope)) server = AUTH_RESOURCE_SERVER;
      else if (scope === "urn:globus:auth:scope:auth.globus.org:view_identities") {
        server = AUTH_RESOURCE_SERVER;
      } else if (scope === TRANSFER_SCOPE) server = TRANSFER_RESOURCE_SERVER;
      else server = this.#gcsScopes.get(scope);
      if (!server) return `Unknown scope "${scope}"`;
      const list = groups.get(server) ?? [];
      if (!list.includes(scope)) list.push(scope);
      groups.set(server, list);
    }
    if (groups.size === 0) return "No scope requested";
    return groups;
  }

  /** Issues tokens for each resource server, shaped like Globus Auth's answer. */
  issue(
    identityId: string,
    clientId: string,
    groups: Map<string, string[]>,
    offline: boolean,
  ): Record<string, unknown> {
    const order = [...groups.keys()].sort((a, b) =>
      a === AUTH_RESOURCE_SERVER ? -1 : b === AUTH_RESOURCE_SERVER ? 1 : 0
    );
    const answers = order.map((server) => {
      const scopes = groups.get(server)!;
      let family: string | undefined;
      if (offline) {
        family = newSecret();
        this.#refresh.set(family, {
          identityId,
          clientId,
          resourceServer: server,
          scopes,
          revoked: false,
        });
      }
      return this.#mint(identityId, clientId, server, scopes, family);
    });
    return { ...answers[0], other_tokens: answers.slice(1) };
  }

  #mint(
    identityId: string,
    clientId: string,
    server: string,
    scopes: string[],
    family: string | undefined,
  ): Record<string, unknown> {
    const token = newSecret();
    const now = Date.now();
    const lifetimeS = this.#config.accessTokenLifetimeS;
    this.#access.set(token, {
      identityId,
      clientId,
      resourceServer: server,
      scopes,
      issuedMs: now,
      expiresMs: now + lifetimeS * 1000,
      revoked: false,
      family,
    });
    return {
      access_token: token,
      expires_in: lifetimeS,
      resource_server: server,
      token_type: "Bearer",
      scope: scopes.join(" "),
      refresh_token: family ?? null,
    };
  }

  /** Authenticates a confidential client. */
  client(id: string, secret: string): ClientConfig | undefined {
    const client = this.#config.clients.find((c) => c.id === id);
    return client && sameText(client.secret, secret) ? client : undefined;
  }

  newCode(record: Omit<CodeRecord, "expiresMs">): string {
    const code = newSecret();
    this.#codes.set(code, { ...record, expiresMs: Date.now() + CODE_LIFETIME_MS });
    return code;
  }

  /** Takes a code once; undefined when unknown, used or expired. */
  takeCode(code: string): CodeRecord | undefined {
    const record = this.#codes.get(code);
    this.#codes.delete(code);
    return record && record.expiresMs > Date.now() ? record : undefined;
  }

  refreshRecord(token: string): RefreshRecord | undefined {
    const record = this.#refresh.get(token);
    return record && !record.revoked ? record : undefined;
  }

  /** Mints a new access token from a refresh token. */
  refreshed(token: string, record: RefreshRecord): Record<string, unknown> {
    return {
      ...this.#mint(
        record.identityId,
        record.clientId,
        record.resourceServer,
        record.scopes,
        token,
      ),
      other_tokens: [],
    };
  }

  /** Revokes an access or refresh token; a refresh token takes its access tokens along. */
  revoke(token: string): void {
    const access = this.#access.get(token);
    if (access) access.revoked = true;
    const refresh = this.#refresh.get(token);
    if (refresh) {
      refresh.revoked = true;
      for (const record of this.#access.values()) {
        if (record.family === token) record.revoked = true;
      }
    }
  }

  introspect(token: string): Record<string, unknown> {
    const record = this.#access.get(token);
    if (!record || record.revoked || record.expiresMs <= Date.now()) return { active: false };
    const identity = this.identity(record.identityId);
    return {
      active: true,
      scope: record.scopes.join(" "),
      client_id: record.clientId,
      sub: record.identityId,
      username: identity?.username ?? null,
      name: identity?.name ?? null,
      email: identity?.email ?? null,
      aud: [record.resourceServer],
      iat: Math.floor(record.issuedMs / 1000),
      exp: Math.floor(record.expiresMs / 1000),
    };
  }

  userinfo(token: string | undefined): Record<string, unknown> | undefined {
    const checked = this.check(token, AUTH_RESOURCE_SERVER, "openid");
    if (!checked.ok) return undefined;
    const { identity, scopes } = checked;
    const info: Record<string, unknown> = {
      sub: identity.id,
      identity_provider: identity.kind === "user"
        ? "8f3c2e1a-5b4d-4e6f-9a7b-1c2d3e4f5a6b"
        : "client-identities",
      identity_provider_display_name: identity.kind === "user"
        ? "Emulated identity provider"
        : "Globus Auth clients",
    };
    if (scopes.includes("profile")) {
      info.preferred_username = identity.username;
      info.name = identity.name;
    }
    if (scopes.includes("email")) info.email = identity.email;
    return info;
  }
}

function userIdentity(user: UserConfig): Identity {
  return { id: user.id, username: user.username, name: user.name, email: user.email, kind: "user" };
}

function clientIdentity(client: ClientConfig): Identity {
  return {
    id: client.id,
    username: `${client.id}@clients.auth.globus.org`,
    name: client.displayName,
    email: null,
    kind: "client",
  };
}

/** Client id and secret from HTTP Basic or the form. */
function clientAuth(request: Request, form: URLSearchParams) {
  const header = request.headers.get("authorization") ?? "";
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) {
    let decoded: string;
    try {
      decoded = atob(basic[1]);
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(":");
    if (colon === -1) return undefined;
    try {
      return {
        id: decodeURIComponent(decoded.slice(0, colon)),
        secret: decodeURIComponent(decoded.slice(colon + 1)) as string | undefined,
      };
    } catch {
      return undefined;
    }
  }
  const id = form.get("client_id");
  return id ? { id, secret: form.get("client_secret") ?? undefined } : undefined;
}

async function formOf(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) return new URLSearchParams();
  return new URLSearchParams(await request.text());
}

/** The HTTP face of the emulated Globus Auth; `path` is below the Auth base URL. */
export async function handleAuth(
  book: AuthBook,
  config: EmulatorConfig,
  request: Request,
  path: string,
  baseUrl: string,
): Promise<Response> {
  const method = request.method;
  if (path === "v2/oauth2/token" && method === "POST") return tokenEndpoint(book, request);
  if (path === "v2/oauth2/authorize" && method === "GET") {
    return authorize(book, config, new URL(request.url), baseUrl);
  }
  if (path === "v2/web/auth-code" && method === "GET") return authCodePage(new URL(request.url));
  if (path === "v2/oauth2/token/revoke" && method === "POST") {
    const form = await formOf(request);
    const token = form.get("token");
    if (!token) return oauthError(400, "invalid_request", "The token parameter is required");
    book.revoke(token);
    return json(200, { active: false });
  }
  if (path === "v2/oauth2/token/introspect" && method === "POST") {
    const form = await formOf(request);
    const auth = clientAuth(request, form);
    if (!auth?.secret || !book.client(auth.id, auth.secret)) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const token = form.get("token");
    if (!token) return oauthError(400, "invalid_request", "The token parameter is required");
    return json(200, book.introspect(token));
  }
  if (path === "v2/oauth2/userinfo" && (method === "GET" || method === "POST")) {
    const header = request.headers.get("authorization") ?? "";
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const info = book.userinfo(token);
    if (!info) {
      return authError(401, "unauthorized", "Call must be authenticated", {
        "WWW-Authenticate": 'Bearer error="invalid_token"',
      });
    }
    return json(200, info);
  }
  return authError(404, "not_found", `No resource at "/${path}"`);
}

async function tokenEndpoint(book: AuthBook, request: Request): Promise<Response> {
  const form = await formOf(request);
  const grant = form.get("grant_type");
  const auth = clientAuth(request, form);
  if (grant === "client_credentials") {
    if (!auth?.secret || !book.client(auth.id, auth.secret)) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const groups = book.group((form.get("scope") ?? "").split(/\s+/).filter(Boolean));
    if (typeof groups === "string") return oauthError(400, "invalid_scope", groups);
    return json(200, book.issue(auth.id, auth.id, groups, false), { "Cache-Control": "no-store" });
  }
  if (grant === "authorization_code") {
    if (!auth || !isUuid(auth.id)) {
      return oauthError(401, "invalid_client", "A client_id is required");
    }
    const record = book.takeCode(form.get("code") ?? "");
    if (!record) return oauthError(400, "invalid_grant", "The code is unknown, used or expired");
    if (record.clientId !== auth.id) {
      return oauthError(400, "invalid_grant", "The code was issued to another client");
    }
    if (record.redirectUri !== form.get("redirect_uri")) {
      return oauthError(400, "invalid_grant", "redirect_uri does not match the authorize request");
    }
    const verifier = form.get("code_verifier") ?? "";
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !sameText(challenge, record.challenge)) {
      return oauthError(400, "invalid_grant", "PKCE verification failed (wrong code_verifier)");
    }
    const groups = book.group(record.scopes);
    if (typeof groups === "string") return oauthError(400, "invalid_scope", groups);
    const answer = book.issue(record.identityId, auth.id, groups, record.offline);
    return json(200, answer, { "Cache-Control": "no-store" });
  }
  if (grant === "refresh_token") {
    const token = form.get("refresh_token") ?? "";
    const record = book.refreshRecord(token);
    if (!record) return oauthError(400, "invalid_grant", "The refresh token is not active");
    if (!auth || auth.id !== record.clientId) {
      return oauthError(401, "invalid_client", "The refresh token belongs to another client");
    }
    return json(200, book.refreshed(token, record), { "Cache-Control": "no-store" });
  }
  return oauthError(400, "unsupported_grant_type", `Unsupported grant_type "${grant ?? ""}"`);
}

function authorize(
  book: AuthBook,
  config: EmulatorConfig,
  url: URL,
  baseUrl: string,
): Response {
  const q = url.searchParams;
  const clientId = q.get("client_id") ?? "";
  const redirectUri = q.get("redirect_uri") ?? "";
  const refuse = (why: string) =>
    html(400, "Globus Auth: the request was refused", `<p>${escapeHtml(why)}</p>`);
  if (!isUuid(clientId)) return refuse("client_id must be a client UUID");
  if (redirectUri !== `${baseUrl}v2/web/auth-code`) {
    return refuse(`redirect_uri is not registered for this client: ${redirectUri}`);
  }
  if (q.get("response_type") !== "code") return refuse("response_type must be code");
  const challenge = q.get("code_challenge") ?? "";
  if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
    return refuse("PKCE is required: code_challenge with code_challenge_method=S256");
  }
  const scopes = (q.get("scope") ?? "").split(/\s+/).filter(Boolean);
  const groups = book.group(scopes);
  if (typeof groups === "string") return refuse(groups);
  const code = book.newCode({
    clientId,
    redirectUri,
    challenge,
    scopes,
    offline: scopes.includes("offline_access") || q.get("access_type") === "offline",
    identityId: config.users[0].id,
  });
  const target = new URL(redirectUri);
  target.searchParams.set("code", code);
  const state = q.get("state");
  if (state !== null) target.searchParams.set("state", state);
  return new Response(null, { status: 302, headers: { Location: target.toString() } });
}

function authCodePage(url: URL): Response {
  const code = url.searchParams.get("code");
  if (!code || !/^[A-Za-z0-9_-]{1,200}$/.test(code)) {
    return html(400, "Globus Auth: no authorization code", "<p>No code in this link.</p>");
  }
  return html(
    200,
    "Native App Authorization Code",
    `<p>Please copy this code, switch to your application and paste it there:</p>
<pre id="auth-code">${escapeHtml(code)}</pre>`,
  );
}
