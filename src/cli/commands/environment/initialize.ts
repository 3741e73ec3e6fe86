// `environment initialize`: parses the command line into src/environment's
// InitializeOptions, shows the wait for ACTIVE, and prints what was written.
import { defineCommand, formatOf, formatOption, UsageError, uuidArg } from "../../_command.ts";
import type { CliDeps } from "../../_deps.ts";
import { ExitCode } from "../../_exit.ts";
import { printJson } from "../../_print.ts";
import { wholeSeconds } from "../../_values.ts";
import type { Side } from "../../../conf/mod.ts";
import { CONTACT_HINT, isIpAddress, parseContact } from "../../../contact/mod.ts";
import {
  DEFAULT_CONTACT_TTL_SECONDS,
  DEFAULT_WAIT_SECONDS,
  initializeEnvironment,
} from "../../../environment/mod.ts";
import type { Tunnel } from "../../../globus/mod.ts";

const formats = ["text", "json"] as const;
const progressEveryMs = 5000;

/** Checks a listener contact: HOST:PORT where HOST is an IP address. */
function listenerContact(text: string): { host: string; port: number } {
  const contact = parseContact(text);
  if (!contact) throw new UsageError(`Invalid listener contact string "${text}": ${CONTACT_HINT}`);
  if (!isIpAddress(contact.host)) {
    throw new UsageError(
      `Invalid listener contact string "${text}": the host must be an IP address, ` +
        `not a name (Transfer stores listener_ip_address), e.g. "10.0.0.5:8888"`,
    );
  }
  return contact;
}

/**
 * Progress while waiting for ACTIVE, on stderr: one line redrawn in place on a terminal,
 * else a line every few seconds. end() clears or finishes the drawn line.
 */
function waitProgress(deps: CliDeps) {
  const { io } = deps;
  let lastLineAt = -Infinity;
  let drawn = false;
  return {
    waiting(tunnel: Tunnel, elapsedMs: number): void {
      const line = `Waiting for tunnel ${tunnel.id} to become ACTIVE: state ${tunnel.state}, ` +
        `${Math.floor(elapsedMs / 1000)} s`;
      if (io.stderrIsTerminal) {
        io.stderr(`\r\x1b[2K${line}`);
        drawn = true;
      } else if (elapsedMs - lastLineAt >= progressEveryMs) {
        io.stderr(line + "\n");
        lastLineAt = elapsedMs;
      }
    },
    end(ok: boolean): void {
      if (drawn) io.stderr(ok ? "\r\x1b[2K" : "\n");
      drawn = false;
    },
  };
}

/** `globus-streams environment initialize [options] TUNNEL_ID [ENDPOINT_ID]`. */
export const command = defineCommand({
  usage: "[options] TUNNEL_ID [ENDPOINT_ID]",
  description: [
    "Listening side (--listener or --listener-contact-string): sets the tunnel's listener",
    "contact when given, which starts the tunnel. Initiating side (the default): prints",
    "the contact string globus.<id>:<port> for your client. When the tunnel is not ACTIVE",
    "yet, the conf file is written without the access point's contact, and contact-lookup",
    "(or the preload library) fetches it once the tunnel is ACTIVE; --wait waits instead.",
    "Both sides ask the endpoint (ENDPOINT_ID, default the access point's host endpoint)",
    "for a LAN secret and store everything in <dir>/<tunnel id>.conf, where <dir> is",
    "GLOBUS_STREAMS_DIR or $HOME/.globus/streams.",
    "",
    "Example:",
    "  globus-streams environment initialize --listener-contact-string 10.0.0.5:8888 TUNNEL_ID",
    "  globus-streams environment initialize --wait TUNNEL_ID",
  ].join("\n"),
  options: {
    "listener-contact-string": {
      type: "string",
      value: "HOST:PORT",
      help: "listening side: where the access point connects (IP address and port)",
    },
    listener: { type: "boolean", help: "listening side, without changing the listener contact" },
    "cs-ttl": {
      type: "string",
      value: "SECONDS",
      help: `how long a looked-up contact stays fresh (default ${DEFAULT_CONTACT_TTL_SECONDS})`,
    },
    force: { type: "boolean", help: "replace an existing conf file (keeps its fake port)" },
    wait: {
      type: "boolean",
      help: "initiating side: wait until the tunnel is ACTIVE (else write the conf file now)",
    },
    "wait-timeout": {
      type: "string",
      value: "SECONDS",
      help: `give up waiting after this long (default ${DEFAULT_WAIT_SECONDS})`,
    },
    format: formatOption([...formats]),
  },
  positionals: { min: 1, max: 2 },
  parse(args) {
    const format = formatOf(args.values.format, formats);
    const tunnelId = uuidArg(args.positionals[0]);
    const endpointText = args.positionals[1];
    const endpointId = endpointText === undefined
      ? undefined
      : uuidArg(endpointText, "endpoint id");
    const contactText = args.values["listener-contact-string"];
    const contact = contactText === undefined ? undefined : listenerContact(contactText);
    const side: Side = contact || args.values.listener ? "listening" : "initiating";
    return {
      format,
      initialize: {
        tunnelId,
        endpointId,
        listenerContact: contact,
        side,
        contactTtlSeconds: wholeSeconds(
          args.values["cs-ttl"],
          "cs-ttl",
          DEFAULT_CONTACT_TTL_SECONDS,
        ),
        waitSeconds: wholeSeconds(
          args.values["wait-timeout"],
          "wait-timeout",
          DEFAULT_WAIT_SECONDS,
        ),
        wait: Boolean(args.values.wait),
        force: Boolean(args.values.force),
      },
    };
  },
  async run({ format, initialize }, deps) {
    const { tunnelId, side } = initialize;
    const text = format === "text";
    const progress = waitProgress(deps);
    let done;
    try {
      done = await initializeEnvironment(initialize, {
        env: deps.env,
        now: deps.now,
        fetch: deps.fetch,
        signal: deps.signal,
        events: {
          started: () => {
            if (text) deps.io.stdout(`Initializing the environment for tunnel: ${tunnelId}\n`);
          },
          waiting: progress.waiting,
          unsecured: (reason) => {
            progress.end(true);
            deps.io.stderr(
              `globus-streams: warning: The LAN connection for this tunnel is not secured: ` +
                `${reason}\n`,
            );
          },
        },
      });
    } catch (error) {
      progress.end(false);
      throw error;
    }
    progress.end(true);
    const { store, values, contactString } = done;
    if (done.pendingState !== undefined) {
      deps.io.stderr(
        `globus-streams: note: tunnel ${tunnelId} is not ACTIVE yet (state ` +
          `${done.pendingState}): its contact is not known yet; 'globus-streams environment ` +
          `contact-lookup ${tunnelId}' and the preload library fetch it once it is ACTIVE\n`,
      );
    }
    if (text) {
      deps.io.stdout(
        `The environment is initialized for use with tunnel ${tunnelId}\n` +
          `Your application key file base directory is ${store.dir}/\n` +
          (contactString ? `Your contact string is: ${contactString}\n` : ""),
      );
    } else {
      printJson(deps, {
        tunnel_id: tunnelId,
        side,
        directory: `${store.dir}/`,
        conf_file: store.path(tunnelId),
        contact_string: contactString,
        connector_contact_string: values.connectorContactString ?? null,
        listener_contact_string: values.listenerContactString ?? null,
        endpoint_id: values.endpointId,
        secured: done.secured,
      });
    }
    return ExitCode.ok;
  },
});
