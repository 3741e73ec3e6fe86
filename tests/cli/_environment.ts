// The world the environment and contact-lookup tests run in: an emulator process, a
// counting proxy in front of it (so a test can tell how many times the tunnel was
// fetched), a temp HOME, and one conf directory per side of the tunnel, as on two hosts.
import { TransferClient, type Tunnel } from "../../src/globus/mod.ts";
import { startCountingProxy, startEmulatorProcess } from "../_support/emulator.ts";
import { freePort } from "../_support/process.ts";
import { ConfStore } from "../../src/conf/mod.ts";

export type Side = "listener" | "initiator";

export interface World {
  /** The emulator's exports, with Transfer behind the counting proxy. */
  exports: Record<string, string>;
  dirs: Record<Side, string>;
  stores: Record<Side, ConfStore>;
  /** Environment for the CLI on one side: exports, HOME, GLOBUS_STREAMS_DIR. */
  env(side: Side, extra?: Record<string, string>): Record<string, string>;
  transfer: TransferClient;
  initiatorAccessPoint: string;
  listenerAccessPoint: string;
  /** A new tunnel between the emulator's two access points (AWAITING_LISTENER). */
  createTunnel(): Promise<Tunnel>;
  /** How many GET /v2/tunnels/<id> reached the service through the proxy. */
  tunnelGets(tunnelId: string): number;
  /** A port nothing listens on, for listener contacts. */
  freePort(): number;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const emulator = await startEmulatorProcess();
  const target = emulator.env.GLOBUS_SDK_SERVICE_URL_TRANSFER.replace(/transfer\/$/, "");
  const proxy = startCountingProxy(target);
  const initiatorAccessPoint = emulator.env.GLOBUS_STREAMS_EMULATOR_INITIATOR_AP;
  const listenerAccessPoint = emulator.env.GLOBUS_STREAMS_EMULATOR_LISTENER_AP;
  const root = await Deno.makeTempDir({ prefix: "gs-env-test-" });
  const home = `${root}/home`;
  await Deno.mkdir(home, { mode: 0o700 });
  const dirs = { listener: `${root}/listener/streams`, initiator: `${root}/initiator/streams` };
  const exports: Record<string, string> = {
    ...emulator.env,
    GLOBUS_SDK_SERVICE_URL_TRANSFER: `${proxy.url}transfer/`,
  };
  const baseEnv = { ...exports, HOME: home };
  const transfer = new TransferClient({ env: (name) => baseEnv[name as keyof typeof baseEnv] });
  return {
    exports,
    dirs,
    stores: { listener: new ConfStore(dirs.listener), initiator: new ConfStore(dirs.initiator) },
    env: (side, extra = {}) => ({ ...baseEnv, GLOBUS_STREAMS_DIR: dirs[side], ...extra }),
    transfer,
    initiatorAccessPoint,
    listenerAccessPoint,
    createTunnel: () =>
      transfer.createTunnel({
        initiatorAccessPointId: initiatorAccessPoint,
        listenerAccessPointId: listenerAccessPoint,
        label: "environment test",
      }),
    tunnelGets: (tunnelId) => proxy.counts.get(tunnelId) ?? 0,
    freePort,
    async [Symbol.asyncDispose]() {
      await proxy.stop();
      await emulator.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** The conf file's lines as a key -> value record. */
export async function confRecord(store: ConfStore, tunnelId: string) {
  const text = await Deno.readTextFile(store.path(tunnelId));
  return Object.fromEntries(
    text.trimEnd().split("\n").map((
      line,
    ) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/** Asserts text is exactly one line. */
export function oneLine(text: string): string {
  const lines = text.trimEnd().split("\n");
  if (lines.length !== 1 || lines[0] === "") {
    throw new Error(`want one line, got ${JSON.stringify(text)}`);
  }
  return lines[0];
}
