/**
 * The sliding window in virtual time (see `_timeline.ts`): Go-Back-N and
 * Selective Repeat, fast retransmit, the receiver's reassembly, flow
 * control with a window, and Tahoe's and Reno's congestion windows event by
 * event. A fixed 100 ms timeout, 4-byte segments, a window of 4 unless a
 * test says otherwise, so every time below can be read off.
 */
import assert from "node:assert/strict";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { AdaptiveRto, FixedRto } from "../rto.ts";
import { runLink } from "./_link.ts";
import { establishedClient, establishedServer, play, reasons, seg } from "./_timeline.ts";

function options(extra: ConnectionOptions = {}): ConnectionOptions {
  return { rto: new FixedRto(100), peer: "127.0.0.1:8000", mss: 4, window: 4, ...extra };
}

/** A client with x = 10, established at time 5. */
function client(extra: ConnectionOptions = {}): Connection {
  return establishedClient(options(extra));
}

/** A server for SYN 10, established at time 1. */
function server(extra: ConnectionOptions = {}): Connection {
  return establishedServer(options(extra));
}

/** The message of these tests, its length announcement "16" pipelined first: 12..13, then 14, 18, 22, 26. */
const SEND = '10 app send "aaaabbbbccccdddd"';
const WINDOW_OUT = [
  SEND,
  '10 > DATA 12 "16"',
  '10 > DATA 14 "aaaa"',
  '10 > DATA 18 "bbbb"',
  '10 > DATA 22 "cccc"',
  "11 < ACK 14",
  '11 > DATA 26 "dddd"',
];

Deno.test("window: four segments in flight, the length announcement first; each ACK slides it", () => {
  const c = client();
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 18",
    "12 < ACK 22",
    "13 < ACK 30", // cumulative: 22 and 26 at once
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.seq, 30);
  assert.equal(c.stats.retransmissions, 0);
});

Deno.test("go-back-n: a timeout resends the whole window, and three duplicate ACKs do not resend", () => {
  const c = client({ arq: "go-back-n" });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14",
    "12 < ACK 14",
    "12 < ACK 14",
    '111 > DATA 14 "aaaa" rtx',
    '111 > DATA 18 "bbbb" rtx',
    '111 > DATA 22 "cccc" rtx',
    '111 > DATA 26 "dddd" rtx',
    "112 < ACK 18",
    "112 < ACK 22",
    "112 < ACK 26",
    "112 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.timeouts, 1);
  assert.equal(c.stats.retransmissions, 4);
  assert.equal(c.stats.fastRetransmits, 0);
  assert.equal(c.stats.duplicates, 3);
});

Deno.test("selective repeat: a timeout resends only the oldest segment; the ACK then covers the rest", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14",
    "12 < ACK 14",
    '111 > DATA 14 "aaaa" rtx',
    "112 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.retransmissions, 1);
});

Deno.test("selective repeat: fast retransmit on exactly the third duplicate ACK, once", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14",
    "13 < ACK 14",
    "14 < ACK 14",
    '14 > DATA 14 "aaaa" fast',
    "15 < ACK 14",
    "16 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.fastRetransmits, 1);
  assert.equal(c.stats.retransmissions, 1);
  assert.equal(c.stats.timeouts, 0);
});

Deno.test("selective repeat: a lost fast retransmission goes again after 4 smallest round trips, not a whole timeout", () => {
  // The adaptive timeout held at 60 ms by its floor; the smallest round trip is 1 ms (ACK 14).
  const c = client({ arq: "selective-repeat", rto: new AdaptiveRto({ initial: 100, min: 60 }) });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14",
    "12 < ACK 14",
    "12 < ACK 14",
    '12 > DATA 14 "aaaa" fast',
    '16 > DATA 14 "aaaa" rtx', // the fast retransmission was lost: 12 + 4 x 1 ms
    "17 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.timeouts, 1);
  assert.equal(c.stats.retransmissions, 2);
});

Deno.test("selective repeat: a partial ACK after the fast retransmit resends the next hole at once", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14", // 18 arrived (14 lost)
    "12 < ACK 14", // 22 lost, 26 arrived
    "12 < ACK 14",
    '12 > DATA 14 "aaaa" fast',
    "13 < ACK 22", // 14 filled the first hole: 22 is missing
    '13 > DATA 22 "cccc" rtx',
    "14 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.retransmissions, 2);
  assert.equal(c.stats.timeouts, 0);
});

Deno.test("selective repeat against a receiver that discards what comes past a hole: the fourth partial ACK in a row goes back N", () => {
  // A Stop & Wait receiver of the course, window 8: 14 is lost, and it drops
  // 18 to 42 as they come ahead of it, acknowledging what it expects.
  const c = client({ arq: "selective-repeat", window: 8 });
  play(c, [
    '10 app send "aaaabbbbccccddddeeeeffffgggghhhh"',
    '10 > DATA 12 "32"',
    '10 > DATA 14 "aaaa"',
    '10 > DATA 18 "bbbb"',
    '10 > DATA 22 "cccc"',
    '10 > DATA 26 "dddd"',
    '10 > DATA 30 "eeee"',
    '10 > DATA 34 "ffff"',
    '10 > DATA 38 "gggg"',
    "11 < ACK 14",
    '11 > DATA 42 "hhhh"',
    "12 < ACK 14",
    "12 < ACK 14",
    "12 < ACK 14",
    '12 > DATA 14 "aaaa" fast',
    // Each repair is taken, and nothing past it was kept (or it was lost too): the next goes.
    "13 < ACK 18",
    '13 > DATA 18 "bbbb" rtx',
    "14 < ACK 22",
    '14 > DATA 22 "cccc" rtx',
    "15 < ACK 26",
    '15 > DATA 26 "dddd" rtx',
    // The fourth in a row: the peer discards, and everything in flight goes again.
    "16 < ACK 30",
    '16 > DATA 30 "eeee" rtx',
    '16 > DATA 34 "ffff" rtx',
    '16 > DATA 38 "gggg" rtx',
    '16 > DATA 42 "hhhh" rtx',
    // Duplicates before what was sent when it went back: answers to copies, no fast retransmit.
    "17 < ACK 30",
    "17 < ACK 30",
    "17 < ACK 30",
    "18 < ACK 46",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.retransmissions, 8);
  assert.equal(c.stats.fastRetransmits, 1);
  assert.equal(c.stats.timeouts, 0);
});

Deno.test("selective repeat against a Stop & Wait receiver that ignores what is ahead: four timeouts at the first loss, one at each later loss, never one per segment", () => {
  // socket-tcp's own receiver with the default window of 1 drops a segment
  // ahead of the one it expects without a word. Losing the first copies of
  // DATA 63 and DATA 263 of 100 segments cost one timeout per later segment
  // (88 timeouts) before the sender learned to go back N.
  const run = (dropped: number[]) =>
    runLink(new Uint8Array(400), {
      client: options({ window: 8, arq: "selective-repeat" }),
      server: options({ window: 1 }),
      drop: (end, s, n) =>
        end === "client" && n === 1 && s.data.length > 0 && dropped.includes(s.seq),
    });
  const clean = run([]);
  const once = run([63]);
  const twice = run([63, 263]);
  for (const result of [clean, once, twice]) assert.equal(result.received, 400);
  assert.deepEqual(
    [clean, once, twice].map((r) => [r.client.stats.timeouts, r.client.stats.retransmissions]),
    [[0, 0], [4, 11], [5, 19]],
  );
  const done = (r: typeof clean) =>
    r.events.findLast((e) => e.output.kind === "send" && e.output.segment.fin)!.t;
  // Each timeout is the fixed 100 ms; the rest flows at the window's pace.
  assert.deepEqual([done(clean), done(once), done(twice)], [29, 437, 537]);
});

Deno.test("selective repeat: a receiver that holds segments past a hole is never taken for one that discards them", () => {
  // Two losses in a row, twice: each time the ACK after the first repair
  // stops at the second hole, as a discarding receiver's would, and the
  // ACK after the second repair jumps over what the peer held.
  const result = runLink(new Uint8Array(400), {
    client: options({ window: 8, arq: "selective-repeat" }),
    server: options({ window: 8, arq: "selective-repeat" }),
    drop: (end, s, n) =>
      end === "client" && n === 1 && s.data.length > 0 && [63, 67, 263, 267].includes(s.seq),
  });
  assert.equal(result.received, 400);
  // Only the four lost segments go again: no window is sent back.
  assert.equal(result.client.stats.retransmissions, 4);
  assert.equal(result.client.stats.timeouts, 0);
  // Five lost in a row: four repairs in a row stop short, as with a peer that
  // discards; but this peer already showed it holds (the first loss): no going back N.
  const run = runLink(new Uint8Array(400), {
    client: options({ window: 8, arq: "selective-repeat" }),
    server: options({ window: 8, arq: "selective-repeat" }),
    drop: (end, s, n) =>
      end === "client" && n === 1 && s.data.length > 0 &&
      [27, 163, 167, 171, 175, 179].includes(s.seq),
  });
  assert.equal(run.received, 400);
  assert.equal(run.client.stats.retransmissions, 6);
});

Deno.test("selective repeat: after an ACK stops short of a needless resend, the next ACK of a segment sent before it shows the peer keeps what it gets", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    '111 > DATA 14 "aaaa" rtx', // nothing was lost: the ACKs are late
    "112 < ACK 18", // covers the resend, stops at 18, sent before it: a hole, or a peer that discards
    "113 < ACK 22", // 18, sent once before that resend, arrived: the peer kept it
    '213 > DATA 22 "cccc" rtx', // late again
    "214 < ACK 26", // stops short once more, but the peer is known to keep: no going back N
    "215 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.retransmissions, 2);
});

Deno.test("selective repeat: after a timeout, an ACK that covers the resend and stops short while the duplicates outnumber what it covers resends the next hole at once", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    "12 < ACK 14", // 18 arrived (14 lost)
    "12 < ACK 14", // 26 arrived (22 lost): two duplicates, no fast retransmit
    '111 > DATA 14 "aaaa" rtx',
    "112 < ACK 22", // covers 14 and 18 only: the peer holds 26, so 22 is missing
    '112 > DATA 22 "cccc" rtx',
    "113 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.timeouts, 1);
  assert.equal(c.stats.retransmissions, 2);
});

Deno.test("selective repeat: after a spurious timeout, the late ACKs and the answer to the needless copy resend nothing more", () => {
  const c = client({ arq: "selective-repeat" });
  play(c, [
    ...WINDOW_OUT,
    '111 > DATA 14 "aaaa" rtx', // nothing was lost: the ACKs are late
    "112 < ACK 22", // stops short of 30, but no duplicate said the peer holds more
    "112 < ACK 22", // the peer's answer to the second copy of 14: a duplicate, not a hole
    "113 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.retransmissions, 1);
  assert.equal(c.stats.fastRetransmits, 0);
});

Deno.test("selective repeat: an ACK that covers a resend and stops at an older segment gives that one the repair timer, not a whole timeout", () => {
  // The adaptive timeout held at 60 ms by its floor; the smallest round trip is 1 ms (ACK 14).
  const c = client({ arq: "selective-repeat", rto: new AdaptiveRto({ initial: 100, min: 60 }) });
  play(c, [
    '10 app send "aaaabbbbccccddddeeeeffff"',
    '10 > DATA 12 "24"',
    '10 > DATA 14 "aaaa"',
    '10 > DATA 18 "bbbb"',
    '10 > DATA 22 "cccc"',
    "11 < ACK 14",
    '11 > DATA 26 "dddd"',
    "12 < ACK 14", // 18 arrived (14 and 22 lost; the duplicate for 26 lost too)
    '71 > DATA 14 "aaaa" rtx', // 11 + 60
    "72 < ACK 22", // covers 14 and 18: as many duplicates as it covers, no proof yet
    '72 > DATA 30 "eeee"',
    '72 > DATA 34 "ffff"',
    '76 > DATA 22 "cccc" rtx', // 72 + 4 x 1 ms, where its own timer said 72 + 60
    "77 < ACK 38",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent);
  assert.equal(c.stats.timeouts, 2);
  assert.equal(c.stats.retransmissions, 2);
});

Deno.test("selective repeat: the receiver holds segments past a hole and its ACK jumps when the hole fills", () => {
  const s = server({ arq: "selective-repeat" });
  const played = play(s, [
    "2 app recv 100",
    '3 < DATA 12 "16"',
    "3 > ACK 14",
    '4 < DATA 18 "bbbb"',
    "4 > ACK 14",
    '4 < DATA 22 "cccc"',
    "4 > ACK 14",
    '5 < DATA 22 "cccc"', // held already: a duplicate
    "5 > ACK 14",
    '6 < DATA 14 "aaaa"',
    "6 > ACK 26",
    '7 < DATA 26 "dddd"',
    "7 > ACK 30",
  ], { start: 1, until: 1000 });
  const held = played.outputs.filter(([, o]) => o.kind === "recv" && o.held).map(([t]) => t);
  assert.deepEqual(held, [4, 4]);
  assert.equal(s.stats.duplicates, 1);
  assert.equal(new TextDecoder().decode(s.take(100)!), "aaaabbbbccccdddd");
});

Deno.test("selective repeat: the receiver holds nothing beyond its window", () => {
  const s = server({ arq: "selective-repeat", window: 2 });
  const played = play(s, [
    "2 app recv 100",
    '3 < DATA 12 "16"',
    "3 > ACK 14",
    '4 < DATA 22 "cccc"', // 8 bytes past the hole: beyond 2 × 4
    "4 > ACK 14",
    '5 < DATA 14 "aaaa"',
    "5 > ACK 18",
  ], { start: 1, until: 1000 });
  assert.deepEqual(reasons(played), ["seq=22 is ahead: expected seq=14"]);
});

Deno.test("go-back-n: the receiver drops what is out of order and repeats the ACK it expects", () => {
  const s = server({ arq: "go-back-n" });
  const played = play(s, [
    "2 app recv 100",
    '3 < DATA 12 "16"',
    "3 > ACK 14",
    '4 < DATA 18 "bbbb"',
    "4 > ACK 14",
    '5 < DATA 14 "aaaa"',
    "5 > ACK 18",
  ], { start: 1, until: 1000 });
  assert.deepEqual(reasons(played), ["seq=18 is ahead: expected seq=14"]);
});

/**
 * WINDOW_OUT to a receiver that is not reading: the first timeout goes back
 * N (it cannot tell "no room" from a loss), the second resends the oldest
 * alone, and from then on it probes with that one.
 */
const DOWN_TO_ONE = [
  ...WINDOW_OUT,
  "12 < ACK 14", // alive, no room (or a loss: the first timeout cannot tell)
  '111 > DATA 14 "aaaa" rtx',
  '111 > DATA 18 "bbbb" rtx',
  '111 > DATA 22 "cccc" rtx',
  '111 > DATA 26 "dddd" rtx',
  "112 < ACK 14", // still no room: from now on only the oldest goes
  '211 > DATA 14 "aaaa" rtx',
  "212 < ACK 14",
];

Deno.test("flow control: a window receiver that is not reading is probed one segment at a time, never given up", () => {
  const c = client({ arq: "go-back-n", maxRetries: 1 });
  play(c, [
    ...DOWN_TO_ONE,
    '311 > DATA 14 "aaaa" rtx',
    "312 < ACK 14",
    '411 > DATA 14 "aaaa" rtx',
    "412 < ACK 22", // it read: the window opens again
    '412 > DATA 22 "cccc" rtx',
    '412 > DATA 26 "dddd" rtx',
    "413 < ACK 30",
  ], { start: 5, until: 1000 });
  assert.ok(c.sent, String(c.error));
  assert.equal(c.error, undefined, "alive, no room is not a silent peer");
});

Deno.test("flow control: a window sender probing with one segment backs off (100, 200, 400, 800 ms) while the answer is no room", () => {
  // The adaptive timeout (a fixed one stays fixed, as above), 100 ms at the least for round numbers.
  const c = client({
    arq: "go-back-n",
    rto: new AdaptiveRto({ initial: 100, min: 100, max: 800 }),
  });
  const played = play(c, [
    ...DOWN_TO_ONE,
    '311 > DATA 14 "aaaa" rtx', // then each probe waits twice as long as the one before
    "312 < ACK 14",
    '511 > DATA 14 "aaaa" rtx',
    "512 < ACK 14",
    '911 > DATA 14 "aaaa" rtx',
    "912 < ACK 14",
    '1711 > DATA 14 "aaaa" rtx', // 800 ms: rto.max
    "1712 < ACK 14",
    '2511 > DATA 14 "aaaa" rtx',
    "2512 < ACK 22", // it read: the window opens again, and the timeout is the measured one
    '2512 > DATA 22 "cccc" rtx',
    '2512 > DATA 26 "dddd" rtx',
    "2513 < ACK 30",
  ], { start: 5, until: 5000 });
  assert.ok(c.sent, String(c.error));
  assert.deepEqual(
    played.outputs.flatMap(([t, o]) => o.kind === "timeout" ? [[t, o.rto]] : []),
    [[111, 100], [211, 100], [311, 100], [511, 200], [911, 400], [1711, 800], [2511, 800]],
  );
});

Deno.test("window 1 is Stop & Wait: the same segments at the same times as with no option", () => {
  const script = [
    '10 app send "Hola, mundo TCP!!!!!"',
    '10 > DATA 12 "20"',
    "11 < ACK 14",
    '11 > DATA 14 "Hola"',
    '111 > DATA 14 "Hola" rtx',
    "112 < ACK 18",
    '112 > DATA 18 ", mu"',
    "113 < ACK 18",
  ];
  for (const extra of [{}, { window: 1, arq: "selective-repeat" }] as const) {
    const c = client({ window: undefined, ...extra });
    const played = play(c, script, { start: 5, until: 150 });
    assert.ok(played.outputs.every(([, o]) => o.kind === "timeout" || o.window === undefined));
  }
});

/** The sender's congestion events over a virtual link, in short: time, event, seq, cwnd/ssthresh. */
function sawtooth(congestion: "tahoe" | "reno"): string[] {
  const result = runLink(new Uint8Array(120), {
    client: options({ window: 8, arq: "selective-repeat", congestion }),
    server: options({ window: 8, arq: "selective-repeat" }),
    // The first transmissions of three data segments are lost: two are
    // repaired by fast retransmit, the last (no segments after it) by a timeout.
    drop: (end, s, n) =>
      end === "client" && n === 1 && s.data.length > 0 && [63, 111, 131].includes(s.seq),
  });
  assert.equal(result.received, 120);
  const lines: string[] = [];
  for (const { t, end, output: o } of result.events) {
    if (end !== "client" || o.kind === "send" && !o.retransmission) continue;
    if (o.kind === "timeout") {
      lines.push(`${t} timeout ${o.segment.seq}`);
      continue;
    }
    const w = `${Math.round(o.window!.cwnd! * 100) / 100}/${o.window!.ssthresh}`;
    if (o.kind === "send") {
      lines.push(`${t} ${o.fastRetransmit ? "fast" : "rtx"} ${o.segment.seq} ${w}`);
    } else lines.push(`${t} ack ${o.segment.seq}${o.duplicate ? " dup" : ""} ${w}`);
  }
  return lines;
}

/** Slow start from one segment to the window of 8, the same for both; then the first loss. */
const SLOW_START = [
  "2 ack 11 1/8", // the SYN+ACK
  "4 ack 15 2/8", // the length "120": one more segment per ACK
  "6 ack 19 3/8",
  "6 ack 23 4/8",
  "8 ack 27 5/8",
  "8 ack 31 6/8",
  "8 ack 35 7/8",
  "8 ack 39 8/8",
  "10 ack 43 8/8", // at the window's bound
  "10 ack 47 8/8",
  "10 ack 51 8/8",
  "10 ack 55 8/8",
  "10 ack 59 8/8",
  "10 ack 63 8/8",
  "10 ack 63 dup 8/8", // DATA 63 was lost: the segments after it are held
  "12 ack 63 dup 8/8",
];

Deno.test("tahoe: slow start, three duplicates cut to one segment, congestion avoidance, timeout", () => {
  assert.deepEqual(sawtooth("tahoe"), [
    ...SLOW_START,
    "12 ack 63 dup 1/4", // the third: ssthresh = 8 / 2, cwnd = 1
    "12 fast 63 1/4",
    "12 ack 63 dup 1/4",
    "12 ack 63 dup 1/4",
    "12 ack 63 dup 1/4",
    "12 ack 63 dup 1/4",
    "14 ack 95 5.25/4", // the hole filled: the ACK jumps over 8 held segments, 3 of them
    // in slow start up to ssthresh, 5 in congestion avoidance (1/cwnd each)
    "16 ack 99 5.44/4",
    "16 ack 103 5.62/4",
    "16 ack 107 5.8/4",
    "16 ack 111 5.97/4",
    "18 ack 111 dup 5.97/4",
    "18 ack 111 dup 5.97/4",
    "18 ack 111 dup 1/2", // ssthresh = max(5.97 / 2, 2)
    "18 fast 111 1/2",
    "18 ack 111 dup 1/2",
    "20 ack 131 4/2", // 5 segments: 1 to ssthresh, 4 / 2 beyond
    "120 timeout 131", // the last segment lost: no duplicates, a timeout
    "120 rtx 131 1/2",
    "122 ack 135 2/2",
    "124 ack 136 2/2", // the FIN+ACK
  ]);
});

Deno.test("reno: three duplicates halve the window, fast recovery inflates it, the new ACK deflates it", () => {
  assert.deepEqual(sawtooth("reno"), [
    ...SLOW_START,
    "12 ack 63 dup 7/4", // ssthresh = 8 / 2, cwnd = ssthresh + 3
    "12 fast 63 7/4",
    "12 ack 63 dup 8/4", // + 1 per further duplicate (bounded by the window)
    "12 ack 63 dup 8/4",
    "12 ack 63 dup 8/4",
    "12 ack 63 dup 8/4",
    "14 ack 95 4/4", // recovery ends: cwnd = ssthresh
    "16 ack 99 4.25/4",
    "16 ack 103 4.49/4",
    "16 ack 107 4.71/4",
    "16 ack 111 4.92/4",
    "18 ack 111 dup 4.92/4",
    "18 ack 111 dup 4.92/4",
    "18 ack 111 dup 5/2", // ssthresh = max(4.92 / 2, 2)
    "18 fast 111 5/2",
    "20 ack 127 2/2",
    "20 ack 131 2.5/2",
    "120 timeout 131",
    "120 rtx 131 1/2", // a timeout: one segment, for Reno too
    "122 ack 135 2/2",
    "124 ack 136 2/2",
  ]);
});

Deno.test("send buffer: a writer blocked on a full buffer is woken once half of it is free", () => {
  // Before this, only "everything acknowledged" woke the writer, and a
  // message larger than the send buffer never finished.
  const c = client({ window: 1, sendBuffer: 16 });
  c.startMessage(40, 10); // its length "40" goes at once
  assert.equal(c.write(new Uint8Array(40), 10), 16, "the buffer takes 16 of 40 bytes");
  c.takeChanged();
  c.process(seg("ACK", 14), 11); // DATA 14 goes: 12 bytes still queued
  assert.equal(c.takeChanged(), false, "a quarter free: still waiting");
  c.process(seg("ACK", 18), 12); // DATA 18 goes: 8 queued
  assert.ok(c.takeChanged(), "half free: the writer wakes");
  assert.equal(c.writable, 8);
  // With a window of 2, the first payload left with the length: one ACK is enough.
  const w = client({ window: 2, sendBuffer: 16 });
  w.startMessage(40, 10);
  assert.equal(w.write(new Uint8Array(40), 10), 16);
  w.takeChanged();
  w.process(seg("ACK", 14), 11);
  assert.ok(w.takeChanged());
});

Deno.test("a window receiver answers a burst read at once with one cumulative ACK, and duplicates at once", () => {
  const s = server({ arq: "selective-repeat", window: 16 }); // one ACK for up to 16 / 4 segments
  s.want = 100;
  const sends = () => s.takeOutput().flatMap((o) => o.kind === "send" ? [o.segment.seq] : []);
  s.process(seg("DATA", 12, "32"), 3);
  s.process(seg("DATA", 14, "aaaa"), 3);
  s.process(seg("DATA", 18, "bbbb"), 3);
  assert.deepEqual(sends(), [], "held while segments wait to be read");
  assert.equal(s.pollAt(), 3, "a driver that never calls idle is polled at once");
  s.idleDriven = true;
  assert.equal(s.pollAt(), Infinity, "one that calls idle after each burst needs no timer for it");
  s.idleDriven = false;
  s.idle();
  assert.deepEqual(sends(), [22]);
  s.process(seg("DATA", 22, "cccc"), 4); // held: ACK 26
  s.process(seg("DATA", 30, "eeee"), 4); // a hole at 26: the held ACK, then the duplicate
  assert.deepEqual(sends(), [26, 26]);
  s.idle();
  assert.deepEqual(sends(), []);
  s.process(seg("DATA", 26, "dddd"), 5); // fills the hole: 26..34 in order (1 held)
  for (const [seq, text] of [[34, "ffff"], [38, "gggg"]] as const) {
    s.process(seg("DATA", seq, text), 5);
  }
  assert.deepEqual(sends(), []);
  s.process(seg("DATA", 42, "hhhh"), 5); // the fourth: a quarter of the window, the ACK goes
  assert.deepEqual(sends(), [46]);
  // Stop & Wait (window 1) answers every segment at once, as the assignment says.
  const sw = server({ window: 1 });
  sw.want = 100;
  sw.process(seg("DATA", 12, "16"), 3);
  assert.deepEqual(sw.takeOutput().flatMap((o) => o.kind === "send" ? [o.segment.seq] : []), [14]);
});
