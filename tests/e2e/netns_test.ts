// Two hosts that cannot reach each other, joined only by the tunnel. The test makes three
// network namespaces with veth links, all on private addresses that exist only inside
// them:
//
//   initiating host  10.250.1.1/30 --- 10.250.1.2/30  access points  10.250.2.1/30 --- 10.250.2.2/30  listening host
//   (the client)                      (the emulator: both access points, the API)                    (the server)
//
// The emulator runs in the middle namespace, which has a link to each host and does not
// forward packets; each access point's lan_host is its address on its host's link, and
// its API listens on both links (each host's CLI uses the near address). The initiating
// host has no route to the listening host: a direct connection fails with
// ENETUNREACH; the same programs under globus-streams-launch get through.
// Needs root and `ip netns`; skipped, with the reason in its name, otherwise.
import assert from "node:assert/strict";
import {
  buildReleaseLibrary,
  cliBin,
  emulatorLine,
  fixtures,
  lastJson,
  launcher,
  onPath,
  type Proc,
  pythonExe,
  run,
  type RunResult,
  spawn,
} from "./_support.ts";
import { parseEnvFile } from "../_support/emulator.ts";

const prefix = `gs${Deno.pid}`;
const hosts = {
  initiator: { ns: `${prefix}ih`, address: "10.250.1.1" },
  router: { ns: `${prefix}ap`, toInitiator: "10.250.1.2", toListener: "10.250.2.1" },
  listener: { ns: `${prefix}lh`, address: "10.250.2.2" },
};
const apiPort = 8700;
const appPort = 8080;

async function ip(args: string[]): Promise<RunResult> {
  return await run("ip", args, { timeoutMs: 10_000 });
}

async function mustIp(args: string[]): Promise<void> {
  const result = await ip(args);
  if (result.code !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr.trim()}`);
}

/** Why the test cannot run here, or undefined when it can (checked at load time). */
async function unavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "needs root to make network namespaces";
  if (!(await onPath("ip"))) return "needs ip(8) from iproute2";
  const probe = [`${prefix}p1`, `${prefix}p2`];
  try {
    for (const ns of probe) await mustIp(["netns", "add", ns]);
    await mustIp([
      "-n",
      probe[0],
      "link",
      "add",
      "name",
      "probe0",
      "type",
      "veth",
      "peer",
      "name",
      "probe1",
      "netns",
      probe[1],
    ]);
    return undefined;
  } catch (error) {
    return `cannot make namespaces and veth links: ${(error as Error).message}`;
  } finally {
    for (const ns of probe) await ip(["netns", "del", ns]).catch(() => {});
  }
}

const reason = await unavailable();

/** Three namespaces, two veth links, no forwarding, no default routes. */
async function makeNetwork(): Promise<void> {
  for (const { ns } of Object.values(hosts)) {
    await mustIp(["netns", "add", ns]);
    await mustIp(["-n", ns, "link", "set", "lo", "up"]);
  }
  const links: [string, string, string, string][] = [
    [hosts.initiator.ns, hosts.initiator.address, hosts.router.ns, hosts.router.toInitiator],
    [hosts.listener.ns, hosts.listener.address, hosts.router.ns, hosts.router.toListener],
  ];
  for (const [index, [hostNs, hostAddress, routerNs, routerAddress]] of links.entries()) {
    const routerEnd = `ap${index}`;
    await mustIp([
      "-n",
      hostNs,
      "link",
      "add",
      "name",
      "lan0",
      "type",
      "veth",
      "peer",
      "name",
      routerEnd,
      "netns",
      routerNs,
    ]);
    await mustIp(["-n", hostNs, "addr", "add", `${hostAddress}/30`, "dev", "lan0"]);
    await mustIp(["-n", routerNs, "addr", "add", `${routerAddress}/30`, "dev", routerEnd]);
    await mustIp(["-n", hostNs, "link", "set", "lan0", "up"]);
    await mustIp(["-n", routerNs, "link", "set", routerEnd, "up"]);
  }
}

async function removeNetwork(): Promise<void> {
  for (const { ns } of Object.values(hosts)) await ip(["netns", "del", ns]).catch(() => {});
}

const clientId = "d4258783-eb0a-4b56-8e58-fd103038cc55";
const initiatorPoint = "45a32dca-d28e-4efc-aae3-d142aac27a02";
const listenerPoint = "11314cd2-5139-4275-9f3c-cea5774ebfe8";

/** Both access points in the router namespace, each on its host's link. */
function emulatorToml(): string {
  const secret = crypto.randomUUID();
  return `
initiator_access_point = "${initiatorPoint}"
listener_access_point = "${listenerPoint}"

[[clients]]
id = "${clientId}"
secret = "${secret}"
display_name = "netns test"

[[endpoints]]
id = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
display_name = "Initiating site"
admins = ["${clientId}"]

[[endpoints]]
id = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
display_name = "Listening site"
admins = ["${clientId}"]

[[gateways]]
id = "d587e953-cb44-4d95-bc66-d7cba1b38121"
endpoint = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
display_name = "Initiating gateway"
lan_secret_required = true

[[gateways]]
id = "316e3017-b4e3-43eb-9177-052bb0f761b9"
endpoint = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
display_name = "Listening gateway"
lan_secret_required = true

[[access_points]]
id = "${initiatorPoint}"
endpoint = "bc430fc2-352e-47b3-aab3-38dd44141b4d"
gateway = "d587e953-cb44-4d95-bc66-d7cba1b38121"
display_name = "Initiating access point"
lan_host = "${hosts.router.toInitiator}"

[[access_points]]
id = "${listenerPoint}"
endpoint = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6"
gateway = "316e3017-b4e3-43eb-9177-052bb0f761b9"
display_name = "Listening access point"
lan_host = "${hosts.router.toListener}"
`;
}

/** Waits (bounded) for the emulator's env file. */
async function readEnvFile(path: string, emulator: Proc): Promise<Record<string, string>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return parseEnvFile(await Deno.readTextFile(path));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (Date.now() > deadline) {
      throw new Error(`the emulator wrote no env file in 30 s: ${emulator.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test({
  name: `a host with no route to the listening host reaches it through the tunnel${
    reason ? ` [skipped: ${reason}]` : ""
  }`,
  ignore: reason !== undefined,
}, async () => {
  const lib = await buildReleaseLibrary();
  const python = await pythonExe();
  const root = await Deno.makeTempDir({ prefix: "gs-netns-" });
  const processes: Proc[] = [];
  try {
    await makeNetwork();
    await Deno.writeTextFile(`${root}/emulator.toml`, emulatorToml());
    const emulator = spawn("ip", [
      "netns",
      "exec",
      hosts.router.ns,
      cliBin,
      "emulator",
      "--listen",
      `0.0.0.0:${apiPort}`,
      // The services must be reached from the other namespaces: meant, so said.
      "--allow-remote",
      "--config",
      `${root}/emulator.toml`,
      "--env-file",
      `${root}/emulator.env`,
    ]);
    processes.push(emulator);
    const exports = await readEnvFile(`${root}/emulator.env`, emulator);

    // Each host talks to the API on the router's address on its own link.
    const sides = {
      initiator: { ns: hosts.initiator.ns, api: hosts.router.toInitiator },
      listener: { ns: hosts.listener.ns, api: hosts.router.toListener },
    };
    type Side = keyof typeof sides;
    const envOf = (side: Side): Record<string, string> => {
      const base = `http://${sides[side].api}:${apiPort}/`;
      return {
        ...exports,
        GLOBUS_SDK_SERVICE_URL_AUTH: `${base}auth/`,
        GLOBUS_SDK_SERVICE_URL_TRANSFER: `${base}transfer/`,
        HOME: `${root}/${side}/home`,
        GLOBUS_STREAMS_DIR: `${root}/${side}/streams`,
        GLOBUS_STREAMS_LIB: lib,
        GLOBUS_STREAMS_BIN: cliBin,
        GLOBUS_STREAMS_DEBUG: "1",
      };
    };
    for (const side of Object.keys(sides) as Side[]) {
      await Deno.mkdir(`${root}/${side}/home`, { recursive: true, mode: 0o700 });
    }
    const inNs = (side: Side, command: string[], timeoutMs = 30_000) =>
      run("ip", ["netns", "exec", sides[side].ns, ...command], { env: envOf(side), timeoutMs });
    const cli = async (side: Side, args: string[]) => {
      const result = await inNs(side, [cliBin, ...args]);
      assert.equal(result.code, 0, `globus-streams ${args.join(" ")}: ${result.stderr}`);
      return result.stdout;
    };

    const created = JSON.parse(
      await cli("initiator", ["tunnel", "create", "-F", "json", initiatorPoint, listenerPoint]),
    );
    const tunnelId: string = created.data.id;
    const listenerContact = `${hosts.listener.address}:${appPort}`;
    await cli("listener", [
      "environment",
      "initialize",
      "--listener-contact-string",
      listenerContact,
      tunnelId,
    ]);
    const initiated = await cli("initiator", ["environment", "initialize", tunnelId]);
    // Both gateways require LAN secrets: each side got one from its GCS manager (over
    // TLS, reached at the address the side reaches Transfer at), else the legs are plain.
    for (const side of ["initiator", "listener"]) {
      assert.match(
        await Deno.readTextFile(`${root}/${side}/streams/${tunnelId}.conf`),
        /^lankey=/m,
        `${side}: no LAN secret in its conf`,
      );
    }
    const contact = /^Your contact string is: (globus\.[0-9a-f-]{36}:\d+)$/m.exec(initiated)?.[1];
    assert.ok(contact, initiated);
    assert.match(
      await Deno.readTextFile(`${root}/initiator/streams/${tunnelId}.conf`),
      new RegExp(
        `^connector_contact_string=${hosts.router.toInitiator.replaceAll(".", "\\.")}:`,
        "m",
      ),
    );

    // The listening host serves a page on its own address, under the launcher.
    const www = `${root}/www`;
    await Deno.mkdir(www);
    await Deno.writeTextFile(`${www}/hello.txt`, "hello from the listening host\n");
    const server = spawn("ip", [
      "netns",
      "exec",
      hosts.listener.ns,
      launcher,
      "-p",
      String(appPort),
      tunnelId,
      python,
      "-u",
      "-m",
      "http.server",
      "--bind",
      hosts.listener.address,
      "--directory",
      www,
      String(appPort),
    ], { env: envOf("listener") });
    processes.push(server);
    await server.waitForLine(/^Serving HTTP on /);

    // (a) Directly, the initiating host cannot reach the listening host at all.
    const route = await ip(["-n", hosts.initiator.ns, "route", "get", hosts.listener.address]);
    assert.notEqual(route.code, 0, route.stdout);
    assert.match(route.stderr, /Network is unreachable/);
    const direct = await inNs("initiator", [
      python,
      `${fixtures}echo_client.py`,
      hosts.listener.address,
      String(appPort),
      "16",
    ]);
    assert.equal(lastJson(direct).errno, 101, "ENETUNREACH");
    const url = `http://${listenerContact}/hello.txt`;
    const directCurl = await inNs("initiator", ["curl", "-sS", "--max-time", "5", url]);
    assert.equal(directCurl.code, 7, `curl: ${directCurl.stdout}${directCurl.stderr}`);

    // (b) Through the tunnel: by its contact string, and by the listener's own address.
    for (const target of [`http://${contact}/hello.txt`, url]) {
      const fetched = await inNs("initiator", [
        launcher,
        tunnelId,
        "curl",
        "-sS",
        "--max-time",
        "20",
        target,
      ]);
      assert.equal(fetched.code, 0, `${target}: ${fetched.stderr}`);
      assert.equal(fetched.stdout, "hello from the listening host\n");
      assert.match(
        fetched.stderr,
        new RegExp(`\\[connect\\] .* -> 10\\.250\\.1\\.2:\\d+ \\(tunnel ${tunnelId}, gsa1 ok\\)`),
      );
    }
    // The server saw both requests come from the listening access point's address.
    const served = await server.stop();
    const requests = served.stderr.split("\n").filter((l) => l.includes('"GET /hello.txt'));
    assert.equal(requests.length, 2, served.stderr);
    for (const line of requests) assert.match(line, /^10\.250\.2\.1 - - /);
    assert.equal(
      (served.stderr.match(/\[accept\] 10\.250\.2\.1:\d+ .*gsa1 ok\)/g) ?? []).length,
      2,
    );
    // And the emulator logged both streams at each access point, leg 3 to that contact.
    const short = `tunnel ${tunnelId.slice(0, 8)}\\.\\.`;
    const listenerText = listenerContact.replaceAll(".", "\\.");
    for (const stream of [1, 2]) {
      await emulatorLine(
        emulator.stderr,
        new RegExp(`^\\[ap initiating\\] ${short}: stream ${stream} closed: lan gsa1 ok, wan ok, `),
      );
      await emulatorLine(
        emulator.stderr,
        new RegExp(
          `^\\[ap listening\\] ${short}: stream ${stream} closed: wan gsa1 ok, ` +
            `listener "${listenerText}" gsa1 ok, `,
        ),
      );
    }
  } finally {
    for (const process of processes.reverse()) await process.stop();
    await removeNetwork();
    await Deno.remove(root, { recursive: true });
  }
});
