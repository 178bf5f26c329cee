/**
 * Time-sequence graphs ("Stevens" graphs, as tcptrace and Wireshark draw
 * them) from traces, as standalone SVG: time on the x axis, sequence number on
 * the y axis, each data segment a vertical bar as tall as its bytes, the ACKs
 * a step line, retransmissions, duplicates, losses and timeouts in their own
 * colours.
 *
 * A connection has phases of very different lengths (a handshake that waits
 * 200 ms for a lost SYN, data that flows in 3 ms, a close that waits a fixed
 * 200 ms between copies of the last ACK), so the x axis is broken into one
 * panel per phase, each on its own scale, and every flat stretch wide enough
 * to see says what it is: a wait for a timeout, a wait for the other end's
 * answer, a fixed wait of the close, or idle time.
 *
 * With congestion control (the trace's events carry `cwnd` and `ssthresh`),
 * a strip under the graph draws the sender's congestion window and slow
 * start threshold on the same panels and time axis.
 *
 * A trace may hold several connections (a server's, or files merged): one
 * graph draws one of them ({@linkcode splitConnections}).
 *
 * Command line: `deno task plot trace.jsonl [more.jsonl] [--connection N] -o out.svg`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { traceToSvg } from "./plot.ts";
 * const svg = traceToSvg([
 *   { time: 0, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000", flags: "SYN", seq: 50, len: 0 },
 *   { time: 1, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:9000", flags: "DATA", seq: 52, len: 16 },
 *   { time: 2, kind: "recv", local: "127.0.0.1:5000", peer: "127.0.0.1:9000", flags: "ACK", seq: 68, len: 0 },
 * ]);
 * assert.ok(svg.startsWith("<svg"));
 * assert.ok(svg.includes("DATA enviado por el cliente"));
 * ```
 *
 * @module
 */
import { type Lang, parseFileArgs, parseLang, reportUsageError, UsageError } from "./cli.ts";
import { buildModel, portOf, throughRelay } from "./diagram.ts";
import { readTraceFiles, type TraceFiles } from "./relay.ts";
import type { TraceEvent } from "./trace.ts";

/** Options of {@linkcode traceToSvg}. */
export interface PlotOptions {
  /** Title drawn at the top. Default "Gráfico tiempo-secuencia". */
  title?: string;
  /** Second line under the title. */
  subtitle?: string;
  /** Width in px. Default 960. */
  width?: number;
  /** Height in px. Default: 480 plus 20 per row of the legend. */
  height?: number;
  /** Largest relative seq on the y axis (to draw two graphs on the same scale). */
  maxSeq?: number;
  /** One panel per phase (handshake, data, close), each on its own time scale. Default true. */
  phases?: boolean;
  /** The graph's words: Spanish (default, as in the report) or English. */
  lang?: Lang;
}

/** Every word a graph writes, in each language (series labels: {@linkcode seriesLabels}). */
const WORDS = {
  es: {
    title: "Gráfico tiempo-secuencia",
    phases: { handshake: "handshake", data: "datos", close: "cierre" },
    flat: {
      timeout: ["espera de timeout", "esperas de timeout"],
      "close-wait": ["espera fija del cierre", "esperas fijas del cierre"],
      answer: ["espera de respuesta", "esperas de respuesta"],
      idle: ["tramo sin actividad", "tramos sin actividad"],
    },
    noFlat: "sin tramos planos",
    flatMark: {
      timeout: "espera de timeout",
      answer: "espera de respuesta",
      "close-wait": "espera fija del cierre",
      idle: "sin actividad",
    },
    window: {
      cwnd: "cwnd del emisor (ventana de congestión, en segmentos; abajo)",
      ssthresh: "ssthresh del emisor (umbral de slow start; abajo)",
    },
    windowAxis: "cwnd (segmentos)",
    windowTitle: "Ventana de congestión del emisor, en el mismo eje de tiempo",
    xAxis: "tiempo desde el primer segmento (ms)",
    broken: "; el eje se corta entre fases, cada una con su escala",
    yAxis: "número de secuencia relativo al SYN (bytes)",
    connection: (index: number, of: number, client: string) =>
      `conexión ${index} de ${of} (cliente ${client})`,
  },
  en: {
    title: "Time-sequence graph",
    phases: { handshake: "handshake", data: "data", close: "close" },
    flat: {
      timeout: ["timeout wait", "timeout waits"],
      "close-wait": ["fixed wait of the close", "fixed waits of the close"],
      answer: ["wait for an answer", "waits for an answer"],
      idle: ["stretch with no activity", "stretches with no activity"],
    },
    noFlat: "no flat stretches",
    flatMark: {
      timeout: "timeout wait",
      answer: "wait for an answer",
      "close-wait": "fixed wait of the close",
      idle: "no activity",
    },
    window: {
      cwnd: "the sender's cwnd (congestion window, in segments; below)",
      ssthresh: "the sender's ssthresh (slow start threshold; below)",
    },
    windowAxis: "cwnd (segments)",
    windowTitle: "The sender's congestion window, on the same time axis",
    xAxis: "time since the first segment (ms)",
    broken: "; the axis breaks between phases, each on its own scale",
    yAxis: "sequence number relative to the SYN (bytes)",
    connection: (index: number, of: number, client: string) =>
      `connection ${index} of ${of} (client ${client})`,
  },
} as const;

/** One point or bar of the graph, in trace units (ms since the first event, relative seq). */
export interface PlotMark {
  /** Series: see {@linkcode seriesLabels}. */
  series: SeriesName;
  /** Time in ms since the first event. */
  t: number;
  /** Relative sequence number (bytes since the SYN). */
  y: number;
  /** Bytes (data bars only). */
  len: number;
  /** Flags of the segment (of the segment waited for, for a timeout). */
  flags?: string;
}

/** Names of the series of the graph. */
export type SeriesName =
  | "data"
  | "retransmission"
  | "lost"
  | "ack"
  | "duplicate-ack"
  | "lost-ack"
  | "control"
  | "control-in"
  | "lost-control"
  | "timeout";

/** Colour of each series. */
export const SERIES_COLORS: Record<SeriesName, string> = {
  data: "#1f6fd1",
  retransmission: "#d62728",
  lost: "#7f7f7f",
  ack: "#2ca02c",
  "duplicate-ack": "#ff7f0e",
  "lost-ack": "#8c564b",
  control: "#9467bd",
  "control-in": "#9467bd",
  "lost-control": "#7f7f7f",
  timeout: "#e377c2",
};

/** Which end the graph is drawn from, and what the trace holds. */
export interface Vantage {
  /** The end whose events are drawn: the one that sends the data, or (with its trace alone) the one that receives it. */
  role: "sender" | "receiver";
  /** That end is the client (it sent the SYN) or the server; `unknown` without a handshake in the trace. */
  side: "client" | "server" | "unknown";
  /** Both ends are in the trace, so losses are known. */
  bothEnds: boolean;
}

/** The series of a trace, seen from one end. */
export interface PlotData {
  /** Marks, by time. */
  marks: PlotMark[];
  /** Sequence number that maps to 0 (the first SYN's, or the smallest seen). */
  origin: number;
  /** Time (epoch ms) that maps to 0. */
  start: number;
  /** Time of the last mark, ms since `start`. */
  duration: number;
  /** Largest relative seq reached. */
  top: number;
  /** Where the graph is seen from. */
  vantage: Vantage;
  /**
   * The sender's congestion window over time, from the events of the vantage
   * point that carry it (with congestion control only; empty otherwise).
   */
  window: WindowPoint[];
}

/** The congestion state of the sender after one of its events. */
export interface WindowPoint {
  /** Time in ms since the first event. */
  t: number;
  /** Congestion window, in segments (fractional in congestion avoidance). */
  cwnd: number;
  /** Slow start threshold, in segments. */
  ssthresh: number;
}

/**
 * The legend's text of each series, which depends on where the trace was
 * taken: "DATA enviado por el cliente" from the sender's trace, "DATA
 * recibido por el servidor" from the receiver's alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seriesLabels } from "./plot.ts";
 * const labels = seriesLabels({ role: "receiver", side: "server", bothEnds: false });
 * assert.equal(labels.data, "DATA recibido por el servidor");
 * assert.equal(labels.ack, "ACK enviado por el servidor (línea escalonada)");
 * ```
 */
export function seriesLabels(vantage: Vantage, lang: Lang = "es"): Record<SeriesName, string> {
  if (lang === "en") return seriesLabelsEn(vantage);
  const who = endName(vantage);
  const of = `de${who.slice(1)}`; // "del cliente"
  const sender = vantage.role === "sender";
  return {
    data: `DATA ${sender ? "enviado" : "recibido"} por ${who}`,
    retransmission: sender ? "DATA retransmitido" : "DATA recibido otra vez (duplicado)",
    lost: "DATA perdido (no llegó)",
    ack: `ACK ${sender ? "recibido" : "enviado"} por ${who} (línea escalonada)`,
    "duplicate-ack": sender ? "ACK duplicado" : "ACK reenviado",
    "lost-ack": "ACK perdido (no llegó)",
    control: "SYN / FIN / ACK de control, enviado",
    "control-in": "SYN+ACK / FIN+ACK, recibido",
    "lost-control": "SYN / FIN / ACK de control perdido (no llegó)",
    timeout: `timeout ${of}`,
  };
}

/** {@linkcode seriesLabels} in English. */
function seriesLabelsEn(vantage: Vantage): Record<SeriesName, string> {
  const who = endNameEn(vantage);
  const sender = vantage.role === "sender";
  return {
    data: `DATA ${sender ? "sent" : "received"} by ${who}`,
    retransmission: sender ? "DATA retransmitted" : "DATA received again (duplicate)",
    lost: "DATA lost (never arrived)",
    ack: `ACK ${sender ? "received" : "sent"} by ${who} (step line)`,
    "duplicate-ack": sender ? "duplicate ACK" : "ACK sent again",
    "lost-ack": "ACK lost (never arrived)",
    control: "SYN / FIN / control ACK, sent",
    "control-in": "SYN+ACK / FIN+ACK, received",
    "lost-control": "SYN / FIN / control ACK lost (never arrived)",
    timeout: `${who}'s timeout`,
  };
}

/** The end a graph is seen from, in English: "the client", "the server", "the sender", "the receiver". */
function endNameEn(vantage: Vantage): string {
  return vantage.side === "client"
    ? "the client"
    : vantage.side === "server"
    ? "the server"
    : vantage.role === "sender"
    ? "the sender"
    : "the receiver";
}

/** The end a graph is seen from, in Spanish: "el cliente", "el servidor", "el emisor", "el receptor". */
function endName(vantage: Vantage): string {
  return vantage.side === "client"
    ? "el cliente"
    : vantage.side === "server"
    ? "el servidor"
    : vantage.role === "sender"
    ? "el emisor"
    : "el receptor";
}

/** The sentence over the legend that says where the graph is seen from. */
export function vantageText(vantage: Vantage, lang: Lang = "es"): string {
  if (lang === "en") {
    const side = endNameEn(vantage).slice("the ".length);
    const role = vantage.role === "sender" ? "it sends the data" : "it receives the data";
    return vantage.bothEnds
      ? `Seen from the ${side}'s side (${role}); traces of both ends: the losses show.`
      : `Seen from the ${side}'s side (${role}); that end's trace alone: the losses do not show.`;
  }
  const side = `de${endName(vantage).slice(1)}`;
  const role = vantage.role === "sender" ? "envía los datos" : "recibe los datos";
  return vantage.bothEnds
    ? `Visto desde el lado ${side} (${role}); trazas de ambos extremos: se ven las pérdidas.`
    : `Visto desde el lado ${side} (${role}); traza de ese extremo solo: las pérdidas no se ven.`;
}

/** One connection of a trace. */
export interface TracedConnection {
  /** 1-based, in the order of the connections' first events. */
  index: number;
  /** The client's address, `host:port` (or the pair of addresses when no handshake is traced). */
  client: string;
  /** Its events, by time. */
  events: TraceEvent[];
}

/**
 * Splits a trace into connections: a connection is everything to or from one
 * client (the end that sent a SYN or received a SYN+ACK), known by its port,
 * so merged client and server traces of one connection stay together (a
 * client bound to every address traces itself as `0.0.0.0:port`, the server
 * sees `127.0.0.1:port`),
 * and a server's trace of many clients splits into one per client. Events of
 * endpoints with no handshake in the trace are grouped by their pair of
 * addresses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitConnections } from "./plot.ts";
 * const syn = (time: number, client: string) => ({
 *   time, kind: "send" as const, local: client, peer: "127.0.0.1:8000", flags: "SYN", seq: 1, len: 0,
 * });
 * const connections = splitConnections([syn(2, "127.0.0.1:6000"), syn(1, "127.0.0.1:5000")]);
 * assert.deepEqual(connections.map((c) => [c.index, c.client]), [
 *   [1, "127.0.0.1:5000"],
 *   [2, "127.0.0.1:6000"],
 * ]);
 * ```
 */
export function splitConnections(events: readonly TraceEvent[]): TracedConnection[] {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  // A client bound to every address traces itself as 0.0.0.0:port, the server sees 127.0.0.1:port:
  // a client is its port, named by its most specific address.
  const clients = new Map<number, string>();
  const note = (address: string) => {
    const port = portOf(address);
    const known = clients.get(port);
    if (known === undefined || (isUnspecified(known) && !isUnspecified(address))) {
      clients.set(port, address);
    }
  };
  for (const e of sorted) {
    if (e.kind === "send" && e.flags === "SYN") note(e.local);
    else if (e.kind === "recv" && e.flags === "SYN+ACK") note(e.local);
    else if (e.kind === "recv" && e.flags === "SYN") note(e.peer);
    else if (e.kind === "send" && e.flags === "SYN+ACK") note(e.peer);
  }
  const groups = new Map<string, TraceEvent[]>();
  for (const e of sorted) {
    const key = clients.get(portOf(e.local)) ?? clients.get(portOf(e.peer)) ??
      [e.local, e.peer].sort().join(" ↔ ");
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  return [...groups].map(([client, events], i) => ({ index: i + 1, client, events }));
}

/** `0.0.0.0:port` or `[::]:port`: a socket bound to every address. */
function isUnspecified(address: string): boolean {
  return address.startsWith("0.0.0.0:") || address.startsWith("[::]:");
}

/**
 * Extracts the graph's series from the trace events of one connection. The
 * vantage point is the socket that sends the most DATA (its sends and the
 * ACKs it receives); with only the receiver's trace, its DATA receptions and
 * the ACKs it sends. When both ends are in the trace, a segment that never
 * arrived is a `lost` (or `lost-ack`) mark.
 */
export function plotData(events: readonly TraceEvent[]): PlotData {
  const sorted = [...events].sort((a, b) => a.time - b.time);
  const start = sorted[0]?.time ?? 0;
  const syn = sorted.find((e) => e.flags === "SYN");
  const origin = syn?.seq ?? Math.min(...sorted.map((e) => e.seq));
  const count = (kind: string) => {
    const tally = new Map<string, number>();
    for (const e of sorted) {
      if (e.flags === "DATA" && e.kind === kind) tally.set(e.local, (tally.get(e.local) ?? 0) + 1);
    }
    return [...tally].sort((a, b) => b[1] - a[1])[0]?.[0];
  };
  const sender = count("send");
  const vantageAddr = sender ?? count("recv") ?? sorted[0]?.local;
  const isSender = sender !== undefined;
  const vantagePort = vantageAddr === undefined ? NaN : portOf(vantageAddr);
  const mine = (e: TraceEvent) => portOf(e.local) === vantagePort;
  const isClient = sorted.some((e) =>
    mine(e) && ((e.kind === "send" && e.flags === "SYN") ||
      (e.kind === "recv" && e.flags === "SYN+ACK"))
  );
  const isServer = sorted.some((e) =>
    (mine(e) && e.kind === "send" && e.flags === "SYN+ACK") ||
    (!mine(e) && e.kind === "send" && e.flags === "SYN")
  );
  // Both ends are traced when the client's own events and the server's (listener or new socket) are.
  const clientPorts = new Set<number>();
  for (const e of sorted) {
    if ((e.kind === "send" && e.flags === "SYN") || (e.kind === "recv" && e.flags === "SYN+ACK")) {
      clientPorts.add(portOf(e.local));
    } else if (
      (e.kind === "recv" && e.flags === "SYN") || (e.kind === "send" && e.flags === "SYN+ACK")
    ) clientPorts.add(portOf(e.peer));
  }
  const byClient = (e: TraceEvent) => clientPorts.has(portOf(e.local));
  const bothEnds = clientPorts.size > 0
    ? sorted.some(byClient) && sorted.some((e) => !byClient(e))
    : sorted.some((e) => !mine(e) && e.kind !== "timeout") && sorted.some(mine);
  const vantage: Vantage = {
    role: isSender || vantageAddr === undefined ? "sender" : "receiver",
    side: isClient ? "client" : isServer ? "server" : "unknown",
    bothEnds,
  };
  const lost = new Set<TraceEvent>();
  if (bothEnds) {
    for (const step of buildModel(sorted).steps) {
      if (step.fate === "lost" && step.send) lost.add(step.send);
    }
  }
  // ACKs the receiver sent that never reached the vantage point (both ends traced).
  const lostAcks = [...lost].filter((e) =>
    e.flags === "ACK" && isSender && portOf(e.peer) === vantagePort
  );
  const marks: PlotMark[] = [];
  let top = 0;
  let dataSeen = false;
  let closing = false;
  for (const e of sorted) {
    const t = e.time - start;
    const y = e.seq - origin;
    if (e.flags === "FIN" || e.flags === "FIN+ACK") closing = true;
    if (!mine(e)) continue;
    const flags = e.flags;
    if (flags === "DATA" && e.kind === (isSender ? "send" : "recv")) {
      dataSeen = true;
      const series: SeriesName = lost.has(e)
        ? "lost"
        : e.retransmission || e.duplicate
        ? "retransmission"
        : "data";
      marks.push({ series, t, y, len: e.len, flags });
      top = Math.max(top, y + e.len);
    } else if (
      flags === "ACK" && e.kind === (isSender ? "recv" : "send") && dataSeen && !closing
    ) {
      marks.push({
        series: e.duplicate || e.retransmission ? "duplicate-ack" : "ack",
        t,
        y,
        len: 0,
        flags,
      });
      top = Math.max(top, y);
    } else if (e.kind === "timeout") {
      marks.push({ series: "timeout", t, y, len: e.len, flags });
    } else if (flags !== "DATA") {
      const series: SeriesName = e.kind !== "send"
        ? "control-in"
        : lost.has(e)
        ? "lost-control"
        : "control";
      marks.push({ series, t, y, len: 0, flags });
      top = Math.max(top, y);
    }
  }
  for (const e of lostAcks) {
    marks.push({ series: "lost-ack", t: e.time - start, y: e.seq - origin, len: 0, flags: "ACK" });
  }
  marks.sort((a, b) => a.t - b.t);
  const duration = marks.length > 0 ? Math.max(...marks.map((m) => m.t)) : 0;
  const window: WindowPoint[] = isSender
    ? sorted.filter((e) => mine(e) && e.cwnd !== undefined && e.ssthresh !== undefined).map((
      e,
    ) => ({
      t: e.time - start,
      cwnd: e.cwnd!,
      ssthresh: e.ssthresh!,
    }))
    : [];
  return { marks, origin, start, duration, top, vantage, window };
}

/** A phase of a connection, as one panel of the graph draws it. */
export interface Phase {
  /** `handshake`, `data` or `close`. */
  name: "handshake" | "data" | "close";
  /** Its title in the graph, in Spanish. */
  label: string;
  /** First and last time of its marks, ms since the trace's start. */
  from: number;
  /** Last time. */
  to: number;
  /** Its marks. */
  marks: PlotMark[];
}

/**
 * Splits the marks into phases: the handshake (before the first DATA), the
 * data (up to the first FIN), the close (from the first FIN). Empty phases are
 * left out; with no DATA and no FIN, the whole trace is one phase.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { phasesOf } from "./plot.ts";
 * const phases = phasesOf([
 *   { series: "control", t: 0, y: 0, len: 0, flags: "SYN" },
 *   { series: "data", t: 100, y: 2, len: 16, flags: "DATA" },
 *   { series: "control", t: 101, y: 18, len: 0, flags: "FIN" },
 * ]);
 * assert.deepEqual(phases.map((p) => [p.name, p.from, p.to]), [
 *   ["handshake", 0, 0],
 *   ["data", 100, 100],
 *   ["close", 101, 101],
 * ]);
 * ```
 */
export function phasesOf(marks: readonly PlotMark[]): Phase[] {
  const isData = (m: PlotMark) => m.flags === "DATA" && m.series !== "timeout";
  const isFin = (m: PlotMark) =>
    (m.flags === "FIN" || m.flags === "FIN+ACK") && m.series !== "timeout";
  const firstFin = marks.findIndex(isFin);
  const closeAt = firstFin < 0 ? marks.length : firstFin;
  const firstData = marks.findIndex(isData);
  const dataAt = firstData < 0 || firstData > closeAt ? closeAt : firstData;
  const parts: [Phase["name"], string, PlotMark[]][] = [
    ["handshake", "handshake", marks.slice(0, dataAt)],
    ["data", "datos", marks.slice(dataAt, closeAt)],
    ["close", "cierre", marks.slice(closeAt)],
  ];
  return parts.filter(([, , mine]) => mine.length > 0).map(([name, label, mine]) => ({
    name,
    label,
    from: mine[0].t,
    to: mine[mine.length - 1].t,
    marks: mine,
  }));
}

/** Round tick step for a range: 1, 2 or 5 times a power of ten, about `target` ticks. */
export function niceStep(range: number, target = 8): number {
  if (!(range > 0)) return 1;
  const raw = range / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, "");
}

/** A duration for a label: 1 decimal below 10 ms, whole ms above. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${fmt(Math.round(ms * 100) / 100)} ms`;
  return ms < 10 ? `${fmt(Math.round(ms * 10) / 10)} ms` : `${Math.round(ms)} ms`;
}

/**
 * The caption of a phase: its flat stretches counted by kind, in Spanish.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flatCaption } from "./plot.ts";
 * assert.equal(
 *   flatCaption([
 *     { kind: "close-wait", from: 0, to: 100 },
 *     { kind: "close-wait", from: 100, to: 200 },
 *   ]),
 *   "2 esperas fijas del cierre (200 ms)",
 * );
 * ```
 */
export function flatCaption(stretches: readonly FlatStretch[], lang: Lang = "es"): string {
  const words = WORDS[lang].flat;
  const parts: string[] = [];
  for (const kind of ["timeout", "answer", "close-wait", "idle"] as const) {
    const mine = stretches.filter((f) => f.kind === kind);
    if (mine.length === 0) continue;
    const total = mine.reduce((sum, f) => sum + f.to - f.from, 0);
    parts.push(`${mine.length} ${words[kind][mine.length === 1 ? 0 : 1]} (${formatMs(total)})`);
  }
  return parts.length > 0 ? parts.join("; ") : WORDS[lang].noFlat;
}

/** What a flat stretch of the graph is. */
export type FlatKind = "timeout" | "answer" | "close-wait" | "idle";

/** A stretch of time with no mark, wide enough to be seen. */
export interface FlatStretch {
  /** What it is: waiting for a timeout that then fired, a fixed wait of the close, or nothing to do. */
  kind: FlatKind;
  /** Start, ms since the trace's start. */
  from: number;
  /** End. */
  to: number;
}

/**
 * The flat stretches of a phase: gaps between consecutive marks longer than
 * `minMs`. A gap that ends in a timeout is a wait for that timeout; one that
 * ends when something arrives is a wait for the other end's answer (its
 * round trip, or its slowness); in the close, one that ends when host A sends
 * its next copy of the last ACK is a fixed wait; any other is idle time.
 * `role` says which marks arrive: for the data's sender, ACKs and control
 * segments received; for its receiver, DATA and control segments received.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flatStretches } from "./plot.ts";
 * const gaps = flatStretches({
 *   name: "data", label: "datos", from: 0, to: 60, marks: [
 *     { series: "data", t: 0, y: 0, len: 16 },
 *     { series: "timeout", t: 50, y: 0, len: 16 },
 *     { series: "retransmission", t: 50, y: 0, len: 16 },
 *     { series: "ack", t: 70, y: 16, len: 0 },
 *   ],
 * }, 10);
 * assert.deepEqual(gaps, [
 *   { kind: "timeout", from: 0, to: 50 },
 *   { kind: "answer", from: 50, to: 70 },
 * ]);
 * ```
 */
export function flatStretches(
  phase: Phase,
  minMs: number,
  role: Vantage["role"] = "sender",
): FlatStretch[] {
  const arrives: ReadonlySet<SeriesName> = new Set<SeriesName>(
    role === "sender"
      ? ["ack", "duplicate-ack", "control-in"]
      : ["data", "retransmission", "control-in"],
  );
  const out: FlatStretch[] = [];
  const marks = phase.marks;
  let finAckSeen = false;
  for (let i = 1; i < marks.length; i++) {
    const before = marks[i - 1], after = marks[i];
    if (before.flags === "FIN+ACK") finAckSeen = true;
    if (after.t - before.t < minMs) continue;
    const timeout = marks.slice(i).find((m) => m.t === after.t && m.series === "timeout");
    const kind: FlatKind = timeout || after.series === "timeout"
      ? "timeout"
      : arrives.has(after.series)
      ? "answer"
      : phase.name === "close" && finAckSeen
      ? "close-wait"
      : "idle";
    out.push({ kind, from: before.t, to: after.t });
  }
  return out;
}

/** The shortest gap counted as a flat stretch in a panel: 3 % of it, and at least 24 px and 1 ms. */
function minFlat(p: Panel, pxPerMs: number): number {
  return Math.max(1, (p.t1 - p.t0) * 0.03, 24 / pxPerMs);
}

/**
 * The time ticks of a panel. With several panels, only those within its
 * phase: the padding around a phase is not part of it (a tick of 0 in the
 * data panel belongs to the handshake), and the step is made finer until at
 * least two ticks fall inside.
 */
function panelTicks(p: Panel, withinPhase: boolean): number[] {
  const [from, to] = withinPhase ? [p.phase.from, p.phase.to] : [p.t0, p.t1];
  const span = Math.max(to - from, 0.05);
  let step = p.step;
  let ticks: number[] = [];
  for (let finer = 1; finer <= 64; finer *= 2) {
    ticks = [];
    const first = Math.ceil(from / step - 1e-9) * step;
    for (let t = first; t <= to + step * 1e-6; t += step) ticks.push(t);
    if (ticks.length >= 2 || !withinPhase) break;
    step = niceStep(span, 2 * finer);
  }
  return ticks.length > 0 ? ticks : [from];
}

/** A caption's character, at 11 px, is at most this wide (an estimate: no font metrics here). */
const CAPTION_CHAR_PX = 6.2;
/** The distance between two lines of a caption. */
const CAPTION_LINE_PX = 13;

/**
 * Breaks a caption (`part; part; …`) into lines of at most `chars`
 * characters, between its parts; a part longer than that is a line of its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapCaption } from "./plot.ts";
 * assert.deepEqual(
 *   wrapCaption("1 espera de timeout (3.2 ms); 2 esperas fijas del cierre (5.4 ms)", 40),
 *   ["1 espera de timeout (3.2 ms);", "2 esperas fijas del cierre (5.4 ms)"],
 * );
 * assert.deepEqual(wrapCaption("sin tramos planos", 40), ["sin tramos planos"]);
 * ```
 */
export function wrapCaption(text: string, chars: number): string[] {
  const parts = text.split("; ");
  const lines: string[] = [];
  for (const [i, part] of parts.entries()) {
    const piece = i < parts.length - 1 ? `${part};` : part;
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + piece.length <= chars) {
      lines[last] += ` ${piece}`;
    } else {
      lines.push(piece);
    }
  }
  return lines;
}

interface Panel {
  phase: Phase;
  t0: number;
  t1: number;
  x0: number;
  x1: number;
  step: number;
}

/** How cwnd and ssthresh are drawn. */
const WINDOW_PAINT = {
  cwnd: `fill="none" stroke="#1f6fd1" stroke-width="1.8"`,
  ssthresh: `fill="none" stroke="#d62728" stroke-width="1.4" stroke-dasharray="5 3"`,
} as const;

/**
 * The strip under the graph: cwnd (a step line) and ssthresh (dashed), in
 * segments, on the panels' time axis; a point that falls between two panels
 * is drawn at the edge of the one before.
 */
function windowStrip(
  points: readonly WindowPoint[],
  panels: readonly Panel[],
  xIn: (p: Panel, t: number) => number,
  top: number,
  bottom: number,
  lang: Lang,
): string[] {
  const maxW = Math.max(...points.map((p) => Math.max(p.cwnd, Math.min(p.ssthresh, 1e6))), 1);
  const step = niceStep(maxW, 4);
  const wMax = Math.ceil(maxW / step) * step;
  const yOf = (w: number) => bottom - (Math.min(w, wMax) / wMax) * (bottom - top);
  const panelAt = (t: number) => [...panels].reverse().find((p) => p.phase.from <= t) ?? panels[0];
  const xOf = (p: Panel, t: number) => Math.min(p.x1, Math.max(p.x0, xIn(p, t)));
  const out: string[] = [];
  const left = panels[0].x0;
  out.push(`<g class="window-axes" stroke="#222" stroke-width="1.2" fill="none">`);
  for (const p of panels) {
    out.push(
      `<line x1="${p.x0.toFixed(1)}" y1="${bottom}" x2="${p.x1.toFixed(1)}" y2="${bottom}"/>`,
    );
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}"/>`, `</g>`);
  out.push(`<g class="window-grid" stroke="#e6e6e6" stroke-width="1">`);
  for (let w = step; w <= wMax + 1e-9; w += step) {
    for (const p of panels) {
      out.push(
        `<line x1="${p.x0.toFixed(1)}" y1="${yOf(w).toFixed(1)}" x2="${p.x1.toFixed(1)}" y2="${
          yOf(w).toFixed(1)
        }"/>`,
      );
    }
  }
  out.push(`</g>`, `<g class="tick-labels" fill="#222">`);
  for (let w = 0; w <= wMax + 1e-9; w += step) {
    out.push(
      `<text x="${left - 8}" y="${(yOf(w) + 4).toFixed(1)}" text-anchor="end">${fmt(w)}</text>`,
    );
  }
  out.push(
    `</g>`,
    `<text class="window-label" transform="translate(18 ${
      (top + bottom) / 2
    }) rotate(-90)" text-anchor="middle" font-size="12">${WORDS[lang].windowAxis}</text>`,
    `<text class="window-title" x="${left + 6}" y="${top - 8}" font-size="12" fill="#333">${
      WORDS[lang].windowTitle
    }</text>`,
  );
  for (const name of ["ssthresh", "cwnd"] as const) {
    let path = "";
    let current: Panel | undefined;
    let last: number | undefined;
    for (const point of points) {
      const value = point[name];
      if (name === "ssthresh" && value > wMax * 4) continue; // still "infinite": not drawn
      const p = panelAt(point.t);
      const x = xOf(p, point.t).toFixed(2), yy = yOf(value).toFixed(2);
      if (p !== current || last === undefined) {
        path += ` M${x},${yy}`;
        current = p;
      } else {
        path += ` H${x}`;
        if (value !== last) path += ` V${yy}`;
      }
      last = value;
    }
    out.push(`<path class="series-${name}" d="${path.trim()}" ${WINDOW_PAINT[name]}/>`);
  }
  return out;
}

/** Draws the series of {@linkcode plotData} as a standalone SVG document. */
export function renderSvg(data: PlotData, options: PlotOptions = {}): string {
  const lang = options.lang ?? "es";
  const words = WORDS[lang];
  const present = new Set(data.marks.map((m) => m.series));
  present.add("ack");
  const names = (Object.keys(SERIES_COLORS) as SeriesName[]).filter((n) => present.has(n));
  const perRow = 2;
  const hasWindow = data.window.length > 0;
  const windowNames = hasWindow ? ["cwnd", "ssthresh"] as const : [];
  const legendRows = Math.ceil((names.length + windowNames.length) / perRow);
  // With congestion control, a strip under the graph draws cwnd and ssthresh on the same time axis.
  const strip = hasWindow ? { gap: 72, height: 150 } : { gap: 0, height: 0 };
  const stripSpace = hasWindow ? strip.gap + strip.height + 30 : 0;
  const width = options.width ?? 960;
  let height = options.height ?? 480 + 20 * legendRows + stripSpace;
  const margin = {
    left: 78,
    right: 24,
    top: options.subtitle ? 86 : 66,
    bottom: 96 + 20 * legendRows + stripSpace,
  };
  const plotW = width - margin.left - margin.right;
  // Panels: one per phase, or one for everything.
  const phases: Phase[] = options.phases === false || data.marks.length === 0
    ? [{
      name: "data",
      label: "",
      from: 0,
      to: data.duration,
      marks: data.marks,
    }]
    : phasesOf(data.marks);
  const gap = 16;
  const shares = phases.length === 3
    ? [0.18, 0.54, 0.28]
    : phases.length === 2
    ? (phases[0].name === "handshake" ? [0.3, 0.7] : [0.7, 0.3])
    : [1];
  const usable = plotW - gap * (phases.length - 1);
  const panels: Panel[] = [];
  let left = margin.left;
  phases.forEach((phase, i) => {
    const w = usable * shares[i];
    const span = Math.max(phase.to - phase.from, 0.05);
    const step = niceStep(span, Math.max(2, Math.round(w / 80)));
    const pad = span * 0.05;
    const t0 = phases.length === 1 ? 0 : phase.from - pad;
    const t1 = phases.length === 1 ? Math.ceil(phase.to / step) * step || step : phase.to + pad;
    panels.push({ phase, t0, t1, x0: left, x1: left + w, step });
    left += w + gap;
  });
  // Each panel's caption, in lines that fit its width: a long one (a close with
  // timeouts and fixed waits) takes two lines, and the graph moves down for it.
  const captions = panels.map((p) => {
    if (!p.phase.label) return [];
    const pxPerMs = (p.x1 - p.x0) / (p.t1 - p.t0);
    const stretches = flatStretches(p.phase, minFlat(p, pxPerMs), data.vantage.role);
    const text = flatCaption(stretches, lang);
    return wrapCaption(text, Math.floor((p.x1 - p.x0) / CAPTION_CHAR_PX));
  });
  const extraLines = Math.max(0, ...captions.map((lines) => lines.length - 1));
  margin.top += CAPTION_LINE_PX * extraLines;
  if (options.height === undefined) height += CAPTION_LINE_PX * extraLines;
  const plotH = height - margin.top - margin.bottom;
  const maxY = Math.max(options.maxSeq ?? 0, data.top, 1);
  const yStep = niceStep(maxY, 6);
  const yMax = Math.ceil(maxY / yStep) * yStep;
  const y = (s: number) => margin.top + plotH - (s / yMax) * plotH;
  const labels = seriesLabels(data.vantage, lang);

  const panelOfMark = new Map<PlotMark, Panel>();
  for (const p of panels) for (const m of p.phase.marks) panelOfMark.set(m, p);
  const panelOf = (m: PlotMark) => panelOfMark.get(m) ?? panels[0];
  const xIn = (p: Panel, t: number) => p.x0 + ((t - p.t0) / (p.t1 - p.t0)) * (p.x1 - p.x0);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="600">${
      esc(options.title ?? words.title)
    }</text>`,
  );
  if (options.subtitle) {
    out.push(
      `<text x="${width / 2}" y="44" text-anchor="middle" font-size="12" fill="#444">${
        esc(options.subtitle)
      }</text>`,
    );
  }
  const bottom = margin.top + plotH;
  // Each panel: its title, grid, x axis and ticks.
  for (const p of panels) {
    const name = p.phase.label && words.phases[p.phase.name];
    const title = name
      ? `${name[0].toUpperCase()}${name.slice(1)}: ${formatMs(p.phase.to - p.phase.from)}`
      : "";
    if (title) {
      const lines = captions[panels.indexOf(p)];
      const top = margin.top - 8 - CAPTION_LINE_PX * extraLines; // titles aligned
      out.push(
        `<text class="phase-title" x="${((p.x0 + p.x1) / 2).toFixed(1)}" y="${
          top - 14
        }" text-anchor="middle" font-size="13" font-weight="600">${esc(title)}</text>`,
        ...lines.map((line, i) =>
          `<text class="phase-caption" x="${((p.x0 + p.x1) / 2).toFixed(1)}" y="${
            top + CAPTION_LINE_PX * i
          }" text-anchor="middle" font-size="11" fill="#555">${esc(line)}</text>`
        ),
      );
    }
    out.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">`);
    const ticks = panelTicks(p, panels.length > 1);
    for (const t of ticks) {
      const tx = xIn(p, t).toFixed(1);
      out.push(`<line x1="${tx}" y1="${margin.top}" x2="${tx}" y2="${bottom}"/>`);
    }
    for (let s = 0; s <= yMax + 1e-9; s += yStep) {
      out.push(
        `<line x1="${p.x0.toFixed(1)}" y1="${y(s).toFixed(1)}" x2="${p.x1.toFixed(1)}" y2="${
          y(s).toFixed(1)
        }"/>`,
      );
    }
    out.push(`</g>`);
    out.push(
      `<g class="axes" stroke="#222" stroke-width="1.2">`,
      `<line x1="${p.x0.toFixed(1)}" y1="${bottom}" x2="${p.x1.toFixed(1)}" y2="${bottom}"/>`,
      ...ticks.map((t) =>
        `<line x1="${xIn(p, t).toFixed(1)}" y1="${bottom}" x2="${xIn(p, t).toFixed(1)}" y2="${
          bottom + 5
        }"/>`
      ),
      `</g>`,
      `<g class="tick-labels" fill="#222">`,
      ...ticks.map((t) =>
        `<text x="${xIn(p, t).toFixed(1)}" y="${bottom + 19}" text-anchor="middle">${
          fmt(Math.round(t * 1000) / 1000)
        }</text>`
      ),
      `</g>`,
    );
  }
  // Breaks of the x axis between panels.
  for (const p of panels.slice(1)) {
    const bx = p.x0 - gap / 2;
    out.push(
      `<path class="axis-break" d="M${(bx - 5).toFixed(1)},${bottom + 6} l6,-12 M${
        (bx - 1).toFixed(1)
      },${bottom + 6} l6,-12" stroke="#222" stroke-width="1.2" fill="none"/>`,
    );
  }
  // The y axis.
  out.push(
    `<g class="axes" stroke="#222" stroke-width="1.2">`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${bottom}"/>`,
  );
  for (let s = 0; s <= yMax + 1e-9; s += yStep) {
    out.push(
      `<line x1="${margin.left - 5}" y1="${y(s).toFixed(1)}" x2="${margin.left}" y2="${
        y(s).toFixed(1)
      }"/>`,
    );
  }
  out.push(`</g>`, `<g class="tick-labels" fill="#222">`);
  for (let s = 0; s <= yMax + 1e-9; s += yStep) {
    out.push(
      `<text x="${margin.left - 8}" y="${(y(s) + 4).toFixed(1)}" text-anchor="end">${
        fmt(s)
      }</text>`,
    );
  }
  out.push(`</g>`);
  const broken = panels.length > 1 ? words.broken : "";
  out.push(
    `<text class="x-label" x="${margin.left + plotW / 2}" y="${
      bottom + 40
    }" text-anchor="middle" font-size="13">${words.xAxis}${broken}</text>`,
    `<text class="y-label" transform="translate(18 ${
      margin.top + plotH / 2
    }) rotate(-90)" text-anchor="middle" font-size="13">${words.yAxis}</text>`,
  );

  // ACK step line, per panel: flat while waiting, a jump when an ACK advances.
  const acks = data.marks.filter((m) => m.series === "ack" || m.series === "duplicate-ack");
  if (acks.length > 0) {
    let path = "";
    let level = acks[0].y;
    let current: Panel | undefined;
    for (const m of acks) {
      const p = panelOf(m);
      if (p !== current) {
        if (current) path += ` H${xIn(current, current.phase.to).toFixed(2)}`;
        current = p;
        path += ` M${xIn(p, m.t).toFixed(2)},${y(level).toFixed(2)}`;
      }
      path += ` H${xIn(p, m.t).toFixed(2)}`;
      if (m.y > level) {
        level = m.y;
        path += ` V${y(level).toFixed(2)}`;
      }
    }
    if (current) path += ` H${xIn(current, current.phase.to).toFixed(2)}`;
    out.push(
      `<path class="series-ack" d="${path.trim()}" fill="none" stroke="${SERIES_COLORS.ack}" stroke-width="1.4" stroke-opacity="0.8"/>`,
    );
  }

  // Flat stretches wide enough to read: a bracket and what they are.
  out.push(`<g class="flat-stretches" font-size="11" fill="#555">`);
  for (const p of panels) {
    const pxPerMs = (p.x1 - p.x0) / (p.t1 - p.t0);
    for (const flat of flatStretches(p.phase, minFlat(p, pxPerMs), data.vantage.role)) {
      const x0 = xIn(p, flat.from), x1 = xIn(p, flat.to);
      const level = Math.max(
        0,
        ...p.phase.marks.filter((m) => m.t <= flat.from).map((m) => m.y + m.len),
      );
      const ly = Math.max(margin.top + 14, y(level) - 14);
      const long = `${words.flatMark[flat.kind]}: ${formatMs(flat.to - flat.from)}`;
      const short = formatMs(flat.to - flat.from);
      const room = x1 - x0;
      const text = long.length * 5.6 < room ? long : short.length * 5.6 < room ? short : "";
      out.push(
        `<path class="flat-${flat.kind}" d="M${x0.toFixed(1)},${(ly + 4).toFixed(1)} v4 H${
          x1.toFixed(1)
        } v-4" stroke="#999" fill="none"/>`,
      );
      if (text) {
        out.push(
          `<text x="${((x0 + x1) / 2).toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle">${
            esc(text)
          }</text>`,
        );
      }
    }
  }
  out.push(`</g>`);

  // Marks.
  const groups = Object.fromEntries(
    (Object.keys(SERIES_COLORS) as SeriesName[]).map((name) => [name, [] as string[]]),
  ) as Record<SeriesName, string[]>;
  for (const m of data.marks) {
    const mx = xIn(panelOf(m), m.t);
    const cx = mx.toFixed(2);
    switch (m.series) {
      case "data":
      case "retransmission":
      case "lost": {
        const y0 = y(m.y), y1 = y(m.y + Math.max(m.len, 0));
        const top = Math.min(y1, y0 - 2).toFixed(2);
        const dash = m.series === "lost" ? ` stroke-dasharray="2 2"` : "";
        groups[m.series].push(
          `<path d="M${cx},${y0.toFixed(2)} V${top} M${(mx - 3).toFixed(2)},${y0.toFixed(2)} h6 M${
            (mx - 3).toFixed(2)
          },${top} h6"${dash}/>`,
        );
        if (m.series === "lost") {
          groups.lost.push(
            `<path d="M${(mx - 4).toFixed(2)},${
              (y0 - 4).toFixed(2)
            } l8,8 m0,-8 l-8,8" stroke-width="2"/>`,
          );
        }
        break;
      }
      case "ack":
      case "duplicate-ack":
        groups[m.series].push(
          `<circle cx="${cx}" cy="${y(m.y).toFixed(2)}" r="${m.series === "ack" ? 2.2 : 3.2}"/>`,
        );
        break;
      case "lost-ack":
        groups["lost-ack"].push(`<circle cx="${cx}" cy="${y(m.y).toFixed(2)}" r="3.6"/>`);
        break;
      case "control":
      case "control-in":
      case "lost-control":
        if (m.series === "lost-control") {
          groups[m.series].push(
            `<path d="M${(mx - 4).toFixed(2)},${(y(m.y) - 4).toFixed(2)} l8,8 m0,-8 l-8,8"/>`,
          );
        }
        groups[m.series].push(
          `<rect x="${(mx - 3.5).toFixed(2)}" y="${
            (y(m.y) - 3.5).toFixed(2)
          }" width="7" height="7" transform="rotate(45 ${cx} ${y(m.y).toFixed(2)})"/>`,
        );
        break;
      case "timeout": {
        // Under the segment waited for, or over it when that would cross the x axis.
        const ty = y(m.y);
        groups.timeout.push(
          ty + 14 < bottom
            ? `<path d="M${cx},${(ty + 4).toFixed(2)} l-5,9 h10 z"/>`
            : `<path d="M${cx},${(ty - 4).toFixed(2)} l-5,-9 h10 z"/>`,
        );
        break;
      }
    }
  }
  const paintOf = (name: SeriesName) => {
    const color = SERIES_COLORS[name];
    if (name === "control-in" || name === "lost-ack" || name === "lost-control") {
      return `fill="#fff" stroke="${color}" stroke-width="1.6"`;
    }
    return name === "ack" || name === "duplicate-ack" || name === "control" || name === "timeout"
      ? `fill="${color}" stroke="none"`
      : `fill="none" stroke="${color}" stroke-width="1.6"`;
  };
  for (const name of Object.keys(groups) as SeriesName[]) {
    if (groups[name].length === 0) continue;
    out.push(`<g class="series-${name}" ${paintOf(name)}>`, ...groups[name], `</g>`);
  }

  // Legend: where the graph is seen from, then the series present, in rows of 3.
  const stripTop = bottom + strip.gap, stripBottom = stripTop + strip.height;
  if (hasWindow) out.push(...windowStrip(data.window, panels, xIn, stripTop, stripBottom, lang));
  const legendY = bottom + 64 + stripSpace;
  const colW = plotW / perRow;
  out.push(`<g class="legend" font-size="12">`);
  out.push(
    `<text class="vantage" x="${margin.left}" y="${legendY - 4}" fill="#333">${
      esc(vantageText(data.vantage, lang))
    }</text>`,
  );
  names.forEach((name, i) => {
    const lx = margin.left + (i % perRow) * colW;
    const ly = legendY + 18 + Math.floor(i / perRow) * 20;
    const color = SERIES_COLORS[name];
    let swatch: string;
    if (name === "ack") {
      swatch = `<path d="M${lx},${
        ly + 4
      } h8 v-8 h8" fill="none" stroke="${color}" stroke-width="1.6"/><circle cx="${lx + 8}" cy="${
        ly - 4
      }" r="2.2" fill="${color}"/>`;
    } else if (name === "duplicate-ack") {
      swatch = `<circle cx="${lx + 8}" cy="${ly}" r="3.2" fill="${color}"/>`;
    } else if (name === "lost-ack") {
      swatch = `<circle cx="${lx + 8}" cy="${ly}" r="3.6" ${paintOf(name)}/>`;
    } else if (name === "control" || name === "control-in" || name === "lost-control") {
      swatch = `<rect x="${lx + 4.5}" y="${ly - 3.5}" width="7" height="7" transform="rotate(45 ${
        lx + 8
      } ${ly})" ${paintOf(name)}/>`;
    } else if (name === "timeout") {
      swatch = `<path d="M${lx + 8},${ly - 5} l-5,9 h10 z" fill="${color}"/>`;
    } else {
      const dash = name === "lost" ? ` stroke-dasharray="2 2"` : "";
      swatch = `<path d="M${lx + 8},${ly + 6} V${ly - 6} M${lx + 5},${ly + 6} h6 M${lx + 5},${
        ly - 6
      } h6" fill="none" stroke="${color}" stroke-width="1.6"${dash}/>`;
    }
    out.push(swatch, `<text x="${lx + 22}" y="${ly + 4}">${esc(labels[name])}</text>`);
  });
  windowNames.forEach((name, j) => {
    const i = names.length + j;
    const lx = margin.left + (i % perRow) * colW;
    const ly = legendY + 18 + Math.floor(i / perRow) * 20;
    out.push(
      `<path d="M${lx},${ly} h16" ${WINDOW_PAINT[name]}/>`,
      `<text x="${lx + 22}" y="${ly + 4}">${esc(words.window[name])}</text>`,
    );
  });
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Draws trace events as a time-sequence SVG: {@linkcode plotData} then {@linkcode renderSvg}. */
export function traceToSvg(events: readonly TraceEvent[], options: PlotOptions = {}): string {
  return renderSvg(plotData(events), options);
}

const USAGE = `Usage: deno task plot [options] trace.jsonl [more.jsonl ...] [-o out.svg]

Draws a time-sequence ("Stevens") graph of one connection as an SVG file, from
trace files written with --trace-file (of the client, the server, or both: the
legend says which end the graph is seen from; through a relay, add the relay's
--trace-file to pair them). The x axis is broken into the
connection's phases (handshake, data, close), each on its own scale. With
congestion control (--cc tahoe|reno), the sender's cwnd and ssthresh are drawn
in a strip under it, on the same time axis.

Options:
  -o, --output FILE   where to write the SVG (default: stdout)
  --connection N      which connection of the trace to draw, 1 = the first to
                      start (default 1; stderr says how many there are)
  --title TEXT        the graph's title
  --lang L            the graph's words: es (Spanish, the default) or en (English)
  -q, --quiet         no summary on stderr
  -h, --help          show this help

Example:
  deno task plot client.jsonl server.jsonl -o transferencia.svg
`;

/** The command line: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = parseFileArgs(
    args,
    {
      output: { type: "string", short: "o" },
      connection: { type: "string" },
      title: { type: "string" },
      lang: { type: "string" },
      quiet: { type: "boolean", short: "q" },
      help: { type: "boolean", short: "h" },
    },
    USAGE,
    "plot",
  );
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  let lang: Lang;
  try {
    lang = parseLang(values.lang);
  } catch (error) {
    return reportUsageError("plot", USAGE, error as UsageError);
  }
  let wanted: number | undefined;
  if (values.connection !== undefined) {
    wanted = Number(values.connection);
    if (!/^\d+$/.test(values.connection) || wanted < 1) {
      return reportUsageError(
        "plot",
        USAGE,
        new UsageError(`--connection is "${values.connection}", expected a connection number >= 1`),
      );
    }
  }
  if (values.output === "") {
    return reportUsageError(
      "plot",
      USAGE,
      new UsageError("--output is empty, expected a file (leave -o out to write to stdout)"),
    );
  }
  let read: TraceFiles;
  try {
    read = await readTraceFiles(positionals);
  } catch (error) {
    console.error(`plot: ${(error as Error).message}`);
    return 1;
  }
  const { mapping, relays: relayFiles } = read;
  let events = read.endpoints.flatMap((file) => file.events);
  if (events.length === 0) {
    console.error(
      relayFiles.length > 0
        ? `plot: ${relayFiles[0]} is a relay's trace (relay.ts --trace-file), which plot does ` +
          `not draw: give the client's or the server's --trace-file (with the relay's, to pair ` +
          `them), or draw it with: deno task diagram ${relayFiles[0]}`
        : "plot: the trace files hold no events",
    );
    return 1;
  }
  events = throughRelay(events, mapping);
  const connections = splitConnections(events);
  const index = wanted ?? 1;
  const chosen = connections[index - 1];
  if (!chosen) {
    return reportUsageError(
      "plot",
      USAGE,
      new UsageError(
        `--connection is ${index}, but the trace holds ${connections.length} connection${
          connections.length === 1 ? "" : "s"
        }`,
      ),
    );
  }
  const data = plotData(chosen.events);
  const svg = renderSvg(data, {
    title: values.title,
    subtitle: `${positionals.join(" + ")}: ${
      WORDS[lang].connection(index, connections.length, chosen.client)
    }`,
    lang,
  });
  if (values.output !== undefined) {
    try {
      await Deno.writeTextFile(values.output, svg);
    } catch (error) {
      console.error(`plot: cannot write ${values.output}: ${(error as Error).message}`);
      return 1;
    }
  } else {
    await Deno.stdout.write(new TextEncoder().encode(svg));
  }
  if (!values.quiet) {
    const side = data.vantage.side === "unknown" ? "an unknown end" : `the ${data.vantage.side}`;
    // A client's and a server's trace through a relay name different ports.
    const relayHint = connections.length > 1 && positionals.length > 1 && mapping.length === 0 &&
        !data.vantage.bothEnds
      ? "; through a relay, add the relay's --trace-file to pair the client's and the server's"
      : "";
    const more =
      (connections.length > 1 && wanted === undefined ? "; --connection N draws another" : "") +
      relayHint;
    console.error(
      `plot: drew connection ${index} of ${connections.length} (client ${chosen.client}, ${chosen.events.length} events, seen from ${side}${
        data.vantage.bothEnds ? ", both ends traced" : ""
      })${values.output !== undefined ? ` to ${values.output}` : ""}${more}`,
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
