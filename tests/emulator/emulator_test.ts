// The emulator's HTTP APIs spoken to directly, the way the real services are: shapes,
// validation, token checks, timing, and the data-plane seam.
import assert from "node:assert/strict";
import { gcsScope, pkceChallenge, TRANSFER_SCOPE } from "../../src/globus/mod.ts";
import {
  type AccessPointPlane,
  type AccessPointPlaneFactory,
  defaultEmulatorConfig,
  EmulatorError,
  type PlaneHost,
  type PlaneTunnel,
  startEmulator,
} from "../../src/emulator/mod.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";

type Exports = Record<string, string>;

async function clientToken(exports: Exports, scope: string): Promise<string> {
  const response = await fetch(`${exports.GLOBUS_SDK_SERVICE_URL_AUTH}v2/oauth2/token`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Authorization: "Basic " +
        btoa(`${exports.GLOBUS_CLI_CLIENT_ID}:${exports.GLOBUS_CLI_CLIENT_SECRET}`),
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.access_token;
}

async function call(
  url: string,
  options: { method?: string; token?: string; body?: unknown; raw?: string; caPem?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined || options.raw !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  // The GCS managers speak HTTPS with the run's own CA.
  const client = options.caPem ? Deno.createHttpClient({ caCerts: [options.caPem] }) : undefined;
  try {
    const response = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      ...(client ? { client } : {}),
    } as RequestInit);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  } finally {
    client?.close();
  }
}

function createBody(exports: Exports, attributes: Record<string, unknown> = {}) {
  return {
    data: {
      type: "Tunnel",
      attributes,
      relationships: {
        initiator: {
          data: { type: "StreamAccessPoint", id: exports.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP },
        },
        listener: {
          data: { type: "StreamAccessPoint", id: exports.GLOBUS_STREAMS_EMULATOR_LISTENER_AP },
        },
      },
    },
  };
}

function firstError(body: Record<string, unknown>): { code: string; detail: string } {
  return (body.errors as { code: string; detail: string }[])[0];
}

async function waitFor<T>(probe: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let value = await probe();
  for (let i = 0; i < 100 && !ok(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = await probe();
  }
  return value;
}

Deno.test("Transfer refuses bad tunnel documents with one-line 422s", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const tunnels = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`;
    const bad: [unknown, RegExp][] = [
      [createBody(env, { listener_port: 0 }), /^listener_port must be 1-65535$/],
      [createBody(env, { listener_port: 70000 }), /^listener_port must be 1-65535$/],
      [createBody(env, { listener_port: "80" }), /listener_port must be an integer/],
      [createBody(env, { listener_ip_address: "not an address!" }), /IP address or a host name/],
      // All-numeric but not an IPv4 address: clients and conf files refuse it too.
      [createBody(env, { listener_ip_address: "1.2.3" }), /IP address or a host name/],
      [createBody(env, { listener_ip_address: "::1:2:::3" }), /IP address or a host name/],
      [createBody(env, { lifetime_mins: 0 }), /^lifetime_mins must be 1-10080$/],
      [createBody(env, { state: "ACTIVE" }), /data\.attributes: state cannot be set here/],
      [createBody(env, { submission_id: "42" }), /submission_id must be a UUID/],
      [createBody(env, { label: "x".repeat(300) }), /label is longer than 256/],
      [{ data: { ...createBody(env).data, type: "Tunel" } }, /data\.type must be "Tunnel"/],
      [{ nothing: true }, /a data object is required/],
    ];
    for (const [body, pattern] of bad) {
      const answer = await call(tunnels, { method: "POST", token, body });
      assert.equal(answer.status, 422, JSON.stringify(body));
      assert.equal(firstError(answer.body).code, "ValidationError");
      assert.match(firstError(answer.body).detail, pattern);
    }
    const unknown = createBody(env);
    unknown.data.relationships.listener.data.id = crypto.randomUUID();
    const answer = await call(tunnels, { method: "POST", token, body: unknown });
    assert.equal(answer.status, 422);
    assert.match(firstError(answer.body).detail, /^Unknown listener stream access point "/);
    const notJson = await call(tunnels, { method: "POST", token, raw: "{" });
    assert.equal(notJson.status, 400);
    assert.equal((await call(tunnels, { method: "PUT", token })).status, 405);
  } finally {
    await stop();
  }
});

Deno.test("PATCH may change only label, the listener contact, and state to STOPPING", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token,
      body: createBody(env),
    });
    assert.equal(created.status, 201);
    const id = (created.body.data as { id: string }).id;
    const url = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${id}`;
    const patch = (attributes: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      call(url, {
        method: "PATCH",
        token,
        body: { data: { type: "Tunnel", attributes, ...extra } },
      });
    for (const attributes of [{ lifetime_mins: 5 }, { initiator_port: 5 }, { restartable: true }]) {
      const answer = await patch(attributes);
      assert.equal(answer.status, 422);
      assert.match(
        firstError(answer.body).detail,
        /only label, listener_ip_address, listener_port and state can be changed, not /,
      );
    }
    const active = await patch({ state: "ACTIVE" });
    assert.equal(firstError(active.body).detail, 'state can only be set to "STOPPING"');
    const wrongId = await patch({ label: "x" }, { id: crypto.randomUUID() });
    assert.equal(wrongId.status, 409);
    const labelled = await patch({ label: "renamed" });
    assert.equal(labelled.status, 200);
    assert.equal(
      (labelled.body.data as { attributes: { label: string } }).attributes.label,
      "renamed",
    );
    await patch({ state: "STOPPING" });
    const late = await patch({ listener_port: 80, listener_ip_address: "127.0.0.1" });
    assert.equal(late.status, 409);
    assert.match(
      firstError(late.body).detail,
      /is STOPPING: its listener contact can no longer change/,
    );
    const again = await patch({ state: "STOPPING" });
    assert.equal(again.status, 200, "stopping twice is harmless");
  } finally {
    await stop();
  }
});

Deno.test("Transfer checks tokens: none, unknown, revoked, or for another service get 401", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const url = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`;
    const none = await call(url);
    assert.equal(none.status, 401);
    assert.equal(firstError(none.body).code, "AuthenticationFailed");
    assert.equal((await call(url, { token: "made-up" })).status, 401);
    const gcsToken = await clientToken(env, gcsScope(defaultEmulatorConfig().endpoints[0].id));
    const other = await call(url, { token: gcsToken });
    assert.equal(other.status, 401);
    assert.match(
      firstError(other.body).detail,
      /does not carry scope "urn:globus:auth:scope:transfer/,
    );
    const token = await clientToken(env, TRANSFER_SCOPE);
    assert.equal((await call(url, { token })).status, 200);
    const revoke = await fetch(`${env.GLOBUS_SDK_SERVICE_URL_AUTH}v2/oauth2/token/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }),
    });
    await revoke.body?.cancel();
    assert.equal(revoke.status, 200);
    assert.equal((await call(url, { token })).status, 401);
    const introspect = await fetch(`${env.GLOBUS_SDK_SERVICE_URL_AUTH}v2/oauth2/token/introspect`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Authorization: "Basic " +
          btoa(`${env.GLOBUS_CLI_CLIENT_ID}:${env.GLOBUS_CLI_CLIENT_SECRET}`),
      },
      body: new URLSearchParams({ token }),
    });
    assert.deepEqual(await introspect.json(), { active: false });
  } finally {
    await stop();
  }
});

Deno.test("Auth refuses what Globus Auth refuses", async () => {
  const { env, approvalSecret, stop } = await startEmulatorInProcess();
  try {
    const auth = env.GLOBUS_SDK_SERVICE_URL_AUTH;
    const authorize = (params: Record<string, string>) =>
      fetch(`${auth}v2/oauth2/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
    const good = {
      client_id: crypto.randomUUID(),
      redirect_uri: `${auth}v2/web/auth-code`,
      scope: `openid ${TRANSFER_SCOPE}`,
      response_type: "code",
      code_challenge: pkceChallenge("v".repeat(43)),
      code_challenge_method: "S256",
    };
    // GET only shows the approval page; nothing is approved without the run's secret.
    const page = await authorize(good);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /name="approval_secret"/);
    const approve = (params: Record<string, string>, secret: string) =>
      fetch(`${auth}v2/oauth2/authorize?${new URLSearchParams(params)}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ approval_secret: secret }),
        redirect: "manual",
      });
    for (const wrong of ["", "0000-0000-0000-0000-0000-0000", approvalSecret + "0"]) {
      const refusedPage = await approve(good, wrong);
      assert.equal(refusedPage.status, 403, `secret "${wrong}"`);
      assert.equal(refusedPage.headers.get("location"), null);
      assert.match(await refusedPage.text(), /not this run&#39;s approval secret/);
    }
    const ok = await approve(good, approvalSecret);
    await ok.body?.cancel();
    assert.equal(ok.status, 302);
    assert.match(ok.headers.get("location")!, /v2\/web\/auth-code\?code=[A-Za-z0-9_-]+$/);
    assert.ok(!Object.values(env).includes(approvalSecret), "not in the exports");
    for (
      const change of [
        { code_challenge_method: "plain" },
        { code_challenge: "" },
        { redirect_uri: "http://127.0.0.1:9/steal" },
        { scope: "urn:globus:auth:scope:elsewhere:all" },
        { client_id: "not-a-uuid" },
        { response_type: "token" },
      ]
    ) {
      const refused = await authorize({ ...good, ...change });
      assert.equal(refused.status, 400, JSON.stringify(change));
      await refused.body?.cancel();
    }
    const token = async (form: Record<string, string>) => {
      const response = await fetch(`${auth}v2/oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form),
      });
      return { status: response.status, body: await response.json() };
    };
    assert.deepEqual(
      (await token({ grant_type: "password" })).body.error,
      "unsupported_grant_type",
    );
    const refresh = await token({
      grant_type: "refresh_token",
      refresh_token: "nope",
      client_id: good.client_id,
    });
    assert.equal(refresh.status, 400);
    assert.equal(refresh.body.error, "invalid_grant");
    const noSecret = await token({
      grant_type: "client_credentials",
      client_id: env.GLOBUS_CLI_CLIENT_ID,
      scope: TRANSFER_SCOPE,
    });
    assert.equal(noSecret.status, 401);
    const formSecret = await token({
      grant_type: "client_credentials",
      client_id: env.GLOBUS_CLI_CLIENT_ID,
      client_secret: env.GLOBUS_CLI_CLIENT_SECRET,
      scope: `${TRANSFER_SCOPE} openid`,
    });
    assert.equal(formSecret.status, 200);
    assert.equal(formSecret.body.resource_server, "auth.globus.org");
    assert.equal(formSecret.body.other_tokens[0].resource_server, "transfer.api.globus.org");
    const badScope = await token({
      grant_type: "client_credentials",
      client_id: env.GLOBUS_CLI_CLIENT_ID,
      client_secret: env.GLOBUS_CLI_CLIENT_SECRET,
      scope: gcsScope(crypto.randomUUID()),
    });
    assert.equal(badScope.body.error, "invalid_scope");
    const transferOnly = await clientToken(env, TRANSFER_SCOPE);
    const info = await call(`${auth}v2/oauth2/userinfo`, { token: transferOnly });
    assert.equal(info.status, 401, "userinfo wants an openid token");
  } finally {
    await stop();
  }
});

Deno.test("a tunnel expires after lifetime_mins scaled by minute_ms", async () => {
  const { env, stop } = await startEmulatorInProcess({ configToml: "minute_ms = 100\n" });
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token,
      body: createBody(env, {
        lifetime_mins: 2,
        listener_ip_address: "127.0.0.1",
        listener_port: 9,
      }),
    });
    const id = (created.body.data as { id: string }).id;
    const url = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${id}`;
    const state = (answer: { body: Record<string, unknown> }) =>
      (answer.body.data as { attributes: { state: string } }).attributes.state;
    assert.equal(state(created), "ACTIVE");
    const started = Date.now();
    const expired = await waitFor(() => call(url, { token }), (a) => state(a) === "STOPPED");
    assert.equal(state(expired), "STOPPED");
    assert.ok(Date.now() - started >= 120, "not before its lifetime");
    const events = await call(`${url}/events`, { token });
    const codes = (events.body.data as { attributes: { code: string } }[]).map((e) =>
      e.attributes.code
    );
    assert.deepEqual(codes, ["STARTED", "TUNNEL_ACTIVE", "TUNNEL_STOPPED"]);
    assert.equal((await call(url, { method: "DELETE", token })).status, 200);
  } finally {
    await stop();
  }
});

Deno.test("activation_delay_ms: the listener contact arrives, then the tunnel turns ACTIVE", async () => {
  const { env, stop } = await startEmulatorInProcess({ configToml: "activation_delay_ms = 150\n" });
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token,
      body: createBody(env),
    });
    const id = (created.body.data as { id: string }).id;
    const url = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${id}`;
    type Attributes = { state: string; initiator_port: number | null };
    const attributes = (answer: { body: Record<string, unknown> }) =>
      (answer.body.data as { attributes: Attributes }).attributes;
    const patched = await call(url, {
      method: "PATCH",
      token,
      body: {
        data: { type: "Tunnel", attributes: { listener_ip_address: "::1", listener_port: 22 } },
      },
    });
    assert.equal(attributes(patched).state, "AWAITING_LISTENER");
    assert.equal(attributes(patched).initiator_port, null);
    const active = await waitFor(
      () => call(url, { token }),
      (a) => attributes(a).state === "ACTIVE",
    );
    assert.equal(attributes(active).state, "ACTIVE");
    assert.ok(attributes(active).initiator_port! > 0);
  } finally {
    await stop();
  }
});

Deno.test("Transfer paging: markers and limits are checked", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const base = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/stream_access_points`;
    const first = await call(`${base}?page[limit]=1`, { token });
    assert.equal((first.body.data as unknown[]).length, 1);
    const next = (first.body.links as { next: string }).next;
    assert.ok(next.startsWith(base));
    const second = await call(next, { token });
    assert.equal((second.body.data as unknown[]).length, 1);
    assert.equal(second.body.links, null);
    for (
      const query of ["page[limit]=0", "page[limit]=x", "page[marker]=zz!", "page[marker]=eHg"]
    ) {
      const answer = await call(`${base}?${query}`, { token });
      assert.equal(answer.status, 422, query);
    }
    const endpoint = await call(
      `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v0.10/endpoint/${crypto.randomUUID()}`,
      { token },
    );
    assert.equal(endpoint.status, 404);
    assert.equal(endpoint.body.code, "EndpointNotFound");
    assert.equal(typeof endpoint.body.request_id, "string");
  } finally {
    await stop();
  }
});

Deno.test("GCS: lan_secrets need this endpoint's scope; no GET; secrets of stopped tunnels refused", async () => {
  const { env, emulator, stop } = await startEmulatorInProcess({
    configToml: "stop_delay_ms = 0\n",
  });
  try {
    const [siteA, siteB] = emulator.config.endpoints.map((e) => e.id);
    const transfer = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token: transfer,
      body: createBody(env),
    });
    const tunnelId = (created.body.data as { id: string }).id;
    const secrets = `${emulator.gcsManagerUrl(siteA)}/api/lan_secrets`;
    const gcs = (url: string, options: Parameters<typeof call>[1] = {}) =>
      call(url, { ...options, caPem: emulator.gcsCaPem });
    const body = {
      DATA_TYPE: "lan_secret_create#1.0.0",
      tunnel_id: tunnelId,
      stream_access_point_id: env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
    };
    const wrong = await gcs(secrets, {
      method: "POST",
      token: await clientToken(env, gcsScope(siteB)),
      body,
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, "unauthorized");
    const token = await clientToken(env, gcsScope(siteA));
    const made = await gcs(secrets, { method: "POST", token, body });
    assert.equal(made.status, 201);
    assert.equal(made.body.DATA_TYPE, "result#1.0.0");
    assert.equal(made.body.http_response_code, 201);
    const secret = (made.body.data as Record<string, unknown>[])[0];
    assert.deepEqual(Object.keys(secret).sort(), [
      "DATA_TYPE",
      "expires",
      "id",
      "identity_id",
      "secret",
      "stream_access_point_id",
      "tunnel_id",
      "username",
    ]);
    assert.equal(secret.DATA_TYPE, "lan_secret#1.0.0");
    assert.equal((await gcs(secrets, { token })).status, 405);
    const badType = await gcs(secrets, {
      method: "POST",
      token,
      body: { ...body, DATA_TYPE: "x" },
    });
    assert.equal(badType.status, 422);
    assert.match(String(badType.body.detail), /DATA_TYPE must be "lan_secret_create#1\.0\.0"/);
    await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${tunnelId}`, {
      method: "PATCH",
      token: transfer,
      body: { data: { type: "Tunnel", attributes: { state: "STOPPING" } } },
    });
    const stopped = await waitFor(
      () => gcs(secrets, { method: "POST", token, body }),
      (a) => a.status === 409,
    );
    assert.equal(stopped.status, 409);
  } finally {
    await stop();
  }
});

Deno.test("GCS stream gateways: list, get, PATCH reaches the data plane's view", async () => {
  const { env, emulator, stop } = await startEmulatorInProcess();
  try {
    const site = emulator.config.endpoints[0].id;
    const token = await clientToken(env, gcsScope(site));
    const base = `${emulator.gcsManagerUrl(site)}/api/stream_gateways`;
    const gcs = (url: string, options: Parameters<typeof call>[1] = {}) =>
      call(url, { ...options, caPem: emulator.gcsCaPem });
    const list = await gcs(base, { token });
    const gateways = list.body.data as {
      id: string;
      DATA_TYPE: string;
      lan_secret_required: boolean;
    }[];
    assert.equal(gateways.length, 1);
    assert.equal(gateways[0].DATA_TYPE, "stream_gateway#1.0.0");
    const patched = await gcs(`${base}/${gateways[0].id}`, {
      method: "PATCH",
      token,
      body: { lan_secret_required: false },
    });
    assert.equal(patched.status, 200);
    assert.equal(
      emulator.state.gatewayOf(env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP)?.lanSecretRequired,
      false,
    );
    const inUse = await gcs(`${base}/${gateways[0].id}`, { method: "DELETE", token });
    assert.equal(inUse.status, 409);
    const made = await gcs(base, {
      method: "POST",
      token,
      body: { DATA_TYPE: "stream_gateway#1.0.0", display_name: "spare" },
    });
    assert.equal(made.status, 201);
    const spare = (made.body.data as { id: string }[])[0].id;
    assert.equal((await gcs(`${base}/${spare}`, { method: "DELETE", token })).status, 200);
    assert.equal((await gcs(`${base}/${spare}`, { token })).status, 404);
    const invalid = await gcs(base, {
      method: "POST",
      token,
      body: { DATA_TYPE: "stream_gateway#1.0.0" },
    });
    assert.equal(invalid.status, 422);
  } finally {
    await stop();
  }
});

/** A plane that records what the control plane asks of it. */
function recordingPlane(fail = false) {
  const calls: string[] = [];
  let host: PlaneHost | undefined;
  const factory: AccessPointPlaneFactory = (given) => {
    host = given;
    const plane: AccessPointPlane = {
      openTunnel(tunnel: PlaneTunnel) {
        calls.push(
          `open ${tunnel.listenerIpAddress}:${tunnel.listenerPort} ${tunnel.initiatorGateway.lanSecretRequired}`,
        );
        if (fail) return Promise.reject(new Error("no port left"));
        return Promise.resolve({ host: "127.0.0.1", port: 4000 + calls.length });
      },
      updateTunnel(tunnel) {
        calls.push(`update ${tunnel.listenerIpAddress}:${tunnel.listenerPort}`);
      },
      closeTunnel(tunnelId) {
        calls.push(`close ${tunnelId.length}`);
        return Promise.resolve();
      },
      close() {
        calls.push("shutdown");
        return Promise.resolve();
      },
    };
    return plane;
  };
  return { calls, factory, host: () => host! };
}

Deno.test("the data-plane seam: open, update, close, and events the plane adds", async () => {
  const recorder = recordingPlane();
  const { env, stop } = await startEmulatorInProcess({
    config: { ...defaultEmulatorConfig(), stopDelayMs: 0 },
    plane: recorder.factory,
  });
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token,
      body: createBody(env, { listener_ip_address: "10.0.0.5", listener_port: 8888 }),
    });
    const data = created.body.data as { id: string; attributes: Record<string, unknown> };
    assert.equal(data.attributes.initiator_port, 4001);
    const url = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${data.id}`;
    // A listener contact is set once: a change is refused, the same one again passes.
    const moved = await call(url, {
      method: "PATCH",
      token,
      body: { data: { type: "Tunnel", attributes: { listener_port: 9999 } } },
    });
    assert.equal(moved.status, 409);
    const error = (moved.body.errors as { code: string; detail: string }[])[0];
    assert.equal(error.code, "Conflict");
    assert.match(error.detail, /already has listener contact 10\.0\.0\.5:8888: .*new tunnel/);
    const same = await call(url, {
      method: "PATCH",
      token,
      body: {
        data: {
          type: "Tunnel",
          attributes: { listener_ip_address: "10.0.0.5", listener_port: 8888 },
        },
      },
    });
    assert.equal(same.status, 200);
    const host = recorder.host();
    assert.equal(host.tunnel(data.id)?.listenerPort, 8888);
    host.addTunnelEvent(data.id, {
      code: "HANDSHAKE_FAILED",
      description: "A LAN connection failed the handshake",
      details: "bad proof",
      isError: true,
    });
    await call(url, {
      method: "PATCH",
      token,
      body: { data: { type: "Tunnel", attributes: { state: "STOPPING" } } },
    });
    await waitFor(
      () => call(url, { token }),
      (a) => (a.body.data as { attributes: { state: string } }).attributes.state === "STOPPED",
    );
    const events = await call(`${url}/events`, { token });
    const list = events.body.data as { attributes: { code: string; is_error: boolean } }[];
    assert.deepEqual(list.map((e) => [e.attributes.code, e.attributes.is_error]), [
      ["STARTED", false],
      ["TUNNEL_ACTIVE", false],
      ["HANDSHAKE_FAILED", true],
      ["TUNNEL_STOPPED", false],
    ]);
  } finally {
    await stop();
  }
  assert.deepEqual(recorder.calls, [
    "open 10.0.0.5:8888 true",
    "close 36",
    "shutdown",
  ]);
});

Deno.test("a plane that cannot open a tunnel stops it with an error event", async () => {
  const recorder = recordingPlane(true);
  const { env, stop } = await startEmulatorInProcess({ plane: recorder.factory });
  try {
    const token = await clientToken(env, TRANSFER_SCOPE);
    const created = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`, {
      method: "POST",
      token,
      body: createBody(env, { listener_ip_address: "127.0.0.1", listener_port: 1 }),
    });
    const data = created.body.data as { id: string; attributes: { state: string } };
    assert.equal(data.attributes.state, "STOPPED");
    const events = await call(
      `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels/${data.id}/events`,
      { token },
    );
    const list = events.body.data as {
      attributes: { code: string; details: string; is_error: boolean };
    }[];
    assert.deepEqual(list.map((e) => e.attributes.code), [
      "STARTED",
      "TUNNEL_ERROR",
      "TUNNEL_STOPPED",
    ]);
    assert.equal(list[1].attributes.details, "no port left");
  } finally {
    await stop();
  }
});

Deno.test("startEmulator: a port in use is an EmulatorError", async () => {
  const first = await startEmulator(defaultEmulatorConfig());
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(
      startEmulator(defaultEmulatorConfig(), { port }),
      (error: unknown) => {
        assert.ok(error instanceof EmulatorError);
        assert.match(error.message, new RegExp(`^Cannot listen on "127\\.0\\.0\\.1:${port}": `));
        return true;
      },
    );
  } finally {
    await first.stop();
  }
});

Deno.test("documents as the real service writes them: times, event texts, unique event ids", async () => {
  const { env, stop } = await startEmulatorInProcess({
    config: { ...defaultEmulatorConfig(), stopDelayMs: 0 },
  });
  try {
    assert.equal(env.GLOBUS_SDK_ENVIRONMENT, "emulator");
    const token = await clientToken(env, TRANSFER_SCOPE);
    const tunnels = `${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v2/tunnels`;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const created = await call(tunnels, {
        method: "POST",
        token,
        body: createBody(env, { listener_ip_address: "127.0.0.1", listener_port: 9 }),
      });
      const data = created.body.data as { id: string; attributes: { created_time: string } };
      // Transfer's own format: UTC without a zone, microseconds.
      assert.match(data.attributes.created_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      ids.push(data.id);
      await call(`${tunnels}/${data.id}`, {
        method: "PATCH",
        token,
        body: { data: { type: "Tunnel", attributes: { state: "STOPPING" } } },
      });
    }
    type Event = {
      id: number;
      attributes: { code: string; description: string; details: string; time: string };
    };
    const eventIds: number[] = [];
    for (const id of ids) {
      const stopped = await waitFor(
        () => call(`${tunnels}/${id}/events`, { token }),
        (a) => (a.body.data as Event[]).length === 3,
      );
      const events = stopped.body.data as Event[];
      assert.deepEqual(
        events.map((e) => [e.attributes.code, e.attributes.description, e.attributes.details]),
        [
          ["STARTED", "started", "Attempting tunnel establishment"],
          ["TUNNEL_ACTIVE", "tunnel is active", "Tunnel has been established"],
          ["TUNNEL_STOPPED", "tunnel has been stopped", "Tunnel stopped as requested."],
        ],
      );
      for (const event of events) {
        assert.match(event.attributes.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
        assert.ok(Number.isInteger(event.id));
        eventIds.push(event.id);
      }
    }
    assert.equal(new Set(eventIds).size, eventIds.length, `event ids repeat: ${eventIds}`);
  } finally {
    await stop();
  }
});

Deno.test("Globus Auth errors carry the errors array beside error and error_description", async () => {
  const { env, stop } = await startEmulatorInProcess();
  try {
    const auth = env.GLOBUS_SDK_SERVICE_URL_AUTH;
    const refused = await fetch(`${auth}v2/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "nope" }),
    });
    const body = await refused.json();
    assert.equal(refused.status, 400);
    assert.equal(body.error, "invalid_grant");
    assert.equal(body.errors[0].status, "400");
    assert.equal(body.errors[0].code, "INVALID_GRANT");
    assert.equal(body.errors[0].detail, body.error_description);
    const userinfo = await call(`${auth}v2/oauth2/userinfo`);
    assert.equal(userinfo.status, 401);
    const error = (userinfo.body.errors as { code: string; detail: string }[])[0];
    assert.deepEqual([error.code, error.detail], ["UNAUTHORIZED", "Call must be authenticated"]);
  } finally {
    await stop();
  }
});

Deno.test("the official CLI's login path: a client instance, a confidential code flow, a verifiable id_token", async () => {
  const { env, approvalSecret, stop } = await startEmulatorInProcess();
  try {
    const auth = env.GLOBUS_SDK_SERVICE_URL_AUTH;
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${auth}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const template = crypto.randomUUID();
    const badTemplate = await post("v2/api/clients", { client: { template_id: "x", name: "n" } });
    assert.equal(badTemplate.status, 400);
    assert.equal((await badTemplate.json()).errors[0].code, "INVALID_REQUEST");
    const registered = await post("v2/api/clients", {
      client: { template_id: template, name: "Globus CLI" },
    });
    assert.equal(registered.status, 201);
    const instance = await registered.json();
    assert.equal(instance.client.parent_client, template);
    const { client: id, secret } = instance.included.client_credential;
    assert.equal(id, instance.client.id);
    const basic = { Authorization: "Basic " + btoa(`${id}:${secret}`) };

    // A confidential client may skip PKCE; it proves its secret at the token endpoint.
    const scope = "openid profile email urn:globus:auth:scope:auth.globus.org:view_identity_set " +
      `https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer[${TRANSFER_SCOPE}]`;
    const params = new URLSearchParams({
      client_id: id,
      redirect_uri: `${auth}v2/web/auth-code`,
      scope,
      response_type: "code",
      access_type: "offline",
      state: "_default",
    });
    const approved = await fetch(`${auth}v2/oauth2/authorize?${params}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ approval_secret: approvalSecret }),
      redirect: "manual",
    });
    await approved.body?.cancel();
    assert.equal(approved.status, 302);
    const code = new URL(approved.headers.get("location")!).searchParams.get("code")!;
    const form = (values: Record<string, string>, headers: Record<string, string>) =>
      fetch(`${auth}v2/oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(values),
      });
    const exchange = {
      grant_type: "authorization_code",
      code,
      redirect_uri: `${auth}v2/web/auth-code`,
    };
    const wrongSecret = await form(exchange, {
      Authorization: "Basic " + btoa(`${id}:not-the-secret`),
    });
    assert.equal(wrongSecret.status, 401);
    await wrongSecret.body?.cancel();
    const answer = await form(exchange, basic);
    const tokens = await answer.json();
    assert.equal(answer.status, 200, JSON.stringify(tokens));
    assert.equal(tokens.resource_server, "auth.globus.org");
    assert.equal(
      tokens.scope,
      "openid profile email urn:globus:auth:scope:auth.globus.org:view_identity_set",
    );
    assert.deepEqual(tokens.other_tokens.map((t: { scope: string }) => t.scope), [
      "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer",
    ]);

    // The id_token verifies against the key the openid configuration points at.
    const oidc = await (await fetch(`${auth}.well-known/openid-configuration`)).json();
    assert.deepEqual(oidc.id_token_signing_alg_values_supported, ["RS512"]);
    const jwks = await (await fetch(oidc.jwks_uri)).json();
    const key = await crypto.subtle.importKey(
      "jwk",
      jwks.keys[0],
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
      false,
      ["verify"],
    );
    const [head, body, signature] = (tokens.id_token as string).split(".");
    const bytes = (part: string) =>
      Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    assert.ok(
      await crypto.subtle.verify(
        "RSASSA-PKCS1-v1_5",
        key,
        bytes(signature),
        new TextEncoder().encode(`${head}.${body}`),
      ),
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes(body)));
    assert.equal(claims.aud, id);
    assert.equal(claims.preferred_username, "emulated-user@example.org");

    // validate: the refresh token is this client's; userinfo lists the identity set.
    const valid = await fetch(`${auth}v2/oauth2/token/validate`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...basic },
      body: new URLSearchParams({ token: tokens.refresh_token }),
    });
    assert.deepEqual(await valid.json(), { active: true });
    const info = await call(`${auth}v2/oauth2/userinfo`, { token: tokens.access_token });
    assert.equal(
      (info.body.identity_set as { username: string }[])[0].username,
      "emulated-user@example.org",
    );

    // Deleting the instance (the CLI's logout) revokes what it holds.
    const deleted = await fetch(`${auth}v2/api/clients/${id}`, {
      method: "DELETE",
      headers: basic,
    });
    assert.equal(deleted.status, 200);
    await deleted.body?.cancel();
    assert.equal(
      (await call(`${auth}v2/oauth2/userinfo`, { token: tokens.access_token })).status,
      401,
    );
  } finally {
    await stop();
  }
});

Deno.test("GCS managers: HTTPS at their own host:port with the run's CA, GET /api/info without a token", async () => {
  const { env, emulator, stop } = await startEmulatorInProcess();
  const caFile = env.GLOBUS_SDK_VERIFY_SSL;
  try {
    assert.equal(caFile, emulator.gcsCaFile);
    assert.equal(await Deno.readTextFile(caFile), emulator.gcsCaPem);
    const urls = emulator.config.endpoints.map((e) => emulator.gcsManagerUrl(e.id));
    for (const url of urls) {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, "no path, as real ones");
    }
    assert.equal(new Set(urls).size, urls.length, "one manager per endpoint");
    const site = emulator.config.endpoints[0].id;
    const info = await call(`${urls[0]}/api/info`, { caPem: emulator.gcsCaPem });
    assert.equal(info.status, 200);
    const data = (info.body.data as Record<string, unknown>[])[0];
    assert.equal(data.DATA_TYPE, "info#1.0.0");
    assert.equal(data.client_id, site);
    assert.equal(data.endpoint_id, site);
    assert.equal(
      (await call(`${urls[0]}/api/stream_gateways`, { caPem: emulator.gcsCaPem })).status,
      401,
    );
    // Without the run's CA the certificate is not trusted.
    await assert.rejects(fetch(`${urls[0]}/api/info`), (error: Error) => {
      assert.match(String(error.cause), /certificate|UnknownIssuer/i);
      return true;
    });
    // Transfer names the same URL.
    const token = await clientToken(env, TRANSFER_SCOPE);
    const endpoint = await call(`${env.GLOBUS_SDK_SERVICE_URL_TRANSFER}v0.10/endpoint/${site}`, {
      token,
    });
    assert.equal(endpoint.body.gcs_manager_url, urls[0]);
  } finally {
    await stop();
  }
  await assert.rejects(Deno.stat(caFile), Deno.errors.NotFound, "removed at stop");
});
