// Answers in each service's own shape: JSON:API errors for Transfer /v2, the v0.10
// error object, GCS's result envelope, OAuth errors for Auth.
import { randomBytes } from "node:crypto";
import type { z } from "zod";

/** A request id like the services put in meta / request_id. */
export function requestId(): string {
  return randomBytes(6).toString("base64url");
}

/**
 * A time as the Transfer service writes it: UTC without a zone, with microseconds
 * ("2026-02-12T21:59:01.857473").
 */
export function serviceTime(epochMs: number = performance.timeOrigin + performance.now()): string {
  const wholeMs = Math.floor(epochMs);
  const micros = Math.floor((epochMs - wholeMs) * 1000);
  const iso = new Date(wholeMs).toISOString(); // 2026-02-12T21:59:01.857Z
  return `${iso.slice(0, 23)}${String(micros).padStart(3, "0")}`;
}

/** A JSON response. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
};

/** A JSON:API error document (Transfer /v2). */
export function jsonApiError(status: number, code: string, detail: string): Response {
  return json(status, {
    errors: [{ status: String(status), code, title: TITLES[status] ?? "Error", detail }],
    meta: { request_id: requestId() },
  });
}

/** A Transfer v0.10 error object. */
export function legacyError(status: number, code: string, message: string, resource: string) {
  return json(status, { code, message, request_id: requestId(), resource });
}

/** A GCS result envelope; errors carry code and detail with an empty data list. */
export function gcsResult(
  status: number,
  code: string,
  detail: string,
  data: unknown[] = [],
): Response {
  return json(status, {
    DATA_TYPE: "result#1.0.0",
    code,
    detail,
    http_response_code: status,
    has_next_page: false,
    data,
  });
}

/**
 * A Globus Auth error: the OAuth 2 fields and, as Globus Auth sends them beside those,
 * an `errors` array (status, id, code, title, detail).
 */
export function authError(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, {
    errors: [{
      status: String(status),
      id: crypto.randomUUID(),
      code: error.toUpperCase(),
      title: TITLES[status] ?? "Error",
      detail: description,
    }],
    error,
    error_description: description,
  }, { "Cache-Control": "no-store", ...headers });
}

/** An OAuth 2 error answer (token, revoke, introspect), in Globus Auth's shape. */
export function oauthError(status: number, error: string, description: string): Response {
  return authError(status, error, description);
}

/** A small HTML page (the authorize errors and the auth-code page). */
export function html(status: number, title: string, body: string): Response {
  const page = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
  return new Response(page, { status, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The request's JSON body, or undefined when it is not JSON. */
export async function readJson(request: Request): Promise<unknown> {
  try {
    return JSON.parse(await request.text());
  } catch {
    return undefined;
  }
}

/** One line naming the first zod issue, for 422 details. */
export function issueDetail(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys" && issue.message.startsWith("Unrecognized")) {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    return `${path ? path + ": " : ""}${keys.join(", ")} cannot be set here`;
  }
  const last = String(issue.path.at(-1) ?? "");
  if (last && issue.message.startsWith(last)) return issue.message;
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The bearer token of a request, if any. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}
