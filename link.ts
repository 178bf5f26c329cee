/**
 * The datagram layer under {@linkcode SocketTCP}: a small interface over a UDP
 * socket, so that tests can slip a fault injector between the protocol and the
 * network.
 *
 * @module
 */

/**
 * An address in Deno's shape.
 *
 * @example Bind to any free port of loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Addr, udpLink } from "./link.ts";
 * const anyPort: Addr = { hostname: "127.0.0.1", port: 0 };
 * const link = udpLink(anyPort);
 * assert.equal(link.localAddr.hostname, "127.0.0.1");
 * assert.ok(link.localAddr.port > 0);
 * link.close();
 * ```
 */
export interface Addr {
  /** An IP address (`127.0.0.1`, `::1`) or, before resolution, a name. */
  hostname: string;
  /** A UDP port, 0 to 65535 (0 asks for any free port when binding). */
  port: number;
}

/**
 * A bound datagram socket: what the protocol needs of UDP, and nothing more.
 *
 * @example An echo that works over any link
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DatagramLink, udpLink } from "./link.ts";
 * async function echoOnce(link: DatagramLink): Promise<void> {
 *   const [data, from] = await link.receive(new Uint8Array(1500));
 *   await link.send(data, from);
 * }
 * const echo = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("eco"), echo.localAddr);
 * await echoOnce(echo);
 * const [reply] = await client.receive(new Uint8Array(1500));
 * assert.equal(new TextDecoder().decode(reply), "eco");
 * echo.close();
 * client.close();
 * ```
 */
export interface DatagramLink {
  /** The address this link is bound to. */
  readonly localAddr: Addr;
  /** Sends one datagram to `to`; resolves once it left (to anything: callers only wait). */
  send(data: Uint8Array, to: Addr): Promise<unknown>;
  /**
   * Receives the next datagram into `buffer` and returns the filled part of it
   * (valid until the next call) and the sender's address. Rejects once the
   * link is closed.
   */
  receive(buffer: Uint8Array): Promise<[Uint8Array, Addr]>;
  /** Closes the link; a pending `receive` rejects. Calling it twice is harmless. */
  close(): void;
  /**
   * Sends {@linkcode WAKE}, one byte, from this link to itself: it is read
   * after every datagram already waiting, so its arrival says those were
   * read. Absent where a link cannot (a wrapper that injects faults would
   * count and drop it): callers fall back to a timer.
   */
  wake?(): void;
}

/** The datagram of {@linkcode DatagramLink.wake}: one zero byte, never a segment. */
export const WAKE = new Uint8Array([0]);

/** Whether a datagram is a link's own {@linkcode WAKE}: the byte, from the link's own port. */
export function isWake(bytes: Uint8Array, from: Addr, local: Addr): boolean {
  return bytes.length === 1 && bytes[0] === 0 && from.port === local.port;
}

/**
 * Wraps a link, for example to inject faults under a socket.
 *
 * @example Count the datagrams sent
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LinkWrapper, udpLink } from "./link.ts";
 * let sent = 0;
 * const counting: LinkWrapper = (link) => ({
 *   localAddr: link.localAddr,
 *   send(data, to) {
 *     sent++;
 *     return link.send(data, to);
 *   },
 *   receive: (buffer) => link.receive(buffer),
 *   close: () => link.close(),
 * });
 * const link = counting(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * await link.send(new Uint8Array([1, 2, 3]), link.localAddr);
 * link.close();
 * assert.equal(sent, 1);
 * ```
 */
export type LinkWrapper = (link: DatagramLink) => DatagramLink;

/**
 * Formats an address as `host:port`, with brackets around IPv6 hosts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddr } from "./link.ts";
 * assert.equal(formatAddr({ hostname: "127.0.0.1", port: 8000 }), "127.0.0.1:8000");
 * assert.equal(formatAddr({ hostname: "::1", port: 8000 }), "[::1]:8000");
 * ```
 */
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
 * The address a host stands for without asking a resolver: IPv6 brackets
 * removed, `localhost` (or nothing) as `127.0.0.1`, any other text as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeHost } from "./link.ts";
 * assert.equal(normalizeHost("[::1]"), "::1");
 * assert.equal(normalizeHost("localhost"), "127.0.0.1");
 * ```
 */
export function normalizeHost(hostname: string): string {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  return bare === "localhost" || bare === "" ? "127.0.0.1" : bare;
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
  const bare = normalizeHost(hostname);
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
 *
 * @example One datagram from one link to another
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * const a = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const b = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await a.send(new TextEncoder().encode("hola"), b.localAddr);
 * const [data, from] = await b.receive(new Uint8Array(1500));
 * assert.equal(new TextDecoder().decode(data), "hola");
 * assert.ok(from.port === a.localAddr.port);
 * a.close();
 * b.close();
 * ```
 */
export function udpLink(addr: Addr): DatagramLink {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: addr.hostname, port: addr.port });
  const local = conn.addr as Deno.NetAddr;
  let closed = false;
  // A connection sends to one peer: its Deno address is built once, not per datagram.
  let lastTo: Addr | null = null;
  let lastNet: Deno.NetAddr | null = null;
  let lastFrom: Addr | null = null;
  // Bound to every address: it reaches itself through loopback.
  const loopback: Record<string, string> = { "0.0.0.0": "127.0.0.1", "::": "::1" };
  const self: Deno.NetAddr = {
    transport: "udp",
    hostname: loopback[local.hostname] ?? local.hostname,
    port: local.port,
  };
  return {
    localAddr: { hostname: local.hostname, port: local.port },
    send(data, to) {
      if (to !== lastTo) {
        lastTo = to;
        lastNet = { transport: "udp", hostname: to.hostname, port: to.port };
      }
      return conn.send(data, lastNet!);
    },
    async receive(buffer) {
      const [bytes, from] = await conn.receive(buffer);
      const net = from as Deno.NetAddr;
      // One peer sends most datagrams: its address object is reused.
      if (lastFrom === null || net.port !== lastFrom.port || net.hostname !== lastFrom.hostname) {
        lastFrom = { hostname: net.hostname, port: net.port };
      }
      return [bytes, lastFrom];
    },
    close() {
      if (closed) return;
      closed = true;
      conn.close();
    },
    wake() {
      if (closed) return;
      conn.send(WAKE, self).catch(() => {}); // lost: the caller's fallback timer runs
    },
  };
}

/**
 * Where a socket that sends to a peer binds to reach `hostname` (an IP address): the
 * loopback address itself for a server on loopback (nothing else can reach
 * the socket then), else every interface of the address's family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { localHostFor } from "./link.ts";
 * assert.equal(localHostFor("127.0.0.1"), "127.0.0.1");
 * assert.equal(localHostFor("::1"), "::1");
 * assert.equal(localHostFor("192.0.2.7"), "0.0.0.0");
 * assert.equal(localHostFor("2001:db8::7"), "::");
 * ```
 */
export function localHostFor(hostname: string): string {
  if (hostname === "::1" || /^127\./.test(hostname)) return hostname;
  return hostname.includes(":") ? "::" : "0.0.0.0";
}

/**
 * Where {@linkcode freePort} draws from: below every usual ephemeral range
 * (Linux 32768-60999, the BSDs, macOS and Windows 49152-65535), which the
 * ports that port 0 gives come from.
 */
export const FREE_PORTS: readonly [number, number] = [20_000, 32_767];

/** Ports {@linkcode freePort} handed out, and when: not handed out again for {@linkcode RESERVED_MS}. */
const handedOut = new Map<number, number>();
const RESERVED_MS = 60_000;

/**
 * A UDP port free right now on 127.0.0.1, for a process told which port to
 * bind (the conformance checker's server under test) once it has started.
 * Chosen below the ephemeral range, which every socket bound to port 0 draws
 * from: one of those (another case, another program) cannot take it in the
 * meantime, as it could a port that port 0 gave (CI once saw a server under
 * test fail with "Address already in use"). A port handed out stays
 * reserved in this process for a minute: two cases started at once cannot be
 * given the same port before either binds it (a suite run saw that too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FREE_PORTS, freePort } from "./link.ts";
 * const port = freePort();
 * assert.ok(port >= FREE_PORTS[0] && port <= FREE_PORTS[1]);
 * assert.notEqual(freePort(), port); // not twice in a row, even if still unbound
 * Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close(); // it binds
 * ```
 */
export function freePort(): number {
  const [low, high] = FREE_PORTS;
  const now = performance.now();
  for (const [port, at] of handedOut) if (now - at > RESERVED_MS) handedOut.delete(port);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    try {
      udpLink({ hostname: "127.0.0.1", port }).close();
      handedOut.set(port, now);
      return port;
    } catch {
      // taken: another one
    }
  }
  const link = udpLink({ hostname: "127.0.0.1", port: 0 });
  const port = link.localAddr.port;
  link.close();
  return port;
}

/**
 * Reads `link` until `stopped()` holds or the link closes, handing each
 * datagram (its bytes are valid only during the call) to `onDatagram`. A
 * receive error while not stopped (an ICMP report on some systems) is
 * transient: reading goes on after a timer tick, so that a failing socket
 * cannot starve the event loop. An error thrown by `onDatagram` ends the loop
 * and rejects the returned promise with it.
 *
 * @example Count three datagrams, then stop
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDatagrams, udpLink } from "./link.ts";
 * const a = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const b = udpLink({ hostname: "127.0.0.1", port: 0 });
 * let count = 0;
 * const reading = readDatagrams(b, () => {
 *   if (++count === 3) b.close();
 * }, () => count === 3);
 * for (let i = 0; i < 3; i++) await a.send(new Uint8Array([i]), b.localAddr);
 * await reading;
 * assert.equal(count, 3);
 * a.close();
 * ```
 */
export async function readDatagrams(
  link: DatagramLink,
  onDatagram: (bytes: Uint8Array, from: Addr) => void,
  stopped: () => boolean,
  bufferSize = 65_536,
): Promise<void> {
  const buffer = new Uint8Array(bufferSize);
  while (!stopped()) {
    let bytes: Uint8Array, from: Addr;
    try {
      [bytes, from] = await link.receive(buffer);
    } catch {
      if (stopped()) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    onDatagram(bytes, from);
  }
}
