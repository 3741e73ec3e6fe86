// The emulated Globus Auth: opaque random tokens with scopes and expiry, grouped by
// resource server as Globus Auth groups them (other_tokens); client credentials, the
// authorization-code flow (PKCE for native apps, a client secret for confidential
// ones) behind an approval page, its "paste this code" page, id_tokens, refresh,
// revoke, validate, userinfo, introspect, and the client instances the official Globus
// CLI registers from its template (POST /v2/api/clients).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ClientConfig, EmulatorConfig, UserConfig } from "./_config.ts";
import { authError, escapeHtml, html, json, oauthError, readJson } from "./_respond.ts";
import { approvalPage, isApprovalSecret, newApprovalSecret } from "./_auth_approval.ts";
import { IdTokenSigner, openidConfiguration } from "./_auth_oidc.ts";
import { gcsScope, TRANSFER_SCOPE } from "../globus/mod.ts";
import { isUuid } from "../uuid/mod.ts";

export const TRANSFER_RESOURCE_SERVER = "transfer.api.globus.org";
export const AUTH_RESOURCE_SERVER = "auth.globus.org";
const CODE_LIFETIME_MS = 10 * 60_000;
/** How long an id_token is valid, as Globus Auth issues them (48 hours). */
const ID_TOKEN_LIFETIME_S = 172_800;

/**
 * The scopes of Globus services other than GCS, by resource server: what the official
 * Globus CLI asks for at login. Tokens are issued for all; only Auth, Transfer and GCS
 * are served here.
 */
const SERVICE_SCOPES: Record<string, string> = {
  openid: AUTH_RESOURCE_SERVER,
  profile: AUTH_RESOURCE_SERVER,
  email: AUTH_RESOURCE_SERVER,
  "urn:globus:auth:scope:auth.globus.org:view_identities": AUTH_RESOURCE_SERVER,
  "urn:globus:auth:scope:auth.globus.org:view_identity_set": AUTH_RESOURCE_SERVER,
  [TRANSFER_SCOPE]: TRANSFER_RESOURCE_SERVER,
  "urn:globus:auth:scope:groups.api.globus.org:all": "groups.api.globus.org",
  "urn:globus:auth:scope:search.api.globus.org:all": "search.api.globus.org",
  "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer":
    "524230d7-ea86-4a52-8312-86065a9e0417",
  "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all": "flows.globus.org",
};

/**
 * The root scopes of a scope string: space-separated, each root may carry dependent
 * scopes in brackets ("timer[urn:...:transfer.api.globus.org:all]"), which consent
 * covers and tokens do not name. A message when the brackets do not balance.
 */
export function rootScopes(text: string): string[] | string {
  const roots: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "[") depth++;
    else if (char === "]") {
      if (--depth < 0) return `Unbalanced "]" in scope "${text}"`;
    } else if (depth === 0 && /\s/.test(char)) {
      if (current) roots.push(current);
      current = "";
    } else if (depth === 0) current += char;
  }
  if (depth !== 0) return `Unbalanced "[" in scope "${text}"`;
  if (current) roots.push(current);
  return roots;
}

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
  /** The PKCE challenge; undefined for a confidential client, which proves its secret instead. */
  challenge: string | undefined;
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
  /** Client instances registered through POST /v2/api/clients. */
  #registered = new Map<string, ClientConfig & { templateId: string }>();
  readonly signer = new IdTokenSigner();
  /** What the authorize page wants before it approves; printed by whoever runs the emulator. */
  readonly approvalSecret: string = newApprovalSecret();

  constructor(config: EmulatorConfig) {
    this.#config = config;
    this.#gcsScopes = new Map(config.endpoints.map((e) => [gcsScope(e.id), e.id]));
  }

  identity(id: string): Identity | undefined {
    const user = this.#config.users.find((u) => u.id === id);
    if (user) return userIdentity(user);
    const client = this.#confidential(id);
    return client ? clientIdentity(client) : undefined;
  }

  #confidential(id: string): ClientConfig | undefined {
    return this.#config.clients.find((c) => c.id === id) ?? this.#registered.get(id);
  }

  /** Whether this client id has a secret (and so must prove it). */
  isConfidential(id: string): boolean {
    return this.#confidential(id) !== undefined;
  }

  /** Registers a confidential client instance of a template, as Globus Auth does for apps. */
  register(templateId: string, name: string): ClientConfig & { templateId: string } {
    const client = {
      id: crypto.randomUUID(),
      secret: randomBytes(32).toString("base64"),
      displayName: name,
      templateId,
    };
    this.#registered.set(client.id, client);
    return client;
  }

  /** Deletes a registered client instance and revokes its tokens. */
  unregister(id: string): boolean {
    if (!this.#registered.delete(id)) return false;
    for (const record of this.#access.values()) if (record.clientId === id) record.revoked = true;
    for (const record of this.#refresh.values()) if (record.clientId === id) record.revoked = true;
    return true;
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

  /** Groups root scopes by resource server; a message when one is unknown. */
  group(scopes: string[]): Map<string, string[]> | string {
    const groups = new Map<string, string[]>();
    for (const scope of scopes) {
      if (scope === "offline_access") continue;
      const server = SERVICE_SCOPES[scope] ?? this.#gcsScopes.get(scope);
      if (!server) return `Unknown scope "${scope}"`;
      const list = groups.get(server) ?? [];
      if (!list.includes(scope)) list.push(scope);
      groups.set(server, list);
    }
    if (groups.size === 0) return "No scope requested";
    return groups;
  }

  /**
   * Issues tokens for each resource server, shaped like Globus Auth's answer; with
   * `idTokenIssuer` and the openid scope, the first answer carries a signed id_token.
   */
  async issue(
    identityId: string,
    clientId: string,
    groups: Map<string, string[]>,
    offline: boolean,
    idTokenIssuer?: string,
  ): Promise<Record<string, unknown>> {
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
    const first: Record<string, unknown> = { ...answers[0], other_tokens: answers.slice(1) };
    const openid = groups.get(AUTH_RESOURCE_SERVER)?.includes("openid");
    if (idTokenIssuer && openid) {
      first.id_token = await this.#idToken(identityId, clientId, idTokenIssuer);
    }
    return first;
  }

  async #idToken(identityId: string, clientId: string, issuer: string): Promise<string> {
    const identity = this.identity(identityId);
    const now = Math.floor(Date.now() / 1000);
    return await this.signer.sign({
      iss: issuer,
      sub: identityId,
      aud: clientId,
      iat: now,
      exp: now + ID_TOKEN_LIFETIME_S,
      last_authentication: now,
      preferred_username: identity?.username,
      name: identity?.name,
      email: identity?.email,
      ...identityProvider(identity),
    });
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

  /** Authenticates a confidential client (configured or registered). */
  client(id: string, secret: string): ClientConfig | undefined {
    const client = this.#confidential(id);
    return client && sameText(client.secret, secret) ? client : undefined;
  }

  /** Whether a token (access or refresh) is active and was issued to this client. */
  validate(token: string, clientId: string): boolean {
    const access = this.#access.get(token);
    if (access) {
      return !access.revoked && access.expiresMs > Date.now() && access.clientId === clientId;
    }
    const refresh = this.#refresh.get(token);
    return refresh !== undefined && !refresh.revoked && refresh.clientId === clientId;
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
    const info: Record<string, unknown> = { sub: identity.id, ...identityProvider(identity) };
    if (scopes.includes("profile")) {
      info.preferred_username = identity.username;
      info.name = identity.name;
    }
    if (scopes.includes("email")) info.email = identity.email;
    if (scopes.includes("urn:globus:auth:scope:auth.globus.org:view_identity_set")) {
      // One identity: the emulator links none.
      info.identity_set = [{
        sub: identity.id,
        username: identity.username,
        name: identity.name,
        email: identity.email,
        ...identityProvider(identity),
      }];
    }
    return info;
  }
}

function identityProvider(identity: Identity | undefined): Record<string, string> {
  const user = identity?.kind !== "client";
  return {
    identity_provider: user ? "8f3c2e1a-5b4d-4e6f-9a7b-1c2d3e4f5a6b" : "client-identities",
    identity_provider_display_name: user ? "Emulated identity provider" : "Globus Auth clients",
  };
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
  const issuer = baseUrl.replace(/\/$/, "");
  if (path === "v2/oauth2/token" && method === "POST") {
    return await tokenEndpoint(book, request, issuer);
  }
  if (path === "v2/oauth2/authorize" && (method === "GET" || method === "POST")) {
    return await authorize(book, config, request, baseUrl);
  }
  if (path === ".well-known/openid-configuration" && method === "GET") {
    return json(200, openidConfiguration(baseUrl));
  }
  if (path === "jwk.json" && method === "GET") return json(200, await book.signer.jwks());
  if (path === "v2/oauth2/token/validate" && method === "POST") {
    const form = await formOf(request);
    const auth = clientAuth(request, form);
    if (!auth?.secret || !book.client(auth.id, auth.secret)) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const token = form.get("token");
    if (!token) return oauthError(400, "invalid_request", "The token parameter is required");
    return json(200, { active: book.validate(token, auth.id) });
  }
  if (path === "v2/api/clients" && method === "POST") return await registerClient(book, request);
  const clientPath = /^v2\/api\/clients\/([^/]+)$/.exec(path);
  if (clientPath && method === "DELETE") return deleteClient(book, request, clientPath[1]);
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

/**
 * POST /v2/api/clients with a template_id: a confidential instance of a native app
 * template, its credential included, as the official Globus CLI registers itself on its
 * first login. The template id is any UUID here (the real service knows its templates).
 */
async function registerClient(book: AuthBook, request: Request): Promise<Response> {
  const body = await readJson(request) as { client?: { template_id?: unknown; name?: unknown } };
  const templateId = body?.client?.template_id;
  const name = body?.client?.name;
  if (typeof templateId !== "string" || !isUuid(templateId)) {
    return authError(400, "invalid_request", "client.template_id must be a client UUID");
  }
  if (typeof name !== "string" || name.trim() === "" || name.length > 100) {
    return authError(400, "invalid_request", "client.name must be a name of 1-100 characters");
  }
  const client = book.register(templateId.toLowerCase(), name);
  return json(201, {
    client: {
      id: client.id,
      name: client.displayName,
      public_client: false,
      client_type: "confidential_client",
      grant_types: ["authorization_code", "client_credentials", "refresh_token"],
      parent_client: client.templateId,
      scopes: [],
      fqdns: [],
      redirect_uris: [],
      visibility: "private",
      project: null,
      required_idp: null,
      preselect_idp: null,
      userinfo_from_effective_identity: true,
      prompt_for_named_grant: false,
      links: { privacy_policy: null, terms_and_conditions: null },
    },
    included: {
      client_credential: {
        name: "Auto-created at client creation",
        id: crypto.randomUUID(),
        client: client.id,
        secret: client.secret,
      },
    },
  });
}

/** DELETE /v2/api/clients/{id}, by that client itself (the official CLI's logout). */
function deleteClient(book: AuthBook, request: Request, id: string): Response {
  const auth = clientAuth(request, new URLSearchParams());
  if (!auth?.secret || auth.id !== id || !book.client(auth.id, auth.secret)) {
    return authError(401, "unauthorized", "Call must be authenticated");
  }
  if (!book.unregister(id)) {
    return authError(403, "forbidden", `Client ${id} was not registered through this API`);
  }
  return json(200, { client: { id } });
}

async function tokenEndpoint(book: AuthBook, request: Request, issuer: string): Promise<Response> {
  const form = await formOf(request);
  const grant = form.get("grant_type");
  const auth = clientAuth(request, form);
  if (grant === "client_credentials") {
    if (!auth?.secret || !book.client(auth.id, auth.secret)) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const roots = rootScopes(form.get("scope") ?? "");
    if (typeof roots === "string") return oauthError(400, "invalid_scope", roots);
    const groups = book.group(roots);
    if (typeof groups === "string") return oauthError(400, "invalid_scope", groups);
    const answer = await book.issue(auth.id, auth.id, groups, false);
    return json(200, answer, { "Cache-Control": "no-store" });
  }
  if (grant === "authorization_code") {
    if (!auth || !isUuid(auth.id)) {
      return oauthError(401, "invalid_client", "A client_id is required");
    }
    // A client with a secret proves it, whether or not it also used PKCE.
    const confidential = book.isConfidential(auth.id);
    if (confidential && (!auth.secret || !book.client(auth.id, auth.secret))) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const record = book.takeCode(form.get("code") ?? "");
    if (!record) return oauthError(400, "invalid_grant", "The code is unknown, used or expired");
    if (record.clientId !== auth.id) {
      return oauthError(400, "invalid_grant", "The code was issued to another client");
    }
    if (record.redirectUri !== form.get("redirect_uri")) {
      return oauthError(400, "invalid_grant", "redirect_uri does not match the authorize request");
    }
    if (record.challenge !== undefined) {
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !sameText(challenge, record.challenge)) {
        return oauthError(400, "invalid_grant", "PKCE verification failed (wrong code_verifier)");
      }
    }
    const groups = book.group(record.scopes);
    if (typeof groups === "string") return oauthError(400, "invalid_scope", groups);
    const answer = await book.issue(record.identityId, auth.id, groups, record.offline, issuer);
    return json(200, answer, { "Cache-Control": "no-store" });
  }
  if (grant === "refresh_token") {
    const token = form.get("refresh_token") ?? "";
    const record = book.refreshRecord(token);
    if (!record) return oauthError(400, "invalid_grant", "The refresh token is not active");
    if (!auth || auth.id !== record.clientId) {
      return oauthError(401, "invalid_client", "The refresh token belongs to another client");
    }
    if (book.isConfidential(auth.id) && (!auth.secret || !book.client(auth.id, auth.secret))) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    return json(200, book.refreshed(token, record), { "Cache-Control": "no-store" });
  }
  return oauthError(400, "unsupported_grant_type", `Unsupported grant_type "${grant ?? ""}"`);
}

/**
 * GET shows the approval page; POST with the run's approval secret approves and sends
 * the browser to the redirect URI with a code. Both check the request the same way.
 */
async function authorize(
  book: AuthBook,
  config: EmulatorConfig,
  request: Request,
  baseUrl: string,
): Promise<Response> {
  const q = new URL(request.url).searchParams;
  const clientId = q.get("client_id") ?? "";
  const redirectUri = q.get("redirect_uri") ?? "";
  const refuse = (why: string) =>
    html(400, "Globus Auth: the request was refused", `<p>${escapeHtml(why)}</p>`);
  if (!isUuid(clientId)) return refuse("client_id must be a client UUID");
  if (redirectUri !== `${baseUrl}v2/web/auth-code`) {
    return refuse(`redirect_uri is not registered for this client: ${redirectUri}`);
  }
  if (q.get("response_type") !== "code") return refuse("response_type must be code");
  const challenge = q.get("code_challenge") ?? undefined;
  if (challenge !== undefined || !book.isConfidential(clientId)) {
    // Native apps have no secret: PKCE stands in for it.
    if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge ?? "")) {
      return refuse("PKCE is required: code_challenge with code_challenge_method=S256");
    }
  }
  const roots = rootScopes(q.get("scope") ?? "");
  if (typeof roots === "string") return refuse(roots);
  const groups = book.group(roots);
  if (typeof groups === "string") return refuse(groups);
  const user = config.users[0];
  const asked = { clientId, username: user.username, scopes: roots };
  if (request.method === "GET") return approvalPage(asked);
  const form = await formOf(request);
  if (!isApprovalSecret(book.approvalSecret, form.get("approval_secret") ?? "")) {
    return approvalPage(
      asked,
      "That is not this run's approval secret: copy it from the emulator's terminal",
    );
  }
  const code = book.newCode({
    clientId,
    redirectUri,
    challenge,
    scopes: roots,
    offline: roots.includes("offline_access") || q.get("access_type") === "offline",
    identityId: user.id,
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
