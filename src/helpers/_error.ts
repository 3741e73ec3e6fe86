/** What went wrong in a helper; the CLI picks the exit code from it. */
export type HelperErrorKind =
  /** The access point (or the --to service) could not be reached. */
  | "unreachable"
  /** The GSA1 handshake was refused or failed (wrong or expired LAN secret). */
  | "refused"
  /** Anything else: a stream broke, a port could not be bound. */
  | "failed";

/** The one error class of src/helpers. */
export class HelperError extends Error {
  override name = "HelperError";
  readonly kind: HelperErrorKind;

  constructor(kind: HelperErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}
