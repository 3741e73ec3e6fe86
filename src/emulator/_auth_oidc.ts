// OpenID Connect for the emulated Globus Auth: an RS512 key made once per run (on first
// use: making it takes a moment), the id_token signed with it, the JWK set and the
// openid-configuration document that clients (the Globus SDK) verify id_tokens with.

/** What the emulated Auth says about itself at `.well-known/openid-configuration`. */
export function openidConfiguration(baseUrl: string): Record<string, unknown> {
  return {
    issuer: baseUrl.replace(/\/$/, ""),
    authorization_endpoint: `${baseUrl}v2/oauth2/authorize`,
    token_endpoint: `${baseUrl}v2/oauth2/token`,
    userinfo_endpoint: `${baseUrl}v2/oauth2/userinfo`,
    revocation_endpoint: `${baseUrl}v2/oauth2/token/revoke`,
    jwks_uri: `${baseUrl}jwk.json`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code", "client_credentials", "refresh_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS512"],
    scopes_supported: ["openid", "email", "profile"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    claims_supported: [
      "iss",
      "sub",
      "aud",
      "iat",
      "exp",
      "email",
      "name",
      "preferred_username",
      "identity_provider",
      "identity_provider_display_name",
    ],
  };
}

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JsonWebKey & { kid: string };
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function jsonPart(value: unknown): string {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

/** The signing key of one emulator run. */
export class IdTokenSigner {
  #keys: Promise<KeyPair> | undefined;

  #keyPair(): Promise<KeyPair> {
    this.#keys ??= (async () => {
      const pair = await crypto.subtle.generateKey(
        {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-512",
        },
        true,
        ["sign", "verify"],
      );
      const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
      const kid = crypto.randomUUID();
      return {
        privateKey: pair.privateKey,
        publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: "RS512", use: "sig", kid },
      };
    })();
    return this.#keys;
  }

  /** The JWK set (`jwks_uri`). */
  async jwks(): Promise<{ keys: JsonWebKey[] }> {
    return { keys: [(await this.#keyPair()).publicJwk] };
  }

  /** A signed JWT (RS512) of these claims. */
  async sign(claims: Record<string, unknown>): Promise<string> {
    const { privateKey, publicJwk } = await this.#keyPair();
    const head = jsonPart({ alg: "RS512", typ: "JWT", kid: publicJwk.kid });
    const input = `${head}.${jsonPart(claims)}`;
    const signature = await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      privateKey,
      new TextEncoder().encode(input),
    );
    return `${input}.${base64url(new Uint8Array(signature))}`;
  }
}
