// The HTTP face of the emulated Transfer service: /v2 tunnels, events and stream
// access points as JSON:API documents, and /v0.10/endpoint/{id}.
import { z } from "zod";
import type { AccessPointConfig, EmulatorConfig } from "./_config.ts";
import { type AuthBook, type Identity, TRANSFER_RESOURCE_SERVER } from "./_auth_api.ts";
import {
  bearerToken,
  issueDetail,
  json,
  jsonApiError,
  legacyError,
  readJson,
  requestId,
} from "./_respond.ts";
import type { TunnelBook, TunnelRecord } from "./_tunnels.ts";
import { TRANSFER_SCOPE } from "../globus/mod.ts";
import { isUuid } from "../uuid/mod.ts";
import { formatContact, parseContact } from "../contact/mod.ts";

const MAX_LIFETIME_MINS = 10080;

const port = z.number({ error: "listener_port must be an integer 1-65535" })
  .int("listener_port must be an integer 1-65535")
  .min(1, "listener_port must be 1-65535")
  .max(65535, "listener_port must be 1-65535");

const host = z.string({ error: "listener_ip_address must be a string" })
  .refine(
    // The same rule as every contact string of the project (and so the conf file).
    (text) =>
      text.length <= 253 && parseContact(formatContact({ host: text, port: 1 }))?.host === text,
    "listener_ip_address must be an IP address or a host name",
  );

const label = z.string({ error: "label must be a string" }).max(
  256,
  "label is longer than 256 characters",
);

const accessPointRef = z.object({
  data: z.object({
    type: z.literal("StreamAccessPoint", { error: 'type must be "StreamAccessPoint"' }),
    id: z.string().refine(isUuid, "id must be a UUID"),
  }),
}, { error: "a relationship to a StreamAccessPoint is required" });

const createBody = z.object({
  data: z.object({
    type: z.literal("Tunnel", { error: 'data.type must be "Tunnel"' }),
    attributes: z.strictObject({
      submission_id: z.string().refine(isUuid, "submission_id must be a UUID").optional(),
      label: label.nullable().optional(),
      lifetime_mins: z.number({ error: "lifetime_mins must be an integer" })
        .int("lifetime_mins must be an integer")
        .min(1, `lifetime_mins must be 1-${MAX_LIFETIME_MINS}`)
        .max(MAX_LIFETIME_MINS, `lifetime_mins must be 1-${MAX_LIFETIME_MINS}`)
        .optional(),
      restartable: z.boolean({ error: "restartable must be true or false" }).optional(),
      listener_ip_address: host.nullable().optional(),
      listener_port: port.nullable().optional(),
    }).optional(),
    relationships: z.object({ initiator: accessPointRef, listener: accessPointRef }, {
      error: "data.relationships with initiator and listener is required",
    }),
  }, { error: "a data object is required" }),
});

const updateBody = z.object({
  data: z.object({
    type: z.literal("Tunnel", { error: 'data.type must be "Tunnel"' }),
    id: z.string().optional(),
    attributes: z.strictObject({
      label: label.nullable().optional(),
      listener_ip_address: host.nullable().optional(),
      listener_port: port.nullable().optional(),
      state: z.literal("STOPPING", { error: 'state can only be set to "STOPPING"' }).optional(),
    }, {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `only label, listener_ip_address, listener_port and state can be changed, not ${
            issue.keys.join(", ")
          }`
          : "data.attributes must be an object",
    }),
  }, { error: "a data object is required" }),
});

function tunnelResource(t: TunnelRecord) {
  return {
    type: "Tunnel",
    id: t.id,
    attributes: {
      label: t.label,
      submission_id: t.submissionId,
      lifetime_mins: t.lifetimeMins,
      restartable: t.restartable,
      listener_ip_address: t.listenerIpAddress,
      listener_port: t.listenerPort,
      initiator_ip_address: t.initiatorIpAddress,
      initiator_port: t.initiatorPort,
      created_time: t.createdTime,
      state: t.state,
      status: t.status,
    },
    relationships: {
      initiator: { data: { type: "StreamAccessPoint", id: t.initiatorAccessPointId } },
      listener: { data: { type: "StreamAccessPoint", id: t.listenerAccessPointId } },
      owner: { data: { type: "Identity", id: t.ownerId } },
    },
  };
}

function accessPointResource(point: AccessPointConfig) {
  return {
    type: "StreamAccessPoint",
    id: point.id,
    attributes: {
      display_name: point.displayName,
      tlsftp_server: point.tlsftpServer,
      ...point.attributes,
    },
    relationships: {
      host_endpoint: { data: { type: "Endpoint", id: point.endpoint } },
    },
  };
}

function single(resource: unknown, status = 200): Response {
  return json(status, { data: resource, meta: { request_id: requestId() } });
}

/** One page of a list, with links.next pointing at the rest (page[marker] = offset). */
function paged(url: URL, items: unknown[], pageSize: number): Response {
  const limitText = url.searchParams.get("page[limit]");
  const markerText = url.searchParams.get("page[marker]");
  const limit = limitText === null ? pageSize : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return jsonApiError(422, "ValidationError", "page[limit] must be an integer 1-1000");
  }
  let offset = 0;
  if (markerText !== null) {
    const decoded = /^[A-Za-z0-9_-]{1,20}$/.test(markerText) ? decodeMarker(markerText) : NaN;
    if (!Number.isInteger(decoded) || decoded < 0) {
      return jsonApiError(422, "ValidationError", "page[marker] is not a marker this service gave");
    }
    offset = decoded;
  }
  const slice = items.slice(offset, offset + limit);
  let next: string | null = null;
  if (offset + limit < items.length) {
    const nextUrl = new URL(url);
    nextUrl.searchParams.set("page[marker]", encodeMarker(offset + limit));
    nextUrl.searchParams.set("page[limit]", String(limit));
    next = nextUrl.toString();
  }
  return json(200, {
    data: slice,
    links: next ? { next } : null,
    meta: { request_id: requestId() },
  });
}

function encodeMarker(offset: number): string {
  return btoa(`o${offset}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function decodeMarker(marker: string): number {
  try {
    const text = atob(marker.replace(/-/g, "+").replace(/_/g, "/"));
    return /^o\d{1,9}$/.test(text) ? Number(text.slice(1)) : NaN;
  } catch {
    return NaN;
  }
}

function matchesFulltext(point: AccessPointConfig, text: string): boolean {
  if (point.id === text.toLowerCase()) return true;
  const needle = text.toLowerCase();
  const haystack = [point.displayName, ...Object.values(point.attributes)]
    .filter((v): v is string => typeof v === "string");
  return haystack.some((value) => value.toLowerCase().includes(needle));
}

/** What the Transfer handler needs. */
export interface TransferContext {
  config: EmulatorConfig;
  auth: AuthBook;
  tunnels: TunnelBook;
  /** The https://host:port of an endpoint's GCS manager. */
  /** An endpoint's GCS manager, as reached by a client that reached Transfer at host. */
  gcsManagerUrl(endpointId: string, host: string): string;
}

/** Routes one request below the Transfer base URL. */
export async function handleTransfer(
  context: TransferContext,
  request: Request,
  path: string,
): Promise<Response> {
  const url = new URL(request.url);
  const checked = context.auth.check(
    bearerToken(request),
    TRANSFER_RESOURCE_SERVER,
    TRANSFER_SCOPE,
  );
  const legacy = path.startsWith("v0.10/");
  if (!checked.ok) {
    return legacy
      ? legacyError(401, "AuthenticationFailed", checked.reason, `/${path}`)
      : jsonApiError(401, "AuthenticationFailed", checked.reason);
  }
  const me = checked.identity;
  const parts = path.split("/");
  const method = request.method;
  if (legacy) return endpointDocument(context, parts, method, url.hostname);
  if (parts[0] !== "v2") return jsonApiError(404, "NotFound", `No resource at "/${path}"`);
  if (parts[1] === "tunnels") return await tunnels(context, me, request, parts.slice(2), url);
  if (parts[1] === "stream_access_points" && parts.length <= 3) {
    if (method !== "GET") return jsonApiError(405, "MethodNotAllowed", `${method} is not allowed`);
    if (parts.length === 2 || parts[2] === "") return accessPointList(context, url);
    const point = context.config.accessPoints.find((p) => p.id === parts[2].toLowerCase());
    if (!point) {
      return jsonApiError(404, "NotFound", `Stream access point ${parts[2]} was not found`);
    }
    return single(accessPointResource(point));
  }
  return jsonApiError(404, "NotFound", `No resource at "/${path}"`);
}

function endpointDocument(
  context: TransferContext,
  parts: string[],
  method: string,
  host: string,
): Response {
  const resource = "/" + parts.slice(1).join("/");
  if (parts[1] !== "endpoint" || parts.length !== 3) {
    return legacyError(404, "ClientError.NotFound", `No resource at "${resource}"`, resource);
  }
  if (method !== "GET") {
    return legacyError(405, "ClientError.MethodNotAllowed", `${method} is not allowed`, resource);
  }
  const endpoint = context.config.endpoints.find((e) => e.id === parts[2].toLowerCase());
  if (!endpoint) {
    return legacyError(404, "EndpointNotFound", `No such endpoint: '${parts[2]}'`, resource);
  }
  return json(200, {
    DATA_TYPE: "endpoint",
    id: endpoint.id,
    display_name: endpoint.displayName,
    entity_type: "GCSv5_endpoint",
    gcs_manager_url: context.gcsManagerUrl(endpoint.id, host),
    owner_id: endpoint.admins[0] ?? null,
    non_functional: true,
    public: true,
  });
}

function accessPointList(context: TransferContext, url: URL): Response {
  const fulltext = url.searchParams.get("filter[fulltext]");
  const admin = url.searchParams.get("filter[endpoint_admin]");
  if (admin !== null && !isUuid(admin)) {
    return jsonApiError(422, "ValidationError", "filter[endpoint_admin] must be an identity UUID");
  }
  const points = context.config.accessPoints.filter((point) => {
    if (fulltext && !matchesFulltext(point, fulltext)) return false;
    if (admin) {
      const endpoint = context.config.endpoints.find((e) => e.id === point.endpoint);
      if (!endpoint?.admins.includes(admin.toLowerCase())) return false;
    }
    return true;
  });
  return paged(url, points.map(accessPointResource), context.config.pageSize);
}

async function tunnels(
  context: TransferContext,
  me: Identity,
  request: Request,
  rest: string[],
  url: URL,
): Promise<Response> {
  const method = request.method;
  const book = context.tunnels;
  if (rest.length === 0 || (rest.length === 1 && rest[0] === "")) {
    if (method === "GET") {
      return paged(url, book.list(me.id).map(tunnelResource), context.config.pageSize);
    }
    if (method === "POST") return await createTunnel(context, me, request);
    return jsonApiError(405, "MethodNotAllowed", `${method} is not allowed on /v2/tunnels`);
  }
  const id = rest[0];
  if (!isUuid(id)) return jsonApiError(422, "ValidationError", `tunnel id "${id}" is not a UUID`);
  const record = book.get(me.id, id);
  if (!record) return jsonApiError(404, "NotFound", `Tunnel ${id} was not found`);
  if (rest.length === 2 && rest[1] === "events") {
    if (method !== "GET") return jsonApiError(405, "MethodNotAllowed", `${method} is not allowed`);
    const events = record.events.map((e) => ({
      type: "TunnelEvent",
      id: e.id,
      attributes: {
        code: e.code,
        is_error: e.isError,
        description: e.description,
        details: e.details,
        time: e.time,
      },
    }));
    return paged(url, events, context.config.pageSize);
  }
  if (rest.length !== 1) return jsonApiError(404, "NotFound", `No resource at "${url.pathname}"`);
  if (method === "GET") return single(tunnelResource(record));
  if (method === "DELETE") {
    const refused = book.remove(record);
    if (refused) return jsonApiError(refused.status, refused.code, refused.detail);
    return json(200, { data: null, meta: { request_id: requestId() } });
  }
  if (method === "PATCH") return await updateTunnel(context, record, request);
  return jsonApiError(405, "MethodNotAllowed", `${method} is not allowed on a tunnel`);
}

async function createTunnel(
  context: TransferContext,
  me: Identity,
  request: Request,
): Promise<Response> {
  const body = await readJson(request);
  if (body === undefined) return jsonApiError(400, "BadRequest", "The body is not JSON");
  const checked = createBody.safeParse(body);
  if (!checked.success) {
    return jsonApiError(422, "ValidationError", issueDetail(checked.error));
  }
  const { attributes = {}, relationships } = checked.data.data;
  const book = context.tunnels;
  for (const side of ["initiator", "listener"] as const) {
    const id = relationships[side].data.id;
    if (!book.accessPoint(id.toLowerCase())) {
      return jsonApiError(422, "ValidationError", `Unknown ${side} stream access point "${id}"`);
    }
  }
  const { record, created } = await book.create({
    ownerId: me.id,
    submissionId: attributes.submission_id ?? crypto.randomUUID(),
    label: attributes.label ?? null,
    lifetimeMins: attributes.lifetime_mins ?? 360,
    restartable: attributes.restartable ?? false,
    listenerIpAddress: attributes.listener_ip_address ?? null,
    listenerPort: attributes.listener_port ?? null,
    initiatorAccessPointId: relationships.initiator.data.id.toLowerCase(),
    listenerAccessPointId: relationships.listener.data.id.toLowerCase(),
  });
  return single(tunnelResource(record), created ? 201 : 200);
}

async function updateTunnel(
  context: TransferContext,
  record: TunnelRecord,
  request: Request,
): Promise<Response> {
  const body = await readJson(request);
  if (body === undefined) return jsonApiError(400, "BadRequest", "The body is not JSON");
  const checked = updateBody.safeParse(body);
  if (!checked.success) {
    return jsonApiError(422, "ValidationError", issueDetail(checked.error));
  }
  const { id, attributes } = checked.data.data;
  if (id !== undefined && id.toLowerCase() !== record.id) {
    return jsonApiError(409, "Conflict", `data.id "${id}" does not match the tunnel in the path`);
  }
  const refused = await context.tunnels.update(record, {
    label: attributes.label,
    listenerIpAddress: attributes.listener_ip_address,
    listenerPort: attributes.listener_port,
    state: attributes.state,
  });
  if (refused) return jsonApiError(refused.status, refused.code, refused.detail);
  return single(tunnelResource(record));
}
