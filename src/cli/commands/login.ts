// `login`: the PKCE "paste the code" login, stored in tokens.json.
import { CommandError, defineCommand, UsageError } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import {
  clientCredentials,
  finishLogin,
  startLogin,
  storedGcsEndpoints,
} from "../../globus/mod.ts";
import { isUuid } from "../../uuid/mod.ts";

const RULE = "-".repeat(60);

/** `globus-streams login [--gcs ENDPOINT_ID]...`. */
export const command = defineCommand({
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
  parse(args) {
    const gcs = args.values.gcs ?? [];
    for (const endpoint of gcs) {
      if (!isUuid(endpoint)) {
        throw new UsageError(`Invalid --gcs "${endpoint}": want an endpoint UUID`);
      }
    }
    return { gcsEndpoints: gcs.map((endpoint) => endpoint.toLowerCase()) };
  },
  async run({ gcsEndpoints }, deps) {
    const options = { env: deps.env, fetch: deps.fetch, now: deps.now };
    if (clientCredentials(deps.env)) {
      throw new CommandError(
        "Cannot log in while GLOBUS_CLI_CLIENT_ID and GLOBUS_CLI_CLIENT_SECRET are set: the CLI acts as that client (unset both to log in as a user)",
        { kind: "auth" },
      );
    }
    const endpoints = [...new Set([...gcsEndpoints, ...await storedGcsEndpoints(deps.env)])];
    const request = startLogin({ ...options, gcsEndpoints: endpoints });
    deps.io.stdout(
      `Please authenticate with Globus here:\n${RULE}\n${request.url}\n${RULE}\n\n` +
        "Enter the resulting Authorization Code here: ",
    );
    const line = await deps.io.readLine();
    if (line === null || line.trim() === "") {
      deps.io.stdout("\n");
      throw new CommandError("No authorization code entered: run 'globus-streams login' again", {
        kind: "auth",
      });
    }
    const who = await finishLogin(request, line, options);
    deps.io.stdout(
      `\nYou have successfully logged in to the Globus Streams CLI as ${who.username ?? who.sub}\n`,
    );
    return ExitCode.ok;
  },
});
