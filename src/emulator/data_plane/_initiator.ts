// The initiating access point: a LAN port per tunnel (leg 1, GSA1 with the app as
// responder when the initiating gateway requires LAN secrets), and for each app that
// passes, leg 2 to the listening access point's WAN port and the relay between the two.
import { type Contact, formatContact, parseContact } from "../../contact/mod.ts";
import type { SecretAnswer } from "../../handshake/mod.ts";
import { oneLine } from "../../quote/mod.ts";
import { type Accepted, type Handle, relay, Stack } from "../../xio/mod.ts";
import { EmulatorError } from "../_error.ts";
import type { PlaneTunnel } from "../_plane.ts";
import { Carrier } from "./_carrier.ts";
import { failureReason, NODELAY, type PlaneContext } from "./_context.ts";
import { isLanProbe, type LanGsa1Attrs, lanGsa1Driver } from "./_drivers.ts";
import { StreamRun } from "./_stream.ts";
import type { WanPairs, WanPorts } from "./_wan.ts";

/** The initiating end of every tunnel and stream. */
export class InitiatorPoint {
  readonly #context: PlaneContext;
  readonly #wan: WanPorts;
  readonly #pairs: WanPairs;

  constructor(context: PlaneContext, wan: WanPorts, pairs: WanPairs) {
    this.#context = context;
    this.#wan = wan;
    this.#pairs = pairs;
  }

  /** Opens a tunnel's LAN port (once) and returns its contact. */
  async open(tunnel: PlaneTunnel): Promise<Contact> {
    const context = this.#context;
    if (context.closed) {
      throw new EmulatorError(`Cannot open tunnel ${tunnel.id}: the emulator is stopping`);
    }
    const existing = context.tunnels.get(tunnel.id);
    if (existing) return existing.contact;
    await this.#wan.portOf(tunnel.listenerAccessPoint);
    const point = tunnel.initiatorAccessPoint;
    const where = formatContact({ host: point.lanHost, port: 0 });
    const lan = await this.#lanStack(tunnel).listen(where);
    const contact = parseContact(lan.address);
    if (!contact) {
      await lan.close();
      throw new EmulatorError(`Cannot open tunnel ${tunnel.id}: bad LAN address "${lan.address}"`);
    }
    const carrier = new Carrier(tunnel, lan, contact, this.#wan.responderStack(tunnel.id));
    context.tunnels.set(tunnel.id, carrier);
    context.remember(context.host.lanSecretsFor(tunnel.id, point.id));
    carrier.loop = context.acceptLoop(lan, () => carrier.closed, (accepted) => {
      carrier.track(
        this.#stream(carrier, accepted),
        (text) => context.line(tunnel.initiatorAccessPoint, text),
      );
    });
    return contact;
  }

  #lanStack(tunnel: PlaneTunnel): Stack {
    const context = this.#context;
    const pointId = tunnel.initiatorAccessPoint.id;
    const attrs: LanGsa1Attrs = {
      required: () => context.requiresSecret(pointId, tunnel.initiatorGateway.lanSecretRequired),
      secrets: (tunnelId, secretId) => this.#lanSecret(tunnelId, pointId, secretId),
      timeoutMs: context.handshakeMs,
    };
    return new Stack([
      NODELAY,
      { driver: lanGsa1Driver, options: { role: "challenger", tunnel: tunnel.id }, attrs },
    ], { timeouts: { open: 3 * context.handshakeMs + 1000 } });
  }

  /** The secret a PROOF on leg 1 names (or the newest, when it names none). */
  #lanSecret(tunnelId: string, pointId: string, secretId: string | null): SecretAnswer {
    const context = this.#context;
    const tunnel = context.host.tunnel(tunnelId);
    if (!tunnel || !context.tunnels.has(tunnel.id)) return undefined;
    if (tunnel.state !== "ACTIVE") return { refuse: "refused" };
    // lanSecretsFor lists the secrets in the order they were issued: newest last.
    const secrets = context.host.lanSecretsFor(tunnelId, pointId);
    context.remember(secrets);
    if (secretId === null) {
      const newest = secrets.at(-1);
      return newest ? { secret: newest.secret } : { refuse: "refused" };
    }
    const named = secrets.find((s) => s.id === secretId);
    if (named) return { secret: named.secret };
    if (context.expired(secretId)) return { refuse: "secret_expired" };
    // Deleted, issued for another tunnel or access point, or never issued.
    return { refuse: "refused" };
  }

  async #stream(carrier: Carrier, accepted: Accepted): Promise<void> {
    const context = this.#context;
    const run = new StreamRun(carrier.nextStream++);
    carrier.streams.add(run);
    const tunnel = carrier.snapshot;
    let wanAddress: string | undefined;
    try {
      let app: Handle;
      try {
        app = await accepted.open({ signal: carrier.abort.signal });
      } catch (error) {
        if (carrier.closed) return;
        if (isLanProbe(error)) {
          run.fail("lan: the app closed before the handshake");
          return;
        }
        const reason = failureReason(error);
        run.fail(`lan gsa1 ${reason}`);
        context.host.addTunnelEvent(carrier.id, {
          code: "LAN_AUTH_FAILED",
          isError: true,
          description:
            `Leg 1 (app "${accepted.contact}" -> initiating access point): the GSA1 handshake failed: ${reason}`,
          details: oneLine(error),
        });
        return;
      }
      run.addLeg("leg1", app, true);
      run.step(app.info.lan_gsa1?.handshake === "gsa1" ? "lan gsa1 ok" : "lan plain");
      if (carrier.closed) return;
      const wanContact = (await this.#wan.portOf(tunnel.listenerAccessPoint)).contact;
      let wan: Handle;
      try {
        wan = await carrier.wanStack.open(wanContact, {
          signal: carrier.abort.signal,
          timeoutMs: context.connectMs + 3 * context.handshakeMs,
        });
      } catch (error) {
        if (carrier.closed) return;
        run.fail(`wan ${failureReason(error)}`);
        context.host.addTunnelEvent(carrier.id, {
          code: "WAN_FAILED",
          isError: true,
          description:
            `Leg 2 (initiating -> listening access point at "${wanContact}"): cannot open: ${
              failureReason(error)
            }`,
          details: oneLine(error),
        });
        return;
      }
      run.addLeg("wan", wan, false);
      run.step("wan ok");
      wanAddress = String(wan.info.tcp?.local);
      const pair = this.#pairs.of(wanAddress);
      pair.number = run.number;
      pair.initiator = run;
      if (pair.failure !== undefined) run.fail(pair.failure);
      if (carrier.closed || run.failed) return;
      try {
        await relay(app, wan, context.relayBuffers(tunnel.initiatorAccessPoint));
      } catch (error) {
        run.fail(oneLine(error));
      }
    } finally {
      await run.close();
      carrier.streams.delete(run);
      if (wanAddress !== undefined) this.#pairs.done(wanAddress);
      context.logStream(tunnel.initiatorAccessPoint, carrier.id, run);
    }
  }
}
