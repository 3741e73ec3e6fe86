// deno compile cannot see the command modules src/cli/mod.ts imports by a computed
// specifier; build/ passes them to --include. This keeps the two lists the same.
import assert from "node:assert/strict";
import { commandModules } from "../../build/mod.ts";
import { repoRoot } from "./_build.ts";

Deno.test("the build includes exactly the command modules the CLI loads by computed specifier", async () => {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${repoRoot}/src/cli`)) {
    if (entry.isFile) files.push(`src/cli/${entry.name}`);
  }
  const included = commandModules(files).map((path) => path.slice("src/cli/".length, -3)).sort();
  const table = await Deno.readTextFile(`${repoRoot}/src/cli/mod.ts`);
  const loaded = [...new Set([...table.matchAll(/\bload\("([a-z_]+)"\)/g)].map((m) => m[1]))]
    .sort();
  assert.ok(loaded.length >= 7, `found ${loaded.length} loaded modules in src/cli/mod.ts`);
  // Every module the table loads is included (a missing one would fail in the binary).
  assert.deepEqual(loaded.filter((name) => !included.includes(name)), []);
  // And nothing is included that is not a command module.
  assert.deepEqual(included.filter((name) => !loaded.includes(name)), []);
});
