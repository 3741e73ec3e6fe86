// `completion bash|zsh|fish`: a completion script generated from the command table and
// each command's declared options, so it cannot drift from the CLI itself.
import { type Command, defineCommand, UsageError } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { COMMANDS, loadCommand } from "./mod.ts";

/** What a script needs to know about one command. */
interface CommandSpec {
  words: string[];
  summary: string;
  options: { long: string; short?: string; takesValue: boolean; choices: string[]; help: string }[];
  /** Values offered for the first positional, from a usage like "bash|zsh|fish". */
  positionalChoices: string[];
}

const choicePattern = /^[a-z0-9-]+(\|[a-z0-9-]+)+$/;

function choicesOf(text: string | undefined): string[] {
  return text && choicePattern.test(text) ? text.split("|") : [];
}

/** Every command with its options; a command whose module cannot load gets none. */
export async function commandSpecs(): Promise<CommandSpec[]> {
  const specs: CommandSpec[] = [];
  for (const row of COMMANDS) {
    let command: Command | undefined;
    try {
      command = await loadCommand(row.name);
    } catch {
      command = undefined;
    }
    const options = Object.entries(command?.options ?? {}).map(([long, spec]) => ({
      long,
      short: spec.short,
      takesValue: spec.type === "string",
      choices: spec.type === "string" ? choicesOf(spec.value) : [],
      help: spec.help,
    }));
    options.push({ long: "help", short: "h", takesValue: false, choices: [], help: "show help" });
    const firstPositional = command?.usage.split(/\s+/).find((word) => choicePattern.test(word));
    specs.push({
      words: row.name.split(" "),
      summary: row.summary,
      options,
      positionalChoices: choicesOf(firstPositional),
    });
  }
  return specs;
}

/** Groups ("environment") and single-word commands ("login"), in table order. */
function topWords(specs: CommandSpec[]): { word: string; summary: string }[] {
  const seen = new Map<string, string>();
  for (const spec of specs) {
    if (seen.has(spec.words[0])) continue;
    seen.set(spec.words[0], spec.words.length > 1 ? `${spec.words[0]} commands` : spec.summary);
  }
  return [...seen].map(([word, summary]) => ({ word, summary }));
}

function groups(specs: CommandSpec[]): Map<string, CommandSpec[]> {
  const map = new Map<string, CommandSpec[]>();
  for (const spec of specs.filter((s) => s.words.length > 1)) {
    map.set(spec.words[0], [...(map.get(spec.words[0]) ?? []), spec]);
  }
  return map;
}

/** Single-quoted for sh/bash/zsh. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Single-quoted for fish. */
function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function optionWords(spec: CommandSpec): string {
  return spec.options.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])])
    .join(" ");
}

/** The value choices of options, as bash `case` arms on the previous word. */
function valueArms(spec: CommandSpec, indent: string): string[] {
  const arms: string[] = [];
  for (const option of spec.options.filter((o) => o.takesValue)) {
    const patterns = [`--${option.long}`, ...(option.short ? [`-${option.short}`] : [])];
    const reply = option.choices.length > 0
      ? `COMPREPLY=($(compgen -W ${shQuote(option.choices.join(" "))} -- "$cur"))`
      : "COMPREPLY=()";
    arms.push(`${indent}${patterns.join("|")}) ${reply}; return ;;`);
  }
  return arms;
}

function bashScript(specs: CommandSpec[]): string {
  const lines = [
    "# bash completion for globus-streams; load with:",
    "#   source <(globus-streams completion bash)",
    "_globus_streams() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
    "  local command_words=1 command",
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W ${
      shQuote(topWords(specs).map((t) => t.word).join(" ") + " --help --version")
    } -- "$cur"))`,
    "    return",
    "  fi",
    '  case "${COMP_WORDS[1]}" in',
  ];
  for (const [group, members] of groups(specs)) {
    lines.push(
      `    ${group})`,
      '      if [ "$COMP_CWORD" -eq 2 ]; then',
      `        COMPREPLY=($(compgen -W ${
        shQuote(members.map((m) => m.words[1]).join(" ") + " --help")
      } -- "$cur"))`,
      "        return",
      "      fi",
      "      command_words=2 ;;",
    );
  }
  lines.push(
    "  esac",
    '  command="${COMP_WORDS[*]:1:$command_words}"',
    '  case "$command" in',
  );
  for (const spec of specs) {
    lines.push(`    ${shQuote(spec.words.join(" "))})`);
    lines.push('      case "$prev" in', ...valueArms(spec, "        "), "      esac");
    lines.push(`      if [[ "$cur" == -* ]]; then`);
    lines.push(`        COMPREPLY=($(compgen -W ${shQuote(optionWords(spec))} -- "$cur"))`);
    if (spec.positionalChoices.length > 0) {
      lines.push(
        "      else",
        `        COMPREPLY=($(compgen -W ${shQuote(spec.positionalChoices.join(" "))} -- "$cur"))`,
      );
    }
    lines.push("      fi ;;");
  }
  lines.push("  esac", "}", "complete -o default -F _globus_streams globus-streams", "");
  return lines.join("\n");
}

function zshScript(specs: CommandSpec[]): string {
  const describe = (items: { word: string; summary: string }[]) =>
    items.map((item) => shQuote(`${item.word}:${item.summary}`)).join(" ");
  const lines = [
    "#compdef globus-streams",
    "# zsh completion for globus-streams; load with:",
    "#   source <(globus-streams completion zsh)",
    "_globus_streams() {",
    "  local -a entries options",
    "  local command",
    "  if (( CURRENT == 2 )); then",
    `    entries=(${describe(topWords(specs))})`,
    "    _describe 'command' entries",
    "    return",
    "  fi",
    "  command=$words[2]",
    "  case $words[2] in",
  ];
  for (const [group, members] of groups(specs)) {
    lines.push(
      `    ${group})`,
      "      if (( CURRENT == 3 )); then",
      `        entries=(${
        describe(members.map((m) => ({ word: m.words[1], summary: m.summary })))
      })`,
      "        _describe 'subcommand' entries",
      "        return",
      "      fi",
      '      command="$words[2] $words[3]" ;;',
    );
  }
  lines.push("  esac", "  case $command in");
  for (const spec of specs) {
    lines.push(`    ${shQuote(spec.words.join(" "))})`);
    lines.push("      case $words[CURRENT-1] in");
    for (const option of spec.options.filter((o) => o.takesValue)) {
      const patterns = [`--${option.long}`, ...(option.short ? [`-${option.short}`] : [])];
      const reply = option.choices.length > 0
        ? `compadd -- ${option.choices.join(" ")}`
        : "_default";
      lines.push(`        ${patterns.join("|")}) ${reply}; return ;;`);
    }
    lines.push("      esac");
    const entries = spec.options.flatMap((o) =>
      [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])].map((flag) =>
        shQuote(`${flag.replace(/:/g, "\\:")}:${o.help}`)
      )
    );
    lines.push(`      options=(${entries.join(" ")})`);
    const positional = spec.positionalChoices.length > 0
      ? `compadd -- ${spec.positionalChoices.join(" ")}`
      : "_default";
    lines.push(
      `      if [[ $PREFIX == -* ]]; then _describe 'option' options; else ${positional}; fi ;;`,
    );
  }
  lines.push("  esac", "}", "compdef _globus_streams globus-streams", "");
  return lines.join("\n");
}

function fishScript(specs: CommandSpec[]): string {
  const c = "complete -c globus-streams";
  const tops = topWords(specs);
  const lines = [
    "# fish completion for globus-streams; load with:",
    "#   globus-streams completion fish | source",
    `${c} -f`,
    ...tops.map((t) => `${c} -n __fish_use_subcommand -a ${t.word} -d ${fishQuote(t.summary)}`),
  ];
  const groupMap = groups(specs);
  for (const [group, members] of groupMap) {
    const subs = members.map((m) => m.words[1]).join(" ");
    for (const member of members) {
      lines.push(
        `${c} -n ${
          fishQuote(
            `__fish_seen_subcommand_from ${group}; and not __fish_seen_subcommand_from ${subs}`,
          )
        } -a ${member.words[1]} -d ${fishQuote(member.summary)}`,
      );
    }
  }
  for (const spec of specs) {
    const condition = spec.words.map((word) => `__fish_seen_subcommand_from ${word}`)
      .join("; and ");
    for (const option of spec.options) {
      const parts = [`${c} -n ${fishQuote(condition)}`];
      if (option.short) parts.push(`-s ${option.short}`);
      parts.push(`-l ${option.long}`);
      if (option.choices.length > 0) parts.push(`-x -a ${fishQuote(option.choices.join(" "))}`);
      else if (option.takesValue) parts.push("-r");
      parts.push(`-d ${fishQuote(option.help)}`);
      lines.push(parts.join(" "));
    }
    if (spec.positionalChoices.length > 0) {
      lines.push(
        `${c} -n ${fishQuote(condition)} -a ${fishQuote(spec.positionalChoices.join(" "))}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

const shells = ["bash", "zsh", "fish"] as const;
type Shell = typeof shells[number];

function shellArg(text: string): Shell {
  const shell = shells.find((name) => name === text);
  if (!shell) throw new UsageError(`Unknown shell "${text}": want one of ${shells.join(", ")}`);
  return shell;
}

/** `globus-streams completion bash|zsh|fish`. */
export const command = defineCommand({
  usage: "bash|zsh|fish",
  description: [
    "Examples:",
    "  source <(globus-streams completion bash)     # in ~/.bashrc",
    "  source <(globus-streams completion zsh)      # in ~/.zshrc, after compinit",
    "  globus-streams completion fish > ~/.config/fish/completions/globus-streams.fish",
  ].join("\n"),
  options: {},
  positionals: { min: 1, max: 1 },
  parse: (args) => ({ shell: shellArg(args.positionals[0]) }),
  async run({ shell }, deps) {
    const specs = await commandSpecs();
    const script = shell === "bash"
      ? bashScript(specs)
      : shell === "zsh"
      ? zshScript(specs)
      : fishScript(specs);
    deps.io.stdout(script);
    return ExitCode.ok;
  },
});
