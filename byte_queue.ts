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

/** A FIFO of bytes in one growable buffer. */
export class ByteQueue {
  #buffer: Uint8Array;
  #head = 0;
  #tail = 0;

  /** An empty queue whose buffer starts at `capacity` bytes and grows as needed. */
  constructor(capacity = 4096) {
    this.#buffer = new Uint8Array(capacity);
  }

  /** Bytes queued. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Appends a copy of `bytes`. */
  push(bytes: Uint8Array): void {
    const n = bytes.length;
    if (this.#tail + n > this.#buffer.length) this.#makeRoom(n);
    const buffer = this.#buffer;
    const tail = this.#tail;
    if (n <= 32) {
      for (let i = 0; i < n; i++) buffer[tail + i] = bytes[i];
    } else buffer.set(bytes, tail);
    this.#tail = tail + n;
  }

  /** Removes and returns the first `n` bytes (a copy). Throws a RangeError beyond `length`. */
  take(n: number): Uint8Array {
    if (n > this.length) {
      throw new RangeError(`Cannot take ${n} bytes: ${this.length} are queued`);
    }
    const out = this.#buffer.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    return out;
  }

  /** Room for `n` more bytes: moves the queued bytes to the front, or into a larger buffer. */
  #makeRoom(n: number): void {
    const length = this.length;
    if (length + n <= this.#buffer.length / 2) {
      this.#buffer.copyWithin(0, this.#head, this.#tail);
    } else {
      const larger = new Uint8Array(Math.max(2 * this.#buffer.length, length + n));
      larger.set(this.#buffer.subarray(this.#head, this.#tail));
      this.#buffer = larger;
    }
    this.#head = 0;
    this.#tail = length;
  }
}
