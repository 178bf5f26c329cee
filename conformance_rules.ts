/**
 * The rules of the assignment, checked on the wire view of a conformance
 * case (what the relay saw, both ways): pure functions of the datagrams, no
 * sockets, no processes, no clock. `conformance.ts` runs the cases and
 * calls {@linkcode checkWire}.
 *
 * @module
 */

import { type CaseDefinition, PAYLOADS } from "./conformance_cases.ts";
import type { RelayTraceRecord } from "./relay.ts";

/** 33809 as "33,809" (no import of cli.ts: this module stays free of Node and Deno APIs). */
const count = (n: number) => n.toLocaleString("en-US");

/** Which end the implementation under test plays. */
export type Role = "client" | "server";

/** A rule of the assignment checked on the wire. */
export interface RuleResult {
  /** The rule's name, e.g. `synack-seq`. */
  rule: string;
  /** False when the wire broke it. */
  ok: boolean;
  /** When broken: what happened, with the numbers. */
  detail?: string;
}

/** The rules, by name, with what they ask (English). */
export const RULES: Readonly<Record<string, string>> = {
  "header-format": "every segment is SYN|||ACK|||FIN|||SEQ|||DATA, flags 0 or 1, SEQ in decimal",
  "isn-range": "the client's initial sequence number x is in 0..100",
  "synack-seq": "the SYN+ACK carries x+1",
  "synack-new-port": "the SYN+ACK comes from a new port, not the listening one",
  "handshake-ack": "the handshake's ACK carries x+2",
  "length-first": "the first data segment is the file's length in bytes, in ASCII decimal",
  "mss": "at most 16 data bytes per segment",
  "data-seq": "a data segment is numbered by its first byte: the next one is s+n",
  "data-ack": "data at s with n bytes is acknowledged with s+n",
  "close-seq": "FIN s, then FIN+ACK s+1, then ACK s+2",
  "fin-retries": "the FIN is sent at most 3 times",
  "last-ack-copies": "the closing's last ACK is sent 3 times",
  "close-gives-up":
    "close() waits at most 3 timeouts for the FIN+ACK, recv_close() at most 3 for the last ACK",
  "retransmit": "a lost segment (not an ACK or FIN+ACK) is sent again after a timeout",
  "no-storm": "no more datagrams than a small multiple of what the transfer needs",
  "unanswered":
    "a SYN, data segment or FIN (SYN+ACK, for a client) that reached it 3 times over 2 s is answered",
};

/**
 * Copies that reached the end under test, over at least this many ms, before it is judged
 * silent to a segment: an end that exits at once (its own words tell why) is not judged so.
 */
const UNANSWERED_DELIVERIES = 3;
const UNANSWERED_SPAN_MS = 2_000;

/** A datagram of the wire view, parsed leniently. */
interface WireSegment {
  record: RelayTraceRecord;
  bytes: Uint8Array;
  /** From the client (`toServer`) or the server (`toClient`). */
  from: Role;
  syn: boolean;
  ack: boolean;
  fin: boolean;
  seq: number;
  data: Uint8Array;
  kind: string;
  /** Why it does not follow the header's text format exactly, if it does not. */
  formatProblem?: string;
  /** The SEQ field has leading zeros. */
  zeroPadded: boolean;
}

const SEPARATOR = [0x7c, 0x7c, 0x7c];

function indexOfSeparator(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 2 < bytes.length; i++) {
    if (bytes[i] === SEPARATOR[0] && bytes[i + 1] === SEPARATOR[1] && bytes[i + 2] === 0x7c) {
      return i;
    }
  }
  return -1;
}

const ascii = new TextDecoder("latin1");

/** Parses a datagram as leniently as possible, noting how it breaks the format. */
function parseWire(record: RelayTraceRecord, bytes: Uint8Array): WireSegment {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < 4; i++) {
    const end = indexOfSeparator(bytes, start);
    if (end === -1) break;
    fields.push(ascii.decode(bytes.subarray(start, end)));
    start = end + 3;
  }
  const from: Role = record.direction === "toServer" ? "client" : "server";
  const base = { record, bytes, from, zeroPadded: false };
  if (fields.length < 4) {
    return {
      ...base,
      syn: false,
      ack: false,
      fin: false,
      seq: -1,
      data: new Uint8Array(),
      kind: "INVALID",
      formatProblem: `${quote(bytes)} has ${fields.length} of the 4 "|||" separators`,
    };
  }
  const [syn, ack, fin, seqText] = fields;
  const flag = (text: string) => text.trim() === "1";
  let formatProblem: string | undefined;
  if (![syn, ack, fin].every((text) => text === "0" || text === "1")) {
    formatProblem = `the flags are "${syn}|||${ack}|||${fin}" in ${quote(bytes)}; expected 0 or 1`;
  } else if (!/^\d+$/.test(seqText)) {
    formatProblem = `SEQ is "${seqText}" in ${quote(bytes)}; expected a decimal number`;
  }
  const segment = {
    ...base,
    syn: flag(syn),
    ack: flag(ack),
    fin: flag(fin),
    seq: /^\s*\d+\s*$/.test(seqText) ? Number(seqText) : -1,
    data: bytes.slice(start),
    formatProblem,
    zeroPadded: /^0\d/.test(seqText),
    kind: "",
  };
  segment.kind = segment.syn
    ? (segment.ack ? "SYN+ACK" : "SYN")
    : segment.fin
    ? (segment.ack ? "FIN+ACK" : "FIN")
    : segment.ack
    ? "ACK"
    : "DATA";
  return segment;
}

/**
 * Bytes as a quoted text: printable ASCII as is, any other byte `\xNN`, cut at `limit` bytes
 * with "…".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quote } from "./conformance_rules.ts";
 * assert.equal(quote(new TextEncoder().encode("ok\n")), '"ok\\x0a"');
 * assert.equal(quote(new TextEncoder().encode("abcdef"), 3), '"abc…"');
 * ```
 */
export function quote(bytes: Uint8Array, limit = 40): string {
  const text = ascii.decode(bytes.subarray(0, limit)).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return `"${text}${bytes.length > limit ? "…" : ""}"`;
}

/** How a segment kind is named in a sentence. */
export const SEGMENT_NAMES: Readonly<Record<string, string>> = {
  "SYN": "SYN",
  "SYN+ACK": "SYN+ACK",
  "ACK": "ACK",
  "DATA": "data segment",
  "FIN": "FIN",
  "FIN+ACK": "FIN+ACK",
};

/** What the relay saw of one case, and what the rules make of it. */
export interface WireInput {
  /** Which end is under test: only its datagrams are judged. */
  role: Role;
  /** The case. */
  definition: CaseDefinition;
  /** The datagrams, in order of arrival at the relay, with their bytes. */
  datagrams: { record: RelayTraceRecord; bytes: Uint8Array }[];
  /** The server's listening address, `host:port`. */
  listening: string;
  /** Data bytes per segment allowed. */
  mss: number;
  /** How long the case ran, in seconds (for "in 60 s"). */
  seconds: number;
  /**
   * When the end under test was stopped, still running, after socket-tcp's end
   * had ended with success (epoch ms, as the records' `time`); absent when it
   * ended by itself. Judged in the cases that ask it to give up
   * ({@linkcode CaseDefinition.givesUp}).
   */
  stoppedWaiting?: number;
}

/**
 * Checks the assignment's rules on the wire view of a case, judging only the
 * datagrams of the end under test. Returns every rule checked.
 *
 * @example A SYN+ACK numbered with the server's own number
 * ```ts
 * import assert from "node:assert/strict";
 * import { CASES } from "./conformance_cases.ts";
 * import { checkWire } from "./conformance_rules.ts";
 * const enc = (text: string) => new TextEncoder().encode(text);
 * const at = (id: number, direction: "toServer" | "toClient", text: string) => ({
 *   record: {
 *     time: id, kind: "relay" as const, id, direction, client: "127.0.0.1:5000",
 *     server: direction === "toServer" && id === 1 ? "127.0.0.1:8000" : "127.0.0.1:9000",
 *     flags: "", seq: 0, len: 0, fate: "forwarded" as const,
 *   },
 *   bytes: enc(text),
 * });
 * const rules = checkWire({
 *   role: "server", definition: CASES[0], listening: "127.0.0.1:8000", mss: 16, seconds: 1,
 *   datagrams: [at(1, "toServer", "1|||0|||0|||21|||"), at(2, "toClient", "1|||1|||0|||41|||")],
 * });
 * const broken = rules.find((r) => r.rule === "synack-seq");
 * assert.equal(broken?.ok, false);
 * assert.match(broken!.detail!, /SYN seq=21 with SYN\+ACK seq=41; the assignment expects seq=22/);
 * ```
 */
export function checkWire(input: WireInput): RuleResult[] {
  const { role, definition, mss } = input;
  const payload = PAYLOADS[definition.payload];
  const all = input.datagrams.map((d) => parseWire(d.record, d.bytes));
  // The first client address is the conversation judged.
  const client = all[0]?.record.client;
  const wire = all.filter((s) => s.record.client === client);
  const mine = wire.filter((s) => s.from === role);
  const results: RuleResult[] = [];
  const rule = (name: string, detail: string | undefined) =>
    results.push(
      detail === undefined ? { rule: name, ok: true } : { rule: name, ok: false, detail },
    );
  const who = role === "client" ? "the client" : "the server";

  // header-format
  const bad = mine.find((s) => s.formatProblem);
  const padded = mine.find((s) => s.zeroPadded);
  rule(
    "header-format",
    bad
      ? `${who} sent a segment that is not SYN|||ACK|||FIN|||SEQ|||DATA: ${bad.formatProblem}`
      : padded
      ? `${who} zero-pads SEQ (${quote(padded.bytes, 24)}): socket-tcp accepts it, ` +
        `but the assignment writes SEQ as a plain number (${padded.seq})`
      : undefined,
  );

  const syn = wire.find((s) => s.from === "client" && s.kind === "SYN");
  const x = syn?.seq;
  const synAck = wire.find((s) => s.from === "server" && s.kind === "SYN+ACK");
  const fromClient = wire.filter((s) => s.from === "client");
  const fromServer = wire.filter((s) => s.from === "server");
  const dataSegments = fromClient.filter((s) => s.kind === "DATA");

  if (role === "client") {
    if (syn && x !== undefined) {
      rule(
        "isn-range",
        x >= 0 && x <= 100
          ? undefined
          : `the client's SYN has seq=${x}; the assignment picks the initial number in 0..100`,
      );
      const afterSynAck = synAck
        ? fromClient.find((s) => s.record.time > synAck.record.time && s.kind === "ACK")
        : undefined;
      if (afterSynAck) {
        rule(
          "handshake-ack",
          afterSynAck.seq === x + 2
            ? undefined
            : `the client answered SYN+ACK seq=${
              synAck!.seq
            } with ACK seq=${afterSynAck.seq}; the assignment expects seq=${x + 2} (x+2)`,
        );
      }
      const first = dataSegments[0];
      if (first) {
        const text = ascii.decode(first.data);
        const expected = String(payload.length);
        const n = first.data.length;
        rule(
          "length-first",
          first.seq === x + 2 && text === expected
            ? undefined
            : first.seq === x + 3
            ? `the first data segment (the length) has seq=${first.seq} (x+3); the assignment ` +
              `expects seq=${x + 2} (x+2): the handshake's ACK x+2 takes no number, so both ` +
              `ends keep x+2 for the first data segment` +
              // One byte ("0"): x+3 is also x+2+n, the mistake of numbering a segment by its end.
              (n === 1 ? ` (with its 1 byte, x+3 is also x+2+n: or it is numbered by its end)` : "")
            : first.seq === x + 2 + n
            ? `the first data segment (${n === 1 ? "1 byte" : `${n} bytes`}) has ` +
              `seq=${first.seq}, the number after its last byte: it is numbered by its end; ` +
              `the assignment numbers a segment by its first byte, seq=${x + 2} (x+2)`
            : text !== expected
            ? `the first data segment carries ${quote(first.data)}; the assignment expects ` +
              `the file's length in bytes, "${expected}"`
            : `the first data segment has seq=${first.seq}; the assignment expects seq=${
              x + 2
            } (x+2)`,
        );
      }
      rule(
        "mss",
        (() => {
          const big = dataSegments.find((s) => s.data.length > mss);
          return big
            ? `a data segment carries ${big.data.length} bytes; the assignment allows ${mss}`
            : undefined;
        })(),
      );
      // data-seq: each new segment starts where the previous one ended.
      let previous: WireSegment | undefined;
      let detail: string | undefined;
      for (const s of dataSegments) {
        if (previous && s.seq !== previous.seq) {
          const expected = previous.seq + previous.data.length;
          if (s.seq !== expected && detail === undefined) {
            detail = `after the data segment seq=${previous.seq} with ${previous.data.length} ` +
              `bytes came seq=${s.seq}; the assignment numbers a segment by its first byte: ` +
              `expected seq=${expected} (s+n, n in bytes)`;
          }
        }
        previous = s;
      }
      rule("data-seq", detail);
      const fins = fromClient.filter((s) => s.kind === "FIN");
      if (fins.length > 0) {
        const last = dataSegments.at(-1);
        const s = fins[0].seq;
        const expectedFin = last ? last.seq + last.data.length : x + 2;
        const finAcks = fromServer.filter((f) => f.kind === "FIN+ACK");
        const lastAcks = fromClient.filter((a) =>
          a.kind === "ACK" && a.record.time > fins[0].record.time
        );
        rule(
          "close-seq",
          s !== expectedFin
            ? `the FIN has seq=${s}; after the last byte the next number is ${expectedFin}`
            : lastAcks.length > 0 && lastAcks.some((a) => a.seq !== s + 2)
            ? `the client answered FIN+ACK with ACK seq=${
              lastAcks.find((a) => a.seq !== s + 2)!.seq
            }; the assignment expects seq=${s + 2} (s+2)`
            : undefined,
        );
        rule(
          "fin-retries",
          fins.length <= 3
            ? undefined
            : `the client sent the FIN ${fins.length} times; step 8 allows 3 (3 timeouts)`,
        );
        // A client that answered a FIN+ACK at all must answer it 3 times. One that sent no
        // last ACK may never have got the FIN+ACK before giving up after 3 timeouts (allowed).
        const gotFinAck = lastAcks.length > 0 &&
          finAcks.some((f) => f.record.fate !== "dropped" && f.record.time > fins[0].record.time);
        if (gotFinAck) {
          rule(
            "last-ack-copies",
            lastAcks.length >= 3
              ? undefined
              : `the client sent the closing's last ACK ${
                lastAcks.length === 1 ? "once" : `${lastAcks.length} times`
              }; step 8 asks for 3 copies, a timeout apart`,
          );
        }
      }
    }
  } else {
    if (syn && x !== undefined && synAck) {
      rule(
        "synack-seq",
        synAck.seq === x + 1
          ? undefined
          : `the server answered SYN seq=${x} with SYN+ACK seq=${synAck.seq}; the assignment expects seq=${
            x + 1
          } (x+1)`,
      );
      rule(
        "synack-new-port",
        synAck.record.server !== input.listening
          ? undefined
          : `the SYN+ACK came from the listening port ${
            input.listening.split(":").at(-1)
          } (${input.listening}); ` +
            `accept() must answer from a new socket on another port`,
      );
    }
    // data-ack: every ACK of the data phase is s+n of a data segment the server got, and
    // each delivery (a copy that reached the server) draws at most one ACK of its s+n.
    const delivered = dataSegments.filter((s) => s.record.fate !== "dropped");
    const acks = fromServer.filter((s) => s.kind === "ACK");
    const copies = (s: WireSegment) => s.record.fate === "duplicated" ? 2 : 1;
    const acked = new Map<number, number>();
    let detail: string | undefined;
    for (const a of acks) {
      const before = delivered.filter((d) =>
        d.record.time <= a.record.time || d.record.fate !== "forwarded"
      );
      if (before.length === 0) continue;
      acked.set(a.seq, (acked.get(a.seq) ?? 0) + 1);
      const deliveries = before.filter((d) => d.seq + d.data.length === a.seq)
        .reduce((sum, d) => sum + copies(d), 0);
      if (acked.get(a.seq)! > deliveries) {
        // The segment it answers: the last one the relay passed on at once before it. (A held,
        // delayed or reordered one counts above whatever its time, so as not to blame a re-ACK
        // of it; but it may have reached the server after this ACK.)
        const d = before.filter((d) =>
          (d.record.fate === "forwarded" || d.record.fate === "duplicated") &&
          d.record.time <= a.record.time
        ).at(-1) ?? before.at(-1)!;
        detail = `the server answered the data segment seq=${d.seq} with ${d.data.length} ` +
          `bytes with ACK seq=${a.seq}; the assignment expects seq=${
            d.seq + d.data.length
          } (s+n, n in bytes)`;
        break;
      }
    }
    rule("data-ack", detail);
    const fin = fromClient.find((s) => s.kind === "FIN");
    const finAck = fromServer.find((s) => s.kind === "FIN+ACK");
    if (fin && finAck) {
      rule(
        "close-seq",
        finAck.seq === fin.seq + 1 ? undefined : `the server answered FIN seq=${fin.seq} with ` +
          `FIN+ACK seq=${finAck.seq}; the assignment expects seq=${fin.seq + 1} (s+1)`,
      );
    }
  }

  // retransmit: each datagram of the end under test that the relay dropped came again.
  for (const lost of mine.filter((s) => s.record.fate === "dropped" && s.record.id)) {
    if (definition.random) break; // under random loss, a hang or a failure tells
    const same = (s: WireSegment) => s.kind === lost.kind && s.seq === lost.seq;
    // Sent again later; or itself a (spurious) copy of one that got through before.
    const again = mine.some((s) => s.record.id > lost.record.id && same(s)) ||
      mine.some((s) => s.record.id < lost.record.id && same(s) && s.record.fate !== "dropped");
    // An ACK, or a FIN+ACK (step 8: host B only waits 3 timeouts for the last ACK), is sent
    // again only when the peer repeats itself, if it is still there: not judged here.
    if (!again && lost.kind !== "ACK" && lost.kind !== "FIN+ACK") {
      const step = lost.kind === "FIN"
        ? "step 8 asks to resend it after each timeout, up to 3 times"
        : lost.kind.startsWith("SYN")
        ? "step 7 asks the handshake to survive losses, with a timeout"
        : "Stop & Wait resends it after a timeout";
      rule(
        "retransmit",
        `after the ${
          SEGMENT_NAMES[lost.kind] ?? lost.kind
        } seq=${lost.seq} was lost, ${who} did not ` +
          `send it again in ${Math.round(input.seconds)} s: ${step}`,
      );
      break;
    }
  }
  if (!results.some((r) => r.rule === "retransmit")) rule("retransmit", undefined);

  // close-gives-up: everything it waits for in the close was lost; step 8 gives up after 3
  // timeouts. Judged only when that is all it still waited for.
  if (definition.givesUp) {
    let detail: string | undefined;
    if (input.stoppedWaiting !== undefined) {
      const [sent, answer, waited] = role === "server"
        ? ["FIN+ACK", "ACK", "last ACK"]
        : ["FIN", "FIN+ACK", "FIN+ACK"];
      const first = mine.find((s) => s.kind === sent);
      const answered = first &&
        wire.some((s) =>
          s.from !== role && s.kind === answer && s.record.time >= first.record.time &&
          s.record.fate !== "dropped"
        );
      if (first && !answered) {
        const later = Math.round((input.stoppedWaiting - first.record.time) / 1000);
        detail = `after ${sent} seq=${first.seq}, no ${waited} arrived and ${who} was still ` +
          `waiting ${later} s later: the assignment gives up after 3 timeouts (step 8)`;
      }
    }
    rule("close-gives-up", detail);
  }

  // unanswered: a segment of socket-tcp's end that reached the end under test 3 times or
  // more over 2 s (the case's own drops not counted) and that it never answered at all.
  // A data segment answered with a wrong number is data-ack's (it names the wrong ACK).
  const wrongAck = results.some((r) => r.rule === "data-ack" && !r.ok);
  const silence = unanswered(role, wire, x, wrongAck);
  if (silence) results.unshift({ rule: "unanswered", ok: false, detail: silence });
  else rule("unanswered", undefined);

  // no-storm
  const segments = Math.ceil(payload.length / mss);
  const needed = role === "client" ? 6 + 1 + segments : 2 + 1 + segments;
  const limit = 4 * needed + 40;
  rule(
    "no-storm",
    mine.length <= limit ? undefined : `${who} sent ${count(mine.length)} datagrams for a ` +
      `transfer that needs ${needed}`,
  );
  return results.sort((a, b) => Number(a.ok) - Number(b.ok));
}

/** How many copies of a datagram reached its destination (a dropped one none, a duplicated 2). */
function deliveries(s: WireSegment): number {
  return s.record.fate === "dropped" ? 0 : s.record.fate === "duplicated" ? 2 : 1;
}

/** The copies reached their end 3 times or more, over 2 s or more. */
function silentLong(copies: WireSegment[]): boolean {
  const reached = copies.filter((c) => deliveries(c) > 0);
  return reached.reduce((sum, c) => sum + deliveries(c), 0) >= UNANSWERED_DELIVERIES &&
    reached.at(-1)!.record.time - reached[0].record.time >= UNANSWERED_SPAN_MS;
}

/** `once`, `twice`, `3 times`. */
function times(n: number): string {
  return n === 1 ? "once" : n === 2 ? "twice" : `${n} times`;
}

/**
 * The first segment of socket-tcp's end that reached the end under test at least
 * {@linkcode UNANSWERED_DELIVERIES} times over {@linkcode UNANSWERED_SPAN_MS} and was never
 * answered: as a server, a SYN with no SYN+ACK, a data segment with no ACK s+n, a FIN with no
 * FIN+ACK; as a client, a SYN+ACK followed by nothing but SYNs. A data segment answered with
 * another number is left to data-ack (`wrongAck`), which names that ACK. Judged on what the
 * end under test sent (a dropped answer was still sent), so a case's own drops never make it
 * fire.
 */
function unanswered(
  role: Role,
  wire: WireSegment[],
  x: number | undefined,
  wrongAck: boolean,
): string | undefined {
  const other = role === "server" ? "client" : "server";
  const theirs = wire.filter((s) => s.from === other);
  const mine = wire.filter((s) => s.from === role);
  const header = (s: WireSegment) => "`" + quote(s.bytes, 40).slice(1, -1) + "`";
  if (role === "client") {
    const synAcks = theirs.filter((s) => s.kind === "SYN+ACK");
    const first = synAcks.find((s) => deliveries(s) > 0);
    if (
      !first || !silentLong(synAcks) ||
      mine.some((s) => s.record.id > first.record.id && s.kind !== "SYN")
    ) return undefined;
    return `the client answered none of the ${synAcks.length} SYN+ACKs (${header(first)})` +
      (x === undefined ? "" : ` to its SYN seq=${x}`) +
      `: does it parse this header? The assignment answers it with ACK x+2`;
  }
  // Each segment of the client once, in order of first appearance.
  const seen = new Map<string, WireSegment[]>();
  for (const s of theirs) {
    if (s.kind !== "SYN" && s.kind !== "DATA" && s.kind !== "FIN") continue;
    const key = `${s.kind} ${s.seq} ${s.data.length}`;
    seen.set(key, [...(seen.get(key) ?? []), s]);
  }
  const firstData = theirs.find((s) => s.kind === "DATA");
  for (const copies of seen.values()) {
    const s = copies[0];
    if (!silentLong(copies)) continue;
    const delivered = copies.find((c) => deliveries(c) > 0)!;
    const after = mine.filter((m) => m.record.id > delivered.record.id);
    if (s.kind === "SYN") {
      if (mine.some((m) => m.kind === "SYN+ACK" || m.formatProblem)) continue;
      const instead = after[0];
      return `the server answered none of the ${copies.length} SYNs (${header(s)})` +
        (instead
          ? ` with a SYN+ACK (it sent ${instead.kind} seq=${instead.seq}): the assignment ` +
            `answers SYN x with SYN+ACK x+1`
          : `: does it parse this header?`);
    }
    if (s.kind === "DATA" && !wrongAck) {
      const expected = s.seq + s.data.length;
      if (mine.some((m) => m.kind === "ACK" && m.seq === expected)) continue;
      const isLength = firstData !== undefined && firstData.seq === s.seq &&
        firstData.data.length === s.data.length;
      const position = isLength && x !== undefined && s.seq >= x ? `x+${s.seq - x}, ` : "";
      const acks = [...new Set(after.filter((m) => m.kind === "ACK").map((m) => m.seq))];
      return `the server never acknowledged the ${
        isLength ? "length segment" : "data segment"
      } DATA seq=${s.seq} (${position}${isLength ? "" : `${s.data.length} bytes, `}sent ${
        times(copies.length)
      }): the assignment expects ACK seq=${expected} (s+n, ` +
        `${s.data.length === 1 ? "1 byte" : `${s.data.length} bytes`})` +
        (acks.length > 0
          ? `; it acknowledged seq=${acks.slice(0, 3).join(", ")}${
            acks.length > 3 ? ", …" : ""
          } instead`
          : `; it sent no ACK after it`) +
        (isLength && x !== undefined && s.seq === x + 2 && acks.length === 0
          ? ` (the handshake's ACK x+2 takes no number: the length is numbered x+2)`
          : "");
    }
    if (s.kind === "FIN") {
      if (mine.some((m) => m.kind === "FIN+ACK")) continue;
      return `the server never answered the FIN seq=${s.seq} (sent ${
        times(copies.length)
      }) with a FIN+ACK: the assignment expects FIN+ACK seq=${s.seq + 1} (s+1)`;
    }
  }
  return undefined;
}
