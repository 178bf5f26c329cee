/**
 * Where calls wait: for the next notification (something they wait on
 * changed), for a deadline, for an abort signal. `SocketTCP`'s calls wait
 * here without deadlines: the protocol's timers are the connection's, run by
 * the endpoint's one timer (`endpoint.ts`), which uses this module's timer
 * constants. Waits with deadlines share ONE timer, re-armed lazily (as
 * kernels do for TCP's retransmission timer): a new wait whose deadline is
 * later than the armed timer's does not touch the timer; when the timer
 * fires, it expires what is due and re-arms itself for the next deadline. On
 * loopback an ACK comes back ~40 µs after its segment, so creating and
 * clearing a timer per segment would cost more than the round trip itself
 * (measured: +10 to 20 µs per segment).
 *
 * Deno's timers cannot fire sooner than about 2 ms. A re-armed timer with less
 * than that left would overshoot its deadline by up to 2 ms, so a wait due
 * within {@linkcode TIMER_SLACK_MS} of a timer tick expires at that tick:
 * every deadline is met within ±1 ms.
 *
 * @module
 */

/** How early a deadline may expire rather than wait for a timer that Deno fires late. */
export const TIMER_SLACK_MS = 1;

/**
 * How late Deno fires a timer, in ms: `setTimeout(fn, d)` runs after about
 * `floor(d) + 1.15` ms (measured on Deno 2.9 on Linux: `setTimeout(2)` after
 * 3.2 ms, `setTimeout(1)` and `setTimeout(1.5)` after 2.15 ms, never sooner
 * than ~2.1 ms). The queue asks for that much less, so that a 2 ms timeout
 * fires after ~2.2 ms, not 3.2: a third less time lost per dropped datagram.
 * Where timers are punctual, deadlines expire up to this much early, which
 * only makes a retransmission a little eager.
 */
export const TIMER_LAG_MS = 1.15;

interface Waiter {
  deadline: number;
  settle(woken: boolean, error?: unknown): void;
}

/**
 * Waits that end on the next {@linkcode WaitQueue.notify}, on a deadline, on an
 * abort signal, or when the queue closes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WaitQueue } from "./wait_queue.ts";
 * const queue = new WaitQueue();
 * const waiting = queue.wait(1000);
 * queue.notify();
 * assert.ok(await waiting);
 * assert.equal(await queue.wait(5), false);
 * queue.close(new Error("closed"));
 * ```
 */
export class WaitQueue {
  readonly #waiters = new Set<Waiter>();
  readonly #clock: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed: unknown = undefined;

  /** Creates a queue; `clock` (ms) is `performance.now` unless a test passes another. */
  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** How many waits are pending. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Waits until the next `notify` (resolves `true`) or until `ms` have passed
   * (resolves `false`). `Infinity` waits without a deadline.
   *
   * @throws the signal's reason when `signal` aborts, or the error given to `close`.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => waiter.settle(false, signal!.reason);
      const waiter: Waiter = {
        deadline: this.#clock() + Math.max(0, ms),
        settle: (woken, error) => {
          this.#waiters.delete(waiter);
          signal?.removeEventListener("abort", onAbort);
          if (error !== undefined) reject(error);
          else resolve(woken);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (waiter.deadline < this.#timerAt) this.#arm(waiter.deadline);
    });
  }

  /** Wakes every pending wait with `true`. */
  notify(): void {
    for (const waiter of this.#waiters) waiter.settle(true); // settle() deletes: safe in a Set
  }

  /** Rejects every pending and future wait with `error`, and stops the timer. */
  close(error: unknown): void {
    this.#closed = error;
    this.#disarm();
    for (const waiter of [...this.#waiters]) waiter.settle(false, error);
  }

  #arm(deadline: number): void {
    this.#disarm();
    if (!Number.isFinite(deadline)) return;
    this.#timerAt = deadline;
    const delay = Math.max(1, Math.round(deadline - this.#clock() - TIMER_LAG_MS));
    this.#timer = setTimeout(() => this.#expire(), delay);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const due = this.#clock() + TIMER_SLACK_MS;
    let next = Infinity;
    for (const waiter of [...this.#waiters]) {
      if (waiter.deadline <= due) waiter.settle(false);
      else next = Math.min(next, waiter.deadline);
    }
    if (next < Infinity && this.#closed === undefined) this.#arm(next);
  }
}
