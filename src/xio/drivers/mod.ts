/**
 * The built-in drivers: transports tcp, popen and memory (in-process, for tests);
 * transforms gsa1, rate and netlog. Registered in xio's default registry.
 * @module
 */

import type { Driver } from "../_driver.ts";
import { gsa1Driver } from "./gsa1.ts";
import { memoryDriver } from "./memory.ts";
import { netlogDriver } from "./netlog.ts";
import { popenDriver } from "./popen.ts";
import { rateDriver } from "./rate.ts";
import { tcpDriver } from "./tcp.ts";

export { type Gsa1Attrs, gsa1Driver, handshakeTimeoutMs } from "./gsa1.ts";
export { memoryDriver, type MemoryStats, memoryStats } from "./memory.ts";
export { netlogDriver } from "./netlog.ts";
export { type PopenAttrs, popenDriver } from "./popen.ts";
export { rateDriver, TokenBucket } from "./rate.ts";
export { tcpDriver } from "./tcp.ts";

/** Every built-in driver. */
export const builtinDrivers: readonly Driver[] = [
  tcpDriver,
  popenDriver,
  memoryDriver,
  gsa1Driver,
  rateDriver,
  netlogDriver,
];
