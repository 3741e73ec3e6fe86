// Shared pieces of the preload library tests: building the library once, a fake
// `globus-streams` binary, an access point that plays the GSA1 challenger (with the
// TypeScript GSA1 of src/handshake, so these tests also prove the two sides agree), a
// GSA1 responder for the listening side, and bounded process runs.
import {
  answerHello,
  buildHello,
  checkVerdict,
  HandshakeError,
  HELLO_SIZE,
  judgeProof,
  newNonce,
  PROOF_SIZE,
  VERDICT_SIZE,
} from "../../src/handshake/mod.ts";
import {
  childEnv,
  freePort,
  killQuietly,
  outputWithin,
  readLines,
  readText,
  spawnPiped,
  Waker,
} from "../_support/process.ts";

export { childEnv, freePort };

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const libraryPath = `${repoRoot}native/zig-out/lib/libglobus_streams_client.so.0`;
export const fixtures = `${repoRoot}tests/native/fixtures/`;
export const fakeBin = `${fixtures}fake_globus_streams.sh`;
export const launcher = `${repoRoot}bin/globus-streams-launch`;
export const tunnelId = "5f2c8e4a-1b3d-4c5e-9f60-7a8b9c0d1e2f";
export const secretId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
export const secret = "s3cret-lan-key";
export const tunnelReply = "through the tunnel\n";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

let built: Promise<void> | undefined;

/** Builds the library (debug, with safety checks) into native/zig-out, once per process. */
export function buildLibrary(): Promise<void> {
  built ??= (async () => {
    const result = await run(`${repoRoot}dev`, ["zig", "build"], {
      cwd: `${repoRoot}native`,
      timeoutMs: 240_000,
    });
    if (result.code !== 0) throw new Error(`zig build failed:\n${result.stderr}`);
  })();
  return built;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  /** Added to the environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the process after this long and fail (default 20 s). */
  timeoutMs?: number;
}

/** Runs a command to completion within a timeout. */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = performance.now();
  const child = spawnPiped(cmd, args, { cwd: options.cwd, env: childEnv(options.env) });
  const timeoutMs = options.timeoutMs ?? 20_000;
  const output = await outputWithin(child, timeoutMs);
  if (output.killed) throw new Error(`${cmd} ${args.join(" ")} did not finish in ${timeoutMs} ms`);
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: output.stderr,
    ms: performance.now() - started,
  };
}

/** The environment that preloads the library with the fake binary answering lookups. */
export function preloadEnv(answerFile: string, extra: Record<string, string | undefined> = {}) {
  return {
    LD_PRELOAD: libraryPath,
    GLOBUS_STREAMS_BIN: fakeBin,
    GLOBUS_STREAMS_DEBUG: "1",
    FAKE_ANSWER: answerFile,
    ...extra,
  };
}

/** Writes a preload answer (key=value lines, undefined values left out) into dir. */
export async function writeAnswer(
  dir: string,
  fields: Record<string, string | number | undefined>,
): Promise<string> {
  const path = `${dir}/answer-${crypto.randomUUID()}.txt`;
  const lines = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}\n`);
  await Deno.writeTextFile(path, lines.join(""));
  return path;
}

/** Rejects after ms unless promise settles first; onTimeout runs before rejecting. */
export async function within<T>(promise: Promise<T>, ms: number, onTimeout = () => {}): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads exactly n bytes; throws on EOF. */
export async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let done = 0;
  while (done < n) {
    const got = await conn.read(out.subarray(done));
    if (got === null) throw new Error(`connection closed after ${done} of ${n} bytes`);
    done += got;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  let done = 0;
  while (done < bytes.length) done += await conn.write(bytes.subarray(done));
}

export interface AccessPoint {
  hostname: string;
  port: number;
  /** One entry per connection: the GSA1 verdict name, "plain", or "error: ...". */
  results: string[];
  close(): Promise<void>;
}

/**
 * A stand-in for the initiating access point's LAN port: runs the GSA1 challenger side
 * (when it has a secret), then answers one HTTP-ish request with tunnelReply.
 */
export function startAccessPoint(
  options: { secret?: string | null; hostname?: string } = {},
): AccessPoint {
  const hostname = options.hostname ?? "127.0.0.1";
  const key = options.secret === undefined ? secret : options.secret;
  const listener = Deno.listen({ hostname, port: 0 });
  const results: string[] = [];
  const handlers = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    try {
      if (key !== null) {
        const nc = newNonce();
        await writeAll(conn, buildHello(nc));
        const proof = await readExact(conn, PROOF_SIZE);
        const judgement = await judgeProof(proof, {
          nc,
          lookup: (id) => (id === tunnelId ? { secret: key } : undefined),
        });
        await writeAll(conn, judgement.verdict);
        results.push(judgement.name);
        if (judgement.name !== "accepted") return;
      } else {
        results.push("plain");
      }
      const request = new Uint8Array(1024);
      await conn.read(request);
      const body = encoder.encode(tunnelReply);
      const head = `HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      await writeAll(conn, encoder.encode(head));
      await writeAll(conn, body);
    } catch (error) {
      results.push(`error: ${error instanceof Error ? error.message : error}`);
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const handler = within(serve(conn), 15_000, () => conn.close()).catch(() => {});
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })().catch(() => {});
  return {
    hostname,
    port: (listener.addr as Deno.NetAddr).port,
    results,
    async close() {
      listener.close();
      await accepting;
      await Promise.all([...handlers]);
    },
  };
}

/**
 * The listening access point's side of leg 3: connects to port, answers the app's GSA1
 * challenge with key, and on acceptance sends message and reads the echo.
 */
export async function respondTo(
  port: number,
  key: string,
  message: string,
): Promise<{ outcome: string; echo?: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const work = async () => {
    const hello = await readExact(conn, HELLO_SIZE);
    const session = await answerHello(hello, { tunnelId, secret: key, secretId });
    await writeAll(conn, session.proof);
    const verdict = await readExact(conn, VERDICT_SIZE);
    try {
      await checkVerdict(verdict, session);
    } catch (error) {
      if (error instanceof HandshakeError) return { outcome: error.reason };
      throw error;
    }
    await writeAll(conn, encoder.encode(message));
    const echo = new Uint8Array(1024);
    const got = await conn.read(echo);
    return { outcome: "accepted", echo: decoder.decode(echo.subarray(0, got ?? 0)) };
  };
  try {
    return await within(work(), 15_000, () => conn.close());
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the timeout.
    }
  }
}

/** A long-running process whose stdout is read line by line. */
export interface Server {
  /** Waits until a line equal to text appears (lines before it are kept). */
  waitFor(text: string, ms?: number): Promise<void>;
  lines: string[];
  stop(): Promise<RunResult>;
}

export function startServer(
  cmd: string,
  args: string[],
  env: Record<string, string | undefined>,
): Server {
  const started = performance.now();
  const child = spawnPiped(cmd, args, { env: childEnv(env) });
  const lines: string[] = [];
  let stderr = "";
  const waker = new Waker();
  const pumpOut = readLines(child.stdout, (parts) => {
    lines.push(...parts);
    waker.wake();
  });
  const pumpErr = readText(child.stderr, (text) => stderr += text);
  const killTimer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return {
    lines,
    async waitFor(text, ms = 10_000) {
      const deadline = performance.now() + ms;
      while (!lines.includes(text)) {
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new Error(`no line "${text}" in ${ms} ms; got ${JSON.stringify(lines)}\n${stderr}`);
        }
        await waker.sleep(Math.min(left, 100));
      }
    },
    async stop() {
      killQuietly(child, "SIGTERM");
      const status = await child.status;
      clearTimeout(killTimer);
      await Promise.all([pumpOut, pumpErr]);
      return {
        code: status.code,
        stdout: lines.join("\n"),
        stderr,
        ms: performance.now() - started,
      };
    },
  };
}

/** True when the process is gone (or a zombie nobody reaped). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

export async function hasCommand(name: string): Promise<boolean> {
  const result = await run("sh", ["-c", `command -v ${name}`]).catch(() => undefined);
  return result?.code === 0;
}

export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Runs fn with a temp dir (prefix names the test file), removed afterwards. */
export async function withTemp(prefix: string, fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A good preload answer for the test access point on port, with extra keys (or none). */
export function answerFor(port: number, extra: Record<string, string | number | undefined> = {}) {
  return {
    tunnel_id: tunnelId,
    connector_contact_string: `127.0.0.1:${port}`,
    fake_port: 4001,
    lankey: secret,
    lankey_id: secretId,
    ttl_seconds: 30,
    ...extra,
  };
}
