/** The one error class of src/conf: a conf file or directory is missing, unsafe or corrupt. */
export class ConfError extends Error {
  override name = "ConfError";
  /** The file or directory the error is about. */
  readonly path: string;
  /** 1-based line number when the error is about one line, else 0. */
  readonly line: number;
  constructor(message: string, options: { path: string; line?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.path = options.path;
    this.line = options.line ?? 0;
  }
}
