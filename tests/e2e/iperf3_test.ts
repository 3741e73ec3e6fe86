// iperf3, unmodified, measures through the tunnel in both directions: the server runs
// under `globus-streams-launch -p PORT` on the listening side (its control and data
// connections both pass GSA1 in accept()), the client under the launcher dials
// globus.<id>:<fake port>. tests/run.ts installs iperf3 when it can.
import assert from "node:assert/strict";
import {
  onPath,
  type Proc,
  runInitiator,
  startListeningApp,
  startTunnelWorld,
} from "./_support.ts";

const hasIperf3 = await onPath("iperf3");
/** Why the test is skipped, shown in its name (Deno's `ignore` takes no reason). */
const skipped = hasIperf3
  ? ""
  : " [skipped: iperf3 is not on PATH; ./dev test installs it with apt-get when root]";

interface IperfReport {
  start: { test_start: { reverse: number; duration: number } };
  end: { sum_sent: { bytes: number }; sum_received: { bytes: number } };
  error?: string;
}

Deno.test({
  name: `iperf3 moves bytes both ways through the tunnel (2 s each, then -R)${skipped}`,
  ignore: !hasIperf3,
}, async () => {
  await using world = await startTunnelWorld();
  const server = [
    "iperf3",
    "-s",
    "--forceflush",
    "-B",
    world.listenerHost,
    "-p",
    String(world.listenerPort),
  ];
  let app: Proc | undefined;
  try {
    app = await startListeningApp(world, server, { ready: /^Server listening on \d+/ });
    for (const reverse of [false, true]) {
      const client = [
        "iperf3",
        "-c",
        world.name,
        "-p",
        String(world.fakePort),
        "-t",
        "2",
        "-J",
        ...(reverse ? ["-R"] : []),
      ];
      const result = await runInitiator(world, client, { timeoutMs: 30_000 });
      const report = JSON.parse(result.stdout) as IperfReport;
      assert.equal(result.code, 0, `${report.error ?? ""}\n${result.stderr}`);
      assert.equal(report.start.test_start.reverse, reverse ? 1 : 0);
      assert.equal(report.start.test_start.duration, 2);
      // At least a megabyte each way counted by both ends (through the relays: far
      // more than that; the point is that bytes flowed and were all received).
      assert.ok(report.end.sum_sent.bytes > 1_000_000, `sent ${report.end.sum_sent.bytes}`);
      assert.ok(
        report.end.sum_received.bytes > 1_000_000,
        `received ${report.end.sum_received.bytes}`,
      );
      assert.match(result.stderr, /\[connect\] globus\.[0-9a-f]{8}:\d+ -> .*gsa1 ok\)/);
    }
    // Control and data connection of each run passed GSA1 in the server's accept().
    const accepted = app.stderr().match(/\[accept\] .*gsa1 ok\)/g) ?? [];
    assert.equal(accepted.length, 4, app.stderr());
  } catch (error) {
    if (app) console.error(`iperf3 server's stderr:\n${app.stderr()}`);
    throw error;
  } finally {
    await app?.stop();
  }
});
