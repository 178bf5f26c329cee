/**
 * The bytes a connection received and the application has not read yet, in
 * one contiguous buffer: appended segment by segment, taken in pieces of any
 * size. One copy in, one copy out, and no object per segment kept alive
 * until the application reads (16-byte chunks held for a whole `recv` were
 * what the garbage collector spent its time on). Internal to
 * {@linkcode Connection}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteQueue } from "./byte_queue.ts";
 * const queue = new ByteQueue();
 * queue.push(new Uint8Array([1, 2, 3]));
 * queue.push(new Uint8Array([4, 5]));
 * assert.equal(queue.length, 5);
 * assert.deepEqual(queue.take(4), new Uint8Array([1, 2, 3, 4]));
 * assert.deepEqual(queue.take(1), new Uint8Array([5]));
 * assert.equal(queue.length, 0);
 * ```
 *
 * @module
 */

/**
 * The most a hint of {@linkcode ByteQueue.push} makes the buffer grow to at
 * once; beyond it, the buffer doubles as bytes arrive.
 */
export const HINT_CAP = 64 * 1024 * 1024;

/**
 * The least a `take` of everything queued hands over as the buffer itself
 * instead of a copy (below it, a copy is cheaper than a new buffer).
 */
const HAND_OVER_MIN = 64 * 1024;

/** A FIFO of bytes in one growable buffer. */
export class ByteQueue {
  #buffer: Uint8Array;
  #head = 0;
  #tail = 0;
  readonly #capacity: number;

  /** An empty queue whose buffer starts at `capacity` bytes and grows as needed. */
  constructor(capacity = 4096) {
    this.#capacity = capacity;
    this.#buffer = new Uint8Array(capacity);
  }

  /** Bytes the buffer holds before it must move or grow. */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** Bytes queued. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /**
   * Appends a copy of `bytes`. `expected`: how many bytes the queue will hold
   * before they are taken (a `recv` of a whole message): a buffer that must
   * grow grows to that at once (up to {@linkcode HINT_CAP}), not by doubling,
   * each time copying everything queued.
   */
  push(bytes: Uint8Array, expected = 0): void {
    const n = bytes.length;
    if (this.#tail + n > this.#buffer.length) this.#makeRoom(n, expected);
    const buffer = this.#buffer;
    const tail = this.#tail;
    if (n <= 32) {
      for (let i = 0; i < n; i++) buffer[tail + i] = bytes[i];
    } else buffer.set(bytes, tail);
    this.#tail = tail + n;
  }

  /**
   * Removes and returns the first `n` bytes. Throws a RangeError beyond
   * `length`. Taking everything, when that fills at least half of a large
   * buffer, hands the buffer itself over (the queue starts a new one):
   * a `recv` of a 32 MiB message costs no 32 MiB copy.
   */
  take(n: number): Uint8Array {
    if (n > this.length) {
      throw new RangeError(`Cannot take ${n} bytes: ${this.length} are queued`);
    }
    if (n === this.length && n >= HAND_OVER_MIN && 2 * n >= this.#buffer.length) {
      const out = this.#buffer.subarray(this.#head, this.#tail);
      this.#buffer = new Uint8Array(this.#capacity);
      this.#head = this.#tail = 0;
      return out;
    }
    const out = this.#buffer.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    return out;
  }

  /**
   * Room for `n` more bytes: moves the queued bytes to the front, or into a
   * larger buffer (of at least `expected` bytes, up to {@linkcode HINT_CAP}).
   */
  #makeRoom(n: number, expected: number): void {
    const length = this.length;
    if (length + n <= this.#buffer.length / 2) {
      this.#buffer.copyWithin(0, this.#head, this.#tail);
    } else {
      const larger = new Uint8Array(
        Math.max(2 * this.#buffer.length, length + n, Math.min(expected, HINT_CAP)),
      );
      larger.set(this.#buffer.subarray(this.#head, this.#tail));
      this.#buffer = larger;
    }
    this.#head = 0;
    this.#tail = length;
  }
}
