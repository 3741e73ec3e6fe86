/**
 * The one atomic file replace of the project (conf files, login tokens, the emulator's
 * env file, the build's checksums and tree library): a reader sees the old file or the
 * new one, never a part of either. Its own folder so that conf/, globus/, emulator/ and
 * the build share it without importing each other.
 *
 * The temp name `.<name>.<8 hex>.tmp` is part of the contract: conf/ recognises the temp
 * files a killed writer leaves behind by it.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "../atomic/mod.ts";
 * await writeFileAtomic("/tmp/x.conf", new TextEncoder().encode("a=1\n"), { mode: 0o600 });
 * ```
 * @module
 */

/**
 * Replaces `path` with `bytes`: a temp file in the same directory (mode from creation,
 * default 0600), written and fsynced, renamed over `path`, then the directory fsynced
 * (best effort: some file systems refuse it; the rename is atomic either way).
 * Errors are the file system's own; callers word them for their file.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : path.slice(0, slash) || "/";
  const name = path.slice(slash + 1);
  const temp = `${dir}/.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const mode = options.mode ?? 0o600;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode });
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
      await file.sync();
    } finally {
      file.close();
    }
    // The umask may have narrowed the mode at creation; set it exactly.
    await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Not supported here; the rename is still atomic.
  }
}
