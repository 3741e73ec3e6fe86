// The popen transport: a program's stdin and stdout, its exit status and stderr in the
// close error.
import assert from "node:assert/strict";
import { Stack } from "../../src/xio/mod.ts";
import { bytes, expectXio, readAll } from "./_support.ts";

Deno.test("popen carries bytes to a program's stdin and back from its stdout", async () => {
  const handle = await Stack.parse("popen:args=-c|tr a-z A-Z").open("sh", { timeoutMs: 5000 });
  assert.equal(typeof handle.info.popen.pid, "number");
  await handle.write(bytes("hello popen"));
  await handle.closeWrite();
  assert.equal(await readAll(handle), "HELLO POPEN");
  await handle.close({ timeoutMs: 5000 });
  assert.equal(handle.info.popen.exit_code, 0);
});

Deno.test("popen's close error carries the exit status and stderr", async () => {
  const handle = await Stack.parse("popen", {
    attrs: { popen: { args: ["-c", "cat >/dev/null; echo 'it broke' >&2; exit 3"] } },
  }).open("sh");
  await handle.write(bytes("ignored"));
  await handle.closeWrite();
  await expectXio(handle.read(new Uint8Array(8), { timeoutMs: 5000 }), "EOF");
  const error = await expectXio(handle.close({ timeoutMs: 5000 }), "SYSTEM");
  assert.match(error.message, /^Cannot close "sh" with stack "popen" \(driver "popen"\): /);
  assert.match(error.message, /program "sh" exited with status 3: it broke$/);
  assert.equal(handle.state, "closed");
});

Deno.test("popen kills a program that does not exit after close, SIGKILL if it must", async () => {
  // SIGTERM is ignored (and stays ignored across exec), so only SIGKILL ends it.
  const handle = await Stack.parse("popen:kill_after_ms=50", {
    attrs: { popen: { args: ["-c", "trap '' TERM; exec sleep 30"] } },
  }).open("sh");
  const started = performance.now();
  await handle.close({ timeoutMs: 5000 }); // killed by us: not an error
  assert.ok(performance.now() - started < 4000);
});

Deno.test("popen of a missing program is SYSTEM, of nothing CONTACT_STRING", async () => {
  const error = await expectXio(
    Stack.parse("popen").open("/nonexistent/program-for-xio-test"),
    "SYSTEM",
  );
  assert.ok(error.cause instanceof Deno.errors.NotFound);
  await expectXio(Stack.parse("popen").open(""), "CONTACT_STRING");
  await expectXio(
    () => Stack.parse("popen:args=a", { attrs: { popen: { args: ["b"] } } }),
    "PARAMETER",
  );
  await expectXio(() => Stack.parse("popen", { attrs: { popen: { args: [1] } } }), "PARAMETER");
});
