// Odd but plausible documents from a Beta service: states, codes and fields this
// program does not know, host names where addresses were expected, optional fields
// missing, and in each list one record this program cannot read at all. Served by a real
// local HTTP server (startOddService) for the client tests and the CLI tests.
import { jsonResponse, startTinyService, type TinyService } from "./_service.ts";

export const AP_INITIATOR = "45a32dca-d28e-4efc-aae3-d142aac27a02";
export const AP_LISTENER = "11314cd2-5139-4275-9f3c-cea5774ebfe8";
export const ENDPOINT = "9c4e1d2a-7b3f-4e6a-8d5c-1f2e3a4b5c6d";
export const OWNER = "4d443580-012d-4954-816f-e0592bd356e1";

/** A tunnel in a state this program does not know, with host names for its contacts. */
export const ERROR_TUNNEL = "0b0e6c1a-5a8e-4b8e-9d3e-6f1d1c2b3a01";
/** An ACTIVE tunnel, as the real service writes one. */
export const ACTIVE_TUNNEL = "0b0e6c1a-5a8e-4b8e-9d3e-6f1d1c2b3a02";
/** A tunnel with only the fields the service must send. */
export const BARE_TUNNEL = "0b0e6c1a-5a8e-4b8e-9d3e-6f1d1c2b3a03";
/** An ACTIVE tunnel whose initiator contact is a host name (not in the list). */
export const NAMED_TUNNEL = "0b0e6c1a-5a8e-4b8e-9d3e-6f1d1c2b3a05";
/** A tunnel record this program cannot read (lifetime_mins is text). */
export const BROKEN_TUNNEL = "0b0e6c1a-5a8e-4b8e-9d3e-6f1d1c2b3a04";

export const ODD_POINT = "7e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a01";
export const BARE_POINT = "7e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a02";
export const BROKEN_POINT = "7e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a03";

function relationships(owner = true) {
  return {
    initiator: { data: { type: "StreamAccessPoint", id: AP_INITIATOR } },
    listener: { data: { type: "StreamAccessPoint", id: AP_LISTENER } },
    ...(owner ? { owner: { data: { type: "Identity", id: OWNER } } } : {}),
  };
}

export const errorTunnel = {
  type: "Tunnel",
  id: ERROR_TUNNEL,
  attributes: {
    created_time: "2026-02-12T21:59:01.857473",
    initiator_ip_address: "ap1.site-a.example.org",
    initiator_port: 50123,
    label: "odd one",
    lifetime_mins: 360,
    listener_ip_address: "db.site-b.example.org",
    listener_port: 5432,
    restartable: true,
    state: "ERROR",
    status: "The tunnel failed: listener unreachable",
    submission_id: "292b0054-7084-46eb-83d6-7a6821b1f77e",
    error_count: 3,
  },
  relationships: relationships(),
  links: { self: "/v2/tunnels/" + ERROR_TUNNEL },
};

export const activeTunnel = {
  type: "Tunnel",
  id: ACTIVE_TUNNEL,
  attributes: {
    created_time: "2026-02-12T21:59:02.876253",
    initiator_ip_address: "10.0.0.7",
    initiator_port: 50124,
    label: "plain",
    lifetime_mins: 60,
    listener_ip_address: "10.0.1.9",
    listener_port: 8080,
    restartable: false,
    state: "ACTIVE",
    status: "Tunnel has been established",
    submission_id: null,
  },
  relationships: relationships(),
};

export const namedTunnel = {
  ...errorTunnel,
  id: NAMED_TUNNEL,
  attributes: { ...errorTunnel.attributes, state: "ACTIVE" },
};

export const bareTunnel = {
  type: "Tunnel",
  id: BARE_TUNNEL,
  attributes: {
    created_time: "2026-02-12T22:00:00",
    lifetime_mins: 360,
    state: "AWAITING_LISTENER",
  },
  relationships: relationships(false),
};

export const brokenTunnel = {
  type: "Tunnel",
  id: BROKEN_TUNNEL,
  attributes: { ...activeTunnel.attributes, label: "broken", lifetime_mins: "six hours" },
  relationships: relationships(),
};

export const events = [
  {
    type: "TunnelEvent",
    id: 2768,
    attributes: {
      code: "STARTED",
      is_error: false,
      description: "started",
      details: "Attempting tunnel establishment",
      time: "2026-02-12T21:59:01.857473",
    },
  },
  {
    type: "TunnelEvent",
    id: 2769,
    attributes: {
      code: "LISTENER_UNREACHABLE",
      is_error: true,
      description: "listener is unreachable",
      details: { errno: 113, text: "No route to host" },
      time: "2026-02-12T21:59:02.876253",
      severity: "high",
    },
  },
  {
    type: "TunnelEvent",
    id: 2770,
    attributes: { code: "RETRYING", time: "2026-02-12T21:59:12.000001" },
  },
  {
    type: "TunnelEvent",
    id: 2771,
    attributes: { code: "BROKEN", is_error: "yes", time: "2026-02-12T21:59:13.000001" },
  },
];

function point(id: string, attributes: Record<string, unknown>) {
  return {
    type: "StreamAccessPoint",
    id,
    attributes,
    relationships: { host_endpoint: { data: { type: "Endpoint", id: ENDPOINT } } },
  };
}

export const oddPoint = point(ODD_POINT, {
  display_name: "Site A (beta)",
  tlsftp_server: "tlsftp://s-463c7.e7d5e.8540.test3.zones.dnsteam.globuscs.info:443",
  advertised_owner: "john@globus.org",
  keywords: ["beta", "streams"],
  stream_gateway_id: "c0ffee00-0000-4000-8000-000000000001",
});
export const barePoint = point(BARE_POINT, { display_name: "Site B" });
export const brokenPoint = point(BROKEN_POINT, { display_name: 5, tlsftp_server: null });

/** The tunnels list over two pages, the unreadable record on the second. */
function tunnelPages(origin: string, page: string | null) {
  return page === "2"
    ? { data: [brokenTunnel, bareTunnel], links: null, meta: { request_id: "p2" } }
    : {
      data: [errorTunnel, activeTunnel],
      links: { next: `${origin}transfer/v2/tunnels?page[marker]=2` },
      meta: { request_id: "p1" },
    };
}

export const gateways = {
  DATA_TYPE: "result#1.0.0",
  code: "success",
  http_response_code: 200,
  detail: "success",
  data: [
    { DATA_TYPE: "endpoint#1.2.0", id: "not a gateway: skipped, not noted" },
    {
      DATA_TYPE: "stream_gateway#1.1.0",
      id: "a1b2c3d4-0000-4000-8000-000000000001",
      display_name: "gateway one",
      lan_secret_required: true,
      lan_name: "site-a",
      tlsftp_url: "tlsftp://gw1.example.org:443",
      users_allow: ["alice"],
      authentication_timeout_mins: 15,
    },
    {
      DATA_TYPE: "stream_gateway#1.0.0",
      id: "a1b2c3d4-0000-4000-8000-000000000002",
      display_name: "gateway two",
    },
    { DATA_TYPE: "stream_gateway#1.0.0", id: 3, display_name: "broken" },
  ],
};

export const lanSecret = {
  DATA_TYPE: "result#1.0.0",
  code: "success",
  http_response_code: 201,
  data: [
    { DATA_TYPE: "info#1.0.0", note: "a document of another type beside the secret" },
    {
      DATA_TYPE: "lan_secret#1.1.0",
      id: "e5f6a7b8-0000-4000-8000-000000000001",
      secret: "s3cr3t-value",
      expires: 1_900_000_000,
      identity_id: OWNER,
      username: "alice",
      tunnel_id: ACTIVE_TUNNEL,
      stream_access_point_id: AP_INITIATOR,
      rotation: "daily",
    },
  ],
};

/**
 * A local Transfer (and GCS manager under /gcs/) serving the odd documents, with the
 * tiny service's token endpoint.
 */
export function startOddService(): TinyService {
  let origin = "";
  const tunnels: Record<string, unknown> = {
    [ERROR_TUNNEL]: errorTunnel,
    [ACTIVE_TUNNEL]: activeTunnel,
    [BARE_TUNNEL]: bareTunnel,
    [BROKEN_TUNNEL]: brokenTunnel,
    [NAMED_TUNNEL]: namedTunnel,
  };
  const points: Record<string, unknown> = {
    [ODD_POINT]: oddPoint,
    [BARE_POINT]: barePoint,
    [BROKEN_POINT]: brokenPoint,
    [AP_INITIATOR]: { ...oddPoint, id: AP_INITIATOR },
    [AP_LISTENER]: { ...barePoint, id: AP_LISTENER },
  };
  const service = startTinyService((request, path) => {
    const url = new URL(request.url);
    const one = (doc: unknown) =>
      doc ? jsonResponse(200, { data: doc, meta: { request_id: "x" } }) : notFound(path);
    let match: RegExpMatchArray | null;
    if (path === "/transfer/v2/tunnels") {
      return jsonResponse(200, tunnelPages(origin, url.searchParams.get("page[marker]")));
    }
    if ((match = path.match(/^\/transfer\/v2\/tunnels\/([^/]+)\/events$/))) {
      return tunnels[match[1]]
        ? jsonResponse(200, { data: events, links: null, meta: { request_id: "e" } })
        : notFound(path);
    }
    if ((match = path.match(/^\/transfer\/v2\/tunnels\/([^/]+)$/))) return one(tunnels[match[1]]);
    if (path === "/transfer/v2/stream_access_points") {
      return jsonResponse(200, {
        data: [oddPoint, brokenPoint, barePoint],
        meta: { request_id: "a" },
      });
    }
    if ((match = path.match(/^\/transfer\/v2\/stream_access_points\/([^/]+)$/))) {
      return one(points[match[1]]);
    }
    if (path === `/transfer/v0.10/endpoint/${ENDPOINT}`) {
      return jsonResponse(200, {
        DATA_TYPE: "endpoint",
        id: ENDPOINT,
        gcs_manager_url: `${origin}gcs`,
        entity_type: "GCSv5_endpoint",
      });
    }
    if (path === "/gcs/api/stream_gateways") return jsonResponse(200, gateways);
    if (path === "/gcs/api/lan_secrets" && request.method === "POST") {
      return jsonResponse(201, lanSecret);
    }
    return notFound(path);
  });
  origin = service.url;
  return service;
}

function notFound(path: string): Response {
  return jsonResponse(404, { errors: [{ code: "NotFound", detail: `${path} not found` }] });
}
