// Shared bits for the xio tests.
import assert from "node:assert/strict";
import {
  type Handle,
  isXioError,
  Stack,
  type StackOptions,
  XioError,
  type XioErrorKind,
} from "../../src/xio/mod.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

let counter = 0;

/** A memory contact no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now()}-${++counter}`;
}

/** Awaits work and checks it failed with an XioError of kind; returns the error. */
export async function expectXio(
  work: Promise<unknown> | (() => unknown),
  kind: XioErrorKind,
): Promise<XioError> {
  try {
    await (typeof work === "function" ? work() : work);
  } catch (error) {
    assert.ok(isXioError(error), `want XioError ${kind}, got ${error}`);
    assert.equal(error.kind, kind, `want ${kind}, got ${error.kind}: ${error.message}`);
    assert.equal(error.name, "XioError");
    assert.ok(!error.message.includes("\n"), "one-line message");
    assert.ok(!error.message.endsWith("."), "no trailing period");
    return error;
  }
  assert.fail(`want XioError ${kind}, got success`);
}

/** Reads until end of stream (bounded by timeoutMs per read); returns the text. */
export async function readAll(handle: Handle, timeoutMs = 5000): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  for (let i = 0; i < 100_000; i++) {
    try {
      const n = await handle.read(buffer, { timeoutMs });
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    } catch (error) {
      if (isXioError(error, "EOF")) return text + decoder.decode();
      throw error;
    }
  }
  throw new Error("readAll: too many reads");
}

/** A connected pair over memory pipes: [opened, accepted]. */
export async function memoryPair(
  openText = "memory",
  listenText = "memory",
  options: StackOptions = {},
): Promise<{ opened: Handle; accepted: Handle; close: () => Promise<void>; name: string }> {
  const name = uniqueName("pair");
  const server = await Stack.parse(listenText, options).listen(name);
  const [accepted, opened] = await Promise.all([
    server.accept({ timeoutMs: 2000 }),
    Stack.parse(openText, options).open(name, { timeoutMs: 2000 }),
  ]);
  return {
    opened,
    accepted,
    name,
    close: async () => {
      await Promise.allSettled([opened.close(), accepted.close()]);
      await server.close();
    },
  };
}
