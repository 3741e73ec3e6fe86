// Opening the transforms of a stack over an opened transport, for Stack.open and for
// Server's accepted connections alike.

import type { StackConfig } from "./_config.ts";
import type { DriverContext, DriverLink } from "./_driver.ts";
import { Guard } from "./_guard.ts";
import { closeLayers } from "./_handle.ts";
import { callDriver, type Layer, LowerStack, makeLayer, wrapError } from "./_io.ts";

const ignore = () => {};

/** Closes a link that arrived after its operation was given up. */
export function closeLate(pending: Promise<DriverLink>): void {
  pending.then((link) => link.close(AbortSignal.abort())).catch(ignore);
}

/** Releases the layers of a failed open without waiting for them. */
export function abandonLayers(layers: readonly Layer[], what: string): void {
  const guard = new Guard(what, { signal: AbortSignal.abort() });
  closeLayers(layers, guard, what).catch(ignore).finally(() => guard.done());
}

/** The context a driver hook gets. */
export function driverContext(
  config: StackConfig,
  entry: { options: DriverContext["options"]; attrs: unknown },
  contact: string,
  side: "open" | "accept",
  signal: AbortSignal,
): DriverContext {
  return {
    stack: config.text,
    contact,
    side,
    options: entry.options,
    attrs: entry.attrs,
    signal,
    debug: config.debug,
  };
}

/**
 * Opens each transform over layers (which holds the transport), pushing each new layer.
 * On failure the caller still owns layers and must release them.
 */
export async function openTransforms(
  config: StackConfig,
  layers: Layer[],
  contact: string,
  side: "open" | "accept",
  guard: Guard,
  what: string,
): Promise<void> {
  const where = `"${contact}" with stack "${config.text}"`;
  for (const entry of config.transforms) {
    const lower = new LowerStack(layers.slice());
    const context = driverContext(config, entry, contact, side, guard.signal);
    const pending = callDriver(() => entry.driver.open(lower, context));
    let link: DriverLink;
    try {
      link = await guard.race(pending);
    } catch (error) {
      if (error === guard.error) {
        closeLate(pending);
        throw error;
      }
      throw wrapError(error, `${what} (driver "${entry.driver.name}")`);
    }
    layers.push(makeLayer(entry.driver.name, link, where));
  }
}
