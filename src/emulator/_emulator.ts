// startEmulator: one Deno.serve on loopback with a path prefix per service:
//   /auth/      Globus Auth            (GLOBUS_SDK_SERVICE_URL_AUTH)
//   /transfer/  Transfer               (GLOBUS_SDK_SERVICE_URL_TRANSFER)
// and, as real endpoints have, an HTTPS GCS manager per endpoint at its own
// https://host:port (its gcs_manager_url), with a per-run certificate (_gcs_servers.ts).
import type { EmulatorConfig, GatewayConfig } from "./_config.ts";
import { AuthBook, handleAuth } from "./_auth_api.ts";
import { handleTransfer } from "./_transfer_api.ts";
import { GcsBook, handleGcs } from "./_gcs_api.ts";
import { type GcsServers, startGcsServers } from "./_gcs_servers.ts";
import { TunnelBook } from "./_tunnels.ts";
import {
  type AccessPointPlaneFactory,
  type IssuedLanSecret,
  type PlaneEvent,
  type PlaneHost,
  type PlaneTunnel,
} from "./_plane.ts";
import { EmulatorError } from "./_error.ts";
import { streamsDataPlane } from "./data_plane/mod.ts";
import { json } from "./_respond.ts";
import { formatContact } from "../contact/mod.ts";

/** An answer whatever happens: a bug in a handler is a 500 with its message, not a hang. */
async function guarded(answer: () => Promise<Response>): Promise<Response> {
  try {
    return await answer();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return json(500, { errors: [{ status: "500", code: "InternalError", detail }] });
  }
}

/** GLOBUS_SDK_ENVIRONMENT in the exports. */
export const EMULATOR_ENVIRONMENT = "emulator";

/** The emulator's live state, as tests and the data plane read it. */
export class EmulatorState implements PlaneHost {
  readonly config: EmulatorConfig;
  #tunnels: TunnelBook;
  #gcs: GcsBook;

  constructor(config: EmulatorConfig, tunnels: TunnelBook, gcs: GcsBook) {
    this.config = config;
    this.#tunnels = tunnels;
    this.#gcs = gcs;
  }

  tunnel(tunnelId: string): PlaneTunnel | undefined {
    const record = this.#tunnels.find(tunnelId);
    return record ? this.#tunnels.snapshot(record) : undefined;
  }

  /** Every tunnel that exists, whoever owns it. */
  tunnels(): PlaneTunnel[] {
    return this.#tunnels.all().map((record) => this.#tunnels.snapshot(record));
  }

  lanSecretsFor(tunnelId: string, accessPointId: string): IssuedLanSecret[] {
    return this.#gcs.lanSecretsFor(tunnelId, accessPointId);
  }

  gatewayOf(accessPointId: string): GatewayConfig | undefined {
    return this.#gcs.gatewayOf(accessPointId);
  }

  addTunnelEvent(tunnelId: string, event: PlaneEvent): void {
    const record = this.#tunnels.find(tunnelId);
    if (record) this.#tunnels.addEvent(record, event);
  }
}

/** A running emulator. */
export interface Emulator {
  /** Base URL, e.g. "http://127.0.0.1:40123/". */
  readonly url: string;
  /** Globus Auth base URL (GLOBUS_SDK_SERVICE_URL_AUTH). */
  readonly authUrl: string;
  /** Transfer base URL (GLOBUS_SDK_SERVICE_URL_TRANSFER). */
  readonly transferUrl: string;
  /** The gcs_manager_url of an endpoint: https://host:port. */
  gcsManagerUrl(endpointId: string, host?: string): string;
  /** The CA file (and its PEM) that GCS managers' certificate is trusted with. */
  readonly gcsCaFile: string;
  readonly gcsCaPem: string;
  /**
   * What its login approval page asks for before it approves. Whoever runs the emulator
   * shows it on their own terminal; it is never in the exports.
   */
  readonly approvalSecret: string;
  /** The variables that point the CLI at it, in the order the env file lists them. */
  readonly exports: Record<string, string>;
  readonly config: EmulatorConfig;
  readonly state: EmulatorState;
  /** Stops serving, every timer and the data plane. */
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Listen address (default 127.0.0.1). */
  hostname?: string;
  /** Listen port (default 0: a free one). */
  port?: number;
  /** The data plane (default: streamsDataPlane). */
  plane?: AccessPointPlaneFactory;
}

/**
 * Starts the emulator and resolves once it listens.
 *
 * @example
 * ```ts
 * const emulator = await startEmulator(defaultEmulatorConfig());
 * // point the CLI at emulator.exports, then
 * await emulator.stop();
 * ```
 */
export async function startEmulator(
  config: EmulatorConfig,
  options: EmulatorOptions = {},
): Promise<Emulator> {
  const gcs = new GcsBook(config);
  const tunnels = new TunnelBook(config, (id) => gcs.gatewayOf(id));
  const auth = new AuthBook(config);
  const state = new EmulatorState(config, tunnels, gcs);
  tunnels.plane = (options.plane ?? streamsDataPlane)(state);
  const gcsContext = { config, auth, tunnels, gcs };
  const hostname = options.hostname ?? "127.0.0.1";
  let gcsServers: GcsServers;
  try {
    gcsServers = await startGcsServers(
      config.endpoints.map((e) => e.id),
      hostname,
      (endpointId, request, path) =>
        guarded(() => handleGcs(gcsContext, request, endpointId, path)),
    );
  } catch (error) {
    await tunnels.close();
    throw error;
  }
  const gcsManagerUrl = (endpointId: string, host?: string) => gcsServers.urlFor(endpointId, host);
  const transferContext = { config, auth, tunnels, gcsManagerUrl };

  const handler = (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    return guarded(() => {
      if (path.startsWith("/auth/")) {
        return handleAuth(auth, config, request, path.slice(6), `${url.origin}/auth/`);
      }
      if (path.startsWith("/transfer/")) {
        return handleTransfer(transferContext, request, path.slice(10));
      }
      return Promise.resolve(json(404, { error: "not_found", detail: `No service at "${path}"` }));
    });
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port: options.port ?? 0, onListen: () => {} }, handler);
  } catch (error) {
    await tunnels.close();
    await gcsServers.close();
    const where = formatContact({ host: hostname, port: options.port ?? 0 });
    throw new EmulatorError(
      `Cannot listen on "${where}": ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const base = `http://${formatContact({ host: server.addr.hostname, port: server.addr.port })}/`;
  const exports = {
    // Its own environment name keeps the official CLI's emulator tokens apart from
    // production ones (the CLI stores tokens per environment).
    GLOBUS_SDK_ENVIRONMENT: EMULATOR_ENVIRONMENT,
    GLOBUS_SDK_SERVICE_URL_AUTH: `${base}auth/`,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: `${base}transfer/`,
    // The CA of the GCS managers' per-run certificate: the Globus SDK and this project's
    // client both take a CA file here.
    GLOBUS_SDK_VERIFY_SSL: gcsServers.caFile,
    GLOBUS_CLI_CLIENT_ID: config.clients[0].id,
    GLOBUS_CLI_CLIENT_SECRET: config.clients[0].secret,
    GLOBUS_STREAMS_EMULATOR_INITIATOR_AP: config.initiatorAccessPoint,
    GLOBUS_STREAMS_EMULATOR_LISTENER_AP: config.listenerAccessPoint,
  };
  let stopped: Promise<void> | undefined;
  return {
    url: base,
    authUrl: exports.GLOBUS_SDK_SERVICE_URL_AUTH,
    transferUrl: exports.GLOBUS_SDK_SERVICE_URL_TRANSFER,
    gcsManagerUrl,
    gcsCaFile: gcsServers.caFile,
    gcsCaPem: gcsServers.caPem,
    exports,
    approvalSecret: auth.approvalSecret,
    config,
    state,
    stop() {
      stopped ??= (async () => {
        await tunnels.close();
        await server.shutdown();
        await server.finished;
        await gcsServers.close();
      })();
      return stopped;
    },
  };
}
