// Two small xio transforms the data plane stacks use (this project's own design):
//   lan_gsa1  the GSA1 challenger on a LAN port, run only while the access point's
//             gateway requires LAN secrets (PATCH can change that between connections);
//             otherwise the connection stays plain TCP, as with a real gateway.
//   reached   marks that the transport below connected, so a failed open can tell
//             "cannot reach the listener" from "the handshake failed".
import {
  type DriverContext,
  type DriverLink,
  type Gsa1Attrs,
  gsa1Driver,
  isXioError,
  type Lower,
  PassLink,
  type TransformDriver,
} from "../../xio/mod.ts";

/** What the data plane passes for lan_gsa1 in StackOptions.attrs. */
export interface LanGsa1Attrs extends Gsa1Attrs {
  /** Asked once per connection: whether the gateway requires LAN secrets now. */
  required: () => boolean;
}

function lanAttrs(attrs: unknown): LanGsa1Attrs {
  const given = attrs as Partial<LanGsa1Attrs> | undefined;
  if (typeof given?.required !== "function") throw new Error("attrs.required must be a function");
  return given as LanGsa1Attrs;
}

/** The GSA1 challenger when attrs.required() says so, else nothing (plain TCP). */
export const lanGsa1Driver: TransformDriver = {
  name: "lan_gsa1",
  kind: "transform",
  summary: "GSA1 challenger while the gateway requires LAN secrets, else bytes unchanged",
  options: gsa1Driver.options,
  validate(options, attrs): void {
    lanAttrs(attrs);
    gsa1Driver.validate?.(options, attrs);
  },
  async open(lower: Lower, context: DriverContext): Promise<DriverLink> {
    const attrs = lanAttrs(context.attrs);
    if (!attrs.required()) return new PassLink(lower, { handshake: "none" });
    let received = 0;
    const counting: Lower = {
      read: async (buffer, options) => {
        const n = await lower.read(buffer, options);
        received += n;
        return n;
      },
      write: (bytes, options) => lower.write(bytes, options),
      info: () => lower.info(),
    };
    try {
      const link = await gsa1Driver.open(counting, context);
      return new PassLink(lower, { handshake: "gsa1", ...link.info?.() });
    } catch (error) {
      const timedOut = isXioError(error) && error.timedOut;
      if (received > 0 || timedOut) throw error;
      throw new LanProbeError(
        "The peer closed before sending any of the handshake (a probe, not a login attempt)",
        { cause: error },
      );
    }
  },
};

/**
 * A LAN connection that ended before its peer sent a byte (a port probe, or an app
 * that gave up): not a failed handshake, so no tunnel event.
 */
export class LanProbeError extends Error {
  override name = "LanProbeError";
}

/** Whether error (or a cause) is a LanProbeError. */
export function isLanProbe(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof LanProbeError) return true;
  }
  return false;
}

/** What the data plane passes for reached: called once the transport connected. */
export interface ReachedAttrs {
  reached: () => void;
}

/** Calls attrs.reached() when it opens (right after the transport below connected). */
export const reachedDriver: TransformDriver = {
  name: "reached",
  kind: "transform",
  summary: "marks that the transport connected (for telling failures apart)",
  options: {},
  validate(_options, attrs): void {
    if (typeof (attrs as Partial<ReachedAttrs> | undefined)?.reached !== "function") {
      throw new Error("attrs.reached must be a function");
    }
  },
  open(lower: Lower, context: DriverContext): Promise<DriverLink> {
    (context.attrs as ReachedAttrs).reached();
    return Promise.resolve(new PassLink(lower, {}));
  },
};
