/**
 * A local stand-in for the Globus services, on loopback: Globus Auth (client
 * credentials, PKCE login, refresh, revoke, userinfo), the Transfer tunnel and
 * stream-access-point API, and a GCS manager per endpoint (LAN secrets, stream
 * gateways). The access points' traffic is the data plane's job, behind
 * AccessPointPlane (see _plane.ts); the default is streamsDataPlane (data_plane/),
 * which carries real traffic over three TCP legs (docs/data-plane.md).
 *
 * @example
 * ```ts
 * import { defaultEmulatorConfig, startEmulator } from "../emulator/mod.ts";
 * const emulator = await startEmulator(defaultEmulatorConfig());
 * console.log(emulator.exports.GLOBUS_SDK_SERVICE_URL_TRANSFER);
 * await emulator.stop();
 * ```
 * @module
 */
export {
  type AccessPointConfig,
  type ClientConfig,
  defaultEmulatorConfig,
  type EmulatorConfig,
  type EndpointConfig,
  type GatewayConfig,
  loadEmulatorConfig,
  parseEmulatorConfig,
  type UserConfig,
} from "./_config.ts";
export { type Emulator, type EmulatorOptions, EmulatorState, startEmulator } from "./_emulator.ts";
export { EmulatorError } from "./_error.ts";
export { formatExports, shellQuote, writeEnvFile } from "./_env_file.ts";
export {
  type AccessPointPlane,
  type AccessPointPlaneFactory,
  closingListenerPlane,
  type IssuedLanSecret,
  type PlaneEvent,
  type PlaneHost,
  type PlaneTunnel,
} from "./_plane.ts";
export {
  streamsDataPlane,
  type StreamsDataPlaneOptions,
  streamsDataPlaneWith,
} from "./data_plane/mod.ts";
