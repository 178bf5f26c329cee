/**
 * Replay in the web lab: the trace files a user opens (`--trace-file` of the
 * client, the server, or both) become the same records a live run draws
 * ({@linkcode recordsOf}).
 *
 * Each file format is one entry of {@linkcode TRACE_FORMATS}: how to
 * recognise its first JSON line, and how to turn its text into trace events:
 * an endpoint's trace (`socket`), or a relay's (`relay`: the wire view, every
 * datagram both ways with its fate, drawn as two lanes, client and server,
 * with the relay's drops lost where it dropped them).
 *
 * @example Replay a client's trace
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseReplay } from "./lab_trace.ts";
 *
 * const line = '{"time":5,"kind":"send","local":"127.0.0.1:5000",' +
 *   '"peer":"127.0.0.1:8000","flags":"SYN","seq":50,"len":0}';
 * const replay = parseReplay([{ name: "cliente.jsonl", text: line }]);
 * assert.equal(replay.format, "socket");
 * assert.equal(replay.records[0].flags, "SYN");
 * ```
 *
 * @module
 */
import {
  type LabDropMark,
  type LabRecord,
  type LabTimeout,
  recordsOf,
  sidesOf,
} from "./lab_run.ts";
import { parseRelayTrace, type RelayTraceRecord } from "./relay.ts";
import { parseTrace, type TraceEvent, type TraceLineProblem, TraceParseError } from "./trace.ts";

/**
 * A trace the lab refuses to replay: the reason in English (`message`) and
 * in Spanish (`messageEs`, for the page's default language).
 */
export class TraceError extends SyntaxError {
  /** Creates the error. */
  constructor(message: string, readonly messageEs: string) {
    super(message);
    this.name = "TraceError";
  }
}

/** The Spanish of {@linkcode TraceParseError}'s problems with a line. */
const LINE_PROBLEM_ES: Record<Exclude<TraceLineProblem, "json">, string> = {
  object: "no es un objeto JSON",
  time: 'falta "time" o no es un número',
  kind: '"kind" no es send, recv ni timeout',
  flags: 'falta "flags" o no es un texto',
  seq: 'falta "seq" o no es un número',
  len: 'falta "len" o no es un número',
};

/**
 * The Spanish of a reason a file's parser gave: the lab's own
 * ({@linkcode TraceError}), or `parseTrace`'s ({@linkcode TraceParseError},
 * `trace.ts`); any other stays in English.
 */
function reasonEs(error: unknown): string {
  if (error instanceof TraceError) return error.messageEs;
  if (!(error instanceof TraceParseError)) return (error as Error)?.message ?? String(error);
  const start = `no se puede leer la traza: la línea ${error.line}`;
  return error.problem === "json"
    ? `${start} no es JSON`
    : `${start} no es un evento de traza (${LINE_PROBLEM_ES[error.problem]})`;
}

/** A trace file format the lab can replay. */
export interface TraceFormat {
  /** Short name, reported to the page. */
  id: string;
  /** Whether the first JSON object of a file is of this format. */
  detect(first: Record<string, unknown>): boolean;
  /** The file's events. @throws {SyntaxError} naming the line that is wrong ({@linkcode TraceError} in both languages). */
  parse(text: string): TraceEvent[];
}

/**
 * A relay's trace as the events of its two ends: each datagram that reached
 * the relay is a send of its sender, marked dropped or not
 * ({@linkcode LabDropMark}), and each copy the relay passed on is a
 * reception at the other end, when it went out (at once, or at its
 * `released` line). A datagram whose every copy was `discarded` at the
 * relay's close was dropped too. A segment seen before from the same end is
 * a retransmission.
 *
 * @example A SYN the relay dropped, then its retransmission passed on
 * ```ts
 * import assert from "node:assert/strict";
 * import { relayEvents } from "./lab_trace.ts";
 * const line = (time: number, fate: string) =>
 *   JSON.stringify({ time, kind: "relay", id: time, direction: "toServer", client: "127.0.0.1:5000",
 *     server: "127.0.0.1:8000", flags: "SYN", seq: 7, len: 0, fate });
 * const events = relayEvents([line(1, "dropped"), line(51, "forwarded")].join("\n"));
 * assert.deepEqual(events.map((e) => `${e.kind} ${e.local} ${e.dropped}`), [
 *   "send 127.0.0.1:5000 out",
 *   "send 127.0.0.1:5000 false",
 *   "recv 127.0.0.1:8000 undefined",
 * ]);
 * assert.equal(events[1].retransmission, true);
 * ```
 */
export function relayEvents(text: string): (TraceEvent & LabDropMark)[] {
  const records = parseRelayTrace(text);
  if (records.length === 0) {
    throw new TraceError(
      "a relay trace without datagrams: nothing to draw",
      "una traza de relay sin datagramas: no hay nada que dibujar",
    );
  }
  const later = new Map<number, RelayTraceRecord[]>();
  for (const r of records) {
    const direction = (r as { direction: unknown }).direction;
    if (direction !== "toServer" && direction !== "toClient") {
      throw new TraceError(
        `datagram ${r.id} has direction ${
          JSON.stringify(direction)
        }: expected toServer or toClient`,
        `el datagrama ${r.id} tiene la dirección ${
          JSON.stringify(direction)
        }: se espera toServer o toClient`,
      );
    }
  }
  for (const r of records) {
    if (r.fate === "released" || r.fate === "discarded") {
      later.set(r.id, [...(later.get(r.id) ?? []), r]);
    }
  }
  const events: (TraceEvent & LabDropMark)[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (r.fate === "released" || r.fate === "discarded") continue;
    const toServer = r.direction === "toServer";
    const [from, to] = toServer ? [r.client, r.server] : [r.server, r.client];
    const segment = { flags: r.flags, seq: r.seq, len: r.len };
    const steps = later.get(r.id) ?? [];
    const released = steps.filter((s) => s.fate === "released");
    // Copies passed on at once; the others go out at their `released` line.
    const now = r.fate === "forwarded"
      ? 1
      : r.fate === "duplicated"
      ? Math.max(0, 2 - released.length)
      : 0;
    const delivered = now + released.length;
    const key = `${r.direction} ${r.flags} ${r.seq} ${r.len}`;
    events.push({
      time: r.time,
      kind: "send",
      local: from,
      peer: to,
      ...segment,
      ...(seen.has(key) ? { retransmission: true } : {}),
      dropped: delivered === 0 ? "out" : false,
    });
    seen.add(key);
    const recv = (time: number) =>
      events.push({ time, kind: "recv", local: to, peer: from, ...segment });
    for (let i = 0; i < now; i++) recv(r.time);
    for (const step of released) recv(step.time);
  }
  return events;
}

/** The formats, tried in order on each file's first line. */
export const TRACE_FORMATS: readonly TraceFormat[] = [
  {
    id: "relay",
    detect: (first) => first.kind === "relay" || first.kind === "relay-map",
    parse: relayEvents,
  },
  {
    id: "socket",
    detect: (first) => typeof first.kind === "string" && typeof first.flags === "string",
    parse: parseTrace,
  },
];

/** Largest trace the lab replays, in bytes (all files together). */
export const MAX_TRACE_BYTES = 16 * 1024 * 1024;

/**
 * Largest time of a trace event, in ms either side of 0 (the year 2286 in
 * ms since the Unix epoch): beyond it, the differences the drawing needs
 * would lose their precision or overflow.
 */
export const MAX_TRACE_TIME = 1e13;

/** What a replay draws. */
export interface Replay {
  /** The format of the files (the first file's). */
  format: string;
  /** Trace events read. */
  events: number;
  /** The segments, as a live run draws them. */
  records: LabRecord[];
  /** Timers that ran out. */
  timeouts: LabTimeout[];
  /**
   * The client's congestion window after each of its events that carries it
   * (congestion control on), ms since the first event: the graph's cwnd curve.
   */
  cwnd: { t: number; cwnd: number; ssthresh?: number }[];
}

/**
 * Parses trace files for replay, merging them by time.
 *
 * @throws {TraceError} `"NAME: reason"` when a file is in no known format or
 * a line is wrong, or when the files hold no events; in English and in Spanish.
 */
export function parseReplay(files: readonly { name: string; text: string }[]): Replay {
  const events: TraceEvent[] = [];
  let format: string | undefined;
  for (const { name, text } of files) {
    const firstLine = text.split("\n").find((line) => line.trim() !== "");
    if (firstLine === undefined) continue;
    let first: unknown;
    try {
      first = JSON.parse(firstLine);
    } catch {
      throw new TraceError(
        `${name}: line 1 is not JSON: is this a --trace-file?`,
        `${name}: la línea 1 no es JSON: ¿es un --trace-file?`,
      );
    }
    const known = typeof first === "object" && first !== null
      ? TRACE_FORMATS.find((f) => f.detect(first as Record<string, unknown>))
      : undefined;
    if (!known) {
      throw new TraceError(
        `${name}: not a trace this lab knows (a --trace-file)`,
        `${name}: no es una traza que este laboratorio conozca (un --trace-file)`,
      );
    }
    format ??= known.id;
    let parsed: TraceEvent[];
    try {
      parsed = known.parse(text);
    } catch (error) {
      throw new TraceError(`${name}: ${(error as Error).message}`, `${name}: ${reasonEs(error)}`);
    }
    const wrong = parsed.find((e) => !(Math.abs(e.time) <= MAX_TRACE_TIME));
    if (wrong) {
      throw new TraceError(
        `${name}: a ${wrong.kind} event has time ${wrong.time}: expected ms within ±${MAX_TRACE_TIME}`,
        `${name}: un evento ${wrong.kind} tiene el tiempo ${wrong.time}: se esperan ms dentro de ±${MAX_TRACE_TIME}`,
      );
    }
    events.push(...parsed);
  }
  if (events.length === 0) {
    throw new TraceError(
      "the trace files hold no events",
      "los archivos de traza no tienen eventos",
    );
  }
  events.sort((a, b) => a.time - b.time);
  const t0 = events[0].time;
  const side = sidesOf(events);
  return {
    format: format!,
    events: events.length,
    ...recordsOf(events, t0),
    cwnd: events.filter((e) => e.cwnd !== undefined && e.kind !== "timeout" && side(e) === "c")
      .map((e) => ({ t: e.time - t0, cwnd: e.cwnd!, ssthresh: e.ssthresh })),
  };
}
