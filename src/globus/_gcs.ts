// One endpoint's GCS Manager API (<gcs_manager_url>/api/): LAN secrets and stream
// gateways, inside GCS's result envelope.
import { z } from "zod";
import { Authorizer, type ClientOptions, gcsScope } from "./_auth.ts";
import { checkUuid, GlobusApiError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";
import { HttpClient } from "./_http.ts";

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
  lanSecretRequired: boolean;
  lanName: string | null;
  tlsftpUrl: string | null;
}

function envelope<T extends z.ZodType>(item: T) {
  return z.object({
    DATA_TYPE: z.string().startsWith("result#"),
    code: z.string().optional(),
    data: z.array(item),
  });
}

/** Longest LAN secret taken: what the preload library keeps (native/src/answer.zig). */
const MAX_SECRET_CHARS = 1024;

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

const gatewayDocument = z.object({
  DATA_TYPE: z.string().startsWith("stream_gateway#"),
  id: z.string(),
  display_name: z.string(),
  lan_secret_required: z.boolean(),
  lan_name: z.string().nullable().optional(),
  tlsftp_url: z.string().nullable().optional(),
});

function toGateway(document: z.infer<typeof gatewayDocument>): StreamGateway {
  return {
    id: document.id,
    displayName: document.display_name,
    lanSecretRequired: document.lan_secret_required,
    lanName: document.lan_name ?? null,
    tlsftpUrl: document.tlsftp_url ?? null,
  };
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
      schema: envelope(lanSecretDocument).refine((doc) => doc.data.length > 0, {
        message: "data is empty",
        path: ["data"],
      }),
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

  async listStreamGateways(): Promise<StreamGateway[]> {
    const { value } = await this.#http.request({
      method: "GET",
      path: "stream_gateways",
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      schema: envelope(gatewayDocument),
    });
    return value.data.map(toGateway);
  }

  async getStreamGateway(gatewayId: string): Promise<StreamGateway> {
    checkUuid("stream gateway", gatewayId);
    const { value } = await this.#http.request({
      method: "GET",
      path: `stream_gateways/${gatewayId}`,
      bearer: await this.#bearer(),
      authFix: this.#authFix(),
      schema: envelope(gatewayDocument).refine((doc) => doc.data.length > 0, {
        message: "data is empty",
        path: ["data"],
      }),
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
