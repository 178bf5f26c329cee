/**
 * The protocol of one connection, without sockets and without clocks: what an
 * incoming segment means in each state, and which segment answers it. The I/O
 * layer ({@linkcode SocketTCP}) feeds segments in with
 * {@linkcode Connection.onSegment}, sends the replies, and runs the timers.
 *
 * Sequence rules (one number, shared by both directions):
 * - Handshake: client `SYN seq=x` (x random in 0..100) → server `SYN+ACK
 *   seq=x+1` from its new port → client `ACK seq=x+2`. Both store x+2.
 * - Data: a segment with n bytes at seq s is acknowledged by `ACK seq=s+n`;
 *   the next segment uses s+n. The first segment of a message carries its
 *   length in ASCII decimal. Both ends store the last number, so the next
 *   message, in either direction, continues from it.
 * - Close: host A `FIN seq=s` → host B `FIN+ACK seq=s+1` → host A `ACK seq=s+2`.
 *
 * @module
 */
import { quoteBytes, type Segment, seqAdd, seqBefore } from "./segment.ts";

/**
 * The states of a connection, after RFC 9293's names where one fits.
 *
 * @example A client's handshake
 * ```ts
 * import { Connection, type State } from "./connection.ts";
 * const client = Connection.client(7);
 * const before: State = client.state;
 * client.onSegment({ syn: true, ack: true, fin: false, seq: 8, data: new Uint8Array() });
 * console.log(before, client.state); // "syn-sent" "established"
 * ```
 */
export type State =
  /** Client: SYN sent, waiting for SYN+ACK. */
  | "syn-sent"
  /** Server: SYN+ACK sent, waiting for the last ACK of the handshake. */
  | "syn-received"
  /** Handshake done: data may flow. */
  | "established"
  /** Host A: FIN sent, waiting for FIN+ACK. */
  | "fin-wait"
  /** Host A: FIN+ACK received and acknowledged. */
  | "time-wait"
  /** Host B: FIN received and answered with FIN+ACK, waiting for the last ACK. */
  | "last-ack"
  /** Host B: the last ACK arrived. */
  | "closed";

/**
 * Thrown (and kept in {@linkcode Connection.error}) when the peer breaks the protocol.
 *
 * @example A length segment that is not a number
 * ```ts
 * import { Connection, ProtocolError } from "./connection.ts";
 * const server = Connection.server(41);
 * server.onSegment({ syn: false, ack: true, fin: false, seq: 43, data: new Uint8Array() });
 * const data = new TextEncoder().encode("hola");
 * server.onSegment({ syn: false, ack: false, fin: false, seq: 43, data });
 * console.log(server.error instanceof ProtocolError); // true
 * console.log(server.error?.message);
 * // 'Peer announced message length "hola", expected a decimal number'
 * ```
 */
export class ProtocolError extends Error {
  /** Creates the error with a message naming what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/**
 * What {@linkcode Connection.onSegment} made of a segment.
 *
 * @example A length segment received twice: the copy is acknowledged again
 * ```ts
 * import { Connection, type Verdict } from "./connection.ts";
 * const server = Connection.server(41);
 * const data = new TextEncoder().encode("5");
 * const length = { syn: false, ack: false, fin: false, seq: 43, data };
 * server.onSegment(length);
 * const again: Verdict = server.onSegment(length);
 * console.log(again.duplicate, again.reply?.ack, again.reply?.seq); // true true 44
 * ```
 */
export interface Verdict {
  /** The segment to send back now, if any. */
  reply?: Segment;
  /** The segment repeats one already received (a retransmission or a duplicate). */
  duplicate?: boolean;
  /** The segment was ignored: out of place in this state, or flow-controlled. */
  ignored?: boolean;
}

/**
 * Options of a connection.
 *
 * @example Refuse messages longer than 1000 bytes
 * ```ts
 * import { Connection, type ConnectionOptions } from "./connection.ts";
 * const options: ConnectionOptions = { maxMessageLength: 1000 };
 * const server = Connection.server(41, options);
 * const data = new TextEncoder().encode("5000");
 * server.onSegment({ syn: false, ack: false, fin: false, seq: 43, data });
 * console.log(server.error?.message);
 * // "Peer announced message length 5000, more than the maximum 1000"
 * ```
 */
export interface ConnectionOptions {
  /** Largest message length accepted in a length segment. Default 2^40. */
  maxMessageLength?: number;
}

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

function isDigits(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((b) => b >= 0x30 && b <= 0x39);
}

function control(flags: { syn?: boolean; ack?: boolean; fin?: boolean }, seq: number): Segment {
  return {
    syn: flags.syn ?? false,
    ack: flags.ack ?? false,
    fin: flags.fin ?? false,
    seq,
    data: EMPTY,
  };
}

/**
 * The state of one connection, with both its sending and its receiving side.
 *
 * @example The server's side of a handshake whose last ACK was lost
 * ```ts
 * import { Connection } from "./connection.ts";
 * const enc = new TextEncoder();
 * const server = Connection.server(41);          // a SYN with seq 41 arrived
 * console.log(server.synAck().seq);               // 42
 * // The client's ACK (seq 43) is lost; its first length segment arrives:
 * const verdict = server.onSegment({ syn: false, ack: false, fin: false, seq: 43, data: enc.encode("5") });
 * console.log(server.state, verdict.reply?.seq); // "established" 44
 * ```
 */
export class Connection {
  /** Current state. */
  state: State;
  /** The client's initial sequence number x. */
  readonly iss: number;
  /** Whether this end sent the SYN. */
  readonly isClient: boolean;
  /** The stored sequence number: the next segment, in either direction, uses it. */
  seq: number;
  /** The peer broke the protocol; the connection is unusable. */
  error: ProtocolError | undefined;

  // Receiving side.
  /** Bytes of the current incoming message not yet handed to the application; `null` between messages. */
  #messageLeft: number | null = null;
  /** Length of the current incoming message, as its length segment announced. */
  #messageLength = 0;
  /** Bytes of the current incoming message not yet received from the network. */
  #networkLeft = 0;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** How many bytes the application asked for in its current or last `recv`. */
  #want = 0;

  // Sending side.
  /** The ACK number that acknowledges the segment in flight, or `null`. */
  #awaitedAck: number | null = null;

  // Closing.
  /** The seq of the FIN of this connection (sent or received), once there is one. */
  #finSeq: number | null = null;
  /** The peer sent FIN. */
  peerClosed = false;
  /** The peer acknowledged what came before our segment in flight, but not it: alive, no room. */
  peerBusy = false;

  readonly #maxMessageLength: number;

  private constructor(state: State, iss: number, isClient: boolean, options: ConnectionOptions) {
    this.state = state;
    this.iss = iss;
    this.isClient = isClient;
    this.seq = isClient ? iss : seqAdd(iss, 2);
    this.#maxMessageLength = options.maxMessageLength ?? 2 ** 40;
  }

  /** A client that is about to send `SYN seq=iss`. */
  static client(iss: number, options: ConnectionOptions = {}): Connection {
    return new Connection("syn-sent", iss, true, options);
  }

  /** A server's new connection for a `SYN seq=iss` that just arrived. */
  static server(iss: number, options: ConnectionOptions = {}): Connection {
    return new Connection("syn-received", iss, false, options);
  }

  /** The client's SYN. */
  syn(): Segment {
    return control({ syn: true }, this.iss);
  }

  /** The server's SYN+ACK. */
  synAck(): Segment {
    return control({ syn: true, ack: true }, seqAdd(this.iss, 1));
  }

  /** The handshake is complete on this end. */
  get established(): boolean {
    return this.state !== "syn-sent" && this.state !== "syn-received";
  }

  // ---------------------------------------------------------------- sending

  /**
   * Starts sending `data` as the next segment: returns the segment, and
   * remembers which ACK will acknowledge it.
   */
  dataSegment(data: Uint8Array): Segment {
    this.#awaitedAck = seqAdd(this.seq, data.length);
    return { syn: false, ack: false, fin: false, seq: this.seq, data };
  }

  /** The segment in flight has been acknowledged (or nothing is in flight). */
  get acknowledged(): boolean {
    return this.#awaitedAck === null;
  }

  /** Host A starts closing: returns the FIN. */
  fin(): Segment {
    if (this.#finSeq === null) this.#finSeq = this.seq;
    if (this.state === "established") this.state = "fin-wait";
    return control({ fin: true }, this.#finSeq);
  }

  /** Host A's last ACK, sent after FIN+ACK. */
  lastAck(): Segment {
    return control({ ack: true }, seqAdd(this.#finSeq ?? this.seq, 2));
  }

  /** Host B's FIN+ACK. */
  finAck(): Segment {
    return control({ fin: true, ack: true }, seqAdd(this.#finSeq ?? this.seq, 1));
  }

  // -------------------------------------------------------------- receiving

  /**
   * Tells the connection how many bytes the application waits for, so that it
   * accepts (and acknowledges) data only while there is room for it: at most
   * `want` bytes plus one segment are ever buffered.
   */
  set want(bytes: number) {
    this.#want = bytes;
  }

  /** Bytes received and acknowledged but not yet handed to the application. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Hands the application the next piece of the current message, if it is
   * complete: `min(bytes left in the message, buffSize)` bytes, or `null`
   * while they have not all arrived (or no message has begun).
   */
  take(buffSize: number): Uint8Array | null {
    if (this.#messageLeft === null) return null;
    const size = Math.min(this.#messageLeft, buffSize);
    if (this.#buffered < size) return null;
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.#chunks[0];
      const n = Math.min(chunk.length, size - filled);
      out.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
      filled += n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    this.#buffered -= size;
    this.#messageLeft -= size;
    if (this.#messageLeft === 0) this.#messageLeft = null;
    return out;
  }

  /**
   * The incoming message being read: its announced length and the bytes of it
   * not yet handed to the application; `null` between messages.
   */
  get incoming(): { length: number; remaining: number } | null {
    return this.#messageLeft === null
      ? null
      : { length: this.#messageLength, remaining: this.#messageLeft };
  }

  /** The current incoming message stopped before its end because the peer closed. */
  get truncated(): boolean {
    return this.peerClosed && this.#messageLeft !== null && this.#networkLeft > 0;
  }

  /** Bytes of the current incoming message still to arrive (0 between messages). */
  get missing(): number {
    return this.#messageLeft === null ? 0 : this.#networkLeft;
  }

  // ------------------------------------------------------------- the table

  /**
   * Decides what an incoming segment from the peer means, updates the state,
   * and returns the reply to send, if any. Never throws: a segment that breaks
   * the protocol sets {@linkcode Connection.error}.
   */
  onSegment(segment: Segment): Verdict {
    const { syn, ack, fin } = segment;
    if (syn) return ack && !fin ? this.#onSynAck(segment) : this.#onSyn(segment);
    if (this.state === "syn-received") {
      // The last ACK of the handshake, or — if it was lost — the first segment
      // the client sends after it (data, a length, or a FIN), all at x+2.
      const pureAck = ack && !fin && segment.data.length === 0;
      const data = !ack && !fin && segment.data.length > 0;
      const finOnly = fin && !ack;
      if (segment.seq !== this.seq || !(pureAck || data || finOnly)) return { ignored: true };
      this.state = "established";
      if (pureAck) return {};
    } else if (this.state === "syn-sent") {
      return { ignored: true };
    }
    if (fin) return ack ? this.#onFinAck(segment) : this.#onFin(segment);
    if (ack) return segment.data.length === 0 ? this.#onAck(segment) : { ignored: true };
    return segment.data.length > 0 ? this.#onData(segment) : { ignored: true };
  }

  #onSynAck(segment: Segment): Verdict {
    if (!this.isClient || segment.seq !== seqAdd(this.iss, 1)) return { ignored: true };
    const reply = control({ ack: true }, seqAdd(this.iss, 2));
    if (this.state === "syn-sent") {
      this.state = "established";
      this.seq = seqAdd(this.iss, 2);
      return { reply };
    }
    // The server did not get our ACK: answer again, whatever we are doing.
    return { reply, duplicate: true };
  }

  #onSyn(segment: Segment): Verdict {
    // A repeated SYN of this connection, forwarded by the listener.
    if (this.state === "syn-received" && !segment.ack && !segment.fin && segment.seq === this.iss) {
      return { reply: this.synAck(), duplicate: true };
    }
    return { ignored: true };
  }

  #onData(segment: Segment): Verdict {
    const n = segment.data.length;
    if (segment.seq !== this.seq) {
      // Already received: acknowledge again, never deliver twice.
      return seqBefore(segment.seq, this.seq)
        ? { reply: control({ ack: true }, this.seq), duplicate: true }
        : { ignored: true };
    }
    if (this.state !== "established" || this.error) return { ignored: true };
    if (this.#awaitedAck !== null) {
      // New data at our own sequence number while our segment is in flight:
      // both ends are sending, which one shared sequence number cannot carry.
      this.error = new ProtocolError(
        `Both ends sent at seq ${segment.seq} at once: one message at a time, in one direction`,
      );
      return { ignored: true };
    }
    if (this.#messageLeft === null) {
      const digits = isDigits(segment.data);
      const length = digits ? Number(decoder.decode(segment.data)) : NaN;
      if (!(length <= this.#maxMessageLength)) {
        const shown = segment.data.length <= 15 ? String(length) : quoteBytes(segment.data, 40);
        this.error = new ProtocolError(
          digits
            ? `Peer announced message length ${shown}, more than the maximum ${this.#maxMessageLength}`
            : `Peer announced message length ${
              quoteBytes(segment.data, 40)
            }, expected a decimal number`,
        );
        return { ignored: true };
      }
      this.#messageLeft = length;
      this.#messageLength = length;
      this.#networkLeft = length;
    } else {
      // The next message waits until this one is read.
      if (this.#networkLeft === 0) return this.#windowClosed();
      if (n > this.#networkLeft) {
        this.error = new ProtocolError(
          `Peer sent ${n} bytes at seq ${segment.seq}, but only ${this.#networkLeft} remained in the message`,
        );
        return { ignored: true };
      }
      // Flow control: hold at most what the application asked for, plus one segment.
      if (this.#buffered > 0 && this.#buffered >= this.#want) return this.#windowClosed();
      this.#chunks.push(segment.data);
      this.#buffered += n;
      this.#networkLeft -= n;
    }
    this.seq = seqAdd(this.seq, n);
    return { reply: control({ ack: true }, this.seq) };
  }

  /**
   * No room for a new segment: it is not taken, and not acknowledged, but the
   * ACK of what came before tells the sender that this end is alive and
   * busy, not gone (TCP's zero window, in the assignment's header).
   */
  #windowClosed(): Verdict {
    return { reply: control({ ack: true }, this.seq), ignored: true };
  }

  #onAck(segment: Segment): Verdict {
    if (this.#awaitedAck !== null && segment.seq === this.#awaitedAck) {
      this.seq = this.#awaitedAck;
      this.#awaitedAck = null;
      return {};
    }
    if (this.#awaitedAck !== null && segment.seq === this.seq) {
      // Everything before our segment arrived, our segment did not get in:
      // the peer is alive, its buffer is full.
      this.peerBusy = true;
      return { duplicate: true };
    }
    if (
      this.state === "last-ack" && this.#finSeq !== null && segment.seq === seqAdd(this.#finSeq, 2)
    ) {
      this.state = "closed";
      return {};
    }
    return { duplicate: true };
  }

  #onFin(segment: Segment): Verdict {
    if (this.#finSeq !== null && segment.seq === this.#finSeq && this.peerClosed) {
      return { reply: this.finAck(), duplicate: true };
    }
    if (segment.seq !== this.seq || this.peerClosed) return { ignored: true };
    // Host B (or both hosts, when they close at once).
    this.peerClosed = true;
    this.#finSeq = segment.seq;
    if (this.state === "established") this.state = "last-ack";
    return { reply: this.finAck() };
  }

  #onFinAck(segment: Segment): Verdict {
    if (this.#finSeq === null || segment.seq !== seqAdd(this.#finSeq, 1)) return { ignored: true };
    if (this.state === "fin-wait") {
      this.state = "time-wait";
      return { reply: this.lastAck() };
    }
    return this.state === "time-wait"
      ? { reply: this.lastAck(), duplicate: true }
      : { ignored: true };
  }
}
