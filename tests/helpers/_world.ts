// Worlds for the data-plane and helper tests: an emulator (in this process, with the
// streams data plane and its log captured) plus clients for tunnels and LAN secrets;
// small TCP apps (sinks, echo servers) and timing helpers. Everything on 127.0.0.1.
import { createHash } from "node:crypto";
import {
  defaultEmulatorConfig,
  type Emulator,
  type EmulatorConfig,
  startEmulator,
  type StreamsDataPlaneOptions,
  streamsDataPlaneWith,
} from "../../src/emulator/mod.ts";
import {
  GcsClient,
  type LanSecret,
  TransferClient,
  type Tunnel,
  type TunnelEvent,
} from "../../src/globus/mod.ts";
import { type EmulatorProcess, startEmulatorProcess } from "../_support/emulator.ts";
import { cliBin, runCliInProcess } from "../_support/cli.ts";
import {
  freePort,
  readText,
  spawnPiped,
  stopChild,
  waitFor as pollUntil,
} from "../_support/process.ts";

export { freePort };

export type Side = "initiator" | "listener";

export interface PlaneWorld {
  emulator: Emulator;
  env: Record<string, string>;
  /** Lines the data plane logged so far. */
  lines: string[];
  transfer: TransferClient;
  pointOf(side: Side): string;
  /** A tunnel between the two access points, ACTIVE with this listener contact. */
  createTunnel(listener: { host: string; port: number }): Promise<Tunnel>;
  /** Issues a LAN secret for one side of a tunnel. */
  lanSecret(tunnelId: string, side: Side, expiresInMins?: number): Promise<LanSecret>;
  deleteLanSecret(secret: LanSecret): Promise<void>;
  events(tunnelId: string): Promise<TunnelEvent[]>;
  /** Stops the tunnel and waits until it is STOPPED. */
  stopTunnel(tunnelId: string): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts an emulator in this process with the streams data plane. */
export async function startPlaneWorld(
  options: { config?: Partial<EmulatorConfig>; plane?: StreamsDataPlaneOptions } = {},
): Promise<PlaneWorld> {
  const lines: string[] = [];
  const config = { ...defaultEmulatorConfig(), stopDelayMs: 0, ...options.config };
  const emulator = await startEmulator(config, {
    plane: streamsDataPlaneWith({ ...options.plane, log: (line) => lines.push(line) }),
  });
  const env = { ...emulator.exports };
  const clientEnv = (name: string) => env[name];
  const transfer = new TransferClient({ env: clientEnv });
  const gcs = new Map<string, GcsClient>();
  const pointOf = (side: Side) =>
    side === "initiator" ? config.initiatorAccessPoint : config.listenerAccessPoint;
  const gcsOf = (side: Side) => {
    const endpoint = config.accessPoints.find((p) => p.id === pointOf(side))!.endpoint;
    let client = gcs.get(endpoint);
    if (!client) {
      client = new GcsClient(emulator.gcsManagerUrl(endpoint), endpoint, { env: clientEnv });
      gcs.set(endpoint, client);
    }
    return client;
  };
  return {
    emulator,
    env,
    lines,
    transfer,
    pointOf,
    createTunnel: (listener) =>
      transfer.createTunnel({
        initiatorAccessPointId: config.initiatorAccessPoint,
        listenerAccessPointId: config.listenerAccessPoint,
        label: "data plane test",
        listenerIpAddress: listener.host,
        listenerPort: listener.port,
      }),
    lanSecret: (tunnelId, side, expiresInMins) =>
      gcsOf(side).createLanSecret({ tunnelId, streamAccessPointId: pointOf(side), expiresInMins }),
    deleteLanSecret: (secret) =>
      gcsOf(secret.streamAccessPointId === pointOf("initiator") ? "initiator" : "listener")
        .deleteLanSecret(secret.id),
    events: async (tunnelId) => (await transfer.tunnelEvents(tunnelId)).items,
    async stopTunnel(tunnelId) {
      await transfer.updateTunnel(tunnelId, { state: "STOPPING" });
      await waitFor(async () => (await transfer.getTunnel(tunnelId)).state === "STOPPED", 5000);
    },
    [Symbol.asyncDispose]: () => emulator.stop(),
  };
}

/** Polls check (every 20 ms) until it is true; throws after ms. */
export function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what = "the condition",
): Promise<void> {
  return pollUntil(check, ms, what, 20);
}

/** Rejects when promise takes longer than ms. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Random bytes of any length (getRandomValues gives at most 64 KiB at a time). */
export function randomData(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65536)));
  }
  return bytes;
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Reads until EOF (or until ms passed: then throws). */
export async function readAll(conn: Deno.Conn, ms = 20_000): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buffer = new Uint8Array(256 * 1024);
  const deadline = Date.now() + ms;
  const timer = setTimeout(() => conn.close(), ms);
  try {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (Date.now() >= deadline) throw new Error(`no EOF within ${ms} ms`);
        if (error instanceof Deno.errors.ConnectionReset) break;
        throw error;
      }
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      size += n;
    }
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

// --- the CLI world: an emulator process and both sides initialised by the CLI -------

export interface CliWorld {
  emulator: EmulatorProcess;
  tunnelId: string;
  /** The tunnel's listener contact port (where `expose` must listen). */
  listenerPort: number;
  dirs: Record<Side, string>;
  /** The CLI's environment on one side (exports, HOME, GLOBUS_STREAMS_DIR). */
  env(side: Side): Record<string, string>;
  /** Replaces a key's value in one side's conf file. */
  editConf(side: Side, key: string, value: string): Promise<void>;
  /** The tunnel's events, through the CLI. */
  events(): Promise<{ code: string; description: string; is_error: boolean }[]>;
  root: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Emulator process, a tunnel, `environment initialize` on each side (own conf dirs). */
export async function startCliWorld(): Promise<CliWorld> {
  const emulator = await startEmulatorProcess();
  const root = await Deno.makeTempDir({ prefix: "gs-helpers-test-" });
  try {
    const home = `${root}/home`;
    await Deno.mkdir(home, { mode: 0o700 });
    const dirs = { initiator: `${root}/initiator/streams`, listener: `${root}/listener/streams` };
    const env = (side: Side) => ({ ...emulator.env, HOME: home, GLOBUS_STREAMS_DIR: dirs[side] });
    const cli = async (args: string[], side: Side) => {
      const result = await runCliInProcess(args, { env: env(side) });
      if (result.code !== 0) throw new Error(`${args.join(" ")}: ${result.code} ${result.stderr}`);
      return result.stdout;
    };
    const created = JSON.parse(
      await cli([
        "tunnel",
        "create",
        "-F",
        "json",
        "--label",
        "helpers test",
        emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
        emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      ], "initiator"),
    );
    const tunnelId: string = created.data.id;
    const listenerPort = freePort();
    await cli(
      [
        "environment",
        "initialize",
        "--listener-contact-string",
        `127.0.0.1:${listenerPort}`,
        tunnelId,
      ],
      "listener",
    );
    await cli(["environment", "initialize", tunnelId], "initiator");
    return {
      emulator,
      tunnelId,
      listenerPort,
      dirs,
      env,
      root,
      async editConf(side, key, value) {
        const path = `${dirs[side]}/${tunnelId}.conf`;
        const text = await Deno.readTextFile(path);
        const pattern = new RegExp(`^${key}=.*$`, "m");
        if (!pattern.test(text)) throw new Error(`no ${key} in ${path}`);
        await Deno.writeTextFile(path, text.replace(pattern, `${key}=${value}`));
      },
      async events() {
        // -F json prints the service's document, the events in `data`.
        type Event = { attributes: { code: string; description: string; is_error: boolean } };
        const list = JSON.parse(
          await cli(["tunnel", "events", "-F", "json", tunnelId], "initiator"),
        ) as { data: Event[] };
        return list.data.map((e) => e.attributes);
      },
      async [Symbol.asyncDispose]() {
        await emulator.stop();
        await Deno.remove(root, { recursive: true });
      },
    };
  } catch (error) {
    await emulator.stop();
    await Deno.remove(root, { recursive: true });
    throw error;
  }
}

/** A running `globus-streams` helper process. */
export interface HelperProcess {
  child: Deno.ChildProcess;
  /** Its first line on stdout. */
  firstLine: string;
  stderr(): string;
  /** SIGTERM (SIGKILL after 5 s), then the exit code. */
  stop(): Promise<number>;
}

/** Spawns bin/globus-streams with args and waits (bounded) for its first stdout line. */
export async function startHelper(
  args: string[],
  env: Record<string, string>,
): Promise<HelperProcess> {
  const child = spawnPiped(cliBin, args, { env });
  let stderr = "";
  const decoder = new TextDecoder();
  const stderrDone = readText(child.stderr, (text) => stderr += text);
  let stdout = "";
  const reader = child.stdout.getReader();
  const stop = async () => {
    const status = await stopChild(child, 5000);
    await reader.cancel().catch(() => {});
    await stderrDone.catch(() => {});
    return status.code;
  };
  const deadline = Date.now() + 20_000;
  while (!stdout.includes("\n")) {
    const timer = setTimeout(
      () => reader.cancel().catch(() => {}),
      Math.max(1, deadline - Date.now()),
    );
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    clearTimeout(timer);
    if (done) {
      await stop();
      throw new Error(`globus-streams ${args.join(" ")} printed no first line: ${stderr}`);
    }
    stdout += decoder.decode(value, { stream: true });
  }
  return { child, firstLine: stdout.slice(0, stdout.indexOf("\n")), stderr: () => stderr, stop };
}

/**
 * A real server process (python3): for each connection reads to EOF, then sends the
 * SHA-256 hex of what it read and a newline, then the bytes of downloadFile, and closes.
 */
export async function startSinkServer(root: string, downloadFile: string) {
  const script = `${root}/sink.py`;
  await Deno.writeTextFile(
    script,
    `import hashlib, socket, sys, threading
down = open(sys.argv[1], "rb").read()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(256)
print(server.getsockname()[1], flush=True)
def serve(conn):
    digest = hashlib.sha256()
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
    conn.sendall(digest.hexdigest().encode() + b"\\n" + down)
    conn.close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
`,
  );
  const child = new Deno.Command("python3", {
    args: [script, downloadFile],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(reader.read(), 10_000, "sink server start");
    if (done) throw new Error("the sink server did not start");
    text += new TextDecoder().decode(value);
  }
  return {
    port: Number(text.trim()),
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
    },
  };
}

/** Sends upload to port, half-closes, and reads everything back (to EOF). */
export async function exchange(
  port: number,
  upload: Uint8Array,
  ms = 60_000,
): Promise<{ digestLine: string; download: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const [back] = await Promise.all([
      readAll(conn, ms),
      writeAll(conn, upload).then(() => conn.closeWrite()),
    ]);
    const newline = back.indexOf(10);
    if (newline === -1) return { digestLine: "", download: back };
    return {
      digestLine: new TextDecoder().decode(back.subarray(0, newline)),
      download: back.subarray(newline + 1),
    };
  } finally {
    try {
      conn.close();
    } catch {
      // closed by readAll's timer
    }
  }
}
