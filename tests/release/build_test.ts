// The build's pieces on their own: arguments, permissions, commit stamp, ELF checks,
// where denort comes from, and the one-line message when it is missing.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  archiveName,
  archiveTop,
  BuildError,
  cannotCompileLine,
  type ElfInfo,
  findDenort,
  GLIBC_FLOOR,
  LIBRARY,
  libraryProblems,
  newestGlibc,
  OFFLINE_REASON,
  parseBuildArgs,
  readElf,
  readPermissions,
  stampCommit,
  TARGETS,
} from "../../build/mod.ts";
import { VERSION } from "../../src/version.ts";
import { repoRoot } from "./_build.ts";

const X86 = "x86_64-unknown-linux-gnu";
const ARM = "aarch64-unknown-linux-gnu";

function buildError(fn: () => unknown, exitCode: number, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BuildError, `want BuildError, got ${error}`);
    assert.equal(error.exitCode, exitCode);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("build arguments default to both targets into dist/", () => {
  const options = parseBuildArgs([], "/repo");
  assert.notEqual(options, "help");
  if (options === "help") return;
  assert.deepEqual(options.targets, [X86, ARM]);
  assert.equal(options.out, "/repo/dist");
  assert.equal(options.skipCompile, false);
  assert.equal(options.treeLibrary, true);
});

Deno.test("build arguments take repeated or comma-separated targets, --out and --skip-compile", () => {
  const one = parseBuildArgs(["--target", ARM, "--out", "/tmp/x", "--skip-compile"], "/repo");
  assert.notEqual(one, "help");
  if (one === "help") return;
  assert.deepEqual(one.targets, [ARM]);
  assert.equal(one.out, "/tmp/x");
  assert.equal(one.skipCompile, true);
  assert.equal(one.treeLibrary, false);
  const both = parseBuildArgs([`--target=${ARM},${X86}`], "/repo");
  assert.deepEqual(both !== "help" && both.targets, [X86, ARM]);
  assert.equal(parseBuildArgs(["--help"], "/repo"), "help");
});

Deno.test("build arguments refuse an unknown target or flag with exit code 2", () => {
  buildError(
    () => parseBuildArgs(["--target", "x86_64-apple-darwin"], "/r"),
    2,
    /Unknown target "x86_64-apple-darwin"/,
  );
  buildError(() => parseBuildArgs(["--fast"], "/r"), 2, /--fast/);
  buildError(() => parseBuildArgs(["extra"], "/r"), 2, /extra/);
});

Deno.test("the compiled binary's permissions are read from bin/globus-streams", async () => {
  const text = await Deno.readTextFile(join(repoRoot, "bin", "globus-streams"));
  const flags = readPermissions(text);
  const line = text.split("\n").find((l) => l.startsWith("PERMISSIONS="));
  assert.equal(`PERMISSIONS="${flags.join(" ")}"`, line);
  assert.ok(flags.every((flag) => flag.startsWith("--allow-")));
});

Deno.test("permissions that are missing, empty, all-powerful or not flags are refused", () => {
  buildError(() => readPermissions("#!/bin/sh\nexec deno run x\n"), 1, /no PERMISSIONS="..." line/);
  buildError(() => readPermissions('PERMISSIONS=""\n'), 1, /empty/);
  buildError(() => readPermissions('PERMISSIONS="--allow-all"\n'), 1, /"--allow-all"/);
  buildError(() => readPermissions('PERMISSIONS="--allow-read;rm"\n'), 1, /"--allow-read;rm"/);
  buildError(() => readPermissions('PERMISSIONS="-A"\n'), 1, /"-A"/);
  assert.deepEqual(readPermissions('PERMISSIONS="--allow-net=127.0.0.1:80 --deny-env=HOME"\n'), [
    "--allow-net=127.0.0.1:80",
    "--deny-env=HOME",
  ]);
});

Deno.test("the commit is stamped into a copy of src/commit.ts, and a changed file is refused", async () => {
  const text = await Deno.readTextFile(join(repoRoot, "src", "commit.ts"));
  const stamped = stampCommit(text, "abc1234-dirty");
  assert.match(stamped, /^export const COMMIT = "abc1234-dirty";$/m);
  assert.equal(stamped.split("\n").length, text.split("\n").length);
  assert.equal(
    stampCommit('export const COMMIT = "x";\n', 'a"b'),
    'export const COMMIT = "a\\"b";\n',
  );
  buildError(
    () => stampCommit("export const COMMIT = `x`;\n", "abc"),
    1,
    /no line 'export const COMMIT/,
  );
});

Deno.test("archive names carry version and target, and INCOMPLETE when the binary is missing", () => {
  assert.equal(archiveName(X86, true), `globus-streams-${VERSION}-${X86}.tar.gz`);
  assert.equal(archiveName(ARM, false), `globus-streams-${VERSION}-${ARM}.INCOMPLETE.tar.gz`);
  assert.equal(archiveTop(ARM), `globus-streams-${VERSION}-${ARM}`);
});

Deno.test("readElf refuses what is not a 64-bit little-endian ELF file", () => {
  buildError(
    () => readElf(new TextEncoder().encode("#!/bin/sh\necho hi\n".padEnd(80))),
    1,
    /no ELF magic/,
  );
  buildError(() => readElf(new Uint8Array(10)), 1, /no ELF magic/);
  const elf32 = new Uint8Array(64);
  elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1]);
  buildError(() => readElf(elf32), 1, /not 64-bit little-endian/);
});

Deno.test("readElf reads an executable's machine and interpreter", async () => {
  const info = readElf(await Deno.readFile(Deno.execPath()));
  assert.equal(info.machine, TARGETS[`${Deno.build.arch}-unknown-linux-gnu`].elfMachine);
  assert.equal(info.hasInterpreter, true);
  assert.equal(info.soname, undefined);
  assert.ok(newestGlibc(info), "deno needs some glibc version");
});

const goodLibrary: ElfInfo = {
  type: 3,
  machine: 183,
  hasInterpreter: false,
  soname: LIBRARY,
  versionsNeeded: ["GLIBC_2.17", "GLIBC_2.4"],
};

Deno.test("a library for the wrong machine, soname or glibc is refused", () => {
  assert.deepEqual(libraryProblems(goodLibrary, ARM), []);
  assert.equal(newestGlibc(goodLibrary), "2.17");
  assert.match(libraryProblems(goodLibrary, X86).join(), /ELF machine 183, want 62/);
  assert.match(
    libraryProblems({ ...goodLibrary, soname: "libfoo.so" }, ARM).join(),
    /soname "libfoo.so"/,
  );
  assert.match(libraryProblems({ ...goodLibrary, type: 2 }, ARM).join(), /ELF type 2/);
  const newer = { ...goodLibrary, versionsNeeded: ["GLIBC_2.17", "GLIBC_2.34", "GLIBC_2.4"] };
  assert.equal(newestGlibc(newer), "2.34");
  assert.match(
    libraryProblems(newer, ARM).join(),
    new RegExp(`needs GLIBC_2.34, above the floor ${GLIBC_FLOOR}`),
  );
  assert.deepEqual(libraryProblems({ ...goodLibrary, versionsNeeded: ["GLIBC_2.2.5"] }, ARM), []);
});

Deno.test("denort comes from a DENORT_BIN of the target's machine, then the cache, else a download", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "release-denort-" });
  try {
    const host = `${Deno.build.arch}-unknown-linux-gnu`;
    const other = host === X86 ? ARM : X86;
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    assert.deepEqual(await findDenort(other, env({ DENO_DIR: denoDir }), "9.9.9"), {
      kind: "download",
    });
    const cached = join(denoDir, "dl", "release", "v9.9.9", `denort-${other}.zip`);
    await Deno.mkdir(join(cached, ".."), { recursive: true });
    await Deno.writeFile(cached, new Uint8Array([1]));
    assert.deepEqual(await findDenort(other, env({ DENO_DIR: denoDir }), "9.9.9"), {
      kind: "cache",
      path: cached,
    });
    // A DENORT_BIN for the host's machine serves the host target only.
    const vars = { DENO_DIR: denoDir, DENORT_BIN: Deno.execPath() };
    assert.deepEqual(await findDenort(host, env(vars), "9.9.9"), {
      kind: "DENORT_BIN",
      path: Deno.execPath(),
    });
    assert.deepEqual(await findDenort(other, env(vars), "9.9.9"), { kind: "cache", path: cached });
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});

Deno.test("a DENORT_BIN that is missing or not ELF is named in the reason", async () => {
  const missing = await findDenort(
    X86,
    (name) => (name === "DENORT_BIN" ? "/nonexistent/denort" : undefined),
    "1.0.0",
  );
  assert.equal(missing.kind, "none");
  assert.match(
    missing.kind === "none" ? missing.reason : "",
    /^DENORT_BIN "\/nonexistent\/denort" does not exist/,
  );
  const script = join(repoRoot, "install.sh");
  const notElf = await findDenort(
    ARM,
    (name) => (name === "DENORT_BIN" ? script : undefined),
    "1.0.0",
  );
  assert.match(
    notElf.kind === "none" ? notElf.reason : "",
    /^DENORT_BIN ".*install.sh" cannot be used: .*no ELF magic/,
  );
});

Deno.test("the missing-denort message is one line naming the target and DENORT_BIN", () => {
  const line = cannotCompileLine(ARM, OFFLINE_REASON);
  assert.equal(
    line,
    "build: cannot compile bin/globus-streams for aarch64-unknown-linux-gnu: the denort runtime is not available offline (set DENORT_BIN to a denort binary for this target)",
  );
  assert.ok(!line.includes("\n"));
});

Deno.test("the README states the glibc floor the library is built for", async () => {
  const readme = await Deno.readTextFile(join(repoRoot, "README.md"));
  assert.match(
    readme,
    new RegExp(`glibc ${GLIBC_FLOOR.replace(".", "\\.")}`),
    `README.md should say "glibc ${GLIBC_FLOOR}"`,
  );
});
