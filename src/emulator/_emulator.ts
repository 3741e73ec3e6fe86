// startEmulator: one Deno.serve on loopback with a path prefix per service:
//   /auth/      Globus Auth            (GLOBUS_SDK_SERVICE_URL_AUTH)
//   /transfer/  Transfer               (GLOBUS_SDK_SERVICE_URL_TRANSFER)
//   /gcs/<id>/  each endpoint's GCS manager (its gcs_manager_url)
import type { EmulatorConfig, GatewayConfig } from "./_config.ts";
import { AuthBook, handleAuth } from "./_auth_api.ts";
import { handleTransfer } from "./_transfer_api.ts";
import { GcsBook, handleGcs } from "./_gcs_api.ts";
import { TunnelBook } from "./_tunnels.ts";
import {
  type AccessPointPlaneFactory,
  type IssuedLanSecret,
  type PlaneEvent,
  type PlaneHost,
  type PlaneTunnel,
} from "./_plane.ts";
import { EmulatorError } from "./_error.ts";
import { streamsDataPlane } from "./_data_plane.ts";
import { json } from "./_respond.ts";
import { formatContact } from "../contact/mod.ts";

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
  /** The gcs_manager_url of an endpoint. */
  gcsManagerUrl(endpointId: string): string;
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
  const gcsManagerUrl = (endpointId: string, origin: string) => `${origin}/gcs/${endpointId}`;
  const transferContext = { config, auth, tunnels, gcsManagerUrl };
  const gcsContext = { config, auth, tunnels, gcs };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      if (path.startsWith("/auth/")) {
        return await handleAuth(auth, config, request, path.slice(6), `${url.origin}/auth/`);
      }
      if (path.startsWith("/transfer/")) {
        return await handleTransfer(transferContext, request, path.slice(10));
      }
      const gcsMatch = /^\/gcs\/([^/]+)\/(.*)$/.exec(path);
      if (gcsMatch) return await handleGcs(gcsContext, request, gcsMatch[1], gcsMatch[2]);
      return json(404, { error: "not_found", detail: `No service at "${path}"` });
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return json(500, { errors: [{ status: "500", code: "InternalError", detail }] });
    }
  };

  const hostname = options.hostname ?? "127.0.0.1";
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port: options.port ?? 0, onListen: () => {} }, handler);
  } catch (error) {
    await tunnels.close();
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
    gcsManagerUrl: (endpointId) => gcsManagerUrl(endpointId, base.slice(0, -1)),
    exports,
    approvalSecret: auth.approvalSecret,
    config,
    state,
    stop() {
      stopped ??= (async () => {
        await tunnels.close();
        await server.shutdown();
        await server.finished;
      })();
      return stopped;
    },
  };
}
