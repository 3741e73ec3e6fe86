// `emulator`: runs the local stand-in for the Globus services until SIGINT/SIGTERM,
// and hands out the variables that point the CLI at it.
import { defineCommand, UsageError } from "../_command.ts";
import { ExitCode } from "../_exit.ts";
import { allowRemoteOption, checkListenAddress } from "../_listen.ts";
import {
  defaultEmulatorConfig,
  formatExports,
  loadEmulatorConfig,
  startEmulator,
  streamsDataPlaneWith,
  writeEnvFile,
} from "../../emulator/mod.ts";
import { CONTACT_HINT, parseContact } from "../../contact/mod.ts";

function stopped(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** `globus-streams emulator [--config FILE] [--listen HOST:PORT] [--env-file FILE]`. */
export const command = defineCommand({
  usage: "[options]",
  description: `Serves Globus Auth, the Transfer tunnel API and a GCS manager per endpoint on
loopback, with the topology of --config (TOML, see docs/emulator.md) or a built-in
one: two endpoints, each with a stream access point. It prints (or writes to
--env-file, atomically, once ready) the variables that point the CLI at it:

  export GLOBUS_SDK_ENVIRONMENT=emulator
  export GLOBUS_SDK_SERVICE_URL_AUTH=http://127.0.0.1:PORT/auth/
  export GLOBUS_SDK_SERVICE_URL_TRANSFER=http://127.0.0.1:PORT/transfer/
  export GLOBUS_SDK_VERIFY_SSL=.../gcs-ca.pem   (the GCS managers' per-run CA)
  export GLOBUS_CLI_CLIENT_ID=...   GLOBUS_CLI_CLIENT_SECRET=...
  export GLOBUS_STREAMS_EMULATOR_INITIATOR_AP=...   GLOBUS_STREAMS_EMULATOR_LISTENER_AP=...

On stderr only, it prints the login approval secret: its login page asks for it
before it signs anyone in as the emulated user.

It runs until interrupted (SIGINT/SIGTERM), then stops and removes the env file.
A --listen address other hosts can reach (not loopback) needs --allow-remote: they
could use its services as you do.

Example:
  globus-streams emulator --env-file /tmp/emulator.env &
  . /tmp/emulator.env && globus-streams access-point list`,
  options: {
    config: { type: "string", value: "FILE", help: "topology and timing (TOML)" },
    listen: {
      type: "string",
      value: "HOST:PORT",
      help: "where to listen (default 127.0.0.1 on a free port)",
    },
    "allow-remote": allowRemoteOption,
    "env-file": { type: "string", value: "FILE", help: "write the exports here when ready" },
  },
  positionals: { min: 0, max: 0 },
  parse(args) {
    const listenText = args.values.listen;
    const listen = listenText === undefined ? undefined : parseContact(listenText);
    if (listenText !== undefined && !listen) {
      throw new UsageError(`Invalid --listen "${listenText}": ${CONTACT_HINT}`);
    }
    return {
      listenText,
      listen,
      allowRemote: Boolean(args.values["allow-remote"]),
      configPath: args.values.config,
      envFile: args.values["env-file"],
    };
  },
  async run({ listenText, listen, allowRemote, configPath, envFile }, deps) {
    // Reading the signal installs the SIGINT/SIGTERM handlers before anything else.
    const signal = deps.signal;
    if (listenText !== undefined) {
      checkListenAddress(listenText, deps, {
        command: "emulator",
        reachable: "use its Auth, Transfer and GCS services (tokens, tunnels, LAN secrets)",
        allowRemote,
      });
    }
    const config = configPath ? await loadEmulatorConfig(configPath) : defaultEmulatorConfig();
    // Each stream's closing line (legs, bytes, handshake) goes to stderr, so a user
    // watching the emulator sees what every connection did.
    const plane = streamsDataPlaneWith({ log: (line) => deps.io.stderr(line + "\n") });
    const emulator = await startEmulator(config, {
      hostname: listen?.host,
      port: listen?.port,
      plane,
    });
    try {
      if (envFile) await writeEnvFile(envFile, emulator.exports);
      else deps.io.stdout(formatExports(emulator.exports));
      deps.io.stderr(
        `globus-streams: emulator serving at ${emulator.url}${
          envFile ? ` (exports in "${envFile}")` : ""
        }; stop it with Ctrl-C\n`,
      );
      // On this terminal only: the login page approves with it (never in the env file).
      deps.io.stderr(`globus-streams: login approval secret: ${emulator.approvalSecret}\n`);
      await stopped(signal);
    } finally {
      await emulator.stop();
      if (envFile) await Deno.remove(envFile).catch(() => {});
    }
    return ExitCode.ok;
  },
});
