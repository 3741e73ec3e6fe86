// The exports the emulator hands to shells: `export KEY=VALUE` lines, written to a
// file atomically (so a reader that sees the file sees all of it).
import { writeFileAtomic } from "../atomic/mod.ts";
import { EmulatorError } from "./_error.ts";

/** Quotes a value for sh only when it needs it. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `export KEY=VALUE` lines, one per variable, in order. */
export function formatExports(exports: Record<string, string>): string {
  return Object.entries(exports).map(([key, value]) => `export ${key}=${shellQuote(value)}\n`)
    .join("");
}

/** Writes the exports to `path` atomically: temp file 0600, fsync, rename. */
export async function writeEnvFile(path: string, exports: Record<string, string>): Promise<void> {
  try {
    await writeFileAtomic(path, new TextEncoder().encode(formatExports(exports)));
  } catch (error) {
    throw new EmulatorError(
      `Cannot write env file "${path}": ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
