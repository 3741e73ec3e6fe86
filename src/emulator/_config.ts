// The emulator's topology and timing: a built-in default, or a TOML file checked with
// zod (errors name the file and the key).
import { z } from "zod";
import { parse as parseToml } from "smol-toml";
import { randomBytes } from "node:crypto";
import { EmulatorError } from "./_error.ts";
import { isUuid } from "../uuid/mod.ts";

export interface UserConfig {
  id: string;
  username: string;
  name: string;
  email: string;
}

export interface ClientConfig {
  id: string;
  secret: string;
  displayName: string;
}

export interface EndpointConfig {
  id: string;
  displayName: string;
  /** Identities that count as admins for filter[endpoint_admin]. */
  admins: string[];
}

export interface GatewayConfig {
  id: string;
  endpoint: string;
  displayName: string;
  lanSecretRequired: boolean;
  lanName: string | null;
  tlsftpUrl: string | null;
  usersAllow: string[];
  usersDeny: string[];
  authenticationTimeoutMins: number;
}

export interface AccessPointConfig {
  id: string;
  endpoint: string;
  gateway: string;
  displayName: string;
  /** Where the access point's per-tunnel LAN ports listen (the initiating side). */
  lanHost: string;
  tlsftpServer: string | null;
  /** advertised_owner, contact_email, ... as the Transfer API shows them. */
  attributes: Record<string, string | null>;
}

export interface EmulatorConfig {
  /** Length of one "minute" of lifetime_mins / expires_in_mins, so tests can expire fast. */
  minuteMs: number;
  /** Delay before a tunnel with a listener contact becomes ACTIVE. */
  activationDelayMs: number;
  /** Delay from STOPPING to STOPPED. */
  stopDelayMs: number;
  accessTokenLifetimeS: number;
  /** Default page size of Transfer lists. */
  pageSize: number;
  /** The access points the exports name as initiator and listener. */
  initiatorAccessPoint: string;
  listenerAccessPoint: string;
  /** users[0] is who the authorize page approves as. */
  users: UserConfig[];
  /** clients[0]'s id and secret are exported. */
  clients: ClientConfig[];
  endpoints: EndpointConfig[];
  gateways: GatewayConfig[];
  accessPoints: AccessPointConfig[];
}

/** The access-point attributes the Transfer API documents besides display_name. */
export const ACCESS_POINT_ATTRIBUTES = [
  "advertised_owner",
  "contact_email",
  "contact_info",
  "department",
  "description",
  "info_link",
  "keywords",
  "organization",
] as const;

const DEFAULT_USER = "9243a162-ed8e-4f11-a988-3a3339d5270d";
const DEFAULT_CLIENT = "d4258783-eb0a-4b56-8e58-fd103038cc55";
const SITE_A = "bc430fc2-352e-47b3-aab3-38dd44141b4d";
const SITE_B = "4dfd6d3f-842b-4c82-b06b-c5bcbf558df6";
const GATEWAY_A = "d587e953-cb44-4d95-bc66-d7cba1b38121";
const GATEWAY_B = "316e3017-b4e3-43eb-9177-052bb0f761b9";
const ACCESS_POINT_A = "45a32dca-d28e-4efc-aae3-d142aac27a02";
const ACCESS_POINT_B = "11314cd2-5139-4275-9f3c-cea5774ebfe8";

function randomSecret(): string {
  return randomBytes(24).toString("base64url");
}

function defaultUsers(): UserConfig[] {
  return [{
    id: DEFAULT_USER,
    username: "emulated-user@example.org",
    name: "Emulated User",
    email: "emulated-user@example.org",
  }];
}

function defaultClients(): ClientConfig[] {
  return [{ id: DEFAULT_CLIENT, secret: randomSecret(), displayName: "Emulator service client" }];
}

function defaultTopology(): Pick<EmulatorConfig, "endpoints" | "gateways" | "accessPoints"> {
  const admins = [DEFAULT_USER, DEFAULT_CLIENT];
  const gateway = (id: string, endpoint: string, name: string): GatewayConfig => ({
    id,
    endpoint,
    displayName: name,
    lanSecretRequired: true,
    lanName: null,
    tlsftpUrl: null,
    usersAllow: [],
    usersDeny: [],
    authenticationTimeoutMins: 30,
  });
  const point = (id: string, endpoint: string, gw: string, name: string, side: string) => ({
    id,
    endpoint,
    gateway: gw,
    displayName: name,
    lanHost: "127.0.0.1",
    tlsftpServer: null,
    attributes: {
      advertised_owner: "emulated-user@example.org",
      contact_email: "emulated-user@example.org",
      contact_info: null,
      department: null,
      description: `The ${side} stream access point of the local emulator`,
      info_link: null,
      keywords: `emulator,${side}`,
      organization: "globus-streams emulator",
    },
  });
  return {
    endpoints: [
      { id: SITE_A, displayName: "Emulated site A", admins },
      { id: SITE_B, displayName: "Emulated site B", admins },
    ],
    gateways: [
      gateway(GATEWAY_A, SITE_A, "Site A stream gateway"),
      gateway(GATEWAY_B, SITE_B, "Site B stream gateway"),
    ],
    accessPoints: [
      point(ACCESS_POINT_A, SITE_A, GATEWAY_A, "Site A access point", "initiating"),
      point(ACCESS_POINT_B, SITE_B, GATEWAY_B, "Site B access point", "listening"),
    ],
  };
}

const TIMING_DEFAULTS = {
  minuteMs: 60_000,
  activationDelayMs: 0,
  stopDelayMs: 100,
  accessTokenLifetimeS: 172_800,
  pageSize: 100,
};

/**
 * The built-in topology: site A (initiating) and site B (listening), one endpoint,
 * gateway (lan_secret_required) and access point each; one user; one client whose
 * secret is new on every call.
 */
export function defaultEmulatorConfig(): EmulatorConfig {
  return {
    ...TIMING_DEFAULTS,
    initiatorAccessPoint: ACCESS_POINT_A,
    listenerAccessPoint: ACCESS_POINT_B,
    users: defaultUsers(),
    clients: defaultClients(),
    ...defaultTopology(),
  };
}

const uuid = z.string().refine(isUuid, "want a UUID");
const text = z.string().min(1).max(1000);
const nonNegative = z.number().int().nonnegative();

const tomlSchema = z.strictObject({
  minute_ms: z.number().int().min(1).optional(),
  activation_delay_ms: nonNegative.optional(),
  stop_delay_ms: nonNegative.optional(),
  access_token_lifetime_s: z.number().int().min(1).optional(),
  page_size: z.number().int().min(1).max(1000).optional(),
  initiator_access_point: uuid.optional(),
  listener_access_point: uuid.optional(),
  users: z.array(z.strictObject({
    id: uuid,
    username: text,
    name: text.optional(),
    email: text.optional(),
  })).min(1).optional(),
  clients: z.array(z.strictObject({
    id: uuid,
    secret: z.string().min(8).max(200).optional(),
    display_name: text.optional(),
  })).min(1).optional(),
  endpoints: z.array(z.strictObject({
    id: uuid,
    display_name: text,
    admins: z.array(uuid).optional(),
  })).min(1).optional(),
  gateways: z.array(z.strictObject({
    id: uuid,
    endpoint: uuid,
    display_name: text,
    lan_secret_required: z.boolean().optional(),
    lan_name: text.optional(),
    tlsftp_url: text.optional(),
    users_allow: z.array(text).optional(),
    users_deny: z.array(text).optional(),
    authentication_timeout_mins: z.number().int().min(1).optional(),
  })).min(1).optional(),
  access_points: z.array(z.strictObject({
    id: uuid,
    endpoint: uuid,
    gateway: uuid,
    display_name: text,
    lan_host: text.optional(),
    tlsftp_server: text.optional(),
    ...Object.fromEntries(ACCESS_POINT_ATTRIBUTES.map((key) => [key, text.optional()])),
  })).min(1).optional(),
});

type TomlConfig = z.infer<typeof tomlSchema>;

function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : (out ? "." : "") + String(part);
  }
  return out || "(top level)";
}

function fail(source: string, key: string, problem: string): never {
  throw new EmulatorError(`Cannot use emulator config "${source}": ${key}: ${problem}`);
}

function checkUnique(source: string, list: { id: string }[], key: string): void {
  const seen = new Set<string>();
  list.forEach((item, index) => {
    if (seen.has(item.id)) fail(source, `${key}[${index}].id`, `duplicate id "${item.id}"`);
    seen.add(item.id);
  });
}

function topologyFrom(source: string, toml: TomlConfig) {
  const given = [toml.endpoints, toml.gateways, toml.access_points].filter(Boolean).length;
  if (given === 0) return defaultTopology();
  if (given < 3) {
    const missing = !toml.endpoints ? "endpoints" : !toml.gateways ? "gateways" : "access_points";
    fail(source, missing, "missing (endpoints, gateways and access_points come together)");
  }
  const endpoints: EndpointConfig[] = toml.endpoints!.map((e) => ({
    id: e.id,
    displayName: e.display_name,
    admins: e.admins ?? [],
  }));
  const gateways: GatewayConfig[] = toml.gateways!.map((g) => ({
    id: g.id,
    endpoint: g.endpoint,
    displayName: g.display_name,
    lanSecretRequired: g.lan_secret_required ?? true,
    lanName: g.lan_name ?? null,
    tlsftpUrl: g.tlsftp_url ?? null,
    usersAllow: g.users_allow ?? [],
    usersDeny: g.users_deny ?? [],
    authenticationTimeoutMins: g.authentication_timeout_mins ?? 30,
  }));
  const accessPoints: AccessPointConfig[] = toml.access_points!.map((p) => {
    const record = p as Record<string, unknown>;
    return {
      id: p.id,
      endpoint: p.endpoint,
      gateway: p.gateway,
      displayName: p.display_name,
      lanHost: p.lan_host ?? "127.0.0.1",
      tlsftpServer: p.tlsftp_server ?? null,
      attributes: Object.fromEntries(
        ACCESS_POINT_ATTRIBUTES.map((key) => [key, (record[key] as string | undefined) ?? null]),
      ),
    };
  });
  checkUnique(source, endpoints, "endpoints");
  checkUnique(source, gateways, "gateways");
  checkUnique(source, accessPoints, "access_points");
  const endpointIds = new Set(endpoints.map((e) => e.id));
  gateways.forEach((g, i) => {
    if (!endpointIds.has(g.endpoint)) {
      fail(source, `gateways[${i}].endpoint`, `unknown endpoint "${g.endpoint}"`);
    }
  });
  accessPoints.forEach((p, i) => {
    if (!endpointIds.has(p.endpoint)) {
      fail(source, `access_points[${i}].endpoint`, `unknown endpoint "${p.endpoint}"`);
    }
    const gateway = gateways.find((g) => g.id === p.gateway);
    if (!gateway) fail(source, `access_points[${i}].gateway`, `unknown gateway "${p.gateway}"`);
    if (gateway.endpoint !== p.endpoint) {
      fail(
        source,
        `access_points[${i}].gateway`,
        `gateway "${p.gateway}" belongs to endpoint "${gateway.endpoint}", not "${p.endpoint}"`,
      );
    }
  });
  return { endpoints, gateways, accessPoints };
}

/** Parses and checks a TOML config; `source` names it in errors. */
export function parseEmulatorConfig(textToml: string, source: string): EmulatorConfig {
  let raw: unknown;
  try {
    raw = parseToml(textToml);
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    throw new EmulatorError(`Cannot use emulator config "${source}": not TOML: ${message}`);
  }
  const checked = tomlSchema.safeParse(raw);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    fail(source, keyPath(issue.path), issue.message);
  }
  const toml = checked.data;
  const topology = topologyFrom(source, toml);
  const users: UserConfig[] = toml.users?.map((u) => ({
    id: u.id,
    username: u.username,
    name: u.name ?? u.username,
    email: u.email ?? u.username,
  })) ?? defaultUsers();
  const clients: ClientConfig[] = toml.clients?.map((c) => ({
    id: c.id,
    secret: c.secret ?? randomSecret(),
    displayName: c.display_name ?? `Client ${c.id}`,
  })) ?? defaultClients();
  checkUnique(source, [...users, ...clients], "users and clients");
  const pointIds = topology.accessPoints.map((p) => p.id);
  const initiator = toml.initiator_access_point ?? pointIds[0];
  const listener = toml.listener_access_point ?? pointIds[1] ?? pointIds[0];
  if (!pointIds.includes(initiator)) {
    fail(source, "initiator_access_point", `unknown access point "${initiator}"`);
  }
  if (!pointIds.includes(listener)) {
    fail(source, "listener_access_point", `unknown access point "${listener}"`);
  }
  return {
    minuteMs: toml.minute_ms ?? TIMING_DEFAULTS.minuteMs,
    activationDelayMs: toml.activation_delay_ms ?? TIMING_DEFAULTS.activationDelayMs,
    stopDelayMs: toml.stop_delay_ms ?? TIMING_DEFAULTS.stopDelayMs,
    accessTokenLifetimeS: toml.access_token_lifetime_s ?? TIMING_DEFAULTS.accessTokenLifetimeS,
    pageSize: toml.page_size ?? TIMING_DEFAULTS.pageSize,
    initiatorAccessPoint: initiator,
    listenerAccessPoint: listener,
    users,
    clients,
    ...topology,
  };
}

/** Reads and checks a TOML config file. */
export async function loadEmulatorConfig(path: string): Promise<EmulatorConfig> {
  let textToml: string;
  try {
    textToml = await Deno.readTextFile(path);
  } catch (error) {
    throw new EmulatorError(
      `Cannot read emulator config "${path}": ${(error as Error).message}`,
    );
  }
  return parseEmulatorConfig(textToml, path);
}
