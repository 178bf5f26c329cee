/**
 * The errors a connection ends with. They subclass `Deno.errors` where one
 * fits, name the peer, and say what never came and what came instead. Also
 * the helpers that word the refusal of an option or argument: its name, the
 * value received and what was expected.
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

/** What a sender waits for while its peer says it has no room (`PeerTimeoutError.waitingFor`). */
export const NO_ROOM_WAIT = "room in its receive buffer";

/**
 * The peer stopped answering, or answered without making progress: raised
 * after the bounded retransmissions, or after `idleTimeout` ms without
 * progress (no new segment accepted, no new ACK). A `connect` that got no
 * answer at all says that no server answered (`options.noServer`).
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
 *
 * @example A connect to an address where nothing answers
 * ```ts
 * import assert from "node:assert/strict";
 * import { PeerTimeoutError } from "./errors.ts";
 * const error = new PeerTimeoutError("127.0.0.1:8000", "SYN+ACK seq=22", { attempts: 21 }, {
 *   noServer: true,
 * });
 * assert.equal(
 *   error.message,
 *   "No server answered at 127.0.0.1:8000: no SYN+ACK seq=22 after 21 SYNs (is a server listening?)",
 * );
 * ```
 */
export class PeerTimeoutError extends Deno.errors.TimedOut {
  /** Transmissions made before giving up; `undefined` when the limit was a time without progress (`idleTimeout`). */
  readonly attempts: number | undefined;
  /** The time without progress that ended the wait (`idleTimeout`), in ms; `undefined` when it was a number of tries. */
  readonly idleMs: number | undefined;
  /** How the wait ended, for messages: "after 21 tries" or "for 30000 ms". */
  readonly detail: string;
  /** What the peer sent instead of what was awaited, when it sent anything: "it kept sending …". */
  readonly instead: string | undefined;
  /** Nothing ever came from the address a `connect` sent its SYNs to: no server there. */
  readonly noServer: boolean;

  /**
   * Creates the error: `waitingFor` says what never came from `peer`, `limit`
   * which bound was reached, and `options.instead` what the peer sent
   * meanwhile. `options.noServer`: `limit.attempts` SYNs went to `peer` and
   * nothing at all came back (without `instead` only).
   */
  constructor(
    readonly peer: string,
    readonly waitingFor: string,
    limit: { attempts: number } | { idleMs: number },
    options?: ErrorOptions & { instead?: string; noServer?: boolean },
  ) {
    const detail = "attempts" in limit
      ? `after ${limit.attempts} ${limit.attempts === 1 ? "try" : "tries"}`
      : `for ${limit.idleMs} ms`;
    const instead = options?.instead;
    const noServer = options?.noServer === true && instead === undefined && "attempts" in limit;
    super(
      noServer
        ? `No server answered at ${peer}: no ${waitingFor} after ${limit.attempts} ${
          limit.attempts === 1 ? "SYN" : "SYNs"
        } (is a server listening?)`
        : waitingFor === NO_ROOM_WAIT // it answered all along: "no room", not silence
        ? `Peer ${peer} answered that it had no ${waitingFor} ${detail} (is its application reading?)${
          instead === undefined ? "" : `; ${instead}`
        }`
        : instead === undefined
        ? `Peer ${peer} stopped answering: no ${waitingFor} ${detail}`
        : `Peer ${peer} made no progress: no ${waitingFor} ${detail}; ${instead}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PeerTimeoutError";
    this.attempts = "attempts" in limit ? limit.attempts : undefined;
    this.idleMs = "idleMs" in limit ? limit.idleMs : undefined;
    this.detail = detail;
    this.instead = instead;
    this.noServer = noServer;
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
  constructor(readonly peer: string, readonly discarded: number) {
    super(
      `recvClose dropped ${discarded.toLocaleString("en-US")} ${
        discarded === 1 ? "byte" : "bytes"
      } from ${peer} that recv had not read; the connection is closed`,
    );
    this.name = "UnreadDataError";
  }
}

/** What a {@linkcode PeerTimeoutError} waited for, in Spanish (segment names stay as they are). */
const WAITED_ES: Record<string, string> = {
  data: "dato",
  FIN: "FIN",
  progress: "avance",
};

/** "it kept sending DATA seq=45 len=1 (12 times), expected seq=44", in Spanish. */
function insteadEs(instead: string): string {
  const match = /^it kept sending (.+) \((once|(\d+) times)\)(?:, (.*))?$/.exec(instead);
  if (!match) return instead;
  const [, what, , times, rest] = match;
  const count = times === undefined ? "una vez" : `${times} veces`;
  const expected = rest === undefined ? "" : `, ${
    rest
      .replace(/^expected /, "se esperaba ")
      .replace(/^no room to take it$/, "sin espacio para tomarlo")
      .replace(
        " (is it counting characters instead of bytes?)",
        " (¿cuenta caracteres en vez de bytes?)",
      )
      .replace(/ \(x\+1 for SYN seq=(\d+)\)/, " (x+1 del SYN seq=$1)")
  }`;
  return `siguió enviando ${what} (${count})${expected}`;
}

/**
 * An error's message in Spanish, for the web lab's Spanish page: the errors a
 * connection ends with ({@linkcode PeerTimeoutError},
 * {@linkcode ConnectionClosedError}, {@linkcode UnreadDataError}); any
 * other keeps its English message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorEs, PeerTimeoutError } from "./errors.ts";
 * const error = new PeerTimeoutError("127.0.0.1:8000", "ACK seq=45", { attempts: 21 }, {
 *   instead: "it kept sending ACK seq=42 (12 times), expected ACK seq=45",
 * });
 * assert.equal(
 *   errorEs(error),
 *   "El par 127.0.0.1:8000 no avanzó: ningún ACK seq=45 tras 21 intentos; siguió enviando ACK seq=42 (12 veces), se esperaba ACK seq=45",
 * );
 * ```
 */
export function errorEs(error: unknown): string {
  if (error instanceof PeerTimeoutError) {
    const waited = WAITED_ES[error.waitingFor] ?? error.waitingFor;
    const n = error.attempts;
    if (error.noServer) {
      return `Ningún servidor respondió en ${error.peer}: ningún ${waited} tras ${n} SYN ` +
        "(¿hay un servidor escuchando?)";
    }
    if (error.waitingFor === NO_ROOM_WAIT) {
      return `El par ${error.peer} respondió que no tenía espacio en su buffer de recepción ` +
        `durante ${error.idleMs} ms (¿su aplicación está leyendo?)` +
        (error.instead === undefined ? "" : `; ${insteadEs(error.instead)}`);
    }
    const limit = n === undefined
      ? `en ${error.idleMs} ms`
      : `tras ${n} ${n === 1 ? "intento" : "intentos"}`;
    return error.instead === undefined
      ? `El par ${error.peer} dejó de responder: ningún ${waited} ${limit}`
      : `El par ${error.peer} no avanzó: ningún ${waited} ${limit}; ${insteadEs(error.instead)}`;
  }
  if (error instanceof UnreadDataError) {
    const n = error.discarded;
    return `recvClose descartó ${n.toLocaleString("es-CL")} ${
      n === 1 ? "byte" : "bytes"
    } de ${error.peer} ` +
      "que recv no había leído; la conexión está cerrada";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConnectionClosedError) {
    const closed = /^(Cannot send: p|P)eer (\S+) closed the connection(.*)$/.exec(message);
    if (closed) {
      const [, start, peer, rest] = closed;
      const before = /^ ([\d,]+) bytes before the end of the message$/.exec(rest);
      const seq = /^ before acknowledging seq (\d+)$/.exec(rest);
      const tail = before
        ? ` ${before[1].replaceAll(",", ".")} bytes antes del fin del mensaje`
        : seq
        ? ` antes de confirmar seq ${seq[1]}`
        : rest;
      return `${start === "P" ? "" : "No se puede enviar: "}el par ${peer} cerró la conexión${tail}`
        .replace(/^el/, "El");
    }
  }
  return message;
}

/**
 * Shows a value received where something else was expected, for an error
 * message, with its type unless it is of the `expected` type (a number by
 * default), so that the string `"4"` is not mistaken for the number 4. Long
 * values are cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeValue } from "./errors.ts";
 * assert.equal(describeValue(4), "4");
 * assert.equal(describeValue("4"), '"4" (a string)');
 * assert.equal(describeValue("sr", "string"), '"sr"');
 * assert.equal(describeValue(4, "function"), "4 (a number)");
 * assert.equal(describeValue(undefined), "undefined");
 * assert.equal(describeValue({ port: 80 }), '{"port":80} (an object)');
 * ```
 */
export function describeValue(value: unknown, expected = "number"): string {
  const cut = (text: string) => text.length > 40 ? `${text.slice(0, 37)}...` : text;
  const type = typeof value;
  if (type === expected && (type === "number" || type === "string")) {
    return type === "number" ? String(value) : cut(JSON.stringify(value));
  }
  switch (typeof value) {
    case "number":
      return `${value} (a number)`;
    case "undefined":
      return "undefined";
    case "string":
      return `${cut(JSON.stringify(value))} (a string)`;
    case "boolean":
      return `${value} (a boolean)`;
    case "bigint":
      return `${cut(String(value))}n (a bigint)`;
    case "symbol":
      return `${cut(String(value))} (a symbol)`;
    case "function":
      return "a function";
  }
  if (value === null) return "null";
  const kind = Array.isArray(value) ? "an array" : "an object";
  const constructor = (value as object).constructor?.name;
  if (!Array.isArray(value) && constructor && constructor !== "Object") {
    return `${/^[AEIOU]/.test(constructor) ? "an" : "a"} ${constructor}`;
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // A cycle, or a bigint inside: the type is enough.
  }
  return json === undefined ? kind : `${cut(json)} (${kind})`;
}

/**
 * The error for an option (or argument) `name` whose `value` is not what was
 * `expected`: a `TypeError` when the value is not even of `type`, a
 * `RangeError` when it is but out of range. The message names all three:
 * `Cannot use option window = "4" (a string): expected an integer >= 1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { optionError } from "./errors.ts";
 * const error = optionError("window", 0, "an integer >= 1", "number");
 * assert.ok(error instanceof RangeError);
 * assert.equal(error.message, "Cannot use option window = 0: expected an integer >= 1");
 * ```
 */
export function optionError(
  name: string,
  value: unknown,
  expected: string,
  type: "number" | "string" | "function" | "object",
): RangeError | TypeError {
  const message = `Cannot use option ${name} = ${describeValue(value, type)}: expected ${expected}`;
  const actual: string = value === null ? "null" : typeof value;
  const right = actual === type;
  return right ? new RangeError(message) : new TypeError(message);
}

/**
 * Refuses option names that are not in `known` (a typo would otherwise be
 * silently ignored): a `TypeError` naming the first unknown one as
 * `prefix + name`, with the known name it is closest to, if one is close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOptionNames } from "./errors.ts";
 * assert.throws(
 *   () => checkOptionNames({ windw: 4 }, ["window", "mss"]),
 *   { name: "TypeError", message: "Cannot use unknown option windw (did you mean window?)" },
 * );
 * ```
 */
export function checkOptionNames(
  options: object,
  known: readonly string[],
  prefix = "",
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const most = Math.min(2, Math.floor(name.length / 3));
    const near = known.find((k) => editDistance(k.toLowerCase(), name.toLowerCase()) <= most);
    throw new TypeError(
      `Cannot use unknown option ${prefix}${name}${
        near === undefined ? "" : ` (did you mean ${prefix}${near}?)`
      }`,
    );
  }
}

/**
 * Levenshtein distance, for short names only: how a misspelt option is
 * matched to the one meant, here and by the command-line tools (`cli.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { editDistance } from "./errors.ts";
 * assert.equal(editDistance("timout", "timeout"), 1);
 * ```
 */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
