/**
 * The datagram layer under {@linkcode SocketTCP}: a small interface over a UDP
 * socket, so that tests can slip a fault injector between the protocol and the
 * network.
 *
 * @module
 */

/** An address in Deno's shape. */
export interface Addr {
  /** An IP address (`127.0.0.1`, `::1`) or, before resolution, a name. */
  hostname: string;
  /** A UDP port, 0 to 65535 (0 asks for any free port when binding). */
  port: number;
}

/** A bound datagram socket: what the protocol needs of UDP, and nothing more. */
export interface DatagramLink {
  /** The address this link is bound to. */
  readonly localAddr: Addr;
  /** Sends one datagram to `to`. */
  send(data: Uint8Array, to: Addr): Promise<void>;
  /**
   * Receives the next datagram into `buffer` and returns the filled part of it
   * (valid until the next call) and the sender's address. Rejects once the
   * link is closed.
   */
  receive(buffer: Uint8Array): Promise<[Uint8Array, Addr]>;
  /** Closes the link; a pending `receive` rejects. Calling it twice is harmless. */
  close(): void;
}

/** Wraps a link, for example to inject faults under a socket. */
export type LinkWrapper = (link: DatagramLink) => DatagramLink;

/** Formats an address as `host:port`, with brackets around IPv6 hosts. */
export function formatAddr(addr: Addr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** Tells whether two addresses are the same host and port. */
export function sameAddr(a: Addr, b: Addr): boolean {
  return a.port === b.port && a.hostname === b.hostname;
}

/**
 * Resolves a host name to one IP address, so that both ends of a connection
 * agree on one address family. `localhost` always means `127.0.0.1`, whatever
 * the resolver returns first, because `::1` is not configured on every
 * machine; IP literals are returned as they are (without IPv6 brackets).
 *
 * @throws {Deno.errors.NotFound} when the name does not resolve.
 */
export async function resolveHost(hostname: string): Promise<string> {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  if (bare === "localhost" || bare === "") return "127.0.0.1";
  if (isIpLiteral(bare)) return bare;
  try {
    const [first] = await Deno.resolveDns(bare, "A");
    if (first) return first;
  } catch {
    // fall through to AAAA
  }
  try {
    const [first] = await Deno.resolveDns(bare, "AAAA");
    if (first) return first;
  } catch {
    // fall through to the error below
  }
  throw new Deno.errors.NotFound(`Cannot resolve host "${hostname}"`);
}

/** Tells whether `hostname` is an IPv4 or IPv6 literal. */
export function isIpLiteral(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(":");
}

/**
 * Binds a UDP socket with `Deno.listenDatagram` and wraps it as a
 * {@linkcode DatagramLink}. `hostname` must already be an IP address.
 */
export function udpLink(addr: Addr): DatagramLink {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: addr.hostname, port: addr.port });
  const local = conn.addr as Deno.NetAddr;
  let closed = false;
  return {
    localAddr: { hostname: local.hostname, port: local.port },
    async send(data, to) {
      await conn.send(data, { transport: "udp", hostname: to.hostname, port: to.port });
    },
    async receive(buffer) {
      const [bytes, from] = await conn.receive(buffer);
      const net = from as Deno.NetAddr;
      return [bytes, { hostname: net.hostname, port: net.port }];
    },
    close() {
      if (closed) return;
      closed = true;
      conn.close();
    },
  };
}
