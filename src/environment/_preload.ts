import type { ConfValues } from "../conf/mod.ts";

/**
 * The `key=value` lines the preload library reads from `contact-lookup --format preload`
 * (architecture.md, "The contract between the preload library and the binary"): the
 * only answer that carries the LAN secret.
 */
export function preloadLines(
  tunnelId: string,
  values: ConfValues,
  ttlSeconds: number,
): string {
  const lines = [
    `tunnel_id=${tunnelId}`,
    `connector_contact_string=${values.connectorContactString}`,
    `fake_port=${values.fakePort}`,
  ];
  if (values.lankey !== undefined) {
    lines.push(`lankey=${values.lankey}`);
    if (values.lankeyId !== undefined) lines.push(`lankey_id=${values.lankeyId}`);
  }
  if (values.listenerContactString !== undefined) {
    lines.push(`listener_contact_string=${values.listenerContactString}`);
  }
  lines.push(`ttl_seconds=${ttlSeconds}`);
  return lines.join("\n") + "\n";
}
