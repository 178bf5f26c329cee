/**
 * Retransmission timeouts: a fixed one (the assignment's step 5) and an
 * adaptive one computed as RFC 6298 says. Pure arithmetic, no clock: the
 * socket measures round trips and passes them in.
 *
 * @module
 */
import { checkOptionNames, optionError } from "./errors.ts";

/**
 * The longest timeout, in ms: `setTimeout` takes at most 2^31 - 1 (longer
 * delays fire at once, with a warning, and a timer re-armed that way spins).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a timeout option must be, for messages. */
const TIMER_RANGE = `a number > 0 and <= ${MAX_TIMER_MS} (ms; setTimeout's longest delay)`;

/**
 * Checks a duration option in ms: a number > 0 and at most
 * {@linkcode MAX_TIMER_MS}. Returns it.
 *
 * @throws {TypeError} when it is not a number; {RangeError} when out of range.
 */
export function checkTimerMs(name: string, value: unknown): number {
  if (typeof value !== "number" || !(value > 0) || !(value <= MAX_TIMER_MS)) {
    throw optionError(name, value, TIMER_RANGE, "number");
  }
  return value;
}

/**
 * How a socket chooses its retransmission timeout.
 *
 * @example The timeouts of four transmissions of one segment
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdaptiveRto, FixedRto, type RtoPolicy } from "./rto.ts";
 * function timeouts(policy: RtoPolicy, transmissions: number): number[] {
 *   const result = [policy.rto];
 *   for (let retries = 1; retries < transmissions; retries++) {
 *     result.push(policy.backoff(result[result.length - 1], retries));
 *   }
 *   return result;
 * }
 * assert.deepEqual(timeouts(new FixedRto(200), 4), [ 200, 200, 200, 200 ]);
 * const adaptive = new AdaptiveRto({ initial: 100, linearRetries: 1 });
 * assert.deepEqual(timeouts(adaptive, 4), [ 100, 100, 200, 400 ]);
 * ```
 */
export interface RtoPolicy {
  /** The timeout for the first transmission of a new segment, in ms. */
  readonly rto: number;
  /** The smoothed round-trip time, in ms, once measured (adaptive only). */
  readonly srtt: number | undefined;
  /** Feeds one round-trip measurement, in ms (Karn's rule: never of a retransmitted segment). */
  sample(rtt: number): void;
  /**
   * Reports a spurious timeout: the ACK of a segment's first transmission
   * arrived `rtt` ms after it was sent, just after the timer had resent it
   * (the process was not scheduled, or the path slowed down).
   */
  spurious(rtt: number): void;
  /**
   * The timeout for the next retransmission of a segment whose last timeout
   * was `rto`, after `retries` retransmissions of it so far (1 for the first).
   */
  backoff(rto: number, retries: number): number;
}

/**
 * Bounds of the adaptive timeout, in milliseconds.
 *
 * @example A 1 ms round trip, with a 200 ms floor
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdaptiveRto, type AdaptiveRtoOptions } from "./rto.ts";
 * const options: AdaptiveRtoOptions = { initial: 400, min: 200 };
 * const rto = new AdaptiveRto(options);
 * assert.equal(rto.rto, 400);
 * rto.sample(1);
 * assert.equal(rto.rto, 200);
 * ```
 */
export interface AdaptiveRtoOptions {
  /** Timeout before the first measurement. Default 100 (RFC 6298 says 1000 for the Internet; loopback and LANs answer in well under 1 ms). */
  initial?: number;
  /** Lower bound. Default 2: Deno's timers cannot fire sooner than about 2 ms. */
  min?: number;
  /** Upper bound of the timeout and of its backoff. Default 500. */
  max?: number;
  /** Clock granularity G of RFC 6298. Default 1. */
  granularity?: number;
  /**
   * Retransmissions of one segment that keep the same timeout before it starts
   * doubling. Default 6, as Linux's `tcp_thin_linear_timeouts` does for thin
   * streams (fewer than 4 segments in flight): Stop & Wait is the thinnest
   * stream there is, and at loss rates near 50% per round trip doubling from
   * the first timeout makes the expected wait per segment grow without bound.
   */
  linearRetries?: number;
}

/** Default bounds of the adaptive timeout. */
export const ADAPTIVE_RTO_DEFAULTS: Required<AdaptiveRtoOptions> = {
  initial: 100,
  min: 2,
  max: 500,
  granularity: 1,
  linearRetries: 6,
};

/** Every field of {@linkcode AdaptiveRtoOptions}: a name outside it is a typo. */
const RTO_OPTION_NAMES = Object.keys(
  { initial: 0, min: 0, max: 0, granularity: 0, linearRetries: 0 } satisfies Required<
    AdaptiveRtoOptions
  >,
);

/** Per good sample, the floor learnt from spurious timeouts shrinks by this factor (half-life ~70 samples). */
const FLOOR_DECAY = 0.99;

/**
 * The adaptive timeout of RFC 6298: `SRTT` and `RTTVAR` smoothed from
 * measurements, `RTO = SRTT + max(G, 4 * RTTVAR)` clamped to `[min, max]`.
 * A segment sent again keeps its timeout for `linearRetries` retransmissions
 * (Linux's linear timeouts for thin streams), then doubles it on each one,
 * bounded by `max`. Unlike RFC 6298 (5.7), a doubled timeout is not carried
 * over to the next segment: every new segment starts again from the smoothed
 * estimate, so at high loss one unlucky segment does not slow down all the
 * following ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdaptiveRto } from "./rto.ts";
 * const rto = new AdaptiveRto({ initial: 100, min: 2, max: 500, linearRetries: 1 });
 * rto.sample(10); // SRTT = 10, RTTVAR = 5
 * assert.equal(rto.rto, 30); // 10 + 4 * 5
 * assert.equal(rto.backoff(30, 1), 30);
 * assert.equal(rto.backoff(30, 2), 60);
 * ```
 */
export class AdaptiveRto implements RtoPolicy {
  #srtt: number | undefined;
  #rttvar = 0;
  #rto: number;
  /** A lower bound learnt from spurious timeouts, decaying with each good sample. */
  #floor = 0;
  readonly #options: Required<AdaptiveRtoOptions>;

  /**
   * Creates an estimator with no measurement yet. `initial`, `min` and `max`
   * must be numbers of ms > 0 and at most 2^31 - 1, with `min <= max`. An
   * `initial` given must lie in `min..max`; the default one (100) is clamped
   * into them, so `{ max: 20 }` starts at 20.
   *
   * @throws {RangeError} when a bound is out of range; {TypeError} when it is
   * not a number, or an option name is unknown. The messages name the option
   * as `rto.min` and so on, as the `rto` option of `SocketTCP` spells them.
   */
  constructor(options: AdaptiveRtoOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw optionError("rto", options, "an object", "object");
    }
    checkOptionNames(options, RTO_OPTION_NAMES, "rto.");
    const given = Object.fromEntries(
      Object.entries(options).filter(([, value]) => value !== undefined),
    ) as AdaptiveRtoOptions;
    const o = { ...ADAPTIVE_RTO_DEFAULTS, ...given };
    for (const name of ["initial", "min", "max"] as const) checkTimerMs(`rto.${name}`, o[name]);
    if (
      typeof o.granularity !== "number" || !(o.granularity >= 0) || !Number.isFinite(o.granularity)
    ) {
      throw optionError("rto.granularity", o.granularity, "a finite number >= 0 (ms)", "number");
    }
    if (!Number.isSafeInteger(o.linearRetries) || o.linearRetries < 0) {
      throw optionError("rto.linearRetries", o.linearRetries, "an integer >= 0", "number");
    }
    if (o.min > o.max) {
      const note = given.max === undefined ? " (its default)" : "";
      throw new RangeError(
        `Cannot use option rto.min = ${o.min}: expected at most rto.max = ${o.max}${note}`,
      );
    }
    if (given.initial !== undefined && (o.initial < o.min || o.initial > o.max)) {
      throw new RangeError(
        `Cannot use option rto.initial = ${o.initial}: expected a number in rto.min..rto.max = ${o.min}..${o.max}`,
      );
    }
    this.#options = o;
    this.#rto = this.#clamp(o.initial);
  }

  /** The current timeout for a new segment, in ms. */
  get rto(): number {
    return this.#rto;
  }

  /** The smoothed round-trip time, in ms, or `undefined` before the first measurement. */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  /** The round-trip time variation, in ms. */
  get rttvar(): number {
    return this.#rttvar;
  }

  /** Feeds one round-trip measurement `rtt`, in ms (RFC 6298 section 2). */
  sample(rtt: number): void {
    if (!(rtt >= 0) || !Number.isFinite(rtt)) return;
    if (this.#srtt === undefined) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
    this.#floor *= FLOOR_DECAY;
    this.#rto = this.#clamp(
      Math.max(this.#floor, this.#srtt + Math.max(this.#options.granularity, 4 * this.#rttvar)),
    );
  }

  /**
   * A spurious timeout (the ACK of the first transmission came `rtt` ms after
   * it): the timeout keeps at least `rtt` as a floor (raised at most to
   * twice the current timeout per event), which halves over about 70 later
   * samples. Stalls of the process (a loaded machine)
   * then stop causing resends, while on an idle loopback the floor decays
   * back to the measured round trip and a lost datagram is resent as fast as
   * before.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { AdaptiveRto } from "./rto.ts";
   * const rto = new AdaptiveRto({ initial: 100, min: 2 });
   * for (let i = 0; i < 20; i++) rto.sample(0.05);
   * assert.equal(rto.rto, 2);
   * rto.spurious(9); // the process slept 9 ms: the timer fired before the ACK was read
   * assert.equal(rto.rto, 4); // at most twice the timeout per event
   * rto.spurious(9);
   * assert.equal(rto.rto, 8);
   * for (let i = 0; i < 400; i++) rto.sample(0.05);
   * assert.equal(rto.rto, 2); // back to the floor on an idle machine
   * ```
   */
  spurious(rtt: number): void {
    if (!(rtt >= 0) || !Number.isFinite(rtt)) return;
    // Not a sample: it would double RTTVAR at each event, and a path whose
    // ACKs are held until the resend (a reordering that waits for the next
    // datagram) would ratchet the timeout to its maximum.
    // At most twice the timeout per event: one long stall (or one mistaken
    // detection) must not cost every later loss that long.
    this.#floor = Math.max(this.#floor, Math.min(rtt, 2 * this.#rto));
    this.#rto = this.#clamp(Math.max(this.#rto, this.#floor));
  }

  /**
   * Keeps `rto` for the first `linearRetries` retransmissions of a segment,
   * then doubles it, bounded by the maximum (RFC 6298 section 5.5).
   */
  backoff(rto: number, retries: number): number {
    return retries <= this.#options.linearRetries ? rto : this.#clamp(rto * 2);
  }

  #clamp(ms: number): number {
    return Math.min(this.#options.max, Math.max(this.#options.min, ms));
  }
}

/**
 * A fixed timeout, the assignment's step 5: the same value for every
 * transmission, measured round trips ignored, no backoff.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FixedRto } from "./rto.ts";
 * const rto = new FixedRto(500);
 * rto.sample(3);
 * assert.equal(rto.rto, 500);
 * assert.equal(rto.backoff(500, 9), 500);
 * ```
 */
export class FixedRto implements RtoPolicy {
  /** The fixed timeout, in ms. */
  readonly rto: number;
  /** Always `undefined`: a fixed timeout measures nothing. */
  readonly srtt: number | undefined = undefined;

  /**
   * Creates a fixed timeout of `ms` milliseconds.
   *
   * @throws {RangeError} unless `ms` is > 0 and at most 2^31 - 1 (the
   * longest `setTimeout`); {TypeError} when it is not a number.
   */
  constructor(ms: number) {
    this.rto = checkTimerMs("timeout", ms);
  }

  /** Ignores the measurement. */
  sample(_rtt: number): void {}

  /** Ignores it: a fixed timeout does not adapt. */
  spurious(_rtt: number): void {}

  /** Returns `rto` unchanged. */
  backoff(rto: number, _retries: number): number {
    return rto;
  }
}
