// Running the emulator in tests: as a real `globus-streams emulator` process (end to
// end, through its env file), or in-process through startEmulator (fast).
import { cliBin } from "./cli.ts";
import {
  type AccessPointPlaneFactory,
  defaultEmulatorConfig,
  type Emulator,
  type EmulatorConfig,
  parseEmulatorConfig,
  startEmulator,
} from "../../src/emulator/mod.ts";

/** Reads `export KEY=VALUE` lines (values plain or single-quoted for sh). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2];
    if (value.startsWith("'")) {
      value = value.slice(1, -1).replace(/'\\''/g, "'");
    }
    env[match[1]] = value;
  }
  return env;
}

export interface EmulatorProcess {
  /** The exports of its env file. */
  env: Record<string, string>;
  envFile: string;
  pid: number;
  /** SIGTERM, wait (bounded), clean up; resolves with the exit code. */
  stop(): Promise<void>;
  /** Exit code once stopped (undefined before). */
  exitCode(): number | undefined;
  /** What it wrote to stderr so far. */
  stderr(): string;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Spawns `bin/globus-streams emulator --env-file ...` and waits for the env file. */
export async function startEmulatorProcess(
  options: { configToml?: string; args?: string[] } = {},
): Promise<EmulatorProcess> {
  const dir = await Deno.makeTempDir({ prefix: "gs-emulator-" });
  const envFile = `${dir}/emulator.env`;
  const args = ["emulator", "--env-file", envFile, ...(options.args ?? [])];
  if (options.configToml !== undefined) {
    await Deno.writeTextFile(`${dir}/emulator.toml`, options.configToml);
    args.push("--config", `${dir}/emulator.toml`);
  }
  const child = new Deno.Command(cliBin, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  let exitCode: number | undefined;
  const status = child.status.then((s) => {
    exitCode = s.code;
    return s;
  });
  const cleanUp = async () => {
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const stop = async () => {
    if (exitCode === undefined) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, STOP_TIMEOUT_MS);
      await status;
      clearTimeout(timer);
    }
    await cleanUp();
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    try {
      const env = parseEnvFile(await Deno.readTextFile(envFile));
      return { env, envFile, pid: child.pid, stop, exitCode: () => exitCode, stderr: () => stderr };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (exitCode !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(
        exitCode !== undefined
          ? `emulator exited with ${exitCode} before writing its env file: ${stderr.trim()}`
          : `emulator did not write its env file within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface InProcessEmulator {
  /** The exports, as the CLI would read them from the environment. */
  env: Record<string, string>;
  emulator: Emulator;
  stop(): Promise<void>;
}

/** Starts the emulator in this process (a TOML text, a config, or the default). */
export async function startEmulatorInProcess(
  options: { configToml?: string; config?: EmulatorConfig; plane?: AccessPointPlaneFactory } = {},
): Promise<InProcessEmulator> {
  const config = options.config ??
    (options.configToml !== undefined
      ? parseEmulatorConfig(options.configToml, "test.toml")
      : defaultEmulatorConfig());
  const emulator = await startEmulator(config, { plane: options.plane });
  return { env: { ...emulator.exports }, emulator, stop: () => emulator.stop() };
}

/**
 * Does in a test what a user does in a browser: opens the login URL `login` printed,
 * follows the emulator's redirect to its auth-code page, and returns the code shown.
 */
export async function approveLogin(loginUrl: string): Promise<string> {
  const authorize = await fetch(loginUrl, { redirect: "manual" });
  await authorize.body?.cancel();
  const location = authorize.headers.get("location");
  if (authorize.status !== 302 || !location) {
    throw new Error(`authorize answered ${authorize.status} without a redirect`);
  }
  const page = await fetch(location);
  const html = await page.text();
  const code = /<pre id="auth-code">([^<]+)<\/pre>/.exec(html)?.[1];
  if (!page.ok || !code) throw new Error(`no code on the auth-code page (${page.status})`);
  return code;
}
