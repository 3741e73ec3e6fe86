// `./dev demo`: the whole user's path on one machine, in under a minute.
// The emulator stands in for Globus; two conf directories stand in for two sites.
// A small HTTP server runs under the launcher on the listening side, and curl, under
// the launcher on the initiating side, fetches a page from it through the tunnel.

import { freePort, stopChild } from "./_support/process.ts";

const root = new URL("..", import.meta.url).pathname;
const bin = `${root}bin`;
const decoder = new TextDecoder();
const children: Deno.ChildProcess[] = [];
let workDir = "";

function say(text: string): void {
  console.log(`\x1b[1m==> ${text}\x1b[0m`);
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((line) => `    ${line}`).join("\n");
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(cmd, { args, env, stdin: "null" }).output();
  const stdout = decoder.decode(output.stdout);
  const stderr = decoder.decode(output.stderr);
  if (output.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${output.code}):\n${stderr}${stdout}`);
  }
  return { stdout, stderr };
}

function spawn(cmd: string, args: string[], env: Record<string, string>) {
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  children.push(child);
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([collect(child.stdout), collect(child.stderr)]);
  return { child, output: () => output, done };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function demo(): Promise<void> {
  workDir = await Deno.makeTempDir({ prefix: "globus-streams-demo-" });

  say("Building the preload library (lib/libglobus_streams_client.so.0)");
  await run(`${root}.tools/bin/zig`, [
    "build",
    "--build-file",
    `${root}native/build.zig`,
    "--prefix",
    root,
    "-Doptimize=ReleaseSafe",
  ]);

  say("Starting the emulator: Globus Auth, Transfer, GCS and two access points on loopback");
  const envFile = `${workDir}/emulator.env`;
  const emulator = spawn(`${bin}/globus-streams`, ["emulator", "--env-file", envFile], {});
  const exportsText = await waitFor("the emulator's env file", async () => {
    try {
      return await Deno.readTextFile(envFile);
    } catch {
      return undefined;
    }
  });
  console.log(indent(exportsText));
  const service: Record<string, string> = {};
  for (const match of exportsText.matchAll(/^export ([A-Z_0-9]+)=(.*)$/gm)) {
    service[match[1]] = match[2].replace(/^'(.*)'$/, "$1");
  }
  const listenerEnv = { ...service, GLOBUS_STREAMS_DIR: `${workDir}/listening-site` };
  const initiatorEnv = { ...service, GLOBUS_STREAMS_DIR: `${workDir}/initiating-site` };

  say("Creating a tunnel between the two access points");
  const created = await run(`${bin}/globus-streams`, [
    "tunnel",
    "create",
    service.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
    service.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
    "--label",
    "demo",
    "-F",
    "json",
  ], service);
  const tunnelId: string = JSON.parse(created.stdout).data.id;
  console.log(`    tunnel ${tunnelId}`);

  const port = freePort();
  say(`Listening site: initialize with the listener contact 127.0.0.1:${port}`);
  const listening = await run(`${bin}/globus-streams`, [
    "environment",
    "initialize",
    "--listener-contact-string",
    `127.0.0.1:${port}`,
    tunnelId,
  ], listenerEnv);
  console.log(indent(listening.stdout + listening.stderr));

  say(`Listening site: an HTTP server under the launcher (globus-streams-launch -p ${port})`);
  const site = `${workDir}/www`;
  await Deno.mkdir(site);
  await Deno.writeTextFile(
    `${site}/index.html`,
    "<h1>Hello from the listening site</h1>\n<p>This page crossed a Globus Streams tunnel.</p>\n",
  );
  const server = spawn(`${bin}/globus-streams-launch`, [
    "-p",
    String(port),
    tunnelId,
    "python3",
    "-m",
    "http.server",
    String(port),
    "--bind",
    "127.0.0.1",
    "--directory",
    site,
  ], listenerEnv);
  await waitFor("the HTTP server", async () => {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    } catch {
      return undefined;
    }
  });

  say("Initiating site: initialize, which prints the contact string");
  const initiating = await run(`${bin}/globus-streams`, [
    "environment",
    "initialize",
    tunnelId,
  ], initiatorEnv);
  console.log(indent(initiating.stdout + initiating.stderr));
  const contact = /Your contact string is: (globus\.[0-9a-f-]+):(\d+)/.exec(initiating.stdout);
  if (!contact) throw new Error("initialize printed no contact string");

  const url = `http://${contact[1]}:${contact[2]}/`;
  say(`Initiating site: globus-streams-launch ${tunnelId} curl ${url}`);
  const fetched = await run(`${bin}/globus-streams-launch`, [
    tunnelId,
    "curl",
    "--silent",
    "--show-error",
    "--max-time",
    "20",
    url,
  ], { ...initiatorEnv, GLOBUS_STREAMS_DEBUG: "1" });
  console.log(indent(fetched.stdout));
  console.log(indent(fetched.stderr));
  if (!fetched.stdout.includes("crossed a Globus Streams tunnel")) {
    throw new Error("curl did not get the page through the tunnel");
  }

  say("What each leg did (the emulator's access points, and the server's log)");
  const events = await run(`${bin}/globus-streams`, ["tunnel", "events", tunnelId], service);
  console.log(indent(events.stdout));
  const legLines = emulator.output().split("\n").filter((line) => line.includes("stream"));
  if (legLines.length > 0) console.log(indent(legLines.join("\n")));
  const serverLines = server.output().split("\n").filter((line) => line.includes("GET"));
  if (serverLines.length > 0) console.log(indent(serverLines.join("\n")));

  say("Cleaning up: stop the tunnel, end the server and the emulator");
  await run(`${bin}/globus-streams`, ["tunnel", "stop", tunnelId], service);
}

async function cleanUp(): Promise<void> {
  for (const child of children.reverse()) await stopChild(child, 5_000);
  if (workDir) await Deno.remove(workDir, { recursive: true }).catch(() => {});
}

let failed = false;
try {
  const started = Date.now();
  await demo();
  say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  failed = true;
  console.error(`demo failed: ${error instanceof Error ? error.message : error}`);
} finally {
  await cleanUp();
}
Deno.exit(failed ? 1 : 0);
