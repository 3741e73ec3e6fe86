// The one place exit codes are chosen: the table of codes, and the mapping of every
// folder's error class to a code and one line on stderr. Errors are recognised by name
// and kind so that start-up need not import every folder.
import type { CliDeps } from "./_deps.ts";
import { oneLine } from "../quote/mod.ts";

/** Exit codes: one meaning each, the same for every command. */
export const ExitCode = {
  ok: 0,
  /** The service refused the request, or the operation failed. */
  failure: 1,
  /** The command line was wrong. */
  usage: 2,
  /** A conf file is missing, unsafe or corrupt. */
  conf: 3,
  /** Not logged in, or the login or credentials were refused. */
  auth: 4,
  /** A service could not be reached or did not answer in time. */
  unreachable: 5,
  /** Stopped by SIGINT/SIGTERM before finishing. */
  interrupted: 130,
  /** The reader of standard output went away (as a shell reports SIGPIPE). */
  brokenPipe: 141,
} as const;

/** The error a long-running command throws when it was stopped by SIGINT/SIGTERM. */
export function interrupted(): Error {
  return new DOMException("Interrupted", "AbortError");
}

/** The exit code of each error class's kinds; an unknown kind is a plain failure. */
const byKind: Record<string, Record<string, number>> = {
  // src/cli: a command's own failure.
  CommandError: { auth: ExitCode.auth },
  // src/globus: what the service said, or that it could not be asked.
  GlobusApiError: { auth: ExitCode.auth, network: ExitCode.unreachable },
  // src/environment: no answer in time and nothing stored to fall back on.
  EnvironmentError: { unreachable: ExitCode.unreachable },
  // src/helpers: the access point could not be reached, or refused the handshake.
  HelperError: { unreachable: ExitCode.unreachable, refused: ExitCode.auth },
  XioError: {},
  EmulatorError: {},
};

/**
 * Maps an error to its exit code and prints it as one line (with the stack when
 * GLOBUS_STREAMS_DEBUG is set).
 */
export function reportError(error: unknown, commandName: string, deps: CliDeps): number {
  const debug = Boolean(deps.env("GLOBUS_STREAMS_DEBUG"));
  const say = (text: string) => deps.io.stderr(`globus-streams: ${text}\n`);
  if (!(error instanceof Error)) {
    say(`Unexpected failure: ${String(error)}`);
    return ExitCode.failure;
  }
  if (error instanceof Deno.errors.BrokenPipe) {
    // Whoever read the output went away (a `| head`, or the preload library done with a
    // lookup): nothing to say, as a program killed by SIGPIPE says nothing.
    return ExitCode.brokenPipe;
  }
  const message = oneLine(error);
  if (debug && error.stack) deps.io.stderr(error.stack + "\n");
  if (error.name === "UsageError") {
    say(`${message} (see 'globus-streams ${commandName} --help')`);
    return ExitCode.usage;
  }
  if (error.name === "ConfError") {
    say(message);
    return ExitCode.conf;
  }
  if (error.name === "AbortError") {
    say("Interrupted");
    return ExitCode.interrupted;
  }
  const kinds = Object.hasOwn(byKind, error.name) ? byKind[error.name] : undefined;
  if (kinds) {
    say(message);
    const kind = (error as { kind?: string }).kind ?? "";
    return Object.hasOwn(kinds, kind) ? kinds[kind] : ExitCode.failure;
  }
  say(
    `Unexpected failure: ${message}${debug ? "" : " (set GLOBUS_STREAMS_DEBUG=1 for details)"}`,
  );
  return ExitCode.failure;
}
