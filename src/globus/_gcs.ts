// One endpoint's GCS Manager API (<gcs_manager_url>/api/): LAN secrets and stream
// gateways, inside GCS's result envelope.
import { z } from "zod";
import { Authorizer, type ClientOptions, gcsScope } from "./_auth.ts";
import { checkUuid, GlobusApiError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";
import { HttpClient } from "./_http.ts";
import { type Listing, readRecords } from "./_listing.ts";

export interface LanSecret {
  id: string;
  secret: string;
  /** POSIX seconds. */
  expires: number;
  tunnelId: string;
  streamAccessPointId: string;
}

export interface StreamGateway {
  id: string;
  displayName: string;
  lanSecretRequired: boolean | null;
  lanName: string | null;
  tlsftpUrl: string | null;
  /** Fields this program does not know (users_allow, identity_mappings, ...), as sent. */
  extra: Record<string, unknown>;
}

/**
 * GCS's result envelope. Its data items are read one by one: GCS may put documents of
 * other types beside the ones asked for, and a gateway this program cannot read must not
 * hide the others (see _listing.ts).
 */
const envelope = z.object({
  DATA_TYPE: z.string().startsWith("result#"),
  code: z.string().optional(),
  data: z.array(z.unknown()),
});

/** Longest LAN secret taken: what the preload library keeps (native/src/answer.zig). */
const MAX_SECRET_CHARS = 1024;

// Strict where the conf file needs it (below); unknown fields pass.
const lanSecretDocument = z.object({
  DATA_TYPE: z.string().startsWith("lan_secret#"),
  // Both go into the conf file (lankey_id, lankey): a UUID, and one token of visible
  // ASCII that a key=value line keeps as it is.
  id: z.string().refine(isUuid, "want a UUID"),
  secret: z.string().max(MAX_SECRET_CHARS).regex(
    /^[\x21-\x7e]+$/,
    "want visible ASCII characters without spaces",
  ),
  expires: z.number(),
  tunnel_id: z.string(),
  stream_access_point_id: z.string(),
});

const GATEWAY_FIELDS = new Set([
  "DATA_TYPE",
  "id",
  "display_name",
  "lan_secret_required",
  "lan_name",
  "tlsftp_url",
]);

const gatewayDocument = z.looseObject({
  DATA_TYPE: z.string().startsWith("stream_gateway#"),
  id: z.string(),
  display_name: z.string(),
  lan_secret_required: z.boolean().nullable().optional(),
  lan_name: z.string().nullable().optional(),
  tlsftp_url: z.string().nullable().optional(),
});

function toGateway(document: z.infer<typeof gatewayDocument>): StreamGateway {
  return {
    id: document.id,
    displayName: document.display_name,
    lanSecretRequired: document.lan_secret_required ?? null,
    lanName: document.lan_name ?? null,
    tlsftpUrl: document.tlsftp_url ?? null,
    // fromEntries defines own properties: "__proto__" stays a plain key.
    extra: Object.fromEntries(
      Object.entries(document).filter(([key]) => !GATEWAY_FIELDS.has(key)),
    ),
  };
}

function dataTypeOf(item: unknown): string | undefined {
  const type = item !== null && typeof item === "object"
    ? (item as { DATA_TYPE?: unknown }).DATA_TYPE
    : undefined;
  return typeof type === "string" ? type : undefined;
}

/** The data items of one DATA_TYPE family ("lan_secret#"), as the envelope sent them. */
function itemsOf(data: readonly unknown[], family: string): unknown[] {
  return data.filter((item) => dataTypeOf(item)?.startsWith(family));
}

/**
 * The envelope of an answer about one document: its first data item of `family`, checked
 * (the one the command acts on), at data.0; items of other types beside it are ignored.
 */
function envelopeOf<T extends z.ZodType>(family: string, item: T) {
  return envelope.extend({
    data: z.array(z.unknown()).transform((data) => itemsOf(data, family))
      .pipe(z.tuple([item], z.unknown())),
  });
}

/**
 * One endpoint's GCS manager.
 *
 * @example
 * ```ts
 * const url = await transfer.gcsManagerUrl(endpointId);
 * const gcs = new GcsClient(url, endpointId, { env: deps.env });
 * const secret = await gcs.createLanSecret({ tunnelId, streamAccessPointId });
 * ```
 */
export class GcsClient {
  #http: HttpClient;
  #authorizer: Authorizer;
  #endpointId: string;
  #gcsManagerUrl: string;

  /** gcsManagerUrl as TransferClient.gcsManagerUrl returns it; endpointId picks the scope. */
  constructor(
    gcsManagerUrl: string,
    endpointId: string,
    options: ClientOptions & { authorizer?: Authorizer },
  ) {
    this.#endpointId = endpointId;
    this.#gcsManagerUrl = gcsManagerUrl;
    this.#authorizer = options.authorizer ?? new Authorizer(options);
    // As the Globus SDK's GCSClient: <gcs_manager_url>/api/, unless it ends in /api already.
    const trimmed = gcsManagerUrl.replace(/\/+$/, "");
    this.#http = new HttpClient({
      service: `GCS manager of endpoint "${endpointId}"`,
      baseUrl: /\/api$/.test(trimmed) ? `${trimmed}/` : `${trimmed}/api/`,
      env: options.env,
      fetch: options.fetch,
      retryBaseMs: options.retryBaseMs,
      timeoutMs: options.timeoutMs,
    });
  }

  async #bearer(): Promise<string> {
    checkUuid("endpoint", this.#endpointId);
    const url = URL.parse(this.#gcsManagerUrl);
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
      // It came from Transfer's endpoint document (gcs_manager_url).
      throw new GlobusApiError(
        "malformed",
        `Cannot use the gcs_manager_url of endpoint "${this.#endpointId}" ${
          JSON.stringify(this.#gcsManagerUrl.slice(0, 200))
        }: want an http or https URL`,
      );
    }
    return await this.#authorizer.token(gcsScope(this.#endpointId));
  }

  /** Issues a LAN secret for one side of a tunnel. */
  async createLanSecret(request: {
    tunnelId: string;
    streamAccessPointId: string;
    expiresInMins?: number;
  }): Promise<LanSecret> {
    checkUuid("tunnel", request.tunnelId);
    checkUuid("stream access point", request.streamAccessPointId);
    const json: Record<string, unknown> = {
      DATA_TYPE: "lan_secret_create#1.0.0",
      tunnel_id: request.tunnelId,
      stream_access_point_id: request.streamAccessPointId,
    };
    if (request.expiresInMins !== undefined) json.expires_in_mins = request.expiresInMins;
    const { value } = await this.#http.request({
      method: "POST",
      path: "lan_secrets",
      json,
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      // The first lan_secret document is the one issued; others beside it are ignored.
      schema: envelopeOf("lan_secret#", lanSecretDocument),
    });
    const secret = value.data[0];
    return {
      id: secret.id,
      secret: secret.secret,
      expires: secret.expires,
      tunnelId: secret.tunnel_id,
      streamAccessPointId: secret.stream_access_point_id,
    };
  }

  async deleteLanSecret(secretId: string): Promise<void> {
    checkUuid("LAN secret", secretId);
    await this.#http.request({
      method: "DELETE",
      path: `lan_secrets/${secretId}`,
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      schema: z.unknown(),
      notFound: { what: `LAN secret "${secretId}"` },
    });
  }

  /** Every stream gateway, read one by one: one that does not fit is kept in `unreadable`. */
  async listStreamGateways(): Promise<Listing<StreamGateway>> {
    const { value } = await this.#http.request({
      method: "GET",
      path: "stream_gateways",
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      schema: envelope,
    });
    const listing: Listing<StreamGateway> = { items: [], unreadable: [] };
    // Documents of another DATA_TYPE are not gateways; one without a DATA_TYPE is read,
    // and noted when it does not fit.
    const records = value.data.filter((item) =>
      dataTypeOf(item)?.startsWith("stream_gateway#") ?? true
    );
    readRecords(listing, records, {
      what: "stream gateway",
      service: this.#http.service,
      schema: gatewayDocument,
      convert: toGateway,
    });
    return listing;
  }

  async getStreamGateway(gatewayId: string): Promise<StreamGateway> {
    checkUuid("stream gateway", gatewayId);
    const { value } = await this.#http.request({
      method: "GET",
      path: `stream_gateways/${gatewayId}`,
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      schema: envelopeOf("stream_gateway#", gatewayDocument),
      notFound: { what: `Stream gateway "${gatewayId}"` },
    });
    return toGateway(value.data[0]);
  }

  #authFix(): string {
    const fix = this.#authorizer.authFix;
    return fix.startsWith("run")
      ? `run 'globus-streams login --gcs ${this.#endpointId}' again`
      : fix;
  }
}
