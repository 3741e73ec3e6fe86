// The Transfer API's tunnel and stream-access-point resources (JSON:API under /v2/),
// plus the one v0.10 call that finds an endpoint's GCS manager.
import { z } from "zod";
import { Authorizer, type ClientOptions, TRANSFER_SCOPE } from "./_auth.ts";
import { checkUuid, GlobusApiError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";
import { HttpClient, type HttpMethod } from "./_http.ts";
import { serviceUrls } from "./_urls.ts";
import { type Listing, readRecords } from "./_listing.ts";

/** The five tunnel states the Transfer API documents. */
export type TunnelState = "UNINITIALIZED" | "AWAITING_LISTENER" | "ACTIVE" | "STOPPING" | "STOPPED";

/** The event codes seen from the real service (the SDK's recorded responses). */
export type TunnelEventCode = "STARTED" | "TUNNEL_ACTIVE" | "TUNNEL_STOPPED";

/**
 * One of the known values, or text this program does not know yet (the Beta service
 * has sent a state "ERROR"). Code that acts on a value compares it with the known ones;
 * printers show any value as it came.
 */
export type KnownOr<Known extends string> = Known | (string & Record<never, never>);

/**
 * A tunnel, flattened from the JSON:API document, with its values as the service sent
 * them: a host name where an IP address is expected, a port out of range or an unknown
 * state are kept, so they can be shown. What a command acts on (the contact the preload
 * library connects to, the expiration the conf file holds) is checked where it is used.
 */
export interface Tunnel {
  id: string;
  label: string | null;
  state: KnownOr<TunnelState>;
  status: string | null;
  submissionId: string | null;
  lifetimeMins: number | null;
  restartable: boolean;
  listenerIpAddress: string | null;
  listenerPort: number | null;
  initiatorIpAddress: string | null;
  initiatorPort: number | null;
  /** ISO 8601 as the service sends it (the real one: no zone, microseconds). */
  createdTime: string;
  initiatorAccessPointId: string;
  listenerAccessPointId: string;
  ownerId: string | null;
  /** Attributes this program does not know, as sent. */
  extra: Record<string, unknown>;
}

export interface TunnelEvent {
  /** An integer from Transfer; JSON:API would allow a string, kept as sent. */
  id: number | string;
  code: KnownOr<TunnelEventCode>;
  isError: boolean | null;
  description: string;
  details: string;
  time: string;
  /** Attributes this program does not know, as sent. */
  extra: Record<string, unknown>;
}

export interface AccessPoint {
  id: string;
  displayName: string;
  tlsftpServer: string | null;
  hostEndpointId: string;
  /** The other attributes (advertised_owner, contact_email, ..., and any unknown one)
   * as strings or null. */
  [attribute: string]: string | null;
}

/** Receives the service's JSON: the whole document for one resource, each item of a list. */
export interface DocumentOptions {
  onDocument?: (document: unknown) => void;
}

const MAX_PAGES = 1000;

const uuid = z.string().refine(isUuid, "want a UUID");

// Relationship ids stay UUIDs: commands fetch the access point and its endpoint by them,
// and a record whose ids are not ids is not a tunnel of this service.
function relationship(type: string) {
  return z.looseObject({ data: z.looseObject({ type: z.literal(type), id: uuid }) });
}

const nullableString = z.string().nullable().optional();
/** A number as sent: whether a port or lifetime is usable is checked where it is used. */
const nullableNumber = z.number().nullable().optional();

const TUNNEL_ATTRIBUTES = new Set([
  "label",
  "submission_id",
  "lifetime_mins",
  "restartable",
  "listener_ip_address",
  "listener_port",
  "initiator_ip_address",
  "initiator_port",
  "created_time",
  "state",
  "status",
]);

// Loose objects: fields this program does not know pass through, to be shown.
const tunnelResource = z.looseObject({
  type: z.literal("Tunnel"),
  id: z.string(),
  attributes: z.looseObject({
    label: nullableString,
    submission_id: nullableString,
    lifetime_mins: nullableNumber,
    restartable: z.boolean().nullable().optional(),
    listener_ip_address: nullableString,
    listener_port: nullableNumber,
    initiator_ip_address: nullableString,
    initiator_port: nullableNumber,
    created_time: z.string(),
    state: z.string(),
    status: nullableString,
  }),
  relationships: z.looseObject({
    initiator: relationship("StreamAccessPoint"),
    listener: relationship("StreamAccessPoint"),
    owner: z.looseObject({ data: z.looseObject({ id: z.string() }).nullable() }).nullable()
      .optional(),
  }),
});

const EVENT_ATTRIBUTES = new Set(["code", "is_error", "description", "details", "time"]);

const eventResource = z.looseObject({
  type: z.literal("TunnelEvent"),
  id: z.union([z.number(), z.string()]),
  attributes: z.looseObject({
    code: z.string(),
    is_error: z.boolean().nullable().optional(),
    description: nullableString,
    details: z.unknown().optional(),
    time: z.string(),
  }),
});

const accessPointResource = z.looseObject({
  type: z.literal("StreamAccessPoint"),
  id: z.string(),
  attributes: z.looseObject({ display_name: z.string(), tlsftp_server: nullableString }),
  relationships: z.looseObject({ host_endpoint: relationship("Endpoint") }),
});

function single<T extends z.ZodType>(resource: T) {
  return z.object({ data: resource });
}

/** A page of a list: its records are read one by one (see _listing.ts). */
const pageDocument = z.object({
  data: z.array(z.unknown()),
  links: z.object({
    next: z.string().refine((next) => URL.canParse(next, "http://localhost/"), "not a URL")
      .nullable().optional(),
  }).nullable().optional(),
});

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

function extraOf(attributes: Record<string, unknown>, known: Set<string>) {
  // fromEntries defines own properties: "__proto__" stays a plain key.
  return Object.fromEntries(Object.entries(attributes).filter(([key]) => !known.has(key)));
}

function toTunnel(resource: z.infer<typeof tunnelResource>): Tunnel {
  const a = resource.attributes;
  return {
    id: resource.id,
    label: a.label ?? null,
    state: a.state,
    status: a.status ?? null,
    submissionId: a.submission_id ?? null,
    lifetimeMins: a.lifetime_mins ?? null,
    restartable: a.restartable ?? false,
    listenerIpAddress: a.listener_ip_address ?? null,
    listenerPort: a.listener_port ?? null,
    initiatorIpAddress: a.initiator_ip_address ?? null,
    initiatorPort: a.initiator_port ?? null,
    createdTime: a.created_time,
    initiatorAccessPointId: resource.relationships.initiator.data.id,
    listenerAccessPointId: resource.relationships.listener.data.id,
    ownerId: resource.relationships.owner?.data?.id ?? null,
    extra: extraOf(a, TUNNEL_ATTRIBUTES),
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
    isError: a.is_error ?? null,
    description: a.description ?? "",
    details,
    time: a.time,
    extra: extraOf(a, EVENT_ATTRIBUTES),
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

  /**
   * Every record of a paged list, following links.next, read record by record: one that
   * does not fit its schema is kept in `unreadable` and never hides the others.
   */
  async #all<S extends z.ZodType, T>(
    path: string,
    read: { what: string; schema: S; convert: (record: z.infer<S>) => T },
    query: Record<string, string | undefined>,
    extra: { notFound?: { what: string; hint?: string }; options?: DocumentOptions } = {},
  ): Promise<Listing<T>> {
    const listing: Listing<T> = { items: [], unreadable: [] };
    let next: string | undefined = path;
    for (let pages = 0; next !== undefined; pages++) {
      if (pages === MAX_PAGES) {
        throw new GlobusApiError(
          "malformed",
          `Transfer sent more than ${MAX_PAGES} pages for "${path}": giving up`,
        );
      }
      const answer: { value: z.infer<typeof pageDocument> } = await this.#call(
        "GET",
        next,
        pageDocument,
        {
          query: pages === 0 ? query : undefined,
          notFound: extra.notFound,
        },
      );
      const value = answer.value;
      value.data.forEach((record) => extra.options?.onDocument?.(record));
      readRecords(listing, value.data, { ...read, service: "Transfer" });
      next = value.links?.next ?? undefined;
    }
    return listing;
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
  listTunnels(options?: DocumentOptions): Promise<Listing<Tunnel>> {
    return this.#all(
      "v2/tunnels",
      {
        what: "tunnel",
        schema: tunnelResource,
        convert: toTunnel,
      },
      {},
      { options },
    );
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
        // As the official SDK and CLI send it (globus_cli/commands/streams/tunnel/stop.py
        // and update.py, 3.44.0): the tunnel is named by the path, not by data.id.
        json: { data: { type: "Tunnel", attributes } },
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

  async tunnelEvents(tunnelId: string, options?: DocumentOptions): Promise<Listing<TunnelEvent>> {
    checkUuid("tunnel", tunnelId);
    return await this.#all(
      `v2/tunnels/${tunnelId}/events`,
      {
        what: "event",
        schema: eventResource,
        convert: toEvent,
      },
      {},
      { notFound: { what: `Tunnel "${tunnelId}"`, hint: LIST_HINT }, options },
    );
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

  listAccessPoints(
    filter: { fulltext?: string; endpointAdmin?: string } = {},
    options?: DocumentOptions,
  ): Promise<Listing<AccessPoint>> {
    return this.#all("v2/stream_access_points", {
      what: "stream access point",
      schema: accessPointResource,
      convert: toAccessPoint,
    }, {
      "filter[fulltext]": filter.fulltext,
      "filter[endpoint_admin]": filter.endpointAdmin,
    }, { options });
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
