// Child process for the crash and lock tests.
//   _writer.ts DIR TUNNEL_ID loop       rewrite the conf forever, alternating fake_port
//                                       1111/2222; prints "ready" after the first write
//   _writer.ts DIR TUNNEL_ID increment N  N times, under the lock: read, update_time+1, write
//   _writer.ts DIR TUNNEL_ID hold MS    take the lock, print "locked", hold it MS, exit
//   _writer.ts DIR TUNNEL_ID exclusive MS  as a refresher: under the lock, create
//                                       DIR/inside (exit 3 if it exists: someone else
//                                       holds the lock too), hold MS, remove it
import { ConfStore, withValues } from "../../src/conf/mod.ts";
import { sampleConf } from "./_fixture.ts";

const [dir, tunnelId, mode, count] = Deno.args;
const store = new ConfStore(dir);

/** About 40 KB of unknown keys, so one write is big enough to be caught in the middle. */
export function padded(fakePort: number) {
  const conf = sampleConf({ fakePort });
  const lines = Array.from({ length: 500 }, (_, i) => ({
    key: `pad_${i}`,
    value: "x".repeat(70),
  }));
  return { values: conf.values, lines };
}

if (mode === "loop") {
  let port = 1111;
  for (let i = 0;; i++) {
    await store.write(tunnelId, padded(port));
    if (i === 0) console.log("ready");
    port = port === 1111 ? 2222 : 1111;
  }
} else if (mode === "increment") {
  for (let i = 0; i < Number(count); i++) {
    await store.withLock(tunnelId, async () => {
      const conf = (await store.read(tunnelId))!;
      // yield between read and write so an unlocked version would lose updates
      await new Promise((resolve) => setTimeout(resolve, 1));
      await store.write(tunnelId, withValues(conf, { updateTime: conf.values.updateTime + 1 }));
    });
  }
} else if (mode === "hold") {
  await store.withLock(tunnelId, async () => {
    console.log("locked");
    await new Promise((resolve) => setTimeout(resolve, Number(count)));
  });
} else if (mode === "exclusive") {
  const marker = `${dir}/inside`;
  await store.withLock(tunnelId, async () => {
    try {
      Deno.writeTextFileSync(marker, `${Deno.pid}\n`, { createNew: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      console.log(`overlap with ${Deno.readTextFileSync(marker).trim()}`);
      Deno.exit(3);
    }
    console.log("locked");
    await new Promise((resolve) => setTimeout(resolve, Number(count)));
    Deno.removeSync(marker);
  });
}
