import assert from "node:assert/strict";
import { GlobusApiError, serviceUrls } from "../../src/globus/mod.ts";

const envOf = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("serviceUrls: production by default, like the Globus SDK", () => {
  assert.deepEqual(serviceUrls(envOf({})), {
    auth: "https://auth.globus.org/",
    transfer: "https://transfer.api.globus.org/",
  });
  assert.deepEqual(serviceUrls(envOf({ GLOBUS_SDK_ENVIRONMENT: "production" })), {
    auth: "https://auth.globus.org/",
    transfer: "https://transfer.api.globus.org/",
  });
});

Deno.test("serviceUrls: GLOBUS_SDK_ENVIRONMENT picks preview and other environments", () => {
  assert.deepEqual(serviceUrls(envOf({ GLOBUS_SDK_ENVIRONMENT: "preview" })), {
    auth: "https://auth.preview.globus.org/",
    transfer: "https://transfer.api.preview.globus.org/",
  });
  assert.deepEqual(serviceUrls(envOf({ GLOBUS_SDK_ENVIRONMENT: "sandbox" })), {
    auth: "https://auth.sandbox.globuscs.info/",
    transfer: "https://transfer.api.sandbox.globuscs.info/",
  });
});

Deno.test("serviceUrls: per-service overrides win and always end in a slash", () => {
  const urls = serviceUrls(envOf({
    GLOBUS_SDK_ENVIRONMENT: "sandbox",
    GLOBUS_SDK_SERVICE_URL_TRANSFER: "http://127.0.0.1:8000/transfer",
    GLOBUS_SDK_SERVICE_URL_AUTH: "http://127.0.0.1:8000/auth/",
  }));
  assert.deepEqual(urls, {
    auth: "http://127.0.0.1:8000/auth/",
    transfer: "http://127.0.0.1:8000/transfer/",
  });
});

Deno.test("serviceUrls: bad values are named", () => {
  for (
    const [values, pattern] of [
      [
        { GLOBUS_SDK_SERVICE_URL_TRANSFER: "transfer.example" },
        /TRANSFER "transfer\.example": not a URL/,
      ],
      [
        { GLOBUS_SDK_SERVICE_URL_AUTH: "ftp://x/" },
        /AUTH "ftp:\/\/x\/": want an http or https URL/,
      ],
      [{ GLOBUS_SDK_ENVIRONMENT: "a.b/c" }, /GLOBUS_SDK_ENVIRONMENT "a\.b\/c"/],
    ] as const
  ) {
    assert.throws(() => serviceUrls(envOf(values)), (error: unknown) => {
      assert.ok(error instanceof GlobusApiError);
      assert.match(error.message, pattern);
      return true;
    });
  }
});
