import { isUuid } from "../uuid/mod.ts";

/** What went wrong, as the CLI needs to know it to pick an exit code. */
export type GlobusApiErrorKind = "api" | "network" | "auth" | "malformed";

/**
 * The one error class of src/globus. The message is one line in Deno style: what
 * failed, quoted values, the state after a colon, and the fix when there is one.
 */
export class GlobusApiError extends Error {
  override name = "GlobusApiError";
  /** "api": the service said no; "network": unreachable or no answer in time; "auth":
   * no usable login or credentials; "malformed": the answer did not match its schema. */
  readonly kind: GlobusApiErrorKind;
  /** HTTP status, 0 when there was none. */
  readonly status: number;
  /** JSON:API errors[0].code, GCS or OAuth code, or "" when none. */
  readonly code: string;

  constructor(
    kind: GlobusApiErrorKind,
    message: string,
    options: { status?: number; code?: string; cause?: unknown } = {},
  ) {
    super(message.replace(/\s*\n\s*/g, " "), { cause: options.cause });
    this.kind = kind;
    this.status = options.status ?? 0;
    this.code = options.code ?? "";
  }
}

/** Throws a GlobusApiError naming the bad id before any request is sent. */
export function checkUuid(what: string, id: string): void {
  if (!isUuid(id)) {
    throw new GlobusApiError(
      "api",
      `Invalid ${what} id "${id}": want a UUID like "5f2c1a3e-0b7d-4c52-9e1f-2a6b8d4c0e91"`,
      { code: "InvalidId" },
    );
  }
}
