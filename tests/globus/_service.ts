// A tiny real HTTP server for client tests: Globus Auth's token endpoint answers every
// client-credentials request; everything else goes to the test's own handler.

export interface TinyService {
  /** Environment pointing Auth and Transfer at it, with client credentials. */
  env: Record<string, string>;
  url: string;
  /** Requests that reached the test's handler. */
  hits(): number;
  stop(): Promise<void>;
}

export const TUNNEL_ID = "5f2c1a3e-0b7d-4c52-9e1f-2a6b8d4c0e91";

/** A well-formed tunnel document. */
export function tunnelDocument(id = TUNNEL_ID) {
  return {
    data: {
      type: "Tunnel",
      id,
      attributes: {
        label: "x",
        submission_id: null,
        lifetime_mins: 360,
        restartable: false,
        listener_ip_address: null,
        listener_port: null,
        initiator_ip_address: null,
        initiator_port: null,
        created_time: "2025-01-01T00:00:00Z",
        state: "AWAITING_LISTENER",
        status: "The tunnel is waiting for listening contact detail setup.",
      },
      relationships: {
        initiator: {
          data: { type: "StreamAccessPoint", id: "45a32dca-d28e-4efc-aae3-d142aac27a02" },
        },
        listener: {
          data: { type: "StreamAccessPoint", id: "11314cd2-5139-4275-9f3c-cea5774ebfe8" },
        },
        owner: { data: { type: "Identity", id: "9243a162-ed8e-4f11-a988-3a3339d5270d" } },
      },
    },
    meta: { request_id: "abc" },
  };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function startTinyService(
  handler: (request: Request, path: string, body: string) => Response | Promise<Response>,
): TinyService {
  let hits = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/auth/v2/oauth2/token") {
        const form = new URLSearchParams(await request.text());
        return jsonResponse(200, {
          access_token: "tiny-token",
          expires_in: 3600,
          resource_server: "transfer.api.globus.org",
          scope: form.get("scope") ?? "",
          token_type: "Bearer",
          other_tokens: [],
        });
      }
      hits++;
      const body = await request.text();
      return handler(request, path, body);
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url,
    env: {
      GLOBUS_SDK_SERVICE_URL_AUTH: `${url}auth/`,
      GLOBUS_SDK_SERVICE_URL_TRANSFER: `${url}transfer/`,
      GLOBUS_CLI_CLIENT_ID: "d4258783-eb0a-4b56-8e58-fd103038cc55",
      GLOBUS_CLI_CLIENT_SECRET: "tiny-secret",
    },
    hits: () => hits,
    stop: async () => {
      await server.shutdown();
    },
  };
}

/** A loopback port nothing listens on (bound, then closed). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export function envOf(values: Record<string, string>): (name: string) => string | undefined {
  return (name) => values[name];
}
