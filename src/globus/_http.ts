// The one HTTP client under every Globus call: JSON in and out, a timeout, retries
// with backoff for idempotent requests, every answer checked with a zod schema, and
// every failure turned into one GlobusApiError line.
import { z } from "zod";
import { GlobusApiError } from "./_error.ts";
import { type Env, httpTimeoutMs } from "./_urls.ts";
import { trustedCaPem } from "./_tls.ts";
import { quoteText } from "../quote/mod.ts";
import { sleep, timerDelay } from "../timer/mod.ts";
import { VERSION } from "../version.ts";

/** Statuses worth another try: the service asked us to slow down or was briefly away. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRIES = 3;
const DEFAULT_RETRY_BASE_MS = 250;
const MAX_RETRY_DELAY_MS = 60_000;
const DETAIL_MAX_CHARS = 300;

/**
 * An access token as it must be to go in an Authorization header: visible ASCII only
 * (RFC 6750 b64token characters are a subset). A token with a newline or a non-Latin-1
 * character would make Headers.set throw; the schemas refuse it on the way in instead.
 */
export const headerToken = z.string().regex(
  /^[\x21-\x7e]+$/,
  "want visible ASCII characters only (a token an HTTP header can carry)",
);

export interface HttpClientOptions {
  /** The service's name in messages: "Transfer", "Globus Auth", "GCS". */
  service: string;
  /** Base URL ending in "/"; request paths are relative to it. */
  baseUrl: string;
  env: Env;
  fetch?: typeof fetch;
  /** The variable that points at this service, named when it cannot be reached. */
  urlSetting?: string;
  /** First backoff delay; later ones double. Tests make it small. */
  retryBaseMs?: number;
  /** Overrides GLOBUS_SDK_HTTP_TIMEOUT; undefined there means the environment decides. */
  timeoutMs?: number;
}

export type HttpMethod = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

export interface HttpRequest<T> {
  method: HttpMethod;
  /** Relative to the base URL, or an absolute URL on the same origin (links.next). */
  path: string;
  query?: Record<string, string | undefined>;
  json?: unknown;
  form?: Record<string, string>;
  bearer?: string;
  basic?: { user: string; password: string };
  /** Checks the answer of a 2xx; the only way it enters the program. */
  schema: z.ZodType<T>;
  /** Safe to send again; GET, PUT and DELETE are unless told otherwise. */
  idempotent?: boolean;
  /** The fix a 401 message ends with. */
  authFix?: string;
  /** How a 404 is worded: `${what} was not found (404 code): ${hint}`. */
  notFound?: { what: string; hint?: string };
  /** Rewrites the error of a non-2xx answer (e.g. to make it an auth error). */
  onError?: (error: GlobusApiError) => GlobusApiError;
}

export interface HttpAnswer<T> {
  value: T;
  status: number;
  /** The parsed JSON document as sent (null for an empty body). */
  document: unknown;
}

const DEFAULT_AUTH_FIX =
  "run 'globus-streams login' again, or check GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET";

/**
 * An error document in any of the shapes Globus services use. Globus Auth sends the
 * OAuth fields beside an `errors` array; the OAuth ones (invalid_grant, ...) name it.
 */
const errorDocument = z.union([
  z.object({ error: z.string(), error_description: z.string().optional() }),
  z.object({
    errors: z.array(z.object({
      code: z.string().optional(),
      detail: z.unknown().optional(),
      title: z.string().optional(),
    })).min(1),
  }),
  z.object({ code: z.string(), detail: z.unknown().optional(), message: z.string().optional() }),
]);

/** Formats the first zod issue as "path: message" for one-line errors. */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  const path = first.path.length > 0 ? first.path.map(String).join(".") : "document";
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : "";
  return `${path}: ${first.message}${more}`;
}

/**
 * Service text flattened for a message: every run of white space one space, trimmed, cut
 * at DETAIL_MAX_CHARS. (Not quote's oneLine: a service's text may be HTML or indented
 * JSON, whose blanks carry nothing.)
 */
function flatText(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > DETAIL_MAX_CHARS ? flat.slice(0, DETAIL_MAX_CHARS) + "..." : flat;
}

function detailText(detail: unknown): string {
  if (detail === undefined || detail === null) return "";
  return flatText(typeof detail === "string" ? detail : JSON.stringify(detail));
}

function networkReason(error: unknown): string {
  // fetch says "fetch failed" and keeps the reason in its cause chain.
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    messages.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  const text = messages.filter((m) => !/^fetch failed$/i.test(m)).at(-1) ?? messages[0];
  if (/connection refused/i.test(text)) return "connection refused";
  if (/connection reset/i.test(text)) return "connection reset";
  if (/dns error|failed to lookup|name or service not known|no address/i.test(text)) {
    return "host name not found";
  }
  if (/certificate|tls|ssl/i.test(text)) return `TLS failed (${flatText(text)})`;
  return flatText(text.split(": ").at(-1) ?? text);
}

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

class TimeoutMarker extends Error {}

/**
 * JSON over HTTP for one Globus service.
 *
 * @example
 * ```ts
 * const http = new HttpClient({ service: "Transfer", baseUrl, env });
 * const { value } = await http.request({ method: "GET", path: "v2/tunnels", schema, bearer });
 * ```
 */
export class HttpClient {
  readonly service: string;
  readonly baseUrl: string;
  #fetch: typeof fetch;
  #env: Env;
  #urlSetting: string | undefined;
  #retryBaseMs: number;
  #timeoutMs: number | undefined;
  #timeoutGiven: boolean;

  constructor(options: HttpClientOptions) {
    this.service = options.service;
    this.baseUrl = options.baseUrl.endsWith("/") ? options.baseUrl : options.baseUrl + "/";
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#env = options.env;
    this.#urlSetting = options.urlSetting;
    this.#retryBaseMs = options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    this.#timeoutMs = options.timeoutMs;
    this.#timeoutGiven = options.timeoutMs !== undefined;
  }

  /** Sends a request, retrying when safe, and returns the checked answer. */
  async request<T>(request: HttpRequest<T>): Promise<HttpAnswer<T>> {
    const url = this.#url(request.path, request.query);
    const timeoutMs = this.#timeoutGiven ? this.#timeoutMs : httpTimeoutMs(this.#env);
    const init = { ...this.#init(request), caPem: trustedCaPem(this.#env) };
    const idempotent = request.idempotent ?? ["GET", "PUT", "DELETE"].includes(request.method);
    for (let attempt = 0;; attempt++) {
      const mayRetry = idempotent && attempt < MAX_RETRIES;
      let response: Response;
      let text: string;
      try {
        [response, text] = await this.#send(url, init, timeoutMs);
      } catch (error) {
        if (error instanceof TimeoutMarker) {
          throw new GlobusApiError(
            "network",
            `${this.service} at "${this.baseUrl}" did not answer within ${
              (timeoutMs ?? 0) / 1000
            } s: try again later or raise GLOBUS_SDK_HTTP_TIMEOUT`,
          );
        }
        if (mayRetry) {
          await sleep(this.#backoffMs(attempt));
          continue;
        }
        const hint = this.#urlSetting
          ? `is the service up? check ${this.#urlSetting}`
          : "is the service up?";
        throw new GlobusApiError(
          "network",
          `Cannot reach ${this.service} at "${this.baseUrl}": ${networkReason(error)} (${hint})`,
          { cause: error },
        );
      }
      if (RETRY_STATUSES.has(response.status) && mayRetry) {
        const asked = retryAfterMs(response.headers.get("retry-after"), Date.now());
        await sleep(Math.min(asked ?? this.#backoffMs(attempt), MAX_RETRY_DELAY_MS));
        continue;
      }
      return this.#answer(request, url, response.status, text);
    }
  }

  #backoffMs(attempt: number): number {
    const base = this.#retryBaseMs * 2 ** attempt;
    return Math.min(base * (0.5 + Math.random()), MAX_RETRY_DELAY_MS);
  }

  #url(path: string, query: Record<string, string | undefined> = {}): URL {
    // The base may come from a service's answer (a GCS manager's gcs_manager_url), and
    // path from links.next: either may be text `new URL` refuses.
    let base: URL;
    try {
      base = new URL(this.baseUrl);
    } catch {
      throw new GlobusApiError(
        "malformed",
        `${this.service} has a malformed URL ${quoteText(this.baseUrl, 200)}: not a URL`,
      );
    }
    let url: URL;
    try {
      url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(path, base);
    } catch {
      throw new GlobusApiError(
        "malformed",
        `${this.service} sent a malformed link ${quoteText(path, 200)}: not a URL`,
      );
    }
    if (url.origin !== base.origin) {
      throw new GlobusApiError(
        "malformed",
        `${this.service} sent a link to another site ${
          quoteText(url.origin, 200)
        }: refusing to follow it`,
      );
    }
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    return url;
  }

  /**
   * Headers and body of a request. Built once, before any attempt: a token a header
   * cannot carry is not a network failure to retry, and its text never goes in a message.
   */
  #init(request: HttpRequest<unknown>): { method: HttpMethod; headers: Headers; body?: string } {
    const headers = new Headers({
      "Accept": "application/json",
      "User-Agent": `globus-streams/${VERSION}`,
    });
    let body: string | undefined;
    if (request.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(request.json);
    } else if (request.form !== undefined) {
      headers.set("Content-Type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(request.form).toString();
    }
    try {
      if (request.bearer !== undefined) headers.set("Authorization", `Bearer ${request.bearer}`);
      if (request.basic !== undefined) {
        const pair = `${encodeURIComponent(request.basic.user)}:${
          encodeURIComponent(request.basic.password)
        }`;
        headers.set("Authorization", `Basic ${btoa(pair)}`);
      }
    } catch {
      // The error's message quotes the header, credentials included: not shown.
      throw new GlobusApiError(
        "auth",
        `Cannot send credentials to ${this.service}: the ${
          request.bearer !== undefined ? "access token" : "client id or secret"
        } has characters an HTTP header cannot carry: ${request.authFix ?? DEFAULT_AUTH_FIX}`,
      );
    }
    return { method: request.method, headers, body };
  }

  async #send(
    url: URL,
    init: { method: HttpMethod; headers: Headers; body?: string; caPem?: string },
    timeoutMs: number | undefined,
  ): Promise<[Response, string]> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timerDelay(timeoutMs));
    const client = init.caPem ? Deno.createHttpClient({ caCerts: [init.caPem] }) : undefined;
    try {
      const response = await this.#fetch(url, {
        method: init.method,
        headers: init.headers,
        body: init.body,
        signal: controller.signal,
        redirect: "manual",
        ...(client ? { client } : {}),
      } as RequestInit);
      const text = await response.text();
      return [response, text];
    } catch (error) {
      if (timedOut) throw new TimeoutMarker();
      throw error;
    } finally {
      clearTimeout(timer);
      client?.close();
    }
  }

  #answer<T>(request: HttpRequest<T>, url: URL, status: number, text: string): HttpAnswer<T> {
    const where = `${request.method} "${url.pathname}"`;
    let document: unknown = null;
    let parsed = true;
    if (text.trim() !== "") {
      try {
        document = JSON.parse(text);
      } catch {
        parsed = false;
      }
    }
    if (status >= 200 && status < 300) {
      if (!parsed) {
        throw new GlobusApiError(
          "malformed",
          `${this.service} sent a malformed answer to ${where}: not JSON (starts "${
            flatText(text).slice(0, 40)
          }")`,
          { status },
        );
      }
      const checked = request.schema.safeParse(document);
      if (!checked.success) {
        throw new GlobusApiError(
          "malformed",
          `${this.service} sent a malformed answer to ${where}: ${describeIssues(checked.error)}`,
          { status },
        );
      }
      return { value: checked.data, status, document };
    }
    const error = this.#error(request, status, parsed ? document : undefined, text);
    throw request.onError ? request.onError(error) : error;
  }

  #error(
    request: HttpRequest<unknown>,
    status: number,
    document: unknown,
    text: string,
  ): GlobusApiError {
    let code = "";
    let detail = "";
    const known = errorDocument.safeParse(document);
    if (known.success) {
      const body = known.data;
      if ("errors" in body) {
        code = body.errors[0].code ?? "";
        detail = detailText(body.errors[0].detail ?? body.errors[0].title);
      } else if ("error" in body) {
        code = body.error;
        detail = detailText(body.error_description);
      } else {
        code = body.code;
        detail = detailText(body.detail ?? body.message);
      }
    } else if (document === undefined && text.trim() !== "") {
      detail = flatText(text).slice(0, 80);
    }
    const label = code ? `${status} ${code}` : `${status}`;
    const said = detail ? `: ${detail}` : "";
    if (status === 401) {
      return new GlobusApiError(
        "auth",
        `${this.service} refused the credentials (${label})${said}: ${
          request.authFix ?? DEFAULT_AUTH_FIX
        }`,
        { status, code },
      );
    }
    if (status === 404 && request.notFound) {
      const hint = request.notFound.hint ? `: ${request.notFound.hint}` : "";
      return new GlobusApiError(
        "api",
        `${request.notFound.what} was not found (${label})${hint}`,
        { status, code },
      );
    }
    const verb = status >= 500 ? "failed the request" : "refused the request";
    return new GlobusApiError("api", `${this.service} ${verb} (${label})${said}`, {
      status,
      code,
    });
  }
}
