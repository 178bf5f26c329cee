/**
 * The errors a connection ends with. They subclass `Deno.errors` where one
 * fits, name the peer, and say what never came and what came instead.
 *
 * @module
 */

/**
 * The peer broke the protocol; the connection is unusable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "./errors.ts";
 * const error = new ProtocolError('Peer announced message length "hola", expected a decimal number');
 * assert.equal(error.name, "ProtocolError");
 * ```
 */
export class ProtocolError extends Error {
  /** Creates the error with a message naming what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/**
 * The peer stopped answering, or answered without making progress: raised
 * after the bounded retransmissions, or after `idleTimeout` ms without
 * progress (no new segment accepted, no new ACK).
 *
 * @example A peer that answered, but never with what was expected
 * ```ts
 * import assert from "node:assert/strict";
 * import { PeerTimeoutError } from "./errors.ts";
 * const error = new PeerTimeoutError("127.0.0.1:8000", "ACK seq=45", { attempts: 21 }, {
 *   instead: "it kept acknowledging seq=42 (21 times)",
 * });
 * assert.equal(
 *   error.message,
 *   "Peer 127.0.0.1:8000 made no progress: no ACK seq=45 after 21 tries; it kept acknowledging seq=42 (21 times)",
 * );
 * assert.equal(error.attempts, 21);
 * ```
 */
export class PeerTimeoutError extends Deno.errors.TimedOut {
  /** Transmissions made before giving up; `undefined` when the limit was a time without progress (`idleTimeout`). */
  readonly attempts: number | undefined;
  /** How the wait ended, for messages: "after 21 tries" or "for 30000 ms". */
  readonly detail: string;
  /** What the peer sent instead of what was awaited, when it sent anything: "it kept sending …". */
  readonly instead: string | undefined;

  /**
   * Creates the error: `waitingFor` says what never came from `peer`, `limit`
   * which bound was reached, and `options.instead` what the peer sent meanwhile.
   */
  constructor(
    readonly peer: string,
    readonly waitingFor: string,
    limit: { attempts: number } | { idleMs: number },
    options?: ErrorOptions & { instead?: string },
  ) {
    const detail = "attempts" in limit
      ? `after ${limit.attempts} ${limit.attempts === 1 ? "try" : "tries"}`
      : `for ${limit.idleMs} ms`;
    const instead = options?.instead;
    super(
      instead === undefined
        ? `Peer ${peer} stopped answering: no ${waitingFor} ${detail}`
        : `Peer ${peer} made no progress: no ${waitingFor} ${detail}; ${instead}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PeerTimeoutError";
    this.attempts = "attempts" in limit ? limit.attempts : undefined;
    this.detail = detail;
    this.instead = instead;
  }
}

/**
 * The peer closed the connection while this end waited for data or sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionClosedError } from "./errors.ts";
 * const error = new ConnectionClosedError("Peer 127.0.0.1:8000 closed the connection");
 * assert.ok(error instanceof Deno.errors.ConnectionReset);
 * ```
 */
export class ConnectionClosedError extends Deno.errors.ConnectionReset {
  /** Creates the error with a message naming the peer. */
  constructor(message: string) {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

/**
 * `recvClose` closed the connection with part of a message unread: those
 * bytes were acknowledged to the peer (so that its close went through) and
 * dropped. The connection is closed; `discarded` counts them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnreadDataError } from "./errors.ts";
 * const error = new UnreadDataError("127.0.0.1:8000", 24);
 * assert.equal(
 *   error.message,
 *   "recvClose dropped 24 bytes from 127.0.0.1:8000 that recv had not read; the connection is closed",
 * );
 * assert.equal(error.discarded, 24);
 * ```
 */
export class UnreadDataError extends Error {
  /** Creates the error for `discarded` bytes from `peer`. */
  constructor(peer: string, readonly discarded: number) {
    super(
      `recvClose dropped ${discarded.toLocaleString("en-US")} ${
        discarded === 1 ? "byte" : "bytes"
      } from ${peer} that recv had not read; the connection is closed`,
    );
    this.name = "UnreadDataError";
  }
}
