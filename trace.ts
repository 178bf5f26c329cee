/**
 * Trace events: one per segment a socket sends or receives, and one per
 * timeout. The client and server write them as JSON lines (`--trace-file`)
 * or as text (`--trace`); the diagram and plot tools read them back.
 *
 * @module
 */

/**
 * What happened to a segment, or that a timer expired.
 *
 * @example A timeout, as `--trace` prints it
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceLine, type TraceKind } from "./trace.ts";
 * const kind: TraceKind = "timeout";
 * const line = formatTraceLine({
 *   time: 1250, kind, local: "127.0.0.1:5000", peer: "127.0.0.1:8000",
 *   flags: "DATA", seq: 42, len: 16, rto: 250,
 * }, 1000);
 * assert.equal(line, "  250.000 ms  ⏱  DATA     seq=42 len=16  [timeout, rto 250 ms]");
 * ```
 */
export type TraceKind = "send" | "recv" | "timeout";

/**
 * One event of a socket's life, as written to a trace file (one JSON object per line).
 *
 * @example A duplicate ACK received
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceLine, type TraceEvent } from "./trace.ts";
 * const event: TraceEvent = {
 *   time: 1003, kind: "recv", local: "127.0.0.1:8000", peer: "127.0.0.1:5000",
 *   flags: "ACK", seq: 58, len: 0, duplicate: true,
 * };
 * const line = formatTraceLine(event, 1000);
 * assert.equal(line, "    3.000 ms  ←  ACK      seq=58 len=0  [duplicate]");
 * ```
 */
export interface TraceEvent {
  /** Wall-clock time in milliseconds since the Unix epoch, fractional, so traces of two processes merge. */
  time: number;
  /** `send`: a segment went out; `recv`: a segment came in from the peer; `timeout`: a wait expired. */
  kind: TraceKind;
  /** The socket's own address, `host:port`. */
  local: string;
  /** The peer's address, `host:port` (for `timeout`, the address waited on). */
  peer: string;
  /** Flags of the segment: `SYN`, `SYN+ACK`, `ACK`, `DATA`, `FIN`, `FIN+ACK` (for `timeout`, of the segment waited for). */
  flags: string;
  /** Sequence number of the segment (for `timeout`, the one sent and unacknowledged). */
  seq: number;
  /** Payload length in bytes. */
  len: number;
  /** For `send`: this segment was sent before and is sent again. */
  retransmission?: boolean;
  /** For `recv`: this segment, or this acknowledgement, was already received. */
  duplicate?: boolean;
  /** For `send` and `timeout`: the retransmission timeout in force, in ms. */
  rto?: number;
  /** For `send`: one of the assignment's deliberate extra copies of the last ACK (not a retransmission). */
  lastAckCopy?: boolean;
  /** For `send`: resent on the third duplicate ACK, before its timeout (fast retransmit). */
  fastRetransmit?: boolean;
  /** For `recv`: a data segment ahead of a hole, held until the hole fills (selective repeat). */
  held?: boolean;
  /**
   * For `send` and `recv`, with a window or congestion control only: the
   * sender's oldest unacknowledged sequence number after the event (`base`)
   * and its next new one (`next`), so `next - base` bytes are in flight.
   */
  base?: number;
  /** See `base`. */
  next?: number;
  /** For `send` and `recv`, with congestion control only: the congestion window after the event, in segments (fractional in congestion avoidance). */
  cwnd?: number;
  /** For `send` and `recv`, with congestion control only: the slow start threshold after the event, in segments. */
  ssthresh?: number;
  /**
   * For `recv`: why the segment was not accepted ("expected SYN+ACK seq=22",
   * "no room: …"); absent when it was. For `timeout`: what the timeout ended,
   * when it ended something ("handshake given up after 21 SYN+ACKs").
   */
  reason?: string;
}

/**
 * How a `recv` event's `reason` begins when it is about flow control: as
 * `connection.ts` writes it, and as the drawings (`diagram.ts`, the lab)
 * find it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ROOM_REASONS } from "./trace.ts";
 * const reason = "room again: a second answer to our last try; it goes again";
 * assert.ok(reason.startsWith(ROOM_REASONS.again));
 * assert.ok(!"alive, no room: …".startsWith(ROOM_REASONS.refused));
 * ```
 */
export const ROOM_REASONS = {
  /** A receiver did not take the segment: its application had not read what came before. */
  refused: "no room",
  /** A sender heard its segment answered "alive, no room" (the ACK of what came before). */
  noRoom: "alive, no room",
  /** A sender heard the receiver's window update: room again, its segment goes at once. */
  again: "room again",
} as const;

/** What a receiver's reason says of its room: see {@linkcode roomOf}. */
export type Room = "none" | "again";

/**
 * What a receiver's `reason` says of its room, as the drawings mark it:
 * `none`, a segment it refused (its application had not read); `again`, the
 * repeated ACK its sender took for "room again" (the window update); else
 * `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roomOf } from "./trace.ts";
 * assert.equal(roomOf("no room: the application has not read what came before"), "none");
 * assert.equal(roomOf("room again: a second answer to our last try; it goes again"), "again");
 * assert.equal(roomOf("alive, no room: it acknowledges what came before our segment"), undefined);
 * ```
 */
export function roomOf(reason: string | undefined): Room | undefined {
  if (reason?.startsWith(ROOM_REASONS.refused)) return "none";
  if (reason?.startsWith(ROOM_REASONS.again)) return "again";
  return undefined;
}

/**
 * Receives trace events.
 *
 * @example The segments a client sends in a connection with no data
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketTCP } from "./socket_tcp.ts";
 * import type { TraceEvent, TraceSink } from "./trace.ts";
 *
 * const events: TraceEvent[] = [];
 * const sink: TraceSink = (event) => events.push(event);
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP({ onTrace: sink });
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * // `close` sends the last ACK three times: once, then two copies a timeout apart.
 * assert.deepEqual(
 *   events.filter((e) => e.kind === "send").map((e) => e.flags),
 *   ["SYN", "ACK", "FIN", "ACK", "ACK", "ACK"],
 * );
 * ```
 */
export type TraceSink = (event: TraceEvent) => void;

/**
 * Formats an event as one line of text for `--trace`:
 * time (ms since `origin`), direction, flags, seq, length, marks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceLine } from "./trace.ts";
 * const line = formatTraceLine({
 *   time: 1012.5, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000",
 *   flags: "DATA", seq: 42, len: 16, retransmission: true, rto: 3,
 * }, 1000);
 * assert.equal(line, "   12.500 ms  →  DATA     seq=42 len=16  [retransmission, rto 3 ms]");
 * ```
 *
 * @example A fast retransmission under Reno, with the window state
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceLine } from "./trace.ts";
 * const line = formatTraceLine({
 *   time: 1020, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000",
 *   flags: "DATA", seq: 63, len: 4, retransmission: true, fastRetransmit: true, rto: 100,
 *   base: 63, next: 95, cwnd: 7, ssthresh: 4,
 * }, 1000);
 * assert.equal(
 *   line,
 *   "   20.000 ms  →  DATA     seq=63 len=4  [fast retransmit, rto 100 ms, cwnd 7/4]",
 * );
 * ```
 */
export function formatTraceLine(event: TraceEvent, origin: number): string {
  const time = (event.time - origin).toFixed(3).padStart(9);
  const arrow = event.kind === "send" ? "→" : event.kind === "recv" ? "←" : "⏱";
  const marks: string[] = [];
  if (event.kind === "timeout") marks.push("timeout");
  if (event.fastRetransmit) marks.push("fast retransmit");
  else if (event.retransmission) marks.push("retransmission");
  if (event.held) marks.push("held out of order");
  if (event.lastAckCopy) marks.push("copy of the last ACK");
  if (event.duplicate) marks.push("duplicate");
  if (event.rto !== undefined && event.kind !== "recv") marks.push(`rto ${round(event.rto)} ms`);
  if (event.reason !== undefined) {
    marks.push(event.kind === "recv" ? `not accepted: ${event.reason}` : event.reason);
  }
  if (event.cwnd !== undefined) marks.push(`cwnd ${round(event.cwnd)}/${event.ssthresh}`);
  const tail = marks.length > 0 ? `  [${marks.join(", ")}]` : "";
  return `${time} ms  ${arrow}  ${event.flags.padEnd(8)} seq=${event.seq} len=${event.len}${tail}`;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/**
 * What is wrong with a line of a trace: `"json"` (not JSON), `"object"` (JSON
 * but not an object), or the field of an event that is missing or of the
 * wrong type.
 */
export type TraceLineProblem = "json" | "object" | "time" | "kind" | "flags" | "seq" | "len";

const PROBLEM_TEXT: Record<Exclude<TraceLineProblem, "json">, string> = {
  object: "not a JSON object",
  time: '"time" is missing or not a number',
  kind: '"kind" is not send, recv or timeout',
  flags: '"flags" is missing or not a string',
  seq: '"seq" is missing or not a number',
  len: '"len" is missing or not a number',
};

/**
 * A line of a trace that is not an event: which line (from 1) and what is
 * wrong with it, for a tool to say in its own words (the lab says it in
 * Spanish too).
 */
export class TraceParseError extends SyntaxError {
  /** Creates the error for line `line` (from 1). */
  constructor(readonly line: number, readonly problem: TraceLineProblem) {
    super(
      problem === "json"
        ? `Cannot parse trace: line ${line} is not JSON`
        : `Cannot parse trace: line ${line} is not a trace event (${PROBLEM_TEXT[problem]})`,
    );
    this.name = "TraceParseError";
  }
}

/**
 * Parses a trace file's text (JSON lines) into events, skipping blank lines.
 *
 * @throws {TraceParseError} naming the line that is not a JSON trace event,
 * and what is wrong with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace, TraceParseError } from "./trace.ts";
 * const text = '{"time":1,"kind":"send","local":"127.0.0.1:5000",' +
 *   '"peer":"127.0.0.1:8000","flags":"SYN","seq":7,"len":0}\n\n';
 * const [event] = parseTrace(text);
 * assert.equal(event.kind, "send");
 * assert.equal(event.flags, "SYN");
 * assert.equal(event.seq, 7);
 * assert.throws(() => parseTrace(text + '{"time":2,"kind":"send","flags":"ACK","len":0}'), {
 *   name: "TraceParseError",
 *   message: 'Cannot parse trace: line 3 is not a trace event ("seq" is missing or not a number)',
 * });
 * ```
 */
export function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      throw new TraceParseError(index + 1, "json");
    }
    const problem = eventProblem(event);
    if (problem) throw new TraceParseError(index + 1, problem);
    events.push(event as TraceEvent);
  });
  return events;
}

/** What keeps `value` from being a trace event, or `undefined` when it is one. */
function eventProblem(value: unknown): TraceLineProblem | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "object";
  const e = value as Record<string, unknown>;
  if (typeof e.time !== "number") return "time";
  if (e.kind !== "send" && e.kind !== "recv" && e.kind !== "timeout") return "kind";
  if (typeof e.flags !== "string") return "flags";
  if (typeof e.seq !== "number") return "seq";
  if (typeof e.len !== "number") return "len";
  return undefined;
}
