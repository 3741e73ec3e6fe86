// Malformed API documents for the real clients: answers captured from the emulator (run
// in-process), then served back by a tiny local server with one of them changed, the way
// a broken or hostile service would answer. Only loopback is ever contacted: every fetch
// goes through loopbackFetch, which refuses any other host (a mutated gcs_manager_url or
// links.next may name one).
import { type FuzzStats, mutateJson, mutateText, randomJsonValue, type Rng } from "./_fuzz.ts";

/** One request and the answer the emulator gave, its origin replaced by the replay's. */
export interface Exchange {
  method: string;
  /** Path and query, e.g. "/transfer/v2/tunnels/<id>". */
  target: string;
  status: number;
  contentType: string;
  body: string;
}

/** Whether a URL names a loopback address literally (no name, so no DNS either). */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "::1";
}

/** fetch for tests that may be handed any URL: refuses all but loopback, as a network would. */
export function loopbackFetch(inner: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!isLoopbackUrl(url)) {
      return Promise.reject(new TypeError(`test network: refused "${url.origin}" (loopback only)`));
    }
    return inner(input, init);
  };
}

/**
 * A fetch that records every exchange, for capturing a scenario from the emulator; the
 * emulator's origins in bodies (its services' and its GCS managers') are replaced by the
 * origin the replay will serve from.
 */
export function recordingFetch(
  origins: string | string[],
  replayOrigin: string,
  into: Exchange[],
): typeof fetch {
  return loopbackFetch(async (input, init) => {
    const response = await fetch(input, init);
    const body = await response.text();
    const url = new URL(input instanceof Request ? input.url : String(input));
    into.push({
      method: init?.method ?? "GET",
      target: url.pathname + url.search,
      status: response.status,
      contentType: response.headers.get("content-type") ?? "application/json",
      body: [origins].flat().reduce((text, origin) => text.replaceAll(origin, replayOrigin), body),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  });
}

/** How one answer is changed. */
export type FaultKind = "body" | "status" | "abort";

export interface Fault {
  kind: FaultKind;
  /** Which request of the scenario (0-based) gets the changed answer. */
  index: number;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** For "abort": bytes of the body sent before the connection breaks. */
  cutAt: number;
  /** What was done, for failure messages. */
  what: string;
}

const STATUSES = [200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 405, 409, 410, 422, 500, 501];
const RETRY_STATUSES = [429, 502, 503, 504];
const CONTENT_TYPES = ["application/json", "text/html", "text/plain", "application/octet-stream"];
const NEXT_LINKS = [
  "http://[::1",
  "//[",
  "http://127.0.0.1:1/transfer/v2/tunnels",
  "https://transfer.api.globus.org/v2/tunnels",
  "ftp://127.0.0.1/x",
  "?page[marker]=%ff",
  "",
];

function textBody(rng: Rng, body: string): [string, string] {
  switch (rng.int(8)) {
    case 0:
      return ["", "empty body"];
    case 1:
      return [body.slice(0, rng.int(body.length)), "truncated body"];
    case 2:
      return [
        rng.pick(["null", "[]", "{}", '""', "0", "true", "{", "<html>502 Bad Gateway</html>"]),
        "other body",
      ];
    case 3:
      return ["\ufeff" + body, "BOM before body"];
    default: {
      let text = body;
      for (let n = rng.range(1, 3); n > 0; n--) {
        text = mutateText(rng, text, { maxLength: 200_000 });
      }
      return [text, "text mutation"];
    }
  }
}

function jsonBody(rng: Rng, body: string): [string, string] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return textBody(rng, body);
  }
  if (rng.chance(0.15) && doc !== null && typeof doc === "object" && "data" in doc) {
    const next = rng.pick(NEXT_LINKS);
    (doc as Record<string, unknown>).links = { next };
    return [JSON.stringify(doc), `links.next = ${JSON.stringify(next)}`];
  }
  const steps = rng.range(1, 3);
  for (let n = 0; n < steps; n++) doc = mutateJson(rng, doc);
  return [JSON.stringify(doc), `${steps} JSON mutation(s)`];
}

/**
 * A fault for one of a scenario's exchanges. `retries` allows 429/5xx answers and broken
 * connections, which make the clients retry (the CLI waits 250 ms and more each time).
 */
export function makeFault(rng: Rng, exchanges: readonly Exchange[], retries: boolean): Fault {
  const index = rng.int(exchanges.length);
  const original = exchanges[index];
  const roll = rng.int(10);
  const headers: Record<string, string> = { "content-type": original.contentType };
  if (roll < 6) {
    const [body, what] = rng.chance(0.75)
      ? jsonBody(rng, original.body)
      : textBody(rng, original.body);
    if (rng.chance(0.1)) headers["content-type"] = rng.pick(CONTENT_TYPES);
    return { kind: "body", index, status: original.status, headers, body, cutAt: 0, what };
  }
  if (roll < 9 || !retries) {
    const status = retries && rng.chance(0.3) ? rng.pick(RETRY_STATUSES) : rng.pick(STATUSES);
    if (RETRY_STATUSES.includes(status)) {
      headers["retry-after"] = rng.pick(["0", "-1", "soon", "Thu, 01 Jan 1970 00:00:00 GMT"]);
    }
    const body = rng.chance(0.5) ? original.body : JSON.stringify(
      rng.pick([
        { errors: [{ code: "Boom", detail: randomJsonValue(rng) }] },
        { error: "invalid_grant", error_description: randomJsonValue(rng) },
        { code: "oops", detail: randomJsonValue(rng), message: "m" },
        randomJsonValue(rng),
      ]),
    );
    return { kind: "status", index, status, headers, body, cutAt: 0, what: `status ${status}` };
  }
  const body = original.body;
  return {
    kind: "abort",
    index,
    status: original.status,
    headers,
    body,
    cutAt: rng.int(body.length),
    what: "connection broken mid-body",
  };
}

/** The local service: replays a scenario's exchanges with one fault. */
export class ReplayServer {
  readonly origin: string;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #controller = new AbortController();
  #exchanges: readonly Exchange[] = [];
  #used = new Set<number>();
  #fault: Fault | undefined;
  #count = 0;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: this.#controller.signal, onListen: () => {} },
      (request) => this.#answer(request),
    );
    this.origin = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Serves exchanges next, with fault applied to its request number fault.index. */
  load(exchanges: readonly Exchange[], fault: Fault | undefined): void {
    this.#exchanges = exchanges;
    this.#fault = fault;
    this.#used = new Set();
    this.#count = 0;
  }

  /** Requests served since load(). */
  get requests(): number {
    return this.#count;
  }

  #find(method: string, target: string): Exchange | undefined {
    let fallback: Exchange | undefined;
    for (const [i, exchange] of this.#exchanges.entries()) {
      if (exchange.method !== method || exchange.target !== target) continue;
      if (!this.#used.has(i)) {
        this.#used.add(i);
        return exchange;
      }
      fallback = exchange;
    }
    return fallback;
  }

  async #answer(request: Request): Promise<Response> {
    await request.body?.cancel();
    const url = new URL(request.url);
    const number = this.#count++;
    const fault = this.#fault;
    if (fault && number === fault.index) {
      const body = fault.body;
      const noBody = fault.status === 204 || fault.status === 205 || fault.status === 304;
      if (fault.kind === "abort") {
        // A body shorter than its Content-Length: the client sees the connection end early.
        const bytes = new TextEncoder().encode(body);
        const cut = Math.min(fault.cutAt, bytes.length);
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes.subarray(0, cut));
            controller.close();
          },
        });
        const headers = { ...fault.headers, "content-length": String(bytes.length + 1) };
        return new Response(stream, { status: fault.status, headers });
      }
      return new Response(noBody ? null : body, { status: fault.status, headers: fault.headers });
    }
    const exchange = this.#find(request.method, url.pathname + url.search);
    if (!exchange) {
      return Response.json(
        {
          errors: [{
            code: "NotFound",
            detail: `${request.method} ${url.pathname} is not in the replay`,
          }],
        },
        { status: 404 },
      );
    }
    const noBody = exchange.status === 204;
    return new Response(noBody ? null : exchange.body, {
      status: exchange.status,
      headers: { "content-type": exchange.contentType },
    });
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#server.finished;
  }
}

/** The checks every GlobusApiError must pass; returns its kind. */
export function checkApiError(
  error: unknown,
  fault: Fault,
  secrets: readonly string[],
  stats: FuzzStats,
): string {
  if (!(error instanceof Error) || error.name !== "GlobusApiError") {
    throw new Error(
      `want a GlobusApiError for ${fault.what}, got ${
        error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }`,
    );
  }
  const kind = (error as { kind?: string }).kind ?? "";
  const message = error.message;
  if (message.length === 0 || message.includes("\n")) {
    throw new Error(`not one line: ${JSON.stringify(message)}`);
  }
  if (/\n\s+at /.test(message) || /\bat .*\.ts:\d+:\d+/.test(message)) {
    throw new Error(`a stack trace: ${message}`);
  }
  // Bounded, though URLs the service sent are quoted whole (and may be long).
  if (message.length > 10_000) throw new Error(`a ${message.length}-character message`);
  for (const secret of secrets) {
    if (message.includes(secret)) throw new Error(`shows a secret: ${message}`);
  }
  stats.add(`error_${kind}`);
  return kind;
}
