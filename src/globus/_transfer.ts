// The Transfer API's tunnel and stream-access-point resources (JSON:API under /v2/),
// plus the one v0.10 call that finds an endpoint's GCS manager.
import { z } from "zod";
import { Authorizer, type ClientOptions, TRANSFER_SCOPE } from "./_auth.ts";
import { formatContact, isIpAddress, parseContact } from "../contact/mod.ts";
import { checkUuid, GlobusApiError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";
import { HttpClient, type HttpMethod } from "./_http.ts";
import { serviceUrls } from "./_urls.ts";

export type TunnelState = "UNINITIALIZED" | "AWAITING_LISTENER" | "ACTIVE" | "STOPPING" | "STOPPED";

/** A tunnel, flattened from the JSON:API document. */
export interface Tunnel {
  id: string;
  label: string | null;
  state: TunnelState;
  status: string | null;
  submissionId: string | null;
  lifetimeMins: number;
  restartable: boolean;
  listenerIpAddress: string | null;
  listenerPort: number | null;
  initiatorIpAddress: string | null;
  initiatorPort: number | null;
  /** ISO 8601 as the service sends it. */
  createdTime: string;
  initiatorAccessPointId: string;
  listenerAccessPointId: string;
  ownerId: string | null;
}

export interface TunnelEvent {
  id: number;
  code: string;
  isError: boolean;
  description: string;
  details: string;
  time: string;
}

export interface AccessPoint {
  id: string;
  displayName: string;
  tlsftpServer: string | null;
  hostEndpointId: string;
  /** The other attributes (advertised_owner, contact_email, ...) as strings or null. */
  [attribute: string]: string | null;
}

/** Receives the service's JSON: the whole document for one resource, each item of a list. */
export interface DocumentOptions {
  onDocument?: (document: unknown) => void;
}

const TUNNEL_STATES = [
  "UNINITIALIZED",
  "AWAITING_LISTENER",
  "ACTIVE",
  "STOPPING",
  "STOPPED",
] as const;

const MAX_PAGES = 1000;

// The CLI writes a tunnel's contacts and expiration into the conf file; the bounds below
// are what that file (and the preload library reading it) can hold, so a document
// outside them is the service's malformed answer, not a conf error later.

/** Longest tunnel lifetime taken: 100 years (expiration times stay 12 digits). */
const MAX_LIFETIME_MINS = 52_560_000;
/** Latest created_time taken (9999-12-31T23:59:59Z), in ms. */
const MAX_TIME_MS = 253_402_300_799_000;
/** Longest host name (DNS). */
const MAX_HOST_CHARS = 253;

const uuid = z.string().refine(isUuid, "want a UUID");

function relationship(type: string) {
  return z.object({ data: z.object({ type: z.literal(type), id: uuid }) });
}

const nullableString = z.string().nullable().optional();
const nullablePort = z.number().int().min(1).max(65535).nullable().optional();

/** "" or an IP address: the initiator contact is what the preload library connects to. */
const ipAddress = z.string().refine(
  (text) => text === "" || isIpAddress(text),
  "want an IP address",
).nullable().optional();

/** "" or a host a contact string can carry: an IP address or a host name. */
const contactHost = z.string().refine(
  (text) =>
    text === "" ||
    (text.length <= MAX_HOST_CHARS &&
      parseContact(formatContact({ host: text, port: 1 }))?.host === text),
  "want an IP address or a host name",
).nullable().optional();

/** ms of an ISO 8601 time; one without a zone is UTC, as Transfer means it. */
function isoMs(text: string): number {
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`;
  return Date.parse(zoned.replace(/(\.\d{3})\d+/, "$1"));
}

const createdTime = z.string().refine((text) => {
  const ms = isoMs(text);
  return ms >= 0 && ms <= MAX_TIME_MS;
}, "want an ISO 8601 time between 1970 and 9999");

const tunnelResource = z.object({
  type: z.literal("Tunnel"),
  id: z.string(),
  attributes: z.object({
    label: nullableString,
    submission_id: nullableString,
    lifetime_mins: z.number().int().min(1).max(MAX_LIFETIME_MINS),
    restartable: z.boolean().optional(),
    listener_ip_address: contactHost,
    listener_port: nullablePort,
    initiator_ip_address: ipAddress,
    initiator_port: nullablePort,
    created_time: createdTime,
    state: z.enum(TUNNEL_STATES),
    status: nullableString,
  }),
  relationships: z.object({
    initiator: relationship("StreamAccessPoint"),
    listener: relationship("StreamAccessPoint"),
    owner: z.object({ data: z.object({ id: z.string() }).nullable() }).optional(),
  }),
});

const eventResource = z.object({
  type: z.literal("TunnelEvent"),
  id: z.number().int(),
  attributes: z.object({
    code: z.string(),
    is_error: z.boolean(),
    description: nullableString,
    details: z.unknown().optional(),
    time: z.string(),
  }),
});

const accessPointResource = z.object({
  type: z.literal("StreamAccessPoint"),
  id: z.string(),
  attributes: z.looseObject({ display_name: z.string(), tlsftp_server: nullableString }),
  relationships: z.object({ host_endpoint: relationship("Endpoint") }),
});

function single<T extends z.ZodType>(resource: T) {
  return z.object({ data: resource });
}

function page<T extends z.ZodType>(resource: T) {
  return z.object({
    data: z.array(resource),
    links: z.object({
      next: z.string().refine((next) => URL.canParse(next, "http://localhost/"), "not a URL")
        .nullable().optional(),
    }).nullable().optional(),
  });
}

/** An http or https URL (a GCS manager's); "" means none, like null. */
function isHttpUrl(text: string): boolean {
  if (text === "") return true;
  const url = URL.parse(text);
  return url !== null && (url.protocol === "http:" || url.protocol === "https:");
}

const endpointDocument = z.object({
  DATA_TYPE: z.literal("endpoint"),
  id: z.string(),
  gcs_manager_url: z.string().refine(isHttpUrl, "want an http or https URL").nullable()
    .optional(),
});

type TunnelResource = z.infer<typeof tunnelResource>;

function toTunnel(resource: TunnelResource): Tunnel {
  const a = resource.attributes;
  return {
    id: resource.id,
    label: a.label ?? null,
    state: a.state,
    status: a.status ?? null,
    submissionId: a.submission_id ?? null,
    lifetimeMins: a.lifetime_mins,
    restartable: a.restartable ?? false,
    listenerIpAddress: a.listener_ip_address ?? null,
    listenerPort: a.listener_port ?? null,
    initiatorIpAddress: a.initiator_ip_address ?? null,
    initiatorPort: a.initiator_port ?? null,
    createdTime: a.created_time,
    initiatorAccessPointId: resource.relationships.initiator.data.id,
    listenerAccessPointId: resource.relationships.listener.data.id,
    ownerId: resource.relationships.owner?.data?.id ?? null,
  };
}

function toEvent(resource: z.infer<typeof eventResource>): TunnelEvent {
  const a = resource.attributes;
  const details = a.details === undefined || a.details === null
    ? ""
    : typeof a.details === "string"
    ? a.details
    : JSON.stringify(a.details);
  return {
    id: resource.id,
    code: a.code,
    isError: a.is_error,
    description: a.description ?? "",
    details,
    time: a.time,
  };
}

/** AccessPoint's own fields: an attribute of the same name never replaces one. */
const ACCESS_POINT_FIELDS = new Set(["id", "displayName", "tlsftpServer", "hostEndpointId"]);

function toAccessPoint(resource: z.infer<typeof accessPointResource>): AccessPoint {
  const others: [string, string | null][] = [];
  let tlsftpServer: string | null = null;
  for (const [key, value] of Object.entries(resource.attributes)) {
    const text = value === undefined || value === null
      ? null
      : typeof value === "string"
      ? value
      : Array.isArray(value)
      ? value.join(",")
      : JSON.stringify(value);
    if (key === "tlsftp_server") tlsftpServer = text;
    else if (key !== "display_name" && !ACCESS_POINT_FIELDS.has(key)) others.push([key, text]);
  }
  // fromEntries and spread define own properties: "__proto__" stays a plain attribute.
  return {
    ...Object.fromEntries(others),
    id: resource.id,
    displayName: resource.attributes.display_name,
    tlsftpServer,
    hostEndpointId: resource.relationships.host_endpoint.data.id,
  };
}

const LIST_HINT = "check the id with 'globus-streams tunnel list'";
const AP_HINT = "check the id with 'globus-streams access-point list'";

/**
 * The Transfer API's tunnels and stream access points.
 *
 * @example
 * ```ts
 * const transfer = new TransferClient({ env: deps.env, fetch: deps.fetch });
 * const tunnel = await transfer.getTunnel(id);
 * console.log(tunnel.initiatorIpAddress, tunnel.initiatorPort);
 * ```
 */
export class TransferClient {
  #http: HttpClient | undefined;
  #options: ClientOptions;
  #authorizer: Authorizer;

  constructor(options: ClientOptions & { authorizer?: Authorizer }) {
    this.#options = options;
    this.#authorizer = options.authorizer ?? new Authorizer(options);
  }

  get #client(): HttpClient {
    this.#http ??= new HttpClient({
      service: "Transfer",
      baseUrl: serviceUrls(this.#options.env).transfer,
      env: this.#options.env,
      fetch: this.#options.fetch,
      urlSetting: "GLOBUS_SDK_SERVICE_URL_TRANSFER",
      retryBaseMs: this.#options.retryBaseMs,
      timeoutMs: this.#options.timeoutMs,
    });
    return this.#http;
  }

  async #call<T>(
    method: HttpMethod,
    path: string,
    schema: z.ZodType<T>,
    extra: {
      json?: unknown;
      query?: Record<string, string | undefined>;
      notFound?: { what: string; hint?: string };
      idempotent?: boolean;
    } = {},
  ): Promise<{ value: T; document: unknown }> {
    const bearer = await this.#authorizer.token(TRANSFER_SCOPE);
    const answer = await this.#client.request({
      method,
      path,
      schema,
      bearer,
      authFix: this.#authorizer.authFix,
      ...extra,
    });
    return { value: answer.value, document: answer.document };
  }

  /** Every item of a paged list, following links.next. */
  async #all<T extends z.ZodType>(
    path: string,
    resource: T,
    query: Record<string, string | undefined>,
    notFound?: { what: string; hint?: string },
    options?: DocumentOptions,
  ): Promise<z.infer<T>[]> {
    const items: z.infer<T>[] = [];
    const schema = page(resource);
    let next: string | undefined = path;
    for (let pages = 0; next !== undefined; pages++) {
      if (pages === MAX_PAGES) {
        throw new GlobusApiError(
          "malformed",
          `Transfer sent more than ${MAX_PAGES} pages for "${path}": giving up`,
        );
      }
      const answer: { value: z.infer<typeof schema>; document: unknown } = await this.#call(
        "GET",
        next,
        schema,
        {
          query: pages === 0 ? query : undefined,
          notFound,
        },
      );
      const { value, document } = answer;
      const raw = (document as { data: unknown[] }).data;
      raw.forEach((item) => options?.onDocument?.(item));
      items.push(...(value.data as z.infer<T>[]));
      next = value.links?.next ?? undefined;
    }
    return items;
  }

  /** Creates a tunnel; a retry with the same submissionId returns the same tunnel. */
  async createTunnel(
    request: {
      initiatorAccessPointId: string;
      listenerAccessPointId: string;
      label?: string;
      lifetimeMins?: number;
      restartable?: boolean;
      listenerIpAddress?: string;
      listenerPort?: number;
      submissionId?: string;
    },
    options?: DocumentOptions,
  ): Promise<Tunnel> {
    checkUuid("initiator access point", request.initiatorAccessPointId);
    checkUuid("listener access point", request.listenerAccessPointId);
    const attributes: Record<string, unknown> = {
      submission_id: request.submissionId ?? crypto.randomUUID(),
    };
    if (request.label !== undefined) attributes.label = request.label;
    if (request.lifetimeMins !== undefined) attributes.lifetime_mins = request.lifetimeMins;
    if (request.restartable !== undefined) attributes.restartable = request.restartable;
    if (request.listenerIpAddress !== undefined) {
      attributes.listener_ip_address = request.listenerIpAddress;
    }
    if (request.listenerPort !== undefined) attributes.listener_port = request.listenerPort;
    const json = {
      data: {
        type: "Tunnel",
        attributes,
        relationships: {
          initiator: { data: { type: "StreamAccessPoint", id: request.initiatorAccessPointId } },
          listener: { data: { type: "StreamAccessPoint", id: request.listenerAccessPointId } },
        },
      },
    };
    // The submission id makes the create safe to send again.
    const { value, document } = await this.#call("POST", "v2/tunnels", single(tunnelResource), {
      json,
      idempotent: true,
    });
    options?.onDocument?.(document);
    return toTunnel(value.data);
  }

  async getTunnel(tunnelId: string, options?: DocumentOptions): Promise<Tunnel> {
    checkUuid("tunnel", tunnelId);
    const { value, document } = await this.#call(
      "GET",
      `v2/tunnels/${tunnelId}`,
      single(tunnelResource),
      { notFound: { what: `Tunnel "${tunnelId}"`, hint: LIST_HINT } },
    );
    options?.onDocument?.(document);
    return toTunnel(value.data);
  }

  /** Every tunnel the caller owns (all pages). */
  async listTunnels(options?: DocumentOptions): Promise<Tunnel[]> {
    const items = await this.#all("v2/tunnels", tunnelResource, {}, undefined, options);
    return items.map(toTunnel);
  }

  async updateTunnel(
    tunnelId: string,
    changes: {
      label?: string;
      listenerIpAddress?: string;
      listenerPort?: number;
      state?: "STOPPING";
    },
    options?: DocumentOptions,
  ): Promise<Tunnel> {
    checkUuid("tunnel", tunnelId);
    const attributes: Record<string, unknown> = {};
    if (changes.label !== undefined) attributes.label = changes.label;
    if (changes.listenerIpAddress !== undefined) {
      attributes.listener_ip_address = changes.listenerIpAddress;
    }
    if (changes.listenerPort !== undefined) attributes.listener_port = changes.listenerPort;
    if (changes.state !== undefined) attributes.state = changes.state;
    const { value, document } = await this.#call(
      "PATCH",
      `v2/tunnels/${tunnelId}`,
      single(tunnelResource),
      {
        json: { data: { type: "Tunnel", id: tunnelId, attributes } },
        notFound: { what: `Tunnel "${tunnelId}"`, hint: LIST_HINT },
      },
    );
    options?.onDocument?.(document);
    return toTunnel(value.data);
  }

  /** Deletes a tunnel; the service refuses unless it is STOPPED. */
  async deleteTunnel(tunnelId: string, options?: DocumentOptions): Promise<void> {
    checkUuid("tunnel", tunnelId);
    const { document } = await this.#call("DELETE", `v2/tunnels/${tunnelId}`, z.unknown(), {
      notFound: { what: `Tunnel "${tunnelId}"`, hint: LIST_HINT },
    });
    options?.onDocument?.(document);
  }

  async tunnelEvents(tunnelId: string, options?: DocumentOptions): Promise<TunnelEvent[]> {
    checkUuid("tunnel", tunnelId);
    const items = await this.#all(
      `v2/tunnels/${tunnelId}/events`,
      eventResource,
      {},
      { what: `Tunnel "${tunnelId}"`, hint: LIST_HINT },
      options,
    );
    return items.map(toEvent);
  }

  async getAccessPoint(accessPointId: string, options?: DocumentOptions): Promise<AccessPoint> {
    checkUuid("stream access point", accessPointId);
    const { value, document } = await this.#call(
      "GET",
      `v2/stream_access_points/${accessPointId}`,
      single(accessPointResource),
      { notFound: { what: `Stream access point "${accessPointId}"`, hint: AP_HINT } },
    );
    options?.onDocument?.(document);
    return toAccessPoint(value.data);
  }

  async listAccessPoints(
    filter: { fulltext?: string; endpointAdmin?: string } = {},
    options?: DocumentOptions,
  ): Promise<AccessPoint[]> {
    const items = await this.#all(
      "v2/stream_access_points",
      accessPointResource,
      {
        "filter[fulltext]": filter.fulltext,
        "filter[endpoint_admin]": filter.endpointAdmin,
      },
      undefined,
      options,
    );
    return items.map(toAccessPoint);
  }

  /** GET /v0.10/endpoint/{id} -> its gcs_manager_url. */
  async gcsManagerUrl(endpointId: string): Promise<string> {
    checkUuid("endpoint", endpointId);
    const { value } = await this.#call("GET", `v0.10/endpoint/${endpointId}`, endpointDocument, {
      notFound: { what: `Endpoint "${endpointId}"` },
    });
    if (!value.gcs_manager_url) {
      throw new GlobusApiError(
        "api",
        `Endpoint "${endpointId}" has no GCS manager URL: it is not a Globus Connect Server v5 endpoint`,
      );
    }
    return value.gcs_manager_url;
  }
}
