// Odd but plausible documents (tests/globus/_odd_documents.ts) through the real clients
// from a real local HTTP server: unknown states, codes and fields are kept as sent, host
// names where addresses were expected too, and one record that cannot be read is kept
// with its note without hiding the others. What a command acts on stays checked.
import assert from "node:assert/strict";
import { GcsClient, GlobusApiError, TransferClient } from "../../src/globus/mod.ts";
import {
  ACTIVE_TUNNEL,
  BARE_POINT,
  BARE_TUNNEL,
  BROKEN_POINT,
  BROKEN_TUNNEL,
  ENDPOINT,
  ERROR_TUNNEL,
  ODD_POINT,
  startOddService,
} from "./_odd_documents.ts";
import { envOf, jsonResponse, startTinyService, tunnelDocument } from "./_service.ts";

function clientOf(env: Record<string, string>): TransferClient {
  return new TransferClient({ env: envOf(env), retryBaseMs: 1 });
}

Deno.test("tunnels: an unknown state, host names and extra fields are kept; one bad record is noted", async () => {
  const service = startOddService();
  try {
    const client = clientOf(service.env);
    const listing = await client.listTunnels();
    assert.deepEqual(listing.items.map((t) => t.id), [ERROR_TUNNEL, ACTIVE_TUNNEL, BARE_TUNNEL]);
    const [odd, active, bare] = listing.items;
    assert.equal(odd.state, "ERROR");
    assert.equal(odd.initiatorIpAddress, "ap1.site-a.example.org");
    assert.equal(odd.listenerIpAddress, "db.site-b.example.org");
    assert.deepEqual(odd.extra, { error_count: 3 });
    assert.equal(active.state, "ACTIVE");
    assert.equal(active.initiatorIpAddress, "10.0.0.7");
    // Optional fields missing: null, and the service's default for restartable.
    assert.deepEqual(
      [bare.label, bare.status, bare.submissionId, bare.ownerId, bare.initiatorPort],
      [null, null, null, null, null],
    );
    assert.equal(bare.restartable, false);

    // The unreadable record: third of the list (first of page 2), kept whole, noted.
    assert.equal(listing.unreadable.length, 1);
    const [broken] = listing.unreadable;
    assert.equal(broken.index, 2);
    assert.equal(broken.id, BROKEN_TUNNEL);
    assert.equal((broken.document as { id: string }).id, BROKEN_TUNNEL);
    assert.match(
      broken.note,
      new RegExp(
        `^Transfer sent tunnel 3 of the list \\(id "${BROKEN_TUNNEL}"\\) in a form this program cannot read: attributes\\.lifetime_mins: .*expected number`,
      ),
    );

    // onDocument sees every record as sent, the unreadable one too.
    const seen: unknown[] = [];
    await client.listTunnels({ onDocument: (doc) => seen.push(doc) });
    assert.equal(seen.length, 4);

    const one = await client.getTunnel(ERROR_TUNNEL);
    assert.deepEqual([one.state, one.initiatorIpAddress, one.initiatorPort], [
      "ERROR",
      "ap1.site-a.example.org",
      50123,
    ]);
    // A single tunnel that cannot be read is still an error: there is nothing to show.
    const error = await client.getTunnel(BROKEN_TUNNEL).catch((e) => e);
    assert.ok(error instanceof GlobusApiError);
    assert.equal(error.kind, "malformed");
    assert.match(error.message, /data\.attributes\.lifetime_mins/);
  } finally {
    await service.stop();
  }
});

Deno.test("events: unknown codes, object details, missing fields and extras kept; one bad event noted", async () => {
  const service = startOddService();
  try {
    const listing = await clientOf(service.env).tunnelEvents(ACTIVE_TUNNEL);
    assert.deepEqual(listing.items, [
      {
        id: 2768,
        code: "STARTED",
        isError: false,
        description: "started",
        details: "Attempting tunnel establishment",
        time: "2026-02-12T21:59:01.857473",
        extra: {},
      },
      {
        id: 2769,
        code: "LISTENER_UNREACHABLE",
        isError: true,
        description: "listener is unreachable",
        details: '{"errno":113,"text":"No route to host"}',
        time: "2026-02-12T21:59:02.876253",
        extra: { severity: "high" },
      },
      {
        id: 2770,
        code: "RETRYING",
        isError: null,
        description: "",
        details: "",
        time: "2026-02-12T21:59:12.000001",
        extra: {},
      },
    ]);
    assert.equal(listing.unreadable.length, 1);
    assert.match(
      listing.unreadable[0].note,
      /^Transfer sent event 4 of the list \(id "2771"\) in a form this program cannot read: attributes\.is_error: /,
    );
  } finally {
    await service.stop();
  }
});

Deno.test("access points: unknown attributes pass as text, missing ones are absent; one bad record noted", async () => {
  const service = startOddService();
  try {
    const client = clientOf(service.env);
    const listing = await client.listAccessPoints();
    assert.deepEqual(listing.items.map((p) => p.id), [ODD_POINT, BARE_POINT]);
    const [odd, bare] = listing.items;
    assert.equal(odd.stream_gateway_id, "c0ffee00-0000-4000-8000-000000000001");
    assert.equal(odd.keywords, "beta,streams");
    assert.equal(odd.hostEndpointId, ENDPOINT);
    assert.equal(bare.tlsftpServer, null);
    assert.equal(bare.description, undefined);
    assert.equal(listing.unreadable.length, 1);
    assert.equal(listing.unreadable[0].id, BROKEN_POINT);
    assert.match(listing.unreadable[0].note, /stream access point 2 of the list.*display_name/);
    assert.equal((await client.getAccessPoint(ODD_POINT)).displayName, "Site A (beta)");
  } finally {
    await service.stop();
  }
});

Deno.test("GCS: gateways with unknown fields or missing ones kept, one bad noted; a LAN secret beside another document", async () => {
  const service = startOddService();
  try {
    const url = await clientOf(service.env).gcsManagerUrl(ENDPOINT);
    const gcs = new GcsClient(url, ENDPOINT, { env: envOf(service.env), retryBaseMs: 1 });
    const listing = await gcs.listStreamGateways();
    assert.deepEqual(listing.items.map((g) => g.displayName), ["gateway one", "gateway two"]);
    assert.deepEqual(listing.items[0].extra, {
      users_allow: ["alice"],
      authentication_timeout_mins: 15,
    });
    assert.deepEqual(
      [listing.items[1].lanSecretRequired, listing.items[1].lanName, listing.items[1].tlsftpUrl],
      [null, null, null],
    );
    assert.equal(listing.unreadable.length, 1);
    assert.match(listing.unreadable[0].note, /stream gateway 3 of the list \(id "3"\).*id: /);

    const secret = await gcs.createLanSecret({
      tunnelId: ACTIVE_TUNNEL,
      streamAccessPointId: "45a32dca-d28e-4efc-aae3-d142aac27a02",
    });
    assert.equal(secret.secret, "s3cr3t-value");
    assert.equal(secret.id, "e5f6a7b8-0000-4000-8000-000000000001");
  } finally {
    await service.stop();
  }
});

Deno.test("what a command acts on stays checked: a LAN secret the conf file cannot hold is refused", async () => {
  const service = startTinyService((_request, path) =>
    path.endsWith("/lan_secrets")
      ? jsonResponse(201, {
        DATA_TYPE: "result#1.0.0",
        data: [{
          DATA_TYPE: "lan_secret#1.0.0",
          id: "e5f6a7b8-0000-4000-8000-000000000001",
          secret: "two words",
          expires: 1,
          tunnel_id: "t",
          stream_access_point_id: "s",
        }],
      })
      : jsonResponse(200, tunnelDocument())
  );
  try {
    const gcs = new GcsClient(`${service.url}gcs`, ENDPOINT, {
      env: envOf(service.env),
      retryBaseMs: 1,
    });
    const error = await gcs.createLanSecret({
      tunnelId: ACTIVE_TUNNEL,
      streamAccessPointId: "45a32dca-d28e-4efc-aae3-d142aac27a02",
    }).catch((e) => e);
    assert.ok(error instanceof GlobusApiError);
    assert.equal(error.kind, "malformed");
    assert.match(error.message, /data\.0\.secret: want visible ASCII/);
  } finally {
    await service.stop();
  }
});
