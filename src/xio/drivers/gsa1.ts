// gsa1: the LAN handshake (shared/design/handshake.md) as a transform. On open it runs
// one side of GSA1 over the layers below, then passes bytes through unchanged. The side
// that accepted is the challenger unless role= says otherwise.
//   gsa1:role=responder;tunnel=<uuid>;secret_id=<uuid>;timeout_ms=10000
// Secrets never go in the string: they come from attrs { secret, secretId } or a
// lookup attrs { secrets: (tunnelId, secretId) => ({ secret }) | { refuse } | undefined }.
// A failed handshake throws a HandshakeError (the framework makes it SYSTEM, with the
// HandshakeError as cause: see handshakeReason()); a stalled step CANCELED/TIMEOUT.

import {
  answerHello,
  buildHello,
  checkVerdict,
  HandshakeError,
  HELLO_SIZE,
  judgeProof,
  newNonce,
  PROOF_SIZE,
  type SecretLookup,
  VERDICT_SIZE,
} from "../../handshake/mod.ts";
import { readEnv } from "../_debug.ts";
import {
  type DriverContext,
  type DriverLink,
  type LinkInfo,
  type Lower,
  PassLink,
  type TransformDriver,
} from "../_driver.ts";
import { XioError } from "../_error.ts";
import type { Options } from "../_options.ts";
import { timerDelay } from "../../timer/mod.ts";
import { isUuid } from "../../uuid/mod.ts";

/** What code passes for gsa1 in StackOptions.attrs. */
export interface Gsa1Attrs {
  /** The LAN secret (`lankey`) for the stack's tunnel. */
  secret?: string;
  /** Its UUID (`lankey_id`), sent in PROOF by a responder. */
  secretId?: string;
  /** A challenger serving many tunnels: the secret for the tunnel a PROOF names. */
  secrets?: SecretLookup;
  /** Step timeout in ms, when not given as timeout_ms. */
  timeoutMs?: number;
}

/** The default handshake step timeout: GLOBUS_STREAMS_HANDSHAKE_TIMEOUT seconds, else 10 s. */
export function handshakeTimeoutMs(env: (name: string) => string | undefined = readEnv): number {
  const text = env("GLOBUS_STREAMS_HANDSHAKE_TIMEOUT");
  if (text === undefined || text.trim() === "") return 10_000;
  const seconds = Number(text);
  return Number.isFinite(seconds) && seconds > 0 ? timerDelay(seconds * 1000) : 10_000;
}

function attrsOf(attrs: unknown): Gsa1Attrs {
  if (attrs === undefined) return {};
  if (typeof attrs !== "object" || attrs === null) throw new Error("attrs must be an object");
  const a = attrs as Gsa1Attrs;
  if (a.secret !== undefined && (typeof a.secret !== "string" || a.secret === "")) {
    throw new Error("attrs.secret must be a non-empty string");
  }
  if (a.secretId !== undefined && !(typeof a.secretId === "string" && isUuid(a.secretId))) {
    throw new Error("attrs.secretId must be a UUID");
  }
  if (a.secrets !== undefined && typeof a.secrets !== "function") {
    throw new Error("attrs.secrets must be a function");
  }
  if (a.timeoutMs !== undefined && !(Number.isInteger(a.timeoutMs) && a.timeoutMs > 0)) {
    throw new Error("attrs.timeoutMs must be a positive integer");
  }
  return a;
}

type Role = "challenger" | "responder";

function roleOf(options: Options, side: "open" | "accept"): Role {
  return (options.string("role") as Role | undefined) ??
    (side === "accept" ? "challenger" : "responder");
}

/** Runs fn with a signal that aborts after ms (CANCELED, cause TIMEOUT) or with outer. */
async function step<T>(
  ms: number,
  outer: AbortSignal,
  describe: () => string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = new AbortController();
  const id = setTimeout(() => {
    const message = `${describe()} after ${ms} ms`;
    timer.abort(
      new XioError("CANCELED", message, {
        cause: new XioError("TIMEOUT", `Timed out after ${ms} ms`),
      }),
    );
  }, timerDelay(ms));
  try {
    return await fn(AbortSignal.any([outer, timer.signal]));
  } finally {
    clearTimeout(id);
  }
}

/** One handshake over lower, with per-step timeouts. */
class Handshake {
  readonly role: Role;
  readonly #lower: Lower;
  readonly #context: DriverContext;
  readonly #timeoutMs: number;
  readonly #peer: string;

  constructor(lower: Lower, context: DriverContext, role: Role, timeoutMs: number) {
    this.#lower = lower;
    this.#context = context;
    this.role = role;
    this.#timeoutMs = timeoutMs;
    const remote = Object.values(lower.info()).map((i) => i.remote).find((r) =>
      typeof r === "string"
    );
    this.#peer = typeof remote === "string" ? remote : context.contact;
  }

  get peer(): string {
    return this.#peer;
  }

  async receive(what: string, size: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(size);
    const n = await step(
      this.#timeoutMs,
      this.#context.signal,
      () => `GSA1 handshake as ${this.role} with "${this.#peer}" timed out waiting for ${what}`,
      (signal) => this.#lower.read(buffer, { waitForBytes: size, signal }),
    );
    if (n < size) {
      throw new HandshakeError(
        "eof",
        `GSA1 handshake as ${this.role} with "${this.#peer}" failed: the peer closed after ${n} of ${size} bytes of ${what}`,
      );
    }
    return buffer;
  }

  send(what: string, bytes: Uint8Array): Promise<void> {
    return step(
      this.#timeoutMs,
      this.#context.signal,
      () => `GSA1 handshake as ${this.role} with "${this.#peer}" timed out sending ${what}`,
      (signal) => this.#lower.write(bytes, { signal }),
    );
  }

  log(level: "INFO" | "WARNING", message: string): void {
    this.#context.debug.log(level, "gsa1", `${this.role} with "${this.#peer}": ${message}`);
  }
}

function lookupFor(options: Options, attrs: Gsa1Attrs): SecretLookup {
  const tunnel = options.string("tunnel")?.toLowerCase();
  return (tunnelId, secretId) => {
    if (tunnel !== undefined && tunnelId !== tunnel) return undefined;
    if (attrs.secrets) return attrs.secrets(tunnelId, secretId);
    return attrs.secret === undefined ? undefined : { secret: attrs.secret };
  };
}

async function challenge(hs: Handshake, options: Options, attrs: Gsa1Attrs): Promise<LinkInfo> {
  const nc = newNonce();
  await hs.send("HELLO", buildHello(nc));
  const proof = await hs.receive("PROOF", PROOF_SIZE);
  const lookup = lookupFor(options, attrs);
  let lookupError: unknown;
  const judgement = await judgeProof(proof, {
    nc,
    lookup: async (tunnelId, secretId) => {
      try {
        return await lookup(tunnelId, secretId);
      } catch (error) {
        lookupError = error;
        return { refuse: "refused" };
      }
    },
  });
  // The verdict is sent either way; on refusal the framework then closes.
  await hs.send("VERDICT", judgement.verdict).catch((error) => {
    if (judgement.name === "accepted") throw error;
  });
  const tunnelId = judgement.proof?.tunnelId ?? null;
  if (judgement.name !== "accepted") {
    const error = lookupError === undefined ? judgement.error! : new HandshakeError(
      "refused",
      `GSA1 handshake refused for tunnel ${tunnelId}: the secret lookup failed`,
      { cause: lookupError },
    );
    throw error;
  }
  hs.log("INFO", `tunnel ${tunnelId}: accepted`);
  return {
    role: "challenger",
    tunnel: tunnelId,
    secret_id: judgement.proof?.secretId ?? null,
    peer: hs.peer,
    verdict: "accepted",
  };
}

async function respond(hs: Handshake, options: Options, attrs: Gsa1Attrs): Promise<LinkInfo> {
  const tunnelId = options.string("tunnel")!.toLowerCase();
  const secretIdText = options.string("secret_id") ?? attrs.secretId;
  let secret = attrs.secret;
  const secretId = secretIdText?.toLowerCase() ?? null;
  if (secret === undefined && attrs.secrets) {
    const answer = await attrs.secrets(tunnelId, secretId);
    if (answer && "secret" in answer) secret = answer.secret;
  }
  if (secret === undefined) {
    throw new XioError(
      "PARAMETER",
      `Cannot run GSA1 as responder for tunnel ${tunnelId}: no secret given (attrs.secret)`,
    );
  }
  const hello = await hs.receive("HELLO", HELLO_SIZE);
  const session = await answerHello(hello, { tunnelId, secret, secretId });
  await hs.send("PROOF", session.proof);
  await checkVerdict(await hs.receive("VERDICT", VERDICT_SIZE), session);
  hs.log("INFO", `tunnel ${tunnelId}: accepted`);
  return {
    role: "responder",
    tunnel: tunnelId,
    secret_id: secretId,
    peer: hs.peer,
    verdict: "accepted",
  };
}

/** The GSA1 handshake transform. */
export const gsa1Driver: TransformDriver = {
  name: "gsa1",
  kind: "transform",
  summary: "GSA1 LAN handshake, then bytes unchanged",
  options: {
    role: {
      type: "string",
      doc: "challenger or responder (default: challenger on accept, responder on open)",
      choices: ["challenger", "responder"],
    },
    tunnel: { type: "string", doc: "the tunnel's UUID (a challenger accepts only this one)" },
    secret_id: { type: "string", doc: "the LAN secret's UUID, sent by a responder" },
    timeout_ms: {
      type: "int",
      doc: "longest wait per step (default GLOBUS_STREAMS_HANDSHAKE_TIMEOUT or 10 s)",
      min: 1,
    },
  },
  validate(options: Options, attrs: unknown): void {
    const given = attrsOf(attrs);
    for (const key of ["tunnel", "secret_id"]) {
      const value = options.string(key);
      if (value !== undefined && !isUuid(value)) {
        throw new Error(`option "${key}" is "${value}": want a UUID`);
      }
    }
    if (options.string("role") === "responder" && options.string("tunnel") === undefined) {
      throw new Error('a responder needs option "tunnel"');
    }
    if (given.secret === undefined && given.secrets === undefined) {
      throw new Error("no secret given: pass attrs.secret or attrs.secrets");
    }
  },
  async open(lower: Lower, context: DriverContext): Promise<DriverLink> {
    const attrs = attrsOf(context.attrs);
    const role = roleOf(context.options, context.side);
    if (role === "responder" && context.options.string("tunnel") === undefined) {
      throw new XioError(
        "PARAMETER",
        `Cannot run GSA1 as responder with stack "${context.stack}": option "tunnel" is missing`,
      );
    }
    const timeoutMs = context.options.number("timeout_ms") ?? attrs.timeoutMs ??
      handshakeTimeoutMs();
    const hs = new Handshake(lower, context, role, timeoutMs);
    try {
      const info = role === "challenger"
        ? await challenge(hs, context.options, attrs)
        : await respond(hs, context.options, attrs);
      return new PassLink(lower, info);
    } catch (error) {
      // Reasons and ids only: no message here ever holds a secret.
      if (error instanceof HandshakeError) hs.log("WARNING", `${error.reason}: ${error.message}`);
      else if (error instanceof XioError) hs.log("WARNING", error.message);
      throw error;
    }
  },
};
