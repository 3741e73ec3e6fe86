/**
 * Clients for the Globus services the toolkit talks to: Globus Auth (client
 * credentials, the stored PKCE login), the Transfer API's tunnels and stream access
 * points, and each endpoint's GCS manager (LAN secrets). Every answer is checked with
 * a zod schema; every failure is one GlobusApiError line whose `kind` picks the exit code.
 * The schemas check what the program acts on and keep the rest as sent: unknown states,
 * codes and fields pass through, and lists are read record by record (a `Listing`), so
 * one record this program cannot read never hides the others.
 *
 * @example
 * ```ts
 * import { GcsClient, TransferClient } from "../globus/mod.ts";
 * const transfer = new TransferClient({ env: deps.env, fetch: deps.fetch });
 * const tunnel = await transfer.getTunnel(tunnelId);
 * const point = await transfer.getAccessPoint(tunnel.initiatorAccessPointId);
 * const gcsUrl = await transfer.gcsManagerUrl(point.hostEndpointId);
 * const gcs = new GcsClient(gcsUrl, point.hostEndpointId, { env: deps.env });
 * const secret = await gcs.createLanSecret({ tunnelId, streamAccessPointId: point.id });
 * ```
 * @module
 */
export { checkUuid, GlobusApiError, type GlobusApiErrorKind } from "./_error.ts";
export { type Env, type ServiceUrls, serviceUrls } from "./_urls.ts";
export {
  Authorizer,
  clientCredentials,
  type ClientOptions,
  finishLogin,
  gcsScope,
  type LoginRequest,
  logout,
  type LogoutResult,
  nativeClientId,
  pkceChallenge,
  PLACEHOLDER_NATIVE_CLIENT_ID,
  startLogin,
  storedGcsEndpoints,
  TRANSFER_SCOPE,
  type UserInfo,
  whoAmI,
} from "./_auth.ts";
export {
  type AccessPoint,
  type DocumentOptions,
  type KnownOr,
  TransferClient,
  type Tunnel,
  type TunnelEvent,
  type TunnelEventCode,
  type TunnelState,
} from "./_transfer.ts";
export type { Listing, UnreadableRecord } from "./_listing.ts";
export { GcsClient, type LanSecret, type StreamGateway } from "./_gcs.ts";
export { tokensPath } from "./_tokens.ts";
