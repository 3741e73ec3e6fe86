// stdio: an xio transport over a byte source and sink (the process's stdin and stdout
// for `connect`), so the bridge is a relay between two stacks like every other helper.
// The contact is a name for messages only. Half-close calls attrs.onOutputEnd (stdout
// is left open: the process is about to exit).
import type { DriverContext, DriverLink, LinkInfo, TransportDriver } from "../xio/mod.ts";

/** Where the bytes come from (Deno.stdin has this shape). */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Where the bytes go (Deno.stdout has this shape). */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** What code passes for stdio in StackOptions.attrs. */
export interface StdioAttrs {
  input: ByteSource;
  output: ByteSink;
  /** Called once the writing side was half-closed (all bytes written). */
  onOutputEnd?: () => void;
}

function stdioAttrs(attrs: unknown): StdioAttrs {
  const given = attrs as Partial<StdioAttrs> | undefined;
  if (typeof given?.input?.read !== "function") throw new Error("attrs.input must have read()");
  if (typeof given?.output?.write !== "function") throw new Error("attrs.output must have write()");
  return given as StdioAttrs;
}

class StdioLink implements DriverLink {
  readonly #attrs: StdioAttrs;
  readonly #name: string;

  constructor(attrs: StdioAttrs, name: string) {
    this.#attrs = attrs;
    this.#name = name;
  }

  async read(buffer: Uint8Array): Promise<number> {
    return (await this.#attrs.input.read(buffer)) ?? 0;
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      at += await this.#attrs.output.write(at === 0 ? bytes : bytes.subarray(at));
    }
  }

  closeWrite(): Promise<void> {
    this.#attrs.onOutputEnd?.();
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  info(): LinkInfo {
    return { name: this.#name };
  }
}

/** The stdio transport (open only). */
export const stdioDriver: TransportDriver = {
  name: "stdio",
  kind: "transport",
  summary: "a byte source and sink given in attrs (stdin and stdout)",
  options: {},
  validate(_options, attrs): void {
    stdioAttrs(attrs);
  },
  open(contact: string, context: DriverContext): Promise<DriverLink> {
    return Promise.resolve(new StdioLink(stdioAttrs(context.attrs), contact));
  },
};
