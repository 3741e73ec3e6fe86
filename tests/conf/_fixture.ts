// Shared pieces of the conf tests: a temp directory and a valid conf.
import assert from "node:assert/strict";
import type { Conf } from "../../src/conf/mod.ts";

export const tunnelId = "5f2c3a1e-0000-4000-8000-000000000001";

export function sampleConf(extra: Partial<Conf["values"]> = {}): Conf {
  return {
    values: {
      lankey: "s3cr3t",
      lankeyId: "0b8e6a7e-1111-4222-8333-444455556666",
      connectorContactString: "127.0.0.1:50123",
      updateTime: 1700000000,
      connectorContactStringTtl: 10,
      fakePort: 4242,
      tunnelExpirationTime: 1700021600,
      ...extra,
    },
    lines: [],
  };
}

/** A fresh temp directory, removed by the returned function. */
export async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "gs-conf-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

export function modeOf(info: Deno.FileInfo): number {
  return (info.mode ?? 0) & 0o777;
}

const writer = new URL("./_writer.ts", import.meta.url).pathname;

/** Starts the writer child and resolves once it printed its first line. */
export async function startWriter(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", writer, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const first = await reader.read();
  clearTimeout(timer);
  reader.releaseLock();
  assert.ok(!first.done, "writer printed nothing");
  return child;
}
