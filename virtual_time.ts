/**
 * The time source of the report's runs: {@linkcode realTime} (the wall clock
 * and loopback UDP) or {@linkcode virtualTime} (a virtual clock and an
 * in-memory network), behind one interface, {@linkcode TimeSource}, so that
 * `scenarios.ts` swaps one piece to go from one to the other.
 *
 * In virtual time nothing waits: the run's timers fire in order of their due
 * time as soon as nothing else is left to do, and datagrams cross the network
 * in a fixed latency. The same run gives the same events at the same times,
 * to the microsecond, on any machine and under any load, and a transfer that
 * waits 7 s of timeouts takes milliseconds.
 *
 * `SocketTCP` has no clock parameter yet, so the virtual clock is installed
 * the way `FakeTime` of Deno's standard library does it: for the length of
 * the run, `setTimeout`, `clearTimeout` and `performance.now` are replaced.
 * Under the run, `setTimeout(fn, d)` fires at `floor(d) + 1.15` ms (at least
 * 2.15 ms), as Deno's timers do on Linux (see `wait_queue.ts`), so that the
 * times are those a real run on an idle machine shows. Once the protocol takes
 * `now` as a parameter, this module passes it instead and patches nothing.
 *
 * @example A run in virtual time: 10 s of timers, done at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { virtualTime } from "./virtual_time.ts";
 * const started = Date.now();
 * const at = await virtualTime().run(async () => {
 *   await new Promise((resolve) => setTimeout(resolve, 10_000));
 *   return performance.now();
 * });
 * assert.equal(at, 10_001.15); // Deno's lag: floor(d) + 1.15 ms
 * assert.ok(Date.now() - started < 1000);
 * ```
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Addr, DatagramLink, LinkWrapper } from "./link.ts";
import { formatAddr } from "./link.ts";

/**
 * Where a run takes its time and its network from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realTime, type TimeSource } from "./virtual_time.ts";
 * const source: TimeSource = realTime();
 * assert.equal(source.virtual, false);
 * assert.equal(await source.run(() => Promise.resolve(7)), 7);
 * ```
 */
export interface TimeSource {
  /** True for {@linkcode virtualTime}: times are computed, not measured. */
  readonly virtual: boolean;
  /** Wraps every UDP link of the run: the in-memory network in virtual time, nothing in real time. */
  readonly link?: LinkWrapper;
  /** Runs `fn` with this source's clock and returns its result. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The wall clock and real loopback UDP: what a user's run sees. Times vary
 * from run to run with the machine's load.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realTime } from "./virtual_time.ts";
 * assert.equal(realTime().link, undefined);
 * ```
 */
export function realTime(): TimeSource {
  return { virtual: false, run: (fn) => fn() };
}

/** Options of {@linkcode virtualTime}. */
export interface VirtualTimeOptions {
  /** One-way latency of the in-memory network, in ms. Default 0.02 (a loopback round trip is 25-50 µs). */
  latency?: number;
  /** Timers fired before the run is declared stuck. Default 1 000 000. */
  maxSteps?: number;
  /** Virtual time after which the run is declared stuck, in ms. Default 1 hour. */
  maxTime?: number;
}

/** How late Deno fires `setTimeout(fn, d)`: after `floor(d) + TIMER_LAG` ms, never before `TIMER_MIN`. */
const TIMER_LAG = 1.15, TIMER_MIN = 2.15;

/** The end of the last run started: runs take turns, because the clock they patch is global. */
let turn: Promise<unknown> = Promise.resolve();

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Delivers a datagram between the virtual network's endpoints. */
interface Endpoint {
  queue: [Uint8Array, Addr][];
  waiting?: { resolve: (value: [Uint8Array, Addr]) => void; reject: (error: Error) => void };
  buffer?: Uint8Array;
}

/**
 * A virtual clock and an in-memory network. Its `link` replaces every UDP
 * link of the run (the real socket stays bound, so ports are real and
 * unique, but is never read) by one whose datagrams arrive `latency` ms later,
 * in order, unless a wrapper above it (a fault injector) decides otherwise.
 * A datagram to an address with no open link is lost, as UDP to a closed port.
 *
 * `fn` may wait on timers and on the in-memory network, not on real I/O (a
 * file, a real socket): time would move on while it waits. The clock is
 * global while a run lasts, so runs of every virtual clock of
 * the process take turns: a `run` started while another is going waits for it
 * to end. A run may not be nested in another.
 *
 * @throws {Error} from `run` when the run is stuck: nothing left to do or fire
 * while `fn` has not settled, or more than `maxSteps` timers or `maxTime` ms.
 *
 * @example Two links, one datagram, 20 µs
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * import { virtualTime } from "./virtual_time.ts";
 * const time = virtualTime({ latency: 0.02 });
 * const [text, at] = await time.run(async () => {
 *   const a = time.link!(udpLink({ hostname: "127.0.0.1", port: 0 }));
 *   const b = time.link!(udpLink({ hostname: "127.0.0.1", port: 0 }));
 *   await a.send(new TextEncoder().encode("hola"), b.localAddr);
 *   const [data] = await b.receive(new Uint8Array(64));
 *   a.close();
 *   b.close();
 *   return [new TextDecoder().decode(data), performance.now()];
 * });
 * assert.deepEqual([text, at], ["hola", 0.02]);
 * ```
 */
export function virtualTime(options: VirtualTimeOptions = {}): TimeSource {
  const latency = options.latency ?? 0.02;
  const maxSteps = options.maxSteps ?? 1_000_000;
  const maxTime = options.maxTime ?? 3_600_000;
  let now = 0;
  let nextId = 1;
  let running = false;
  const timers = new Map<number, Timer>();
  const endpoints = new Map<string, Endpoint>();

  const schedule = (fn: () => void, at: number): number => {
    const id = nextId++;
    timers.set(id, { id, at, fn });
    return id;
  };

  const link: LinkWrapper = (raw: DatagramLink): DatagramLink => {
    const localAddr = raw.localAddr;
    const name = formatAddr(localAddr);
    const endpoint: Endpoint = { queue: [] };
    endpoints.set(name, endpoint);
    let closed = false;
    return {
      localAddr,
      send(data, to) {
        if (closed) return Promise.reject(new Deno.errors.BadResource("The link is closed"));
        const copy = data.slice();
        const from = { ...localAddr };
        schedule(() => {
          const target = endpoints.get(formatAddr(to));
          if (!target) return; // nobody listens there: lost
          if (target.waiting) {
            const { resolve } = target.waiting;
            target.waiting = undefined;
            resolve([fill(target.buffer!, copy), from]);
          } else {
            target.queue.push([copy, from]);
          }
        }, now + latency);
        return Promise.resolve();
      },
      receive(buffer) {
        if (closed) return Promise.reject(new Deno.errors.BadResource("The link is closed"));
        const next = endpoint.queue.shift();
        if (next) return Promise.resolve([fill(buffer, next[0]), next[1]]);
        return new Promise((resolve, reject) => {
          endpoint.waiting = { resolve, reject };
          endpoint.buffer = buffer;
        });
      },
      close() {
        if (closed) return;
        closed = true;
        endpoints.delete(name);
        endpoint.waiting?.reject(new Deno.errors.BadResource("The link is closed"));
        endpoint.waiting = undefined;
        raw.close();
      },
    };
  };

  return {
    virtual: true,
    link,
    run<T>(fn: () => Promise<T>): Promise<T> {
      const mine = turn.then(() => runAlone(fn));
      turn = mine.catch(() => {});
      return mine;
    },
  };

  async function runAlone<T>(fn: () => Promise<T>): Promise<T> {
    if (running) throw new Error("Cannot run: this virtual clock is already running");
    running = true;
    const saved = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      now: Object.getOwnPropertyDescriptor(performance, "now"),
    };
    const fakeSetTimeout = (handler: unknown, delay = 0, ...args: unknown[]) => {
      const d = Math.max(0, Number(delay) || 0);
      const wait = Math.max(TIMER_MIN, Math.floor(d) + TIMER_LAG);
      return schedule(() => (handler as (...a: unknown[]) => void)(...args), now + wait);
    };
    const fakeClearTimeout = (id?: number) => {
      if (id !== undefined) timers.delete(id);
    };
    Object.assign(globalThis, { setTimeout: fakeSetTimeout, clearTimeout: fakeClearTimeout });
    Object.defineProperty(performance, "now", { value: () => now, configurable: true });
    try {
      let settled = false;
      const result = fn().finally(() => settled = true);
      result.catch(() => {}); // observed below
      for (let steps = 0; !settled; steps++) {
        // Let every promise that can settle settle: one macrotask drains the microtasks.
        await new Promise((resolve) => setImmediate(resolve));
        if (settled) break;
        const next = earliest(timers);
        if (!next) throw new Error(`Virtual time is stuck at ${now} ms: nothing left to fire`);
        if (steps >= maxSteps || next.at > maxTime) {
          throw new Error(`Virtual time ran over its bounds (${steps} timers, ${now} ms)`);
        }
        timers.delete(next.id);
        now = Math.max(now, next.at);
        next.fn();
      }
      return await result;
    } finally {
      Object.assign(
        globalThis,
        saved.setTimeout && {
          setTimeout: saved.setTimeout,
          clearTimeout: saved.clearTimeout,
        },
      );
      if (saved.now) Object.defineProperty(performance, "now", saved.now);
      else delete (performance as { now?: unknown }).now;
      timers.clear();
      running = false;
    }
  }
}

/** Copies `data` into `buffer` (truncated, as UDP does) and returns the filled part. */
function fill(buffer: Uint8Array, data: Uint8Array): Uint8Array {
  const n = Math.min(buffer.length, data.length);
  buffer.set(data.subarray(0, n));
  return buffer.subarray(0, n);
}

/** The timer due first; among timers due at once, the one set first. */
function earliest(timers: Map<number, Timer>): Timer | undefined {
  let best: Timer | undefined;
  for (const timer of timers.values()) {
    if (!best || timer.at < best.at) best = timer;
  }
  return best;
}
