/**
 * The receive side of selective repeat: segments that arrived ahead of a
 * hole, held by sequence number until the hole is filled. Pure and bounded
 * by its owner (the connection admits only segments within its receive
 * window), each operation O(1).
 *
 * @example A hole, then the segment that fills it
 * ```ts
 * import assert from "node:assert/strict";
 * import { Reassembly } from "./reassembly.ts";
 * const held = new Reassembly();
 * assert.ok(held.add(20, new Uint8Array(4))); // 16..19 missing
 * assert.ok(!held.add(20, new Uint8Array(4))); // a duplicate
 * assert.equal(held.bytes, 4);
 * assert.equal(held.take(16), undefined);
 * assert.equal(held.take(20)?.length, 4); // once 16..19 came in order
 * assert.equal(held.size, 0);
 * ```
 *
 * @module
 */

/** Out-of-order segments by sequence number. */
export class Reassembly {
  readonly #segments = new Map<number, Uint8Array>();
  #bytes = 0;

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Segments held. */
  get size(): number {
    return this.#segments.size;
  }

  /** Holds `data`, which starts at `seq`; false when a segment at `seq` is already held. */
  add(seq: number, data: Uint8Array): boolean {
    if (this.#segments.has(seq)) return false;
    this.#segments.set(seq, data);
    this.#bytes += data.length;
    return true;
  }

  /** Removes and returns the segment that starts at `seq`, if one is held. */
  take(seq: number): Uint8Array | undefined {
    const data = this.#segments.get(seq);
    if (data === undefined) return undefined;
    this.#segments.delete(seq);
    this.#bytes -= data.length;
    return data;
  }

  /** Forgets everything held. */
  clear(): void {
    this.#segments.clear();
    this.#bytes = 0;
  }
}
