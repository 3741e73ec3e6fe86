import assert from "node:assert/strict";
import { COMMANDS, ExitCode, loadCommand } from "../../src/cli/mod.ts";
import { runCliInProcess } from "../_support/cli.ts";

async function script(shell: string): Promise<string> {
  const result = await runCliInProcess(["completion", shell]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

function hasShell(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["-c", "true"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs the bash script's function on the given words; returns COMPREPLY. */
async function bashComplete(bashScript: string, words: string[]): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.bash`, bashScript);
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const program = `source ${dir}/c.bash; COMP_WORDS=(${quoted}); ` +
      `COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _globus_streams; ` +
      `printf '%s\\n' "\${COMPREPLY[@]}"`;
    const output = await new Deno.Command("bash", { args: ["-c", program], stderr: "piped" })
      .output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    return new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("completion bash is valid bash", { ignore: !hasShell("bash") }, async () => {
  const text = await script("bash");
  const check = await new Deno.Command("bash", { args: ["-n"], stdin: "piped", stderr: "piped" })
    .spawn();
  const writer = check.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { success } = await check.status;
  assert.ok(success);
});

Deno.test("bash completes commands, subcommands, options and their values", {
  ignore: !hasShell("bash"),
}, async () => {
  const text = await script("bash");
  const groups = [...new Set(COMMANDS.map((row) => row.name.split(" ")[0]))];
  assert.deepEqual(await bashComplete(text, ["globus-streams", ""]), [
    ...groups,
    "--help",
    "--version",
  ]);
  assert.deepEqual(await bashComplete(text, ["globus-streams", "env"]), ["environment"]);
  const environment = COMMANDS.filter((row) => row.name.startsWith("environment "))
    .map((row) => row.name.split(" ")[1]);
  assert.deepEqual(await bashComplete(text, ["globus-streams", "environment", ""]), [
    ...environment,
    "--help",
  ]);
  assert.deepEqual(
    await bashComplete(text, ["globus-streams", "environment", "initialize", "--li"]),
    ["--listener-contact-string", "--listener"],
  );
  assert.deepEqual(
    await bashComplete(text, ["globus-streams", "environment", "contact-lookup", "-F", ""]),
    ["plain", "preload", "json"],
  );
  assert.deepEqual(
    await bashComplete(text, ["globus-streams", "environment", "list", "--format", "j"]),
    ["json"],
  );
  assert.deepEqual(await bashComplete(text, ["globus-streams", "completion", ""]), [
    "bash",
    "zsh",
    "fish",
  ]);
  assert.deepEqual(
    await bashComplete(text, ["globus-streams", "environment", "show", "--nothing"]),
    [],
  );
});

Deno.test("every script names every command and every option of the commands that load", async () => {
  const scripts = {
    bash: await script("bash"),
    zsh: await script("zsh"),
    fish: await script("fish"),
  };
  for (const { name } of COMMANDS) {
    const words = name.split(" ");
    let options: string[] = [];
    try {
      options = Object.keys((await loadCommand(name))!.options);
    } catch {
      // a command whose module is not there yet: listed, without options
    }
    for (const [shell, text] of Object.entries(scripts)) {
      for (const word of words) assert.ok(text.includes(word), `${shell}: ${word}`);
      for (const option of options) {
        const mention = shell === "fish" ? `-l ${option}` : `--${option}`;
        assert.ok(text.includes(mention), `${shell}: ${name} ${mention}`);
      }
    }
  }
  assert.match(scripts.zsh, /^#compdef globus-streams$/m);
  assert.match(scripts.zsh, /^compdef _globus_streams globus-streams$/m);
  assert.match(
    scripts.fish,
    /^complete -c globus-streams -n __fish_use_subcommand -a environment /m,
  );
  assert.match(
    scripts.fish,
    /-n '__fish_seen_subcommand_from environment; and __fish_seen_subcommand_from contact-lookup' -s F -l format -x -a 'plain preload json'/,
  );
});

for (const shell of ["zsh", "fish"]) {
  Deno.test(`completion ${shell} is valid ${shell}`, { ignore: !hasShell(shell) }, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/c`, await script(shell));
      const output = await new Deno.Command(shell, { args: ["-n", `${dir}/c`], stderr: "piped" })
        .output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("completion refuses an unknown shell", async () => {
  const result = await runCliInProcess(["completion", "tcsh"]);
  assert.equal(result.code, ExitCode.usage);
  assert.match(result.stderr, /^globus-streams: Unknown shell "tcsh": want one of bash, zsh, fish/);
});
