// Process and network helpers shared by the test supports: a free port, a child's
// environment, stopping a child within a bound, reading its output as lines or text,
// and bounded polling. Each helper is the one copy of logic the supports had repeated.

/** A local TCP port that was free a moment ago (bound on 127.0.0.1, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The test's environment without any preload or GLOBUS_STREAMS_* of its own, plus extra. */
export function childEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name === "LD_PRELOAD" || name.startsWith("GLOBUS_STREAMS_")) delete env[name];
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * Spawns cmd with stdout and stderr piped and stdin from /dev/null (or piped). With env,
 * the child gets exactly env; without, it inherits the test's environment.
 */
export function spawnPiped(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: "null" | "piped" } = {},
): Deno.ChildProcess {
  return new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.env !== undefined,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** What a finished child printed, decoded. */
export interface ChildOutput {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** True when the timeout fired and the child was sent SIGKILL. */
  killed: boolean;
}

/** Waits for child (spawned with piped output) to finish; SIGKILLs it after timeoutMs. */
export async function outputWithin(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<ChildOutput> {
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const output = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: output.code,
    signal: output.signal,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    killed,
  };
}

/** Sends signal to child, ignoring that it already exited. */
export function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/** SIGTERM, then SIGKILL if it has not exited after graceMs; resolves with its status. */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs: number,
): Promise<Deno.CommandStatus> {
  killQuietly(child, "SIGTERM");
  const timer = setTimeout(() => killQuietly(child, "SIGKILL"), graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads stream to its end, handing each chunk's complete lines to take (called once per
 * chunk, possibly with none); resolves with the unterminated rest.
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  take: (lines: string[]) => void,
): Promise<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    take(parts);
  }
  return pending;
}

/** Reads stream to its end, handing each decoded chunk to take. */
export async function readText(
  stream: ReadableStream<Uint8Array>,
  take: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) take(decoder.decode(chunk, { stream: true }));
}

/** A bounded sleep that wake() ends early (a reader wakes a waiter when lines arrive). */
export class Waker {
  #wake = () => {};

  /** Ends the current sleep, if any. */
  wake(): void {
    this.#wake();
  }

  /** Sleeps ms, or until wake(). */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Polls check every intervalMs until it holds; throws after ms. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what = "the condition",
  intervalMs = 25,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const scratchDirs = new Map<string, string>();

/**
 * A temp dir for this process's builds, one per prefix, made on first use and removed
 * when the process exits.
 */
export function scratchDir(prefix: string): string {
  let dir = scratchDirs.get(prefix);
  if (dir === undefined) {
    const made = Deno.makeTempDirSync({ prefix });
    dir = made;
    scratchDirs.set(prefix, made);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(made, { recursive: true });
      } catch {
        // Already gone.
      }
    });
  }
  return dir;
}
