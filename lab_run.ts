/**
 * One transfer of the web lab: a client and a server {@linkcode SocketTCP} on
 * loopback, in this process, through the fault injector, with every segment
 * reported as it happens ({@linkcode LabMessage}); and the segment records the
 * page draws, paired by one rule ({@linkcode Pairing}, the rule of
 * `diagram.ts`'s `buildModel`), so that a live run and the replay of its trace
 * draw the same thing.
 *
 * @example A case, its messages and its verdict
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRunParams, runMessage } from "./lab_params.ts";
 * import { type LabMessage, LabTransfer } from "./lab_run.ts";
 *
 * const params = parseRunParams(new URLSearchParams("case=data-lost"));
 * const messages: LabMessage[] = [];
 * const transfer = new LabTransfer(params, runMessage(params, new Uint8Array()), (m) => messages.push(m));
 * const end = await transfer.done;
 * assert.equal(end.verdict, "exact");
 * assert.equal(messages.filter((m) => m.t === "lost").length, 1);
 * ```
 *
 * @module
 */
import { errorEs } from "./errors.ts";
import { FaultInjector, type FaultLogEntry } from "./faults.ts";
import type { Addr, DatagramLink, LinkWrapper } from "./link.ts";
import {
  ARQ_NAMES,
  type LabCase,
  type RunParams,
  serverTimeout,
  slowedPause,
} from "./lab_params.ts";
import * as scenarios from "./scenarios.ts";
import { CLIENT_TIMEOUT, SERVER_TIMEOUT } from "./scenarios.ts";
import { SocketTCP, type SocketTCPOptions } from "./socket_tcp.ts";
import { concatBytes } from "./segment.ts";
import { type Relay, type RelayEvent, startRelay } from "./relay.ts";
import { type Room, roomOf, type TraceEvent } from "./trace.ts";

/** Which end: `c` the client, `s` the server (the listener and its new socket). */
export type Side = "c" | "s";

/**
 * How a segment ended, as `diagram.ts`'s `buildModel` decides it (`flight`:
 * not yet known). A live run adds `unarrived`: the network neither dropped
 * nor delivered it, its receiver traced: it was still in the network (held
 * by a delay, or its receiver had not read anything yet) when the run ended.
 */
export type Fate = "flight" | "received" | "lost" | "unheard" | "unknown" | "unarrived";

/** One segment as the page draws it. Times are ms since the run's first instant. */
export interface LabRecord {
  /** Stable id: the `data-segment` of its drawing. */
  id: number;
  /** The end that sent it. */
  side: Side;
  /** `SYN`, `SYN+ACK`, `ACK`, `DATA`, `FIN`, `FIN+ACK`. */
  flags: string;
  /** Sequence number. */
  seq: number;
  /** Payload bytes. */
  len: number;
  /** Sent before: this is a retransmission. */
  retx: boolean;
  /** The receiver had it already. */
  dup: boolean;
  /** A fast retransmission (three duplicate ACKs), not a timeout's. */
  fast?: boolean;
  /** The sender's timeout when it was sent, ms. */
  rto?: number;
  /** When it was sent (`null`: a copy made by the network, or the sender is not in the trace). */
  tSend: number | null;
  /** When it arrived, or `null`. */
  tRecv: number | null;
  /** Its fate. */
  fate: Fate;
  /** Where the injector dropped it, when it did: on its way `out`, or on its way `in`. */
  dropped?: "out" | "in";
  /**
   * Flow control, as its receiver traced it: `none`, a segment refused for
   * lack of room (the application had not read); `again`, the repeated ACK
   * the sender took as "room again" (the receiver's window update).
   */
  room?: Room;
}

/** A timer that ran out. */
export interface LabTimeout {
  /** The end whose timer it was. */
  side: Side;
  /** When, ms since the run's first instant. */
  time: number;
  /** Flags and seq of the segment waited for. */
  flags: string;
  /** Sequence number of the segment waited for. */
  seq: number;
  /** The timeout, ms. */
  rto?: number;
}

/** Counters shown beside the drawing. */
export interface LabStats {
  /** Segments sent by both ends. */
  segments: number;
  /** Retransmissions of both ends. */
  retransmissions: number;
  /** Timeouts of both ends. */
  timeouts: number;
  /** Datagrams the injector dropped. */
  lost: number;
  /** The client's current timeout, ms. */
  rto: number;
  /** The client's smoothed round trip, ms, once measured. */
  srtt: number | null;
  /** The client's congestion window now, in segments (the window itself without congestion control). */
  cwnd: number;
  /** The largest congestion window the client reached, in segments. */
  peakCwnd: number;
  /** Fast retransmissions of both ends (three duplicate ACKs). */
  fastRetransmits: number;
}

/** What the end of a run says. */
export interface LabEnd {
  /**
   * `exact` when the server received every byte sent, in order; `unfinished`
   * when the transfer did not finish (stopped, a peer gave up, the handshake
   * never completed: {@linkcode LabEnd.error} says why); `damaged` when it
   * finished with other bytes than were sent.
   */
  verdict: "exact" | "damaged" | "unfinished";
  /** SHA-256 (hex) of the message sent. */
  sha256Sent: string;
  /** SHA-256 (hex) of what the server received. */
  sha256Received: string;
  /** Bytes the server received. */
  bytesReceived: number;
  /** Wall-clock duration, ms. */
  duration: number;
  /** Why the transfer did not finish (stopped, peer stopped answering…), when it did not. */
  error?: string;
  /** {@linkcode LabEnd.error} in Spanish, for the page's default language. */
  errorEs?: string;
  /** How the server's `recvClose` failed after every byte had arrived (a case can expect it). */
  serverCloseError?: string;
  /** {@linkcode LabEnd.serverCloseError} in Spanish. */
  serverCloseErrorEs?: string;
  /** The final drawing: every segment with its fate, by the diagram's pairing. */
  records: LabRecord[];
  /** Every timer that ran out. */
  timeouts: LabTimeout[];
  /** Counters at the end. */
  stats: LabStats;
}

/** A message of the event stream: one per event, in order. */
export type LabMessage =
  | {
    t: "start";
    bytes: number;
    sha256Sent: string;
    clientRto: number | null;
    serverRto: number | null;
  }
  | { t: "seg"; rec: LabRecord; e: TraceEvent }
  | { t: "arrive"; id: number; time: number; dup: boolean; room?: Room; e: TraceEvent }
  | { t: "lost"; id: number; at: "out" | "in" }
  | { t: "timeout"; timeout: LabTimeout; e: TraceEvent }
  | { t: "stats"; stats: LabStats }
  | ({ t: "end" } & LabEnd);

/**
 * The report's wrapper that delivers some segments late (`lateLinks`), in
 * the versions of `scenarios.ts` that have it; cases with late segments
 * come with it.
 */
const lateLinks = (scenarios as unknown as {
  lateLinks?: (rules: NonNullable<LabCase["late"]>) => LinkWrapper;
}).lateLinks;

/** How long the ends of a case wait while the other sends nothing, in ms (as the report's cases). */
const CASE_IDLE_TIMEOUT = 2000;

/** `relay.ts`'s default wait of a reordered datagram for the next one, ms (as the checker runs it). */
const RELAY_REORDER_HOLD = 100;
/** `relay.ts`'s default longest hold of a `hold` rule, ms. */
const RELAY_HOLD_LIMIT = 2000;

/** Longest run, in ms: a transfer still running then is stopped. */
export const MAX_RUN_MS = 120_000;

/** Hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Slow motion: every datagram sent waits `ms` on the wire (a timer) before
 * it leaves, so a person can follow it. Timers are cleared on close.
 */
export function slowLink(ms: number): LinkWrapper {
  return (inner: DatagramLink): DatagramLink => {
    if (ms <= 0) return inner;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    return {
      get localAddr(): Addr {
        return inner.localAddr;
      },
      send(data: Uint8Array, to: Addr): Promise<void> {
        const copy = data.slice();
        const timer = setTimeout(() => {
          timers.delete(timer);
          inner.send(copy, to).catch(() => {}); // like a datagram lost on the wire
        }, ms);
        timers.add(timer);
        return Promise.resolve();
      },
      receive: (buffer) => inner.receive(buffer),
      close(): void {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        inner.close();
      },
    };
  };
}

/**
 * What the lab adds to each send event of a trace it saves: whether the
 * network dropped it (`"out"`, `"in"`) or not (`false`), so that a replay
 * draws the losses the live run drew.
 */
export interface LabDropMark {
  /** Where the segment was dropped, or `false` when the network passed it on. */
  dropped?: "out" | "in" | false;
}

/** Port of a `host:port` address (also `[v6]:port`). */
function portOf(address: string): number {
  const match = /:(\d+)$/.exec(address);
  return match ? Number(match[1]) : NaN;
}

/**
 * Pairs the segments of a trace as they happen, in time order: a reception
 * goes with the latest send of the same segment from the other side still
 * unanswered (with a window: the oldest, so that the copies of a burst do not
 * cross); at the end, a send nobody received was `lost`, or `unheard` when
 * its receiver had gone quiet before it was sent. `buildModel` (`diagram.ts`)
 * pairs the same way for the traces the tests compare (it takes the earliest
 * copy within a 1 ms burst); this does it in one pass, so that a live run of
 * 20,000 segments is paired as it goes, and the tests check that both agree.
 *
 * The listener does not trace every SYN it receives, so an unanswered SYN
 * counts as received when it is the client's last SYN before the server's
 * first SYN+ACK.
 *
 * When the network's own word is known (a live run: the injector reports
 * every drop; a trace the lab saved: each send says {@linkcode LabDropMark}),
 * a send is lost exactly when the network dropped it, and one that arrived
 * nowhere else was `unheard`: its receiver had stopped reading.
 */
export class Pairing {
  /** The records, in the order of their first event. */
  readonly records: LabRecord[] = [];
  /** The timers that ran out. */
  readonly timeouts: LabTimeout[] = [];
  readonly #t0: number;
  readonly #open: LabRecord[] = [];
  readonly #sends = new Map<LabRecord, TraceEvent>();
  readonly #lastSeen = new Map<number, number>();
  readonly #traced = new Set<Side>();
  /** Sends whose fate the network told (dropped or not). */
  readonly #known = new Set<LabRecord>();
  /** Sends the network held back (a delay): not yet delivered when they were sent on. */
  readonly #held = new Set<LabRecord>();
  /** Both ends are traced from the start (a live run), whether or not they said anything. */
  readonly #live: boolean;
  #firstSynAck?: TraceEvent;

  /** With a window, identical segments in flight are received in the order they were sent. */
  readonly #inOrder: boolean;

  /**
   * Times of the records are counted from `t0` (epoch ms). With `window`
   * (a sender with several segments in flight), a reception goes with the
   * OLDEST unanswered send of the same segment: the duplicate ACKs of a
   * burst and the copies of a Go-Back-N resend cross nowhere on loopback.
   * With `live`, both ends are traced from the first instant (a live run):
   * a send that never reached an end that said nothing at all was still in
   * the network, not sent to an untraced end.
   */
  constructor(t0: number, window = false, live = false) {
    this.#t0 = t0;
    this.#inOrder = window;
    this.#live = live;
  }

  /** The most recent record, if any. */
  get last(): LabRecord | undefined {
    return this.records.at(-1);
  }

  /**
   * Feeds one event of side `side`, in time order; returns the message that
   * says what it drew. With `known`, the network will tell whether a send is
   * dropped ({@linkcode Pairing.drop}); a send event that carries its
   * {@linkcode LabDropMark} says it itself.
   */
  feed(event: TraceEvent, side: Side, known = false): LabMessage {
    const time = event.time - this.#t0;
    this.#traced.add(side);
    this.#lastSeen.set(portOf(event.local), event.time);
    if (event.kind === "timeout") {
      const timeout: LabTimeout = {
        side,
        time,
        flags: event.flags,
        seq: event.seq,
        ...(event.rto !== undefined ? { rto: event.rto } : {}),
      };
      this.timeouts.push(timeout);
      return { t: "timeout", timeout, e: event };
    }
    if (event.kind === "send") {
      if (event.flags === "SYN+ACK") this.#firstSynAck ??= event;
      const rec: LabRecord = {
        id: this.records.length,
        side,
        flags: event.flags,
        seq: event.seq,
        len: event.len,
        retx: event.retransmission ?? false,
        dup: false,
        ...(event.fastRetransmit ? { fast: true } : {}),
        ...(event.rto !== undefined ? { rto: event.rto } : {}),
        tSend: time,
        tRecv: null,
        fate: "flight",
      };
      this.records.push(rec);
      this.#open.push(rec);
      this.#sends.set(rec, event);
      const mark = (event as TraceEvent & LabDropMark).dropped;
      if (known || mark !== undefined) this.#known.add(rec);
      if (mark === "out" || mark === "in") this.drop(rec, mark);
      return { t: "seg", rec: { ...rec }, e: event };
    }
    const same = (r: LabRecord) =>
      r.side !== side && r.flags === event.flags && r.seq === event.seq && r.len === event.len;
    const index = this.#inOrder ? this.#open.findIndex(same) : this.#open.findLastIndex(same);
    if (index >= 0) {
      const [rec] = this.#open.splice(index, 1);
      rec.tRecv = time;
      rec.fate = "received";
      rec.dup = event.duplicate ?? false;
      const room = roomOf(event.reason);
      if (room) rec.room = room;
      return { t: "arrive", id: rec.id, time, dup: rec.dup, ...(room ? { room } : {}), e: event };
    }
    // A copy the network made, or a send this trace lacks: drawn as its own arrow.
    const rec: LabRecord = {
      id: this.records.length,
      side: side === "c" ? "s" : "c",
      flags: event.flags,
      seq: event.seq,
      len: event.len,
      retx: false,
      dup: event.duplicate ?? false,
      tSend: null,
      tRecv: time,
      fate: "unknown",
    };
    this.records.push(rec);
    return { t: "seg", rec: { ...rec }, e: event };
  }

  /** Marks `rec` as dropped by the injector (`out` on its way out, `in` on its way in). */
  drop(rec: LabRecord, where: "out" | "in"): LabMessage {
    const index = this.#open.indexOf(rec);
    if (index >= 0) this.#open.splice(index, 1);
    rec.fate = "lost";
    rec.dropped = where;
    return { t: "lost", id: rec.id, at: where };
  }

  /** Marks `rec` as held back by the network (a delay): unless it arrives, it was still on its way. */
  hold(rec: LabRecord): void {
    this.#held.add(rec);
  }

  /** The latest (with a window: the oldest) unanswered record with these flags and seq (and sent by `side`, when given). */
  findOpen(flags: string, seq: number, side?: Side, len?: number): LabRecord | undefined {
    const same = (r: LabRecord) =>
      r.flags === flags && r.seq === seq && (side === undefined || r.side === side) &&
      (len === undefined || r.len === len);
    return this.#inOrder ? this.#open.find(same) : this.#open.findLast(same);
  }

  /** Decides the fate of every send still unanswered; returns the records. */
  finish(): LabRecord[] {
    const synAck = this.#firstSynAck;
    for (const rec of this.#open) {
      const send = this.#sends.get(rec)!;
      const other: Side = rec.side === "c" ? "s" : "c";
      if (!this.#traced.has(other)) {
        rec.fate = this.#live ? "unarrived" : "unknown";
      } else if (this.#held.has(rec)) {
        rec.fate = "unarrived";
      } else if (this.#known.has(rec) && rec.flags !== "SYN") {
        rec.fate = "unheard";
      } else if (rec.flags === "SYN" && synAck && this.#answeredSyn(send, synAck)) {
        rec.fate = "received";
      } else {
        const last = this.#lastSeen.get(portOf(send.peer));
        rec.fate = last !== undefined && last < send.time ? "unheard" : "lost";
      }
    }
    this.#open.length = 0;
    return this.records;
  }

  #answeredSyn(syn: TraceEvent, synAck: TraceEvent): boolean {
    if (synAck.seq !== syn.seq + 1 || synAck.time < syn.time) return false;
    for (const [rec, e] of this.#sends) {
      if (
        rec.flags === "SYN" && e.local === syn.local && e.time > syn.time && e.time < synAck.time
      ) return false;
    }
    return true;
  }
}

/**
 * The sides of a trace's sockets: a port that sends a SYN or receives a
 * SYN+ACK is a client's; every other port is the server's (the listener and
 * the sockets it accepted). Without a handshake in the trace, the first
 * event's socket is taken for the client.
 */
export function sidesOf(events: readonly TraceEvent[]): (event: TraceEvent) => Side {
  const clients = new Set<number>();
  for (const e of events) {
    if (e.kind === "send" && e.flags === "SYN") clients.add(portOf(e.local));
    if (e.kind === "recv" && e.flags === "SYN+ACK") clients.add(portOf(e.local));
    if (e.kind === "send" && e.flags === "SYN+ACK") clients.add(portOf(e.peer));
    if (e.kind === "recv" && e.flags === "SYN") clients.add(portOf(e.peer));
  }
  if (clients.size === 0 && events.length > 0) clients.add(portOf(events[0].local));
  return (event) => clients.has(portOf(event.local)) ? "c" : "s";
}

/** The records of a whole trace (any order), as a live run of it would end. */
export function recordsOf(
  events: readonly TraceEvent[],
  t0: number,
): { records: LabRecord[]; timeouts: LabTimeout[] } {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const side = sidesOf(sorted);
  // Only a window's events carry the window state (`base`).
  const pairing = new Pairing(t0, sorted.some((e) => e.base !== undefined));
  for (const event of sorted) pairing.feed(event, side(event));
  return { records: pairing.finish(), timeouts: pairing.timeouts };
}

/**
 * One live transfer. It starts when constructed, reports every event to
 * `emit` synchronously, and settles {@linkcode LabTransfer.done} after every
 * socket is closed. {@linkcode LabTransfer.stop} (or `signal`) ends it early.
 */
export class LabTransfer {
  /** Settles with the verdict once every socket is closed; never rejects. */
  readonly done: Promise<LabEnd>;
  readonly #params: RunParams;
  readonly #message: Uint8Array;
  readonly #emit: (message: LabMessage) => void;
  readonly #abort = new AbortController();
  #pairing = new Pairing(performance.timeOrigin + performance.now());
  readonly #sockets = new Set<SocketTCP>();
  readonly #injectors: FaultInjector[] = [];
  /** The relay between the ends, for a conformance case. */
  #relay?: Relay;
  /** The relay's datagrams still drawn in flight, by its datagram id. */
  readonly #relayed = new Map<number, LabRecord>();
  /** Datagrams the relay dropped (or discarded at its close), drawn lost. */
  #relayLost = 0;
  #client?: SocketTCP;
  /**
   * What the traces of both ends said so far: the counters are counted from
   * the very events the page draws, so that a half-open connection (the
   * listener's handshake that never completed, whose socket `accept` never
   * returned) is counted as it is drawn.
   */
  readonly #counts = { segments: 0, retransmissions: 0, timeouts: 0, fastRetransmits: 0 };
  /** Several segments in flight: a window, or congestion control. */
  readonly #window: boolean;
  #serverCloseError?: { serverCloseError: string; serverCloseErrorEs: string };

  /** Starts the transfer of `message` with `params`. */
  constructor(
    params: RunParams,
    message: Uint8Array,
    emit: (message: LabMessage) => void,
    signal?: AbortSignal,
  ) {
    this.#params = params;
    this.#message = message;
    this.#emit = emit;
    this.#window = params.window > 1 || params.cc !== "none";
    if (signal?.aborted) this.#abort.abort(signal.reason);
    signal?.addEventListener("abort", () => this.stop(), { once: true });
    this.done = this.#run();
  }

  /** Ends the transfer now: every socket is released, and `done` says why (`reasonEs` in Spanish). */
  stop(reason = "stopped", reasonEs = reason === "stopped" ? "detenida" : reason): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(new StopError(reason, reasonEs));
    for (const socket of this.#sockets) void socket.close().catch(() => {});
  }

  /**
   * The counters now. Segments, retransmissions, timeouts and fast
   * retransmits are counted from the trace events of both ends (what the
   * page draws), not from the sockets' own stats: a handshake the listener
   * never completed has no socket to ask, yet its SYN+ACKs and timeouts are
   * drawn.
   */
  stats(): LabStats {
    const { segments, retransmissions, timeouts, fastRetransmits } = this.#counts;
    const lost = this.#relayLost +
      this.#injectors.reduce((n, f) => n + f.stats.out.dropped + f.stats.in.dropped, 0);
    const client = this.#client?.stats;
    return {
      segments,
      retransmissions,
      timeouts,
      lost,
      rto: client?.rto ?? 0,
      srtt: client?.srtt ?? null,
      cwnd: client?.cwnd ?? this.#params.window,
      peakCwnd: client?.peakCwnd ?? this.#params.window,
      fastRetransmits,
    };
  }

  #sink(side: Side): (event: TraceEvent) => void {
    return (event) => {
      const counts = this.#counts;
      if (event.kind === "send") {
        counts.segments++;
        if (event.retransmission) counts.retransmissions++;
        if (event.fastRetransmit) counts.fastRetransmits++;
      } else if (event.kind === "timeout") counts.timeouts++;
      this.#emit(this.#pairing.feed(event, side, true));
    };
  }

  /**
   * A decision of the injector: a drop (the segment just sent, out, or the
   * latest in flight like it, in), or a delay, held until its fate is known.
   */
  #onDecision(entry: FaultLogEntry): void {
    const held = entry.delays.length > 0 && entry.delays.every((d) => d > 0);
    if ((entry.action !== "drop" && !held) || entry.seq === null) return;
    const last = this.#pairing.last;
    const rec = entry.direction === "out" && last?.flags === entry.kind &&
        last.seq === entry.seq && last.fate === "flight"
      ? last
      : this.#pairing.findOpen(entry.kind, entry.seq);
    if (!rec) return;
    if (entry.action === "drop") this.#emit(this.#pairing.drop(rec, entry.direction));
    else this.#pairing.hold(rec);
  }

  /**
   * A datagram's fate in the relay: a drop (or a copy discarded when the
   * relay closed) marks the segment its sender just sent lost, on the wire.
   */
  #onRelayEvent(event: RelayEvent): void {
    if (event.type === "datagram") {
      if (event.seq === null) return;
      const side: Side = event.direction === "toServer" ? "c" : "s";
      const rec = this.#pairing.findOpen(event.kind, event.seq, side, event.len);
      if (!rec) return;
      if (event.fate === "dropped") {
        this.#relayLost++;
        this.#emit(this.#pairing.drop(rec, "out"));
      } else this.#relayed.set(event.id, rec);
    } else if (event.type === "discard") {
      const rec = this.#relayed.get(event.id);
      if (rec?.fate === "flight") {
        this.#relayLost++;
        this.#emit(this.#pairing.drop(rec, "out"));
      }
    }
  }

  /** Starts the relay of a conformance case in front of the listener; returns where to connect. */
  async #startRelay(target: Addr): Promise<Addr> {
    const setup = this.#params.case?.relay;
    if (!setup) return target;
    // Slow motion lengthens the timeouts by twice its delay: the relay's own waits grow as
    // much, so that a reordered datagram still waits for the retransmission it waited for at
    // real speed (100 ms against timeouts of 50 and 80), and slow motion replays the same run.
    const slow = 2 * this.#params.slow;
    this.#relay = await startRelay({
      listen: { hostname: "127.0.0.1", port: 0 },
      target,
      reorderHold: RELAY_REORDER_HOLD + slow,
      holdLimit: RELAY_HOLD_LIMIT + 2 * slow,
      rules: setup.rules,
      toServer: setup.random,
      toClient: setup.random,
      seed: setup.random?.seed ?? 0,
      onEvent: (event) => this.#onRelayEvent(event),
    });
    return this.#relay.addr;
  }

  #socketOptions(side: Side, link: LinkWrapper): SocketTCPOptions {
    const p = this.#params;
    const slow = 2 * p.slow;
    const fixed = p.case
      ? (side === "c" ? CLIENT_TIMEOUT : SERVER_TIMEOUT)
      : (side === "c" ? p.rto : serverTimeout(p.rto));
    return {
      mss: p.mss,
      link,
      onTrace: this.#sink(side),
      random: () => 0.5,
      maxRetries: 20,
      window: p.window,
      arq: ARQ_NAMES[p.arq],
      congestion: p.cc,
      idleTimeout: (p.case ? CASE_IDLE_TIMEOUT : 10_000) + slow * 4,
      ...(p.timeout === "fixed" || p.case
        ? { timeout: fixed + slow }
        : { rto: { initial: 100 + slow, max: 500 + 2 * slow } }),
    };
  }

  #wrappers(): { client: LinkWrapper; server: LinkWrapper } {
    const p = this.#params;
    const onDecision = (entry: FaultLogEntry) => this.#onDecision(entry);
    const slow = slowLink(p.slow);
    // One late wrapper for both ends: its rules count segments across them, like the injector's.
    const late = p.case?.late && lateLinks ? lateLinks(p.case.late) : undefined;
    const through = (faults: FaultInjector): LinkWrapper => {
      this.#injectors.push(faults);
      return (link) => faults.wrap(late ? late(slow(link)) : slow(link));
    };
    if (p.case) {
      // One injector for both ends: the case's rules count segments across them, as in the report.
      const shared = through(
        new FaultInjector({ seed: p.seed, rules: p.case.rules, log: false, onDecision }),
      );
      return { client: shared, server: shared };
    }
    return {
      client: through(new FaultInjector({ seed: p.seed, out: p.c2s, log: false, onDecision })),
      server: through(
        new FaultInjector({
          seed: (p.seed ^ 0x5bd1e995) >>> 0,
          out: p.s2c,
          log: false,
          onDecision,
        }),
      ),
    };
  }

  async #run(): Promise<LabEnd> {
    const started = performance.now();
    const signal = this.#abort.signal;
    const sha256Sent = await sha256Hex(this.#message);
    const wrappers = this.#wrappers();
    const clientOptions = this.#socketOptions("c", wrappers.client);
    const serverOptions = this.#socketOptions("s", wrappers.server);
    this.#emit({
      t: "start",
      bytes: this.#message.length,
      sha256Sent,
      clientRto: clientOptions.timeout ?? null,
      serverRto: serverOptions.timeout ?? null,
    });
    const limit = setTimeout(
      () =>
        this.stop(
          `time limit of ${MAX_RUN_MS} ms reached`,
          `se alcanzó el límite de ${MAX_RUN_MS} ms`,
        ),
      MAX_RUN_MS,
    );
    const listener = new SocketTCP(serverOptions);
    const client = new SocketTCP(clientOptions);
    this.#client = client;
    this.#sockets.add(listener).add(client);
    let received: Uint8Array = new Uint8Array();
    let error: unknown;
    try {
      if (signal.aborted) throw signal.reason;
      listener.bind({ hostname: "127.0.0.1", port: 0 });
      const address = await this.#startRelay(listener.localAddr);
      if (signal.aborted) throw signal.reason;
      this.#pairing = new Pairing(performance.timeOrigin + performance.now(), this.#window, true);
      // When one end fails, the other is stopped rather than left waiting for it.
      const fail = (caught: unknown) => this.stop(describe(caught), describeEs(caught));
      await Promise.all([
        this.#serve(listener, signal).then((bytes) => received = bytes, fail),
        this.#sendAll(client, address, signal).catch(fail),
      ]);
      if (signal.aborted) error = signal.reason;
    } catch (caught) {
      error = caught;
    } finally {
      clearTimeout(limit);
      await Promise.all([...this.#sockets].map((s) => s.close().catch(() => {})));
      await this.#relay?.close();
    }
    const sha256Received = await sha256Hex(received);
    const exact = received.length === this.#message.length && sha256Received === sha256Sent;
    const end: LabEnd = {
      verdict: error !== undefined ? "unfinished" : exact ? "exact" : "damaged",
      sha256Sent,
      sha256Received,
      bytesReceived: received.length,
      duration: performance.now() - started,
      ...(error !== undefined ? { error: describe(error), errorEs: describeEs(error) } : {}),
      ...(this.#serverCloseError ? this.#serverCloseError : {}),
      records: this.#pairing.finish(),
      timeouts: this.#pairing.timeouts,
      stats: this.stats(),
    };
    this.#emit({ t: "end", ...end });
    return end;
  }

  async #serve(listener: SocketTCP, signal: AbortSignal): Promise<Uint8Array> {
    const [socket] = await listener.accept({ signal });
    this.#sockets.add(socket);
    if (signal.aborted) throw signal.reason;
    const chunks: Uint8Array[] = [];
    let total = 0;
    // A case's slow reader waits before each recv (longer in slow motion, as the timeouts do).
    const reads = this.#params.case?.serverReads ?? this.#params.reads;
    while (total < this.#message.length) {
      if (reads) await abortableDelay(slowedPause(reads.pause, this.#params.slow), signal);
      const chunk = await socket.recv(reads?.buffSize ?? this.#message.length - total, { signal });
      if (chunk.length === 0) break;
      chunks.push(chunk);
      total += chunk.length;
    }
    try {
      await socket.recvClose({ signal });
    } catch (error) {
      // Every byte arrived; only the close failed (as "all FINs lost" expects): say so, go on.
      if (signal.aborted || total < this.#message.length) throw error;
      const name = (error as Error).name;
      this.#serverCloseError = {
        serverCloseError: `${name}: ${describe(error)}`,
        serverCloseErrorEs: `${name}: ${describeEs(error)}`,
      };
    }
    return concatBytes(chunks);
  }

  async #sendAll(client: SocketTCP, address: Addr, signal: AbortSignal): Promise<void> {
    await client.connect(address, { signal });
    const pause = this.#params.case?.pauseAfterConnect;
    if (pause) await abortableDelay(slowedPause(pause, this.#params.slow), signal);
    await client.send(this.#message, { signal });
    if (signal.aborted) throw signal.reason;
    await client.close();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why a run was stopped (`stop`), in English and in Spanish. */
class StopError extends Error {
  constructor(message: string, readonly messageEs: string) {
    super(message);
    this.name = "StopError";
  }
}

/** {@linkcode describe} in Spanish: the lab's own reasons, and the library's errors ({@linkcode errorEs}). */
function describeEs(error: unknown): string {
  return error instanceof StopError ? error.messageEs : errorEs(error);
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
