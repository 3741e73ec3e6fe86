// TLS trust of the Globus clients: GLOBUS_SDK_VERIFY_SSL names a CA file (as the Globus
// SDK reads it), here the emulator's GCS managers' per-run CA; no CA, no connection.
import assert from "node:assert/strict";
import { GcsClient, GlobusApiError } from "../../src/globus/mod.ts";
import { startEmulatorInProcess } from "../_support/emulator.ts";

async function failure(promise: Promise<unknown>): Promise<GlobusApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GlobusApiError) return error;
    throw error;
  }
  throw new Error("expected a GlobusApiError");
}

Deno.test("GLOBUS_SDK_VERIFY_SSL: the emulator's CA is trusted, nothing else is, false is refused", async () => {
  const { env: exports, emulator, stop } = await startEmulatorInProcess();
  const dir = await Deno.makeTempDir({ prefix: "gs-tls-" });
  try {
    const endpoint = emulator.config.endpoints[0].id;
    const url = emulator.gcsManagerUrl(endpoint);
    const gateways = (values: Record<string, string | undefined>, base = url) =>
      new GcsClient(base, endpoint, {
        env: (name) => ({ ...exports, ...values })[name],
        retryBaseMs: 1,
      }).listStreamGateways().then((listing) => listing.items);

    assert.equal((await gateways({})).length, 1);
    // The SDK's spelling of the same URL, ending in /api, is the same manager.
    assert.equal((await gateways({}, `${url}/api/`)).length, 1);

    const untrusted = await failure(gateways({ GLOBUS_SDK_VERIFY_SSL: undefined }));
    assert.equal(untrusted.kind, "network");
    assert.match(untrusted.message, /TLS failed \(.*UnknownIssuer/);

    const off = await failure(gateways({ GLOBUS_SDK_VERIFY_SSL: "false" }));
    assert.equal(
      off.message,
      'Cannot use GLOBUS_SDK_VERIFY_SSL "false": globus-streams always verifies TLS certificates; unset it, or set it to a CA file to trust',
    );
    const missing = await failure(gateways({ GLOBUS_SDK_VERIFY_SSL: `${dir}/none.pem` }));
    assert.match(
      missing.message,
      /^Cannot use GLOBUS_SDK_VERIFY_SSL ".*none\.pem": cannot read it \(/,
    );
    await Deno.writeTextFile(`${dir}/empty.pem`, "not a certificate\n");
    const notPem = await failure(gateways({ GLOBUS_SDK_VERIFY_SSL: `${dir}/empty.pem` }));
    assert.match(notPem.message, /no PEM certificate in it; set it to a CA file \(PEM\)$/);
    // "true" means the system's certificates only: the emulator's CA is not among them.
    const system = await failure(gateways({ GLOBUS_SDK_VERIFY_SSL: "true" }));
    assert.match(system.message, /UnknownIssuer/);
  } finally {
    await stop();
    await Deno.remove(dir, { recursive: true });
  }
});
