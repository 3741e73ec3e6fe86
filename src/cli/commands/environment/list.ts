// `environment list`: the tunnels this host has conf files for.
import { defineCommand, formatOf, formatOption } from "../../_command.ts";
import { ExitCode } from "../../_exit.ts";
import { printJson, timeText } from "../../_print.ts";
import { ConfError, ConfStore } from "../../../conf/mod.ts";
import { readConf } from "../../../environment/mod.ts";
import { oneLine } from "../../../quote/mod.ts";

const formats = ["text", "json"] as const;

/** `globus-streams environment list [-F text|json]`. */
export const command = defineCommand({
  usage: "[-F text|json]",
  options: { format: formatOption([...formats]) },
  positionals: { min: 0, max: 0 },
  parse: (args) => ({ format: formatOf(args.values.format, formats) }),
  async run({ format }, deps) {
    const store = ConfStore.fromEnv(deps.env);
    const nowSeconds = deps.now() / 1000;
    const rows: Record<string, string | number | boolean | null>[] = [];
    for (const id of await store.tunnelIds()) {
      try {
        const values = (await readConf(store, id)).values;
        const expires = values.tunnelExpirationTime;
        rows.push({
          tunnel_id: id,
          side: values.side ?? null,
          connector_contact_string: values.connectorContactString ?? null,
          listener_contact_string: values.listenerContactString ?? null,
          tunnel_expiration_time: expires ?? null,
          expired: expires !== undefined && expires <= nowSeconds,
          conf_file: store.path(id),
        });
      } catch (error) {
        if (!(error instanceof ConfError)) throw error;
        deps.io.stderr(`globus-streams: warning: ${oneLine(error)}\n`);
        if (format === "json") rows.push({ tunnel_id: id, error: oneLine(error) });
      }
    }
    if (format === "json") {
      printJson(deps, rows);
      return ExitCode.ok;
    }
    if (rows.length === 0) {
      deps.io.stdout(`No conf files in ${store.dir}\n`);
      return ExitCode.ok;
    }
    const table = [["TUNNEL ID", "SIDE", "CONNECTOR CONTACT", "EXPIRES"]];
    for (const row of rows) {
      const expires = row.tunnel_expiration_time;
      table.push([
        String(row.tunnel_id),
        String(row.side ?? "-"),
        String(row.connector_contact_string ?? "-"),
        typeof expires === "number" ? timeText(expires) + (row.expired ? " (expired)" : "") : "-",
      ]);
    }
    const widths = table[0].map((_, column) => Math.max(...table.map((r) => r[column].length)));
    for (const row of table) {
      deps.io.stdout(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd() + "\n");
    }
    return ExitCode.ok;
  },
});
