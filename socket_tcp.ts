/**
 * `SocketTCP`: a connection-oriented socket with the shape of Python's, that
 * sends everything over one UDP socket with Stop & Wait.
 *
 * The whole protocol lives in {@linkcode Connection} (pure, time as a
 * parameter). This module is the public class over it: a listener
 * (`listener.ts`: SYNs, backlog, new sockets) or a connected endpoint
 * (`endpoint.ts`: one UDP socket, one read loop, one timer), and the
 * promises of the application's calls.
 *
 * @module
 */
import {
  type Arq,
  ARQS,
  Connection,
  type ConnectionOptions,
  type ConnectionStats,
} from "./connection.ts";
import { CONGESTION_CONTROLS, type CongestionControl } from "./congestion.ts";
import { Endpoint, now, Tracer } from "./endpoint.ts";
import {
  checkOptionNames,
  ConnectionClosedError,
  describeValue,
  optionError,
  PeerTimeoutError,
  ProtocolError,
  UnreadDataError,
} from "./errors.ts";
import {
  type Addr,
  formatAddr,
  isIpLiteral,
  type LinkWrapper,
  localHostFor,
  normalizeHost,
  resolveHost,
  udpLink,
} from "./link.ts";
import { Listener } from "./listener.ts";
import {
  AdaptiveRto,
  type AdaptiveRtoOptions,
  checkTimerMs,
  FixedRto,
  MAX_TIMER_MS,
} from "./rto.ts";
import { createSegment, parseSegment, SEQ_MODULUS } from "./segment.ts";
import type { TraceSink } from "./trace.ts";

export { ConnectionClosedError, PeerTimeoutError, ProtocolError, UnreadDataError };

/**
 * Tuning of a {@linkcode SocketTCP}. Every field is optional; the defaults are the assignment's.
 *
 * @example 4-byte segments and a fixed 200 ms timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketTCP, type SocketTCPOptions } from "./socket_tcp.ts";
 *
 * const options: SocketTCPOptions = { mss: 4, timeout: 200 };
 * await using listener = new SocketTCP(options);
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP(options);
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * const [, got] = await Promise.all([
 *   client.send(new TextEncoder().encode("Hola mundo")),
 *   server.recv(1024),
 * ]);
 * await Promise.all([client.close(), server.recvClose()]);
 * assert.equal(new TextDecoder().decode(got), "Hola mundo");
 * assert.equal(client.stats.rto, 200);
 * ```
 */
export interface SocketTCPOptions {
  /**
   * Data bytes per segment. Default 16, the assignment's. At most
   * {@linkcode MAX_MSS} (65,482): a segment, its header included, must fit
   * one UDP datagram.
   */
  mss?: number;
  /**
   * A fixed retransmission timeout in ms (the assignment's step 5), > 0 and
   * at most 2^31 - 1 (the longest `setTimeout`). When absent, the timeout
   * adapts to measured round trips (RFC 6298), bounded by
   * {@linkcode SocketTCPOptions.rto}.
   */
  timeout?: number;
  /**
   * Bounds of the adaptive timeout, in ms, each > 0 and at most 2^31 - 1,
   * with `min <= max`. An `initial` given must lie in `min..max`; the default
   * one is clamped into them. Checked even when `timeout` is set.
   */
  rto?: AdaptiveRtoOptions;
  /** Retransmissions of one segment (SYN, SYN+ACK, data) before giving up. Default 20. */
  maxRetries?: number;
  /** FIN transmissions by `close`, and timeouts waited by `recvClose` for the last ACK. Default 3, the assignment's. */
  closeRetries?: number;
  /**
   * How long a call waits without progress (no new segment accepted, no new
   * ACK), in ms: `recv` and `recvClose` for data or FIN, `send` for room at
   * a receiver that answers "alive, no room". Segments that repeat old ones
   * do not count as progress: a peer that keeps repeating is given up too,
   * with an error that says what it repeated. Default 30 000; at most
   * 2^31 - 1 (the longest `setTimeout`).
   */
  idleTimeout?: number;
  /** Largest message a peer may announce, an integer from 0 to 2^53 - 1. Default 2^40 bytes. */
  maxMessageLength?: number;
  /** Handshakes a listener keeps pending or ready at once; the oldest pending one is dropped beyond. Default 64. */
  backlog?: number;
  /** Wraps each UDP socket this socket (and those it accepts) opens: the place for a fault injector. */
  link?: LinkWrapper;
  /**
   * Receives a trace event per segment sent or received and per timeout. It
   * runs on the socket's hot path: keep it quick. If it throws, tracing stops
   * for that socket and the connection goes on.
   */
  onTrace?: TraceSink;
  /**
   * Source of randomness for the initial sequence number: a number >= 0 and
   * < 1, checked by `connect` before it opens anything. Default `Math.random`.
   */
  random?: () => number;
  /**
   * Segments in flight at once, and segments a selective-repeat receiver
   * holds past a hole. Default 1: Stop & Wait, the assignment's protocol byte
   * for byte. Any window talks to any peer: ACKs stay cumulative.
   */
  window?: number;
  /** Loss recovery of a window: `go-back-n` (default) or `selective-repeat`. See {@linkcode ConnectionOptions.arq}. */
  arq?: Arq;
  /** Congestion control of the sender: `none` (default, the window is fixed), `tahoe` or `reno` (RFC 5681). */
  congestion?: CongestionControl;
}

/**
 * What a socket did, for tools and benchmarks. Counters only grow.
 *
 * @example The counters of a 20-byte message
 * ```ts
 * import assert from "node:assert/strict";
 * import { type SocketStats, SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * await Promise.all([client.send(new Uint8Array(20)), server.recv(1024)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * const stats: SocketStats = server.stats;
 * assert.equal(stats.bytesReceived, 20);
 * assert.equal(stats.malformed, 0);
 * assert.equal(client.stats.lastAckCopies, 2); // the last ACK, sent 3 times
 * assert.equal(client.stats.retransmissions, 0);
 * ```
 */
export interface SocketStats extends ConnectionStats {
  /** Message bytes returned by `recv`. */
  bytesReceived: number;
  /** Datagrams that were not segments. */
  malformed: number;
  /** Datagrams from an address other than the peer's. */
  foreign: number;
  /** Listener: pending handshakes dropped because the backlog was full (or no socket could be opened). */
  backlogDrops: number;
  /** Listener: handshakes given up because the client never completed them. */
  handshakesGivenUp: number;
  /** The current retransmission timeout, in ms. */
  rto: number;
  /** The smoothed round-trip time, in ms, once measured. */
  srtt: number | undefined;
  /** The congestion window now, in segments (the window itself without congestion control). */
  cwnd: number;
  /** The largest congestion window reached, in segments. */
  peakCwnd: number;
  /** The slow start threshold now, in segments. */
  ssthresh: number;
  /**
   * When the handshake completed, in ms since the Unix epoch (the clock of
   * trace events); `undefined` before.
   */
  establishedAt: number | undefined;
  /**
   * When the last data segment was acknowledged (sender) or accepted
   * (receiver), in ms since the Unix epoch: the end of the delivery, before
   * the close. `undefined` while no data moved.
   */
  lastDataAt: number | undefined;
  /**
   * When the close ended (the last ACK sent its 3 times, received, or given
   * up on), in ms since the Unix epoch; `undefined` before. The close takes
   * `closedAt - lastDataAt` ms, most of it the two timeouts between the last
   * ACK's copies.
   */
  closedAt: number | undefined;
}

/** The largest UDP payload over IPv4: 65,535 bytes less the IP and UDP headers. */
const MAX_DATAGRAM = 65_507;

/** The longest header: every flag set and the largest SEQ, `1|||1|||1|||4294967295|||` (25 bytes). */
const MAX_HEADER = createSegment({
  syn: true,
  ack: true,
  fin: true,
  seq: SEQ_MODULUS - 1,
  data: new Uint8Array(),
}).length;

/**
 * The largest `mss`, 65,482: a segment with the longest header and `mss`
 * data bytes fills a UDP datagram of 65,507 bytes, the most IPv4 carries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_MSS } from "./socket_tcp.ts";
 * assert.equal(MAX_MSS, 65_482);
 * ```
 */
export const MAX_MSS: number = MAX_DATAGRAM - MAX_HEADER;

const DEFAULTS = {
  mss: 16,
  maxRetries: 20,
  closeRetries: 3,
  idleTimeout: 30_000,
  maxMessageLength: 2 ** 40,
  backlog: 64,
  window: 1,
};

/** Every option's name: any other one is a typo, refused rather than ignored. */
const OPTION_NAMES = Object.keys(
  {
    mss: 0,
    timeout: 0,
    rto: 0,
    maxRetries: 0,
    closeRetries: 0,
    idleTimeout: 0,
    maxMessageLength: 0,
    backlog: 0,
    link: 0,
    onTrace: 0,
    random: 0,
    window: 0,
    arq: 0,
    congestion: 0,
  } satisfies Record<keyof SocketTCPOptions, 0>,
);

/** Validates every option and reads the numbers and names with their defaults. */
function settings(options: SocketTCPOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create a SocketTCP with options ${
        describeValue(options, "object")
      }: expected an object`,
    );
  }
  checkOptionNames(options, OPTION_NAMES);
  const get = (name: keyof typeof DEFAULTS, min: number, max?: number, note = ""): number => {
    const value: unknown = options[name] ?? DEFAULTS[name];
    if (
      typeof value !== "number" || !Number.isSafeInteger(value) || value < min ||
      max !== undefined && value > max
    ) {
      const range = max === undefined ? `an integer >= ${min}` : `an integer in ${min}..${max}`;
      throw optionError(name, value, range + note, "number");
    }
    return value;
  };
  for (const name of ["link", "onTrace", "random"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw optionError(name, options[name], "a function", "function");
    }
  }
  if (options.timeout !== undefined) checkTimerMs("timeout", options.timeout);
  if (options.rto !== undefined) new AdaptiveRto(options.rto); // validates it now
  return {
    mss: get(
      "mss",
      1,
      MAX_MSS,
      ` (a segment, ${MAX_HEADER} bytes of header and the data, must fit a UDP datagram of ${
        MAX_DATAGRAM.toLocaleString("en-US")
      } bytes)`,
    ),
    maxRetries: get("maxRetries", 0),
    closeRetries: get("closeRetries", 1),
    idleTimeout: get("idleTimeout", 1, MAX_TIMER_MS, " (ms; setTimeout's longest delay)"),
    maxMessageLength: get("maxMessageLength", 0, Number.MAX_SAFE_INTEGER),
    backlog: get("backlog", 1),
    window: get("window", 1),
    arq: oneOf("arq", options.arq ?? "go-back-n", ARQS),
    congestion: oneOf("congestion", options.congestion ?? "none", CONGESTION_CONTROLS),
  };
}

function oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw optionError(name, value, allowed.map((a) => `"${a}"`).join(", "), "string");
  }
  return value;
}

/**
 * Checks the `port` of an address given to `call` ("bind", "connect"):
 * an integer in `min..65535`.
 */
function checkPort(call: string, port: unknown, min: number): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < min || port > 65535) {
    const message = `Cannot ${call} to port ${
      describeValue(port)
    }: expected an integer in ${min}..65535`;
    throw typeof port === "number" ? new RangeError(message) : new TypeError(message);
  }
  return port;
}

/** Checks that `address`, given to `call`, is an object; `example` shows one. */
function checkAddress(call: string, address: unknown, example: string): void {
  if (typeof address !== "object" || address === null) {
    throw new TypeError(
      `Cannot ${call} to ${
        describeValue(address, "object")
      }: expected an address such as ${example}`,
    );
  }
}

/** Epoch milliseconds (the clock of trace events) of a driver time. */
function epoch(t: number | undefined): number | undefined {
  return t === undefined ? undefined : performance.timeOrigin + t;
}

let adopt: (options: SocketTCPOptions, endpoint: Endpoint) => SocketTCP;

/**
 * A connection-oriented socket over UDP, with Stop & Wait: every segment
 * waits for its ACK before the next one goes, and is sent again after a
 * timeout.
 *
 * Listening side: `bind`, then `accept` returns a NEW socket, bound to a
 * different port, for each connection. Connecting side: `connect`. Both then
 * `send` and `recv` messages; one end calls `close` (host A) and the other
 * `recvClose` (host B).
 *
 * @example A transfer over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server], _] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * const message = new TextEncoder().encode("Mensaje de prueba, más de 16 bytes");
 * const [, received] = await Promise.all([client.send(message), server.recv(1024)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * assert.equal(new TextDecoder().decode(received), "Mensaje de prueba, más de 16 bytes");
 * ```
 */
export class SocketTCP {
  /** Encodes a segment: see {@linkcode createSegment}. */
  static createSegment: typeof createSegment = createSegment;
  /** Decodes a segment: see {@linkcode parseSegment}. */
  static parseSegment: typeof parseSegment = parseSegment;

  static {
    adopt = (options, endpoint) => {
      const socket = new SocketTCP(options);
      socket.#endpoint = endpoint;
      socket.#claimed = true; // connected: no bind or connect on it
      return socket;
    };
  }

  readonly #options: SocketTCPOptions;
  readonly #settings: ReturnType<typeof settings>;
  readonly #tracer: Tracer;
  /** What `bind` made: a listener. */
  #listener: Listener | null = null;
  /** What `connect` or `accept` made: a connected endpoint. */
  #endpoint: Endpoint | null = null;
  #claimed = false;
  #released = false;
  #busy: string | null = null;
  /** Set when a send failed part-way: the two ends no longer agree on the sequence number. */
  #broken: Error | null = null;

  /**
   * Creates a socket. It opens nothing until `bind`, `connect` or `accept`.
   * Every option is checked now; the messages name the option, the value
   * received and what was expected.
   *
   * @throws {RangeError} when an option is out of range.
   * @throws {TypeError} when an option has the wrong type, or its name is unknown.
   */
  constructor(options: SocketTCPOptions = {}) {
    this.#settings = settings(options);
    this.#options = options;
    this.#tracer = new Tracer(options.onTrace);
  }

  #connectionOptions(peer: Addr): ConnectionOptions {
    const o = this.#options;
    return {
      maxMessageLength: this.#settings.maxMessageLength,
      mss: this.#settings.mss,
      maxRetries: this.#settings.maxRetries,
      closeRetries: this.#settings.closeRetries,
      idleTimeout: this.#settings.idleTimeout,
      window: this.#settings.window,
      arq: this.#settings.arq,
      congestion: this.#settings.congestion,
      rto: o.timeout === undefined ? new AdaptiveRto(o.rto) : new FixedRto(o.timeout),
      peer: formatAddr(peer),
    };
  }

  /** The address this socket is bound to. @throws {Deno.errors.NotConnected} before `bind` or `connect`. */
  get localAddr(): Addr {
    const bound = this.#listener ?? this.#endpoint;
    if (!bound) {
      throw new Deno.errors.NotConnected("Socket is not bound: call bind or connect first");
    }
    return bound.localAddr;
  }

  /** The peer's address, or `null` before the handshake. */
  get remoteAddr(): Addr | null {
    const peer = this.#endpoint?.connection.established ? this.#endpoint.peer : null;
    return peer ? { ...peer } : null;
  }

  /**
   * The incoming message being read: its announced length and the bytes of it
   * that `recv` has not returned yet; `null` between messages (before a
   * length segment arrived, or once the last byte was returned).
   *
   * @example Read exactly one message, whatever its length
   * ```ts ignore
   * const parts = [await conn.recv(65536)];
   * while (conn.incoming) parts.push(await conn.recv(65536));
   * ```
   */
  get incoming(): { length: number; remaining: number } | null {
    return this.#endpoint?.connection.incoming ?? null;
  }

  /**
   * The outgoing message being sent (or the last one sent): its announced
   * length and how many of its bytes the peer acknowledged so far; `null`
   * before the first `send`. With a send buffer, `sendStream` takes bytes
   * before they are acknowledged: this says what actually arrived.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SocketTCP } from "./socket_tcp.ts";
   *
   * await using listener = new SocketTCP();
   * listener.bind({ hostname: "127.0.0.1", port: 0 });
   * await using client = new SocketTCP();
   * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
   * assert.equal(client.outgoing, null);
   * await Promise.all([client.send(new Uint8Array(40)), server.recv(1024)]);
   * assert.deepEqual(client.outgoing, { length: 40, acknowledged: 40 });
   * await Promise.all([client.close(), server.recvClose()]);
   * ```
   */
  get outgoing(): { length: number; acknowledged: number } | null {
    return this.#endpoint?.connection.outgoing ?? null;
  }

  /** What this socket did so far (a snapshot). */
  get stats(): SocketStats {
    const endpoint = this.#endpoint;
    const listener = this.#listener?.counters;
    const c = endpoint?.connection;
    const rto = c?.rto ??
      (this.#options.timeout === undefined
        ? new AdaptiveRto(this.#options.rto)
        : new FixedRto(this.#options.timeout));
    return {
      segmentsSent: c?.stats.segmentsSent ?? 0,
      segmentsReceived: c?.stats.segmentsReceived ?? listener?.segmentsReceived ?? 0,
      bytesSent: c?.stats.bytesSent ?? 0,
      bytesReceived: endpoint?.counters.bytesReceived ?? 0,
      retransmissions: c?.stats.retransmissions ?? 0,
      spuriousRetransmissions: c?.stats.spuriousRetransmissions ?? 0,
      lastAckCopies: c?.stats.lastAckCopies ?? 0,
      timeouts: c?.stats.timeouts ?? 0,
      duplicates: c?.stats.duplicates ?? listener?.duplicates ?? 0,
      ignored: c?.stats.ignored ?? 0,
      malformed: endpoint?.counters.malformed ?? listener?.malformed ?? 0,
      foreign: endpoint?.counters.foreign ?? listener?.foreign ?? 0,
      backlogDrops: listener?.backlogDrops ?? 0,
      handshakesGivenUp: listener?.handshakesGivenUp ?? 0,
      fastRetransmits: c?.stats.fastRetransmits ?? 0,
      rto: rto.rto,
      srtt: rto.srtt,
      cwnd: c?.congestion.cwnd ?? this.#settings.window,
      peakCwnd: c?.congestion.peak ?? this.#settings.window,
      ssthresh: c?.congestion.ssthresh ?? this.#settings.window,
      establishedAt: epoch(c?.times.established),
      lastDataAt: epoch(c?.times.lastData),
      closedAt: epoch(c?.times.closed),
    };
  }

  // ------------------------------------------------------------------ bind

  /**
   * Binds this socket to `address`, to listen there with `accept`. The host
   * must be an IP address or `localhost` (which means `127.0.0.1`), and is
   * `127.0.0.1` when absent; port 0, or no port, asks for any free port (read
   * it back from `localAddr`).
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken (the message names the address).
   * @throws {TypeError} when there is no address, the host is a name other
   * than `localhost`, a field has the wrong type, or the socket is already
   * bound, connected or closed.
   * @throws {RangeError} when the port is not in 0..65535.
   */
  bind(address: Partial<Addr>): void {
    if (this.#claimed || this.#released) {
      throw new TypeError("Cannot bind: the socket is already bound, connected or closed");
    }
    checkAddress("bind", address, '{ hostname: "127.0.0.1", port: 0 }');
    const port = checkPort("bind", address.port ?? 0, 0);
    const host: unknown = address.hostname ?? "127.0.0.1";
    if (typeof host !== "string") {
      throw new TypeError(
        `Cannot bind to hostname ${
          describeValue(host, "string")
        }: expected an IP address or "localhost"`,
      );
    }
    const hostname = normalizeHost(host);
    if (!isIpLiteral(hostname)) {
      throw new TypeError(`Cannot bind to "${hostname}": expected an IP address or "localhost"`);
    }
    let raw: ReturnType<typeof udpLink>;
    try {
      raw = udpLink({ hostname, port });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      throw new Deno.errors.AddrInUse(
        `Cannot bind ${
          formatAddr({ hostname, port })
        }: the address is in use (is another server running there?)`,
        { cause: error },
      );
    }
    const link = this.#wrap(raw);
    this.#claimed = true;
    this.#listener = new Listener(link, {
      backlog: this.#settings.backlog,
      link: this.#options.link,
      tracer: this.#tracer,
      connectionOptions: (peer) => this.#connectionOptions(peer),
    });
  }

  /** Applies the `link` option; a wrapper that throws does not leak the socket it wrapped. */
  #wrap(raw: ReturnType<typeof udpLink>) {
    try {
      return this.#options.link ? this.#options.link(raw) : raw;
    } catch (error) {
      raw.close();
      throw error;
    }
  }

  // -------------------------------------------------------------- connect

  /**
   * Connects to a listening socket at `address`: the client side of the
   * 3-way handshake. Sends `SYN seq=x` (x random in 0..100) until a
   * `SYN+ACK seq=x+1` comes back, from whatever port the server chose, then
   * answers `ACK seq=x+2`. A name such as `localhost` is resolved once; no
   * hostname means `127.0.0.1`, as for `bind` and `Deno.connect`.
   *
   * A signal already aborted rejects with its reason before anything is
   * opened or sent, and the socket can still connect.
   *
   * @throws {PeerTimeoutError} when no SYN+ACK came after the retries (its
   * message says what the server sent instead, if anything, or that no
   * server answered at all).
   * @throws {Deno.errors.NotFound} when the host name does not resolve.
   * @throws {TypeError} when there is no address, a field has the wrong
   * type, the `random` option returned something other than a number, or
   * the socket is already bound, connected or closed.
   * @throws {RangeError} when the port is not in 1..65535, or `random`
   * returned a number outside [0, 1).
   */
  async connect(address: Addr, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#claimed || this.#released) {
      throw new TypeError("Cannot connect: the socket is already bound, connected or closed");
    }
    checkAddress("connect", address, '{ hostname: "127.0.0.1", port: 8000 }');
    const port = checkPort("connect", address.port, 1);
    const host: unknown = address.hostname ?? "127.0.0.1";
    if (typeof host !== "string") {
      throw new TypeError(
        `Cannot connect to hostname ${describeValue(host, "string")}: expected a string`,
      );
    }
    const signal = options.signal;
    signal?.throwIfAborted();
    const iss = this.#initialSequenceNumber(); // before anything is opened: it may throw
    this.#claimed = true; // before any await: a second connect() must fail, not open a socket
    let hostname: string;
    try {
      hostname = await resolveHost(host);
      signal?.throwIfAborted(); // aborted while resolving: no SYN
    } catch (error) {
      await this.#release();
      throw error;
    }
    if (this.#released) throw new Deno.errors.BadResource("Cannot connect: the socket was closed");
    const target = { hostname, port };
    let connection: Connection;
    let endpoint: Endpoint;
    try {
      const link = this.#wrap(
        udpLink({ hostname: localHostFor(hostname), port: 0 }),
      );
      try {
        connection = Connection.client(iss, now(), this.#connectionOptions(target));
        endpoint = new Endpoint(link, connection, target, {
          peerKnown: false,
          tracer: this.#tracer,
        });
      } catch (error) {
        link.close(); // nothing else would close it
        throw error;
      }
    } catch (error) {
      await this.#release();
      throw error;
    }
    this.#endpoint = endpoint;
    try {
      await endpoint.waitUntil(
        () => connection.established || connection.error !== undefined,
        signal,
      );
      if (connection.error) throw this.#withSendCause(connection.error);
    } catch (error) {
      await this.#release();
      throw error;
    }
  }

  /** x of `SYN seq=x`, in 0..100, from the `random` option, which is checked here. */
  #initialSequenceNumber(): number {
    const random = this.#options.random ?? Math.random;
    const value: unknown = random();
    if (typeof value !== "number" || !(value >= 0 && value < 1)) {
      const message = `Cannot connect: option random returned ${
        describeValue(value)
      }: expected a number >= 0 and < 1`;
      throw typeof value === "number" ? new RangeError(message) : new TypeError(message);
    }
    return Math.min(100, Math.floor(value * 101));
  }

  /** A timeout keeps the last failed datagram send as its cause: the reason nothing answered. */
  #withSendCause(error: Error): Error {
    const cause = this.#endpoint?.lastSendError;
    if (!(error instanceof PeerTimeoutError) || cause === undefined || error.cause !== undefined) {
      return error;
    }
    return new PeerTimeoutError(
      error.peer,
      error.waitingFor,
      error.attempts === undefined ? { idleMs: this.#settings.idleTimeout } : {
        attempts: error.attempts,
      },
      { cause, instead: error.instead, noServer: error.noServer },
    );
  }

  // --------------------------------------------------------------- accept

  /**
   * Waits for a connection and returns a NEW socket for it, bound to a
   * different port of the same host, and that socket's address. Handshakes
   * run in the background as SYNs arrive (up to `backlog` at once), so one
   * slow or lossy client does not hold up the others; `accept` returns the
   * next connection whose handshake is complete.
   *
   * @throws {Deno.errors.BadResource} when the listener is closed while waiting.
   */
  async accept(options: { signal?: AbortSignal } = {}): Promise<[SocketTCP, Addr]> {
    if (!this.#listener) {
      if (this.#released) throw new Deno.errors.BadResource("Cannot accept: the socket is closed");
      if (this.#claimed) {
        throw new TypeError(
          `Cannot accept: this socket is ${
            this.#endpoint?.connection.established ? "connected" : "connecting"
          }; accept works on a bound listener`,
        );
      }
      throw new TypeError("Cannot accept: call bind first");
    }
    const endpoint = await this.#listener.accept(options.signal);
    return [adopt(this.#options, endpoint), endpoint.localAddr];
  }

  // ----------------------------------------------------------------- send

  /**
   * Sends `message` with Stop & Wait: first a segment with its length in
   * ASCII decimal, then the bytes in segments of at most `mss` (16) bytes,
   * each sent again after a timeout until its ACK arrives.
   *
   * A signal already aborted rejects with its reason before anything is
   * queued or sent: the socket stays usable. One that aborts once the
   * message started stops it (what is in flight is still resent until
   * acknowledged, nothing more is sent) and leaves the connection unusable
   * (the peer waits for the rest): later calls throw
   * `Deno.errors.BrokenPipe`; close the socket.
   *
   * @throws {PeerTimeoutError} when a segment is not acknowledged after the retries.
   * @throws {Deno.errors.NotConnected} before `connect` or `accept`.
   * @throws {TypeError} when `message` is not a `Uint8Array` (nothing is sent).
   */
  async send(message: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!(message instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot send ${
          describeValue(message, "Uint8Array")
        }: expected a Uint8Array (encode text with TextEncoder)`,
      );
    }
    await this.sendStream(message.length, [message], options);
  }

  /**
   * Sends a message of `length` bytes read from `source`, without holding it
   * all in memory: `send` for a stream whose length is known in advance.
   *
   * @throws {RangeError} when `source` yields more or fewer than `length` bytes.
   * @throws {TypeError} when `source` yields something other than a `Uint8Array`.
   * @throws {PeerTimeoutError} when a segment is not acknowledged after the retries.
   */
  async sendStream(
    length: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) {
      const message = `Cannot send a message of length ${
        describeValue(length)
      }: expected an integer in 0..${Number.MAX_SAFE_INTEGER}`;
      throw typeof length === "number" ? new RangeError(message) : new TypeError(message);
    }
    const signal = options.signal;
    signal?.throwIfAborted(); // before anything is queued: the socket stays usable
    const endpoint = this.#enter("send");
    const connection = endpoint.connection;
    let started = false;
    try {
      if (connection.peerClosed) {
        throw new ConnectionClosedError(
          `Cannot send: peer ${connection.peerName} closed the connection`,
        );
      }
      started = true;
      connection.startMessage(length, now());
      endpoint.flush(now());
      let written = 0;
      for await (const chunk of source) {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(
            `Cannot send: the source yielded ${
              describeValue(chunk, "Uint8Array")
            }: expected Uint8Array chunks`,
          );
        }
        if (written + chunk.length > length) {
          throw new RangeError(
            `Cannot send: the source holds more than the announced ${length} bytes`,
          );
        }
        let offset = 0;
        while (offset < chunk.length) {
          this.#throwIfFailed(connection);
          const t = now();
          const n = connection.write(chunk.subarray(offset), t);
          offset += n;
          endpoint.flush(t);
          if (offset < chunk.length) {
            await endpoint.waitUntil(() => this.#sendSettled(connection, true), signal);
          }
        }
        written += chunk.length;
      }
      if (written !== length) {
        throw new RangeError(
          `Cannot send: the source ended after ${written} of the announced ${length} bytes`,
        );
      }
      await endpoint.waitUntil(() => this.#sendSettled(connection, false), signal);
      this.#throwIfFailed(connection);
    } catch (error) {
      // Part of the message went out: the peer waits for the rest, and the
      // sequence numbers of both ends no longer agree. No later call may use
      // this connection as if nothing happened (closing it still works).
      if (!started || error instanceof ConnectionClosedError) throw error;
      // What was not sent yet stays unsent (what is in flight still goes).
      connection.dropUnsent();
      endpoint.flush(now());
      const out = connection.outgoing;
      const aborted = signal?.aborted === true && error === signal.reason && out !== null &&
        out.acknowledged < out.length;
      this.#broken ??= new Deno.errors.BrokenPipe(
        aborted
          ? `The connection is unusable: send was aborted after ${
            out.acknowledged.toLocaleString("en-US")
          } of ${
            out.length.toLocaleString("en-US")
          } bytes were acknowledged: the peer waits for the rest; close this socket`
          : `The connection is unusable: a send failed part-way (${(error as Error)?.message})`,
        { cause: error },
      );
      throw error;
    } finally {
      this.#busy = null;
    }
  }

  /** The send can go on (room to write, or everything acknowledged) or must stop. */
  #sendSettled(connection: Connection, room: boolean): boolean {
    return (room ? connection.writable > 0 : connection.sent) ||
      connection.error !== undefined || connection.peerClosed || connection.closed;
  }

  #throwIfFailed(connection: Connection): void {
    if (connection.error) throw this.#withSendCause(connection.error);
    if (connection.peerClosed && !connection.sent) {
      throw new ConnectionClosedError(
        `Peer ${connection.peerName} closed the connection before acknowledging seq ${connection.seq}`,
      );
    }
  }

  // ----------------------------------------------------------------- recv

  /**
   * Receives the next piece of the current message: returns once
   * `min(bytes left in the message, buffSize)` bytes have arrived. What is
   * left of the message is returned by the next calls; then the next message
   * begins. A message of length 0 is returned as an empty array.
   *
   * @throws {ConnectionClosedError} when the peer closed instead of sending.
   * @throws {PeerTimeoutError} when the peer makes no progress for `idleTimeout` ms.
   * @throws {ProtocolError} when the peer announces a malformed or too large length.
   */
  async recv(buffSize: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (typeof buffSize !== "number" || !Number.isSafeInteger(buffSize) || buffSize < 1) {
      const message = `Cannot recv with buffSize ${
        describeValue(buffSize)
      }: expected an integer >= 1`;
      throw typeof buffSize === "number" ? new RangeError(message) : new TypeError(message);
    }
    options.signal?.throwIfAborted();
    const endpoint = this.#enter("recv");
    const connection = endpoint.connection;
    connection.want = buffSize;
    connection.expect("data", now());
    // A larger buffSize may have made room: the window update goes now.
    if (connection.hasOutput) endpoint.flush(now());
    else endpoint.reschedule();
    let data: Uint8Array | null = null;
    try {
      await endpoint.waitUntil(() => {
        data = connection.take(buffSize);
        return data !== null || connection.peerClosed || connection.error !== undefined ||
          this.#waitFailed(connection);
      }, options.signal);
      if (data !== null) {
        endpoint.counters.bytesReceived += (data as Uint8Array).length;
        // Reading made room after a refusal: the window update goes now.
        if (connection.hasOutput) endpoint.flush(now());
        return data;
      }
      this.#throwIfBroken();
      if (connection.peerClosed) {
        throw new ConnectionClosedError(
          connection.truncated
            ? `Peer ${connection.peerName} closed the connection ${
              connection.missing.toLocaleString("en-US")
            } bytes before the end of the message`
            : `Peer ${connection.peerName} closed the connection`,
        );
      }
      throw this.#waitError!;
    } finally {
      connection.expect(null, now());
      this.#busy = null;
    }
  }

  #waitError: Error | undefined;

  #waitFailed(connection: Connection): boolean {
    const error = connection.takeWaitError();
    if (error) this.#waitError = error;
    return error !== undefined;
  }

  // ---------------------------------------------------------------- close

  /**
   * Closes the connection as host A: sends `FIN seq=s` and waits for
   * `FIN+ACK seq=s+1`, sending FIN again after each timeout, up to 3 times;
   * then assumes the peer closed. After FIN+ACK it sends the last
   * `ACK seq=s+2` 3 times, a timeout apart. On a listener or an unconnected
   * socket, just releases the UDP socket (pending handshakes end too).
   * While another call (`send`, `recv`, ...) is running, there can be no
   * orderly close: the socket is released at once and that call rejects with
   * `Deno.errors.BadResource`. Calling it again is harmless.
   */
  async close(): Promise<void> {
    const endpoint = this.#endpoint;
    if (this.#released || !endpoint || !endpoint.connection.established || this.#busy) {
      // No connection, or a call still runs: no orderly FIN exchange is
      // possible. Release, and the running call rejects with BadResource.
      await this.#release();
      return;
    }
    this.#busy = "close";
    try {
      const connection = endpoint.connection;
      const t = now();
      connection.close(t); // as host B when the peer closed first: the FIN+ACK's timers run
      endpoint.flush(t);
      await endpoint.waitUntil(() => connection.closed);
    } finally {
      this.#busy = null;
      await this.#release();
    }
  }

  /**
   * Ends the connection as host B: waits for the peer's FIN (answering
   * duplicates of earlier segments meanwhile), answers `FIN+ACK`, and waits
   * up to 3 timeouts for the last ACK, then assumes the peer closed. Any part
   * of a message `recv` has not read is acknowledged and dropped, so that the
   * peer's close goes through, and then reported.
   *
   * @throws {UnreadDataError} once the connection closed, when it dropped bytes `recv` had not read.
   * @throws {PeerTimeoutError} when the peer makes no progress towards a FIN for `idleTimeout` ms.
   */
  async recvClose(options: { signal?: AbortSignal } = {}): Promise<void> {
    const endpoint = this.#enter("recvClose");
    const connection = endpoint.connection;
    try {
      // What was not read is acknowledged and dropped: the peer's close goes through.
      connection.closeReceiving(now());
      endpoint.flush(now());
      await endpoint.waitUntil(
        () =>
          connection.peerClosed || connection.error !== undefined || connection.closed ||
          this.#waitFailed(connection),
        options.signal,
      );
      connection.expect(null, now());
      this.#throwIfBroken();
      if (!connection.peerClosed && !connection.closed) throw this.#waitError!;
      await endpoint.waitUntil(() => connection.closed, options.signal);
      if (connection.discarded > 0) {
        throw new UnreadDataError(connection.peerName, connection.discarded);
      }
    } finally {
      this.#busy = null;
      await this.#release();
    }
  }

  /** Closes the connection (host A) if it is open, and releases the socket. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------ internals

  /** Checks that `call` may run now, and marks the socket busy with it. */
  #enter(call: string): Endpoint {
    const endpoint = this.#endpoint;
    if (this.#released) throw new Deno.errors.BadResource(`Cannot ${call}: the socket is closed`);
    if (!endpoint?.connection.established) {
      throw new Deno.errors.NotConnected(`Cannot ${call}: the socket is not connected`);
    }
    if (this.#broken) throw this.#broken;
    const error = endpoint.connection.error;
    if (error) throw error;
    if (this.#busy) throw new TypeError(`Cannot ${call} while ${this.#busy} is in progress`);
    this.#busy = call;
    return endpoint;
  }

  #throwIfBroken(): void {
    if (this.#released) throw new Deno.errors.BadResource("The socket was closed");
    if (this.#broken) throw this.#broken;
    const error = this.#endpoint?.connection.error;
    if (error) throw error;
  }

  /** Releases the UDP socket (a listener's: with its pending handshakes and unclaimed sockets). */
  async #release(): Promise<void> {
    this.#released = true;
    await Promise.all([this.#listener?.release(), this.#endpoint?.release()]);
  }
}
