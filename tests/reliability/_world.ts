// The world the fault tests run in: an emulator process, a proxy in front of its Transfer
// API that counts (and can slow down) GETs of single tunnels, a temp HOME and one conf
// directory per side of a tunnel, and CLI processes the test can kill.
import { ConfStore } from "../../src/conf/mod.ts";
import { TransferClient } from "../../src/globus/mod.ts";
import { cliBin, runCliInProcess } from "../_support/cli.ts";
import {
  type EmulatorProcess,
  startCountingProxy,
  startEmulatorProcess,
} from "../_support/emulator.ts";
import { freePort, spawnPiped } from "../_support/process.ts";

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

export { freePort };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts the emulator process, the proxy and the directories. */
export async function startWorld(options: { tunnelDelayMs?: number } = {}): Promise<World> {
  const emulator = await startEmulatorProcess();
  const target = emulator.env.GLOBUS_SDK_SERVICE_URL_TRANSFER.replace(/transfer\/$/, "");
  const hooks: Hooks = {};
  // GETs of single tunnels are counted, reported to hooks and held tunnelDelayMs.
  const front = startCountingProxy(target, {
    delayMs: options.tunnelDelayMs ?? 0,
    onTunnelGet: (id) => hooks.tunnelGet?.(id),
    badGatewayWhenGone: true,
  });
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
  const child = spawnPiped(cliBin, args, {
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
  });
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
