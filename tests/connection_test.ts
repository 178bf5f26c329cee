/**
 * The protocol table without sockets or clocks: feed a segment in a state,
 * expect a reply and a new state. (The timelines, with timers, are in
 * protocol_test.ts.)
 */
import assert from "node:assert/strict";
import { Connection } from "../connection.ts";
import type { Segment } from "../segment.ts";
import { AdaptiveRto, FixedRto } from "../rto.ts";

import { seg } from "./_timeline.ts";

const enc = new TextEncoder();

/** Writes a segment as "FLAGS seq", the way the tables below read. */
function show(reply: Segment | undefined): string | undefined {
  if (!reply) return undefined;
  const flags = [reply.syn && "SYN", reply.fin && "FIN", reply.ack && "ACK"].filter(Boolean).join(
    "+",
  );
  return `${flags || "DATA"} ${reply.seq}`;
}

/** What one segment made the connection do: its reply, and how it was recorded. */
interface Verdict {
  reply?: Segment;
  duplicate?: boolean;
  ignored?: boolean;
}

/** Feeds `segment` at time 1 and returns the reply and the record of it. */
function feed(c: Connection, segment: Segment): Verdict {
  c.takeOutput();
  c.process(segment, 1);
  const verdict: Verdict = {};
  for (const out of c.takeOutput()) {
    if (out.kind === "send") verdict.reply = out.segment;
    if (out.kind === "recv") {
      if (out.duplicate) verdict.duplicate = true;
      if (out.reason !== undefined) verdict.ignored = true;
    }
  }
  return verdict;
}

/** The segments the connection queued (and forgets them). */
function sent(c: Connection): string[] {
  return c.takeOutput().flatMap((o) => o.kind === "send" ? [show(o.segment)!] : []);
}

/** A server connection for SYN 10, established by its last ACK (seq 12). */
function established(): Connection {
  const c = Connection.server(10, 0);
  feed(c, seg("ACK", 12));
  return c;
}

Deno.test("a client in syn-sent completes on SYN+ACK x+1 and answers ACK x+2", () => {
  const c = Connection.client(10, 0);
  assert.deepEqual(sent(c), ["SYN 10"]);
  assert.deepEqual(feed(c, seg("SYN+ACK", 12)), { ignored: true });
  assert.equal(c.state, "syn-sent");
  assert.equal(show(feed(c, seg("SYN+ACK", 11)).reply), "ACK 12");
  assert.equal(c.state, "established");
  assert.equal(c.seq, 12);
});

Deno.test("an established client answers a repeated SYN+ACK with the ACK again, in any state", () => {
  const c = Connection.client(10, 0);
  feed(c, seg("SYN+ACK", 11));
  for (let i = 0; i < 3; i++) {
    const verdict = feed(c, seg("SYN+ACK", 11));
    assert.equal(show(verdict.reply), "ACK 12");
    assert.equal(verdict.duplicate, true);
  }
  c.close(2);
  assert.equal(show(feed(c, seg("SYN+ACK", 11)).reply), "ACK 12");
});

Deno.test("a server in syn-received answers a repeated SYN with the same SYN+ACK", () => {
  const c = Connection.server(10, 0);
  assert.deepEqual(sent(c), ["SYN+ACK 11"]);
  assert.equal(show(feed(c, seg("SYN", 10)).reply), "SYN+ACK 11");
  assert.deepEqual(feed(c, seg("SYN", 11)), { ignored: true });
  assert.equal(c.state, "syn-received");
});

// The assignment's edge case: the handshake's last ACK is lost.
const completers: [string, Segment, string | undefined, string][] = [
  ["the last ACK", seg("ACK", 12), undefined, "established"],
  ["a length segment", seg("", 12, "20"), "ACK 14", "established"],
  ["a FIN", seg("FIN", 12), "FIN+ACK 13", "last-ack"],
];
for (const [name, segment, reply, state] of completers) {
  Deno.test(`a server in syn-received is completed by ${name} at x+2`, () => {
    const c = Connection.server(10, 0);
    assert.equal(show(feed(c, segment).reply), reply);
    assert.equal(c.state, state);
    assert.ok(c.established);
  });
}

const nonCompleters: [string, Segment][] = [
  ["an ACK at x+1", seg("ACK", 11)],
  ["data at x+3", seg("", 13, "5")],
  ["a FIN+ACK at x+2", seg("FIN+ACK", 12)],
  ["an ACK carrying data", seg("ACK", 12, "x")],
  ["an empty segment with no flag", seg("", 12)],
];
for (const [name, segment] of nonCompleters) {
  Deno.test(`a server in syn-received ignores ${name}`, () => {
    const c = Connection.server(10, 0);
    assert.equal(feed(c, segment).reply, undefined);
    assert.equal(c.state, "syn-received");
  });
}

Deno.test("a message is a length segment then data; each is acknowledged by seq + length", () => {
  const c = established();
  c.want = 100;
  assert.equal(show(feed(c, seg("", 12, "20")).reply), "ACK 14");
  assert.equal(c.take(100), null, "nothing to hand out before the data");
  assert.equal(show(feed(c, seg("", 14, "Hola, mundo TCP!")).reply), "ACK 30");
  assert.equal(show(feed(c, seg("", 30, "!!!!")).reply), "ACK 34");
  assert.equal(new TextDecoder().decode(c.take(100)!), "Hola, mundo TCP!!!!!");
  assert.equal(c.seq, 34);
});

Deno.test("a duplicate data segment is acknowledged again and never delivered twice", () => {
  const c = established();
  c.want = 100;
  feed(c, seg("", 12, "4"));
  feed(c, seg("", 13, "abcd"));
  const again = feed(c, seg("", 13, "abcd"));
  assert.equal(show(again.reply), "ACK 17");
  assert.equal(again.duplicate, true);
  assert.equal(new TextDecoder().decode(c.take(100)!), "abcd");
  assert.equal(c.buffered, 0);
});

Deno.test("a segment from the future is ignored", () => {
  const c = established();
  assert.deepEqual(feed(c, seg("", 40, "zz")), { ignored: true });
  assert.equal(c.seq, 12);
});

Deno.test("recv hands out min(remaining, buffSize) and keeps the rest", () => {
  const c = established();
  c.want = 3;
  feed(c, seg("", 12, "5"));
  feed(c, seg("", 13, "abcde"));
  assert.equal(new TextDecoder().decode(c.take(3)!), "abc");
  assert.equal(new TextDecoder().decode(c.take(3)!), "de");
  assert.equal(c.take(3), null, "the message is over; the next needs its length segment");
});

Deno.test("flow control: no more than the requested bytes plus one segment are held", () => {
  const c = established();
  c.want = 2;
  feed(c, seg("", 12, "12"));
  assert.equal(show(feed(c, seg("", 14, "ab")).reply), "ACK 16");
  // 2 bytes held, the application wants 2: the next segment is not taken; the
  // ACK of what came before says "alive, no room".
  const full = feed(c, seg("", 16, "cd"));
  assert.equal(full.ignored, true);
  assert.equal(show(full.reply), "ACK 16");
  assert.equal(c.seq, 16);
  c.take(2);
  assert.equal(show(feed(c, seg("", 16, "cd")).reply), "ACK 18");
});

Deno.test("the next message's length waits until the current message is read", () => {
  const c = established();
  c.want = 10;
  feed(c, seg("", 12, "2"));
  feed(c, seg("", 13, "ab"));
  const waiting = feed(c, seg("", 15, "3"));
  assert.equal(waiting.ignored, true);
  assert.equal(show(waiting.reply), "ACK 15", "alive, no room yet");
  c.take(10);
  assert.equal(show(feed(c, seg("", 15, "3")).reply), "ACK 16");
});

Deno.test("an empty message is handed out as an empty array", () => {
  const c = established();
  feed(c, seg("", 12, "0"));
  assert.equal(c.take(10)?.length, 0);
  assert.equal(c.take(10), null);
});

const badLengths = ["-1", "1e3", "abc", " 5", "99999999999999999"];
for (const text of badLengths) {
  Deno.test(`a length segment "${text}" is a protocol error, not an allocation`, () => {
    const c = Connection.server(10, 0, { maxMessageLength: 1_000_000 });
    feed(c, seg("ACK", 12));
    assert.deepEqual(feed(c, seg("", 12, text)), { ignored: true });
    assert.match(String(c.error), /ProtocolError: Peer announced message length/);
  });
}

Deno.test("a data segment longer than what is left of the message is a protocol error", () => {
  const c = established();
  c.want = 10;
  feed(c, seg("", 12, "2"));
  feed(c, seg("", 13, "abc"));
  assert.match(String(c.error), /only 2 remained/);
});

Deno.test("the sender moves on only with the ACK of seq + length; others are not accepted", () => {
  const c = established();
  c.startMessage(4, 1);
  assert.deepEqual(sent(c), ["DATA 12"]);
  assert.deepEqual(feed(c, seg("ACK", 13)), {});
  c.write(enc.encode("abcd"), 1);
  assert.deepEqual(sent(c), ["DATA 13"]);
  assert.equal(c.sent, false);
  assert.deepEqual(feed(c, seg("ACK", 11)), { duplicate: true }, "stale: before what we sent");
  assert.deepEqual(feed(c, seg("ACK", 15)), { ignored: true }, "in the middle of the segment");
  assert.deepEqual(feed(c, seg("ACK", 17)), {});
  assert.equal(c.sent, true);
  assert.equal(c.seq, 17);
});

Deno.test("host A: FIN s, FIN+ACK s+1 answered by ACK s+2, again for a repeated FIN+ACK", () => {
  const c = established();
  c.close(1);
  assert.deepEqual(sent(c), ["FIN 12"]);
  assert.equal(c.state, "fin-wait");
  assert.deepEqual(feed(c, seg("FIN+ACK", 14)), { ignored: true });
  assert.equal(show(feed(c, seg("FIN+ACK", 13)).reply), "ACK 14");
  assert.equal(c.state, "time-wait");
  assert.equal(show(feed(c, seg("FIN+ACK", 13)).reply), "ACK 14");
});

Deno.test("host B: FIN s answered by FIN+ACK s+1, again for a repeated FIN, closed by ACK s+2", () => {
  const c = established();
  assert.equal(show(feed(c, seg("FIN", 12)).reply), "FIN+ACK 13");
  assert.equal(c.state, "last-ack");
  assert.ok(c.peerClosed);
  assert.equal(show(feed(c, seg("FIN", 12)).reply), "FIN+ACK 13");
  assert.deepEqual(feed(c, seg("ACK", 13)), { duplicate: true });
  assert.deepEqual(feed(c, seg("ACK", 14)), {});
  assert.equal(c.state, "closed");
});

Deno.test("a FIN at the wrong seq is ignored", () => {
  const c = established();
  assert.deepEqual(feed(c, seg("FIN", 20)), { ignored: true });
  assert.equal(c.peerClosed, false);
});

Deno.test("both ends closing at once: each answers the other's FIN and both reach time-wait", () => {
  const a = established();
  a.close(1);
  assert.equal(show(feed(a, seg("FIN", 12)).reply), "FIN+ACK 13");
  assert.equal(show(feed(a, seg("FIN+ACK", 13)).reply), "ACK 14");
  assert.equal(a.state, "time-wait");
});

Deno.test("a peer that closes in the middle of a message leaves it truncated", () => {
  const c = established();
  c.want = 100;
  feed(c, seg("", 12, "10"));
  feed(c, seg("", 14, "abc"));
  feed(c, seg("FIN", 17));
  assert.ok(c.truncated);
  assert.equal(c.missing, 7);
});

Deno.test("sequence numbers wrap modulo 2^32", () => {
  const c = Connection.client(2 ** 32 - 1, 0);
  feed(c, seg("SYN+ACK", 0));
  assert.equal(c.seq, 1);
  const s = Connection.server(2 ** 32 - 2, 0);
  feed(s, seg("ACK", 0));
  s.want = 10;
  assert.equal(show(feed(s, seg("", 0, "3")).reply), "ACK 1");
});

Deno.test("the adaptive RTO follows RFC 6298: first sample, smoothing, clamping", () => {
  const rto = new AdaptiveRto({ initial: 100, min: 2, max: 500, granularity: 1 });
  assert.equal(rto.rto, 100);
  rto.sample(10);
  assert.equal(rto.srtt, 10);
  assert.equal(rto.rttvar, 5);
  assert.equal(rto.rto, 30);
  rto.sample(20); // RTTVAR = 3/4*5 + 1/4*10 = 6.25; SRTT = 7/8*10 + 1/8*20 = 11.25
  assert.equal(rto.rttvar, 6.25);
  assert.equal(rto.srtt, 11.25);
  assert.equal(rto.rto, 36.25);
  for (let i = 0; i < 50; i++) rto.sample(0.03);
  assert.equal(rto.rto, 2, "clamped to the minimum, the timer floor");
  rto.sample(Number.NaN);
  assert.equal(rto.rto, 2, "a bad sample is ignored");
});

Deno.test("the adaptive RTO keeps its value for the first retries, then doubles up to the maximum", () => {
  const rto = new AdaptiveRto({ min: 2, max: 20, linearRetries: 2 });
  const seen: number[] = [];
  let value = 4;
  for (let retries = 1; retries <= 6; retries++) seen.push(value = rto.backoff(value, retries));
  assert.deepEqual(seen, [4, 4, 8, 16, 20, 20]);
});

Deno.test("a fixed RTO never changes and rejects nonsense", () => {
  const rto = new FixedRto(250);
  rto.sample(1);
  assert.equal(rto.rto, 250);
  assert.equal(rto.backoff(250, 10), 250);
  assert.throws(() => new FixedRto(0), RangeError);
  assert.throws(() => new FixedRto(Number.POSITIVE_INFINITY), RangeError);
});

Deno.test("a sender told 'alive, no room' by an ACK of its own seq records it as not accepted", () => {
  const c = established();
  c.startMessage(4, 1);
  const verdict = feed(c, seg("ACK", 12));
  assert.deepEqual(verdict, { ignored: true });
  assert.equal(c.sent, false);
});

Deno.test("new data at our own seq while our segment is in flight: both ends sent at once", () => {
  const c = established();
  c.startMessage(4, 1);
  assert.deepEqual(feed(c, seg("", 12, "5")), { ignored: true });
  assert.match(String(c.error), /Both ends sent at seq 12 at once/);
});

Deno.test("the send buffer bounds what write takes; acknowledgements make room", () => {
  const c = Connection.server(10, 0, { sendBuffer: 32 });
  feed(c, seg("ACK", 12));
  c.startMessage(100, 1); // "100" goes out at once: the window has room
  assert.deepEqual(sent(c), ["DATA 12"]);
  assert.equal(c.writable, 32);
  assert.equal(c.write(new Uint8Array(100), 1), 32, "32 bytes queued, two segments");
  assert.equal(c.writable, 0);
  c.process(seg("ACK", 15), 2); // the length is acknowledged: the first 16 bytes go
  assert.deepEqual(sent(c), ["DATA 15"]);
  assert.equal(c.writable, 16, "the segment in flight left the queue");
  c.process(seg("ACK", 31), 3);
  assert.deepEqual(sent(c), ["DATA 31"]);
  assert.equal(c.writable, 32);
  assert.equal(c.sent, false, "68 bytes are still to be written");
});
