/**
 * What went wrong with a tunnel environment: "failure" (the tunnel is not usable as it
 * stands: no contact yet, not ACTIVE, stopped, an unreadable time) or "unreachable" (the
 * service gave no answer in time and there is no stored contact to fall back on).
 */
export type EnvironmentErrorKind = "failure" | "unreachable";

/** The one error class of src/environment; conf file problems stay ConfErrors. */
export class EnvironmentError extends Error {
  override name = "EnvironmentError";
  readonly kind: EnvironmentErrorKind;
  constructor(kind: EnvironmentErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.kind = kind;
  }
}
