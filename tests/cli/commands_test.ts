// The one table of commands (src/cli/commands/mod.ts): what help, completion and the
// build read. A row must load, and a command module must have a row.
import assert from "node:assert/strict";
import { COMMANDS, loadCommand } from "../../src/cli/mod.ts";
import { commandModules } from "../../build/mod.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;
const commandsDir = `${repoRoot}src/cli/commands`;

async function publicModules(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) found.push(...await publicModules(dir, `${path}/`));
    else if (entry.name.endsWith(".ts") && !entry.name.startsWith("_")) found.push(path);
  }
  return found;
}

Deno.test("every row of the command table loads a command with parse and run", async () => {
  for (const row of COMMANDS) {
    const command = await loadCommand(row.name);
    assert.ok(command, `${row.name}: module ${row.module} exports no command`);
    assert.equal(typeof command.parse, "function", row.name);
    assert.equal(typeof command.run, "function", row.name);
    assert.ok(row.summary.length > 0 && !row.summary.includes("\n"), row.name);
  }
  assert.equal(await loadCommand("no such command"), undefined);
});

Deno.test("command names are unique, one or two words, and a group is never a command", () => {
  const names = COMMANDS.map((row) => row.name);
  assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), []);
  for (const name of names) assert.match(name, /^[a-z][a-z-]*( [a-z][a-z-]*)?$/);
  const groups = new Set(names.filter((n) => n.includes(" ")).map((n) => n.split(" ")[0]));
  assert.deepEqual(names.filter((name) => groups.has(name)), []);
});

Deno.test("every public module under src/cli/commands is in the table, and the build includes each", async () => {
  const modules = (await publicModules(commandsDir)).filter((path) => path !== "mod.ts").sort();
  assert.ok(modules.length >= 20, `found ${modules.length} command modules`);
  const inTable = [...new Set(COMMANDS.map((row) => `${row.module}.ts`))].sort();
  assert.deepEqual(modules.filter((path) => !inTable.includes(path)), [], "modules without a row");
  const included = commandModules();
  const commands = included.filter((path) => path.startsWith("src/cli/commands/"));
  assert.deepEqual(commands.map((path) => path.slice("src/cli/commands/".length)).sort(), inTable);
  // src/environment imports src/globus by a computed specifier too.
  assert.deepEqual(included.filter((path) => !commands.includes(path)), ["src/globus/mod.ts"]);
  for (const path of included) await Deno.stat(`${repoRoot}${path}`);
});
