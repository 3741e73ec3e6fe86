// Running the emulator in tests: as a real `globus-streams emulator` process (end to
// end, through its env file), or in-process through startEmulator (fast).
import { cliBin } from "./cli.ts";
import { readText, stopChild } from "./process.ts";
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
  /** The login approval secret it printed on stderr. */
  approvalSecret: string;
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
  const reading = readText(child.stderr, (text) => stderr += text);
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
      await stopChild(child, STOP_TIMEOUT_MS);
      await status;
    }
    await cleanUp();
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    try {
      const env = parseEnvFile(await Deno.readTextFile(envFile));
      // The secret line follows the env file; wait for it.
      let secret: string | undefined;
      while (!(secret = /login approval secret: (\S+)\n/.exec(stderr)?.[1])) {
        if (exitCode !== undefined || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (secret) {
        return {
          env,
          envFile,
          pid: child.pid,
          stop,
          exitCode: () => exitCode,
          stderr: () => stderr,
          approvalSecret: secret,
        };
      }
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

/** A proxy in front of the emulator's services that counts GETs of single tunnels. */
export interface CountingProxy {
  /** The proxy's base URL (ends with "/"). */
  url: string;
  /** GETs of /v2/tunnels/<id> per tunnel id. */
  counts: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Forwards every request to target (the emulator's base URL) and counts GETs of single
 * tunnels; such a GET is first reported to onTunnelGet and held delayMs. With
 * badGatewayWhenGone, a request the emulator cannot answer gets a 502.
 */
export function startCountingProxy(
  target: string,
  options: {
    delayMs?: number;
    onTunnelGet?: (tunnelId: string) => void;
    badGatewayWhenGone?: boolean;
  } = {},
): CountingProxy {
  const counts = new Map<string, number>();
  const controller = new AbortController();
  const delayMs = options.delayMs ?? 0;
  const forward = async (request: Request, url: URL, body: ArrayBuffer | undefined) => {
    const answer = await fetch(new URL(url.pathname + url.search, target), {
      method: request.method,
      headers: request.headers,
      body,
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const match = /\/v2\/tunnels\/([0-9a-f-]{36})$/.exec(url.pathname);
      if (request.method === "GET" && match) {
        counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
        options.onTunnelGet?.(match[1]);
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      const body = request.method === "GET" || request.method === "HEAD"
        ? undefined
        : await request.arrayBuffer();
      if (!options.badGatewayWhenGone) return await forward(request, url, body);
      try {
        return await forward(request, url, body);
      } catch {
        return new Response("proxy: the emulator is gone", { status: 502 });
      }
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    counts,
    async stop() {
      controller.abort();
      await server.finished;
    },
  };
}

export interface InProcessEmulator {
  /** The exports, as the CLI would read them from the environment. */
  env: Record<string, string>;
  /** The login approval secret. */
  approvalSecret: string;
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
  return {
    env: { ...emulator.exports },
    approvalSecret: emulator.approvalSecret,
    emulator,
    stop: () => emulator.stop(),
  };
}

/**
 * Does in a test what a user does in a browser: opens the login URL `login` printed,
 * enters the emulator's approval secret on its approval page, follows the redirect to
 * the auth-code page, and returns the code shown.
 */
export async function approveLogin(loginUrl: string, approvalSecret: string): Promise<string> {
  const page = await fetch(loginUrl);
  const form = await page.text();
  if (page.status !== 200 || !/name="approval_secret"/.test(form)) {
    throw new Error(`authorize answered ${page.status} without the approval form: ${form}`);
  }
  const authorize = await fetch(loginUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ approval_secret: approvalSecret }),
    redirect: "manual",
  });
  await authorize.body?.cancel();
  const location = authorize.headers.get("location");
  if (authorize.status !== 302 || !location) {
    throw new Error(`authorize answered ${authorize.status} without a redirect`);
  }
  const codePage = await fetch(location);
  const html = await codePage.text();
  const code = /<pre id="auth-code">([^<]+)<\/pre>/.exec(html)?.[1];
  if (!codePage.ok || !code) throw new Error(`no code on the auth-code page (${codePage.status})`);
  return code;
}
