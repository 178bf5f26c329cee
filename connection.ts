/**
 * The whole protocol of one connection, as a state machine with time as a
 * parameter: no sockets, no clock, no promises. A driver (such as
 * {@linkcode SocketTCP}) feeds it what arrives with
 * {@linkcode Connection.process}, wakes it at {@linkcode Connection.pollAt}
 * with {@linkcode Connection.poll}, and sends what {@linkcode Connection.takeOutput}
 * hands back; the application's calls become {@linkcode Connection.startMessage},
 * {@linkcode Connection.write}, {@linkcode Connection.take} and
 * {@linkcode Connection.close}. Retransmission, backoff, the "alive, no room"
 * wait, the three FINs, the three last ACKs and the time without progress all
 * live here, so each case of the assignment is a test in virtual time.
 *
 * Sequence rules (one number, shared by both directions):
 * - Handshake: client `SYN seq=x` (x random in 0..100) → server `SYN+ACK
 *   seq=x+1` from its new port → client `ACK seq=x+2`. Both store x+2.
 * - Data: a segment with n bytes at seq s is acknowledged by `ACK seq=s+n`;
 *   the next segment uses s+n. The first segment of a message carries its
 *   length in ASCII decimal. Both ends store the last number, so the next
 *   message, in either direction, continues from it.
 * - Close: host A `FIN seq=s` → host B `FIN+ACK seq=s+1` → host A `ACK seq=s+2`,
 *   sent 3 times a timeout apart.
 *
 * The sender keeps a queue of segments in flight, at most min(`window`,
 * cwnd) of them (1: Stop & Wait), acknowledged cumulatively and timed by one
 * retransmission timer for the oldest (RFC 6298 5.1). On its timeout,
 * Go-Back-N sends the whole queue again and selective repeat only the
 * oldest; the third duplicate ACK resends the oldest at once (selective
 * repeat, or with congestion control: `congestion.ts`). A selective-repeat
 * receiver holds segments past a hole (`reassembly.ts`) and its ACK jumps
 * when the hole fills.
 *
 * @example A client's whole life in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection, type Output } from "./connection.ts";
 * import { FixedRto } from "./rto.ts";
 * import { type Segment, segmentKind } from "./segment.ts";
 *
 * const show = (out: Output[]) =>
 *   out.filter((o) => o.kind === "send").map((o) => `${segmentKind(o.segment)} ${o.segment.seq}`);
 * const seg = (flags: string, seq: number): Segment => ({
 *   syn: flags.includes("SYN"), ack: flags.includes("ACK"), fin: flags.includes("FIN"),
 *   seq, data: new Uint8Array(),
 * });
 * const client = Connection.client(7, 0, { rto: new FixedRto(100) });
 * assert.deepEqual(show(client.takeOutput()), ["SYN 7"]);
 * client.poll(100); // no SYN+ACK in 100 ms: the SYN goes again
 * assert.deepEqual(show(client.takeOutput()), ["SYN 7"]);
 * client.process(seg("SYN+ACK", 8), 101);
 * assert.deepEqual(show(client.takeOutput()), ["ACK 9"]);
 * assert.equal(client.state, "established");
 * client.close(110);
 * assert.deepEqual(show(client.takeOutput()), ["FIN 9"]);
 * client.process(seg("FIN+ACK", 10), 111);
 * client.poll(211);
 * client.poll(311);
 * assert.deepEqual(show(client.takeOutput()), ["ACK 11", "ACK 11", "ACK 11"]);
 * assert.equal(client.state, "closed");
 * ```
 *
 * @module
 */
import { NO_ROOM_WAIT, PeerTimeoutError, ProtocolError } from "./errors.ts";
import { Congestion, type CongestionControl } from "./congestion.ts";
import { ByteQueue } from "./byte_queue.ts";
import { Reassembly } from "./reassembly.ts";
import { AdaptiveRto, type RtoPolicy } from "./rto.ts";
import { ROOM_REASONS } from "./trace.ts";
import {
  createSegment,
  NO_DATA,
  quoteBytes,
  type Segment,
  segmentKind,
  SEQ_MODULUS,
  seqAdd,
  seqBefore,
} from "./segment.ts";

export { ConnectionClosedError, PeerTimeoutError, ProtocolError } from "./errors.ts";

/**
 * The states of a connection, after RFC 9293's names where one fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection, type State } from "./connection.ts";
 * const state: State = Connection.server(41, 0).state;
 * assert.equal(state, "syn-received");
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
  /** Host A: FIN+ACK received; the last ACK is being sent 3 times. */
  | "time-wait"
  /** Host B: FIN received and answered with FIN+ACK, waiting for the last ACK. */
  | "last-ack"
  /** Done: closed in order, given up after the close's limits, or failed (see `error`). */
  | "closed";

/**
 * What the connection asks its driver to do or to record, in order.
 * - `send`: send `bytes` (the encoding of `segment`) to the peer.
 * - `recv`: a segment arrived; `reason` says why it was not accepted, if it was not.
 * - `timeout`: a timer expired waiting for the answer to `segment`; `reason`
 *   says what ended, when it ended something (a handshake given up).
 */
export type Output =
  | {
    kind: "send";
    segment: Segment;
    bytes: Uint8Array;
    /** The segment was sent before and goes again. */
    retransmission: boolean;
    /** One of the assignment's deliberate copies of the last ACK (not a retransmission). */
    lastAckCopy?: boolean;
    /** The retransmission timeout in force for it, in ms, when it is timed. */
    rto?: number;
    /** Sent at once on the third duplicate ACK, before its timeout. */
    fastRetransmit?: boolean;
    /** The window after it went (window mode only). */
    window?: WindowState;
  }
  | {
    kind: "recv";
    segment: Segment;
    /** It repeats a segment or an ACK already received. */
    duplicate: boolean;
    /** Why it was not accepted; absent when it was. */
    reason?: string;
    /** A data segment ahead of a hole, held until the hole fills (selective repeat). */
    held?: boolean;
    /** The window after it was processed (window mode only). */
    window?: WindowState;
  }
  | { kind: "timeout"; segment: Segment; rto: number; reason?: string };

/**
 * Tuning of a connection. Every field is optional; the defaults are the assignment's.
 *
 * @example Refuse messages longer than 1000 bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection, type ConnectionOptions } from "./connection.ts";
 * const options: ConnectionOptions = { maxMessageLength: 1000 };
 * const server = Connection.server(41, 0, options);
 * const data = new TextEncoder().encode("5000");
 * server.process({ syn: false, ack: false, fin: false, seq: 43, data }, 1);
 * assert.equal(server.error?.message, "Peer announced message length 5000, more than the maximum 1000");
 * ```
 */
export interface ConnectionOptions {
  /** Largest message length accepted in a length segment. Default 2^40. */
  maxMessageLength?: number;
  /** Data bytes per segment. Default 16. */
  mss?: number;
  /** Retransmissions of one segment (SYN, SYN+ACK, data) before giving up. Default 20. */
  maxRetries?: number;
  /** FIN transmissions, and timeouts waited for the last ACK. Default 3. */
  closeRetries?: number;
  /** How long a wait for the peer may go without progress, in ms. Default 30 000. */
  idleTimeout?: number;
  /** The retransmission timeout policy. Default an {@linkcode AdaptiveRto}. */
  rto?: RtoPolicy;
  /** How errors name the peer, e.g. `127.0.0.1:8000`. Default "the peer". */
  peer?: string;
  /** Bytes of the outgoing message queued ahead of what is in flight before `write` takes no more. Default 256 KiB. */
  sendBuffer?: number;
  /**
   * Segments in flight at once (the sliding window), and segments a
   * selective-repeat receiver holds beyond a hole. Default 1: Stop & Wait,
   * byte for byte the assignment's protocol.
   */
  window?: number;
  /**
   * What a window does with losses. `go-back-n`: on a timeout everything
   * outstanding goes again; a receiver takes only in-order segments.
   * `selective-repeat`: only the oldest unacknowledged segment goes again
   * (and at once after three duplicate ACKs: fast retransmit); a receiver
   * holds out-of-order segments within its window and acknowledges
   * cumulatively. Default `go-back-n` (with a window of 1 both are Stop & Wait).
   */
  arq?: Arq;
  /** Congestion control of the sender (RFC 5681). Default `none`: the window is fixed. */
  congestion?: CongestionControl;
}

/** The sliding window's loss recovery: see {@linkcode ConnectionOptions.arq}. */
export type Arq = "go-back-n" | "selective-repeat";

/** The ARQ schemes, for option parsing. */
export const ARQS: readonly Arq[] = ["go-back-n", "selective-repeat"];

/**
 * The sender's window when a segment went or an ACK came (window mode only):
 * what trace events carry for plots.
 */
export interface WindowState {
  /** The oldest unacknowledged sequence number (everything before it is acknowledged). */
  base: number;
  /** The sequence number of the next new data segment. */
  next: number;
  /** The congestion window, in segments (with congestion control only). */
  cwnd?: number;
  /** The slow start threshold, in segments (with congestion control only). */
  ssthresh?: number;
}

/**
 * What a connection counted. Counters only grow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection, type ConnectionStats } from "./connection.ts";
 * const stats: ConnectionStats = Connection.client(7, 0).stats;
 * assert.equal(stats.segmentsSent, 1); // the SYN
 * ```
 */
export interface ConnectionStats {
  /** Segments sent: retransmissions and last-ACK copies included. */
  segmentsSent: number;
  /** Segments received from the peer. */
  segmentsReceived: number;
  /** Payload bytes sent in DATA segments (length announcements and retransmissions included). */
  bytesSent: number;
  /**
   * Segments sent again because their answer did not come in time: after a
   * timeout (SYN, SYN+ACK, data, FIN, the FIN+ACK repeated while waiting for
   * the last ACK), and the SYN+ACK answering a repeated SYN. The
   * assignment's deliberate copies of the last ACK are NOT counted here (see
   * `lastAckCopies`).
   */
  retransmissions: number;
  /**
   * Retransmissions that were not needed, included in `retransmissions`:
   * the ACK of an earlier copy arrived sooner after the resend than half the
   * smallest round trip measured (too soon to answer it), or a second ACK
   * for the same segment showed that the peer got both copies (DSACK's
   * idea). On a loaded machine the process is not scheduled for a few ms and
   * the timer fires before the waiting ACK is read; each one raises the
   * adaptive timeout, so they stay rare.
   */
  spuriousRetransmissions: number;
  /**
   * The assignment's extra copies of the last ACK that `close` sends as host
   * A, a timeout apart (2 per close: the ACK is sent 3 times). Deliberate,
   * not retransmissions; included in `segmentsSent`.
   */
  lastAckCopies: number;
  /** Timeouts expired while waiting for the peer. */
  timeouts: number;
  /** Segments and ACKs received that repeat ones already received. */
  duplicates: number;
  /** Segments from the peer that were not accepted (out of place, or no room to hold them). */
  ignored: number;
  /** Segments resent on the third duplicate ACK, before their timeout (included in `retransmissions`). */
  fastRetransmits: number;
}

/** Why {@linkcode Connection}'s receiver refused an in-order segment: the application has not read. */
const NO_ROOM = "no room";
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Repairs in a row whose ACK stopped right after the repaired segment, with
 * nothing held past the hole, after which a selective-repeat sender takes
 * its peer to discard out-of-order segments: a receiver that holds them
 * gives that only when 4 segments in a row were lost (at 10% loss, about
 * once in a thousand holes), a Stop & Wait receiver at every hole.
 */
const DISCARDS = 4;

/**
 * An ACK that arrives less than this fraction of the smallest round trip ever
 * measured after a resend cannot answer it: it answers the first
 * transmission, and the resend was spurious. The minimum, not the smoothed
 * round trip: the smoothed one grows with every delayed ACK, and would then
 * take true answers for spurious ones.
 */
const SPURIOUS_FRACTION = 0.5;

/**
 * Segments acknowledged after the peer last said "no room" during which a
 * quick ACK of what came before is still taken for its "no room" again, not
 * for a copy (see `#sinceRefusal`).
 */
const REFUSAL_MEMORY = 16;

/**
 * The `retries` given to the RTO policy's backoff for a probe of a peer that
 * answered "no room" (Stop & Wait, or a window sender down to one segment):
 * past any linear retries, so an adaptive timeout doubles, up to its
 * maximum; a fixed one stays fixed.
 */
const PERSIST_BACKOFF = Number.MAX_SAFE_INTEGER;

function isDigits(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((b) => b >= 0x30 && b <= 0x39);
}

function control(flags: { syn?: boolean; ack?: boolean; fin?: boolean }, seq: number): Segment {
  return {
    syn: flags.syn ?? false,
    ack: flags.ack ?? false,
    fin: flags.fin ?? false,
    seq,
    data: NO_DATA,
  };
}

/** "DATA seq=45 len=1", "SYN+ACK seq=41": a segment as errors and traces name it. */
export function describeSegment(segment: Segment): string {
  const kind = segmentKind(segment);
  return kind === "DATA"
    ? `DATA seq=${segment.seq} len=${segment.data.length}`
    : `${kind} seq=${segment.seq}`;
}

/** What the trace says when the retries of a segment of each kind run out after `n` transmissions. */
const GIVE_UP: Record<InFlight["kind"], (n: number) => string> = {
  "syn": (n) => `connect given up after ${n} SYNs`,
  "syn-ack": (n) => `handshake given up after ${n} SYN+ACKs`,
  "data": (n) => `given up after ${n} transmissions`,
  "fin": (n) => `no FIN+ACK after ${n} FINs: assuming the peer closed`,
  "fin-ack": (n) => `no last ACK after ${n} FIN+ACKs: assuming it was lost`,
};

/** A segment sent and not yet answered. */
interface InFlight {
  /** What it is, for the limits: data retries up to maxRetries, a FIN up to closeRetries. */
  kind: "syn" | "syn-ack" | "data" | "fin" | "fin-ack";
  segment: Segment;
  /** Its encoding, made once: a retransmission sends the same bytes. */
  bytes: Uint8Array;
  /** The ACK number that acknowledges it (data only). */
  end: number;
  firstSentAt: number;
  /** When it was sent before its last transmission (its first, until it is resent twice). */
  previousSentAt: number;
  lastSentAt: number;
  transmissions: number;
  /** Timeouts with no answer (a try answered "alive, no room" is not one): the timeout backs off with them. */
  tries: number;
  /** Timeouts with no answer since the last "alive, no room": these count against the limit. */
  silent: number;
  /** The timeout of its last transmission. */
  rto: number;
  /** The peer answered "alive, no room" since its last transmission. */
  noRoom: boolean;
  /** Answers "alive, no room" it had (Stop & Wait): copies whose answer came already. */
  refusals: number;
}

/**
 * One connection's protocol, both its sending and its receiving side, from the
 * handshake to the close.
 *
 * @example The server's side of a handshake whose last ACK was lost
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection } from "./connection.ts";
 * const server = Connection.server(41, 0); // a SYN with seq 41 arrived at time 0
 * assert.equal(server.takeOutput()[0].segment.seq, 42); // SYN+ACK
 * // The client's ACK (seq 43) is lost; its length segment arrives:
 * const data = new TextEncoder().encode("5");
 * server.process({ syn: false, ack: false, fin: false, seq: 43, data }, 1);
 * const [recv, ack] = server.takeOutput();
 * assert.equal(server.state, "established");
 * assert.equal(recv.kind, "recv");
 * assert.equal(ack.segment.seq, 44);
 * ```
 */
export class Connection {
  /** Current state. */
  state: State;
  /** The client's initial sequence number x. */
  readonly iss: number;
  /** Whether this end sent the SYN. */
  readonly isClient: boolean;
  /** The stored sequence number: everything before it is acknowledged; the next segment uses it. */
  seq: number;
  /** Why the connection failed: the peer broke the protocol or stopped making progress. */
  error: Error | undefined;
  /** The peer sent FIN. */
  peerClosed = false;
  /** What the connection counted. */
  readonly stats: ConnectionStats = {
    segmentsSent: 0,
    segmentsReceived: 0,
    bytesSent: 0,
    retransmissions: 0,
    spuriousRetransmissions: 0,
    lastAckCopies: 0,
    timeouts: 0,
    duplicates: 0,
    ignored: 0,
    fastRetransmits: 0,
  };
  /** The retransmission timeout policy in use. */
  readonly rto: RtoPolicy;
  /** How errors name the peer (the driver updates it once the peer's port is known). */
  peerName: string;
  /**
   * When (in the clock of `now`) the handshake completed, the last data
   * segment was acknowledged or accepted, and the close ended.
   */
  readonly times: { established?: number; lastData?: number; closed?: number } = {};

  readonly #maxMessageLength: number;
  readonly #mss: number;
  readonly #maxRetries: number;
  readonly #closeRetries: number;
  readonly #idleTimeout: number;
  readonly #window: number;
  readonly #arq: Arq;
  /** The congestion window (fixed at `window` without congestion control). */
  readonly congestion: Congestion;
  /** Window mode: trace outputs carry the window state, duplicate ACKs count. */
  readonly #windowed: boolean;
  readonly #sendBuffer: number;

  #output: Output[] = [];
  /** Something the application may wait on changed (data, a message sent, the close, an error). */
  #changed = false;

  // Sending side.
  /** Payloads cut and ready to send, in order (a length announcement is always one by itself). */
  #ready: Uint8Array[] = [];
  /** Index of the next payload of `#ready` to send (a queue without O(n) shifts). */
  #readyHead = 0;
  #readyBytes = 0;
  /** Bytes of the message being written that are not yet cut into a payload (fewer than mss). */
  #carry: Uint8Array[] = [];
  #carryBytes = 0;
  /** Bytes of the outgoing message that the application has not written yet. */
  #unwritten = 0;
  /** The outgoing message: its length, and the sequence number of its first byte. */
  #outgoing: { length: number; start: number } | null = null;
  /** `write` took less than it was given: the writer waits for room in the send buffer. */
  #roomWanted = false;
  /** Segments sent and not yet acknowledged, oldest first. */
  #inFlight: InFlight[] = [];
  /**
   * How many of `#inFlight`, from the oldest, are in flight now: fewer after
   * a Go-Back-N timeout, until the window lets the rest go again.
   */
  #flight = 0;
  /** Duplicate ACKs in a row (window mode). */
  #dupAcks = 0;
  /** A loss episode is open until an ACK reaches this sequence number (NewReno's "recover"). */
  #recover: number | null = null;
  /** Duplicate ACKs since the last new one (a timeout does not reset it, unlike `#dupAcks`). */
  #duplicates = 0;
  /**
   * Selective repeat: how often in a row a repaired hole's ACK stopped at a
   * segment sent before the repair, with no sign that the peer holds what
   * comes past a hole. From {@linkcode DISCARDS} on the peer is taken to
   * discard it, as a Stop & Wait receiver of the course does, and a repair
   * goes back N.
   */
  #discards = 0;
  /** When the resend whose ACK last stopped short went out: see `#discards`. */
  #stoppedAt = -Infinity;
  /** Repairs whose ACK stopped short, and ACKs that showed the peer held a segment, so far. */
  #stops = 0;
  #helds = 0;
  /**
   * After going back N: the next sequence number to send then. Duplicate
   * ACKs before it answer the copies the peer already had, not a new hole,
   * and start no fast retransmit (NewReno's careful variant, RFC 6582 4.1).
   */
  #wentBack: number | null = null;
  /**
   * Segments the peer has shown room for (window mode): unlimited until a
   * timeout finds it alive but without room for our oldest segment even
   * when resent; then 1 (probe with one segment). A sender that goes back N
   * then adds what each new ACK acknowledges, as slow start grows a window:
   * a reader that frees a little at a time is sent a little at a time,
   * instead of a whole window it refuses every timeout (whose refusals, as
   * duplicate ACKs, would clock out more); one that caught up has the whole
   * window again within a few round trips. Selective repeat has it again at
   * the next new ACK.
   */
  #room = Infinity;
  /** Timeouts and fast retransmits so far, and the one whose resend was last found spurious. */
  #episode = 0;
  #spuriousEpisode = -1;
  /** The next sequence number to send data at. */
  #sendNext: number;
  /** When the oldest segment in flight times out. */
  #rtxAt = Infinity;
  /** ACKs for the segment just acknowledged that may still come, one per extra copy sent: stale, not "no room". */
  #staleAcks = 0;
  /** The segment acknowledged last, when it had been resent: the round trip its first ACK took, and whether the resend was found spurious. */
  #resent: { rtt: number; spurious: boolean } | null = null;
  /** The smallest round trip measured, in ms (Infinity before the first). */
  #minRtt = Infinity;
  /** The peer answered "alive, no room": waits count against idleTimeout, not maxRetries. */
  #persisting = false;
  /**
   * Segments acknowledged since the peer last answered "alive, no room". A
   * slow reader refuses again soon, and answers quicker than the smallest
   * round trip measured while the JIT was cold (every segment it refused
   * was resent, and gave no sample): within REFUSAL_MEMORY segments, a quick
   * answer is not taken for a copy of the previous ACK.
   */
  #sinceRefusal = Infinity;
  /** When the peer last began to say it has no room: `idleTimeout` counts from then at the earliest. */
  #persistingSince = -Infinity;

  // Receiving side.
  /** Bytes of the current incoming message not yet handed to the application; `null` between messages. */
  #messageLeft: number | null = null;
  #messageLength = 0;
  /** The application will read nothing more: what arrives is acknowledged and dropped. */
  #discarding = false;
  #discarded = 0;
  /** Bytes of the current incoming message not yet received from the network. */
  #networkLeft = 0;
  /** Bytes received and acknowledged, not yet handed to the application. */
  readonly #inbox = new ByteQueue();
  #want = 0;
  /**
   * A Stop & Wait receiver refused a segment for lack of room: when the
   * application reads, one ACK tells the sender there is room again (TCP's
   * window update, RFC 9293 3.8.6.2.2), so that the sender's probes can back off.
   */
  #owesUpdate = false;
  /**
   * The peer sent past what we acknowledged: it has a window, and its own
   * timer probes for room; an ACK it did not ask for would count toward its
   * fast retransmit. No window updates for it.
   */
  #peerPipelines = false;
  /** A window receiver's ACK not sent yet: it waits for {@linkcode Connection.idle}. */
  #heldAck: number | null = null;
  #heldAt = 0;
  #heldCount = 0;
  /** Selective repeat: segments that arrived ahead of a hole. */
  readonly #held = new Reassembly();

  // Progress.
  /** What the application waits for from the peer ("data", "FIN"), or null. */
  #waitingFor: string | null = null;
  #waitSince = 0;
  #lastProgress: number;
  /** What the peer sent that made no progress, and how many times, since the last progress. */
  #repeated: { what: string; expected: string; count: number } | null = null;
  /** The application's wait that expired: returned once by {@linkcode Connection.takeWaitError}. */
  #waitError: PeerTimeoutError | undefined;

  // Closing.
  /** The seq of the FIN of this connection (sent or received), once there is one. */
  #finSeq: number | null = null;
  /** Time-wait: the next copy of the last ACK, and how many are left. */
  #copyAt = Infinity;
  #copiesLeft = 0;
  /** `close` was called while data was in flight: the FIN goes once it is acknowledged. */
  #finPending = false;
  /** The peer closed while data was queued or in flight: it will never be acknowledged. */
  #abandoned = false;

  private constructor(
    state: State,
    iss: number,
    isClient: boolean,
    now: number,
    options: ConnectionOptions,
  ) {
    this.state = state;
    this.iss = iss;
    this.isClient = isClient;
    this.seq = isClient ? iss : seqAdd(iss, 2);
    this.#sendNext = this.seq;
    this.#lastProgress = now;
    this.#maxMessageLength = options.maxMessageLength ?? 2 ** 40;
    this.#mss = options.mss ?? 16;
    this.#sendBuffer = Math.max(options.sendBuffer ?? 256 * 1024, this.#mss);
    this.#maxRetries = options.maxRetries ?? 20;
    this.#closeRetries = options.closeRetries ?? 3;
    this.#idleTimeout = options.idleTimeout ?? 30_000;
    this.peerName = options.peer ?? "the peer";
    this.rto = options.rto ?? new AdaptiveRto();
    const window = options.window ?? 1;
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`Cannot use window ${window}: expected an integer >= 1`);
    }
    this.#window = window;
    this.#arq = options.arq ?? "go-back-n";
    const congestion = options.congestion ?? "none";
    this.congestion = new Congestion(congestion, window);
    this.#windowed = window > 1 || congestion !== "none";
  }

  /**
   * Whether outputs carry the window state (window mode only). A driver
   * whose trace is off turns it off: one object less per segment.
   */
  traceWindow = true;

  /**
   * Whether {@linkcode Connection.takeOutput} lists the segments received
   * (`recv` outputs). A driver whose trace is off turns it off: one object
   * less per segment received; the counts in `stats` are kept either way.
   */
  recordReceived = true;
  #scratch: Output & { kind: "recv" } = { kind: "recv", segment: control({}, 0), duplicate: false };

  /** The window state for traces (window mode only). */
  #state(): WindowState | undefined {
    if (!this.#windowed || !this.traceWindow) return undefined;
    const cc = this.congestion;
    return cc.enabled
      ? { base: this.seq, next: this.#sendNext, cwnd: cc.cwnd, ssthresh: cc.ssthresh }
      : { base: this.seq, next: this.#sendNext };
  }

  /** A client at time `now`: sends `SYN seq=iss` and waits for `SYN+ACK seq=iss+1`. */
  static client(iss: number, now: number, options: ConnectionOptions = {}): Connection {
    const connection = new Connection("syn-sent", iss, true, now, options);
    connection.#transmit("syn", control({ syn: true }, iss), now);
    return connection;
  }

  /** A server's new connection for a `SYN seq=iss` that arrived at `now`: sends `SYN+ACK seq=iss+1`. */
  static server(iss: number, now: number, options: ConnectionOptions = {}): Connection {
    const connection = new Connection("syn-received", iss, false, now, options);
    connection.#transmit("syn-ack", control({ syn: true, ack: true }, seqAdd(iss, 1)), now);
    return connection;
  }

  /** The handshake is complete on this end. */
  get established(): boolean {
    return this.state !== "syn-sent" && this.state !== "syn-received" &&
      !(this.state === "closed" && this.#finSeq === null);
  }

  /** Whether this end holds ACKs until {@linkcode Connection.idle} (a window receiver). */
  get holdsAcks(): boolean {
    return this.#window > 1;
  }

  /**
   * The driver read every segment that was waiting: sends the ACK a window
   * receiver held back meanwhile (one cumulative ACK for a burst of
   * in-order segments, as delayed ACKs do, but without a timer). A driver
   * that never calls it still sends the ACK at the next `poll`, due at once.
   */
  idle(): void {
    const ack = this.#heldAck;
    if (ack === null) return;
    this.#heldAck = null;
    this.#reply(control({ ack: true }, ack));
  }

  /**
   * The driver calls {@linkcode Connection.idle} whenever it has read every
   * segment waiting (as `endpoint.ts`'s read loop does): `pollAt` leaves a
   * held ACK to it instead of asking for a timer at once, which would cost a
   * timer per burst read.
   */
  idleDriven = false;

  /** Whether something waits in the output queue (see {@linkcode Connection.takeOutput}). */
  get hasOutput(): boolean {
    return this.#output.length > 0;
  }

  /** Hands the driver what to send and record, in order, and forgets it. */
  takeOutput(): Output[] {
    const output = this.#output;
    this.#output = [];
    return output;
  }

  /** Whether something the application may wait on changed since the last call. */
  takeChanged(): boolean {
    const changed = this.#changed;
    this.#changed = false;
    return changed;
  }

  /** When the connection must be polled next (ms, the clock of `now`), or `Infinity`. */
  pollAt(): number {
    if (this.#heldAck !== null && !this.idleDriven) return this.#heldAt;
    let at = this.#rtxAt < this.#copyAt ? this.#rtxAt : this.#copyAt;
    const idle = this.#idleAt();
    if (idle < at) at = idle;
    return at;
  }

  #idleAt(): number {
    if (this.error !== undefined || this.state === "closed") return Infinity;
    if (this.#waitingFor !== null) {
      return Math.max(this.#waitSince, this.#lastProgress) + this.#idleTimeout;
    }
    // Not from a progress older than the first 'no room': a connection that
    // had nothing to send for longer than idleTimeout still gives the reader all of it.
    return this.#persisting
      ? Math.max(this.#lastProgress, this.#persistingSince) + this.#idleTimeout
      : Infinity;
  }

  // ---------------------------------------------------------------- timers

  /**
   * Runs the timers due at `now`: retransmissions, the last ACK's copies, the
   * time without progress. A driver whose timers fire late may ask for the
   * timers due within `early` ms too (they run at `now`, the true time).
   */
  poll(now: number, early = 0): void {
    this.idle();
    const due = now + early;
    // No progress for idleTimeout ends the wait before anything is resent.
    if (this.#idleAt() <= due) this.#onIdle();
    if (this.#rtxAt <= due) this.#onRetransmissionTimeout(now);
    if (this.#copyAt <= due) this.#sendLastAckCopy(now);
  }

  #onRetransmissionTimeout(now: number): void {
    const head = this.#inFlight[0];
    if (!head) {
      this.#rtxAt = Infinity;
      return;
    }
    this.stats.timeouts++;
    const closing = head.kind === "fin" || head.kind === "fin-ack";
    const limit = closing ? this.#closeRetries - 1 : this.#maxRetries;
    const alive = head.noRoom;
    if (head.noRoom) {
      // The peer answered but had no room: this try counts only against
      // idleTimeout (TCP's persist state), checked by #onIdle, and the
      // silent ones before it no more (as Linux resets its probe count on
      // any answer): only timeouts in a row with no answer count, or a
      // lossy link would give a slow reader up on the probes it lost.
      head.noRoom = false;
      head.silent = 0;
    } else {
      head.tries++;
      head.silent++;
    }
    if (head.silent > limit) {
      this.#output.push({
        kind: "timeout",
        segment: head.segment,
        rto: head.rto,
        reason: GIVE_UP[head.kind](head.transmissions),
      });
      this.#giveUp(head, now);
      return;
    }
    this.#output.push({ kind: "timeout", segment: head.segment, rto: head.rto });
    // A peer alive without room is probed less and less often (TCP's persist
    // timer): a Stop & Wait sender's window update (see `#owesUpdate`) says
    // when to go on; a window sender, probing with one segment (`#room`), finds
    // out at its next probe (an update would count as a duplicate ACK): 3.4
    // times fewer segments to a reader that pauses 50 ms (tests/model_test.ts).
    const rto = closing ? this.rto.rto : this.rto.backoff(
      head.rto,
      alive && (this.#window === 1 || this.#room === 1) ? PERSIST_BACKOFF : head.tries,
    );
    const windowed = head.kind === "data" && this.#windowed;
    this.#episode++;
    if (windowed) this.congestion.onTimeout();
    // The oldest segment goes again; with a window of 1 it is all there is in flight.
    this.#resend(head, now, rto);
    this.#rtxAt = now + rto;
    if (windowed) {
      this.#dupAcks = 0;
      // A timeout proves no hole (the process may just have stalled): the
      // ACKs that follow resend nothing by themselves.
      this.#recover = null;
      // Alive, and it did not take our segment even when resent: no room
      // there (a loss would have been repaired); one segment at a time until it takes it.
      if (alive && head.transmissions > 2) this.#room = 1;
      // Go back N: everything after it goes again.
      if (this.#arq === "go-back-n" || this.#peerDiscards) this.#goBack(now, 1);
    }
  }

  /**
   * Selective repeat against a peer that discards what comes past a hole:
   * see `#discards`. A peer that showed it holds segments at a quarter of the
   * repairs that stopped short or more (a receiver with a window, at every
   * few holes) is not taken for one, whatever a run of lost segments says.
   */
  get #peerDiscards(): boolean {
    return this.#discards >= DISCARDS && 4 * this.#helds < this.#stops;
  }

  /**
   * Go back N: the segments in flight past the first `kept` go again, then
   * new ones, as the window allows. Against a peer that discards, the
   * duplicate ACKs those copies set off (below what was sent by now) start
   * no fast retransmit: RFC 6582's careful variant.
   */
  #goBack(now: number, kept: 0 | 1): void {
    this.#flight = kept;
    this.#fill(now);
    if (this.#peerDiscards) this.#wentBack = this.#sendNext;
  }

  /** Sends `entry` again, with timeout `rto`. */
  #resend(entry: InFlight, now: number, rto: number, fast = false): void {
    entry.rto = rto;
    entry.transmissions++;
    entry.previousSentAt = entry.lastSentAt;
    entry.lastSentAt = now;
    this.stats.retransmissions++;
    this.#emit(entry.segment, entry.bytes, true, rto, fast);
  }

  /** Nothing is in flight any more (acknowledged, given up, or replaced by the close). */
  #clearInFlight(): void {
    this.#inFlight = [];
    this.#flight = 0;
    this.#rtxAt = Infinity;
    this.#dupAcks = 0;
    this.#duplicates = 0;
    this.#recover = null;
    this.#wentBack = null;
    this.#room = Infinity;
  }

  #giveUp(head: InFlight, now: number): void {
    this.#clearInFlight();
    const attempts = head.transmissions;
    switch (head.kind) {
      case "fin":
        // Three FINs unanswered: assume the peer closed (the assignment's limit).
      case "fin-ack":
        // Three timeouts without the last ACK: assume it was lost.
        this.#finish(now);
        return;
      case "syn": {
        // Nothing at all came back: no server there, rather than one that stopped answering.
        const instead = this.#instead();
        this.#fail(
          new PeerTimeoutError(
            this.peerName,
            `SYN+ACK seq=${seqAdd(this.iss, 1)}`,
            { attempts },
            instead === undefined ? { noServer: true } : { instead },
          ),
        );
        return;
      }
      case "syn-ack":
        this.#fail(
          new PeerTimeoutError(this.peerName, `ACK seq=${seqAdd(this.iss, 2)}`, { attempts }, {
            instead: this.#instead(),
          }),
        );
        return;
      case "data":
        this.#fail(
          new PeerTimeoutError(this.peerName, `ACK seq=${head.end}`, { attempts }, {
            instead: this.#instead(),
          }),
        );
    }
  }

  #onIdle(): void {
    const head = this.#inFlight[0];
    if (this.#persisting && head) {
      this.#output.push({
        kind: "timeout",
        segment: head.segment,
        rto: head.rto,
        reason: `no room at the peer for ${this.#idleTimeout} ms`,
      });
      this.#fail(
        new PeerTimeoutError(this.peerName, NO_ROOM_WAIT, {
          idleMs: this.#idleTimeout,
        }, { instead: this.#instead() }),
      );
      return;
    }
    const waitingFor = this.#waitingFor ?? "progress";
    this.#waitError = new PeerTimeoutError(
      this.peerName,
      waitingFor,
      { idleMs: this.#idleTimeout },
      {
        instead: this.#instead(),
      },
    );
    this.#waitingFor = null;
    this.#changed = true;
  }

  /** "it kept sending DATA seq=45 len=1 (12 times), expected seq=44", or undefined when it sent nothing. */
  #instead(): string | undefined {
    const r = this.#repeated;
    if (!r) return undefined;
    const times = r.count === 1 ? "once" : `${r.count} times`;
    return `it kept sending ${r.what} (${times})${r.expected ? `, ${r.expected}` : ""}`;
  }

  /** Records a segment from the peer that made no progress, for the error that may follow. */
  #noProgress(segment: Segment, expected = ""): void {
    const what = describeSegment(segment);
    if (this.#repeated?.what === what) this.#repeated.count++;
    else this.#repeated = { what, expected, count: 1 };
  }

  #progress(now: number): void {
    this.#lastProgress = now;
    this.#repeated = null;
    this.#persisting = false;
  }

  /** The peer is alive and has no room for our oldest segment (TCP's persist state). */
  #persist(now: number): void {
    if (!this.#persisting) this.#persistingSince = now;
    this.#persisting = true;
  }

  #fail(error: Error): void {
    if (this.error === undefined) this.error = error;
    if (this.#finPending) this.state = "closed";
    this.#clearInFlight();
    this.#copyAt = Infinity;
    this.#changed = true;
  }

  #finish(now: number): void {
    this.state = "closed";
    this.times.closed = now;
    this.#clearInFlight();
    this.#copyAt = Infinity;
    this.#waitingFor = null;
    this.#changed = true;
  }

  // --------------------------------------------------------------- sending

  #transmit(kind: InFlight["kind"], segment: Segment, now: number, end = 0): void {
    const rto = this.rto.rto;
    const entry: InFlight = {
      kind,
      segment,
      bytes: createSegment(segment),
      end,
      firstSentAt: now,
      previousSentAt: now,
      lastSentAt: now,
      transmissions: 1,
      tries: 0,
      silent: 0,
      rto,
      noRoom: false,
      refusals: 0,
    };
    this.#inFlight.push(entry);
    this.#flight++;
    if (this.#inFlight.length === 1) this.#rtxAt = now + rto;
    this.#emit(segment, entry.bytes, false, rto);
  }

  #emit(
    segment: Segment,
    bytes: Uint8Array,
    retransmission: boolean,
    rto?: number,
    fast = false,
  ): void {
    if (this.#heldAck !== null) this.idle(); // in order: the held ACK first
    this.stats.segmentsSent++;
    if (!segment.syn && !segment.ack && !segment.fin) this.stats.bytesSent += segment.data.length;
    const output: Output = { kind: "send", segment, bytes, retransmission, rto };
    if (fast) output.fastRetransmit = true;
    if (this.#windowed) output.window = this.#state();
    this.#output.push(output);
  }

  /** Sends an untimed control segment (an ACK, a repeated answer). */
  #reply(segment: Segment): void {
    this.#emit(segment, createSegment(segment), false);
  }

  /**
   * Starts an outgoing message of `length` bytes: queues its length
   * announcement; the bytes follow with {@linkcode Connection.write}.
   *
   * @throws {TypeError} while the previous message is not all written.
   */
  startMessage(length: number, now: number): void {
    if (this.#unwritten > 0 || this.#carryBytes > 0) {
      throw new TypeError("Cannot start a message before the previous one is all written");
    }
    this.#unwritten = length;
    const announcement = encoder.encode(String(length));
    // The announcement goes after what is queued; the message's bytes after it.
    this.#outgoing = {
      length,
      start: seqAdd(this.#sendNext, this.#readyBytes + announcement.length),
    };
    this.#queue(announcement);
    this.#fill(now);
  }

  /**
   * The outgoing message: its announced length and how many of its bytes the
   * peer acknowledged (the length announcement not counted); `null` before
   * the first message.
   */
  get outgoing(): { length: number; acknowledged: number } | null {
    const message = this.#outgoing;
    if (message === null) return null;
    const acked = (this.seq - message.start + SEQ_MODULUS) % SEQ_MODULUS;
    // An ACK before the message's first byte reads as a huge distance: none yet.
    const acknowledged = acked >= SEQ_MODULUS / 2 ? 0 : Math.min(acked, message.length);
    return { length: message.length, acknowledged };
  }

  /** How many bytes {@linkcode Connection.write} takes now. */
  get writable(): number {
    const room = this.#sendBuffer - this.#readyBytes - this.#carryBytes;
    return Math.max(0, Math.min(room, this.#unwritten));
  }

  /**
   * Queues bytes of the outgoing message (copied), cut into segments of `mss`
   * bytes, and sends what the window allows. Returns how many it took: at
   * most {@linkcode Connection.writable}.
   */
  write(bytes: Uint8Array, now: number): number {
    const n = Math.min(bytes.length, this.writable);
    // The writer will wait for room: wake it once half the buffer is free.
    if (n < bytes.length) this.#roomWanted = true;
    if (n === 0) return 0;
    const copy = bytes.slice(0, n);
    this.#unwritten -= n;
    let offset = 0;
    if (this.#carryBytes > 0) {
      const take = Math.min(this.#mss - this.#carryBytes, n);
      this.#carry.push(copy.subarray(0, take));
      this.#carryBytes += take;
      offset = take;
      if (this.#carryBytes === this.#mss || this.#unwritten === 0 && offset === n) {
        this.#flushCarry();
      }
    }
    for (; n - offset >= this.#mss; offset += this.#mss) {
      this.#queue(copy.subarray(offset, offset + this.#mss));
    }
    if (offset < n) {
      this.#carry.push(copy.subarray(offset));
      this.#carryBytes += n - offset;
    }
    if (this.#unwritten === 0 && this.#carryBytes > 0) this.#flushCarry();
    this.#fill(now);
    return n;
  }

  #flushCarry(): void {
    const parts = this.#carry;
    let payload: Uint8Array;
    if (parts.length === 1) payload = parts[0];
    else {
      payload = new Uint8Array(this.#carryBytes);
      let at = 0;
      for (const part of parts) {
        payload.set(part, at);
        at += part.length;
      }
    }
    this.#carry = [];
    this.#carryBytes = 0;
    this.#queue(payload);
  }

  #clearReady(): void {
    this.#ready = [];
    this.#readyHead = 0;
    this.#readyBytes = 0;
  }

  #queue(payload: Uint8Array): void {
    this.#ready.push(payload);
    this.#readyBytes += payload.length;
  }

  /**
   * Sends while the window has room: first what a Go-Back-N timeout sent
   * back, then queued payloads. The window is min(window, cwnd, the room
   * the peer has shown).
   */
  #fill(now: number): void {
    if (this.state !== "established" || this.error !== undefined || this.peerClosed) return;
    const limit = Math.min(this.#window, this.congestion.allowed, this.#room);
    while (this.#flight < limit) {
      if (this.#flight < this.#inFlight.length) {
        this.#resend(this.#inFlight[this.#flight++], now, this.#inFlight[0].rto);
        continue;
      }
      if (this.#readyHead >= this.#ready.length) break;
      const data = this.#ready[this.#readyHead];
      // Forgotten at once: a writer that refills the queue before it drains
      // would otherwise keep every payload (and the chunk it is cut from)
      // alive to the end of the message (a 256 MiB stream held 480 MB).
      this.#ready[this.#readyHead++] = NO_DATA;
      this.#readyBytes -= data.length;
      if (this.#readyHead === this.#ready.length) this.#clearReady();
      else if (this.#readyHead >= 4096 && 2 * this.#readyHead >= this.#ready.length) {
        this.#ready = this.#ready.slice(this.#readyHead);
        this.#readyHead = 0;
      }
      if (this.#roomWanted && 2 * (this.#readyBytes + this.#carryBytes) <= this.#sendBuffer) {
        this.#roomWanted = false;
        this.#changed = true;
      }
      const seq = this.#sendNext;
      this.#sendNext = seqAdd(seq, data.length);
      this.#transmit(
        "data",
        { syn: false, ack: false, fin: false, seq, data },
        now,
        this.#sendNext,
      );
    }
  }

  /**
   * Drops what was written or announced and not yet sent (an aborted send):
   * only what is in flight still goes, resent until acknowledged, so that a
   * later FIN carries the sequence number the peer expects. Returns the
   * bytes dropped.
   */
  dropUnsent(): number {
    const dropped = this.#readyBytes + this.#carryBytes + this.#unwritten;
    this.#clearReady();
    this.#carry = [];
    this.#carryBytes = 0;
    this.#unwritten = 0;
    return dropped;
  }

  /** Everything written so far was acknowledged (or nothing was written). */
  get sent(): boolean {
    return !this.#abandoned && this.#unwritten === 0 && this.#carryBytes === 0 &&
      this.#readyHead === this.#ready.length && this.#inFlight[0]?.kind !== "data";
  }

  /**
   * Host A starts the close at `now`: sends `FIN seq=s` up to `closeRetries`
   * times, a timeout apart; after `FIN+ACK`, the last ACK 3 times. When the
   * peer closed first, this end finishes as host B.
   */
  close(now: number): void {
    if (this.state === "syn-sent" || this.state === "syn-received") {
      this.#finish(now);
      return;
    }
    if (this.state !== "established" || this.peerClosed) return; // host B: FIN+ACK on its way
    // What was queued and not sent is abandoned; what is in flight finishes
    // first, so that both ends agree on the FIN's sequence number.
    this.dropUnsent();
    if (this.#inFlight.length > 0 && this.error === undefined) {
      this.#finPending = true;
      return;
    }
    this.#sendFin(now);
  }

  #sendFin(now: number): void {
    this.#finPending = false;
    this.#clearInFlight();
    this.#finSeq = this.seq;
    this.state = "fin-wait";
    this.#transmit("fin", control({ fin: true }, this.seq), now);
  }

  /** The close is over: the connection will send and accept nothing more. */
  get closed(): boolean {
    return this.state === "closed";
  }

  // ------------------------------------------------------------- receiving

  /**
   * Tells the connection what the application waits for from the peer
   * (`"data"`, `"FIN"`) from `now` on, or `null` when it stopped waiting.
   * While it waits, `idleTimeout` ms without progress end the wait (see
   * {@linkcode Connection.takeWaitError}).
   */
  expect(what: string | null, now: number): void {
    this.#waitingFor = what;
    this.#waitSince = now;
    this.#waitError = undefined;
  }

  /**
   * The application closes as host B (`recvClose`): from `now` on it waits
   * for the FIN and reads nothing more. What is buffered of a message, and
   * every data segment still to come, is acknowledged and dropped, counted in
   * {@linkcode Connection.discarded}: the peer's send and close go through,
   * instead of both ends waiting for room until `idleTimeout`.
   */
  closeReceiving(now: number): void {
    this.#discarding = true;
    this.#dropIncoming();
    this.expect("FIN", now);
  }

  /** Message bytes dropped because the application closed without reading them (see {@linkcode Connection.closeReceiving}). */
  get discarded(): number {
    return this.#discarded;
  }

  #dropIncoming(): void {
    while (this.#messageLeft !== null) {
      const size = Math.min(this.#messageLeft, this.#inbox.length);
      if (size === 0 && this.#messageLeft > 0) return;
      this.#discarded += this.take(size)!.length;
    }
  }

  /** The application's wait ended without progress for `idleTimeout` ms: its error, once. */
  takeWaitError(): PeerTimeoutError | undefined {
    const error = this.#waitError;
    this.#waitError = undefined;
    return error;
  }

  /**
   * Tells the connection how many bytes the application waits for, so that it
   * accepts (and acknowledges) data only while there is room for it: at most
   * `want` bytes plus one segment are ever buffered.
   */
  set want(bytes: number) {
    this.#want = bytes;
    this.#updateRoom();
  }

  /** Bytes received and acknowledged but not yet handed to the application. */
  get buffered(): number {
    return this.#inbox.length;
  }

  /**
   * Hands the application the next piece of the current message, if it is
   * complete: `min(bytes left in the message, buffSize)` bytes, or `null`
   * while they have not all arrived (or no message has begun).
   */
  take(buffSize: number): Uint8Array | null {
    if (this.#messageLeft === null) return null;
    const size = Math.min(this.#messageLeft, buffSize);
    if (this.#inbox.length < size) return null;
    const out = this.#inbox.take(size);
    this.#messageLeft -= size;
    if (this.#messageLeft === 0) this.#messageLeft = null;
    this.#updateRoom();
    return out;
  }

  /**
   * Flow control: the inbox holds at most what the application asked for,
   * plus one segment (plus a window of segments, for a window receiver).
   */
  #inboxFull(): boolean {
    return this.#inbox.length > 0 &&
      this.#inbox.length >= this.#want + (this.#window - 1) * this.#mss;
  }

  /** After a refusal: once the next segment would fit, says so once (see `#owesUpdate`). */
  #updateRoom(): void {
    if (!this.#owesUpdate || this.closed || this.peerClosed) return;
    const room = this.#messageLeft === null || (this.#networkLeft > 0 && !this.#inboxFull());
    if (!room) return;
    this.#owesUpdate = false;
    this.#reply(control({ ack: true }, this.seq));
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
   * Takes a segment that arrived from the peer at `now`: decides what it
   * means, answers it, and records it (with why it was not accepted, if it
   * was not). Never throws: a segment that breaks the protocol sets
   * {@linkcode Connection.error}.
   */
  process(segment: Segment, now: number): void {
    this.stats.segmentsReceived++;
    let recv: Output & { kind: "recv" };
    if (this.recordReceived) {
      recv = { kind: "recv", segment, duplicate: false };
      this.#output.push(recv);
    } else {
      // Nobody records it: one scratch record, for the counts below.
      recv = this.#scratch;
      recv.segment = segment;
      recv.duplicate = false;
      recv.held = undefined;
    }
    const reason = this.#dispatch(segment, now, recv);
    if (this.#windowed) recv.window = this.#state();
    if (reason !== undefined) {
      recv.reason = reason;
      this.stats.ignored++;
    }
    if (recv.duplicate) this.stats.duplicates++;
  }

  /** Returns why the segment was not accepted, or undefined. */
  #dispatch(
    segment: Segment,
    now: number,
    recv: { duplicate: boolean },
  ): string | undefined {
    const { syn, ack, fin } = segment;
    if (this.state === "closed") return "the connection is closed";
    if (this.error !== undefined && !this.established) return "the connection failed";
    if (syn) return ack && !fin ? this.#onSynAck(segment, now, recv) : this.#onSyn(segment, recv);
    if (this.state === "syn-sent") {
      this.#noProgress(segment, `expected SYN+ACK seq=${seqAdd(this.iss, 1)}`);
      return "no SYN+ACK yet";
    }
    if (this.state === "syn-received") {
      // The last ACK of the handshake, or — if it was lost — the first segment
      // the client sends after it (data, a length, or a FIN), all at x+2.
      const pureAck = ack && !fin && segment.data.length === 0;
      const data = !ack && !fin && segment.data.length > 0;
      const finOnly = fin && !ack;
      if (segment.seq !== this.seq || !(pureAck || data || finOnly)) {
        this.#noProgress(segment, `expected ACK seq=${this.seq}`);
        return `handshake: expected ACK, data or FIN at seq=${this.seq}`;
      }
      this.state = "established";
      this.times.established = now;
      this.#clearInFlight();
      this.#progress(now);
      this.#changed = true;
      if (pureAck) return undefined;
    }
    if (fin) return ack ? this.#onFinAck(segment, now, recv) : this.#onFin(segment, now, recv);
    if (ack) {
      return segment.data.length === 0
        ? this.#onAck(segment, now, recv)
        : "an ACK that carries data";
    }
    return segment.data.length > 0 ? this.#onData(segment, now, recv) : "an empty DATA segment";
  }

  #onSynAck(segment: Segment, now: number, recv: { duplicate: boolean }): string | undefined {
    const expected = seqAdd(this.iss, 1);
    if (!this.isClient) return "a SYN+ACK at a server";
    if (segment.seq !== expected) {
      this.#noProgress(segment, `expected seq=${expected} (x+1 for SYN seq=${this.iss})`);
      return `expected SYN+ACK seq=${expected}`;
    }
    const reply = control({ ack: true }, seqAdd(this.iss, 2));
    if (this.state === "syn-sent") {
      this.state = "established";
      this.times.established = now;
      this.seq = seqAdd(this.iss, 2);
      this.#sendNext = this.seq;
      const head = this.#inFlight[0];
      if (head?.transmissions === 1) this.#sample(now - head.firstSentAt);
      this.#clearInFlight();
      this.#progress(now);
      this.#changed = true;
      this.#reply(reply);
      this.#fill(now);
      return undefined;
    }
    // The server did not get our ACK: answer again, whatever we are doing.
    recv.duplicate = true;
    this.#noProgress(segment);
    this.#reply(reply);
    return undefined;
  }

  #onSyn(segment: Segment, recv: { duplicate: boolean }): string | undefined {
    // A repeated SYN of this connection, forwarded by the listener.
    if (
      this.state === "syn-received" && !segment.ack && !segment.fin && segment.seq === this.iss
    ) {
      recv.duplicate = true;
      this.#noProgress(segment);
      const head = this.#inFlight[0];
      if (head) {
        head.transmissions++; // Karn: no round trip from it now; its timer keeps running
        this.stats.retransmissions++;
        this.#emit(head.segment, head.bytes, true, head.rto);
      }
      return undefined;
    }
    return this.state === "syn-received" ? `a SYN with seq=${segment.seq}` : "a SYN, connected";
  }

  #onData(
    segment: Segment,
    now: number,
    recv: { duplicate: boolean; held?: boolean },
  ): string | undefined {
    if (segment.seq !== this.seq) {
      if (seqBefore(segment.seq, this.seq)) {
        // Already received: acknowledge again, never deliver twice.
        recv.duplicate = true;
        this.#noProgress(segment, `expected seq=${this.seq}`);
        this.#reply(control({ ack: true }, this.seq));
        return undefined;
      }
      this.#noProgress(segment, `expected seq=${this.seq}`);
      this.#peerPipelines = true;
      this.#owesUpdate = false;
      if (this.#window > 1 && this.state === "established" && !this.error) {
        // A window receiver answers with the ACK it expects (a duplicate
        // ACK: the sender learns of the hole); selective repeat also holds
        // the segment, when it falls within the window.
        if (this.#arq === "selective-repeat" && this.#fitsHeld(segment)) {
          // A copy: the segment's data may be a view of the driver's receive buffer.
          if (this.#held.add(segment.seq, segment.data.slice())) recv.held = true;
          else recv.duplicate = true;
          this.#reply(control({ ack: true }, this.seq));
          return undefined;
        }
        this.#reply(control({ ack: true }, this.seq));
      }
      return `seq=${segment.seq} is ahead: expected seq=${this.seq}`;
    }
    if (this.state !== "established" && this.state !== "fin-wait" || this.error) {
      return "not established";
    }
    if (this.state === "fin-wait") return "data after our FIN";
    if (this.#inFlight.length > 0) {
      // New data at our own sequence number while our segment is in flight:
      // both ends are sending, which one shared sequence number cannot carry.
      this.#fail(
        new ProtocolError(
          `Both ends sent at seq ${segment.seq} at once: one message at a time, in one direction`,
        ),
      );
      return "both ends sending at once";
    }
    if (this.#held.size > 0) this.#held.take(segment.seq); // a held copy of this very segment
    const refused = this.#accept(segment.seq, segment.data, now);
    if (refused === NO_ROOM) return this.#noRoom(segment);
    if (refused !== undefined) return refused;
    // Selective repeat: what was held beyond the hole follows, and the ACK jumps.
    if (this.#held.size > 0) this.#drainHeld(now);
    if (this.#messageLeft !== null) {
      if (this.#inbox.length >= Math.min(this.#messageLeft, Math.max(1, this.#want))) {
        this.#changed = true;
      }
    }
    if (this.#window > 1) {
      // A window receiver holds its ACK until the segments already waiting
      // are read (the driver calls idle): one cumulative ACK answers a burst.
      if (this.#heldAck === null) {
        this.#heldAt = now;
        this.#heldCount = 0;
      }
      this.#heldAck = this.seq;
      // At most a quarter of the window answered by one ACK: the sender's
      // oldest segment must not wait for a whole window to be read.
      if (++this.#heldCount >= Math.max(2, this.#window >> 2)) this.idle();
      return undefined;
    }
    this.#reply(control({ ack: true }, this.seq));
    return undefined;
  }

  /** Whether an out-of-order segment fits in the receive window (window × mss bytes from `seq`). */
  #fitsHeld(segment: Segment): boolean {
    const offset = (segment.seq - this.seq + SEQ_MODULUS) % SEQ_MODULUS;
    return offset + segment.data.length <= this.#window * this.#mss &&
      this.#held.bytes + segment.data.length <= this.#window * this.#mss;
  }

  /** Takes the held segments that now follow in order, until one is missing or refused. */
  #drainHeld(now: number): void {
    for (let data = this.#held.take(this.seq); data; data = this.#held.take(this.seq)) {
      const seq = this.seq;
      const refused = this.#accept(seq, data, now);
      if (refused === NO_ROOM) this.#held.add(seq, data); // kept until the application reads
      if (refused !== undefined) return;
    }
  }

  /**
   * Takes the in-order data segment at `seq` (= this.seq): a length
   * announcement or bytes of the message. Returns why it was refused
   * ({@linkcode NO_ROOM}, or a failure already recorded), or undefined.
   */
  #accept(seq: number, data: Uint8Array, now: number): string | undefined {
    const n = data.length;
    if (this.#messageLeft === null) {
      const digits = isDigits(data);
      const length = digits ? Number(decoder.decode(data)) : NaN;
      if (!(length <= this.#maxMessageLength)) {
        const shown = data.length <= 15 ? String(length) : quoteBytes(data, 40);
        this.#fail(
          new ProtocolError(
            digits
              ? `Peer announced message length ${shown}, more than the maximum ${this.#maxMessageLength}`
              : `Peer announced message length ${quoteBytes(data, 40)}, expected a decimal number`,
          ),
        );
        return "not a message length";
      }
      this.#messageLeft = length;
      this.#messageLength = length;
      this.#networkLeft = length;
    } else {
      // The next message waits until this one is read.
      if (this.#networkLeft === 0) return NO_ROOM;
      if (n > this.#networkLeft) {
        this.#fail(
          new ProtocolError(
            `Peer sent ${n} bytes at seq ${seq}, but only ${this.#networkLeft} remained in the message`,
          ),
        );
        return "longer than the rest of the message";
      }
      if (this.#inboxFull()) return NO_ROOM;
      // What the application waits for is what the queue will hold at once.
      this.#inbox.push(data, Math.min(this.#want, this.#messageLeft ?? 0));
      this.#networkLeft -= n;
    }
    this.seq = seqAdd(this.seq, n);
    this.#sendNext = this.seq;
    this.times.lastData = now;
    this.#progress(now);
    if (this.#discarding) this.#dropIncoming();
    return undefined;
  }

  /**
   * No room for a new segment: it is not taken, and not acknowledged, but the
   * ACK of what came before tells the sender that this end is alive and
   * busy, not gone (TCP's zero window, in the assignment's header).
   */
  #noRoom(segment: Segment): string {
    this.#noProgress(segment, "no room to take it");
    this.#reply(control({ ack: true }, this.seq));
    if (this.#window === 1 && !this.#peerPipelines) this.#owesUpdate = true;
    return `${ROOM_REASONS.refused}: the application has not read what came before`;
  }

  #onAck(segment: Segment, now: number, recv: { duplicate: boolean }): string | undefined {
    const head = this.#inFlight[0];
    if (head?.kind === "data") {
      const ack = segment.seq;
      // Cumulative: it acknowledges every segment in flight up to one's end.
      // Only the segments it acknowledges are walked: O(1) per segment.
      let inside = false;
      if (seqBefore(this.seq, ack) && !seqBefore(this.#inFlight.at(-1)!.end, ack)) {
        let i = 0;
        while (seqBefore(this.#inFlight[i].end, ack)) i++;
        if (this.#inFlight[i].end === ack) return this.#acknowledged(ack, now);
        inside = true;
      }
      if (ack === this.seq) {
        if (this.#staleAcks > 0) {
          // Answers an extra copy of the segment acknowledged before: a duplicate.
          this.#onStaleAck();
          recv.duplicate = true;
          return undefined;
        }
        if (this.#window > 1) return this.#onDuplicateAck(segment, head, now, recv);
        if (
          !this.#persisting && this.#sinceRefusal > REFUSAL_MEMORY &&
          head.transmissions === 1 && Number.isFinite(this.#minRtt) &&
          now - head.lastSentAt < SPURIOUS_FRACTION * this.#minRtt
        ) {
          // Sooner than any answer to our segment can come: a copy of the
          // previous ACK (the network duplicated or held it back). Only for
          // a segment's first transmission, and not once the peer said it
          // has no room (persisting, or within REFUSAL_MEMORY segments):
          // then each answer says so again, however soon. A minimum round
          // trip taken while the JIT was cold made quick answers look too
          // soon, and the sender gave a slow reader up after its retries; a
          // copy of the previous ACK does not come again after each resend.
          recv.duplicate = true;
          return undefined;
        }
        if (head.noRoom && this.#persisting) {
          // Our last try was answered "no room" already: a second answer is
          // the peer saying it has room again (its application read), or a
          // copy the network made. Either way one try now, not a probe later.
          this.#resend(head, now, this.rto.rto);
          head.noRoom = false;
          this.#rtxAt = now + head.rto;
          return `${ROOM_REASONS.again}: a second answer to our last try; it goes again`;
        }
        // Everything before our segment arrived, our segment did not get in:
        // the peer is alive, its buffer is full.
        head.noRoom = true;
        this.#sinceRefusal = 0;
        head.refusals++;
        this.#persist(now);
        return `${ROOM_REASONS.noRoom}: it acknowledges what came before our segment`;
      }
      const hint = inside ? " (is it counting characters instead of bytes?)" : "";
      this.#noProgress(segment, `expected ACK seq=${head.end}${hint}`);
      if (seqBefore(segment.seq, this.seq)) {
        recv.duplicate = true;
        return undefined;
      }
      return `expected ACK seq=${head.end}${hint}`;
    }
    if (
      this.state === "last-ack" && this.#finSeq !== null && segment.seq === seqAdd(this.#finSeq, 2)
    ) {
      this.#progress(now);
      this.#finish(now);
      return undefined;
    }
    if (this.state === "last-ack" && this.#finSeq !== null) {
      this.#noProgress(segment, `expected ACK seq=${seqAdd(this.#finSeq, 2)}`);
    } else this.#noProgress(segment);
    if (segment.seq === this.seq && this.#staleAcks > 0) this.#onStaleAck();
    recv.duplicate = true;
    return undefined;
  }

  /**
   * Window mode: an ACK of what came before our oldest segment. The peer is
   * alive, and either a segment was lost (the peer got later ones) or it has
   * no room: it is a duplicate, and the third in a row resends the oldest
   * segment at once (fast retransmit) under selective repeat or congestion
   * control.
   */
  #onDuplicateAck(
    segment: Segment,
    head: InFlight,
    now: number,
    recv: { duplicate: boolean },
  ): undefined {
    recv.duplicate = true;
    this.#noProgress(segment, `expected ACK seq=${head.end}`);
    // The answer to a copy of a segment the peer had before we went back N.
    // Alive all the same: if our oldest segment times out again, it was refused, not lost.
    head.noRoom = true;
    if (this.#wentBack !== null && seqBefore(this.seq, this.#wentBack)) return undefined;
    this.#persist(now);
    this.#duplicates++;
    const count = ++this.#dupAcks;
    const fast = this.congestion.onDuplicateAck(count);
    if (fast && (this.#arq === "selective-repeat" || this.congestion.enabled)) {
      this.#recover = this.#sendNext;
      this.#episode++;
      this.stats.fastRetransmits++;
      this.#resend(head, now, head.rto, true);
      this.#rtxAt = now + this.#repairTimeout(head.rto);
    }
    this.#fill(now); // Reno's inflated window may let a new segment go
    return undefined;
  }

  /**
   * A second ACK for the segment acknowledged last, which was resent: the
   * peer received both copies, so the resend was not needed (the idea of
   * DSACK, RFC 3708). It catches the spurious resends of a process that was
   * not scheduled in time, whose first ACK is read too late to be timed.
   */
  #onStaleAck(): void {
    this.#staleAcks--;
    // Counted, but the timeout is left alone: a network that duplicates or
    // holds back ACKs gives the same sign, and the round trip it implies is
    // that of the first transmission, which may date from the initial timeout.
    if (this.#resent && !this.#resent.spurious) this.#spurious(false);
  }

  /** Counts the last resend as spurious; `learn`: the timeout keeps its round trip as a floor. */
  #spurious(learn = true): void {
    if (!this.#resent) return;
    this.#resent.spurious = true;
    this.stats.spuriousRetransmissions++;
    if (!learn) return;
    // Once per loss episode: a Go-Back-N timeout resends a whole window,
    // whose ACKs would otherwise raise the timeout once per segment.
    if (this.#spuriousEpisode === this.#episode) return;
    this.#spuriousEpisode = this.#episode;
    this.rto.spurious(this.#resent.rtt);
  }

  /**
   * The timer of a segment resent to repair a hole (fast retransmit, or the
   * next hole after a partial ACK), or shown missing by an ACK that covers a
   * later resend, under selective repeat without congestion
   * control: its ACK is due about one round trip after it, behind at most the
   * window's segments; if it was lost too, nothing else will tell. At 10%
   * loss nearly every ACK that moves the window covers a resent segment and
   * gives no round trip (Karn), so `rto` keeps the startup's large samples;
   * four times the smallest round trip (at least 2 ms) bounds the wait. A
   * spurious expiry resends one segment; with congestion control it would
   * also cut the window, so there `rto` stays.
   */
  #repairTimeout(rto: number): number {
    if (this.#arq !== "selective-repeat" || this.congestion.enabled) return rto;
    // A fixed timeout (the assignment's) is the user's: kept as it is.
    if (this.rto.srtt === undefined || !Number.isFinite(this.#minRtt)) return rto;
    return Math.min(rto, Math.max(2, 4 * this.#minRtt));
  }

  /** Feeds a round trip to the RTO policy, and keeps the smallest one. */
  #sample(rtt: number): void {
    this.rto.sample(rtt);
    if (rtt < this.#minRtt) this.#minRtt = rtt;
  }

  /** The ACK `ack` acknowledges the segments in flight up to it. */
  #acknowledged(ack: number, now: number): undefined {
    let acked = 0;
    let resent = false;
    let entry: InFlight | undefined;
    let oldest = 0;
    // When the latest resend this ACK covers was sent.
    let resentAt = -Infinity;
    // A segment sent once, before the resend of a hole ahead of it (in this
    // ACK, or the resend whose ACK stopped short before it): it arrived
    // before the hole was filled, so the peer held it.
    let held = false;
    while (this.#inFlight.length > 0 && this.#inFlight[0].kind === "data") {
      if (seqBefore(ack, this.#inFlight[0].end)) break;
      entry = this.#inFlight.shift()!;
      if (acked++ === 0) oldest = entry.firstSentAt;
      if (entry.transmissions > 1) {
        resent = true;
        if (entry.lastSentAt > resentAt) resentAt = entry.lastSentAt;
      } else if (entry.lastSentAt < Math.max(resentAt, this.#stoppedAt)) held = true;
    }
    if (held) {
      this.#discards = 0;
      this.#helds++;
    }
    // The ACK answers the arrival of the last segment it covers (`entry`),
    // or of a resent one before it that filled a hole.
    if (entry) {
      if (!resent) {
        // Karn's rule: only a segment sent once gives a round trip, and
        // only when no resend among those acknowledged triggered the ACK.
        // The oldest one it acknowledges: a receiver that answers a burst
        // with one ACK makes the head wait that long, and its timer must too.
        this.#sample(now - oldest);
        this.#staleAcks = 0;
        this.#resent = null;
      } else if (entry.transmissions === 1) {
        // A resend filled a hole and the ACK jumped over held segments: no round trip.
        this.#staleAcks = 0;
        this.#resent = null;
      } else {
        // With a window, an ACK of our base is a duplicate ACK (a hole at the
        // peer), not the answer to an extra copy: only Stop & Wait counts them.
        // Copies the peer refused were answered already; of the others, only
        // those sent in the last two timeouts can still be on their way (an
        // older one was answered, or lost).
        this.#staleAcks = this.#window > 1
          ? 0
          : Math.max(0, Math.min(2, entry.transmissions - 1 - entry.refusals));
        // It answers a transmission before the last, if it is spurious: the
        // latest of those gives the smallest round trip it can be (with one
        // resend, the first transmission's exactly).
        this.#resent = { rtt: now - entry.previousSentAt, spurious: false };
        if (this.#window === 1 && now - entry.lastSentAt < SPURIOUS_FRACTION * this.#minRtt) {
          // Too soon to answer the resend: it answers the first transmission
          // (Eifel's idea, RFC 3522, with timing in place of timestamps).
          this.#spurious();
        }
      }
    }
    this.seq = ack;
    this.times.lastData = now;
    this.#progress(now);
    this.#sinceRefusal += acked;
    this.#flight = Math.max(0, this.#flight - acked);
    // Duplicate ACKs beyond the segments this ACK covers past the first: the
    // peer held a segment this ACK does not reach.
    const heldPast = this.#duplicates > acked - 1;
    this.#duplicates = 0;
    this.#dupAcks = 0;
    if (this.#room !== Infinity) {
      // A sender that goes back N regrows what it sends by what each ACK
      // acknowledges; selective repeat, which resends one segment at a time
      // anyway, has its whole window again: its duplicate ACKs are mostly
      // holes, not a full buffer, and a slow regrowth would cost every loss.
      const goesBack = this.#arq === "go-back-n" || this.#peerDiscards;
      this.#room = goesBack ? this.#room + acked : Infinity;
      if (this.#room >= this.#window) this.#room = Infinity;
    }
    this.congestion.onAck(acked);
    const head = this.#inFlight[0];
    // RFC 6298 5.3: the timer restarts for the oldest segment still in flight.
    this.#rtxAt = head ? now + head.rto : Infinity;
    const recovering = this.#recover !== null && seqBefore(ack, this.#recover);
    if (!recovering) this.#recover = null;
    if (this.#wentBack !== null && !seqBefore(ack, this.#wentBack)) this.#wentBack = null;
    let goneBack = false;
    if (head?.kind === "data" && this.#arq === "selective-repeat" && head.lastSentAt < resentAt) {
      // The ACK covers a resend and stops at a segment sent before it: the
      // receiver acknowledged all it held, and this one was not among it
      // (RACK's idea, RFC 8985: something sent after it arrived). After a
      // fast retransmit (a partial ACK, NewReno, RFC 6582), or when more
      // duplicates came than the ACK covers (the peer holds more past it),
      // it goes again now; otherwise it gets the repair timer, not a whole
      // timeout: the ACK may answer the first copy of a needless resend.
      this.#discards++;
      this.#stops++;
      this.#stoppedAt = resentAt;
      if (this.#peerDiscards) {
        // Repair after repair, nothing past the hole was kept: the peer
        // discards such segments (a Stop & Wait receiver), so everything in
        // flight is gone. Go back N at once, or every later segment would
        // wait for a repair of its own.
        goneBack = true;
      } else if (recovering || heldPast) this.#resend(head, now, head.rto);
      this.#rtxAt = now + this.#repairTimeout(head.rto);
    }
    if (goneBack) this.#goBack(now, 0);
    else this.#fill(now);
    if (this.sent) this.#changed = true;
    if (this.#finPending && this.#inFlight.length === 0) this.#sendFin(now);
    return undefined;
  }

  #onFin(segment: Segment, now: number, recv: { duplicate: boolean }): string | undefined {
    if (this.#finSeq !== null && segment.seq === this.#finSeq && this.peerClosed) {
      recv.duplicate = true;
      this.#noProgress(segment);
      this.#reply(control({ fin: true, ack: true }, seqAdd(this.#finSeq, 1)));
      return undefined;
    }
    if (this.peerClosed) return "a second FIN";
    if (segment.seq !== this.seq) {
      if (seqBefore(segment.seq, this.seq)) this.#noProgress(segment, `expected seq=${this.seq}`);
      return `expected FIN seq=${this.seq}`;
    }
    // Host B (or both hosts, when they close at once).
    this.peerClosed = true;
    this.#finSeq = segment.seq;
    this.#progress(now);
    this.#changed = true;
    const finAck = control({ fin: true, ack: true }, seqAdd(segment.seq, 1));
    if (this.state === "established") {
      // Host B: whatever we were sending will never be acknowledged now.
      this.state = "last-ack";
      if (!this.sent) this.#abandoned = true;
      this.#clearInFlight();
      this.#clearReady();
      this.#held.clear();
      this.#transmit("fin-ack", finAck, now);
    } else {
      this.#reply(finAck); // both ends closing: our FIN is still in flight
    }
    return undefined;
  }

  #onFinAck(segment: Segment, now: number, recv: { duplicate: boolean }): string | undefined {
    if (this.#finSeq === null || segment.seq !== seqAdd(this.#finSeq, 1)) {
      return `expected FIN+ACK seq=${this.#finSeq === null ? "-" : seqAdd(this.#finSeq, 1)}`;
    }
    const lastAck = control({ ack: true }, seqAdd(this.#finSeq, 2));
    if (this.state === "fin-wait") {
      this.state = "time-wait";
      this.#clearInFlight();
      this.#changed = true;
      this.#reply(lastAck);
      // The assignment's copies: twice more, a timeout apart.
      this.#copiesLeft = 2;
      this.#copyAt = now + this.rto.rto;
      return undefined;
    }
    recv.duplicate = true;
    this.#noProgress(segment);
    if (this.state === "time-wait") {
      this.#reply(lastAck);
      return undefined;
    }
    return "a FIN+ACK, already closed";
  }

  #sendLastAckCopy(now: number): void {
    const segment = control({ ack: true }, seqAdd(this.#finSeq ?? this.seq, 2));
    this.stats.lastAckCopies++;
    this.stats.segmentsSent++;
    const output: Output = {
      kind: "send",
      segment,
      bytes: createSegment(segment),
      retransmission: false,
      lastAckCopy: true,
      rto: this.rto.rto,
    };
    if (this.#windowed) output.window = this.#state();
    this.#output.push(output);
    this.#copiesLeft--;
    if (this.#copiesLeft > 0) this.#copyAt = now + this.rto.rto;
    else this.#finish(now);
  }
}
