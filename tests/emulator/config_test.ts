// The emulator's TOML config: defaults, a full topology, and errors that name file and key.
import assert from "node:assert/strict";
import {
  defaultEmulatorConfig,
  EmulatorError,
  loadEmulatorConfig,
  parseEmulatorConfig,
} from "../../src/emulator/mod.ts";

const E1 = "aaaaaaaa-0000-4000-8000-000000000001";
const E2 = "aaaaaaaa-0000-4000-8000-000000000002";
const G1 = "bbbbbbbb-0000-4000-8000-000000000001";
const G2 = "bbbbbbbb-0000-4000-8000-000000000002";
const P1 = "cccccccc-0000-4000-8000-000000000001";
const P2 = "cccccccc-0000-4000-8000-000000000002";
const P3 = "cccccccc-0000-4000-8000-000000000003";

export const THREE_POINTS = `
minute_ms = 100
activation_delay_ms = 5
initiator_access_point = "${P2}"
listener_access_point = "${P3}"

[[users]]
id = "dddddddd-0000-4000-8000-000000000001"
username = "alice@example.org"

[[clients]]
id = "eeeeeeee-0000-4000-8000-000000000001"
secret = "a-fixed-secret"

[[endpoints]]
id = "${E1}"
display_name = "One"
admins = ["dddddddd-0000-4000-8000-000000000001"]

[[endpoints]]
id = "${E2}"
display_name = "Two"

[[gateways]]
id = "${G1}"
endpoint = "${E1}"
display_name = "Gateway one"
lan_secret_required = false

[[gateways]]
id = "${G2}"
endpoint = "${E2}"
display_name = "Gateway two"

[[access_points]]
id = "${P1}"
endpoint = "${E1}"
gateway = "${G1}"
display_name = "Point one"

[[access_points]]
id = "${P2}"
endpoint = "${E1}"
gateway = "${G1}"
display_name = "Point two"
lan_host = "127.0.0.2"
organization = "Org"

[[access_points]]
id = "${P3}"
endpoint = "${E2}"
gateway = "${G2}"
display_name = "Point three"
`;

function refused(text: string, pattern: RegExp): void {
  assert.throws(() => parseEmulatorConfig(text, "site.toml"), (error: unknown) => {
    assert.ok(error instanceof EmulatorError);
    assert.ok(!error.message.includes("\n"));
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("the default topology: two sites, one access point and gateway each", () => {
  const config = defaultEmulatorConfig();
  assert.equal(config.endpoints.length, 2);
  assert.equal(config.accessPoints.length, 2);
  assert.ok(config.gateways.every((g) => g.lanSecretRequired));
  assert.equal(config.initiatorAccessPoint, config.accessPoints[0].id);
  assert.equal(config.listenerAccessPoint, config.accessPoints[1].id);
  assert.equal(config.minuteMs, 60_000);
  assert.equal(config.activationDelayMs, 0);
  assert.notEqual(defaultEmulatorConfig().clients[0].secret, config.clients[0].secret);
});

Deno.test("timing alone keeps the default topology", () => {
  const config = parseEmulatorConfig("minute_ms = 10\nactivation_delay_ms = 200\n", "t.toml");
  assert.equal(config.minuteMs, 10);
  assert.equal(config.activationDelayMs, 200);
  assert.equal(config.accessPoints.length, 2);
});

Deno.test("a full topology is read, with defaults for what it leaves out", () => {
  const config = parseEmulatorConfig(THREE_POINTS, "site.toml");
  assert.equal(config.accessPoints.length, 3);
  assert.equal(config.initiatorAccessPoint, P2);
  assert.equal(config.accessPoints[1].lanHost, "127.0.0.2");
  assert.equal(config.accessPoints[1].attributes.organization, "Org");
  assert.equal(config.accessPoints[0].attributes.organization, null);
  assert.equal(config.gateways[0].lanSecretRequired, false);
  assert.equal(config.gateways[1].lanSecretRequired, true);
  assert.equal(config.clients[0].secret, "a-fixed-secret");
  assert.equal(config.users[0].name, "alice@example.org");
  assert.deepEqual(config.endpoints[1].admins, []);
});

Deno.test("config errors name the file and the key", () => {
  refused("minute_ms = 'fast'", /^Cannot use emulator config "site\.toml": minute_ms: /);
  refused("minute_ms = 0", /minute_ms: Too small/);
  refused("speed = 3", /"site\.toml": \(top level\): Unrecognized key: "speed"/);
  refused("minute_ms = = 3", /"site\.toml": not TOML: /);
  refused(
    THREE_POINTS.replace(`id = "${P3}"`, 'id = "not-a-uuid"'),
    /access_points\[2\]\.id: want a UUID/,
  );
  refused(
    THREE_POINTS.replace(`gateway = "${G2}"`, `gateway = "${G1}"`),
    /access_points\[2\]\.gateway: gateway "bbbbbbbb-0000-4000-8000-000000000001" belongs to endpoint "aaaaaaaa-0000-4000-8000-000000000001", not "aaaaaaaa-0000-4000-8000-000000000002"/,
  );
  refused(
    THREE_POINTS.replace(
      `endpoint = "${E2}"\ndisplay_name = "Gateway two"`,
      `endpoint = "${P1}"\ndisplay_name = "Gateway two"`,
    ),
    /gateways\[1\]\.endpoint: unknown endpoint/,
  );
  refused(
    THREE_POINTS.replace(`listener_access_point = "${P3}"`, `listener_access_point = "${G1}"`),
    /listener_access_point: unknown access point/,
  );
  refused(
    THREE_POINTS.replace(`id = "${P2}"`, `id = "${P1}"`),
    /access_points\[1\]\.id: duplicate id/,
  );
  refused(
    `[[endpoints]]\nid = "${E1}"\ndisplay_name = "x"\n`,
    /gateways: missing \(endpoints, gateways and access_points come together\)/,
  );
  refused(
    THREE_POINTS.replace('display_name = "Point one"', 'display_name = "Point one"\nport = 4'),
    /access_points\[0\]: Unrecognized key: "port"/,
  );
});

Deno.test("loadEmulatorConfig names a missing file", async () => {
  await assert.rejects(loadEmulatorConfig("/nonexistent/emulator.toml"), (error: unknown) => {
    assert.ok(error instanceof EmulatorError);
    assert.match(error.message, /^Cannot read emulator config "\/nonexistent\/emulator\.toml": /);
    return true;
  });
});

Deno.test("the example in docs/emulator.md is a valid config", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/emulator.md", import.meta.url));
  const example = /```toml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, "docs/emulator.md has a toml block");
  const config = parseEmulatorConfig(example, "docs/emulator.md");
  assert.equal(config.accessPoints.length, 2);
  assert.equal(config.clients[0].secret, "a-long-secret");
  assert.equal(config.gateways[1].lanSecretRequired, false);
});
