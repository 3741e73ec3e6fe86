// The world the fault tests run in: an emulator process, a proxy in front of its Transfer
// API that counts (and can slow down) GETs of single tunnels, a temp HOME and one conf
// directory per side of a tunnel, and CLI processes the test can kill.
import { ConfStore } from "../../src/conf/mod.ts";
import { TransferClient } from "../../src/globus/mod.ts";
import { cliBin, runCliInProcess } from "../_support/cli.ts";
import { type EmulatorProcess, startEmulatorProcess } from "../_support/emulator.ts";

export type Side = "listener" | "initiator";

/** Calls the test wants from the proxy. */
export interface Hooks {
  /** A GET of /v2/tunnels/<id> arrived (before it is held and forwarded). */
  tunnelGet?: (tunnelId: string) => void;
}

export interface World {
  hooks: Hooks;
  emulator: EmulatorProcess;
  /** The emulator's exports, with Transfer behind the proxy. */
  exports: Record<string, string>;
  root: string;
  dirs: Record<Side, string>;
  stores: Record<Side, ConfStore>;
  /** The CLI's environment on one side (exports, HOME, GLOBUS_STREAMS_DIR), plus extra. */
  env(side: Side, extra?: Record<string, string>): Record<string, string>;
  transfer: TransferClient;
  /** A tunnel with the listening side initialized (ACTIVE), and optionally the initiating side. */
  initializedTunnel(options?: { initiator?: boolean; ttl?: number }): Promise<string>;
  /** A tunnel nobody initialized (AWAITING_LISTENER). */
  bareTunnel(): Promise<string>;
  /** GETs of /v2/tunnels/<id> that reached the proxy. */
  tunnelGets(tunnelId: string): number;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A local TCP port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Forwards to target; counts GETs of single tunnels and holds them delayMs first. */
function proxy(target: string, delayMs: number, hooks: Hooks) {
  const counts = new Map<string, number>();
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const match = /\/v2\/tunnels\/([0-9a-f-]{36})$/.exec(url.pathname);
      if (request.method === "GET" && match) {
        counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
        hooks.tunnelGet?.(match[1]);
        if (delayMs > 0) await sleep(delayMs);
      }
      const body = request.method === "GET" || request.method === "HEAD"
        ? undefined
        : await request.arrayBuffer();
      try {
        const answer = await fetch(new URL(url.pathname + url.search, target), {
          method: request.method,
          headers: request.headers,
          body,
        });
        return new Response(answer.body, { status: answer.status, headers: answer.headers });
      } catch {
        return new Response("proxy: the emulator is gone", { status: 502 });
      }
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    counts,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}

/** Starts the emulator process, the proxy and the directories. */
export async function startWorld(options: { tunnelDelayMs?: number } = {}): Promise<World> {
  const emulator = await startEmulatorProcess();
  const target = emulator.env.GLOBUS_SDK_SERVICE_URL_TRANSFER.replace(/transfer\/$/, "");
  const hooks: Hooks = {};
  const front = proxy(target, options.tunnelDelayMs ?? 0, hooks);
  const root = await Deno.makeTempDir({ prefix: "gs-reliability-" });
  const home = `${root}/home`;
  await Deno.mkdir(home, { mode: 0o700 });
  const dirs = { listener: `${root}/listener/streams`, initiator: `${root}/initiator/streams` };
  const exports: Record<string, string> = {
    ...emulator.env,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: `${front.url}transfer/`,
  };
  const base: Record<string, string> = { ...exports, HOME: home };
  const transfer = new TransferClient({ env: (name) => base[name] });
  const env = (side: Side, extra: Record<string, string> = {}) => ({
    ...base,
    GLOBUS_STREAMS_DIR: dirs[side],
    ...extra,
  });
  const bareTunnel = async () =>
    (await transfer.createTunnel({
      initiatorAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP,
      listenerAccessPointId: emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP,
      label: "reliability test",
    })).id;
  return {
    hooks,
    emulator,
    exports,
    root,
    dirs,
    stores: { listener: new ConfStore(dirs.listener), initiator: new ConfStore(dirs.initiator) },
    env,
    transfer,
    bareTunnel,
    async initializedTunnel(init = {}) {
      const id = await bareTunnel();
      const listening = await runCliInProcess(
        ["environment", "initialize", "--listener-contact-string", `127.0.0.1:${freePort()}`, id],
        { env: env("listener") },
      );
      if (listening.code !== 0) throw new Error(`listener initialize: ${listening.stderr}`);
      if (init.initiator ?? true) {
        const ttl = init.ttl === undefined ? [] : ["--cs-ttl", String(init.ttl)];
        const initiating = await runCliInProcess(["environment", "initialize", ...ttl, id], {
          env: env("initiator"),
        });
        if (initiating.code !== 0) throw new Error(`initiator initialize: ${initiating.stderr}`);
      }
      return id;
    },
    tunnelGets: (id) => front.counts.get(id) ?? 0,
    async [Symbol.asyncDispose]() {
      await front.stop();
      await emulator.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

export interface Spawned {
  child: Deno.ChildProcess;
  /** Resolves when it ended, with what it printed. */
  done: Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }>;
  /** SIGKILL now; whether the process was still running. */
  kill(): boolean;
}

/** Starts bin/globus-streams with exactly env (plus PATH); killed after timeoutMs regardless. */
export function spawnCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Spawned {
  const child = new Deno.Command(cliBin, {
    args,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let running = true;
  const kill = () => {
    if (!running) return false;
    try {
      child.kill("SIGKILL");
      return true;
    } catch {
      return false;
    }
  };
  const timer = setTimeout(kill, timeoutMs);
  const decoder = new TextDecoder();
  const done = child.output().then((output) => {
    running = false;
    clearTimeout(timer);
    return {
      code: output.code,
      signal: output.signal,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  });
  return { child, done, kill };
}

/** The `key=value` lines of contact-lookup --format preload. */
export function parsePreload(text: string): Record<string, string> {
  return Object.fromEntries(
    text.trimEnd().split("\n").filter((line) => line.includes("=")).map((line) => [
      line.slice(0, line.indexOf("=")),
      line.slice(line.indexOf("=") + 1),
    ]),
  );
}

/** The lines of a text, without the empty last one. */
export function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
