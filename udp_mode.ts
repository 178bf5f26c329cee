/**
 * The plain-UDP mode (`--udp`, the assignment's step 1): a file sent as
 * datagrams of at most 16 bytes with no ACK and no retransmission, so that
 * whatever the network loses, duplicates or reorders shows in the file that
 * arrives. Also tells the two modes' datagrams apart, so that a client and a
 * server in different modes say so instead of failing in silence.
 *
 * Framing: every datagram begins with one tag byte.
 *
 * - `L` + the file's length in ASCII decimal: the announcement, sent first.
 * - `H` + one index byte (0, 1, 2) + a slice of the file's SHA-256: the
 *   datagrams that carry the digest (three at the default `mss` of 16, one
 *   from an `mss` of 34), so the receiver can tell a damaged file.
 * - `D` + up to `mss - 1` bytes of the file, in order.
 *
 * The receiver needs not know the sender's `mss`: every slice but the last is
 * as long as the first (index 0), so slice `i` begins at `i` times its
 * length, and a data datagram is whatever follows its tag.
 *
 * A SocketTCP segment begins with its SYN flag, `0` or `1`: the two framings
 * never overlap.
 *
 * @module
 */

import { formatCount as count, Sha256 } from "./cli.ts";
import { type Addr, type LinkWrapper, localHostFor } from "./link.ts";
import { parseSegment, type Segment, segmentKind } from "./segment.ts";

/** The tag byte that begins each datagram of the plain-UDP mode. */
export const UDP_TAG = { length: 0x4c, hash: 0x48, data: 0x44 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Lowercase hexadecimal, two digits a byte. */
function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Splits a file into the datagrams of the plain-UDP mode: the length, the
 * three digest datagrams, then the data.
 *
 * @throws {RangeError} when `mss` is below 16 (the announcement must fit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpDatagrams } from "./udp_mode.ts";
 * const file = new TextEncoder().encode("Hola, mundo: más de 16 bytes");
 * const datagrams = udpDatagrams(file, new Uint8Array(32), 16);
 * assert.deepEqual(new TextDecoder().decode(datagrams[0]), "L29");
 * assert.deepEqual(datagrams.length, 1 + 3 + 2); // length, digest, 15 + 14 data bytes
 * ```
 */
export function udpDatagrams(file: Uint8Array, sha256: Uint8Array, mss: number): Uint8Array[] {
  if (mss < 16) throw new RangeError(`Cannot frame UDP datagrams of ${mss} bytes: expected >= 16`);
  const out: Uint8Array[] = [];
  out.push(new Uint8Array([UDP_TAG.length, ...encoder.encode(String(file.length))]));
  const slice = mss - 2;
  for (let index = 0, at = 0; at < sha256.length; index++, at += slice) {
    out.push(new Uint8Array([UDP_TAG.hash, index, ...sha256.subarray(at, at + slice)]));
  }
  for (let at = 0; at < file.length; at += mss - 1) {
    const chunk = file.subarray(at, at + mss - 1);
    const datagram = new Uint8Array(chunk.length + 1);
    datagram[0] = UDP_TAG.data;
    datagram.set(chunk, 1);
    out.push(datagram);
  }
  return out;
}

/**
 * Tells whether a datagram is one of the plain-UDP mode's (and not a
 * SocketTCP segment).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPlainUdpDatagram } from "./udp_mode.ts";
 * const text = (s: string) => new TextEncoder().encode(s);
 * assert.equal(isPlainUdpDatagram(text("L6000")), true);
 * assert.equal(isPlainUdpDatagram(text("1|||0|||0|||42|||")), false);
 * ```
 */
export function isPlainUdpDatagram(bytes: Uint8Array): boolean {
  const tag = bytes[0];
  if (tag === UDP_TAG.length) return /^\d+$/.test(decoder.decode(bytes.subarray(1)));
  if (tag === UDP_TAG.hash) return bytes.length >= 2 && bytes[1] <= 2;
  return tag === UDP_TAG.data;
}

/**
 * The SocketTCP segment a datagram holds, or `null` when it holds none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentIn } from "./udp_mode.ts";
 * const text = (s: string) => new TextEncoder().encode(s);
 * assert.equal(segmentIn(text("1|||0|||0|||42|||"))?.seq, 42);
 * assert.equal(segmentIn(text("D hola")), null);
 * ```
 */
export function segmentIn(bytes: Uint8Array): Segment | null {
  try {
    return parseSegment(bytes);
  } catch {
    return null;
  }
}

/**
 * What a SocketTCP segment is, for messages: `SYN seq=42`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeSegment } from "./udp_mode.ts";
 * const syn = { syn: true, ack: false, fin: false, seq: 42, data: new Uint8Array() };
 * assert.equal(describeSegment(syn), "SYN seq=42");
 * ```
 */
export function describeSegment(segment: Segment): string {
  return `${segmentKind(segment)} seq=${segment.seq}`;
}

/** What one plain-UDP transfer delivered, from {@linkcode UdpReception.finish}. */
export interface UdpVerdict {
  /** SHA-256 of the bytes that arrived, in hex. */
  sha256: string;
  /** Every announced byte arrived, and their SHA-256 is the sender's. */
  intact: boolean;
  /** One line: how many bytes of how many, and what the digest says. */
  verdict: string;
}

/**
 * The receiving side of one plain-UDP transfer.
 *
 * @example Two datagrams lost of five
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount as count, Sha256 } from "./cli.ts";
 * import { UdpReception, udpDatagrams } from "./udp_mode.ts";
 * const file = new TextEncoder().encode("x".repeat(40));
 * const hash = new Sha256();
 * hash.update(file);
 * const datagrams = udpDatagrams(file, hash.bytes(), 16);
 * const reception = new UdpReception(16);
 * for (const datagram of datagrams.slice(0, -1)) reception.onDatagram(datagram);
 * const { intact, verdict } = reception.finish();
 * assert.equal(intact, false);
 * assert.equal(verdict, "received 30 of 40 bytes; SHA-256 differs from the sender's");
 * ```
 */
export class UdpReception {
  /** The announced length, once its datagram arrived. */
  announced: number | undefined;
  /** Data bytes received (duplicates included). */
  received = 0;
  /** Datagrams received. */
  datagrams = 0;
  /** When the last datagram arrived (`performance.now()`). */
  lastSeen: number = performance.now();
  /** When the first datagram arrived. */
  readonly started: number = performance.now();
  readonly #hash = new Sha256();
  /** The digest's slices that arrived, by index. */
  readonly #digestParts = new Map<number, Uint8Array>();

  /**
   * Creates the state of one transfer. The sender's datagram size is read
   * from its datagrams (see the module's framing), so a sender with another
   * `--mss` is understood: this end's `mss`, once needed, is accepted and ignored.
   */
  constructor(_mss?: number) {}

  /**
   * Feeds one datagram; returns the data bytes to write (possibly empty).
   * Datagrams that are not of this framing are counted and ignored.
   */
  onDatagram(bytes: Uint8Array): Uint8Array {
    this.datagrams++;
    this.lastSeen = performance.now();
    const tag = bytes[0];
    if (tag === UDP_TAG.length) {
      const text = decoder.decode(bytes.subarray(1));
      if (/^\d+$/.test(text)) this.announced = Number(text);
    } else if (tag === UDP_TAG.hash && bytes.length > 2 && bytes[1] <= 2) {
      this.#digestParts.set(bytes[1], bytes.slice(2));
    } else if (tag === UDP_TAG.data) {
      const data = bytes.slice(1);
      this.received += data.length;
      this.#hash.update(data);
      return data;
    }
    return new Uint8Array(0);
  }

  /** All the announced bytes arrived (they may still be damaged). */
  get complete(): boolean {
    return this.announced !== undefined && this.received >= this.announced;
  }

  /**
   * Nothing more is awaited: all the announced bytes and the sender's whole
   * SHA-256 arrived. An empty file is complete at its length announcement,
   * and a digest datagram may come after the last data: a receiver that ends
   * the transfer here, not at {@linkcode complete}, judges with the digest.
   *
   * @example The digest of an empty file arrives after its length
   * ```ts
   * import assert from "node:assert/strict";
   * import { Sha256 } from "./cli.ts";
   * import { UdpReception, udpDatagrams } from "./udp_mode.ts";
   * const [length, ...digest] = udpDatagrams(new Uint8Array(0), new Sha256().bytes(), 16);
   * const reception = new UdpReception();
   * reception.onDatagram(length);
   * assert.deepEqual([reception.complete, reception.settled], [true, false]);
   * for (const datagram of digest) reception.onDatagram(datagram);
   * assert.equal(reception.settled, true);
   * assert.equal(reception.finish().intact, true);
   * ```
   */
  get settled(): boolean {
    return this.complete && this.expectedSha256 !== undefined;
  }

  /**
   * The sender's SHA-256 in hex, if all its datagrams arrived. Slice 0 gives
   * the slices' length (the sender's `mss - 2`, or the whole 32 bytes), so
   * the others are placed whatever this end's `mss`.
   */
  get expectedSha256(): string | undefined {
    const first = this.#digestParts.get(0);
    if (first === undefined) return undefined;
    const slice = first.length;
    const digest = new Uint8Array(32);
    for (let index = 0, at = 0; at < 32; index++, at += slice) {
      const part = this.#digestParts.get(index);
      if (part === undefined || part.length !== Math.min(slice, 32 - at)) return undefined;
      digest.set(part, at);
    }
    return toHex(digest);
  }

  /** Finishes the hash of what arrived; call it once. */
  finish(): UdpVerdict {
    const sha256 = this.#hash.hex();
    const expected = this.expectedSha256;
    const of = this.announced === undefined
      ? `${count(this.received, "byte")} (the length announcement was lost)`
      : `${count(this.received)} of ${count(this.announced, "byte")}`;
    const intact = expected === sha256 && this.received === this.announced;
    const hashText = expected === undefined
      ? "the sender's SHA-256 was lost, nothing to compare with"
      : expected === sha256
      ? "SHA-256 matches the sender's"
      : "SHA-256 differs from the sender's";
    return { sha256, intact, verdict: `received ${of}; ${hashText}` };
  }
}

/** What {@linkcode sendPlainUdp} did. */
export interface UdpSendResult {
  /** Datagrams sent. */
  datagrams: number;
  /** The file's SHA-256 in hex. */
  sha256: string;
  /** How long the sending took, ms. */
  elapsed: number;
}

/**
 * Sends a file as plain-UDP datagrams to `to` (an IP address): no ACK, no
 * retransmission. Paces a little, so that the kernel's buffers (not the
 * network) are not what loses datagrams.
 */
export async function sendPlainUdp(
  file: Uint8Array,
  to: { hostname: string; port: number },
  mss: number,
): Promise<UdpSendResult> {
  const hash = new Sha256();
  hash.update(file);
  const digest = hash.bytes();
  const datagrams = udpDatagrams(file, digest, mss);
  const started = performance.now();
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: localHostFor(to.hostname),
    port: 0,
  });
  const target = { transport: "udp" as const, hostname: to.hostname, port: to.port };
  try {
    let index = 0;
    for (const datagram of datagrams) {
      await socket.send(datagram, target).catch(() => {});
      if (++index % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    socket.close();
  }
  return {
    datagrams: datagrams.length,
    sha256: toHex(digest),
    elapsed: performance.now() - started,
  };
}

/**
 * A {@linkcode LinkWrapper} that shows `observe` every datagram a socket
 * receives, before the socket reads it: how a client or a server notices
 * datagrams of the other mode, which the protocol drops as malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * import { isPlainUdpDatagram, observeDatagrams } from "./udp_mode.ts";
 * const seen: boolean[] = [];
 * const link = observeDatagrams((bytes) => seen.push(isPlainUdpDatagram(bytes)))(
 *   udpLink({ hostname: "127.0.0.1", port: 0 }),
 * );
 * await link.send(new TextEncoder().encode("L42"), link.localAddr);
 * await link.receive(new Uint8Array(1500));
 * link.close();
 * assert.deepEqual(seen, [true]);
 * ```
 */
export function observeDatagrams(observe: (bytes: Uint8Array, from: Addr) => void): LinkWrapper {
  return (link) => ({
    localAddr: link.localAddr,
    send: (data, to) => link.send(data, to),
    async receive(buffer) {
      const received = await link.receive(buffer);
      observe(received[0], received[1]);
      return received;
    },
    close: () => link.close(),
  });
}
