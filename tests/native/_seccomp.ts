// Shared pieces of the seccomp engine tests: the supervisor (built with the library by
// `zig build`), static musl C fixtures (`zig cc -target <arch>-linux-musl`) and static Go
// fixtures (CGO_ENABLED=0, Go from /usr/local/go or PATH, its caches under
// .tools/go-cache), each built once per process into a temp dir.
import { repoRoot, run } from "./_support.ts";
import { scratchDir } from "../_support/process.ts";

export const supervisor = `${repoRoot}native/zig-out/bin/globus-streams-supervise`;
export const seccompFixtures = `${repoRoot}tests/native/fixtures/seccomp/`;

/** A temp dir for this process's builds, removed at exit. */
const buildDir = () => scratchDir("gs-seccomp-build-");

const built = new Map<string, Promise<string>>();

function once(key: string, build: () => Promise<string>): Promise<string> {
  let result = built.get(key);
  if (!result) {
    result = build();
    built.set(key, result);
  }
  return result;
}

/** Compiles fixtures/seccomp/<name>.c statically against musl; returns the program. */
export function compileStatic(name: string): Promise<string> {
  return once(`c:${name}`, async () => {
    const out = `${buildDir()}/${name}`;
    const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
    const result = await run(`${repoRoot}dev`, [
      "zig",
      "cc",
      "-target",
      `${arch}-linux-musl`,
      "-static",
      "-O2",
      "-Wall",
      "-Werror",
      "-o",
      out,
      `${seccompFixtures}${name}.c`,
    ], { timeoutMs: 180_000 });
    if (result.code !== 0) throw new Error(`zig cc ${name}.c failed:\n${result.stderr}`);
    return out;
  });
}

/** The go command: /usr/local/go/bin/go, else go on PATH; null when there is none. */
export async function goCommand(): Promise<string | null> {
  try {
    await Deno.stat("/usr/local/go/bin/go");
    return "/usr/local/go/bin/go";
  } catch {
    // Not there: look on PATH.
  }
  const found = await run("sh", ["-c", "command -v go"]).catch(() => undefined);
  return found?.code === 0 ? found.stdout.trim() : null;
}

/** Builds fixtures/seccomp/<name>.go with CGO_ENABLED=0 (a static binary). */
export function buildGo(name: string, options: { cgo?: boolean } = {}): Promise<string> {
  const cgo = options.cgo ?? false;
  return once(`go:${name}:${cgo}`, async () => {
    const go = await goCommand();
    if (go === null) throw new Error("no go command: install Go or Debian's golang-go");
    const out = `${buildDir()}/${name}${cgo ? "-cgo" : ""}`;
    const cache = `${repoRoot}.tools/go-cache`;
    const result = await run(go, ["build", "-o", out, `${seccompFixtures}${name}.go`], {
      env: {
        CGO_ENABLED: cgo ? "1" : "0",
        GOCACHE: `${cache}/build`,
        GOPATH: `${cache}/path`,
        GO111MODULE: "off",
        GOTOOLCHAIN: "local",
        HOME: buildDir(),
      },
      timeoutMs: 300_000,
    });
    if (result.code !== 0) throw new Error(`go build ${name}.go failed:\n${result.stderr}`);
    return out;
  });
}

/** True when the ELF file at path names a dynamic loader (a PT_INTERP program header). */
export async function isDynamicElf(path: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) {
    throw new Error(`${path} is not a 64-bit little-endian ELF file`);
  }
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  for (let index = 0; index < phnum; index++) {
    if (view.getUint32(phoff + index * phentsize, true) === 3) return true;
  }
  return false;
}
