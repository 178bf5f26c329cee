/**
 * Replay in the web lab: the trace files a user opens (`--trace-file` of the
 * client, the server, or both) become the same records a live run draws
 * ({@linkcode recordsOf}).
 *
 * Each file format is one entry of {@linkcode TRACE_FORMATS}: how to
 * recognise its first JSON line, and how to turn its text into trace events.
 * Another format (the relay's) joins with one more entry.
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
import { type LabRecord, type LabTimeout, recordsOf } from "./lab_run.ts";
import { parseTrace, type TraceEvent } from "./trace.ts";

/** A trace file format the lab can replay. */
export interface TraceFormat {
  /** Short name, reported to the page. */
  id: string;
  /** Whether the first JSON object of a file is of this format. */
  detect(first: Record<string, unknown>): boolean;
  /** The file's events. @throws {SyntaxError} naming the line that is wrong. */
  parse(text: string): TraceEvent[];
}

/** The formats, tried in order on each file's first line. */
export const TRACE_FORMATS: readonly TraceFormat[] = [
  {
    id: "socket",
    detect: (first) => typeof first.kind === "string" && typeof first.flags === "string",
    parse: parseTrace,
  },
];

/** Largest trace the lab replays, in bytes (all files together). */
export const MAX_TRACE_BYTES = 16 * 1024 * 1024;

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
}

/**
 * Parses trace files for replay, merging them by time.
 *
 * @throws {SyntaxError} `"NAME: reason"` when a file is in no known format or
 * a line is wrong, or when the files hold no events.
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
      throw new SyntaxError(`${name}: line 1 is not JSON: is this a --trace-file?`);
    }
    const known = typeof first === "object" && first !== null
      ? TRACE_FORMATS.find((f) => f.detect(first as Record<string, unknown>))
      : undefined;
    if (!known) throw new SyntaxError(`${name}: not a trace this lab knows (a --trace-file)`);
    format ??= known.id;
    try {
      events.push(...known.parse(text));
    } catch (error) {
      throw new SyntaxError(`${name}: ${(error as Error).message}`);
    }
  }
  if (events.length === 0) throw new SyntaxError("the trace files hold no events");
  events.sort((a, b) => a.time - b.time);
  return {
    format: format!,
    events: events.length,
    ...recordsOf(events, events[0].time),
  };
}
