// `logout`: revoke the stored tokens and remove tokens.json.
import { defineCommand } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { logout, tokensPath } from "../../globus/mod.ts";

/** `globus-streams logout`. */
export const command = defineCommand({
  usage: "[options]",
  description: "Revokes every stored token with Globus Auth and removes tokens.json.",
  options: {},
  positionals: { min: 0, max: 0 },
  parse: () => ({}),
  async run(_options, deps) {
    const path = tokensPath(deps.env);
    const result = await logout({ env: deps.env, fetch: deps.fetch, now: deps.now });
    if (!result.hadLogin) {
      deps.io.stdout(`You are not logged in: there is no "${path}"\n`);
      return ExitCode.ok;
    }
    for (const failure of result.failures) {
      deps.io.stderr(`globus-streams: Could not revoke a token: ${failure}\n`);
    }
    deps.io.stdout(
      `You are now logged out: ${result.revoked} token(s) revoked and "${path}" removed\n`,
    );
    return result.failures.length > 0 ? ExitCode.failure : ExitCode.ok;
  },
});
