/** The kinds of XioError, after Globus XIO's error types. */
export type XioErrorKind =
  | "EOF"
  | "CANCELED"
  | "TIMEOUT"
  | "CONTACT_STRING"
  | "PARAMETER"
  | "SYSTEM"
  | "STACK"
  | "ALREADY_REGISTERED"
  | "STATE";

export interface XioErrorOptions extends ErrorOptions {
  /** Bytes moved by the failed read or write before it ended (EOF, CANCELED). */
  nbytes?: number;
}

/**
 * The folder's one error class. `kind` says what went wrong; a CANCELED error whose
 * timer fired has a TIMEOUT error as its `cause`; a SYSTEM error has the driver's own
 * error as its `cause`.
 */
export class XioError extends Error {
  override name = "XioError";
  readonly kind: XioErrorKind;
  /** For read and write: bytes transferred into/from the buffer before the error. */
  readonly nbytes: number;

  constructor(kind: XioErrorKind, message: string, options?: XioErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.nbytes = options?.nbytes ?? 0;
  }

  /** Whether this is a CANCELED error caused by a timer (or a TIMEOUT itself). */
  get timedOut(): boolean {
    if (this.kind === "TIMEOUT") return true;
    return this.kind === "CANCELED" && this.cause instanceof XioError &&
      this.cause.kind === "TIMEOUT";
  }
}

/** Whether error is an XioError of that kind. */
export function isXioError(error: unknown, kind?: XioErrorKind): error is XioError {
  return error instanceof XioError && (kind === undefined || error.kind === kind);
}

/**
 * The reason a GSA1 handshake failed ("bad_proof", "unknown_tunnel", ...), found in the
 * error or its causes; undefined when the error is not a handshake failure.
 */
export function handshakeReason(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.name === "HandshakeError") return (e as { reason?: string }).reason;
  }
  return undefined;
}
