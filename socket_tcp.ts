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
  ConnectionClosedError,
  PeerTimeoutError,
  ProtocolError,
  UnreadDataError,
} from "./errors.ts";
import {
  type Addr,
  formatAddr,
  isIpLiteral,
  type LinkWrapper,
  normalizeHost,
  resolveHost,
  udpLink,
} from "./link.ts";
import { Listener } from "./listener.ts";
import { AdaptiveRto, type AdaptiveRtoOptions, FixedRto } from "./rto.ts";
import { createSegment, parseSegment } from "./segment.ts";
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
  /** Data bytes per segment. Default 16, the assignment's. */
  mss?: number;
  /**
   * A fixed retransmission timeout in ms (the assignment's step 5). When
   * absent, the timeout adapts to measured round trips (RFC 6298), bounded
   * by {@linkcode SocketTCPOptions.rto}.
   */
  timeout?: number;
  /** Bounds of the adaptive timeout. */
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
   * with an error that says what it repeated. Default 30 000.
   */
  idleTimeout?: number;
  /** Largest message a peer may announce. Default 2^40 bytes. */
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
  /** Source of randomness for the initial sequence number, in [0, 1). Default `Math.random`. */
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

const DEFAULTS = {
  mss: 16,
  maxRetries: 20,
  closeRetries: 3,
  idleTimeout: 30_000,
  backlog: 64,
  window: 1,
};

/** Reads the remaining options with their defaults, validating numbers. */
function settings(options: SocketTCPOptions) {
  const get = (name: keyof typeof DEFAULTS, min: number): number => {
    const value = options[name] ?? DEFAULTS[name];
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(`Cannot use option ${name} = ${value}: expected an integer >= ${min}`);
    }
    return value;
  };
  return {
    mss: get("mss", 1),
    maxRetries: get("maxRetries", 0),
    closeRetries: get("closeRetries", 1),
    idleTimeout: get("idleTimeout", 1),
    backlog: get("backlog", 1),
    window: get("window", 1),
    arq: oneOf("arq", options.arq ?? "go-back-n", ARQS),
    congestion: oneOf("congestion", options.congestion ?? "none", CONGESTION_CONTROLS),
  };
}

function oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new RangeError(
      `Cannot use option ${name} = ${value}: expected ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  }
  return value;
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
   *
   * @throws {RangeError} when an option is out of range.
   */
  constructor(options: SocketTCPOptions = {}) {
    this.#options = options;
    this.#settings = settings(options);
    this.#tracer = new Tracer(options.onTrace);
    if (options.timeout !== undefined) new FixedRto(options.timeout); // validates it now
  }

  #connectionOptions(peer: Addr): ConnectionOptions {
    const o = this.#options;
    return {
      maxMessageLength: o.maxMessageLength,
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
   * must be an IP address or `localhost` (which means `127.0.0.1`); port 0
   * asks for any free port (read it back from `localAddr`).
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken.
   * @throws {TypeError} when the host is a name other than `localhost`, or the socket is already bound.
   */
  bind(address: Partial<Addr>): void {
    if (this.#claimed || this.#released) {
      throw new TypeError("Cannot bind: the socket is already bound or closed");
    }
    const hostname = normalizeHost(address.hostname ?? "127.0.0.1");
    if (!isIpLiteral(hostname)) {
      throw new TypeError(`Cannot bind to "${hostname}": expected an IP address or "localhost"`);
    }
    const link = this.#wrap(udpLink({ hostname, port: address.port ?? 0 }));
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
   * answers `ACK seq=x+2`. A name such as `localhost` is resolved once.
   *
   * @throws {PeerTimeoutError} when no SYN+ACK came after the retries (its
   * message says what the server sent instead, if anything).
   * @throws {Deno.errors.NotFound} when the host name does not resolve.
   */
  async connect(address: Addr, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#claimed || this.#released) {
      throw new TypeError("Cannot connect: the socket is already bound, connected or closed");
    }
    if (!Number.isInteger(address.port) || address.port < 1 || address.port > 65535) {
      throw new RangeError(
        `Cannot connect to port ${address.port}: expected an integer in 1..65535`,
      );
    }
    this.#claimed = true; // before any await: a second connect() must fail, not open a socket
    let hostname: string;
    try {
      hostname = await resolveHost(address.hostname);
    } catch (error) {
      await this.#release();
      throw error;
    }
    if (this.#released) throw new Deno.errors.BadResource("Cannot connect: the socket was closed");
    const target = { hostname, port: address.port };
    const link = this.#wrap(
      udpLink({ hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 }),
    );
    const random = this.#options.random ?? Math.random;
    const iss = Math.min(100, Math.floor(random() * 101));
    const connection = Connection.client(iss, now(), this.#connectionOptions(target));
    const endpoint = new Endpoint(link, connection, target, {
      peerKnown: false,
      tracer: this.#tracer,
    });
    this.#endpoint = endpoint;
    try {
      await endpoint.waitUntil(
        () => connection.established || connection.error !== undefined,
        options.signal,
      );
      if (connection.error) throw this.#withSendCause(connection.error);
    } catch (error) {
      await this.#release();
      throw error;
    }
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
      { cause, instead: error.instead },
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
    if (!this.#listener) throw new TypeError("Cannot accept: call bind first");
    const endpoint = await this.#listener.accept(options.signal);
    return [adopt(this.#options, endpoint), endpoint.localAddr];
  }

  // ----------------------------------------------------------------- send

  /**
   * Sends `message` with Stop & Wait: first a segment with its length in
   * ASCII decimal, then the bytes in segments of at most `mss` (16) bytes,
   * each sent again after a timeout until its ACK arrives.
   *
   * @throws {PeerTimeoutError} when a segment is not acknowledged after the retries.
   * @throws {Deno.errors.NotConnected} before `connect` or `accept`.
   */
  async send(message: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.sendStream(message.length, [message], options);
  }

  /**
   * Sends a message of `length` bytes read from `source`, without holding it
   * all in memory: `send` for a stream whose length is known in advance.
   *
   * @throws {RangeError} when `source` yields more or fewer than `length` bytes.
   * @throws {PeerTimeoutError} when a segment is not acknowledged after the retries.
   */
  async sendStream(
    length: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`Cannot send a message of length ${length}: expected an integer >= 0`);
    }
    const endpoint = this.#enter("send");
    const connection = endpoint.connection;
    const signal = options.signal;
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
      this.#broken ??= new Deno.errors.BrokenPipe(
        `The connection is unusable: a send failed part-way (${(error as Error).message})`,
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
    if (!Number.isSafeInteger(buffSize) || buffSize < 1) {
      throw new RangeError(`Cannot recv with buffSize ${buffSize}: expected an integer >= 1`);
    }
    const endpoint = this.#enter("recv");
    const connection = endpoint.connection;
    connection.want = buffSize;
    connection.expect("data", now());
    endpoint.reschedule();
    let data: Uint8Array | null = null;
    try {
      await endpoint.waitUntil(() => {
        data = connection.take(buffSize);
        return data !== null || connection.peerClosed || connection.error !== undefined ||
          this.#waitFailed(connection);
      }, options.signal);
      if (data !== null) {
        endpoint.counters.bytesReceived += (data as Uint8Array).length;
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
