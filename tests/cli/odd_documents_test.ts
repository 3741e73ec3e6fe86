// The CLI's commands that print Transfer's documents, fed odd but plausible ones
// (tests/globus/_odd_documents.ts) by a real local HTTP server: every command parses and
// prints them, unknown values as they came; a record that cannot be read is one warning
// line and never hides the others; environment initialize still refuses what it cannot
// act on (a host name as the contact the preload library connects to).
import assert from "node:assert/strict";
import { runCliInProcess } from "../_support/cli.ts";
import {
  ACTIVE_TUNNEL,
  BARE_POINT,
  BARE_TUNNEL,
  BROKEN_POINT,
  BROKEN_TUNNEL,
  ERROR_TUNNEL,
  NAMED_TUNNEL,
  ODD_POINT,
  startOddService,
} from "../globus/_odd_documents.ts";

/** The value of one "Field: value" line of a record. */
function field(record: string, name: string): string {
  const line = record.split("\n").find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no "${name}" in:\n${record}`);
  return line.slice(name.length + 1).trim();
}

/** The table row that has a cell equal to id, as cells. */
function row(table: string, id: string): string[] {
  const cells = table.split("\n").map((line) => line.split(" | ").map((cell) => cell.trim()))
    .find((cells) => cells.includes(id));
  assert.ok(cells, `no row ${id} in:\n${table}`);
  return cells;
}

/** The same row as column name -> cell, by the table's header line. */
function named(table: string, id: string): Record<string, string> {
  const headers = table.split("\n")[0].split(" | ").map((cell) => cell.trim());
  const cells = row(table, id);
  return Object.fromEntries(headers.map((header, index) => [header, cells[index]]));
}

async function withOddService(
  fn: (
    run: (...args: string[]) => ReturnType<typeof runCliInProcess>,
    dir: string,
  ) => Promise<void>,
): Promise<void> {
  const service = startOddService();
  const home = await Deno.makeTempDir({ prefix: "gs-odd-" });
  const env = { ...service.env, HOME: home, GLOBUS_STREAMS_DIR: `${home}/streams` };
  try {
    await fn((...args) => runCliInProcess(args, { env }), env.GLOBUS_STREAMS_DIR);
  } finally {
    await service.stop();
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("tunnel list shows an unknown state and host names; a bad record is one warning line", async () => {
  await withOddService(async (run) => {
    // The official columns, and the contacts behind --all-columns.
    const list = await run("tunnel", "list", "--all-columns");
    assert.equal(list.code, 0, list.stderr);
    const odd = row(list.stdout, ERROR_TUNNEL);
    assert.equal(odd[2], "ERROR");
    assert.ok(odd.includes("ap1.site-a.example.org:50123"), odd.join(" | "));
    assert.ok(odd.includes("db.site-b.example.org:5432"), odd.join(" | "));
    assert.equal(row(list.stdout, ACTIVE_TUNNEL)[2], "ACTIVE");
    assert.equal(row(list.stdout, BARE_TUNNEL)[1], "None");
    assert.ok(!list.stdout.includes(BROKEN_TUNNEL));
    assert.match(
      list.stderr,
      new RegExp(
        `^globus-streams: warning: Transfer sent tunnel 3 of the list \\(id "${BROKEN_TUNNEL}"\\) in a form this program cannot read: attributes\\.lifetime_mins: .* \\(-F json shows it as sent\\)\\n$`,
      ),
    );
    const json = await run("tunnel", "list", "-F", "json");
    assert.equal(json.code, 0, json.stderr);
    // The whole document, every page's data in it, as the official CLI prints it.
    const records = JSON.parse(json.stdout).data as { id: string; attributes: unknown }[];
    assert.deepEqual(records.map((r) => r.id), [
      ERROR_TUNNEL,
      ACTIVE_TUNNEL,
      BROKEN_TUNNEL,
      BARE_TUNNEL,
    ]);
    assert.equal(
      (records[0].attributes as { error_count: number }).error_count,
      3,
      "extra fields as sent",
    );
  });
});

Deno.test("tunnel show prints an unknown state, host names and missing fields", async () => {
  await withOddService(async (run) => {
    const show = await run("tunnel", "show", ERROR_TUNNEL);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(field(show.stdout, "State"), "ERROR");
    assert.equal(field(show.stdout, "Status"), "The tunnel failed: listener unreachable");
    assert.equal(field(show.stdout, "Initiator IP"), "ap1.site-a.example.org");
    assert.equal(field(show.stdout, "Listener IP"), "db.site-b.example.org");
    const bare = await run("tunnel", "show", BARE_TUNNEL);
    assert.equal(bare.code, 0, bare.stderr);
    for (const name of ["Label", "Status", "Initiator IP", "Initiator Port", "Owner"]) {
      assert.equal(field(bare.stdout, name), "None", name);
    }
    const json = await run("tunnel", "show", "-F", "json", ERROR_TUNNEL);
    assert.equal(JSON.parse(json.stdout).data.attributes.error_count, 3);
  });
});

Deno.test("tunnel events prints unknown codes and object details; a bad event is one warning", async () => {
  await withOddService(async (run) => {
    // The official columns, and the event's id and description behind --all-columns.
    const events = await run("tunnel", "events", "--all-columns", ACTIVE_TUNNEL);
    assert.equal(events.code, 0, events.stderr);
    const unreachable = named(events.stdout, "2769");
    assert.equal(unreachable.Code, "LISTENER_UNREACHABLE");
    assert.equal(unreachable.Error, "True");
    assert.equal(unreachable.Details, '{"errno":113,"text":"No route to host"}');
    const retrying = named(events.stdout, "2770");
    // A missing description is the client's empty text (the column is this project's).
    assert.deepEqual([retrying.Code, retrying.Error, retrying.Description], [
      "RETRYING",
      "None",
      "",
    ]);
    assert.ok(row(events.stdout, "2768").includes("STARTED"));
    assert.match(
      events.stderr,
      /^globus-streams: warning: Transfer sent event 4 of the list \(id "2771"\) in a form this program cannot read: attributes\.is_error: [^\n]*\n$/,
    );
  });
});

Deno.test("access-point list and show print unknown and missing attributes; a bad record is one warning", async () => {
  await withOddService(async (run) => {
    const list = await run("access-point", "list");
    assert.equal(list.code, 0, list.stderr);
    assert.equal(row(list.stdout, ODD_POINT)[1], "Site A (beta)");
    assert.equal(row(list.stdout, BARE_POINT)[1], "Site B");
    assert.match(
      list.stderr,
      new RegExp(
        `^globus-streams: warning: Transfer sent stream access point 2 of the list \\(id "${BROKEN_POINT}"\\) in a form this program cannot read: attributes\\.display_name: [^\\n]*\\n$`,
      ),
    );
    const show = await run("access-point", "show", ODD_POINT);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(field(show.stdout, "Keywords"), "beta,streams");
    assert.equal(field(show.stdout, "Advertised Owner"), "john@globus.org");
    const bare = await run("access-point", "show", BARE_POINT);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(field(bare.stdout, "TLSFTP Server"), "None");
    assert.equal(field(bare.stdout, "Description"), "None");
  });
});

Deno.test("environment initialize acts on the contact: an IP is written, a host name refused in one line", async () => {
  await withOddService(async (run, dir) => {
    const named = await run("environment", "initialize", NAMED_TUNNEL);
    assert.equal(named.code, 1, named.stdout + named.stderr);
    const lines = named.stderr.trimEnd().split("\n");
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `^globus-streams: Cannot use tunnel ${NAMED_TUNNEL}'s initiator contact "ap1\\.site-a\\.example\\.org:50123": want an IP address and a port 1-65535`,
      ),
    );
    assert.ok(lines.slice(0, -1).every((l) => l.startsWith("globus-streams: warning: ")));
    await assert.rejects(Deno.stat(`${dir}/${NAMED_TUNNEL}.conf`));

    const active = await run("environment", "initialize", ACTIVE_TUNNEL);
    assert.equal(active.code, 0, active.stderr);
    const conf = await Deno.readTextFile(`${dir}/${ACTIVE_TUNNEL}.conf`);
    assert.match(conf, /^connector_contact_string=10\.0\.0\.7:50124$/m);
  });
});
