// `login`, `logout`, `whoami`: the stored Globus login (PKCE, "paste the code") and
// the identity the CLI acts as.
import type { CliDeps } from "./_deps.ts";
import { type Command, CommandError, formatOf, formatOption, UsageError } from "./_command.ts";
import {
  clientCredentials,
  finishLogin,
  logout,
  startLogin,
  storedGcsEndpoints,
  tokensPath,
  whoAmI,
} from "../globus/mod.ts";
import { isUuid } from "../uuid/mod.ts";

const AUTH_EXIT = 4;
const RULE = "-".repeat(60);

function clientOptions(deps: CliDeps) {
  return { env: deps.env, fetch: deps.fetch, now: deps.now };
}

export const loginCommand: Command = {
  name: "login",
  summary: "log in to Globus (prints a URL, reads the code you paste)",
  usage: "[options]",
  description: `Prints a Globus Auth URL. Open it in any browser, log in, and paste the code the
page shows. The tokens are stored in $GLOBUS_STREAMS_DIR/tokens.json (default
~/.globus/streams), readable only by you. A new login keeps the endpoints of the
previous one. Services and scripts set GLOBUS_CLI_CLIENT_ID and
GLOBUS_CLI_CLIENT_SECRET instead of logging in.

Example:
  globus-streams login --gcs $ENDPOINT_ID`,
  options: {
    gcs: {
      type: "string",
      multiple: true,
      value: "ENDPOINT_ID",
      help: "also get a token for this endpoint's GCS manager (repeatable)",
    },
    "no-browser": { type: "boolean", help: "print the URL only (always the case)" },
  },
  positionals: { min: 0, max: 0 },
  async run(args, deps) {
    const options = clientOptions(deps);
    if (clientCredentials(deps.env)) {
      throw new CommandError(
        "Cannot log in while GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET are set: the CLI acts as that client (unset both to log in as a user)",
        { exitCode: AUTH_EXIT },
      );
    }
    const asked = (args.values.gcs as string[] | undefined) ?? [];
    for (const endpoint of asked) {
      if (!isUuid(endpoint)) {
        throw new UsageError(`Invalid --gcs "${endpoint}": want an endpoint UUID`);
      }
    }
    const endpoints = [
      ...new Set([...asked.map((e) => e.toLowerCase()), ...await storedGcsEndpoints(deps.env)]),
    ];
    const request = startLogin({ ...options, gcsEndpoints: endpoints });
    deps.io.stdout(
      `Please authenticate with Globus here:\n${RULE}\n${request.url}\n${RULE}\n\n` +
        "Enter the resulting Authorization Code here: ",
    );
    const line = await deps.io.readLine();
    if (line === null || line.trim() === "") {
      deps.io.stdout("\n");
      throw new CommandError("No authorization code entered: run 'globus-streams login' again", {
        exitCode: AUTH_EXIT,
      });
    }
    const who = await finishLogin(request, line, options);
    deps.io.stdout(
      `\nYou have successfully logged in to the Globus Streams CLI as ${who.username ?? who.sub}\n`,
    );
    return 0;
  },
};

export const logoutCommand: Command = {
  name: "logout",
  summary: "revoke and forget the stored login",
  usage: "[options]",
  description: "Revokes every stored token with Globus Auth and removes tokens.json.",
  options: {},
  positionals: { min: 0, max: 0 },
  async run(_args, deps) {
    const path = tokensPath(deps.env);
    const result = await logout(clientOptions(deps));
    if (!result.hadLogin) {
      deps.io.stdout(`You are not logged in: there is no "${path}"\n`);
      return 0;
    }
    for (const failure of result.failures) {
      deps.io.stderr(`globus-streams: Could not revoke a token: ${failure}\n`);
    }
    deps.io.stdout(
      `You are now logged out: ${result.revoked} token(s) revoked and "${path}" removed\n`,
    );
    return result.failures.length > 0 ? 1 : 0;
  },
};

export const whoamiCommand: Command = {
  name: "whoami",
  summary: "show the identity the CLI acts as",
  usage: "[options]",
  description: "Prints the username of the logged-in user, or the client's identity when\n" +
    "GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET are set.",
  options: { format: formatOption(["text", "json"]) },
  positionals: { min: 0, max: 0 },
  async run(args, deps) {
    const format = formatOf(args, ["text", "json"] as const);
    const who = await whoAmI(clientOptions(deps));
    if (format === "json") {
      deps.io.stdout(
        JSON.stringify(
          {
            sub: who.sub,
            preferred_username: who.username,
            name: who.name,
            email: who.email,
          },
          null,
          2,
        ) + "\n",
      );
    } else {
      deps.io.stdout(`${who.username ?? who.sub}\n`);
    }
    return 0;
  },
};
