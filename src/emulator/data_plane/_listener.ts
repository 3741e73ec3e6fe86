// The listening access point: for each WAN connection that passed GSA1, leg 3 to the
// tunnel's listener contact (GSA1 with the access point as responder when the listening
// gateway requires LAN secrets), then the relay between the two.
import { formatContact } from "../../contact/mod.ts";
import { oneLine } from "../../quote/mod.ts";
import { type Handle, relay, Stack, type StackEntry } from "../../xio/mod.ts";
import type { IssuedLanSecret } from "../_plane.ts";
import type { Carrier } from "./_carrier.ts";
import { failureReason, NODELAY, type PlaneContext } from "./_context.ts";
import { type ReachedAttrs, reachedDriver } from "./_drivers.ts";
import { StreamRun } from "./_stream.ts";
import type { WanPairs } from "./_wan.ts";

/** The listening end of every stream. */
export class ListenerPoint {
  readonly #context: PlaneContext;
  readonly #pairs: WanPairs;

  constructor(context: PlaneContext, pairs: WanPairs) {
    this.#context = context;
    this.#pairs = pairs;
  }

  /** Carries one stream that arrived on the WAN port, to its end. */
  async stream(carrier: Carrier, wan: Handle): Promise<void> {
    const run = new StreamRun(0);
    carrier.streams.add(run);
    run.addLeg("wan", wan, true);
    run.step("wan gsa1 ok");
    const point = carrier.snapshot.listenerAccessPoint;
    const address = String(wan.info.tcp?.remote);
    const pair = this.#pairs.of(address);
    try {
      const app = await this.#openListener(carrier, run);
      if (!app) return;
      try {
        await relay(wan, app, this.#context.relayBuffers(point));
      } catch (error) {
        run.fail(oneLine(error));
      }
    } finally {
      await run.close();
      carrier.streams.delete(run);
      // A failure here ends the initiating end at once (both access points are in this
      // process), so its app is not left half-open on a stream that cannot go on.
      if (run.failure !== undefined && !carrier.closed) {
        pair.failure = `the listening access point failed: ${run.failure}`;
        pair.initiator?.fail(pair.failure);
        await pair.initiator?.close();
      }
      run.number = pair.number ?? run.number;
      this.#pairs.done(address);
      this.#context.logStream(point, carrier.id, run);
    }
  }

  /** Leg 3: connects to the listener contact (GSA1 as responder when required). */
  async #openListener(carrier: Carrier, run: StreamRun): Promise<Handle | undefined> {
    const context = this.#context;
    const tunnel = context.host.tunnel(carrier.id) ?? carrier.snapshot;
    const point = tunnel.listenerAccessPoint;
    const fail = (code: string, where: string, reason: string, details: string) => {
      run.fail(`leg3 ${reason}`);
      context.host.addTunnelEvent(carrier.id, {
        code,
        isError: true,
        description: `Leg 3 (listening access point -> listener ${where}): ${reason}`,
        details,
      });
    };
    if (tunnel.listenerIpAddress === null || tunnel.listenerPort === null) {
      fail("LISTENER_UNREACHABLE", "(none)", "the tunnel has no listener contact", "");
      return undefined;
    }
    const contact = formatContact({ host: tunnel.listenerIpAddress, port: tunnel.listenerPort });
    let secret: IssuedLanSecret | undefined;
    if (context.requiresSecret(point.id, tunnel.listenerGateway.lanSecretRequired)) {
      const secrets = context.host.lanSecretsFor(carrier.id, point.id);
      context.remember(secrets);
      secret = secrets.at(-1);
      if (!secret) {
        const reason = "no unexpired LAN secret was issued for the listening access point";
        fail("LAN_AUTH_FAILED", `"${contact}"`, reason, "");
        return undefined;
      }
    }
    let reached = false;
    const entries: StackEntry[] = [NODELAY];
    if (secret) {
      entries.push({
        driver: reachedDriver,
        attrs: { reached: () => reached = true } as ReachedAttrs,
      }, {
        driver: "gsa1",
        options: { role: "responder", tunnel: carrier.id },
        attrs: { secret: secret.secret, secretId: secret.id, timeoutMs: context.handshakeMs },
      });
    }
    try {
      const app = await new Stack(entries).open(contact, {
        signal: carrier.abort.signal,
        timeoutMs: context.connectMs + 3 * context.handshakeMs,
      });
      run.addLeg("leg3", app, false);
      run.step(`listener "${contact}" ${secret ? "gsa1 ok" : "plain"}`);
      return app;
    } catch (error) {
      if (carrier.closed) return undefined;
      const reason = failureReason(error);
      if (secret && reached) {
        fail(
          "LAN_AUTH_FAILED",
          `"${contact}"`,
          `the GSA1 handshake failed: ${reason}`,
          oneLine(error),
        );
      } else {
        fail("LISTENER_UNREACHABLE", `"${contact}"`, `cannot connect: ${reason}`, oneLine(error));
      }
      return undefined;
    }
  }
}
