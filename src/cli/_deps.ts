/** What a command may touch of the outside world, injected so tests can run it in-process. */
export interface CliIo {
  /** Writes text to standard output as is. */
  stdout(text: string): void;
  /** Writes text to standard error as is. */
  stderr(text: string): void;
  /** Reads one line from standard input, without its newline; null at end of input. */
  readLine(): Promise<string | null>;
  /** Whether standard error is a terminal (progress lines redraw only there). */
  stderrIsTerminal: boolean;
}

export interface CliDeps {
  io: CliIo;
  /** The process environment, as a lookup. */
  env: (name: string) => string | undefined;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** fetch, replaceable so a test can count requests. */
  fetch: typeof fetch;
  /** Aborted when a long-running command (emulator, forward, expose) should stop. */
  signal: AbortSignal;
}
