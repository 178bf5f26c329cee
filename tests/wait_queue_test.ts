import assert from "node:assert/strict";
import { WaitQueue } from "../wait_queue.ts";

Deno.test("notify wakes every pending wait with true", async () => {
  const queue = new WaitQueue();
  const waits = [queue.wait(10_000), queue.wait(Infinity), queue.wait(5)];
  assert.equal(queue.size, 3);
  queue.notify();
  assert.deepEqual(await Promise.all(waits), [true, true, true]);
  assert.equal(queue.size, 0);
  queue.close(new Error("done"));
});

Deno.test("a wait whose deadline passes resolves false, and the others keep waiting", async () => {
  const queue = new WaitQueue();
  const long = queue.wait(60_000);
  assert.equal(await queue.wait(3), false);
  assert.equal(queue.size, 1);
  queue.notify();
  assert.equal(await long, true);
  queue.close(new Error("done"));
});

Deno.test("an earlier deadline than the armed timer's is still met", async () => {
  const queue = new WaitQueue();
  const long = queue.wait(60_000); // arms the timer for a minute
  const start = performance.now();
  assert.equal(await queue.wait(5), false); // must re-arm earlier
  assert.ok(performance.now() - start < 1000);
  queue.close(new Error("done"));
  await assert.rejects(long, /done/);
});

Deno.test("an aborted signal rejects the wait with its reason", async () => {
  const queue = new WaitQueue();
  const controller = new AbortController();
  const waiting = queue.wait(60_000, controller.signal);
  controller.abort(new Error("cancelled"));
  await assert.rejects(waiting, /cancelled/);
  await assert.rejects(queue.wait(10, controller.signal), /cancelled/);
  queue.close(new Error("done"));
});

Deno.test("close rejects pending and later waits, and leaves no timer behind", async () => {
  const queue = new WaitQueue();
  const waiting = queue.wait(60_000);
  queue.close(new Deno.errors.BadResource("closed"));
  await assert.rejects(waiting, Deno.errors.BadResource);
  await assert.rejects(queue.wait(1), Deno.errors.BadResource);
});
