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
