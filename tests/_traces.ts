/**
 * Builders of synthetic trace events, shared by the diagram and plot tests.
 */
import type { TraceEvent } from "../trace.ts";

/** The client, the listener and the server's new port. */
export const C = "127.0.0.1:5000", L = "127.0.0.1:8000", S = "127.0.0.1:9000";

/** One trace event, its fields in the order of a trace line. */
export function ev(
  time: number,
  kind: TraceEvent["kind"],
  local: string,
  peer: string,
  flags: string,
  seq: number,
  len = 0,
  extra: Partial<TraceEvent> = {},
): TraceEvent {
  return { time, kind, local, peer, flags, seq, len, ...extra };
}
