// What an open needs to know about its stack, shared by Stack, Server and Handle.

import type { DebugLog } from "./_debug.ts";
import type { Driver, TransformDriver, TransportDriver } from "./_driver.ts";
import type { Options } from "./_options.ts";

/** Default timeouts per operation, in milliseconds; absent = none. */
export interface Timeouts {
  open?: number;
  read?: number;
  write?: number;
  close?: number;
  accept?: number;
}

export interface ResolvedEntry<D extends Driver = Driver> {
  driver: D;
  options: Options;
  attrs: unknown;
}

export interface StackConfig {
  text: string;
  transport: ResolvedEntry<TransportDriver>;
  transforms: readonly ResolvedEntry<TransformDriver>[];
  timeouts: Timeouts;
  debug: DebugLog;
}
