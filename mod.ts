/**
 * socket-tcp: a simplified TCP, with Stop & Wait, on top of UDP.
 *
 * This entry re-exports the public API: {@linkcode SocketTCP}, a socket with
 * the shape of Python's connection-oriented sockets; the segment codec of the
 * assignment's text header `SYN|||ACK|||FIN|||SEQ|||DATA`; the pure protocol
 * state machine ({@linkcode Connection}, whole, with time as a parameter) and
 * retransmission timers; the errors. The seeded fault injector and the lossy
 * relay used to test it all are in the `./testing` entry (`testing.ts`).
 *
 * @example A message over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketTCP } from "./mod.ts";
 *
 * await using listener = new SocketTCP();
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP();
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * const [, got] = await Promise.all([client.send(new TextEncoder().encode("¡Hola!")), server.recv(1024)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * assert.equal(new TextDecoder().decode(got), "¡Hola!");
 * ```
 *
 * @example Encode and decode a segment
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSegment, parseSegment } from "./mod.ts";
 *
 * const bytes = createSegment({ syn: false, ack: true, fin: false, seq: 115, data: new Uint8Array() });
 * assert.equal(parseSegment(bytes).seq, 115);
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
export { type Addr, type DatagramLink, formatAddr, type LinkWrapper, udpLink } from "./link.ts";
export {
  formatTraceLine,
  parseTrace,
  type TraceEvent,
  type TraceKind,
  type TraceLineProblem,
  TraceParseError,
  type TraceSink,
} from "./trace.ts";
export {
  ConnectionClosedError,
  PeerTimeoutError,
  ProtocolError,
  type SocketStats,
  SocketTCP,
  type SocketTCPOptions,
  UnreadDataError,
} from "./socket_tcp.ts";
export {
  type Arq,
  Connection,
  type ConnectionOptions,
  type ConnectionStats,
  type Output,
  type State,
  type WindowState,
} from "./connection.ts";
export { Congestion, type CongestionControl } from "./congestion.ts";
export { AdaptiveRto, type AdaptiveRtoOptions, FixedRto, type RtoPolicy } from "./rto.ts";
