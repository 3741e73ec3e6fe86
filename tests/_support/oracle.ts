// The oracle: the official Globus CLI and Python SDK from PyPI, at pinned versions, in a
// venv under .tools/. Tests run them against the emulator; where they and the emulator
// disagree, the emulator is wrong. Without PyPI (or python3 with venv) the tests that
// need them are skipped, and say why.
import { fileURLToPath } from "node:url";

export const GLOBUS_CLI_VERSION = "3.44.0";
export const GLOBUS_SDK_VERSION = "4.9.0";

const TOOLS = fileURLToPath(new URL("../../.tools/", import.meta.url));
/** GS_ORACLE_VENV moves the venv (to try the skip path: a new one where PyPI is unreachable). */
const VENV = Deno.env.get("GS_ORACLE_VENV") ??
  `${TOOLS}globus-py-${GLOBUS_CLI_VERSION}-${GLOBUS_SDK_VERSION}`;
const DONE_MARK = `${VENV}/.installed`;
const LOCK = `${VENV}.lock`;
const INSTALL_TIMEOUT_MS = 300_000;
/** A lock older than this is left over from an installer that died. */
const STALE_LOCK_MS = 600_000;

export type Oracle =
  | { ok: true; python: string; globus: string; versions: string }
  | { ok: false; reason: string };

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, output: text };
  } finally {
    clearTimeout(timer);
  }
}

/** Holds the install lock (a directory: mkdir is atomic) while `work` runs. */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  while (true) {
    try {
      await Deno.mkdir(LOCK);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const since = await Deno.stat(LOCK).then((s) => Date.now() - (s.mtime?.getTime() ?? 0));
      if (since > STALE_LOCK_MS) await Deno.remove(LOCK, { recursive: true }).catch(() => {});
      if (Date.now() > deadline) throw new Error(`"${LOCK}" is held by another installer`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await work();
  } finally {
    await Deno.remove(LOCK, { recursive: true }).catch(() => {});
  }
}

async function install(): Promise<string | undefined> {
  if (await exists(DONE_MARK)) return undefined;
  await Deno.remove(VENV, { recursive: true }).catch(() => {});
  const venv = await run("python3", ["-m", "venv", VENV], 120_000).catch((error) => ({
    code: -1,
    output: String(error),
  }));
  if (venv.code !== 0) return `cannot make a Python venv: ${venv.output.trim().split("\n").at(-1)}`;
  const pip = await run(`${VENV}/bin/python`, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "--timeout",
    "20",
    "--retries",
    "1",
    `globus-cli==${GLOBUS_CLI_VERSION}`,
    `globus-sdk==${GLOBUS_SDK_VERSION}`,
  ], INSTALL_TIMEOUT_MS);
  if (pip.code !== 0) {
    await Deno.remove(VENV, { recursive: true }).catch(() => {});
    const last = pip.output.trim().split("\n").filter(Boolean).at(-1) ?? `exit ${pip.code}`;
    return `cannot install globus-cli ${GLOBUS_CLI_VERSION} and globus-sdk ${GLOBUS_SDK_VERSION} from PyPI: ${last}`;
  }
  await Deno.writeTextFile(DONE_MARK, `${GLOBUS_CLI_VERSION} ${GLOBUS_SDK_VERSION}\n`);
  return undefined;
}

let pending: Promise<Oracle> | undefined;

/**
 * The official CLI and SDK, installed on first use (once per machine: the venv is kept).
 *
 * @example
 * ```ts
 * const oracle = await officialClients();
 * Deno.test({ name: "...", ignore: !oracle.ok, fn: async () => {...} });
 * ```
 */
export function officialClients(): Promise<Oracle> {
  pending ??= (async (): Promise<Oracle> => {
    let reason: string | undefined;
    try {
      reason = await withLock(install);
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    if (reason) {
      console.error(`oracle tests skipped: ${reason}`);
      return { ok: false, reason };
    }
    return {
      ok: true,
      python: `${VENV}/bin/python`,
      globus: `${VENV}/bin/globus`,
      versions: `globus-cli ${GLOBUS_CLI_VERSION}, globus-sdk ${GLOBUS_SDK_VERSION}`,
    };
  })();
  return pending;
}
