// The preload library: zig build for a target at the glibc floor, checked before use,
// and the host's copy put at lib/ in the tree for development.
import { join } from "node:path";
import { writeFileAtomic } from "../src/atomic/mod.ts";
import { type ElfInfo, libraryProblems, readElf } from "./_elf.ts";
import { BuildError } from "./_error.ts";
import { exists } from "./_files.ts";
import { run } from "./_process.ts";
import { GLIBC_FLOOR, LIBRARY, LIBRARY_LINK, SUPERVISOR, TARGETS } from "./_targets.ts";

const ZIG_TIMEOUT_MS = 900_000;

/** Runs zig build for a target into prefix and checks the library it installed. */
export async function buildLibrary(root: string, target: string, prefix: string): Promise<ElfInfo> {
  const zig = join(root, ".tools", "bin", "zig");
  if (!(await exists(zig))) {
    throw new BuildError(`Cannot build the library: "${zig}" is missing (run ./dev setup)`);
  }
  if (!(await exists(join(root, "native", "build.zig")))) {
    throw new BuildError(`Cannot build the library: "native/build.zig" is missing`);
  }
  const zigTarget = `${TARGETS[target].zig}.${GLIBC_FLOOR}`;
  const result = await run(
    zig,
    ["build", `-Dtarget=${zigTarget}`, "-Doptimize=ReleaseSafe", "--prefix", prefix],
    { cwd: join(root, "native"), timeoutMs: ZIG_TIMEOUT_MS },
  );
  if (result.code !== 0 || result.timedOut) {
    console.error(result.stderr.trimEnd());
    const why = result.timedOut
      ? `did not finish in ${ZIG_TIMEOUT_MS / 1000} s`
      : `exit code ${result.code}`;
    throw new BuildError(
      `Cannot build the library for ${target}: zig build -Dtarget=${zigTarget} failed: ${why}`,
    );
  }
  const path = join(prefix, "lib", LIBRARY);
  if (!(await exists(path))) {
    throw new BuildError(
      `Cannot find the library for ${target}: zig build did not install "lib/${LIBRARY}"`,
    );
  }
  if (!(await exists(join(prefix, "bin", SUPERVISOR)))) {
    throw new BuildError(
      `Cannot find the seccomp supervisor for ${target}: zig build did not install "bin/${SUPERVISOR}"`,
    );
  }
  const info = readElf(await Deno.readFile(path));
  const problems = libraryProblems(info, target);
  if (problems.length > 0) {
    throw new BuildError(`Cannot use the library built for ${target}: ${problems.join("; ")}`);
  }
  return info;
}

/** Puts the host's library at lib/ in the tree, so bin/ and lib/ match the installed layout. */
export async function installHostLibrary(root: string, libraryPrefix: string): Promise<void> {
  const lib = join(root, "lib");
  await Deno.mkdir(lib, { recursive: true });
  const bytes = await Deno.readFile(join(libraryPrefix, "lib", LIBRARY));
  await writeFileAtomic(join(lib, LIBRARY), bytes, { mode: 0o755 });
  const link = join(lib, LIBRARY_LINK);
  const current = await Deno.readLink(link).catch(() => undefined);
  if (current !== LIBRARY) {
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(LIBRARY, link);
  }
}
