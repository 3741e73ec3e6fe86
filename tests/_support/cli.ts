// Running the CLI in tests: as a real process through bin/globus-streams (end to end),
// or in-process through main() with buffers (fast, same code path).
import { main } from "../../src/cli/mod.ts";
import type { CliDeps } from "../../src/cli/mod.ts";
import { outputWithin, spawnPiped } from "./process.ts";

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const cliBin = `${repoRoot}bin/globus-streams`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Variables added to (or, with undefined, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Text fed to standard input; stdin is closed after it. */
  stdin?: string;
  /** Kill the process after this long (default 60 s) and fail. */
  timeoutMs?: number;
}

function mergedEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs bin/globus-streams as a child process and collects its output. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawnPiped(cliBin, args, {
    env: mergedEnv(options.env),
    stdin: options.stdin === undefined ? "null" : "piped",
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const output = await outputWithin(child, timeoutMs);
  if (output.signal === "SIGKILL") {
    throw new Error(`globus-streams ${args.join(" ")} did not finish in ${timeoutMs} ms`);
  }
  return { code: output.code, stdout: output.stdout, stderr: output.stderr };
}

/** Runs the CLI in-process with buffered output; env is exactly what is given. */
export async function runCliInProcess(
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: string[];
    signal?: AbortSignal;
    fetch?: typeof fetch;
  } = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const lines = [...(options.stdin ?? [])];
  const deps: CliDeps = {
    io: {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      readLine: () => Promise.resolve(lines.length > 0 ? lines.shift()! : null),
      stderrIsTerminal: false,
    },
    env: (name) => options.env?.[name],
    now: () => Date.now(),
    fetch: options.fetch ?? globalThis.fetch,
    signal: options.signal ?? new AbortController().signal,
  };
  const code = await main(args, deps);
  return { code, stdout, stderr };
}
