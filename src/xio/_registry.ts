// Drivers by name. The default registry holds the built-in drivers; a program may add
// its own (a name can be registered once).

import type { Driver } from "./_driver.ts";
import { XioError } from "./_error.ts";
import { builtinDrivers } from "./drivers/mod.ts";

/** A set of drivers by name. */
export class DriverRegistry {
  readonly #drivers = new Map<string, Driver>();

  /** A registry holding the given drivers. */
  constructor(drivers: Iterable<Driver> = []) {
    for (const driver of drivers) this.register(driver);
  }

  /** Adds a driver. Throws ALREADY_REGISTERED for a taken name, PARAMETER for a bad one. */
  register(driver: Driver): void {
    if (!/^[a-z][a-z0-9_]*$/.test(driver.name)) {
      throw new XioError(
        "PARAMETER",
        `Cannot register driver "${driver.name}": want a name of a-z, 0-9 and _`,
      );
    }
    if (this.#drivers.has(driver.name)) {
      throw new XioError(
        "ALREADY_REGISTERED",
        `Cannot register driver "${driver.name}": a driver of that name is already registered`,
      );
    }
    this.#drivers.set(driver.name, driver);
  }

  get(name: string): Driver | undefined {
    return this.#drivers.get(name);
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.#drivers.keys()].sort();
  }
}

/** The registry stacks use unless told otherwise: the built-in drivers. */
export const defaultRegistry: DriverRegistry = new DriverRegistry(builtinDrivers);

/** Adds a driver to the default registry (ALREADY_REGISTERED if its name is taken). */
export function registerDriver(driver: Driver): void {
  defaultRegistry.register(driver);
}
