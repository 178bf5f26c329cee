/**
 * The segment codec: the assignment's text header `SYN|||ACK|||FIN|||SEQ|||DATA`.
 *
 * - `SYN`, `ACK`, `FIN` are flags, written `0` or `1`.
 * - `SEQ` is a sequence number in decimal ASCII, `0 <= SEQ < 2^32`. Leading
 *   zeros are accepted on input (other implementations pad it) and never
 *   written.
 * - `DATA` is every byte after the fourth separator, raw: it may be binary,
 *   may contain `|||`, and is never decoded as text.
 *
 * @example A SYN+ACK with sequence number 8
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSegment, parseSegment } from "./segment.ts";
 *
 * const bytes = createSegment({ syn: true, ack: true, fin: false, seq: 8, data: new Uint8Array() });
 * assert.equal(new TextDecoder().decode(bytes), "1|||1|||0|||8|||");
 * assert.equal(parseSegment(bytes).seq, 8);
 * ```
 *
 * @module
 */

/**
 * One segment of the protocol, decoded.
 *
 * @example A FIN, encoded
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSegment, type Segment } from "./segment.ts";
 * const fin: Segment = { syn: false, ack: false, fin: true, seq: 200, data: new Uint8Array() };
 * assert.equal(new TextDecoder().decode(createSegment(fin)), "0|||0|||1|||200|||");
 * ```
 */
export interface Segment {
  /** SYN flag: opens a connection. */
  syn: boolean;
  /** ACK flag: acknowledges everything before `seq`. */
  ack: boolean;
  /** FIN flag: closes a connection. */
  fin: boolean;
  /** Sequence number, an integer with `0 <= seq < 2^32`. */
  seq: number;
  /** Payload bytes (empty for control segments). */
  data: Uint8Array;
}

/**
 * The number of distinct sequence numbers: arithmetic on them wraps modulo this.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SEQ_MODULUS, seqAdd } from "./segment.ts";
 * assert.equal(SEQ_MODULUS, 4294967296);
 * assert.equal(seqAdd(SEQ_MODULUS - 1, 1), 0);
 * ```
 */
export const SEQ_MODULUS = 2 ** 32;

/**
 * The separator between the fields of the header.
 *
 * @example Split a SYN into its fields
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSegment, SEGMENT_SEPARATOR } from "./segment.ts";
 * const syn = createSegment({ syn: true, ack: false, fin: false, seq: 7, data: new Uint8Array() });
 * const fields = new TextDecoder().decode(syn).split(SEGMENT_SEPARATOR);
 * assert.deepEqual(fields, [ "1", "0", "0", "7", "" ]);
 * ```
 */
export const SEGMENT_SEPARATOR = "|||";

/**
 * Thrown by {@linkcode parseSegment} for any datagram that is not a well-formed segment.
 *
 * @example A datagram cut short after the FIN flag
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSegment, SegmentError } from "./segment.ts";
 * assert.throws(
 *   () => parseSegment(new TextEncoder().encode("1|||0|||0")),
 *   (error) =>
 *     error instanceof SegmentError &&
 *     error.message === 'Cannot parse segment: missing separator "|||" after the FIN flag',
 * );
 * ```
 */
export class SegmentError extends Error {
  /** Creates an error whose message starts with "Cannot parse segment: ". */
  constructor(reason: string) {
    super(`Cannot parse segment: ${reason}`);
    this.name = "SegmentError";
  }
}

/**
 * Adds `n` to the sequence number `seq`, modulo 2^32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seqAdd } from "./segment.ts";
 * assert.equal(seqAdd(2 ** 32 - 1, 2), 1);
 * ```
 */
export function seqAdd(seq: number, n: number): number {
  return (seq + n) % SEQ_MODULUS;
}

/**
 * Tells whether sequence number `a` comes strictly before `b`, in the circular
 * order of RFC 9293 (section 3.4): true when `b - a`, modulo 2^32, is in
 * `1 .. 2^31 - 1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seqBefore } from "./segment.ts";
 * assert.ok(seqBefore(2 ** 32 - 1, 3));
 * ```
 */
export function seqBefore(a: number, b: number): boolean {
  const distance = (b - a + SEQ_MODULUS) % SEQ_MODULUS;
  return distance !== 0 && distance < SEQ_MODULUS / 2;
}

/** Throws a `RangeError` unless `seq` is an integer with `0 <= seq < 2^32`. */
function checkSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 0 || seq >= SEQ_MODULUS) {
    throw new RangeError(
      `Cannot create segment: SEQ is ${seq}, expected an integer in 0..${SEQ_MODULUS - 1}`,
    );
  }
}

const PIPE = 0x7c;
const ZERO = 0x30;
const ONE = 0x31;

/**
 * Encodes a segment as `SYN|||ACK|||FIN|||SEQ|||DATA` bytes.
 *
 * @throws {RangeError} when `seq` is not an integer in `0 .. 2^32 - 1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSegment } from "./segment.ts";
 * const data = new TextEncoder().encode("Mensaje de prueba");
 * const bytes = createSegment({ syn: false, ack: false, fin: false, seq: 98, data });
 * assert.equal(new TextDecoder().decode(bytes), "0|||0|||0|||98|||Mensaje de prueba");
 * ```
 */
export function createSegment(segment: Segment): Uint8Array {
  checkSeq(segment.seq);
  // Written byte by byte: this runs once per segment sent, so no string and no
  // intermediate array. "F|||F|||F|||" is 12 bytes, then the digits of SEQ and "|||".
  let digits = 1;
  for (let power = 10; power <= segment.seq; power *= 10) digits++;
  const headerLength = 12 + digits + 3;
  const bytes = allocate(headerLength + segment.data.length);
  bytes.fill(PIPE, 0, headerLength);
  bytes[0] = segment.syn ? ONE : ZERO;
  bytes[4] = segment.ack ? ONE : ZERO;
  bytes[8] = segment.fin ? ONE : ZERO;
  for (let i = 12 + digits - 1, seq = segment.seq; i >= 12; i--, seq = Math.floor(seq / 10)) {
    bytes[i] = ZERO + (seq % 10);
  }
  bytes.set(segment.data, headerLength);
  return bytes;
}

/** Bytes of the slab that small segments are cut from. */
const SLAB_SIZE = 64 * 1024;
/** Segments up to this size come from the slab; larger ones get their own buffer. */
const SLAB_MAX = SLAB_SIZE / 8;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * A zeroed array of `size` bytes. Small ones are cut from a shared 64 KiB
 * slab, as Node's `Buffer` pool does: a segment is handed to the socket, and
 * a buffer of its own would be moved off V8's heap on that first send (an
 * allocation and a copy, measured at 2-3 µs per segment). A slab is freed when
 * no segment cut from it is referenced any more.
 */
function allocate(size: number): Uint8Array {
  if (size > SLAB_MAX) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const bytes = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return bytes;
}

/** Index of the first `|||` in `bytes` at or after `from`, or -1. */
function findSeparator(bytes: Uint8Array, from: number): number {
  for (
    let i = bytes.indexOf(PIPE, from);
    i !== -1 && i + 2 < bytes.length;
    i = bytes.indexOf(PIPE, i + 1)
  ) {
    if (bytes[i + 1] === PIPE && bytes[i + 2] === PIPE) return i;
  }
  return -1;
}

/**
 * Quotes bytes received from the network for an error message: at most
 * `limit` of them, printable ASCII as it is and every other byte as `\xNN`,
 * so that a peer cannot write control sequences to a terminal through our
 * logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteBytes } from "./segment.ts";
 * assert.equal(quoteBytes(new Uint8Array([0x31, 0x1b, 0x5b])), String.raw`"1\x1b["`);
 * ```
 */
export function quoteBytes(bytes: Uint8Array, limit = 20): string {
  let text = "";
  for (const byte of bytes.subarray(0, limit)) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
      ? String.fromCharCode(byte)
      : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `"${text}${bytes.length > limit ? "…" : ""}"`;
}

const FLAG_NAMES = ["SYN", "ACK", "FIN"] as const;

/**
 * Decodes `SYN|||ACK|||FIN|||SEQ|||DATA` bytes into a {@linkcode Segment}.
 * The returned `data` is a copy: `bytes` may be reused afterwards.
 *
 * @throws {SegmentError} for every malformed input (a missing separator, a
 * flag other than `0`/`1`, a SEQ that is not decimal digits or not below
 * 2^32), and never any other error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSegment } from "./segment.ts";
 * const segment = parseSegment(new TextEncoder().encode("0|||1|||0|||115|||"));
 * assert.ok(segment.ack);
 * assert.equal(segment.seq, 115);
 * ```
 */
export function parseSegment(bytes: Uint8Array): Segment {
  return parseCanonical(bytes, true) ?? parseAny(bytes);
}

/**
 * {@linkcode parseSegment} without the copy: `data` is a view of `bytes`,
 * valid only until `bytes` changes. For a driver that hands the segment to
 * its connection at once, which copies what it keeps (one copy less per
 * segment on the receive path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSegmentView } from "./segment.ts";
 * const wire = new TextEncoder().encode("0|||0|||0|||98|||hola");
 * const segment = parseSegmentView(wire);
 * assert.equal(segment.data.buffer, wire.buffer);
 * assert.equal(new TextDecoder().decode(segment.data), "hola");
 * ```
 */
export function parseSegmentView(bytes: Uint8Array): Segment {
  return parseCanonical(bytes, false) ?? parseAny(bytes);
}

/** A flag byte: 0 for "0", 1 for "1", -1 for anything else. */
function flagAt(bytes: Uint8Array, i: number): number {
  const byte = bytes[i];
  return byte === ONE ? 1 : byte === ZERO ? 0 : -1;
}

/** Whether `|||` is at `i`. */
function pipesAt(bytes: Uint8Array, i: number): boolean {
  return bytes[i] === PIPE && bytes[i + 1] === PIPE && bytes[i + 2] === PIPE;
}

/**
 * The fast path of {@linkcode parseSegment}, byte by byte: the segment as
 * every sender writes it (one-byte flags, 1 to 10 digits). Anything else,
 * valid or not, returns null and goes to {@linkcode parseAny}, which gives
 * the same result or the error that says why.
 */
function parseCanonical(bytes: Uint8Array, copy: boolean): Segment | null {
  if (bytes.length < 16) return null;
  const syn = flagAt(bytes, 0);
  const ack = flagAt(bytes, 4);
  const fin = flagAt(bytes, 8);
  if (
    syn < 0 || ack < 0 || fin < 0 || !pipesAt(bytes, 1) || !pipesAt(bytes, 5) || !pipesAt(bytes, 9)
  ) return null;
  let seq = 0;
  let i = 12;
  for (; i < 22 && i < bytes.length; i++) {
    const digit = bytes[i] - ZERO;
    if (digit < 0 || digit > 9) break;
    seq = seq * 10 + digit;
  }
  if (i === 12 || seq >= SEQ_MODULUS || !pipesAt(bytes, i)) return null;
  const data = dataFrom(bytes, i + 3, copy);
  return { syn: syn === 1, ack: ack === 1, fin: fin === 1, seq, data };
}

/** No data: one shared empty array (it cannot be written to), for every segment without any. */
export const NO_DATA: Uint8Array = new Uint8Array(0);

/**
 * `bytes` from `start` on: a view, or a copy (byte by byte when short,
 * cheaper than `slice` there); {@linkcode NO_DATA} when nothing is left.
 */
function dataFrom(bytes: Uint8Array, start: number, copy: boolean): Uint8Array {
  const n = bytes.length - start;
  if (n === 0) return NO_DATA;
  if (!copy) return bytes.subarray(start);
  if (n > 64) return bytes.slice(start);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = bytes[start + i];
  return data;
}

/** {@linkcode parseSegment} for any input: finds each separator, and names what is wrong. */
function parseAny(bytes: Uint8Array): Segment {
  const flags = [false, false, false];
  let start = 0;
  for (let field = 0; field < 3; field++) {
    const end = findSeparator(bytes, start);
    if (end === -1) {
      throw new SegmentError(`missing separator "|||" after the ${FLAG_NAMES[field]} flag`);
    }
    const flag = bytes[start];
    if (end !== start + 1 || (flag !== ZERO && flag !== ONE)) {
      throw new SegmentError(
        `flag ${FLAG_NAMES[field]} is ${
          quoteBytes(bytes.subarray(start, end))
        }, expected "0" or "1"`,
      );
    }
    flags[field] = flag === ONE;
    start = end + 3;
  }
  const end = findSeparator(bytes, start);
  if (end === -1) throw new SegmentError(`missing separator "|||" after SEQ`);
  if (end === start) throw new SegmentError(`SEQ is empty, expected a decimal number`);
  let seq = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i] - ZERO;
    if (digit < 0 || digit > 9) {
      throw new SegmentError(
        `SEQ is ${quoteBytes(bytes.subarray(start, end))}, expected a decimal number`,
      );
    }
    seq = seq * 10 + digit;
    if (seq >= SEQ_MODULUS) {
      throw new SegmentError(
        `SEQ is ${quoteBytes(bytes.subarray(start, end))}, expected a number below ${SEQ_MODULUS}`,
      );
    }
  }
  return { syn: flags[0], ack: flags[1], fin: flags[2], seq, data: bytes.slice(end + 3) };
}

/**
 * Joins byte arrays into one new array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./segment.ts";
 * assert.deepEqual(
 *   concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]),
 *   new Uint8Array([1, 2, 3]),
 * );
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Names a segment's flags the way the report and the traces do: `SYN`,
 * `SYN+ACK`, `ACK`, `FIN`, `FIN+ACK`, or `DATA` when no flag is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentKind } from "./segment.ts";
 * assert.equal(segmentKind({ syn: true, ack: true, fin: false }), "SYN+ACK");
 * ```
 */
export function segmentKind(segment: Pick<Segment, "syn" | "ack" | "fin">): string {
  // ACK comes last: a FIN that acknowledges is "FIN+ACK", like "SYN+ACK".
  const names = (["SYN", "FIN", "ACK"] as const).filter((_, i) =>
    [segment.syn, segment.fin, segment.ack][i]
  );
  return names.length === 0 ? "DATA" : names.join("+");
}
