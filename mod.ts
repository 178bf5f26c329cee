/**
 * socket-tcp: a simplified TCP, with Stop & Wait, on top of UDP.
 *
 * This entry re-exports the public API: the segment codec of the assignment's
 * text header `SYN|||ACK|||FIN|||SEQ|||DATA`.
 *
 * @example Encode and decode a segment
 * ```ts
 * import { createSegment, parseSegment } from "./mod.ts";
 *
 * const bytes = createSegment({ syn: false, ack: true, fin: false, seq: 115, data: new Uint8Array() });
 * console.log(parseSegment(bytes).seq); // 115
 * ```
 *
 * @module
 */
export {
  createSegment,
  parseSegment,
  type Segment,
  SEGMENT_SEPARATOR,
  SegmentError,
  segmentKind,
  SEQ_MODULUS,
  seqAdd,
  seqBefore,
} from "./segment.ts";
export { type Addr, type DatagramLink, formatAddr, type LinkWrapper } from "./link.ts";
export {
  formatTraceLine,
  parseTrace,
  type TraceEvent,
  type TraceKind,
  type TraceSink,
} from "./trace.ts";
