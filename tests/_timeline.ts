/**
 * Virtual-time scripts for the pure {@linkcode Connection}, after packetdrill:
 * a timeline of lines, each at a time in ms,
 *
 * - `"120 < DATA 12 \"20\""`: this segment arrives from the peer at 120;
 * - `"120 > ACK 14"`: the connection sends this segment at 120 (`rtx` marks a
 *   retransmission, `fast` a fast retransmission, `copy` one of the last
 *   ACK's deliberate copies);
 * - `"130 app close"`: the application calls something at 130 (see {@linkcode APP}).
 *
 * {@linkcode play} feeds the inputs and runs the timers in order up to the
 * last line (or `until`), and asserts that the segments sent, with their
 * times, are exactly the `>` lines: a missing, extra, early or late segment
 * fails the test. No network, no clock.
 */
import assert from "node:assert/strict";
import { Connection, type ConnectionOptions, type Output } from "../connection.ts";
import { type Segment, segmentKind } from "../segment.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Builds a segment from "FLAGS seq" and optional text data ("DATA" for no flag). */
export function seg(flags: string, seq: number, data = ""): Segment {
  return {
    syn: flags.includes("SYN"),
    ack: flags.includes("ACK"),
    fin: flags.includes("FIN"),
    seq,
    data: enc.encode(data),
  };
}

/** A segment as the scripts write it: `DATA 12 "20"`, `SYN+ACK 11`. */
export function showSegment(segment: Segment): string {
  const kind = segmentKind(segment);
  return kind === "DATA"
    ? `DATA ${segment.seq} ${JSON.stringify(dec.decode(segment.data))}`
    : `${kind} ${segment.seq}`;
}

/** What the application can do in a script: `app NAME ARG`. */
export const APP: Record<string, (c: Connection, t: number, arg: string) => void> = {
  /** Sends a message (its text, JSON-quoted). */
  send: (c, t, arg) => {
    const bytes = enc.encode(JSON.parse(arg));
    c.startMessage(bytes.length, t);
    c.write(bytes, t);
  },
  /** Calls recv(n): wants n bytes, waits for data. */
  recv: (c, t, arg) => {
    c.want = Number(arg);
    c.expect("data", t);
  },
  /** Calls recvClose: waits for the FIN, and drops what it did not read. */
  recvClose: (c, t) => c.closeReceiving(t),
  /** Calls close (host A). */
  close: (c, t) => c.close(t),
  /** Reads what is ready (take(n)). */
  take: (c, _t, arg) => void c.take(Number(arg)),
};

/** What a script produced. */
export interface Played {
  /** Every output, with its time. */
  outputs: [number, Output][];
  /** The `>` lines the connection produced, formatted as the script writes them. */
  sent: string[];
}

/**
 * Plays `script` on `connection` (whose creation, at time `start`, may already
 * have queued a segment) and asserts the segments sent. The timers run up to
 * `until` (default: the last line's time).
 */
export function play(
  connection: Connection,
  script: string[],
  options: { start?: number; until?: number } = {},
): Played {
  const outputs: [number, Output][] = [];
  const sent: string[] = [];
  const collect = (t: number) => {
    for (const output of connection.takeOutput()) {
      outputs.push([t, output]);
      if (output.kind === "send") {
        const mark = output.lastAckCopy
          ? " copy"
          : output.fastRetransmit
          ? " fast"
          : output.retransmission
          ? " rtx"
          : "";
        sent.push(`${t} > ${showSegment(output.segment)}${mark}`);
      }
    }
  };
  const advance = (to: number) => {
    for (let guard = 0; guard < 100_000; guard++) {
      const at = connection.pollAt();
      if (!(at <= to)) return;
      connection.poll(at);
      collect(at);
    }
    throw new Error("the connection keeps asking to be polled: a timer loop");
  };
  collect(options.start ?? 0);
  const expected: string[] = [];
  let last = options.start ?? 0;
  for (const line of script) {
    const match = /^(\d+(?:\.\d+)?) +([<>]|app) +(.*)$/.exec(line.trim());
    if (!match) throw new Error(`bad script line: ${line}`);
    const t = Number(match[1]);
    const [, , what, rest] = match;
    last = Math.max(last, t);
    if (what === ">") {
      expected.push(`${t} > ${rest}`);
      continue;
    }
    advance(t);
    if (what === "<") {
      const m = /^([A-Z+]+) (\d+)(?: (".*"))?$/.exec(rest);
      if (!m) throw new Error(`bad segment in script: ${rest}`);
      const flags = m[1] === "DATA" ? "" : m[1];
      connection.process(seg(flags, Number(m[2]), m[3] ? JSON.parse(m[3]) : ""), t);
      connection.idle(); // nothing else waits to be read: a window receiver's held ACK goes
    } else {
      const [name, ...arg] = rest.split(" ");
      const action = APP[name];
      if (!action) throw new Error(`unknown app action: ${name}`);
      action(connection, t, arg.join(" "));
    }
    collect(t);
  }
  advance(options.until ?? last);
  assert.deepEqual(sent, expected);
  return { outputs, sent };
}

/** The reasons the connection gave for segments it did not accept, in order. */
export function reasons(played: Played): string[] {
  return played.outputs.flatMap(([, o]) =>
    o.kind === "recv" && o.reason !== undefined ? [o.reason] : []
  );
}

/** A client with x = 10, established at time 5 (its ACK 12 sent then). */
export function establishedClient(options: ConnectionOptions): Connection {
  const c = Connection.client(10, 0, options);
  play(c, ["0 > SYN 10", "5 < SYN+ACK 11", "5 > ACK 12"]);
  return c;
}

/** A server for SYN 10, established by the client's ACK 12 at time 1. */
export function establishedServer(options: ConnectionOptions): Connection {
  const c = Connection.server(10, 0, options);
  play(c, ["0 > SYN+ACK 11", "1 < ACK 12"]);
  return c;
}
