// The HTTP layer under every client, through the public clients against tiny real
// servers: retries, Retry-After, timeouts, error documents, malformed answers.
import assert from "node:assert/strict";
import { GcsClient, GlobusApiError, TransferClient } from "../../src/globus/mod.ts";
import {
  closedPort,
  envOf,
  jsonResponse,
  startTinyService,
  TUNNEL_ID,
  tunnelDocument,
} from "./_service.ts";

async function failure(promise: Promise<unknown>): Promise<GlobusApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GlobusApiError, `want GlobusApiError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "one line");
    return error;
  }
  assert.fail("expected a GlobusApiError");
}

Deno.test("a GET is retried after 503 and 502, then succeeds", async () => {
  let attempts = 0;
  const service = startTinyService(() => {
    attempts++;
    if (attempts === 1) return jsonResponse(503, { errors: [{ code: "Busy" }] });
    if (attempts === 2) return new Response("bad gateway", { status: 502 });
    return jsonResponse(200, tunnelDocument());
  });
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const tunnel = await client.getTunnel(TUNNEL_ID);
    assert.equal(tunnel.id, TUNNEL_ID);
    assert.equal(tunnel.state, "AWAITING_LISTENER");
    assert.equal(attempts, 3);
  } finally {
    await service.stop();
  }
});

Deno.test("Retry-After on 429 is honoured", async () => {
  let attempts = 0;
  const service = startTinyService(() => {
    attempts++;
    return attempts === 1
      ? jsonResponse(429, { errors: [{ code: "TooMany" }] }, { "Retry-After": "1" })
      : jsonResponse(200, tunnelDocument());
  });
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const started = Date.now();
    await client.getTunnel(TUNNEL_ID);
    assert.ok(Date.now() - started >= 900, "waited about a second as asked");
    assert.equal(attempts, 2);
  } finally {
    await service.stop();
  }
});

Deno.test("retries stop after three; the last answer becomes a one-line error", async () => {
  const service = startTinyService(() =>
    jsonResponse(503, { errors: [{ code: "ServiceUnavailable", detail: "down\nfor maintenance" }] })
  );
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.getTunnel(TUNNEL_ID));
    assert.equal(service.hits(), 4);
    assert.equal(error.kind, "api");
    assert.equal(error.status, 503);
    assert.equal(error.code, "ServiceUnavailable");
    assert.equal(
      error.message,
      "Transfer failed the request (503 ServiceUnavailable): down for maintenance",
    );
  } finally {
    await service.stop();
  }
});

Deno.test("a PATCH is not retried", async () => {
  const service = startTinyService(() => jsonResponse(503, {}));
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.updateTunnel(TUNNEL_ID, { label: "y" }));
    assert.equal(service.hits(), 1);
    assert.equal(error.status, 503);
  } finally {
    await service.stop();
  }
});

Deno.test("a document that does not match the schema is 'malformed', naming the field", async () => {
  const document = tunnelDocument();
  // An unknown state is kept (tests/globus/recorded_test.ts); a number is no state.
  (document.data.attributes as Record<string, unknown>).state = 7;
  const service = startTinyService(() => jsonResponse(200, document));
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.getTunnel(TUNNEL_ID));
    assert.equal(error.kind, "malformed");
    assert.match(
      error.message,
      /^Transfer sent a malformed answer to GET "\/transfer\/v2\/tunnels\/5f2c[^"]*": data\.attributes\.state: /,
    );
  } finally {
    await service.stop();
  }
});

Deno.test("an answer that is not JSON is 'malformed'", async () => {
  const service = startTinyService(() => new Response("<html>hello</html>", { status: 200 }));
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.listTunnels());
    assert.equal(error.kind, "malformed");
    assert.match(error.message, /not JSON \(starts "<html>hello/);
  } finally {
    await service.stop();
  }
});

Deno.test("a JSON:API error becomes one line with status and code", async () => {
  const service = startTinyService(() =>
    jsonResponse(422, {
      errors: [{ code: "ValidationError", detail: "listener_port must be 1-65535" }],
    })
  );
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.updateTunnel(TUNNEL_ID, { listenerPort: 1 }));
    assert.equal(error.kind, "api");
    assert.equal(error.code, "ValidationError");
    assert.equal(
      error.message,
      "Transfer refused the request (422 ValidationError): listener_port must be 1-65535",
    );
  } finally {
    await service.stop();
  }
});

Deno.test("401 from a service is an auth error that says how to fix it", async () => {
  const service = startTinyService(() =>
    jsonResponse(401, { errors: [{ code: "AuthenticationFailed", detail: "Token is not active" }] })
  );
  try {
    const client = new TransferClient({ env: envOf(service.env), retryBaseMs: 1 });
    const error = await failure(client.listTunnels());
    assert.equal(error.kind, "auth");
    assert.equal(
      error.message,
      "Transfer refused the credentials (401 AuthenticationFailed): Token is not active: check GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET",
    );
  } finally {
    await service.stop();
  }
});

Deno.test("GCS and Transfer v0.10 error shapes are read too", async () => {
  const service = startTinyService((_request, path) =>
    path.startsWith("/gcs/")
      ? jsonResponse(403, {
        DATA_TYPE: "result#1.0.0",
        code: "permission_denied",
        detail: "You may not",
        http_response_code: 403,
      })
      : jsonResponse(404, { code: "EndpointNotFound", message: "No such endpoint" })
  );
  try {
    const env = envOf(service.env);
    const endpoint = "bc430fc2-352e-47b3-aab3-38dd44141b4d";
    const gcs = new GcsClient(`${service.url}gcs`, endpoint, { env, retryBaseMs: 1 });
    const denied = await failure(gcs.createLanSecret({
      tunnelId: TUNNEL_ID,
      streamAccessPointId: "45a32dca-d28e-4efc-aae3-d142aac27a02",
    }));
    assert.equal(denied.code, "permission_denied");
    assert.match(denied.message, /refused the request \(403 permission_denied\): You may not$/);
    const transfer = new TransferClient({ env, retryBaseMs: 1 });
    const missing = await failure(transfer.gcsManagerUrl(endpoint));
    assert.equal(missing.message, `Endpoint "${endpoint}" was not found (404 EndpointNotFound)`);
  } finally {
    await service.stop();
  }
});

Deno.test("an unreachable service is a 'network' error naming the URL and the variable", async () => {
  const port = closedPort();
  const env = envOf({
    GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${port}/`,
    GLOBUS_SDK_SERVICE_URL_AUTH: `http://127.0.0.1:${port}/`,
    GLOBUS_CLI_CLIENT_ID: "d4258783-eb0a-4b56-8e58-fd103038cc55",
    GLOBUS_CLI_CLIENT_SECRET: "x",
  });
  const error = await failure(new TransferClient({ env, retryBaseMs: 1 }).listTunnels());
  assert.equal(error.kind, "network");
  assert.equal(
    error.message,
    `Cannot reach Globus Auth at "http://127.0.0.1:${port}/": connection refused (is the service up? check GLOBUS_SDK_SERVICE_URL_AUTH)`,
  );
});

Deno.test("a service slower than the timeout is a 'network' error", async () => {
  const service = startTinyService(async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    return jsonResponse(200, tunnelDocument());
  });
  try {
    const client = new TransferClient({ env: envOf(service.env), timeoutMs: 100 });
    const error = await failure(client.getTunnel(TUNNEL_ID));
    assert.equal(error.kind, "network");
    assert.match(error.message, /did not answer within 0\.1 s/);
    assert.equal(service.hits(), 1, "a timeout is not retried");
    await new Promise((resolve) => setTimeout(resolve, 450));
  } finally {
    await service.stop();
  }
});

Deno.test("GLOBUS_SDK_HTTP_TIMEOUT must be a number", async () => {
  const service = startTinyService(() => jsonResponse(200, tunnelDocument()));
  try {
    const env = envOf({ ...service.env, GLOBUS_SDK_HTTP_TIMEOUT: "soon" });
    const error = await failure(new TransferClient({ env }).getTunnel(TUNNEL_ID));
    assert.equal(
      error.message,
      'Cannot use GLOBUS_SDK_HTTP_TIMEOUT "soon": want a number of seconds',
    );
  } finally {
    await service.stop();
  }
});

Deno.test("links.next to another origin is a malformed answer, and the token never goes there", async () => {
  // The other origin is a real server that keeps every Authorization header it gets.
  const elsewhere: string[] = [];
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    elsewhere.push(request.headers.get("authorization") ?? "(none)");
    return jsonResponse(200, { data: [], links: null });
  });
  const otherPort = other.addr.port;
  let next = "";
  const service = startTinyService((request) =>
    new URL(request.url).searchParams.has("page")
      ? jsonResponse(200, { data: [], links: null })
      : jsonResponse(200, { data: [], links: { next } })
  );
  const servicePort = new URL(service.url).port;
  try {
    const client = new TransferClient({ env: envOf(service.env) });
    for (
      const [link, origin] of [
        [`http://127.0.0.1:${otherPort}/transfer/v2/tunnels`, `http://127.0.0.1:${otherPort}`],
        [`//127.0.0.1:${otherPort}/transfer/v2/tunnels`, `http://127.0.0.1:${otherPort}`],
        [`\\\\127.0.0.1:${otherPort}/transfer/v2/tunnels`, `http://127.0.0.1:${otherPort}`],
        [`http://localhost:${servicePort}/transfer/v2/tunnels`, `http://localhost:${servicePort}`],
        [`https://127.0.0.1:${servicePort}/x`, `https://127.0.0.1:${servicePort}`],
      ]
    ) {
      next = link;
      const error = await failure(client.listTunnels());
      assert.equal(error.kind, "malformed", link);
      assert.equal(
        error.message,
        `Transfer sent a link to another site "${origin}": refusing to follow it`,
        link,
      );
    }
    assert.deepEqual(elsewhere, [], "a bearer token went to another origin");
    // Links on the service's own origin, absolute or not, are followed.
    for (
      const link of [
        `http://127.0.0.1:${servicePort}/transfer/v2/tunnels?page=2`,
        "/transfer/v2/tunnels?page=2",
      ]
    ) {
      next = link;
      const before = service.hits();
      assert.deepEqual(await client.listTunnels(), { items: [], unreadable: [] });
      assert.equal(service.hits() - before, 2, link);
    }
  } finally {
    await service.stop();
    await other.shutdown();
  }
});

Deno.test("a redirect to another origin is not followed with the token", async () => {
  const elsewhere: string[] = [];
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    elsewhere.push(request.headers.get("authorization") ?? "(none)");
    return jsonResponse(200, tunnelDocument());
  });
  const service = startTinyService(() =>
    new Response(null, {
      status: 307,
      headers: { Location: `http://127.0.0.1:${other.addr.port}/transfer/v2/tunnels/${TUNNEL_ID}` },
    })
  );
  try {
    const error = await failure(
      new TransferClient({ env: envOf(service.env) }).getTunnel(TUNNEL_ID),
    );
    assert.equal(error.status, 307);
    assert.deepEqual(elsewhere, []);
  } finally {
    await service.stop();
    await other.shutdown();
  }
});

Deno.test("a bad tunnel id is refused before any request", async () => {
  const service = startTinyService(() => jsonResponse(200, tunnelDocument()));
  try {
    const client = new TransferClient({ env: envOf(service.env) });
    for (const bad of ["", "5f2c", "../tokens", `${TUNNEL_ID}/events`, `${TUNNEL_ID} `]) {
      const error = await failure(client.getTunnel(bad));
      assert.equal(error.code, "InvalidId");
      assert.ok(error.message.startsWith(`Invalid tunnel id "${bad}": want a UUID`));
    }
    await failure(client.deleteTunnel("nope"));
    await failure(client.tunnelEvents("nope"));
    assert.equal(service.hits(), 0);
  } finally {
    await service.stop();
  }
});
