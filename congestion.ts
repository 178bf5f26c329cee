/**
 * Congestion control after RFC 5681, counted in segments, pure: the sender
 * tells it what happened (new ACKs, duplicate ACKs, a timeout) and reads
 * back `cwnd`, the congestion window. `none` keeps the window fixed; `tahoe`
 * and `reno` do slow start and congestion avoidance, and on a loss set
 * `ssthresh = max(cwnd / 2, 2)`: after a timeout both restart from one
 * segment; after three duplicate ACKs Tahoe restarts from one segment too,
 * while Reno halves the window and recovers fast (RFC 5681 section 3.2).
 *
 * @example The sawtooth of Reno, event by event
 * ```ts
 * import assert from "node:assert/strict";
 * import { Congestion } from "./congestion.ts";
 * const cc = new Congestion("reno", 8); // at most 8 segments in flight
 * assert.deepEqual([cc.cwnd, cc.ssthresh], [1, 8]);
 * for (let i = 0; i < 7; i++) cc.onAck(1); // slow start: one more per ACK
 * assert.equal(cc.cwnd, 8);
 * cc.onDuplicateAck(3); // the third duplicate: fast retransmit, fast recovery
 * assert.deepEqual([cc.cwnd, cc.ssthresh, cc.inRecovery], [7, 4, true]);
 * cc.onAck(8); // the hole filled: recovery ends at ssthresh
 * assert.deepEqual([cc.cwnd, cc.ssthresh, cc.inRecovery], [4, 4, false]);
 * cc.onAck(1); // congestion avoidance: 1/cwnd per ACK
 * assert.equal(cc.cwnd, 4.25);
 * cc.onTimeout();
 * assert.deepEqual([cc.cwnd, cc.ssthresh], [1, 2]);
 * ```
 *
 * @module
 */

/** How the congestion window moves: fixed, or TCP Tahoe's or Reno's rules. */
export type CongestionControl = "none" | "tahoe" | "reno";

/** The congestion control algorithms, for option parsing. */
export const CONGESTION_CONTROLS: readonly CongestionControl[] = ["none", "tahoe", "reno"];

/** Duplicate ACKs that signal a loss (RFC 5681's DupThresh). */
export const DUPLICATE_THRESHOLD = 3;

/**
 * The congestion window of one sender, in segments (fractional during
 * congestion avoidance; the sender uses its floor). It never exceeds
 * `window`, the most segments the sender puts in flight, and never falls
 * below one.
 *
 * @example Tahoe after three duplicate ACKs
 * ```ts
 * import assert from "node:assert/strict";
 * import { Congestion } from "./congestion.ts";
 * const cc = new Congestion("tahoe", 16);
 * for (let i = 0; i < 5; i++) cc.onAck(1);
 * assert.equal(cc.cwnd, 6);
 * cc.onDuplicateAck(3);
 * assert.deepEqual([cc.cwnd, cc.ssthresh, cc.peak], [1, 3, 6]);
 * ```
 */
export class Congestion {
  /** The algorithm. */
  readonly algorithm: CongestionControl;
  /** The congestion window, in segments. */
  cwnd: number;
  /** The slow start threshold, in segments. Starts at the largest window (RFC 5681: "arbitrarily high"). */
  ssthresh: number;
  /** The largest `cwnd` reached. */
  peak: number;
  /** Reno: between the third duplicate ACK and the next new ACK. */
  inRecovery = false;
  /** Losses detected: timeouts and triple duplicate ACKs that cut the window. */
  cuts = 0;
  readonly #max: number;

  /** Creates the window state for a sender of at most `window` segments in flight. */
  constructor(algorithm: CongestionControl, window: number) {
    this.algorithm = algorithm;
    this.#max = window;
    this.cwnd = algorithm === "none" ? window : 1;
    this.ssthresh = window;
    this.peak = this.cwnd;
  }

  /** Whether the window moves at all. */
  get enabled(): boolean {
    return this.algorithm !== "none";
  }

  /** Segments the congestion window allows in flight (at least one). */
  get allowed(): number {
    return Math.max(1, Math.floor(this.cwnd));
  }

  /** A new ACK acknowledged `segments` segments (several when ACKs were coalesced or lost). */
  onAck(segments: number): void {
    if (!this.enabled || segments <= 0) return;
    if (this.inRecovery) {
      // Reno: the ACK of the retransmission ends fast recovery (deflation).
      this.inRecovery = false;
      this.cwnd = this.ssthresh;
    } else {
      // Slow start: one more segment per segment acknowledged (an ACK may
      // cover several: RFC 3465's byte counting, as Linux does), up to
      // ssthresh; the rest, and everything beyond it, in congestion
      // avoidance: 1/cwnd per segment, about one more per round trip.
      let left = segments;
      if (this.cwnd < this.ssthresh) {
        const used = Math.min(left, this.ssthresh - this.cwnd);
        this.#set(this.cwnd + used);
        left -= used;
      }
      if (left > 0) this.#set(this.cwnd + left / this.cwnd);
    }
  }

  /**
   * The `count`th duplicate ACK in a row. Returns whether it is the one that
   * calls for a fast retransmission (exactly the third).
   */
  onDuplicateAck(count: number): boolean {
    if (count === DUPLICATE_THRESHOLD) {
      if (this.enabled) {
        this.#cut();
        if (this.algorithm === "reno") {
          this.inRecovery = true;
          this.#set(this.ssthresh + DUPLICATE_THRESHOLD); // the three that left the network
        } else {
          this.cwnd = 1;
        }
      }
      return true;
    }
    // Reno's window inflation: every further duplicate is a segment that left.
    if (count > DUPLICATE_THRESHOLD && this.inRecovery) this.#set(this.cwnd + 1);
    return false;
  }

  /** The retransmission timer expired: back to one segment, in slow start. */
  onTimeout(): void {
    if (!this.enabled) return;
    this.#cut();
    this.inRecovery = false;
    this.cwnd = 1;
  }

  #cut(): void {
    this.cuts++;
    this.ssthresh = Math.max(Math.floor(this.cwnd / 2), 2);
  }

  #set(cwnd: number): void {
    this.cwnd = Math.min(cwnd, this.#max);
    if (this.cwnd > this.peak) this.peak = this.cwnd;
  }
}
