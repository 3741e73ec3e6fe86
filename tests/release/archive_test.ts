// `./dev build` end to end, offline: both archives with their native parts checked by
// `file` and the ELF headers, SHA256SUMS that sha256sum accepts, the one-line denort
// message, reproducible archives, and clear failures when a part is missing.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  archiveName,
  archiveTop,
  build,
  BuildError,
  cannotCompileLine,
  GLIBC_FLOOR,
  hostTarget,
  LIBRARY,
  LIBRARY_LINK,
  newestGlibc,
  OFFLINE_REASON,
  readElf,
  SUPERVISOR,
  TARGETS,
} from "../../build/mod.ts";
import { denortOffline, offlineEnv, repoRoot, runBuild, runTool } from "./_build.ts";

/** What `tar tzf` lists for an archive, in order. */
function expectedListing(target: string, complete: boolean): string[] {
  const top = archiveTop(target);
  const entries = [
    "",
    ...(complete ? [] : ["INCOMPLETE"]),
    "bin/",
    ...(complete ? ["bin/globus-streams"] : []),
    "bin/globus-streams-launch",
    "bin/globus-streams-launch.sh",
    `bin/${SUPERVISOR}`,
    "install.sh",
    "lib/",
    `lib/${LIBRARY_LINK}`,
    `lib/${LIBRARY}`,
    "share/",
    "share/doc/",
    "share/doc/globus-streams/",
    "share/doc/globus-streams/LICENSE",
    "share/doc/globus-streams/README.md",
  ];
  return entries.map((entry) => (entry === "" ? `${top}/` : `${top}/${entry}`));
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = [await Deno.readFile(a), await Deno.readFile(b)];
  return x.length === y.length && x.every((byte, index) => byte === y[index]);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Checks one unpacked archive against the repo and its target. */
async function checkUnpacked(dir: string, target: string, complete: boolean): Promise<void> {
  const top = join(dir, archiveTop(target));
  const lib = join(top, "lib", LIBRARY);
  const described = await runTool("file", ["-L", lib]);
  assert.equal(described.code, 0, described.stderr);
  const want = target.startsWith("x86_64")
    ? "ELF 64-bit LSB shared object, x86-64"
    : "ELF 64-bit LSB shared object, ARM aarch64";
  assert.ok(described.stdout.includes(want), `file says: ${described.stdout}`);
  const info = readElf(await Deno.readFile(lib));
  assert.equal(info.soname, LIBRARY);
  assert.equal(info.machine, TARGETS[target].elfMachine);
  const glibc = newestGlibc(info) ?? "0";
  assert.ok(
    Number(glibc.split(".")[1]) <= Number(GLIBC_FLOOR.split(".")[1]),
    `needs GLIBC_${glibc}`,
  );
  assert.equal(await Deno.readLink(join(top, "lib", LIBRARY_LINK)), LIBRARY);
  for (const name of ["globus-streams-launch", "globus-streams-launch.sh"]) {
    assert.ok(
      await sameBytes(join(top, "bin", name), join(repoRoot, "bin", "globus-streams-launch")),
      name,
    );
    assert.equal((await Deno.stat(join(top, "bin", name))).mode! & 0o777, 0o755);
  }
  assert.ok(await sameBytes(join(top, "install.sh"), join(repoRoot, "install.sh")));
  assert.ok(
    await sameBytes(join(top, "share/doc/globus-streams/README.md"), join(repoRoot, "README.md")),
  );
  assert.ok(
    await sameBytes(join(top, "share/doc/globus-streams/LICENSE"), join(repoRoot, "LICENSE")),
  );
  if (complete) {
    assert.equal(
      readElf(await Deno.readFile(join(top, "bin", "globus-streams"))).machine,
      TARGETS[target].elfMachine,
    );
  } else {
    const note = await Deno.readTextFile(join(top, "INCOMPLETE"));
    assert.match(note, /^This archive is INCOMPLETE: do not ship it\.$/m);
    assert.match(note, /^Missing: bin\/globus-streams /m);
  }
}

Deno.test("./dev build makes both archives, SHA256SUMS and, offline, the one-line denort message", async (t) => {
  const out = await Deno.makeTempDir({ prefix: "release-build-" });
  const again = await Deno.makeTempDir({ prefix: "release-build-" });
  try {
    const env = offlineEnv();
    const run = await runBuild(["--out", out], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const targets = Object.keys(TARGETS);
    const complete: Record<string, boolean> = {};
    for (const target of targets) complete[target] = await denortOffline(target, env);

    await t.step("the denort message is one line per target that lacks it", () => {
      const denortLines = run.stderr.split("\n").filter((line) => /denort|DENORT_BIN/.test(line));
      const want = targets.filter((t) => !complete[t]).map((t) =>
        cannotCompileLine(t, OFFLINE_REASON)
      );
      assert.deepEqual(denortLines, want);
    });

    await t.step(
      "each archive has the layout, named INCOMPLETE when the binary is missing",
      async () => {
        for (const target of targets) {
          const name = archiveName(target, complete[target]);
          const listing = await runTool("tar", ["tzf", join(out, name)]);
          assert.equal(listing.code, 0, listing.stderr);
          assert.deepEqual(
            listing.stdout.trimEnd().split("\n"),
            expectedListing(target, complete[target]),
          );
          assert.match(
            run.stdout,
            new RegExp(`^  ${target} .* ${name.replaceAll(".", "\\.")}$`, "m"),
          );
        }
      },
    );

    await t.step("the members are owned by 0/0 and dated at the commit", async () => {
      const commitTime = await runTool("git", ["-C", repoRoot, "log", "-1", "--format=%ct"]);
      const epoch = Number(env.SOURCE_DATE_EPOCH ?? commitTime.stdout.trim()) || 0;
      for (const target of targets) {
        const listing = await runTool("tar", [
          "--numeric-owner",
          "--full-time",
          "-tvzf",
          join(out, archiveName(target, complete[target])),
        ], {
          env: { ...env, TZ: "UTC" },
        });
        const date = new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19);
        for (const line of listing.stdout.trimEnd().split("\n")) {
          assert.match(line, / 0\/0 /, line);
          assert.ok(line.includes(date), `${line} (want ${date})`);
        }
      }
    });

    await t.step(
      "the native parts pass `file` and the ELF checks, docs and launchers match the repo",
      async () => {
        for (const target of targets) {
          const dir = await Deno.makeTempDir({ dir: out, prefix: "unpacked-" });
          const unpack = await runTool("tar", [
            "xzf",
            join(out, archiveName(target, complete[target])),
            "-C",
            dir,
          ]);
          assert.equal(unpack.code, 0, unpack.stderr);
          await checkUnpacked(dir, target, complete[target]);
          await Deno.remove(dir, { recursive: true });
        }
      },
    );

    await t.step("SHA256SUMS lists exactly the archives and sha256sum -c accepts it", async () => {
      const sums = await Deno.readTextFile(join(out, "SHA256SUMS"));
      const names = targets.map((target) => archiveName(target, complete[target])).sort();
      assert.deepEqual(sums.trimEnd().split("\n").map((line) => line.split("  ")[1]), names);
      const check = await runTool("sha256sum", ["-c", "SHA256SUMS"], { cwd: out });
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.deepEqual(check.stdout.trimEnd().split("\n"), names.map((name) => `${name}: OK`));
    });

    await t.step(
      "a rebuild in place is up to date and leaves the archives as they were",
      async () => {
        const before = await Deno.readTextFile(join(out, "SHA256SUMS"));
        const rerun = await runBuild(["--out", out], env);
        assert.equal(rerun.code, 0, rerun.stderr);
        assert.equal(
          rerun.stdout.match(/archive up to date/g)?.length,
          targets.length,
          rerun.stdout,
        );
        assert.equal(await Deno.readTextFile(join(out, "SHA256SUMS")), before);
      },
    );

    await t.step("a build elsewhere makes byte-identical archives (reproducible)", async () => {
      const rerun = await runBuild(["--out", again], env);
      assert.equal(rerun.code, 0, rerun.stderr);
      for (const target of targets) {
        const name = archiveName(target, complete[target]);
        assert.equal(await sha256(join(again, name)), await sha256(join(out, name)), name);
      }
    });
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(again, { recursive: true });
  }
});

Deno.test("--skip-compile --target packs one INCOMPLETE archive that says it was skipped", async () => {
  const out = await Deno.makeTempDir({ prefix: "release-skip-" });
  try {
    const target = "aarch64-unknown-linux-gnu";
    const run = await runBuild(["--skip-compile", "--target", target, "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /denort/);
    assert.match(run.stdout, /binary: skipped \(--skip-compile\)/);
    const names = [...Deno.readDirSync(out)].map((entry) => entry.name).sort();
    assert.deepEqual(names, [".build", "SHA256SUMS", archiveName(target, false)]);
    const note = await runTool("tar", [
      "xzOf",
      join(out, archiveName(target, false)),
      `${archiveTop(target)}/INCOMPLETE`,
    ]);
    assert.match(note.stdout, /^Why: deno compile was skipped \(--skip-compile\)\.$/m);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a wrong command line is refused with exit code 2 and the usage", async () => {
  const run = await runBuild(["--target", "riscv64-unknown-linux-gnu"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^build: Unknown target "riscv64-unknown-linux-gnu": want one of /m);
  assert.match(run.stderr, /^usage: \.\/dev build /m);
});

Deno.test("a missing launcher, README or native/build.zig fails the build naming the file", async () => {
  const root = await Deno.makeTempDir({ prefix: "release-fixture-" });
  const out = join(root, "dist");
  const options = {
    root,
    out,
    targets: ["x86_64-unknown-linux-gnu"],
    skipCompile: true,
    treeLibrary: false,
  };
  const fails = (pattern: RegExp) =>
    assert.rejects(() => build(options), (error: unknown) => {
      assert.ok(error instanceof BuildError);
      assert.match(error.message, pattern);
      return true;
    });
  try {
    await Deno.mkdir(join(root, "bin"));
    await Deno.copyFile(
      join(repoRoot, "bin", "globus-streams"),
      join(root, "bin", "globus-streams"),
    );
    await fails(
      /^Cannot pack the archives: "bin\/globus-streams-launch" \(the launcher\) is missing$/,
    );
    await Deno.writeTextFile(join(root, "bin", "globus-streams-launch"), "#!/bin/sh\n");
    await fails(/"README\.md" \(the README\) is missing/);
    for (const name of ["README.md", "LICENSE", "install.sh"]) {
      await Deno.writeTextFile(join(root, name), "x\n");
    }
    await Deno.symlink(join(repoRoot, ".tools"), join(root, ".tools"));
    await fails(/^Cannot build the library: "native\/build\.zig" is missing$/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a build into the default dist/ also puts the host's library at lib/ in the tree", async () => {
  // A copy of the tree's top files, with native/ and .tools/ linked, stands in for the
  // repo so that the repo's own lib/ is left alone.
  const root = await Deno.makeTempDir({ prefix: "release-tree-" });
  try {
    await Deno.mkdir(join(root, "bin"));
    for (
      const path of [
        "bin/globus-streams",
        "bin/globus-streams-launch",
        "README.md",
        "LICENSE",
        "install.sh",
      ]
    ) {
      await Deno.copyFile(join(repoRoot, path), join(root, path));
    }
    for (const link of ["native", ".tools"]) {
      await Deno.symlink(join(repoRoot, link), join(root, link));
    }
    const host = hostTarget()!;
    const out = join(root, "dist");
    await build({ root, out, targets: [host], skipCompile: true, treeLibrary: true });
    const built = join(out, ".build", host, "stage", archiveTop(host), "lib", LIBRARY);
    assert.ok(await sameBytes(join(root, "lib", LIBRARY), built));
    assert.equal(await Deno.readLink(join(root, "lib", LIBRARY_LINK)), LIBRARY);
    await Deno.remove(join(root, "lib"), { recursive: true });
    await build({
      root,
      out: join(root, "elsewhere"),
      targets: [host],
      skipCompile: true,
      treeLibrary: false,
    });
    assert.equal(await Deno.stat(join(root, "lib")).then(() => true, () => false), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
