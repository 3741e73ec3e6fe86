// `environment contact-lookup`: the command the preload library runs once per process
// to resolve `globus.<id>`. The rule (fresh, refreshed, or the stored contact) is
// src/environment's; this file parses and prints. Its fresh path reads one conf file and
// prints it, with no network and no module beyond src/conf and src/environment.
import { defineCommand, formatOf, formatOption, uuidArg } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { ConfStore } from "../../../conf/mod.ts";
import {
  connectorContact,
  currentConf,
  preloadLines,
  readConf,
  refreshDeadlineMs,
  STALE_FALLBACK_TTL_SECONDS,
} from "../../../environment/mod.ts";

const formats = ["plain", "preload", "json"] as const;

/** `globus-streams environment contact-lookup [--format plain|preload|json] TUNNEL_ID`. */
export const command = defineCommand({
  usage: "[--format plain|preload|json] TUNNEL_ID",
  description: [
    "Prints the connector contact (HOST:PORT) stored for the tunnel. When it is older than",
    "its TTL (connector_contact_string_ttl), fetches the tunnel from Transfer once, rewrites",
    "the conf file and prints the new one.",
    "",
    `When that fetch cannot be made (the service cannot be reached, fails with 5xx or 429,`,
    `or gives no answer within two thirds of GLOBUS_STREAMS_LOOKUP_TIMEOUT), it prints the`,
    `stored contact with a TTL of ${STALE_FALLBACK_TTL_SECONDS} s, says so in one line on stderr and exits 0;`,
    "the conf file stays stale, so the next lookup asks again. Definite answers stay errors:",
    "a tunnel Transfer does not know (404) and refused credentials (exit 4), since the",
    "stored contact would only hide them.",
    "",
    "Formats: plain (the contact only), preload (key=value lines for the preload library,",
    "the only format that includes the LAN secret), json (no secret).",
  ].join("\n"),
  options: {
    format: formatOption([...formats], "output format: plain (default), preload or json"),
  },
  positionals: { min: 1, max: 1 },
  parse: (args) => ({
    format: formatOf(args.values.format, formats),
    tunnelId: uuidArg(args.positionals[0]),
  }),
  async run({ format, tunnelId }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    const stored = await readConf(store, tunnelId);
    const { conf, ttlSeconds, fallback } = await currentConf(store, tunnelId, stored, {
      deps,
      deadlineMs: refreshDeadlineMs(deps.env),
    });
    if (fallback !== undefined) {
      deps.io.stderr(
        `globus-streams: warning: cannot refresh tunnel ${tunnelId}, ` +
          `using the stored contact for ${ttlSeconds} s: ${fallback}\n`,
      );
    }
    const values = conf.values;
    const contact = connectorContact(tunnelId, values);
    if (format === "plain") {
      deps.io.stdout(`${contact}\n`);
    } else if (format === "preload") {
      deps.io.stdout(preloadLines(tunnelId, values, ttlSeconds));
    } else {
      // As printJson (_print.ts) writes it; inline to keep a module off the start-up path.
      const answer = {
        tunnel_id: tunnelId,
        connector_contact_string: contact,
        listener_contact_string: values.listenerContactString ?? null,
        fake_port: values.fakePort,
        ttl_seconds: ttlSeconds,
        secured: values.lankey !== undefined,
      };
      deps.io.stdout(JSON.stringify(answer, null, 2) + "\n");
    }
    return ExitCode.ok;
  },
});
