import assert from "node:assert/strict";
import { ByteQueue } from "../byte_queue.ts";
import { mulberry32 } from "../faults.ts";

const SEED = Number(Deno.env.get("SEED") ?? 7);

Deno.test(`ByteQueue hands back exactly the bytes pushed, in order, across growth and compaction (seed ${SEED})`, () => {
  const next = mulberry32(SEED);
  const queue = new ByteQueue(8); // tiny: every path of makeRoom runs
  const expected: number[] = [];
  let counter = 0;
  for (let step = 0; step < 5000; step++) {
    if (next() < 0.55) {
      const n = Math.floor(next() * 70); // both the byte loop (<= 32) and set()
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = counter++ & 255;
      queue.push(bytes);
      bytes.fill(0); // the queue kept a copy
      for (let i = 0; i < n; i++) expected.push((counter - n + i) & 255);
    } else {
      const n = Math.floor(next() * (queue.length + 1));
      const got = queue.take(n);
      assert.deepEqual(got, new Uint8Array(expected.splice(0, n)), `seed ${SEED}, step ${step}`);
    }
    assert.equal(queue.length, expected.length, `seed ${SEED}, step ${step}`);
  }
});

Deno.test("ByteQueue.take refuses more than is queued, and keeps what it has", () => {
  const queue = new ByteQueue();
  queue.push(new Uint8Array([1, 2]));
  assert.throws(() => queue.take(3), {
    name: "RangeError",
    message: "Cannot take 3 bytes: 2 are queued",
  });
  assert.deepEqual(queue.take(2), new Uint8Array([1, 2]));
});

Deno.test("ByteQueue.take returns a copy: later pushes do not change it", () => {
  const queue = new ByteQueue(4);
  queue.push(new Uint8Array([1, 2, 3, 4]));
  const first = queue.take(2);
  queue.push(new Uint8Array([9, 9, 9, 9])); // compacts over the bytes taken
  assert.deepEqual(first, new Uint8Array([1, 2]));
  assert.deepEqual(queue.take(6), new Uint8Array([3, 4, 9, 9, 9, 9]));
});

Deno.test("ByteQueue grows once to what a recv will take, not by doubling, and hands a whole message over without a copy", () => {
  const queue = new ByteQueue(4096);
  const segment = new Uint8Array(1400).fill(7);
  const size = 1400 * 100; // 140,000 bytes: a recv of the whole message
  const capacities = new Set<number>();
  const expected = size + 600; // a hint a little over: the buffer handed over shows it
  for (let i = 0; i < 100; i++) {
    queue.push(segment, expected);
    capacities.add(queue.capacity);
  }
  // One growth, straight to the hint: no copy of everything queued per doubling.
  assert.deepEqual([...capacities], [4096, expected]);
  const whole = queue.take(size);
  assert.equal(whole.length, size);
  assert.equal(whole.buffer.byteLength, expected, "the queue's own buffer, not a copy of it");
  assert.ok(whole.every((byte) => byte === 7));
  // The queue starts a new buffer: what it receives next cannot change the message.
  assert.equal(queue.capacity, 4096);
  queue.push(new Uint8Array(70_000).fill(9));
  assert.equal(whole[0], 7);
  // A small message, or a part of one, is still a copy of its own.
  assert.equal(queue.take(1000).buffer.byteLength, 1000);
});
