// The one error class of the build.

/** A build failure, said in one line; exitCode 2 for a wrong command line. */
export class BuildError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "BuildError";
    this.exitCode = exitCode;
  }
}
