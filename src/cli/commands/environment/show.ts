// `environment show`: one tunnel's conf file, every key in file order, the secret
// redacted, and how long its contact stays fresh.
import { defineCommand, formatOf, formatOption, uuidArg } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { printJson } from "../../_print.ts";
import { ConfStore, formatConf, freshFor } from "../../../conf/mod.ts";
import { readConf } from "../../../environment/mod.ts";

const formats = ["text", "json"] as const;
const redacted = "(redacted)";

/** `globus-streams environment show [-F text|json] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[-F text|json] TUNNEL_ID",
  options: { format: formatOption([...formats]) },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({
    format: formatOf(args.values.format, formats),
    tunnelId: uuidArg(args.positionals[0]),
  }),
  async run({ format, tunnelId }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    const conf = await readConf(store, tunnelId);
    const path = store.path(tunnelId);
    // Every key in file order, as written; the secret never leaves the file.
    const pairs = formatConf(conf, { path }).split("\n").filter((line) => line.includes("="))
      .filter((line) => !line.trimStart().startsWith("#"))
      .map((line) => {
        const equals = line.indexOf("=");
        const key = line.slice(0, equals).trim();
        return [key, key === "lankey" ? redacted : line.slice(equals + 1)] as const;
      });
    const fresh = freshFor(conf.values, deps.now());
    if (format === "json") {
      printJson(deps, {
        conf_file: path,
        fresh_seconds: Math.max(0, Math.floor(fresh)),
        values: Object.fromEntries(pairs),
      });
      return ExitCode.ok;
    }
    deps.io.stdout(`# ${path}\n`);
    for (const [key, value] of pairs) deps.io.stdout(`${key}=${value}\n`);
    deps.io.stdout(
      fresh > 0
        ? `# contact fresh for ${Math.floor(fresh)} s\n`
        : "# contact stale: the next contact-lookup fetches it again\n",
    );
    return ExitCode.ok;
  },
});
