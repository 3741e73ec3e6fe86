// Lists read record by record. The Tunnels API is in Beta: a record may carry a state,
// a code or a field this program does not know, or be shaped in a way it cannot read.
// One such record must never hide the others, so each record of a list is checked on
// its own; one that does not fit is kept whole, with a note saying what did not fit,
// for the caller to report (the CLI warns with one line per record and prints the
// others; `-F json` prints every record as sent).
import type { z } from "zod";
import { describeIssues } from "./_http.ts";
import { quoteText } from "../quote/mod.ts";

/** A list record that does not fit its schema, kept as the service sent it. */
export interface UnreadableRecord {
  /** Its position in the whole list, 0-based, across pages. */
  index: number;
  /** Its id, when it has a string or number one. */
  id: string | null;
  /** The record as sent. */
  document: unknown;
  /** One line saying which record and what did not fit. */
  note: string;
}

/** A list as read: the records that fit, in order, and those that did not. */
export interface Listing<T> {
  items: T[];
  unreadable: UnreadableRecord[];
}

function recordId(record: unknown): string | null {
  if (record === null || typeof record !== "object" || !("id" in record)) return null;
  const id = record.id;
  return typeof id === "string" || typeof id === "number" ? String(id) : null;
}

/**
 * Reads records into a listing: each one that fits `schema` converted, each one that
 * does not kept with its note. `what` names a record in the note ("tunnel").
 *
 * @example
 * ```ts
 * const listing: Listing<Tunnel> = { items: [], unreadable: [] };
 * readRecords(listing, document.data, {
 *   what: "tunnel",
 *   service: "Transfer",
 *   schema: tunnelResource,
 *   convert: toTunnel,
 * });
 * ```
 */
export function readRecords<S extends z.ZodType, T>(
  listing: Listing<T>,
  records: readonly unknown[],
  how: { what: string; service: string; schema: S; convert: (record: z.infer<S>) => T },
): void {
  const { schema, convert } = how;
  for (const record of records) {
    const index = listing.items.length + listing.unreadable.length;
    const checked = schema.safeParse(record);
    if (checked.success) {
      listing.items.push(convert(checked.data));
      continue;
    }
    const id = recordId(record);
    const named = id === null ? "" : ` (id ${quoteText(id, 100)})`;
    listing.unreadable.push({
      index,
      id,
      document: record,
      note: `${how.service} sent ${how.what} ${
        index + 1
      } of the list${named} in a form this program cannot read: ${describeIssues(checked.error)}`,
    });
  }
}
