// `whoami`: the identity the CLI acts as.
import { defineCommand, formatOf, formatOption } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { printJson } from "../_print.ts";
import { whoAmI } from "../../globus/mod.ts";

const formats = ["text", "json"] as const;

/** `globus-streams whoami [-F text|json]`. */
export const command = defineCommand({
  usage: "[options]",
  description: "Prints the username of the logged-in user, or the client's identity when\n" +
    "GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET are set.",
  options: { format: formatOption([...formats]) },
  positionals: { min: 0, max: 0 },
  parse: (args) => ({ format: formatOf(args.values.format, formats) }),
  async run({ format }, deps) {
    const who = await whoAmI({ env: deps.env, fetch: deps.fetch, now: deps.now });
    if (format === "json") {
      printJson(deps, {
        sub: who.sub,
        preferred_username: who.username,
        name: who.name,
        email: who.email,
      });
    } else {
      deps.io.stdout(`${who.username ?? who.sub}\n`);
    }
    return ExitCode.ok;
  },
});
