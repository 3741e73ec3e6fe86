/**
 * Why a GSA1 handshake failed. The first five mirror the VERDICT statuses; the rest are
 * failures a side finds on its own.
 */
export type HandshakeReason =
  | "unknown_tunnel"
  | "bad_proof"
  | "secret_expired"
  | "refused"
  | "malformed"
  | "bad_tag"
  | "eof";

/** The folder's one error class: a GSA1 message that failed to parse or verify. */
export class HandshakeError extends Error {
  override name = "HandshakeError";
  /** Why the handshake failed, in the words of the test vectors ("bad_proof", ...). */
  readonly reason: HandshakeReason;

  constructor(reason: HandshakeReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
