/**
 * Sequence diagrams from traces: merges the trace events of a client, a
 * server, or both, pairs every segment sent with its reception on the other
 * side, and draws a Mermaid `sequenceDiagram` in Markdown. A segment sent and
 * never received is drawn as lost (`-x`); retransmissions, duplicates and
 * timeouts are marked; long transfers are summarised.
 *
 * Command line: `deno task diagram trace.jsonl [more.jsonl] > out.md`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { traceToMermaid } from "./diagram.ts";
 * const md = traceToMermaid([
 *   { time: 0, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000", flags: "SYN", seq: 50, len: 0 },
 * ]);
 * assert.ok(md.includes("SYN seq=50"));
 * ```
 *
 * @module
 */
import { type Lang, parseFileArgs, parseLang, reportUsageError, UsageError } from "./cli.ts";
import {
  readTraceFiles,
  type RelayMappingRecord,
  type RelayTraceRecord,
  type TraceFiles,
} from "./relay.ts";
import { ROOM_REASONS, roomOf, type TraceEvent } from "./trace.ts";

/** The role of an endpoint in a connection. */
export type Role = "client" | "listener" | "server";

/** One endpoint (a UDP port) of the trace. */
export interface Participant {
  /** Mermaid identifier. */
  id: string;
  /** Role of the endpoint. */
  role: Role;
  /** Its port. */
  port: number;
  /** Shown name, e.g. `Servidor :8000`. */
  label: string;
}

/** What became of a segment sent. */
export type Fate = "received" | "lost" | "unheard" | "unknown";

/** A step of the diagram: a segment (an arrow) or a timeout (a note). */
export interface Step {
  /** `segment` for an arrow, `timeout` for a note. */
  type: "segment" | "timeout";
  /** Time of the step (the send, or the reception when the send is not in the trace), epoch ms. */
  time: number;
  /** Sender (for a timeout, the endpoint whose timer expired). */
  from: Participant;
  /** Receiver (for a timeout, the peer waited on). */
  to: Participant;
  /** Flags, as in the trace. */
  flags: string;
  /** Sequence number. */
  seq: number;
  /** Payload length. */
  len: number;
  /**
   * `received`: both ends traced it; `lost`: sent, and the receiver's trace
   * does not have it; `unheard`: sent after the receiver had closed;
   * `unknown`: only one end is in the trace.
   */
  fate: Fate;
  /** The sender marked it as a retransmission. */
  retransmission: boolean;
  /** The receiver marked it as a duplicate. */
  duplicate: boolean;
  /** For a timeout, the timeout in ms. */
  rto?: number;
  /**
   * For a timeout: the peer had answered that it had no room for the
   * segment since it was last sent, so the timer probes a full receiver
   * rather than resends a lost segment.
   */
  probe?: boolean;
  /** The send event, if traced. */
  send?: TraceEvent;
  /** The receive event, if traced. */
  recv?: TraceEvent;
}

/** The parsed picture of a trace. */
export interface SequenceModel {
  /** Endpoints, client first, then the listener, then the server's new sockets. */
  participants: Participant[];
  /** Steps, by time. */
  steps: Step[];
}

/** Options of {@linkcode renderMermaid}. */
export interface DiagramOptions {
  /** Summarise when there are more than this many arrows. Default 40. */
  maxArrows?: number;
  /**
   * Arrows kept at the start of a summarised diagram. Default 12, or half of
   * `maxArrows` when that is smaller, so that a summary never draws more than it.
   */
  head?: number;
  /** Arrows kept at the end of a summarised diagram. Default 12, or what `maxArrows` leaves after `head`. */
  tail?: number;
  /** Name participants by role only, without ports (stable across runs). Default false. */
  hidePorts?: boolean;
  /** Draw only the steps from this time (epoch ms) on, with a note counting the ones left out. */
  since?: number;
  /** The drawing's words: Spanish (default) or English. */
  lang?: Lang;
}

/** Port of a `host:port` address (also `[v6]:port`). */
export function portOf(address: string): number {
  const match = /:(\d+)$/.exec(address);
  return match ? Number(match[1]) : NaN;
}

const ROLE_ORDER: Record<Role, number> = { client: 0, listener: 1, server: 2 };

/** Works out which port is the client, the listener, and the server's new socket. */
function classify(events: TraceEvent[]): Map<number, Role> {
  const roles = new Map<number, Role>();
  const set = (port: number, role: Role) => {
    if (!Number.isNaN(port) && !roles.has(port)) roles.set(port, role);
  };
  for (const e of events) {
    if (e.kind === "send" && e.flags === "SYN") {
      set(portOf(e.local), "client");
      set(portOf(e.peer), "listener");
    } else if (e.kind === "recv" && e.flags === "SYN+ACK") {
      set(portOf(e.local), "client");
      set(portOf(e.peer), "server");
    } else if (e.kind === "send" && e.flags === "SYN+ACK") {
      set(portOf(e.local), "server");
      set(portOf(e.peer), "client");
    } else if (e.kind === "recv" && e.flags === "SYN") {
      set(portOf(e.peer), "client");
    }
  }
  // A port that received a SYN and never sent a SYN+ACK is the listener (the
  // server's trace alone: its listener traces the first SYN).
  for (const e of events) {
    if (e.kind === "recv" && e.flags === "SYN") set(portOf(e.local), "listener");
  }
  // The rest: the peer of a client is a server, the peer of a server a client.
  for (const e of events) {
    const local = portOf(e.local), peer = portOf(e.peer);
    const known = roles.get(local) ?? roles.get(peer);
    if (roles.has(local) && !roles.has(peer)) {
      set(peer, roles.get(local) === "client" ? "server" : "client");
    } else if (roles.has(peer) && !roles.has(local)) {
      set(local, roles.get(peer) === "client" ? "server" : "client");
    } else if (known === undefined) {
      set(local, "client");
      set(peer, "server");
    }
  }
  return roles;
}

/** Every word a drawing writes, in each language. */
const WORDS = {
  es: {
    client: "Cliente",
    server: "Servidor",
    listener: "Servidor (escucha)",
    newSocket: "Servidor (socket nuevo)",
    retransmission: "retransmisión",
    copy: "copia",
    duplicate: "duplicado",
    refused: "sin espacio: no lo toma",
    roomAgain: "hay espacio otra vez",
    probe: (what: string) => `el receptor no tenía espacio; sondea con ${what}`,
    unanswered: (what: string) => `sin respuesta a ${what}`,
    lost: "perdido",
    unheard: (who: string) => `sin receptor: ${who} ya cerró`,
    earlier: " anteriores",
    segments: (n: number, what: string) => `${n} segmentos${what}`,
    lostCount: (n: number) => `${n} perdidos`,
    retransmissions: (n: number) => `${n} retransmisiones`,
    timeouts: (n: number) => `${n} timeouts`,
    silence: (time: string) => `${time} sin tráfico`,
    silenceToEnd: (time: string) => `${time} sin tráfico, hasta el final`,
    invalid: "datagrama que no es un segmento",
    relayCopy: "copia del relay",
    relayLost: "perdido en el relay",
    held: (ms: number) => `retenido ${ms} ms`,
    discarded: "descartado al cerrar",
    more: (n: number) => `${n} datagramas más`,
  },
  en: {
    client: "Client",
    server: "Server",
    listener: "Server (listening)",
    newSocket: "Server (new socket)",
    retransmission: "retransmission",
    copy: "copy",
    duplicate: "duplicate",
    refused: "no room: not taken",
    roomAgain: "room again",
    probe: (what: string) => `the receiver had no room; probes with ${what}`,
    unanswered: (what: string) => `no answer to ${what}`,
    lost: "lost",
    unheard: (who: string) => `no receiver: ${who} had closed`,
    earlier: " earlier",
    segments: (n: number, what: string) => `${n}${what} segments`,
    lostCount: (n: number) => `${n} lost`,
    retransmissions: (n: number) => `${n} retransmissions`,
    timeouts: (n: number) => `${n} timeouts`,
    silence: (time: string) => `${time} with no traffic`,
    silenceToEnd: (time: string) => `${time} with no traffic, to the end`,
    invalid: "datagram that is not a segment",
    relayCopy: "the relay's copy",
    relayLost: "lost in the relay",
    held: (ms: number) => `held ${ms} ms`,
    discarded: "discarded at the close",
    more: (n: number) => `${n} more datagrams`,
  },
} as const;

function participants(
  roles: Map<number, Role>,
  hidePorts: boolean,
  lang: Lang,
): Map<number, Participant> {
  const words = WORDS[lang];
  const sorted = [...roles].sort((a, b) => ROLE_ORDER[a[1]] - ROLE_ORDER[b[1]]);
  const counts = new Map<Role, number>();
  for (const [, role] of sorted) counts.set(role, (counts.get(role) ?? 0) + 1);
  const out = new Map<number, Participant>();
  const used = new Map<Role, number>();
  for (const [port, role] of sorted) {
    const n = (used.get(role) ?? 0) + 1;
    used.set(role, n);
    const prefix = role === "client" ? "C" : role === "listener" ? "L" : "S";
    const id = counts.get(role)! > 1 ? `${prefix}${n}` : prefix;
    const name = role === "client" ? words.client : words.server;
    const label = hidePorts && counts.get(role) === 1
      ? role === "client" ? words.client : role === "listener" ? words.listener : words.newSocket
      : `${name} :${port}`;
    out.set(port, { id, role, port, label });
  }
  return out;
}

/** Side of a role: the client, or the server (listener and new sockets together). */
function side(role: Role): "client" | "server" {
  return role === "client" ? "client" : "server";
}

/** Tolerance, in ms, for clocks of two processes when a reception seems to precede its send. */
const CLOCK_SLACK = 5;

/**
 * Identical segments sent this close together, in ms, are one burst: they
 * left together and arrive in order. A retransmission leaves at least one
 * timeout (2 ms or more) after its original, so it never joins its burst.
 */
const BURST = 1;

/**
 * Builds the diagram's model from trace events (of one or both ends, in any
 * order): pairs each receive with the latest unpaired send of the same
 * flags, seq and length from the other side, no later than the receive; a
 * send left unpaired was lost (or found the receiver closed).
 *
 * The listener does not trace the SYNs it receives (its new socket traces
 * only the repeated ones it is handed), so an unpaired SYN counts as received
 * when it is the last SYN the client sent before the server's first SYN+ACK.
 */
export function buildModel(
  events: readonly TraceEvent[],
  options: { hidePorts?: boolean; lang?: Lang } = {},
): SequenceModel {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const roles = classify(sorted);
  const people = participants(roles, options.hidePorts ?? false, options.lang ?? "es");
  const who = (address: string): Participant => people.get(portOf(address))!;
  const traced = new Set<"client" | "server">();
  const lastSeen = new Map<number, number>();
  for (const e of sorted) {
    traced.add(side(who(e.local).role));
    lastSeen.set(portOf(e.local), e.time);
  }

  // Pair each reception with the latest unpaired send before it of the same
  // segment from the other side: a retransmission that arrives is the copy
  // received, and the earlier copy is the one lost. Identical copies sent in
  // one burst (a window receiver's duplicate ACKs, within BURST ms of each
  // other) arrive in the order they left: the reception takes the burst's
  // earliest unpaired copy.
  const matched = new Set<TraceEvent>();
  const pairOf = new Map<TraceEvent, TraceEvent>();
  for (const r of sorted) {
    if (r.kind !== "recv") continue;
    const here = side(who(r.local).role);
    const candidates: TraceEvent[] = [];
    for (const e of sorted) {
      if (e.time > r.time + CLOCK_SLACK) break;
      if (
        e.kind === "send" && !pairOf.has(e) && side(who(e.local).role) !== here &&
        e.flags === r.flags && e.seq === r.seq && e.len === r.len
      ) candidates.push(e);
    }
    // A send after the reception only pairs when none came before it (two processes' clocks).
    const before = candidates.filter((e) => e.time <= r.time);
    const pool = before.length > 0 ? before : candidates;
    const latest = pool.at(-1);
    const best = latest && pool.find((e) => latest.time - e.time <= BURST);
    if (best) {
      pairOf.set(best, r);
      matched.add(r);
    }
  }
  const steps: Step[] = [];
  const firstSynAck = sorted.find((e) => e.kind === "send" && e.flags === "SYN+ACK");
  // Per endpoint: its segment in flight was answered "alive, no room" since it left.
  const answeredNoRoom = new Map<string, boolean>();
  for (const e of sorted) {
    if (e.kind === "send" && e.flags !== "ACK") answeredNoRoom.set(e.local, false);
    if (e.kind === "recv" && e.reason?.startsWith(ROOM_REASONS.noRoom)) {
      answeredNoRoom.set(e.local, true);
    }
    if (e.kind === "timeout") {
      steps.push({
        type: "timeout",
        time: e.time,
        from: who(e.local),
        to: who(e.peer),
        flags: e.flags,
        seq: e.seq,
        len: e.len,
        fate: "unknown",
        retransmission: false,
        duplicate: false,
        rto: e.rto,
        probe: answeredNoRoom.get(e.local) ?? false,
        send: e,
      });
      continue;
    }
    if (e.kind !== "send") continue;
    const from = who(e.local), to = who(e.peer);
    const otherSide = side(to.role);
    const recv = pairOf.get(e);
    let fate: Fate;
    if (recv) {
      fate = "received";
    } else if (!traced.has(otherSide)) {
      fate = "unknown";
    } else if (e.flags === "SYN" && firstSynAck && synAnswered(sorted, e, firstSynAck)) {
      fate = "received";
    } else {
      const last = lastSeen.get(to.port);
      fate = last !== undefined && last < e.time ? "unheard" : "lost";
    }
    steps.push({
      type: "segment",
      time: e.time,
      from,
      to,
      flags: e.flags,
      seq: e.seq,
      len: e.len,
      fate,
      retransmission: e.retransmission ?? false,
      duplicate: recv?.duplicate ?? false,
      send: e,
      recv,
    });
  }
  // Receptions whose send is not in the trace: the other end's trace is missing.
  for (const r of sorted) {
    if (r.kind !== "recv" || matched.has(r)) continue;
    const from = who(r.peer);
    // SYNs are sent to the listener, which hands repeated ones to its new socket.
    const to = r.flags === "SYN" ? listenerOf(people) ?? who(r.local) : who(r.local);
    steps.push({
      type: "segment",
      time: r.time,
      from,
      to,
      flags: r.flags,
      seq: r.seq,
      len: r.len,
      fate: "unknown",
      retransmission: false,
      duplicate: r.duplicate ?? false,
      recv: r,
    });
  }
  // By time; at one instant, in the order of the trace, where a reception
  // comes before the answer it triggered (they share a timestamp). The sends
  // were listed first above, so a sort by time alone drew each answer before
  // the segment it answers when only one end was traced.
  const order = new Map<TraceEvent, number>(sorted.map((e, i) => [e, i]));
  const rank = (s: Step) => order.get((s.send ?? s.recv)!) ?? 0;
  steps.sort((a, b) => a.time - b.time || rank(a) - rank(b));
  const list = [...people.values()].sort((a, b) =>
    ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.port - b.port
  );
  return { participants: list, steps };
}

function listenerOf(people: Map<number, Participant>): Participant | undefined {
  return [...people.values()].find((p) => p.role === "listener");
}

/** The SYN `syn` is the last one sent before the server's first SYN+ACK for it. */
function synAnswered(sorted: TraceEvent[], syn: TraceEvent, synAck: TraceEvent): boolean {
  if (synAck.seq !== syn.seq + 1 || synAck.time < syn.time) return false;
  return !sorted.some((e) =>
    e.kind === "send" && e.flags === "SYN" && e.local === syn.local && e.time > syn.time &&
    e.time < synAck.time
  );
}

/** The label of an arrow: flags, seq, length of data, marks. */
export function arrowLabel(
  step: Pick<Step, "flags" | "seq" | "len" | "retransmission" | "duplicate"> & {
    send?: Pick<TraceEvent, "lastAckCopy">;
    recv?: Pick<TraceEvent, "reason">;
  },
  lang: Lang = "es",
): string {
  const words = WORDS[lang];
  const marks: string[] = [];
  if (step.retransmission) marks.push(words.retransmission);
  // The assignment's deliberate copies of the last ACK (step 8): not a retransmission.
  if (step.send?.lastAckCopy) marks.push(words.copy);
  if (step.duplicate) marks.push(words.duplicate);
  const room = roomOf(step.recv?.reason);
  if (room === "none") marks.push(words.refused);
  if (room === "again") marks.push(words.roomAgain);
  const len = step.flags === "DATA" || step.len > 0 ? ` len=${step.len}` : "";
  const tail = marks.length > 0 ? ` (${marks.join(", ")})` : "";
  return `${step.flags} seq=${step.seq}${len}${tail}`;
}

function noteSpan(a: Participant, b: Participant): string {
  return a.id === b.id ? a.id : `${a.id},${b.id}`;
}

function renderStep(step: Step, lang: Lang): string[] {
  const words = WORDS[lang];
  if (step.type === "timeout") {
    const rto = step.rto !== undefined ? ` (${round(step.rto)} ms)` : "";
    const what = `${step.flags} seq=${step.seq}`;
    const why = step.probe ? words.probe(what) : words.unanswered(what);
    return [`    Note over ${step.from.id}: ⏱ timeout${rto}: ${why}`];
  }
  const label = arrowLabel(step, lang);
  const span = noteSpan(step.from, step.to);
  switch (step.fate) {
    case "lost":
      return [
        `    ${step.from.id}-x${step.to.id}: ${label}`,
        `    Note over ${span}: ${words.lost}`,
      ];
    case "unheard":
      return [
        `    ${step.from.id}--x${step.to.id}: ${label}`,
        `    Note over ${span}: ${words.unheard(step.to.label)}`,
      ];
    default:
      return [`    ${step.from.id}->>${step.to.id}: ${label}`];
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function summary(steps: Step[], earlier: boolean, lang: Lang): string {
  const words = WORDS[lang];
  const arrows = steps.filter((s) => s.type === "segment");
  const parts: string[] = [];
  const lost = arrows.filter((s) => s.fate === "lost").length;
  const retx = arrows.filter((s) => s.retransmission).length;
  const timeouts = steps.length - arrows.length;
  if (lost) parts.push(words.lostCount(lost));
  if (retx) parts.push(words.retransmissions(retx));
  if (timeouts) parts.push(words.timeouts(timeouts));
  const what = words.segments(arrows.length, earlier ? words.earlier : "");
  return `… ${what}${parts.length ? ` (${parts.join(", ")})` : ""} …`;
}

/** Renders a model as a Markdown fenced Mermaid `sequenceDiagram`. */
export function renderMermaid(model: SequenceModel, options: DiagramOptions = {}): string {
  const maxArrows = options.maxArrows ?? 40;
  const lang = options.lang ?? "es";
  const { head, tail } = keptArrows(maxArrows, 12, options);
  const { participants: people } = model;
  let steps = model.steps;
  const lines = ["```mermaid", "sequenceDiagram"];
  for (const p of people) lines.push(`    participant ${p.id} as ${p.label}`);
  const first = people[0], last = people[people.length - 1];
  const span = first && last ? noteSpan(first, last) : "";
  if (options.since !== undefined) {
    const before = steps.filter((s) => s.time < options.since!);
    steps = steps.filter((s) => s.time >= options.since!);
    if (before.length > 0) lines.push(`    Note over ${span}: ${summary(before, true, lang)}`);
  }
  const arrowIndexes = steps.flatMap((s, i) => s.type === "segment" ? [i] : []);
  if (arrowIndexes.length > maxArrows && head + tail < arrowIndexes.length) {
    const cutStart = arrowIndexes[head];
    const cutEnd = tail > 0 ? arrowIndexes[arrowIndexes.length - tail] : steps.length;
    for (const s of steps.slice(0, cutStart)) lines.push(...renderStep(s, lang));
    lines.push(`    Note over ${span}: ${summary(steps.slice(cutStart, cutEnd), false, lang)}`);
    for (const s of steps.slice(cutEnd)) lines.push(...renderStep(s, lang));
  } else {
    for (const s of steps) lines.push(...renderStep(s, lang));
  }
  lines.push("```");
  return lines.join("\n") + "\n";
}

/**
 * The arrows kept at each end of a summary: `head` and `tail` as given, else
 * `usual` each, shrunk to fit `maxArrows` (half each) when it is smaller.
 */
function keptArrows(
  maxArrows: number,
  usual: number,
  options: { head?: number; tail?: number },
): { head: number; tail: number } {
  const head = options.head ?? Math.min(usual, Math.floor(maxArrows / 2));
  const tail = options.tail ?? Math.min(usual, Math.max(0, maxArrows - head));
  return { head, tail };
}

/**
 * Draws trace events as a Mermaid sequence diagram in Markdown: {@linkcode buildModel}
 * then {@linkcode renderMermaid}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { traceToMermaid } from "./diagram.ts";
 * const md = traceToMermaid([
 *   { time: 0, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000", flags: "SYN", seq: 7, len: 0 },
 * ]);
 * assert.equal(md.split("\n")[4], "    C->>L: SYN seq=7");
 * ```
 */
export function traceToMermaid(
  events: readonly TraceEvent[],
  options: DiagramOptions = {},
): string {
  return renderMermaid(buildModel(events, options), options);
}

/**
 * Draws a relay's trace (`relay.ts --trace-file`, or the conformance
 * checker's wire view) as a Mermaid sequence diagram with exactly two
 * columns, the client and the server: one arrow per copy the relay
 * forwarded, at the time it went out, and one lost arrow (`-x`) per datagram
 * the relay dropped, at the time it was dropped. A gap of `silence` ms or
 * more with nothing on the wire (default 20) is a note: a timeout running.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relayTraceToMermaid } from "./diagram.ts";
 * const at = (time: number, direction: "toServer" | "toClient", flags: string, seq: number,
 *   fate: "forwarded" | "dropped") => ({
 *   time, kind: "relay" as const, id: time, direction, client: "127.0.0.1:5000",
 *   server: "127.0.0.1:8000", flags, seq, len: 0, fate,
 * });
 * const md = relayTraceToMermaid([
 *   at(1, "toServer", "SYN", 7, "dropped"),
 *   at(2, "toServer", "SYN", 7, "forwarded"),
 *   at(3, "toClient", "SYN+ACK", 8, "forwarded"),
 * ]);
 * assert.equal(md.split("\n").filter((l) => l.includes("participant")).length, 2);
 * assert.ok(md.includes("    C-xS: SYN seq=7"));
 * assert.ok(md.includes("    S->>C: SYN+ACK seq=8"));
 * ```
 */
export function relayTraceToMermaid(
  records: readonly RelayTraceRecord[],
  options: {
    maxArrows?: number;
    head?: number;
    tail?: number;
    silence?: number;
    /** When the recording ended (epoch ms): a silence up to then is noted at the end. */
    until?: number;
    /** The drawing's words: Spanish (default) or English. */
    lang?: Lang;
  } = {},
): string {
  const words = WORDS[options.lang ?? "es"];
  const silence = options.silence ?? 20;
  const maxArrows = options.maxArrows ?? 60;
  const { head, tail } = keptArrows(maxArrows, 25, options);
  const sorted = [...records].sort((a, b) => a.time - b.time || a.id - b.id);
  const arrivals = new Map<number, RelayTraceRecord>();
  const steps: { lines: string[]; lost: boolean }[] = [];
  let last: number | undefined;
  for (const r of sorted) {
    // A silence on the wire (a timeout running, usually) is a note.
    if (last !== undefined && r.time - last >= silence && r.fate !== "held") {
      steps.push({
        lines: [`    Note over C,S: ⏱ ${words.silence(`${Math.round(r.time - last)} ms`)}`],
        lost: false,
      });
    }
    if (!["delayed", "reordered", "held"].includes(r.fate)) last = r.time;
    const [from, to] = r.direction === "toServer" ? ["C", "S"] : ["S", "C"];
    const label = r.flags === "INVALID"
      ? words.invalid
      : `${r.flags} seq=${r.seq}${r.flags === "DATA" || r.len > 0 ? ` len=${r.len}` : ""}`;
    const span = "C,S";
    switch (r.fate) {
      case "forwarded":
        steps.push({ lines: [`    ${from}->>${to}: ${label}`], lost: false });
        break;
      case "duplicated":
        steps.push({
          lines: [
            `    ${from}->>${to}: ${label}`,
            `    ${from}->>${to}: ${label} (${words.relayCopy})`,
          ],
          lost: false,
        });
        break;
      case "dropped":
        steps.push({
          lines: [`    ${from}-x${to}: ${label}`, `    Note over ${span}: ${words.relayLost}`],
          lost: true,
        });
        break;
      case "delayed":
      case "reordered":
      case "held":
        arrivals.set(r.id, r);
        break;
      case "released": {
        const first = arrivals.get(r.id);
        const waited = first ? ` (${words.held(Math.round(r.time - first.time))})` : "";
        steps.push({ lines: [`    ${from}->>${to}: ${label}${waited}`], lost: false });
        break;
      }
      case "discarded":
        steps.push({
          lines: [`    ${from}-x${to}: ${label}`, `    Note over ${span}: ${words.discarded}`],
          lost: true,
        });
        break;
    }
  }
  if (options.until !== undefined && last !== undefined && options.until - last >= silence) {
    const ms = options.until - last;
    const text = ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms)} ms`;
    steps.push({
      lines: [`    Note over C,S: ⏱ ${words.silenceToEnd(text)}`],
      lost: false,
    });
  }
  const lines = [
    "```mermaid",
    "sequenceDiagram",
    `    participant C as ${words.client}`,
    `    participant S as ${words.server}`,
  ];
  if (steps.length > maxArrows && head + tail < steps.length) {
    const middle = steps.slice(head, steps.length - tail);
    const lost = middle.filter((s) => s.lost).length;
    for (const s of steps.slice(0, head)) lines.push(...s.lines);
    lines.push(
      `    Note over C,S: … ${words.more(middle.length)}${
        lost ? ` (${words.lostCount(lost)})` : ""
      } …`,
    );
    for (const s of steps.slice(steps.length - tail)) lines.push(...s.lines);
  } else {
    for (const s of steps) lines.push(...s.lines);
  }
  lines.push("```");
  return lines.join("\n") + "\n";
}

/**
 * Rewrites endpoint trace events taken on the two sides of a relay as if
 * there were no relay, using the relay's port mapping: a client's peer (the
 * relay's listening port, or a mirror port) becomes the server's address it
 * stands for, and a server's peer (a relay upstream port) becomes the
 * client's own address. Events that name no relay port are unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { throughRelay } from "./diagram.ts";
 * const ev = (local: string, peer: string) =>
 *   ({ time: 0, kind: "send" as const, local, peer, flags: "ACK", seq: 1, len: 0 });
 * const events = throughRelay([ev("127.0.0.1:5000", "127.0.0.1:7001"), ev("127.0.0.1:9000", "127.0.0.1:6000")], [
 *   { time: 0, kind: "relay-map", event: "listen", listen: "127.0.0.1:7000", target: "127.0.0.1:8000" },
 *   { time: 0, kind: "relay-map", event: "connection", client: "127.0.0.1:5000", upstream: "127.0.0.1:6000" },
 *   { time: 0, kind: "relay-map", event: "mirror", client: "127.0.0.1:5000", server: "127.0.0.1:9000", mirror: "127.0.0.1:7001" },
 * ]);
 * assert.deepEqual(events.map((e) => e.peer), ["127.0.0.1:9000", "127.0.0.1:5000"]);
 * ```
 */
export function throughRelay(
  events: readonly TraceEvent[],
  mapping: readonly RelayMappingRecord[],
): TraceEvent[] {
  // By port, as traces and relays may spell the same loopback host differently.
  const stand = new Map<number, number>();
  const clientOf = new Map<number, number>();
  for (const m of mapping) {
    if (m.event === "listen" && m.listen && m.target) stand.set(portOf(m.listen), portOf(m.target));
    if (m.event === "mirror" && m.mirror && m.server) stand.set(portOf(m.mirror), portOf(m.server));
    if (m.event === "connection" && m.upstream && m.client) {
      clientOf.set(portOf(m.upstream), portOf(m.client));
    }
  }
  return events.map((e) => {
    const port = portOf(e.peer);
    const real = stand.get(port) ?? clientOf.get(port);
    return real === undefined ? e : { ...e, peer: e.peer.replace(/:\d+$/, `:${real}`) };
  });
}

/**
 * Merges the endpoint traces of several files: keeps the connections traced
 * on both sides (a client port that is a `local` in one file and a `peer` in
 * another) and leaves out the rest, so that a connection traced on one side
 * only is not drawn as lost. With a single file, everything is kept.
 *
 * @throws {Error} when two or more files share no connection at all, saying
 * so (through a relay, the relay's trace gives the port mapping).
 */
export function matchTraces(files: readonly { path: string; events: TraceEvent[] }[]): {
  events: TraceEvent[];
  leftOut: number;
} {
  const all = files.flatMap((f) => f.events);
  if (files.filter((f) => f.events.length > 0).length < 2) return { events: all, leftOut: 0 };
  const roles = classify([...all].sort((a, b) => a.time - b.time));
  const localIn = new Map<number, Set<string>>();
  const peerIn = new Map<number, Set<string>>();
  for (const f of files) {
    for (const e of f.events) {
      const add = (map: Map<number, Set<string>>, port: number) => {
        if (!map.has(port)) map.set(port, new Set());
        map.get(port)!.add(f.path);
      };
      add(localIn, portOf(e.local));
      add(peerIn, portOf(e.peer));
    }
  }
  /** The client port of an event's connection. */
  const clientPort = (e: TraceEvent) =>
    roles.get(portOf(e.local)) === "client" ? portOf(e.local) : portOf(e.peer);
  const both = (port: number) => {
    const here = localIn.get(port), there = peerIn.get(port);
    return !!here && !!there && [...there].some((path) => !here.has(path));
  };
  const events = all.filter((e) => both(clientPort(e)));
  if (events.length === 0) {
    const describe = (f: { path: string; events: TraceEvent[] }) =>
      `${f.path} talks to ${[...new Set(f.events.map((e) => e.peer))].slice(0, 3).join(", ")}`;
    throw new Error(
      `cannot match the traces: ${files.map(describe).join("; ")}; no connection appears in ` +
        `two of them (through a relay, add the relay's --trace-file for its port mapping)`,
    );
  }
  return { events, leftOut: all.length - events.length };
}

const USAGE = `Usage: deno task diagram [options] trace.jsonl [more.jsonl ...] > out.md

Draws a Mermaid sequence diagram (Markdown) from trace files written with
--trace-file, of the client, the server, or both (they are merged by time,
connection by connection). A relay's --trace-file alone draws the wire view:
two columns, a lost arrow (-x) for each datagram the relay dropped. Given with
the client's and the server's traces, it maps the relay's ports back to them.

Options:
  --max N      summarise when there are more than N segments (default 40; 60
               for a relay's trace alone)
  --head N     segments kept at the start of a summary (default 12, 25 for a
               relay's trace, or half of --max when that is smaller)
  --tail N     segments kept at the end of a summary (default: as --head);
               given, --head and --tail win over --max
  --no-ports   name participants by role only
  --lang L     the drawing's words: es (Spanish, the default) or en (English)
  -h, --help   show this help

Examples:
  deno task diagram client.jsonl server.jsonl > diagrama.md
  deno task diagram relay.jsonl > red.md
  deno task diagram --lang en client.jsonl server.jsonl > diagram.md
`;

/** The command line: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = parseFileArgs(args, {
    max: { type: "string" },
    head: { type: "string" },
    tail: { type: "string" },
    "no-ports": { type: "boolean" },
    lang: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  let lang: Lang;
  try {
    lang = parseLang(values.lang);
  } catch (error) {
    return reportUsageError("diagram", USAGE, error as UsageError);
  }
  const numbers: Record<string, number> = {};
  for (const name of ["max", "head", "tail"] as const) {
    const text = values[name];
    if (text === undefined) continue;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) {
      return reportUsageError(
        "diagram",
        USAGE,
        new UsageError(`--${name} is "${text}", expected an integer >= 0`),
      );
    }
    numbers[name] = n;
  }
  let read: TraceFiles;
  try {
    read = await readTraceFiles(positionals);
  } catch (error) {
    console.error(`diagram: ${(error as Error).message}`);
    return 1;
  }
  const { endpoints: files, relayRecords, mapping } = read;
  if (files.length === 0) {
    if (relayRecords.length === 0) {
      console.error("diagram: the trace files hold no events");
      return 1;
    }
    // A relay's trace alone: the wire view, two columns.
    console.log(
      relayTraceToMermaid(relayRecords, {
        maxArrows: numbers.max,
        head: numbers.head,
        tail: numbers.tail,
        lang,
      }).trimEnd(),
    );
    return 0;
  }
  let events: TraceEvent[];
  try {
    const matched = matchTraces(
      files.map((f) => ({ path: f.path, events: throughRelay(f.events, mapping) })),
    );
    events = matched.events;
    if (matched.leftOut > 0) {
      console.error(
        `diagram: left out ${matched.leftOut} event(s) of connections traced on one side only`,
      );
    }
  } catch (error) {
    console.error(`diagram: ${(error as Error).message}`);
    return 1;
  }
  if (events.length === 0) {
    console.error("diagram: the trace files hold no events");
    return 1;
  }
  console.log(
    traceToMermaid(events, {
      maxArrows: numbers.max,
      head: numbers.head,
      tail: numbers.tail,
      hidePorts: values["no-ports"],
      lang,
    }).trimEnd(),
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
