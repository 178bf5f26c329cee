/**
 * Seeded, deterministic network faults: a pure decision model
 * ({@linkcode FaultModel}) and an injector ({@linkcode FaultInjector}) that
 * slips it under a {@linkcode DatagramLink}, so that tests can lose,
 * duplicate, reorder and delay datagrams reproducibly.
 *
 * @example Drop the second SYN+ACK the server sends, and 10 % of everything else
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 *
 * const faults = new FaultInjector({
 *   seed: 7,
 *   out: { loss: 0.1 },
 *   rules: [{ direction: "out", kind: "SYN+ACK", nth: 2, action: "drop" }],
 * });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * link.close();
 * assert.equal(faults.stats.out.dropped, 0);
 * ```
 *
 * @module
 */

import { type Addr, type DatagramLink, formatAddr, type LinkWrapper } from "./link.ts";
import { parseSegment, segmentKind } from "./segment.ts";

/**
 * Creates a small seeded pseudo-random generator (mulberry32, 32-bit state)
 * returning numbers in `[0, 1)`. The same seed always gives the same
 * sequence, on every platform; it is fast and good enough for fault
 * injection, not for cryptography. Only the low 32 bits of `seed` count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./faults.ts";
 * const a = mulberry32(42);
 * const b = mulberry32(42);
 * assert.ok(a() === b());
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `length` seeded pseudo-random bytes: the same seed (or the same generator
 * state) gives the same bytes, so a failing test names the data it used.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32, randomBytes } from "./faults.ts";
 * assert.ok(randomBytes(4, 7).join() === randomBytes(4, 7).join());
 * assert.equal(randomBytes(3, mulberry32(7)).length, 3);
 * ```
 */
export function randomBytes(length: number, seed: number | (() => number)): Uint8Array {
  const random = typeof seed === "number" ? mulberry32(seed) : seed;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/**
 * The random faults of one direction. Every field is optional and defaults to
 * 0 (no fault).
 *
 * @example Every datagram twice, 5 ms late
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FaultConfig, FaultModel, mulberry32 } from "./faults.ts";
 * const config: FaultConfig = { duplicate: 1, delay: 5 };
 * const model = new FaultModel(mulberry32(3), config);
 * assert.deepEqual(model.decide(), { deliver: [ 5, 5 ], hold: false });
 * ```
 */
export interface FaultConfig {
  /** Probability, 0..1, that a datagram is dropped. */
  loss?: number;
  /** Probability, 0..1, that a datagram that is not dropped is delivered twice. */
  duplicate?: number;
  /**
   * Probability, 0..1, that a datagram is held back and delivered right after
   * the next datagram of the same link and direction.
   */
  reorder?: number;
  /** Delay in milliseconds added to every delivered copy. */
  delay?: number;
  /** Each copy's delay varies uniformly in `delay ± jitter` ms (never below 0). */
  jitter?: number;
}

/**
 * The direction of a datagram seen from the wrapped link: `out` is `send`, `in` is `receive`.
 *
 * @example Duplicate the first segment in each direction
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FaultDirection, FaultInjector } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 * import { createSegment } from "./segment.ts";
 *
 * const directions: FaultDirection[] = ["out", "in"];
 * const faults = new FaultInjector({
 *   seed: 0,
 *   rules: directions.map((direction) => ({
 *     direction,
 *     kind: "any",
 *     nth: 1,
 *     action: "duplicate",
 *   })),
 * });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * const ack = createSegment({ syn: false, ack: true, fin: false, seq: 9, data: new Uint8Array() });
 * await link.send(ack, link.localAddr); // sent twice
 * await link.receive(new Uint8Array(64)); // the first copy, received twice
 * link.close();
 * assert.deepEqual(directions.map((direction) => faults.stats[direction].duplicated), [ 1, 1 ]);
 * ```
 */
export type FaultDirection = "out" | "in";

/**
 * A deterministic fault: "drop the 3rd SYN+ACK this side sends".
 *
 * @example Drop the first SYN sent
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector, type FaultRule } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 * import { createSegment } from "./segment.ts";
 *
 * const rule: FaultRule = { direction: "out", kind: "SYN", nth: 1, action: "drop" };
 * const faults = new FaultInjector({ seed: 0, rules: [rule] });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * for (const seq of [7, 8]) {
 *   const syn = createSegment({ syn: true, ack: false, fin: false, seq, data: new Uint8Array() });
 *   await link.send(syn, link.localAddr);
 * }
 * const [bytes] = await link.receive(new Uint8Array(64));
 * link.close();
 * assert.equal(new TextDecoder().decode(bytes), "1|||0|||0|||8|||");
 * ```
 */
export interface FaultRule {
  /** Which direction the rule watches. */
  direction: FaultDirection;
  /** A {@linkcode segmentKind} name (`SYN`, `SYN+ACK`, `ACK`, `DATA`, `FIN`, `FIN+ACK`) or `any`. */
  kind: string;
  /**
   * 1-based: the rule fires on the nth datagram of this kind in this
   * direction, counted across all links wrapped by the same injector.
   */
  nth: number;
  /** What happens to that datagram. */
  action: "drop" | "duplicate";
  /**
   * What `nth` counts. `datagrams` (the default): every datagram of the kind,
   * retransmissions included, so that rules 1, 2 and 3 on `FIN` lose the
   * first three transmissions of one FIN. `segments`: each segment once, at
   * its first transmission; a datagram with the same bytes and peer as one
   * already seen in that direction is a retransmission (or a copy of the last
   * ACK), neither counted nor matched. So "the 2nd DATA" is the first segment
   * of the message however often a timeout resent the length before it.
   */
  counts?: "datagrams" | "segments";
}

/**
 * The two directions through the relay.
 *
 * @example A request and its answer cross the relay
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * import { type RelayDirection, startRelay } from "./relay.ts";
 *
 * const directions: RelayDirection[] = [];
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   onEvent: (event) => event.type === "datagram" && directions.push(event.direction),
 * });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("ping"), relay.addr);
 * const [, from] = await server.receive(new Uint8Array(64));
 * await server.send(new TextEncoder().encode("pong"), from);
 * await client.receive(new Uint8Array(64));
 * client.close();
 * server.close();
 * assert.deepEqual(directions, ["toServer", "toClient"]);
 * ```
 */
export type RelayDirection = "toServer" | "toClient";

/**
 * A deterministic fault of a {@linkcode Relay}: the `nth` datagram of `kind`
 * (a segment kind, or `any`) in `direction`, counted over all clients, is
 * dropped, duplicated, or held (`hold`) until the next datagram with the same
 * bytes in that direction (its retransmission) has been forwarded, so that it
 * arrives after it.
 *
 * @example "The 2nd DATA" is the file's first segment, however often the length was resent
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * import { type RelayRule, startRelay } from "./relay.ts";
 *
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const rule: RelayRule = {
 *   direction: "toServer",
 *   kind: "DATA",
 *   nth: 2,
 *   action: "drop",
 *   counts: "segments",
 * };
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   rules: [rule],
 * });
 * const encoder = new TextEncoder();
 * for (const segment of ["0|||0|||0|||5|||11", "0|||0|||0|||5|||11", "0|||0|||0|||7|||hola"]) {
 *   await client.send(encoder.encode(segment), relay.addr);
 * }
 * await client.send(encoder.encode("0|||0|||0|||11|||chau"), relay.addr);
 * const arrived: string[] = [];
 * for (let i = 0; i < 3; i++) {
 *   const [bytes] = await server.receive(new Uint8Array(64));
 *   arrived.push(new TextDecoder().decode(bytes));
 * }
 * // The length went twice; its resend is not "the 2nd DATA": seq=7 is.
 * assert.deepEqual(arrived, ["0|||0|||0|||5|||11", "0|||0|||0|||5|||11", "0|||0|||0|||11|||chau"]);
 * client.close();
 * server.close();
 * ```
 */
export interface RelayRule {
  /** Which way the datagram travels. */
  direction: RelayDirection;
  /** A segment kind (`SYN`, `SYN+ACK`, `ACK`, `DATA`, `FIN`, `FIN+ACK`) or `any`. */
  kind: string;
  /** 1-based. */
  nth: number;
  /** What happens to it. */
  action: "drop" | "duplicate" | "hold";
  /**
   * What `nth` counts. `datagrams` (the default): every datagram of the kind,
   * retransmissions included, so that rules 1, 2 and 3 on `FIN` lose the
   * first three transmissions of one FIN. `segments`: each segment once, at
   * its first transmission; a datagram whose bytes the relay already carried
   * from that client in that direction is a retransmission (or a copy of the
   * last ACK), neither counted nor matched. So "the 2nd DATA" is the file's
   * first segment however often a timeout resent the length before it.
   */
  counts?: "datagrams" | "segments";
}

/** What {@linkcode RuleMatcher} needs of a rule: the injector's and the relay's have this shape. */
export interface CountedRule {
  /** The direction the rule watches (`out`/`in`, or the relay's `toServer`/`toClient`). */
  direction: string;
  /** A segment kind, or `any`. */
  kind: string;
  /** 1-based. */
  nth: number;
  /** `datagrams` (the default) or `segments` (see {@linkcode FaultRule.counts}). */
  counts?: "datagrams" | "segments";
}

/**
 * Finds the rule, if any, that a datagram fires: "the nth datagram (or
 * segment) of a kind going one way". Counts by direction and kind, and for
 * rules that count segments remembers what it has seen only until the
 * highest such `nth` of that kind is reached, so a long transfer keeps none.
 * Shared by {@linkcode FaultInjector} and the relay.
 *
 * @example The length resent does not count as the 2nd DATA segment
 * ```ts
 * import assert from "node:assert/strict";
 * import { RuleMatcher } from "./faults.ts";
 * const matcher = new RuleMatcher([
 *   { direction: "out", kind: "DATA", nth: 2, counts: "segments" },
 * ], "fault rule");
 * const fired = ["len", "len", "hola", "hola"].map((bytes) =>
 *   matcher.match("out", "DATA", () => bytes) !== undefined
 * );
 * assert.deepEqual(fired, [false, false, true, false]);
 * ```
 */
export class RuleMatcher<R extends CountedRule> {
  readonly #rules: readonly R[];
  readonly #counts = new Map<string, number>();
  /** By direction and kind: the highest `nth` of a rule counting segments. */
  readonly #limits = new Map<string, number>();
  readonly #segments = new Map<string, number>();
  readonly #seen = new Map<string, Set<string>>();

  /**
   * Checks and keeps `rules`; `what` names them in errors ("relay rule").
   *
   * @throws {RangeError} when a rule's `nth` is not a positive integer or its
   * `counts` is neither `datagrams` nor `segments`.
   */
  constructor(rules: readonly R[], what: string) {
    for (const rule of rules) {
      if (!Number.isInteger(rule.nth) || rule.nth < 1) {
        throw new RangeError(`Cannot create ${what}: nth is ${rule.nth}, expected an integer >= 1`);
      }
      if (rule.counts !== undefined && rule.counts !== "datagrams" && rule.counts !== "segments") {
        throw new RangeError(
          `Cannot create ${what}: counts is ${rule.counts}, expected "datagrams" or "segments"`,
        );
      }
      if (rule.counts === "segments") {
        const name = `${rule.direction} ${rule.kind}`;
        this.#limits.set(name, Math.max(rule.nth, this.#limits.get(name) ?? 0));
      }
    }
    this.#rules = [...rules];
  }

  /**
   * Counts one datagram of `kind` going `direction` (under its kind and
   * under `any`) and returns the first rule it fires. `key()` names the
   * segment (its bytes and peer): asked only while a rule counts segments.
   */
  match(direction: string, kind: string, key: () => string): R | undefined {
    if (this.#rules.length === 0) return undefined; // a relay with random faults only
    let fired: R | undefined;
    for (const name of [`${direction} ${kind}`, `${direction} any`]) {
      const count = (this.#counts.get(name) ?? 0) + 1;
      this.#counts.set(name, count);
      const segment = this.#countSegment(name, key);
      for (const rule of this.#rules) {
        if (`${rule.direction} ${rule.kind}` !== name) continue;
        if (rule.nth === (rule.counts === "segments" ? segment : count)) fired ??= rule;
      }
    }
    return fired;
  }

  /** The datagram's number among the segments of `name` when it is a new one; else 0. */
  #countSegment(name: string, key: () => string): number {
    const limit = this.#limits.get(name) ?? 0;
    const counted = this.#segments.get(name) ?? 0;
    if (counted >= limit) return 0;
    let seen = this.#seen.get(name);
    if (!seen) this.#seen.set(name, seen = new Set());
    const id = key();
    if (seen.has(id)) return 0;
    seen.add(id);
    this.#segments.set(name, counted + 1);
    if (counted + 1 === limit) this.#seen.delete(name); // every such rule has had its turn
    return counted + 1;
  }
}

/**
 * What {@linkcode FaultModel.decide} decided for one datagram.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FaultDecision, FaultModel, mulberry32 } from "./faults.ts";
 * const model = new FaultModel(mulberry32(1), { loss: 1 });
 * const decision: FaultDecision = model.decide();
 * assert.equal(decision.deliver.length === 0 ? "dropped" : "delivered", "dropped");
 * ```
 */
export interface FaultDecision {
  /**
   * One delay in ms per copy to deliver: `[]` drops the datagram, `[0]`
   * delivers it now, `[0, 0]` delivers it twice now, `[25]` in 25 ms.
   */
  deliver: number[];
  /**
   * True when the datagram should be held back and delivered (its `deliver`
   * delays then counting from that moment) right after the next datagram of
   * the same link and direction: this is how reordering works. Never true
   * for a dropped datagram.
   */
  hold: boolean;
}

const PROBABILITIES = ["loss", "duplicate", "reorder"] as const;
const DURATIONS = ["delay", "jitter"] as const;

/** Throws a `RangeError` unless every field of `config` is in range. */
function checkConfig(config: FaultConfig): void {
  for (const name of PROBABILITIES) {
    const value = config[name] ?? 0;
    if (!(value >= 0 && value <= 1)) {
      throw new RangeError(
        `Cannot create fault model: ${name} is ${value}, expected a probability in 0..1`,
      );
    }
  }
  for (const name of DURATIONS) {
    const value = config[name] ?? 0;
    if (!(value >= 0 && Number.isFinite(value))) {
      throw new RangeError(
        `Cannot create fault model: ${name} is ${value}, expected a number of ms >= 0`,
      );
    }
  }
}

/**
 * The pure decision logic of random faults for one direction: no sockets, no
 * timers, no clock. Each call to {@linkcode FaultModel.decide} draws from the
 * random source in a fixed order (loss; then duplicate and reorder; then one
 * jitter draw per copy when `jitter > 0`), so the same seed and the same
 * sequence of calls always give the same decisions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultModel, mulberry32 } from "./faults.ts";
 * const model = new FaultModel(mulberry32(1), { loss: 0.5, delay: 10 });
 * const { deliver } = model.decide();
 * assert.ok(deliver.length === 0 || deliver[0] === 10);
 * ```
 */
export class FaultModel {
  readonly #random: () => number;
  readonly #config: Required<FaultConfig>;

  /**
   * Creates a model drawing from `random` (for example {@linkcode mulberry32}).
   *
   * @throws {RangeError} when a probability is outside 0..1 or a delay or
   * jitter is negative or not finite.
   */
  constructor(random: () => number, config: FaultConfig = {}) {
    checkConfig(config);
    this.#random = random;
    this.#config = {
      loss: config.loss ?? 0,
      duplicate: config.duplicate ?? 0,
      reorder: config.reorder ?? 0,
      delay: config.delay ?? 0,
      jitter: config.jitter ?? 0,
    };
  }

  /** The configuration, with defaults filled in. */
  get config(): Readonly<Required<FaultConfig>> {
    return this.#config;
  }

  /** Decides the fate of the next datagram. */
  decide(): FaultDecision {
    const { loss, duplicate, reorder, delay, jitter } = this.#config;
    if (this.#random() < loss) return { deliver: [], hold: false };
    const copies = this.#random() < duplicate ? 2 : 1;
    const hold = this.#random() < reorder;
    const deliver: number[] = [];
    for (let i = 0; i < copies; i++) {
      const offset = jitter > 0 ? (this.#random() * 2 - 1) * jitter : 0;
      deliver.push(Math.max(0, Math.round(delay + offset)));
    }
    return { deliver, hold };
  }
}

/**
 * What an injector did with one datagram, most notable fault first.
 *
 * @example Reorder every other datagram
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FaultAction, FaultInjector } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 *
 * const faults = new FaultInjector({ seed: 0, out: { reorder: 1 } });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * for (const byte of [1, 2, 3, 4]) await link.send(new Uint8Array([byte]), link.localAddr);
 * link.close();
 * const actions: FaultAction[] = faults.log.map((entry) => entry.action);
 * assert.deepEqual(actions, [ "reorder", "deliver", "reorder", "deliver" ]);
 * ```
 */
export type FaultAction = "deliver" | "drop" | "duplicate" | "reorder" | "delay";

/**
 * One line of {@linkcode FaultInjector.log}.
 *
 * @example A FIN lost on its way out
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector, type FaultLogEntry } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 * import { createSegment } from "./segment.ts";
 *
 * const faults = new FaultInjector({ seed: 0, out: { loss: 1 } });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * const data = new Uint8Array();
 * const fin = createSegment({ syn: false, ack: false, fin: true, seq: 60, data });
 * await link.send(fin, link.localAddr);
 * link.close();
 * const entry: FaultLogEntry = faults.log[0];
 * assert.equal(entry.kind, "FIN");
 * assert.equal(entry.seq, 60);
 * assert.equal(entry.action, "drop");
 * assert.equal(entry.rule, false);
 * ```
 */
export interface FaultLogEntry {
  /** `out` for a datagram sent through a wrapped link, `in` for one received. */
  direction: FaultDirection;
  /** The segment's {@linkcode segmentKind}, or `INVALID` when it does not parse. */
  kind: string;
  /** The segment's sequence number, or `null` when it does not parse. */
  seq: number | null;
  /** The fault applied (`delay` only when nothing else happened). */
  action: FaultAction;
  /** The delays of the copies delivered (`[]` when dropped). */
  delays: number[];
  /** True when a {@linkcode FaultRule} decided, rather than the random model. */
  rule: boolean;
  /** The destination (`out`) or the source (`in`) of the datagram. */
  peer: Addr;
}

/**
 * Counters for one direction of a {@linkcode FaultInjector}.
 *
 * @example One datagram sent, two copies delivered
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector, type FaultStats } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 *
 * const faults = new FaultInjector({ seed: 0, out: { duplicate: 1 } });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * await link.send(new TextEncoder().encode("x"), link.localAddr);
 * link.close();
 * const stats: FaultStats = faults.stats.out;
 * assert.equal(stats.datagrams, 1);
 * assert.equal(stats.delivered, 2);
 * assert.equal(stats.duplicated, 1);
 * ```
 */
export interface FaultStats {
  /** Datagrams offered: sent by the protocol (`out`) or read from the network (`in`). */
  datagrams: number;
  /** Copies actually handed on (duplicates count twice; discarded ones not at all). */
  delivered: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Datagrams delivered twice. */
  duplicated: number;
  /** Datagrams held back behind the next one. */
  reordered: number;
  /** Datagrams with at least one copy delayed by more than 0 ms. */
  delayed: number;
}

/**
 * Options of {@linkcode FaultInjector}.
 *
 * @example Watch decisions as they happen instead of keeping a log
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector, type FaultInjectorOptions } from "./faults.ts";
 * import { udpLink } from "./link.ts";
 * import { createSegment } from "./segment.ts";
 *
 * const seen: string[] = [];
 * const options: FaultInjectorOptions = {
 *   seed: 42,
 *   out: { loss: 1 },
 *   log: false,
 *   onDecision: (entry) => seen.push(`${entry.direction} ${entry.kind} ${entry.action}`),
 * };
 * const faults = new FaultInjector(options);
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * const syn = createSegment({ syn: true, ack: false, fin: false, seq: 7, data: new Uint8Array() });
 * await link.send(syn, link.localAddr);
 * link.close();
 * assert.deepEqual(seen, [ "out SYN drop" ]);
 * assert.equal(faults.log.length, 0);
 * ```
 */
export interface FaultInjectorOptions {
  /** Seed of the random faults (`out` and `in` draw from two streams derived from it). */
  seed: number;
  /** Random faults applied to `send`. Default: none. */
  out?: FaultConfig;
  /** Random faults applied to `receive`. Default: none. */
  in?: FaultConfig;
  /** Deterministic faults, checked before the random model. Default: none. */
  rules?: FaultRule[];
  /** Keep every decision in {@linkcode FaultInjector.log}. Default: true. */
  log?: boolean;
  /** Called synchronously with every decision (for traces and progress). */
  onDecision?: (entry: FaultLogEntry) => void;
}

/** The decision for one datagram, as the wrapped link applies it. */
interface Verdict {
  delays: number[];
  hold: boolean;
}

/** A datagram waiting for a timer or for the next datagram. */
interface Pending {
  data: Uint8Array;
  peer: Addr;
  delays: number[];
}

function emptyStats(): FaultStats {
  return { datagrams: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0 };
}

/**
 * Injects seeded faults under any number of links. Wrap every link of one side
 * (a listener, the child sockets it creates, a client) with the same
 * injector: rules count datagrams across all of them, and the random faults of
 * each direction come from one seeded stream.
 *
 * How a wrapped link applies a decision:
 * - drop: `send` resolves without sending; `receive` silently waits for the next datagram;
 * - duplicate: the datagram is sent twice, or returned by two calls to `receive`;
 * - delay: the copy is sent (or made available to `receive`) by a timer;
 * - reorder: the datagram is held and released right after the next datagram of
 *   the same link and direction has been handled (whatever its fate). While one
 *   datagram is held the next one is never held, so `reorder: 1` turns
 *   `A B C D` into `B A D C`. A datagram still held, or still waiting for its
 *   timer, when the link closes is discarded.
 *
 * Without delay, `send` goes straight through (no timer, no copy). Datagrams
 * that do not parse as segments go through the random model, but no rule
 * matches them. When a rule fires, the random model is skipped for that
 * datagram. Closing a wrapped link clears all its timers.
 *
 * @example Duplicate every DATA segment received
 * ```ts
 * import assert from "node:assert/strict";
 * import { FaultInjector } from "./faults.ts";
 * import { createSegment } from "./segment.ts";
 * import { udpLink } from "./link.ts";
 *
 * const faults = new FaultInjector({ seed: 1, in: { duplicate: 1 } });
 * const link = faults.wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
 * const peer = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await peer.send(createSegment({ syn: false, ack: false, fin: false, seq: 5, data: new Uint8Array(2) }), link.localAddr);
 * const buffer = new Uint8Array(64);
 * const [first] = await link.receive(buffer);
 * const copy = first.slice();
 * const [second] = await link.receive(buffer);
 * assert.deepEqual(second, copy); // the same segment, twice
 * assert.equal(faults.stats.in.duplicated, 1);
 * link.close();
 * peer.close();
 * ```
 */
export class FaultInjector {
  /** Counters per direction. */
  readonly stats: { readonly out: FaultStats; readonly in: FaultStats } = {
    out: emptyStats(),
    in: emptyStats(),
  };
  /** Every decision, in order (empty when the `log` option is false). */
  readonly log: FaultLogEntry[] = [];
  /** Wraps a link so that its `send` and `receive` suffer this injector's faults. */
  readonly wrap: LinkWrapper;

  readonly #models: Record<FaultDirection, FaultModel>;
  readonly #rules: RuleMatcher<FaultRule>;
  readonly #keepLog: boolean;
  readonly #onDecision?: (entry: FaultLogEntry) => void;

  /**
   * Creates an injector.
   *
   * @throws {RangeError} when a fault configuration is out of range, a
   * rule's `nth` is not a positive integer or its `counts` is unknown.
   */
  constructor(options: FaultInjectorOptions) {
    const seed = options.seed >>> 0;
    this.#models = {
      out: new FaultModel(mulberry32(seed), options.out),
      in: new FaultModel(mulberry32((seed ^ 0x9e3779b9) >>> 0), options.in),
    };
    this.#rules = new RuleMatcher(options.rules ?? [], "fault rule");
    this.#keepLog = options.log ?? true;
    this.#onDecision = options.onDecision;
    this.wrap = (link) =>
      new FaultyLink(
        link,
        (direction, data, peer, canHold) => this.#decide(direction, data, peer, canHold),
        this.stats,
      );
  }

  /** Decides the fate of one datagram, updates the counters and the log. */
  #decide(direction: FaultDirection, data: Uint8Array, peer: Addr, canHold: boolean): Verdict {
    let kind = "INVALID";
    let seq: number | null = null;
    try {
      const segment = parseSegment(data);
      kind = segmentKind(segment);
      seq = segment.seq;
    } catch {
      // Not a segment: random faults only.
    }
    const stats = this.stats[direction];
    stats.datagrams++;
    let verdict: Verdict | undefined;
    if (seq !== null) {
      const fired = this.#rules.match(direction, kind, () => `${formatAddr(peer)} ${data.join()}`);
      if (fired) verdict = { delays: fired.action === "drop" ? [] : [0, 0], hold: false };
    }
    const rule = verdict !== undefined;
    if (!verdict) {
      const decision = this.#models[direction].decide();
      verdict = { delays: decision.deliver, hold: decision.hold && canHold };
    }
    let action: FaultAction = "deliver";
    if (verdict.delays.length === 0) {
      stats.dropped++;
      action = "drop";
    } else {
      if (verdict.delays.some((delay) => delay > 0)) {
        stats.delayed++;
        action = "delay";
      }
      if (verdict.hold) {
        stats.reordered++;
        action = "reorder";
      }
      if (verdict.delays.length > 1) {
        stats.duplicated++;
        action = "duplicate";
      }
    }
    if (this.#keepLog || this.#onDecision) {
      const entry = { direction, kind, seq, action, delays: verdict.delays, rule, peer };
      if (this.#keepLog) this.log.push(entry);
      this.#onDecision?.(entry);
    }
    return verdict;
  }
}

type Decide = (
  direction: FaultDirection,
  data: Uint8Array,
  peer: Addr,
  canHold: boolean,
) => Verdict;

/** The largest UDP payload, so that the inner receive never truncates. */
const MAX_DATAGRAM = 65536;

/** A link whose `send` and `receive` go through an injector's decisions. */
class FaultyLink implements DatagramLink {
  readonly #inner: DatagramLink;
  readonly #decide: Decide;
  readonly #stats: { readonly out: FaultStats; readonly in: FaultStats };
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  #heldOut?: Pending;
  #heldIn?: Pending;
  /** Received datagrams (copies) ready for `receive`. */
  readonly #ready: Array<{ data: Uint8Array; from: Addr }> = [];
  /** The one inner `receive` in flight, shared by concurrent callers. */
  #pull?: Promise<void>;
  #failure?: { error: unknown };
  #buffer?: Uint8Array;
  #wake = Promise.withResolvers<void>();

  constructor(
    inner: DatagramLink,
    decide: Decide,
    stats: { readonly out: FaultStats; readonly in: FaultStats },
  ) {
    this.#inner = inner;
    this.#decide = decide;
    this.#stats = stats;
  }

  get localAddr(): Addr {
    return this.#inner.localAddr;
  }

  async send(data: Uint8Array, to: Addr): Promise<void> {
    if (this.#closed) throw new Deno.errors.BadResource("Cannot send: the link is closed");
    const held = this.#heldOut;
    const verdict = this.#decide("out", data, to, held === undefined);
    if (verdict.hold) {
      this.#heldOut = { data: data.slice(), peer: to, delays: verdict.delays };
      return;
    }
    this.#heldOut = undefined;
    await this.#sendCopies({ data, peer: to, delays: verdict.delays });
    if (held) await this.#sendCopies(held);
  }

  async #sendCopies(pending: Pending): Promise<void> {
    for (const delay of pending.delays) {
      if (delay <= 0) {
        await this.#inner.send(pending.data, pending.peer);
        this.#stats.out.delivered++;
      } else {
        const data = pending.data.slice();
        this.#later(delay, () => {
          this.#inner.send(data, pending.peer).then(
            () => this.#stats.out.delivered++,
            () => {}, // like a datagram lost on the wire
          );
        });
      }
    }
  }

  async receive(buffer: Uint8Array): Promise<[Uint8Array, Addr]> {
    for (;;) {
      const next = this.#ready.shift();
      if (next) {
        const length = Math.min(next.data.length, buffer.length);
        buffer.set(next.data.subarray(0, length));
        this.#stats.in.delivered++;
        return [buffer.subarray(0, length), next.from];
      }
      if (this.#closed) {
        await this.#pull; // the inner receive settles (and frees its socket) first
        throw new Deno.errors.BadResource("Cannot receive: the link is closed");
      }
      if (this.#failure) {
        const { error } = this.#failure;
        this.#failure = undefined;
        throw error;
      }
      this.#pull ??= this.#pullOnce();
      await Promise.race([this.#pull, this.#wake.promise]);
    }
  }

  /** Reads one datagram from the inner link and files it according to its fate. */
  async #pullOnce(): Promise<void> {
    try {
      this.#buffer ??= new Uint8Array(MAX_DATAGRAM);
      const [bytes, from] = await this.#inner.receive(this.#buffer);
      const held = this.#heldIn;
      const verdict = this.#decide("in", bytes, from, held === undefined);
      if (verdict.hold) {
        this.#heldIn = { data: bytes.slice(), peer: from, delays: verdict.delays };
        return;
      }
      this.#heldIn = undefined;
      this.#fileIncoming({ data: bytes, peer: from, delays: verdict.delays });
      if (held) this.#fileIncoming(held);
    } catch (error) {
      if (!this.#closed) this.#failure = { error };
    } finally {
      this.#pull = undefined;
    }
  }

  #fileIncoming(pending: Pending): void {
    for (const delay of pending.delays) {
      const datagram = { data: pending.data.slice(), from: pending.peer };
      if (delay <= 0) {
        this.#ready.push(datagram);
      } else {
        this.#later(delay, () => {
          this.#ready.push(datagram);
          this.#wakeUp();
        });
      }
    }
  }

  #wakeUp(): void {
    this.#wake.resolve();
    this.#wake = Promise.withResolvers<void>();
  }

  #later(delay: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) action();
    }, delay);
    this.#timers.add(timer);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#heldOut = undefined;
    this.#heldIn = undefined;
    this.#ready.length = 0;
    this.#wakeUp();
    this.#inner.close();
  }
}
