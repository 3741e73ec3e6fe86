// What the build makes, and for which machines: the release targets and the library's name.

/** What a target needs: its zig triple and the ELF machine its files must have. */
export interface TargetInfo {
  zig: string;
  elfMachine: number;
  /** How `file` names the machine. */
  machineName: string;
}

/** The release targets, by their Rust-style triple (what `deno compile --target` takes). */
export const TARGETS: Record<string, TargetInfo> = {
  "x86_64-unknown-linux-gnu": { zig: "x86_64-linux-gnu", elfMachine: 62, machineName: "x86-64" },
  "aarch64-unknown-linux-gnu": {
    zig: "aarch64-linux-gnu",
    elfMachine: 183,
    machineName: "AArch64",
  },
};

/** The oldest glibc the preload library runs on; the README states it too. */
export const GLIBC_FLOOR = "2.17";
/** The preload library's file name, which is also its soname. */
export const LIBRARY = "libglobus_streams_client.so.0";
/** The unversioned development symlink next to it. */
export const LIBRARY_LINK = "libglobus_streams_client.so";
/** The launcher's seccomp engine, built by the same zig build (native/src/supervise_main.zig). */
export const SUPERVISOR = "globus-streams-supervise";

/** The target triple of the machine running the build, if it is a release target. */
export function hostTarget(): string | undefined {
  const triple = `${Deno.build.arch}-unknown-linux-gnu`;
  return Deno.build.os === "linux" && TARGETS[triple] ? triple : undefined;
}
