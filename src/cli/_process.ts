import type { CliDeps } from "./_deps.ts";

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
}

/** Line reader over standard input that keeps what it read past the first newline. */
function stdinLines(): () => Promise<string | null> {
  let pending = "";
  const decoder = new TextDecoder();
  const reader = Deno.stdin.readable.getReader();
  let done = false;
  return async () => {
    while (!pending.includes("\n") && !done) {
      const chunk = await reader.read();
      if (chunk.done) done = true;
      else pending += decoder.decode(chunk.value, { stream: true });
    }
    if (pending === "" && done) return null;
    const end = pending.indexOf("\n");
    const line = end === -1 ? pending : pending.slice(0, end);
    pending = end === -1 ? "" : pending.slice(end + 1);
    return line.replace(/\r$/, "");
  };
}

/** The real process: stdio, environment, clock, and SIGINT/SIGTERM as the stop signal. */
export function processDeps(): CliDeps {
  const controller = new AbortController();
  let stopping = false;
  const stop = () => {
    if (stopping) Deno.exit(130);
    stopping = true;
    controller.abort();
  };
  let readLine: (() => Promise<string | null>) | undefined;
  let listening = false;
  return {
    io: {
      stdout: (text) => writeAll(Deno.stdout, text),
      stderr: (text) => writeAll(Deno.stderr, text),
      readLine: () => (readLine ??= stdinLines())(),
      stderrIsTerminal: Deno.stderr.isTerminal(),
    },
    env: (name) => Deno.env.get(name),
    now: () => Date.now(),
    fetch: globalThis.fetch,
    get signal() {
      // Signal handlers are installed only by commands that wait for one, so a short
      // command is never kept alive by them.
      if (!listening) {
        listening = true;
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      }
      return controller.signal;
    },
  };
}
