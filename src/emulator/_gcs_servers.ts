// One HTTPS server per emulated endpoint, as each real endpoint has its own GCS manager
// at https://<host>/api/: the Globus SDK's GCSClient(gcs_manager_url) builds exactly that.
// The certificate is made per run (_tls_cert.ts); its CA goes in a file that clients
// are pointed at (GLOBUS_SDK_VERIFY_SSL), in a private directory removed at stop.
import { isIP } from "node:net";
import { makeTlsIdentity } from "./_tls_cert.ts";
import { formatContact } from "../contact/mod.ts";
import { EmulatorError } from "./_error.ts";

/** The running GCS managers. */
export interface GcsServers {
  /** gcs_manager_url of each endpoint: https://host:port, no path. */
  urls: Map<string, string>;
  /**
   * The gcs_manager_url for a client that reached the emulator at host: on a wildcard
   * listen address the managers answer on every address, and the client gets the one it
   * used (a client in another network namespace cannot use 0.0.0.0).
   */
  urlFor(endpointId: string, host?: string): string;
  /** The CA file that makes the certificate trusted, and its PEM text. */
  caFile: string;
  caPem: string;
  close(): Promise<void>;
}

function isWildcard(hostname: string): boolean {
  return hostname === "0.0.0.0" || hostname === "::" || hostname === "";
}

/** The names and addresses the certificate must cover for a listen address. */
function certificateHosts(hostname: string): string[] {
  const hosts = ["localhost", "127.0.0.1", "::1"];
  const wanted = isWildcard(hostname)
    ? Deno.networkInterfaces().map((face) => face.address.replace(/%.*$/, ""))
    : [hostname];
  for (const host of wanted) {
    if (!hosts.includes(host) && (isIP(host) || /^[A-Za-z0-9.-]+$/.test(host))) {
      hosts.push(host);
    }
  }
  return hosts;
}

/**
 * Starts one HTTPS server per endpoint on `hostname` (free ports), each handing its
 * requests to `handle(endpointId, request, path below "/")`.
 */
export async function startGcsServers(
  endpointIds: string[],
  hostname: string,
  handle: (endpointId: string, request: Request, path: string) => Promise<Response>,
): Promise<GcsServers> {
  const tls = await makeTlsIdentity(certificateHosts(hostname));
  const dir = await Deno.makeTempDir({ prefix: "globus-streams-emulator-" });
  const caFile = `${dir}/gcs-ca.pem`;
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  const close = async () => {
    for (const server of servers) await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const urls = new Map<string, string>();
  try {
    await Deno.writeTextFile(caFile, tls.caPem);
    for (const id of endpointIds) {
      const server = Deno.serve(
        { hostname, port: 0, cert: tls.certPem, key: tls.keyPem, onListen: () => {} },
        (request) => handle(id, request, new URL(request.url).pathname.slice(1)),
      );
      servers.push(server);
      urls.set(
        id,
        `https://${formatContact({ host: server.addr.hostname, port: server.addr.port })}`,
      );
    }
  } catch (error) {
    await close();
    throw new EmulatorError(
      `Cannot start the GCS managers on "${hostname}": ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  const urlFor = (endpointId: string, host?: string) => {
    const url = urls.get(endpointId);
    if (url === undefined) return "";
    if (!isWildcard(hostname) || host === undefined || host === "") return url;
    const port = Number(new URL(url).port);
    return `https://${formatContact({ host: host.replace(/^\[|\]$/g, ""), port })}`;
  };
  return { urls, urlFor, caFile, caPem: tls.caPem, close };
}
