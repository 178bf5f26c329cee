/**
 * `SocketTCP`: a connection-oriented socket with the shape of Python's, that
 * sends everything over one UDP socket with Stop & Wait.
 *
 * The protocol's decisions live in {@linkcode Connection} (pure); this module
 * owns the I/O: one UDP socket per `SocketTCP`, one reader loop per socket
 * that feeds every datagram to the connection, and the timers of the waiting
 * calls.
 *
 * @module
 */
import { Connection, ProtocolError, type Verdict } from "./connection.ts";
import {
  type Addr,
  type DatagramLink,
  formatAddr,
  isIpLiteral,
  type LinkWrapper,
  normalizeHost,
  resolveHost,
  sameAddr,
  udpLink,
} from "./link.ts";
import { AdaptiveRto, type AdaptiveRtoOptions, FixedRto, type RtoPolicy } from "./rto.ts";
import {
  concatBytes,
  createSegment,
  parseSegment,
  type Segment,
  SegmentError,
  segmentKind,
} from "./segment.ts";
import type { TraceEvent, TraceSink } from "./trace.ts";
import { WaitQueue } from "./wait_queue.ts";

/**
 * Tuning of a {@linkcode SocketTCP}. Every field is optional; the defaults are the assignment's.
 *
 * @example 4-byte segments and a fixed 200 ms timeout
 * ```ts
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
 * console.log(new TextDecoder().decode(got), client.stats.rto); // "Hola mundo" 200
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
  /** How long `recv` and `recvClose` wait while the peer sends nothing at all, in ms. Default 30 000. */
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
}

/**
 * What a socket did, for tools and benchmarks. Counters only grow.
 *
 * @example The counters of a 20-byte message
 * ```ts
 * import { type SocketStats, SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * await Promise.all([client.send(new Uint8Array(20)), server.recv(1024)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * const stats: SocketStats = server.stats;
 * console.log(stats.bytesReceived, stats.malformed); // 20 0
 * ```
 */
export interface SocketStats {
  /** Segments sent, retransmissions included. */
  segmentsSent: number;
  /** Segments received from the peer. */
  segmentsReceived: number;
  /** Payload bytes sent in DATA segments (length announcements and retransmissions included). */
  bytesSent: number;
  /** Message bytes returned by `recv`. */
  bytesReceived: number;
  /**
   * Segments sent again: after a timeout, the SYN+ACK answering a repeated
   * SYN, the FIN+ACK repeated while waiting for the last ACK, and the
   * repeated last ACKs of `close`.
   */
  retransmissions: number;
  /** Timeouts expired while waiting for the peer. */
  timeouts: number;
  /** Segments and ACKs received that repeat ones already received. */
  duplicates: number;
  /** Segments from the peer that were ignored (out of place, or no room to hold them). */
  ignored: number;
  /** Datagrams that were not segments. */
  malformed: number;
  /** Datagrams from an address other than the peer's. */
  foreign: number;
  /** Listener: pending handshakes dropped because the backlog was full. */
  backlogDrops: number;
  /** The current retransmission timeout, in ms. */
  rto: number;
  /** The smoothed round-trip time, in ms, once measured. */
  srtt: number | undefined;
}

/**
 * The peer stopped answering: raised after the bounded retransmissions or waits.
 *
 * @example Connect to a UDP port that never answers
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { PeerTimeoutError, SocketTCP } from "./socket_tcp.ts";
 *
 * const silent = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using client = new SocketTCP({ timeout: 10, maxRetries: 1 });
 * try {
 *   await client.connect(silent.localAddr);
 * } catch (error) {
 *   console.log(error instanceof PeerTimeoutError, (error as PeerTimeoutError).attempts); // true 2
 * }
 * silent.close();
 * ```
 */
export class PeerTimeoutError extends Deno.errors.TimedOut {
  /** Transmissions made before giving up; `undefined` when the limit was a silence (`idleTimeout`). */
  readonly attempts: number | undefined;
  /** How the wait ended, for messages: "after 21 tries" or "for 30000 ms". */
  readonly detail: string;

  /**
   * Creates the error: `waitingFor` says what never came from `peer`, and
   * `limit` which bound was reached.
   */
  constructor(
    readonly peer: string,
    readonly waitingFor: string,
    limit: { attempts: number } | { idleMs: number },
    options?: ErrorOptions,
  ) {
    const detail = "attempts" in limit
      ? `after ${limit.attempts} ${limit.attempts === 1 ? "try" : "tries"}`
      : `for ${limit.idleMs} ms`;
    super(`Peer ${peer} stopped answering: no ${waitingFor} ${detail}`, options);
    this.name = "PeerTimeoutError";
    this.attempts = "attempts" in limit ? limit.attempts : undefined;
    this.detail = detail;
  }
}

/**
 * The peer closed the connection while this end waited for data.
 *
 * @example The client closes while the server waits in `recv`
 * ```ts
 * import { ConnectionClosedError, SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * const [, error] = await Promise.all([client.close(), server.recv(1024).catch((e) => e)]);
 * await server.close();
 * console.log(error instanceof ConnectionClosedError); // true
 * ```
 */
export class ConnectionClosedError extends Deno.errors.ConnectionReset {
  /** Creates the error with a message naming the peer. */
  constructor(message: string) {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

export { ProtocolError };

const DEFAULTS = {
  mss: 16,
  maxRetries: 20,
  closeRetries: 3,
  idleTimeout: 30_000,
  backlog: 64,
};

/** How long a listener remembers a finished handshake, so that a late copy of its SYN opens nothing. */
const SYN_MEMORY_MS = 30_000;
/** Largest datagram the reader accepts; larger ones are truncated by the OS and fail to parse. */
const RECEIVE_BUFFER_SIZE = 65_536;

type Role = "idle" | "listener" | "connection";

interface PendingSyn {
  child: SocketTCP | null;
  since: number;
}

function now(): number {
  return performance.now();
}

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
  };
}

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
 * import { SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server], _] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * const message = new TextEncoder().encode("Mensaje de prueba, más de 16 bytes");
 * const [, received] = await Promise.all([client.send(message), server.recv(1024)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * console.log(new TextDecoder().decode(received)); // "Mensaje de prueba, más de 16 bytes"
 * ```
 */
export class SocketTCP {
  /** Encodes a segment: see {@linkcode createSegment}. */
  static createSegment: typeof createSegment = createSegment;
  /** Decodes a segment: see {@linkcode parseSegment}. */
  static parseSegment: typeof parseSegment = parseSegment;

  readonly #options: SocketTCPOptions;
  readonly #settings: ReturnType<typeof settings>;
  readonly #rto: RtoPolicy;
  readonly #stats: Omit<SocketStats, "rto" | "srtt"> = {
    segmentsSent: 0,
    segmentsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmissions: 0,
    timeouts: 0,
    duplicates: 0,
    ignored: 0,
    malformed: 0,
    foreign: 0,
    backlogDrops: 0,
  };

  #role: Role = "idle";
  #link: DatagramLink | null = null;
  #reader: Promise<void> | null = null;
  #released = false;
  #connection: Connection | null = null;
  #peer: Addr | null = null;
  /** Before the peer is known (connect): the host its SYN+ACK must come from. */
  #expectedHost: string | null = null;
  #busy: string | null = null;
  /** Set when a send failed part-way: the two ends no longer agree on the sequence number. */
  #broken: Error | null = null;
  #traceFailed = false;
  /** The last error of a datagram send, kept as the cause of a later timeout. */
  #lastSendError: unknown = undefined;

  /** Where the calls wait for something to arrive, or for a timeout. */
  readonly #events = new WaitQueue();

  // Listener.
  #syns = new Map<string, PendingSyn>();
  #ready: SocketTCP[] = [];
  #handshakes = new Set<Promise<void>>();
  #localName: string | null = null;

  /**
   * Creates a socket. It opens nothing until `bind`, `connect` or `accept`.
   *
   * @throws {RangeError} when an option is out of range.
   */
  constructor(options: SocketTCPOptions = {}) {
    this.#options = options;
    this.#settings = settings(options);
    this.#rto = options.timeout === undefined
      ? new AdaptiveRto(options.rto)
      : new FixedRto(options.timeout);
  }

  /** The address this socket is bound to. @throws {Deno.errors.NotConnected} before `bind` or `connect`. */
  get localAddr(): Addr {
    if (!this.#link) {
      throw new Deno.errors.NotConnected("Socket is not bound: call bind or connect first");
    }
    return { ...this.#link.localAddr };
  }

  /** The peer's address, or `null` before the handshake. */
  get remoteAddr(): Addr | null {
    return this.#peer ? { ...this.#peer } : null;
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
    return this.#connection?.incoming ?? null;
  }

  /** What this socket did so far (a snapshot). */
  get stats(): SocketStats {
    return { ...this.#stats, rto: this.#rto.rto, srtt: this.#rto.srtt };
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
    if (this.#link || this.#released) {
      throw new TypeError("Cannot bind: the socket is already bound or closed");
    }
    const hostname = normalizeHost(address.hostname ?? "127.0.0.1");
    if (!isIpLiteral(hostname)) {
      throw new TypeError(`Cannot bind to "${hostname}": expected an IP address or "localhost"`);
    }
    this.#open({ hostname, port: address.port ?? 0 });
    this.#role = "listener";
  }

  #open(addr: Addr): void {
    const raw = udpLink(addr);
    try {
      this.#link = this.#options.link ? this.#options.link(raw) : raw;
    } catch (error) {
      raw.close();
      throw error;
    }
    this.#localName = formatAddr(this.#link.localAddr);
    this.#reader = this.#readLoop(this.#link);
  }

  // -------------------------------------------------------------- connect

  /**
   * Connects to a listening socket at `address`: the client side of the
   * 3-way handshake. Sends `SYN seq=x` (x random in 0..100) until a
   * `SYN+ACK seq=x+1` comes back, from whatever port the server chose, then
   * answers `ACK seq=x+2`. A name such as `localhost` is resolved once.
   *
   * @throws {PeerTimeoutError} when no SYN+ACK came after the retries.
   * @throws {Deno.errors.NotFound} when the host name does not resolve.
   */
  async connect(address: Addr, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#role !== "idle" || this.#released) {
      throw new TypeError("Cannot connect: the socket is already bound, connected or closed");
    }
    if (!Number.isInteger(address.port) || address.port < 1 || address.port > 65535) {
      throw new RangeError(
        `Cannot connect to port ${address.port}: expected an integer in 1..65535`,
      );
    }
    this.#role = "connection"; // before any await: a second connect() must fail, not open a socket
    let hostname: string;
    try {
      hostname = await resolveHost(address.hostname);
    } catch (error) {
      await this.#release();
      throw error;
    }
    const target = { hostname, port: address.port };
    this.#open({ hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 });
    this.#expectedHost = hostname;
    const random = this.#options.random ?? Math.random;
    const connection = Connection.client(Math.min(100, Math.floor(random() * 101)), this.#options);
    this.#connection = connection;
    try {
      await this.#exchange(
        connection.syn(),
        target,
        () => connection.established,
        "SYN+ACK",
        options.signal,
      );
    } catch (error) {
      await this.#release();
      if (error instanceof PeerTimeoutError) {
        throw new PeerTimeoutError(
          formatAddr(target),
          "SYN+ACK (is a server listening?)",
          { attempts: error.attempts ?? 0 },
          { cause: error.cause },
        );
      }
      throw error;
    }
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
    if (this.#role !== "listener") throw new TypeError("Cannot accept: call bind first");
    for (;;) {
      const child = this.#ready.shift();
      if (child) return [child, child.localAddr];
      await this.#waitEvent(Infinity, options.signal);
    }
  }

  #onSyn(segment: Segment, from: Addr): void {
    const key = `${formatAddr(from)}#${segment.seq}`;
    const known = this.#syns.get(key);
    this.#stats.segmentsReceived++;
    this.#trace("recv", segment, from, { duplicate: known !== undefined });
    if (known?.child) {
      // A repeated SYN: the same new socket answers again; nothing new opens.
      this.#stats.duplicates++;
      known.child.#answerSyn(segment);
      return;
    }
    // A SYN whose handshake was dropped (backlog full) or gave up starts afresh.
    if (known) this.#syns.delete(key);
    this.#forgetOldSyns();
    const pending = [...this.#syns.values()].filter((p) =>
      p.child && !p.child.#connection?.established
    );
    if (pending.length + this.#ready.length >= this.#settings.backlog) {
      this.#stats.backlogDrops++;
      const oldest = pending[0];
      if (!oldest) return; // every slot holds a connection waiting for accept: drop this SYN
      const victim = oldest.child!;
      oldest.child = null; // its client may SYN again and start afresh
      void victim.#release();
    }
    const child = new SocketTCP(this.#options);
    child.#role = "connection";
    try {
      child.#open({ hostname: this.#link!.localAddr.hostname, port: 0 });
    } catch {
      // No socket for it (out of file descriptors, in a flood): drop this SYN,
      // keep listening. Its client will send it again.
      this.#stats.backlogDrops++;
      return;
    }
    child.#peer = from;
    child.#connection = Connection.server(segment.seq, this.#options);
    const entry: PendingSyn = { child, since: now() };
    this.#syns.set(key, entry);
    const handshake = child.#serverHandshake().then((ok) => {
      if (ok && !this.#released) {
        this.#ready.push(child);
        this.#wake();
      } else {
        entry.child = null;
        return child.#release();
      }
    });
    this.#handshakes.add(handshake);
    handshake.finally(() => this.#handshakes.delete(handshake));
  }

  /** A repeated SYN, received by the listener: answer it again from this new socket. */
  #answerSyn(segment: Segment): void {
    const reply = this.#connection?.onSegment(segment).reply;
    if (reply && this.#peer) this.#send(reply, this.#peer, true, this.#rto.rto);
  }

  #forgetOldSyns(): void {
    const limit = now() - SYN_MEMORY_MS;
    for (const [key, entry] of this.#syns) {
      if (entry.since >= limit && this.#syns.size < 4 * this.#settings.backlog + 1024) break;
      if (entry.child && !entry.child.#released) continue;
      this.#syns.delete(key);
    }
  }

  async #serverHandshake(): Promise<boolean> {
    const connection = this.#connection!;
    try {
      await this.#exchange(connection.synAck(), this.#peer!, () => connection.established, "ACK");
      return true;
    } catch {
      return false;
    }
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
    const connection = this.#enter("send");
    let started = false;
    try {
      if (connection.peerClosed) {
        throw new ConnectionClosedError(
          `Cannot send: peer ${formatAddr(this.#peer!)} closed the connection`,
        );
      }
      started = true;
      await this.#transmit(connection, new TextEncoder().encode(String(length)), options.signal);
      const mss = this.#settings.mss;
      let sent = 0;
      // Bytes of a segment not yet full, carried over to the next chunk (fewer than mss).
      let carry: Uint8Array = new Uint8Array(0);
      for await (const chunk of source) {
        if (sent + carry.length + chunk.length > length) {
          throw new RangeError(
            `Cannot send: the source holds more than the announced ${length} bytes`,
          );
        }
        let offset = 0;
        if (carry.length > 0) {
          offset = Math.min(mss - carry.length, chunk.length);
          carry = concatBytes([carry, chunk.subarray(0, offset)]);
          if (carry.length < mss) continue;
          await this.#transmit(connection, carry, options.signal);
          sent += mss;
        }
        for (; chunk.length - offset >= mss; offset += mss) {
          await this.#transmit(connection, chunk.subarray(offset, offset + mss), options.signal);
          sent += mss;
        }
        carry = chunk.slice(offset); // a copy: the source may reuse its buffer
      }
      if (carry.length > 0) {
        await this.#transmit(connection, carry, options.signal);
        sent += carry.length;
      }
      if (sent !== length) {
        throw new RangeError(
          `Cannot send: the source ended after ${sent} of the announced ${length} bytes`,
        );
      }
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

  /** Sends one segment and waits for its ACK, retransmitting on timeout. */
  async #transmit(connection: Connection, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const segment = connection.dataSegment(data);
    const done = () => connection.acknowledged || connection.peerClosed;
    await this.#exchange(segment, this.#peer!, done, "ACK", signal);
    if (!connection.acknowledged) {
      throw new ConnectionClosedError(
        `Peer ${
          formatAddr(this.#peer!)
        } closed the connection before acknowledging seq ${segment.seq}`,
      );
    }
  }

  /**
   * Stop & Wait for one segment: sends it, waits until `done()` or the
   * timeout, sends it again with the timeout doubled (adaptive mode), up to
   * `maxRetries` times. Measures the round trip when the first transmission
   * is the one answered (Karn's rule).
   */
  async #exchange(
    segment: Segment,
    to: Addr,
    done: () => boolean,
    waitingFor: string,
    signal?: AbortSignal,
  ): Promise<void> {
    let rto = this.#rto.rto;
    let busySince: number | null = null;
    const connection = this.#connection!;
    connection.peerBusy = false;
    const bytes = createSegment(segment); // once: a retransmission sends the same bytes
    // Stop waiting as soon as the peer breaks the protocol, too.
    const settled = () => done() || connection.error !== undefined;
    for (let attempt = 0; attempt <= this.#settings.maxRetries; attempt++) {
      const sentAt = now();
      this.#send(segment, to, attempt > 0, rto, bytes);
      if (await this.#waitFor(settled, rto, signal)) {
        this.#throwIfBroken();
        if (attempt === 0) this.#rto.sample(now() - sentAt);
        return;
      }
      this.#stats.timeouts++;
      this.#trace("timeout", segment, to, { rto });
      rto = this.#rto.backoff(rto, attempt + 1);
      if (connection.peerBusy) {
        // The peer answered but had no room: this try does not count against
        // maxRetries, only against idleTimeout (the persist state of TCP).
        connection.peerBusy = false;
        busySince ??= sentAt;
        if (now() - busySince > this.#settings.idleTimeout) {
          throw new PeerTimeoutError(formatAddr(to), "room in its receive buffer", {
            idleMs: this.#settings.idleTimeout,
          });
        }
        attempt--;
      } else {
        busySince = null;
      }
    }
    const cause = this.#lastSendError;
    throw new PeerTimeoutError(formatAddr(to), waitingFor, {
      attempts: this.#settings.maxRetries + 1,
    }, cause === undefined ? undefined : { cause });
  }

  // ----------------------------------------------------------------- recv

  /**
   * Receives the next piece of the current message: returns once
   * `min(bytes left in the message, buffSize)` bytes have arrived. What is
   * left of the message is returned by the next calls; then the next message
   * begins. A message of length 0 is returned as an empty array.
   *
   * @throws {ConnectionClosedError} when the peer closed instead of sending.
   * @throws {PeerTimeoutError} when the peer sends nothing for `idleTimeout` ms.
   * @throws {ProtocolError} when the peer announces a malformed or too large length.
   */
  async recv(buffSize: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (!Number.isSafeInteger(buffSize) || buffSize < 1) {
      throw new RangeError(`Cannot recv with buffSize ${buffSize}: expected an integer >= 1`);
    }
    const connection = this.#enter("recv");
    try {
      connection.want = buffSize;
      for (;;) {
        const data = connection.take(buffSize);
        if (data) {
          this.#stats.bytesReceived += data.length;
          return data;
        }
        this.#throwIfBroken();
        if (connection.peerClosed) {
          throw new ConnectionClosedError(
            connection.truncated
              ? `Peer ${
                formatAddr(this.#peer!)
              } closed the connection ${connection.missing} bytes before the end of the message`
              : `Peer ${formatAddr(this.#peer!)} closed the connection`,
          );
        }
        if (!(await this.#waitEvent(this.#settings.idleTimeout, options.signal))) {
          throw new PeerTimeoutError(formatAddr(this.#peer!), "data", {
            idleMs: this.#settings.idleTimeout,
          });
        }
      }
    } finally {
      this.#busy = null;
    }
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
    const connection = this.#connection;
    if (this.#released || !connection || !connection.established || !this.#peer) {
      await this.#release();
      return;
    }
    if (this.#busy) {
      // A call still runs: no orderly FIN exchange is possible. Release, and
      // the running call rejects with BadResource.
      await this.#release();
      return;
    }
    this.#busy = "close";
    try {
      if (connection.peerClosed) {
        // The peer closed first: finish as host B.
        await this.#awaitLastAck(connection);
        return;
      }
      const peer = this.#peer;
      const attempts = this.#settings.closeRetries;
      const finAcked = () => connection.state === "time-wait" || connection.state === "closed";
      const fin = connection.fin();
      for (let attempt = 0; attempt < attempts && !finAcked(); attempt++) {
        this.#send(fin, peer, attempt > 0, this.#rto.rto);
        if (!(await this.#waitFor(finAcked, this.#rto.rto))) {
          this.#stats.timeouts++;
          this.#trace("timeout", fin, peer, { rto: this.#rto.rto });
        }
      }
      if (connection.state === "time-wait") {
        // The first last ACK went out as the reply to FIN+ACK; send it twice more, a timeout apart.
        for (let copy = 1; copy < 3; copy++) {
          await this.#waitFor(() => false, this.#rto.rto);
          this.#send(connection.lastAck(), peer, true, this.#rto.rto);
        }
      }
    } finally {
      this.#busy = null;
      await this.#release();
    }
  }

  /**
   * Ends the connection as host B: waits for the peer's FIN (answering
   * duplicates of earlier segments meanwhile), answers `FIN+ACK`, and waits
   * up to 3 timeouts for the last ACK, then assumes the peer closed.
   *
   * @throws {PeerTimeoutError} when no FIN comes for `idleTimeout` ms.
   */
  async recvClose(options: { signal?: AbortSignal } = {}): Promise<void> {
    const connection = this.#enter("recvClose");
    try {
      while (!connection.peerClosed) {
        this.#throwIfBroken();
        if (!(await this.#waitEvent(this.#settings.idleTimeout, options.signal))) {
          throw new PeerTimeoutError(formatAddr(this.#peer!), "FIN", {
            idleMs: this.#settings.idleTimeout,
          });
        }
      }
      await this.#awaitLastAck(connection);
    } finally {
      this.#busy = null;
      await this.#release();
    }
  }

  async #awaitLastAck(connection: Connection): Promise<void> {
    for (
      let wait = 0;
      wait < this.#settings.closeRetries && connection.state === "last-ack";
      wait++
    ) {
      if (await this.#waitFor(() => connection.state !== "last-ack", this.#rto.rto)) return;
      this.#stats.timeouts++;
      const finAck = connection.finAck();
      this.#trace("timeout", finAck, this.#peer!, { rto: this.#rto.rto });
      // Do not rely on the peer repeating its FIN: repeat our FIN+ACK.
      if (wait + 1 < this.#settings.closeRetries) {
        this.#send(finAck, this.#peer!, true, this.#rto.rto);
      }
    }
  }

  /** Closes the connection (host A) if it is open, and releases the socket. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------ internals

  /** Checks that `call` may run now, and marks the socket busy with it. */
  #enter(call: string): Connection {
    const connection = this.#connection;
    if (this.#released) throw new Deno.errors.BadResource(`Cannot ${call}: the socket is closed`);
    if (!connection?.established || this.#role !== "connection") {
      throw new Deno.errors.NotConnected(`Cannot ${call}: the socket is not connected`);
    }
    if (this.#broken) throw this.#broken;
    if (this.#busy) throw new TypeError(`Cannot ${call} while ${this.#busy} is in progress`);
    this.#busy = call;
    return connection;
  }

  #throwIfBroken(): void {
    if (this.#released) throw new Deno.errors.BadResource("The socket was closed");
    if (this.#broken) throw this.#broken;
    const error = this.#connection?.error;
    if (error) throw error;
  }

  /** Waits until `condition()` holds (true) or `ms` pass (false). */
  async #waitFor(condition: () => boolean, ms: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = now() + ms;
    while (!condition()) {
      const left = deadline - now();
      // The queue may expire a wait up to TIMER_SLACK_MS early, rather than
      // overshoot by a whole timer tick: trust it, do not wait again.
      if (left <= 0 || !(await this.#waitEvent(left, signal))) return condition();
    }
    return true;
  }

  /**
   * Waits for the next segment from the peer (true) or `ms` (false).
   * Rejects with `BadResource` once the socket is released, and with the
   * signal's reason when `signal` aborts.
   */
  #waitEvent(ms: number, signal?: AbortSignal): Promise<boolean> {
    return this.#events.wait(ms, signal);
  }

  #wake(): void {
    this.#events.notify();
  }

  async #readLoop(link: DatagramLink): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_SIZE);
    while (!this.#released) {
      let bytes: Uint8Array, from: Addr;
      try {
        [bytes, from] = await link.receive(buffer);
      } catch {
        if (this.#released) return;
        // A transient error (an ICMP report on some systems): keep reading, but
        // through the timer queue, so that a failing socket cannot starve the
        // event loop in a loop of rejected promises.
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      try {
        this.#onDatagram(bytes, from);
      } catch (error) {
        // A bug, not the network: end every waiting call with it, and release.
        this.#events.close(error);
        void this.#release();
        return;
      }
    }
  }

  #onDatagram(bytes: Uint8Array, from: Addr): void {
    let segment: Segment;
    try {
      segment = parseSegment(bytes);
    } catch (error) {
      if (!(error instanceof SegmentError)) throw error;
      this.#stats.malformed++;
      return;
    }
    if (this.#role === "listener") {
      if (segment.syn && !segment.ack && !segment.fin) this.#onSyn(segment, from);
      else this.#stats.foreign++;
      return;
    }
    if (!this.#peer) {
      // Connecting: the SYN+ACK may come from any port of the server's host.
      if (from.hostname !== this.#expectedHost || !segment.syn || !segment.ack) {
        this.#stats.foreign++;
        return;
      }
      const verdict = this.#connection?.onSegment(segment);
      if (!verdict?.reply) {
        this.#stats.ignored++;
        return;
      }
      this.#peer = from;
      this.#count(segment, from, verdict);
      return;
    }
    if (!sameAddr(from, this.#peer)) {
      this.#stats.foreign++;
      return;
    }
    this.#deliver(segment);
  }

  /** Feeds a segment from the peer to the connection and sends its reply. */
  #deliver(segment: Segment): void {
    const connection = this.#connection;
    if (!connection || this.#released) return;
    const verdict = connection.onSegment(segment);
    this.#count(segment, this.#peer!, verdict);
  }

  #count(
    segment: Segment,
    from: Addr,
    verdict: Verdict,
  ): void {
    this.#stats.segmentsReceived++;
    if (verdict.duplicate) this.#stats.duplicates++;
    if (verdict.ignored) this.#stats.ignored++;
    this.#trace("recv", segment, from, { duplicate: verdict.duplicate });
    if (verdict.reply) this.#send(verdict.reply, from, false);
    this.#wake();
  }

  /** Sends `segment` (already encoded as `bytes`, when it is sent again) and counts and traces it. */
  #send(
    segment: Segment,
    to: Addr,
    retransmission: boolean,
    rto?: number,
    bytes: Uint8Array = createSegment(segment),
  ): void {
    const link = this.#link;
    if (!link || this.#released) return;
    this.#stats.segmentsSent++;
    if (retransmission) this.#stats.retransmissions++;
    if (!segment.syn && !segment.ack && !segment.fin) this.#stats.bytesSent += segment.data.length;
    this.#trace("send", segment, to, { retransmission, rto });
    // UDP gives no delivery guarantee: a failed send is a lost datagram, and the timer resends it.
    link.send(bytes, to).catch((error) => this.#lastSendError = error);
  }

  #trace(
    kind: "send" | "recv" | "timeout",
    segment: Segment,
    peer: Addr,
    extra: { retransmission?: boolean; duplicate?: boolean; rto?: number },
  ): void {
    const sink = this.#options.onTrace;
    if (!sink || this.#traceFailed) return;
    const event: TraceEvent = {
      time: performance.timeOrigin + performance.now(),
      kind,
      local: this.#localName ?? "",
      peer: formatAddr(peer),
      flags: segmentKind(segment),
      seq: segment.seq,
      len: segment.data.length,
      ...(extra.retransmission ? { retransmission: true } : {}),
      ...(extra.duplicate ? { duplicate: true } : {}),
      ...(extra.rto !== undefined ? { rto: extra.rto } : {}),
    };
    try {
      sink(event);
    } catch {
      // A sink that throws (a full disk under --trace-file) must not break the
      // connection: tracing stops for this socket.
      this.#traceFailed = true;
    }
  }

  /** Releases the UDP socket, the reader loop, pending handshakes and accepted-but-unclaimed sockets. */
  async #release(): Promise<void> {
    if (this.#released) {
      await this.#reader;
      return;
    }
    this.#released = true;
    this.#link?.close();
    this.#events.close(new Deno.errors.BadResource("The socket was closed"));
    const children = [...this.#syns.values()].map((entry) => entry.child).filter((c) => c !== null);
    await Promise.all([
      this.#reader,
      ...children.filter((c) => !c.#connection?.established || this.#ready.includes(c)).map((c) =>
        c.#release()
      ),
      ...this.#handshakes,
    ]);
    this.#ready = [];
  }
}
