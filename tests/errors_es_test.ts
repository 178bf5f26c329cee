/**
 * The Spanish of the errors a connection ends with (`errorEs`, shown by the
 * web lab's Spanish page): each error is produced the way a connection
 * produces it (a pure connection driven in virtual time), and its Spanish
 * must say the same numbers and keep no English phrase.
 */
import assert from "node:assert/strict";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { ConnectionClosedError, errorEs, PeerTimeoutError, UnreadDataError } from "../errors.ts";
import { FixedRto } from "../rto.ts";
import { establishedClient, establishedServer, play, seg } from "./_timeline.ts";

const PEER = "127.0.0.1:8000";
const options = (extra: ConnectionOptions = {}): ConnectionOptions => ({
  rto: new FixedRto(100),
  peer: PEER,
  maxRetries: 2,
  idleTimeout: 1000,
  ...extra,
});

/** Runs the connection's timers until it fails (or `until`); returns its error. */
function runUntilError(c: Connection, from: number, until = 100_000): Error {
  for (let t = from; t <= until;) {
    const error = c.error ?? c.takeWaitError();
    if (error) return error;
    const at = c.pollAt();
    if (!Number.isFinite(at)) break;
    t = Math.max(t, at);
    c.poll(t);
    c.takeOutput();
  }
  const error = c.error ?? c.takeWaitError();
  assert.ok(error, "the connection did not fail");
  return error;
}

/** English phrases of the messages: none may be left in the Spanish. */
const ENGLISH =
  /\b(Peer|after|tries|stopped|answered|kept|sending|expected|closed the|Cannot|room in|is a server|bytes before|that recv)\b/;

function assertSpanish(error: Error, expected: RegExp): void {
  const es = errorEs(error);
  assert.match(es, expected, `${error.message}\n→ ${es}`);
  assert.doesNotMatch(es, ENGLISH, `${error.message}\n→ ${es}`);
  // The numbers of the English message are all there.
  const numbers = (s: string, thousands: string) =>
    (s.replaceAll(new RegExp(`(\\d)\\${thousands}(\\d{3})\\b`, "g"), "$1$2").match(/\d+/g) ?? [])
      .join(" ");
  assert.equal(numbers(es, "."), numbers(error.message, ","), `${error.message}\n→ ${es}`);
}

Deno.test("errorEs: nothing answered a connect", () => {
  const c = Connection.client(10, 0, options());
  const error = runUntilError(c, 0);
  assert.ok(error instanceof PeerTimeoutError && error.noServer);
  assertSpanish(
    error,
    /^Ningún servidor respondió en 127\.0\.0\.1:8000: ningún SYN\+ACK seq=11 tras 3 SYN \(¿hay un servidor escuchando\?\)$/,
  );
});

Deno.test("errorEs: a peer that stopped answering data", () => {
  const c = establishedClient(options());
  play(c, ['10 app send "ab"', '10 > DATA 12 "2"'], { start: 5 });
  const error = runUntilError(c, 10);
  assertSpanish(
    error,
    /^El par 127\.0\.0\.1:8000 dejó de responder: ningún ACK seq=13 tras 3 intentos$/,
  );
});

Deno.test("errorEs: a peer that keeps acknowledging inside our segment", () => {
  const c = establishedClient(options());
  play(c, [
    '10 app send "abcdefghijklmnopqrs"',
    '10 > DATA 12 "19"',
    "11 < ACK 14",
    '11 > DATA 14 "abcdefghijklmnop"',
  ], { start: 5 });
  // "abcdefghijklmnop" went at 11: the peer acknowledges 3 bytes of it, again and again.
  for (let t = 12; t < 400; t += 20) c.process(seg("ACK", 17), t), c.takeOutput();
  const error = runUntilError(c, 400);
  assertSpanish(
    error,
    /^El par 127\.0\.0\.1:8000 no avanzó: ningún ACK seq=30 tras 3 intentos; siguió enviando ACK seq=17 \(\d+ veces\), se esperaba ACK seq=30 \(¿cuenta caracteres en vez de bytes\?\)$/,
  );
});

Deno.test("errorEs: a receiver with no room for idleTimeout", () => {
  const c = establishedClient(options());
  // The length "2" is taken; "ab" finds no room, each copy answered 3 ms later.
  const script = ['10 app send "ab"', '10 > DATA 12 "2"', "11 < ACK 13", '11 > DATA 13 "ab"'];
  for (let k = 0; k < 9; k++) {
    script.push(`${14 + 100 * k} < ACK 13`);
    script.push(`${111 + 100 * k} > DATA 13 "ab" rtx`);
  }
  play(c, script, { start: 5 });
  const error = runUntilError(c, 911);
  // It answered all along: not "stopped answering".
  assert.equal(
    error.message,
    "Peer 127.0.0.1:8000 answered that it had no room in its receive buffer for 1000 ms (is its application reading?)",
  );
  assertSpanish(
    error,
    /^El par 127\.0\.0\.1:8000 respondió que no tenía espacio en su buffer de recepción durante 1000 ms \(¿su aplicación está leyendo\?\)$/,
  );
});

Deno.test("errorEs: a reader that waited idleTimeout for data", () => {
  const s = establishedServer(options());
  s.expect("data", 1);
  assertSpanish(
    runUntilError(s, 1),
    /^El par 127\.0\.0\.1:8000 dejó de responder: ningún dato en 1000 ms$/,
  );
});

Deno.test("errorEs: a close that dropped unread bytes, and a peer that closed", () => {
  assertSpanish(
    new UnreadDataError(PEER, 1234),
    /^recvClose descartó 1\.234 bytes de 127\.0\.0\.1:8000 que recv no había leído; la conexión está cerrada$/,
  );
  const closed = [
    [`Peer ${PEER} closed the connection`, /^El par 127\.0\.0\.1:8000 cerró la conexión$/],
    [
      `Peer ${PEER} closed the connection 1,024 bytes before the end of the message`,
      /^El par 127\.0\.0\.1:8000 cerró la conexión 1\.024 bytes antes del fin del mensaje$/,
    ],
    [
      `Peer ${PEER} closed the connection before acknowledging seq 45`,
      /^El par 127\.0\.0\.1:8000 cerró la conexión antes de confirmar seq 45$/,
    ],
    [
      `Cannot send: peer ${PEER} closed the connection`,
      /^No se puede enviar: el par 127\.0\.0\.1:8000 cerró la conexión$/,
    ],
  ] as const;
  for (const [message, expected] of closed) {
    assertSpanish(new ConnectionClosedError(message), expected);
  }
  // Anything else keeps its English.
  assert.equal(errorEs(new Error("The socket was closed")), "The socket was closed");
});
