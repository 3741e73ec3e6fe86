// The emulated GCS manager of each endpoint (<gcs_manager_url>/api/): LAN secrets and
// stream gateways, in GCS's result envelope.
import { z } from "zod";
import { randomBytes } from "node:crypto";
import type { EmulatorConfig, EndpointConfig, GatewayConfig } from "./_config.ts";
import type { AuthBook, Identity } from "./_auth_api.ts";
import type { IssuedLanSecret } from "./_plane.ts";
import type { TunnelBook } from "./_tunnels.ts";
import { bearerToken, gcsResult, issueDetail, readJson } from "./_respond.ts";
import { gcsScope } from "../globus/mod.ts";
import { isUuid } from "../uuid/mod.ts";
import { VERSION } from "../version.ts";

const MAX_SECRET_MINS = 10080;

const lanSecretCreate = z.object({
  DATA_TYPE: z.string().regex(/^lan_secret_create#1\.\d+\.\d+$/, {
    error: 'DATA_TYPE must be "lan_secret_create#1.0.0"',
  }),
  tunnel_id: z.string().refine(isUuid, "tunnel_id must be a UUID"),
  stream_access_point_id: z.string().refine(isUuid, "stream_access_point_id must be a UUID"),
  expires_in_mins: z.number().int().min(1, `expires_in_mins must be 1-${MAX_SECRET_MINS}`)
    .max(MAX_SECRET_MINS, `expires_in_mins must be 1-${MAX_SECRET_MINS}`).optional(),
  identity_id: z.string().refine(isUuid, "identity_id must be a UUID").optional(),
  username: z.string().min(1).max(256).optional(),
});

const gatewayFields = {
  display_name: z.string().min(1).max(256),
  lan_name: z.string().min(1).max(256).nullable(),
  lan_secret_required: z.boolean(),
  tlsftp_url: z.string().min(1).max(1000).nullable(),
  users_allow: z.array(z.string()),
  users_deny: z.array(z.string()),
  authentication_timeout_mins: z.number().int().min(1),
};

const dataType = z.string().regex(/^stream_gateway#1\.\d+\.\d+$/, {
  error: 'DATA_TYPE must be "stream_gateway#1.0.0"',
});

const gatewayCreate = z.object({
  DATA_TYPE: dataType,
  display_name: gatewayFields.display_name,
  lan_name: gatewayFields.lan_name.optional(),
  lan_secret_required: gatewayFields.lan_secret_required.optional(),
  tlsftp_url: gatewayFields.tlsftp_url.optional(),
  users_allow: gatewayFields.users_allow.optional(),
  users_deny: gatewayFields.users_deny.optional(),
  authentication_timeout_mins: gatewayFields.authentication_timeout_mins.optional(),
});

const gatewayUpdate = z.object({
  DATA_TYPE: dataType.optional(),
  display_name: gatewayFields.display_name.optional(),
  lan_name: gatewayFields.lan_name.optional(),
  lan_secret_required: gatewayFields.lan_secret_required.optional(),
  tlsftp_url: gatewayFields.tlsftp_url.optional(),
  users_allow: gatewayFields.users_allow.optional(),
  users_deny: gatewayFields.users_deny.optional(),
  authentication_timeout_mins: gatewayFields.authentication_timeout_mins.optional(),
});

interface SecretRecord extends IssuedLanSecret {
  username: string;
  endpointId: string;
}

/** LAN secrets and stream gateways of every emulated endpoint. */
export class GcsBook {
  #config: EmulatorConfig;
  #secrets = new Map<string, SecretRecord>();
  #gateways = new Map<string, GatewayConfig>();

  constructor(config: EmulatorConfig) {
    this.#config = config;
    for (const gateway of config.gateways) this.#gateways.set(gateway.id, { ...gateway });
  }

  /** Unexpired, undeleted secrets for one side of a tunnel. */
  lanSecretsFor(tunnelId: string, accessPointId: string): IssuedLanSecret[] {
    const now = Date.now();
    return [...this.#secrets.values()]
      .filter((s) =>
        s.tunnelId === tunnelId.toLowerCase() &&
        s.streamAccessPointId === accessPointId.toLowerCase() && s.expiresMs > now
      )
      .map(({ id, secret, expiresMs, tunnelId, streamAccessPointId, identityId }) => ({
        id,
        secret,
        expiresMs,
        tunnelId,
        streamAccessPointId,
        identityId,
      }));
  }

  /** The gateway an access point uses, as it is now. */
  gatewayOf(accessPointId: string): GatewayConfig | undefined {
    const point = this.#config.accessPoints.find((p) => p.id === accessPointId.toLowerCase());
    return point ? this.#gateways.get(point.gateway) : undefined;
  }

  endpoint(id: string): EndpointConfig | undefined {
    return this.#config.endpoints.find((e) => e.id === id.toLowerCase());
  }

  newSecret(record: Omit<SecretRecord, "id" | "secret">): SecretRecord {
    const full = {
      ...record,
      id: crypto.randomUUID(),
      secret: randomBytes(32).toString("base64url"),
    };
    this.#secrets.set(full.id, full);
    return full;
  }

  secret(id: string): SecretRecord | undefined {
    return this.#secrets.get(id.toLowerCase());
  }

  deleteSecret(id: string): void {
    this.#secrets.delete(id.toLowerCase());
  }

  gateways(endpointId: string): GatewayConfig[] {
    return [...this.#gateways.values()].filter((g) => g.endpoint === endpointId);
  }

  gateway(endpointId: string, id: string): GatewayConfig | undefined {
    const gateway = this.#gateways.get(id.toLowerCase());
    return gateway?.endpoint === endpointId ? gateway : undefined;
  }

  putGateway(gateway: GatewayConfig): void {
    this.#gateways.set(gateway.id, gateway);
  }

  deleteGateway(id: string): void {
    this.#gateways.delete(id);
  }
}

function secretDocument(s: SecretRecord) {
  return {
    DATA_TYPE: "lan_secret#1.0.0",
    id: s.id,
    secret: s.secret,
    expires: Math.ceil(s.expiresMs / 1000),
    identity_id: s.identityId,
    username: s.username,
    tunnel_id: s.tunnelId,
    stream_access_point_id: s.streamAccessPointId,
  };
}

function gatewayDocument(g: GatewayConfig) {
  return {
    DATA_TYPE: "stream_gateway#1.0.0",
    id: g.id,
    display_name: g.displayName,
    lan_name: g.lanName,
    lan_secret_required: g.lanSecretRequired,
    tlsftp_url: g.tlsftpUrl,
    users_allow: g.usersAllow,
    users_deny: g.usersDeny,
    identity_mappings: [],
    authentication_timeout_mins: g.authenticationTimeoutMins,
  };
}

/**
 * GET /api/info. The versions are this emulator's own (it is no GCS release); the
 * endpoint's client id equals its id, as on most real endpoints.
 */
function infoDocument(endpoint: EndpointConfig, url: URL) {
  return {
    DATA_TYPE: "info#1.0.0",
    api_version: "1.0.0",
    manager_version: `${VERSION}+globus-streams-emulator`,
    client_id: endpoint.id,
    endpoint_id: endpoint.id,
    domain_name: url.hostname.replace(/^\[(.*)\]$/, "$1"),
  };
}

export interface GcsContext {
  config: EmulatorConfig;
  auth: AuthBook;
  tunnels: TunnelBook;
  gcs: GcsBook;
}

/** Routes one request below `/gcs/<endpoint id>/` (the GCS manager URL). */
export async function handleGcs(
  context: GcsContext,
  request: Request,
  endpointId: string,
  path: string,
): Promise<Response> {
  const endpoint = context.gcs.endpoint(endpointId);
  if (!endpoint) return gcsResult(404, "not_found", `No GCS manager for endpoint ${endpointId}`);
  // Public on a real GCS manager: clients learn the endpoint's client id (their scope) here.
  if (path === "api/info" && request.method === "GET") {
    return gcsResult(200, "success", "success", [infoDocument(endpoint, new URL(request.url))]);
  }
  const checked = context.auth.check(bearerToken(request), endpoint.id, gcsScope(endpoint.id));
  if (!checked.ok) return gcsResult(401, "unauthorized", checked.reason);
  const me = checked.identity;
  const parts = path.split("/");
  if (parts[0] !== "api") return gcsResult(404, "not_found", `No resource at "/${path}"`);
  const method = request.method;
  if (parts[1] === "lan_secrets") {
    if (parts.length === 2 && method === "POST") {
      return await createSecret(context, endpoint, me, request);
    }
    if (parts.length === 3 && method === "DELETE") {
      const secret = context.gcs.secret(parts[2]);
      if (!secret || secret.endpointId !== endpoint.id || secret.identityId !== me.id) {
        return gcsResult(404, "not_found", `LAN secret ${parts[2]} was not found`);
      }
      context.gcs.deleteSecret(secret.id);
      return gcsResult(200, "success", "success");
    }
    return gcsResult(405, "method_not_allowed", `${method} is not allowed on /${path}`);
  }
  if (parts[1] === "stream_gateways") return await gateways(context, endpoint, me, request, parts);
  return gcsResult(404, "not_found", `No resource at "/${path}"`);
}

async function createSecret(
  context: GcsContext,
  endpoint: EndpointConfig,
  me: Identity,
  request: Request,
): Promise<Response> {
  const body = await readJson(request);
  if (body === undefined) return gcsResult(400, "invalid_json", "The body is not JSON");
  const checked = lanSecretCreate.safeParse(body);
  if (!checked.success) return gcsResult(422, "unprocessable_entity", issueDetail(checked.error));
  const input = checked.data;
  const tunnel = context.tunnels.find(input.tunnel_id);
  if (!tunnel || tunnel.ownerId !== me.id) {
    return gcsResult(404, "not_found", `Tunnel ${input.tunnel_id} was not found`);
  }
  const pointId = input.stream_access_point_id.toLowerCase();
  const point = context.config.accessPoints.find((p) => p.id === pointId);
  if (!point || point.endpoint !== endpoint.id) {
    return gcsResult(
      422,
      "unprocessable_entity",
      `Stream access point ${input.stream_access_point_id} is not hosted on endpoint ${endpoint.id}`,
    );
  }
  if (pointId !== tunnel.initiatorAccessPointId && pointId !== tunnel.listenerAccessPointId) {
    return gcsResult(
      422,
      "unprocessable_entity",
      `Stream access point ${pointId} is not an end of tunnel ${tunnel.id}`,
    );
  }
  if (tunnel.state === "STOPPED" || tunnel.state === "STOPPING") {
    return gcsResult(409, "conflict", `Tunnel ${tunnel.id} is ${tunnel.state}`);
  }
  if (input.identity_id !== undefined && input.identity_id.toLowerCase() !== me.id) {
    return gcsResult(403, "permission_denied", "A LAN secret can only be issued to yourself");
  }
  const minuteMs = context.config.minuteMs;
  const remainingMins = Math.max(
    1,
    Math.ceil((tunnel.createdMs + tunnel.lifetimeMins * minuteMs - Date.now()) / minuteMs),
  );
  const secret = context.gcs.newSecret({
    endpointId: endpoint.id,
    tunnelId: tunnel.id,
    streamAccessPointId: pointId,
    identityId: me.id,
    username: input.username ?? me.username,
    expiresMs: Date.now() + (input.expires_in_mins ?? remainingMins) * minuteMs,
  });
  return gcsResult(201, "success", "success", [secretDocument(secret)]);
}

async function gateways(
  context: GcsContext,
  endpoint: EndpointConfig,
  me: Identity,
  request: Request,
  parts: string[],
): Promise<Response> {
  const method = request.method;
  const book = context.gcs;
  const admin = endpoint.admins.includes(me.id);
  if (method !== "GET" && !admin) {
    return gcsResult(
      403,
      "permission_denied",
      `Only admins of endpoint ${endpoint.id} may do this`,
    );
  }
  if (parts.length === 2) {
    if (method === "GET") {
      return gcsResult(200, "success", "success", book.gateways(endpoint.id).map(gatewayDocument));
    }
    if (method !== "POST") return gcsResult(405, "method_not_allowed", `${method} is not allowed`);
    const body = await readJson(request);
    if (body === undefined) return gcsResult(400, "invalid_json", "The body is not JSON");
    const checked = gatewayCreate.safeParse(body);
    if (!checked.success) return gcsResult(422, "unprocessable_entity", issueDetail(checked.error));
    const input = checked.data;
    const gateway: GatewayConfig = {
      id: crypto.randomUUID(),
      endpoint: endpoint.id,
      displayName: input.display_name,
      lanName: input.lan_name ?? null,
      lanSecretRequired: input.lan_secret_required ?? true,
      tlsftpUrl: input.tlsftp_url ?? null,
      usersAllow: input.users_allow ?? [],
      usersDeny: input.users_deny ?? [],
      authenticationTimeoutMins: input.authentication_timeout_mins ?? 30,
    };
    book.putGateway(gateway);
    return gcsResult(201, "success", "success", [gatewayDocument(gateway)]);
  }
  const gateway = parts.length === 3 ? book.gateway(endpoint.id, parts[2]) : undefined;
  if (!gateway) return gcsResult(404, "not_found", `Stream gateway ${parts[2]} was not found`);
  if (method === "GET") return gcsResult(200, "success", "success", [gatewayDocument(gateway)]);
  if (method === "DELETE") {
    const user = context.config.accessPoints.find((p) => p.gateway === gateway.id);
    if (user) {
      return gcsResult(
        409,
        "conflict",
        `Stream gateway ${gateway.id} is used by access point ${user.id}`,
      );
    }
    book.deleteGateway(gateway.id);
    return gcsResult(200, "success", "success");
  }
  if (method !== "PATCH") return gcsResult(405, "method_not_allowed", `${method} is not allowed`);
  const body = await readJson(request);
  if (body === undefined) return gcsResult(400, "invalid_json", "The body is not JSON");
  const checked = gatewayUpdate.safeParse(body);
  if (!checked.success) return gcsResult(422, "unprocessable_entity", issueDetail(checked.error));
  const input = checked.data;
  const updated: GatewayConfig = {
    ...gateway,
    displayName: input.display_name ?? gateway.displayName,
    lanName: input.lan_name === undefined ? gateway.lanName : input.lan_name,
    lanSecretRequired: input.lan_secret_required ?? gateway.lanSecretRequired,
    tlsftpUrl: input.tlsftp_url === undefined ? gateway.tlsftpUrl : input.tlsftp_url,
    usersAllow: input.users_allow ?? gateway.usersAllow,
    usersDeny: input.users_deny ?? gateway.usersDeny,
    authenticationTimeoutMins: input.authentication_timeout_mins ??
      gateway.authenticationTimeoutMins,
  };
  book.putGateway(updated);
  return gcsResult(200, "success", "success", [gatewayDocument(updated)]);
}
