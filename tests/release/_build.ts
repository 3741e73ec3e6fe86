// Running build/mod.ts the way `./dev build` does, with every network attempt of deno compile
// (the denort download) sent to a closed port on loopback: the build sees exactly what
// it sees on a machine without network, here and in CI alike.
import { join } from "node:path";
import { findDenort, hostTarget } from "../../build/mod.ts";
import { freePort, outputWithin, spawnPiped } from "../_support/process.ts";

export const repoRoot = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export interface BuildRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A loopback port nothing listens on (bound, then released). */
export function closedPort(): number {
  return freePort();
}

/** The environment of an offline build: no DENORT_BIN, downloads refused on loopback. */
export function offlineEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  const proxy = `http://127.0.0.1:${closedPort()}`;
  // npm packages still come from the registry when the cache lacks one.
  return {
    ...env,
    HTTPS_PROXY: proxy,
    https_proxy: proxy,
    HTTP_PROXY: proxy,
    http_proxy: proxy,
    NO_PROXY: "registry.npmjs.org",
    no_proxy: "registry.npmjs.org",
    ...extra,
  };
}

/** Runs `deno run --allow-all build/mod.ts ARGS` from the repo, bounded to 15 minutes. */
export async function runBuild(args: string[], env = offlineEnv()): Promise<BuildRun> {
  const child = spawnPiped(
    Deno.execPath(),
    ["run", "--allow-all", "--no-prompt", join(repoRoot, "build", "mod.ts"), ...args],
    { cwd: repoRoot, env },
  );
  const output = await outputWithin(child, 900_000);
  if (output.signal === "SIGKILL") {
    throw new Error(`build/mod.ts ${args.join(" ")} did not finish in 900 s`);
  }
  return { code: output.code, stdout: output.stdout, stderr: output.stderr };
}

/** Whether deno compile can get denort for a target without the network. */
export async function denortOffline(target: string, env: Record<string, string>): Promise<boolean> {
  const source = await findDenort(target, (name) => env[name], Deno.version.deno);
  return source.kind === "DENORT_BIN" || source.kind === "cache";
}

/** Runs a command to completion (bounded) and returns its output. */
export async function runTool(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<BuildRun> {
  const child = spawnPiped(command, args, { cwd: options.cwd, env: options.env });
  const output = await outputWithin(child, options.timeoutMs ?? 60_000);
  if (output.signal === "SIGKILL") {
    throw new Error(`${command} ${args.join(" ")} did not finish in time`);
  }
  return { code: output.code, stdout: output.stdout, stderr: output.stderr };
}

/** The host's release target; the tests run only on a release platform. */
export function requireHostTarget(): string {
  const target = hostTarget();
  if (!target) {
    throw new Error(`This machine (${Deno.build.os} ${Deno.build.arch}) is not a release target`);
  }
  return target;
}
