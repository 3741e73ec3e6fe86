// tcp: the TCP transport. Contacts are "host:port" or "[v6]:port"; listen also takes
// port 0 for any free port.  tcp:nodelay;keepalive

import { type Contact, CONTACT_HINT, formatContact, parseContact } from "../../contact/mod.ts";
import type {
  DriverContext,
  DriverLink,
  DriverListener,
  LinkInfo,
  TransportDriver,
} from "../_driver.ts";
import { XioError } from "../_error.ts";
import type { Options } from "../_options.ts";

function contactOf(text: string, stack: string, verb: string, allowPortZero: boolean): Contact {
  const parsed = parseContact(text) ??
    (allowPortZero && text.endsWith(":0")
      ? (() => {
        const withPort = parseContact(`${text.slice(0, -1)}1`);
        return withPort && { host: withPort.host, port: 0 };
      })()
      : undefined);
  if (!parsed) {
    throw new XioError(
      "CONTACT_STRING",
      `Cannot ${verb} "${text}" with stack "${stack}": bad contact string (${CONTACT_HINT})`,
    );
  }
  return parsed;
}

function addressText(addr: Deno.Addr): string {
  return addr.transport === "tcp"
    ? formatContact({ host: addr.hostname, port: addr.port })
    : String(addr.transport);
}

function applyOptions(conn: Deno.TcpConn, options: Options): void {
  if (options.bool("nodelay")) conn.setNoDelay(true);
  if (options.bool("keepalive")) conn.setKeepAlive(true);
}

class TcpLink implements DriverLink {
  readonly #conn: Deno.TcpConn;
  readonly #info: LinkInfo;
  #closed = false;

  constructor(conn: Deno.TcpConn, options: Options) {
    this.#conn = conn;
    this.#info = {
      local: addressText(conn.localAddr),
      remote: addressText(conn.remoteAddr),
      nodelay: options.bool("nodelay") ?? false,
      keepalive: options.bool("keepalive") ?? false,
    };
  }

  async read(buffer: Uint8Array): Promise<number> {
    return (await this.#conn.read(buffer)) ?? 0;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
    }
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    }
    return Promise.resolve();
  }

  info(): LinkInfo {
    return this.#info;
  }
}

class TcpListener implements DriverListener {
  readonly address: string;
  readonly #listener: Deno.TcpListener;
  readonly #options: Options;
  #closed = false;

  constructor(listener: Deno.TcpListener, options: Options) {
    this.#listener = listener;
    this.#options = options;
    this.address = addressText(listener.addr);
  }

  async accept(): Promise<DriverLink> {
    const conn = await this.#listener.accept();
    try {
      applyOptions(conn, this.#options);
    } catch (error) {
      conn.close();
      throw error;
    }
    return new TcpLink(conn, this.#options);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    }
    return Promise.resolve();
  }
}

/** The TCP transport. */
export const tcpDriver: TransportDriver = {
  name: "tcp",
  kind: "transport",
  summary: 'TCP connections to "host:port" or "[v6]:port"',
  options: {
    nodelay: { type: "bool", doc: "disable Nagle's algorithm (TCP_NODELAY)", default: false },
    keepalive: { type: "bool", doc: "send TCP keep-alive probes (SO_KEEPALIVE)", default: false },
  },
  async open(contact: string, context: DriverContext): Promise<DriverLink> {
    const { host, port } = contactOf(contact, context.stack, "open", false);
    const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
    try {
      applyOptions(conn, context.options);
    } catch (error) {
      conn.close();
      throw error;
    }
    return new TcpLink(conn, context.options);
  },
  listen(contact: string, context: DriverContext): Promise<DriverListener> {
    const { host, port } = contactOf(contact, context.stack, "listen on", true);
    const listener = Deno.listen({ hostname: host, port, transport: "tcp" });
    return Promise.resolve(new TcpListener(listener, context.options));
  },
};
