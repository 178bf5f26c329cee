/**
 * The driver of one connected endpoint: one UDP socket, one read loop, one
 * timer armed at the connection's {@linkcode Connection.pollAt}, and the
 * promises the application's calls wait on. Every decision is the pure
 * {@linkcode Connection}'s; this module only moves datagrams, reads the
 * clock and wakes callers. Internal to {@linkcode SocketTCP}.
 *
 * @module
 */
import type { Connection, Output } from "./connection.ts";
import {
  type Addr,
  type DatagramLink,
  formatAddr,
  isWake,
  readDatagrams,
  sameAddr,
} from "./link.ts";
import {
  parseSegment,
  parseSegmentView,
  type Segment,
  SegmentError,
  segmentKind,
} from "./segment.ts";
import type { TraceEvent, TraceSink } from "./trace.ts";
import { TIMER_LAG_MS, TIMER_SLACK_MS, WaitQueue } from "./wait_queue.ts";

/** The driver's clock, in ms: the `now` every call to the connection gets. */
export function now(): number {
  return performance.now();
}

/**
 * A bug, not the network, ended a read loop: end every waiting call with it,
 * and release the socket.
 */
export function failWith(error: unknown, waiters: WaitQueue, owner: { release(): Promise<void> }) {
  waiters.close(error);
  void owner.release();
}

/**
 * Decodes a datagram, or counts it in `counters.malformed` and returns null.
 * `view`: the data is a view of `bytes` (see {@linkcode parseSegmentView}).
 */
export function parseCounting(
  bytes: Uint8Array,
  counters: { malformed: number },
  view = false,
): Segment | null {
  try {
    return view ? parseSegmentView(bytes) : parseSegment(bytes);
  } catch (error) {
    if (!(error instanceof SegmentError)) throw error;
    counters.malformed++;
    return null;
  }
}

/**
 * {@linkcode readDatagrams} that also says when the socket has nothing more
 * waiting: Deno resolves a receive within a few microtask turns when a
 * datagram is already queued, so a receive still pending after them means
 * the burst was read, and `onIdle` runs before waiting for the next one.
 */
export async function readBursts(
  link: DatagramLink,
  onDatagram: (bytes: Uint8Array, from: Addr) => void,
  stopped: () => boolean,
  onIdle: () => void,
  bufferSize = 65_536,
): Promise<void> {
  const buffer = new Uint8Array(bufferSize);
  let ready = false;
  const mark = () => ready = true;
  while (!stopped()) {
    let bytes: Uint8Array, from: Addr;
    try {
      ready = false;
      const next = link.receive(buffer);
      next.then(mark, mark);
      for (let turn = 0; turn < IDLE_TURNS && !ready; turn++) await null;
      if (!ready) onIdle();
      [bytes, from] = await next;
    } catch {
      if (stopped()) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    onDatagram(bytes, from);
  }
}

/** Microtask turns a receive of a datagram already queued takes to resolve (measured: 3; one spare). */
const IDLE_TURNS = 4;

/**
 * How much later than planned the timer may fire before the process is taken
 * to have stalled, in ms. Deno fires a timer within about ±0.5 ms of the
 * time asked for on an idle machine; a loaded one delays the whole process.
 */
export const STALL_MS = 1;

/**
 * The stall guard of {@linkcode Endpoint}'s timer, on by default. The
 * benchmark turns it off to measure what it saves (`bench/run.ts`, section
 * 8); nothing else should.
 */
export const stallGuard = { on: true };

/** Counters of what the driver saw that never reached the connection. */
export interface DriverCounters {
  /** Message bytes returned by `recv`. */
  bytesReceived: number;
  /** Datagrams that were not segments. */
  malformed: number;
  /** Datagrams from an address other than the peer's. */
  foreign: number;
}

/** Sends trace events to a sink until it throws once. */
export class Tracer {
  #failed = false;
  /** Creates a tracer writing to `sink` (none: tracing is off). */
  constructor(readonly sink: TraceSink | undefined) {}

  /** Whether anything listens. */
  get on(): boolean {
    return this.sink !== undefined && !this.#failed;
  }

  /** Records `event`; a sink that throws (a full disk under --trace-file) stops tracing, not the connection. */
  emit(event: TraceEvent): void {
    if (!this.on) return;
    try {
      this.sink!(event);
    } catch {
      this.#failed = true;
    }
  }

  /** Records what a connection reported, at time `at` (driver clock). */
  output(output: Output, local: string, peer: string, at: number): void {
    const segment = output.segment;
    const event: TraceEvent = {
      time: performance.timeOrigin + at,
      kind: output.kind,
      local,
      peer,
      flags: segmentKind(segment),
      seq: segment.seq,
      len: segment.data.length,
    };
    if (output.kind === "send") {
      if (output.retransmission) event.retransmission = true;
      if (output.fastRetransmit) event.fastRetransmit = true;
      if (output.lastAckCopy) event.lastAckCopy = true;
      if (output.rto !== undefined) event.rto = output.rto;
    } else if (output.kind === "recv") {
      if (output.duplicate) event.duplicate = true;
      if (output.held) event.held = true;
      if (output.reason !== undefined) event.reason = output.reason;
    } else {
      event.rto = output.rto;
      if (output.reason !== undefined) event.reason = output.reason;
    }
    if (output.kind !== "timeout" && output.window) {
      const w = output.window;
      event.base = w.base;
      event.next = w.next;
      if (w.cwnd !== undefined) {
        event.cwnd = w.cwnd;
        event.ssthresh = w.ssthresh;
      }
    }
    this.emit(event);
  }
}

/**
 * One connection over one UDP socket. The client's SYN+ACK may come from any
 * port of `expectedHost`; from then on only the peer's address is heard.
 */
export class Endpoint {
  /** The connection this endpoint drives. */
  readonly connection: Connection;
  /** The peer, once known (the server's new port, for a client). */
  peer: Addr | null;
  /** Counters the driver keeps. */
  readonly counters: DriverCounters = { bytesReceived: 0, malformed: 0, foreign: 0 };
  /** The last error of a datagram send, kept as the cause of a later timeout. */
  lastSendError: unknown = undefined;
  /** Called once when the handshake ends: `true` established, `false` given up. */
  onHandshake: ((ok: boolean) => void) | undefined;

  readonly #link: DatagramLink;
  readonly #localName: string;
  readonly #tracer: Tracer;
  /** Before the peer is known: where segments go, and the host a SYN+ACK must come from. */
  readonly #target: Addr;
  readonly #waiters = new WaitQueue();
  #reader: Promise<void>;
  #released = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  /** When the armed timer should fire, as Deno fires timers (driver clock). */
  #timerFiresAt = Infinity;
  /** The timer fired late once and was put off by one tick (see {@linkcode STALL_MS}). */
  #deferred = false;
  #handshakeReported = false;

  /**
   * Starts driving `connection` over `link`: sends what it already queued and
   * reads datagrams until {@linkcode Endpoint.release}.
   */
  constructor(
    link: DatagramLink,
    connection: Connection,
    target: Addr,
    options: { peerKnown: boolean; tracer: Tracer },
  ) {
    this.#link = link;
    this.connection = connection;
    this.#target = target;
    this.peer = options.peerKnown ? target : null;
    this.#localName = formatAddr(link.localAddr);
    this.#tracer = options.tracer;
    connection.traceWindow = options.tracer.on;
    connection.recordReceived = options.tracer.on;
    const onDatagram = (bytes: Uint8Array, from: Addr) => this.#onDatagram(bytes, from);
    const stopped = () => this.#released;
    // The read loop below sends a held ACK once the burst is read: no timer for it.
    connection.idleDriven = connection.holdsAcks;
    this.#reader =
      (connection.holdsAcks
        ? readBursts(link, onDatagram, stopped, () => this.#onIdle())
        : readDatagrams(link, onDatagram, stopped)).catch((error) =>
          failWith(error, this.#waiters, this)
        );
    this.flush(now());
  }

  /** The address of the UDP socket. */
  get localAddr(): Addr {
    return { ...this.#link.localAddr };
  }

  /** The socket was released. */
  get released(): boolean {
    return this.#released;
  }

  /** Every datagram that was waiting has been read: the connection sends what it held back. */
  #onIdle(): void {
    if (this.#released) return;
    this.connection.idle();
    this.flush(now());
  }

  /** A segment for this connection that another socket received (a listener's repeated SYN). */
  deliver(segment: Segment): void {
    if (this.#released) return;
    const t = now();
    this.connection.process(segment, t);
    // The listener traced its reception: one datagram, one "recv" event.
    this.flush(t, undefined, false);
  }

  #onDatagram(bytes: Uint8Array, from: Addr): void {
    if (isWake(bytes, from, this.#link.localAddr)) {
      // Our own wake-up: every datagram that was waiting when the timer was
      // put off has been read. The timer goes on now, not a tick later.
      if (this.#deferred && this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#onTimer();
      }
      return;
    }
    // A view of the read buffer: the connection copies what it keeps, now.
    const segment = parseCounting(bytes, this.counters, true);
    if (!segment) return;
    if (this.peer === null) {
      // Connecting: the SYN+ACK may come from any port of the server's host.
      if (from.hostname !== this.#target.hostname || !segment.syn || !segment.ack) {
        this.#foreign(segment, from, `not a SYN+ACK from ${this.#target.hostname}`);
        return;
      }
      const t = now();
      this.connection.process(segment, t);
      if (this.connection.established) {
        this.peer = from;
        this.connection.peerName = formatAddr(from);
      }
      this.flush(t, from);
      return;
    }
    if (!sameAddr(from, this.peer)) {
      this.#foreign(segment, from, `from ${formatAddr(from)}, not the peer`);
      return;
    }
    const t = now();
    this.connection.process(segment, t);
    this.flush(t);
  }

  /** Counts and traces a segment that did not come from the peer. */
  #foreign(segment: Segment, from: Addr, reason: string): void {
    this.counters.foreign++;
    if (!this.#tracer.on) return;
    this.#tracer.output(
      { kind: "recv", segment, duplicate: false, reason },
      this.#localName,
      formatAddr(from),
      now(),
    );
  }

  /**
   * Sends and traces what the connection queued, re-arms the timer, and wakes
   * the waiting calls if something they wait on changed. `from` names a
   * segment's sender before the peer is known; `traceReceived` false leaves
   * out the reception, traced by the socket that read it.
   */
  flush(t: number, from?: Addr, traceReceived = true): void {
    const connection = this.connection;
    const output = connection.takeOutput();
    const to = this.peer ?? this.#target;
    const tracing = this.#tracer.on;
    for (const item of output) {
      // Traced before it leaves, so that what the link does to it (a fault
      // injector's drop) comes after its "send" event.
      if (tracing && (traceReceived || item.kind !== "recv")) {
        const peer = item.kind === "recv" && from ? from : to;
        this.#tracer.output(item, this.#localName, formatAddr(peer), t);
      }
      if (item.kind === "send" && !this.#released) {
        // UDP gives no delivery guarantee: a failed send is a lost datagram, and the timer resends it.
        this.#link.send(item.bytes, to).catch((error) => this.lastSendError = error);
      }
    }
    this.#schedule();
    if (connection.takeChanged()) {
      this.#waiters.notify();
      if (!this.#handshakeReported && this.onHandshake) {
        const ok = connection.established;
        if (ok || connection.error !== undefined || connection.closed) {
          this.#handshakeReported = true;
          this.onHandshake(ok);
        }
      }
    }
    if (connection.closed && !this.#released && connection.pollAt() === Infinity) {
      // Nothing can happen any more on a connection closed both ways (or
      // given up): its socket goes now (after the calls waiting were woken), so that a program that forgets to
      // close a socket still exits. A later close() has nothing left to do.
      void this.release();
    }
  }

  /**
   * Arms the one timer for the connection's next deadline. Lazily, as kernels
   * do for TCP's retransmission timer: a later deadline leaves an armed timer
   * alone (it fires, finds nothing due, and re-arms), so a segment acknowledged
   * in 40 µs costs no timer call.
   */
  #schedule(): void {
    if (this.#released) return;
    const at = this.connection.pollAt();
    if (at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (!Number.isFinite(at)) return;
    this.#timerAt = at;
    this.#deferred = false;
    const t = now();
    const delay = Math.max(1, Math.round(at - t - TIMER_LAG_MS));
    this.#timerFiresAt = t + delay + TIMER_LAG_MS;
    this.#timer = setTimeout(() => this.#onTimer(), delay);
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#released) return;
    if (stallGuard.on && !this.#deferred && now() - this.#timerFiresAt > STALL_MS) {
      // The timer fired late: the process was not running (a loaded
      // machine). Deno runs a timer that fell due during such a stall before
      // the receives that completed in it, so the ACK this timer would
      // resend for may already be waiting. A datagram sent to ourselves is
      // read after them: the timer goes on when it arrives (a loopback
      // round trip later), or after one more timer tick if the link cannot
      // send one or it is lost (a zero timeout would not do: it runs before
      // those reads too).
      this.#deferred = true;
      this.#timerFiresAt = Infinity;
      this.#timer = setTimeout(() => this.#onTimer(), 1);
      this.#link.wake?.();
      return;
    }
    this.#deferred = false;
    this.#timerAt = Infinity;
    const t = now();
    // Deno fires timers late and at ~2 ms granularity: a deadline within
    // TIMER_SLACK_MS is due now rather than a whole tick later.
    this.connection.poll(t, TIMER_SLACK_MS);
    this.flush(t);
  }

  /** Re-arms the timer after the application changed a deadline (a new wait). */
  reschedule(): void {
    this.#schedule();
  }

  /**
   * Waits until `done()` holds, waking on every change the connection
   * reports. Rejects with `BadResource` once released, and with the
   * signal's reason when `signal` aborts.
   */
  async waitUntil(done: () => boolean, signal?: AbortSignal): Promise<void> {
    while (!done()) await this.#waiters.wait(Infinity, signal);
  }

  /** Releases the UDP socket, the read loop and the timer; pending waits reject with `BadResource`. */
  async release(): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#link.close();
      this.#waiters.close(new Deno.errors.BadResource("The socket was closed"));
      if (!this.#handshakeReported && this.onHandshake) {
        this.#handshakeReported = true;
        this.onHandshake(false);
      }
    }
    await this.#reader;
  }
}
