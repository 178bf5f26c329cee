/**
 * Time-sequence graphs ("Stevens" graphs, as tcptrace and Wireshark draw
 * them) from traces, as standalone SVG: time on the x axis, sequence number on
 * the y axis, each data segment a vertical bar as tall as its bytes, the ACKs
 * a step line, retransmissions, duplicates, losses and timeouts in their own
 * colours. A flat stretch of the ACK line is time lost waiting.
 *
 * Command line: `deno task plot trace.jsonl [more.jsonl] -o out.svg`.
 *
 * @example
 * ```ts
 * import { traceToSvg } from "./plot.ts";
 * const svg = traceToSvg([
 *   { time: 0, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:8000", flags: "SYN", seq: 50, len: 0 },
 *   { time: 1, kind: "send", local: "127.0.0.1:5000", peer: "127.0.0.1:9000", flags: "DATA", seq: 52, len: 16 },
 *   { time: 2, kind: "recv", local: "127.0.0.1:5000", peer: "127.0.0.1:9000", flags: "ACK", seq: 68, len: 0 },
 * ]);
 * console.log(svg.startsWith("<svg")); // true
 * ```
 *
 * @module
 */
import { parseFileArgs } from "./cli.ts";
import { buildModel, portOf } from "./diagram.ts";
import { readTraceFiles, type TraceEvent } from "./trace.ts";

/** Options of {@linkcode traceToSvg}. */
export interface PlotOptions {
  /** Title drawn at the top. Default "Gráfico tiempo-secuencia". */
  title?: string;
  /** Second line under the title. */
  subtitle?: string;
  /** Width in px. Default 960. */
  width?: number;
  /** Height in px. Default 560. */
  height?: number;
  /** Largest time on the x axis, in ms (to draw two graphs on the same scale). */
  maxTime?: number;
  /** Largest relative seq on the y axis (to draw two graphs on the same scale). */
  maxSeq?: number;
}

/** One point or bar of the graph, in trace units (ms since the first event, relative seq). */
export interface PlotMark {
  /** Series: see {@linkcode SERIES}. */
  series: SeriesName;
  /** Time in ms since the first event. */
  t: number;
  /** Relative sequence number (bytes since the SYN). */
  y: number;
  /** Bytes (data bars only). */
  len: number;
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
  | "timeout";

/** Colour and legend text of each series. */
export const SERIES: Record<SeriesName, { color: string; label: string }> = {
  data: { color: "#1f6fd1", label: "DATA enviado" },
  retransmission: { color: "#d62728", label: "DATA retransmitido" },
  lost: { color: "#7f7f7f", label: "DATA perdido (no llegó)" },
  ack: { color: "#2ca02c", label: "ACK recibido (línea escalonada)" },
  "duplicate-ack": { color: "#ff7f0e", label: "ACK duplicado" },
  "lost-ack": { color: "#8c564b", label: "ACK perdido (no llegó)" },
  control: { color: "#9467bd", label: "SYN / FIN" },
  timeout: { color: "#e377c2", label: "timeout" },
};

/** The series of a trace, seen from the end that sends the data. */
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
}

/**
 * Extracts the graph's series from trace events. The vantage point is the
 * socket that sends the most DATA (its sends and the ACKs it receives); with
 * only the receiver's trace, its DATA receptions and the ACKs it sends. When
 * both ends are in the trace, a DATA segment that never arrived is a `lost`
 * mark instead.
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
  const vantage = sender ?? count("recv");
  const isSender = sender !== undefined;
  const vantagePort = vantage === undefined ? NaN : portOf(vantage);
  const lost = new Set<TraceEvent>();
  for (const step of buildModel(sorted).steps) {
    if (step.fate === "lost" && step.send) lost.add(step.send);
  }
  // ACKs the receiver sent that never reached the vantage point (both ends traced).
  const lostAcks = [...lost].filter((e) =>
    e.flags === "ACK" && isSender && vantage !== undefined && portOf(e.peer) === portOf(vantage)
  );
  const marks: PlotMark[] = [];
  let top = 0;
  for (const e of sorted) {
    const t = e.time - start;
    const y = e.seq - origin;
    const mine = vantage === undefined || portOf(e.local) === vantagePort;
    if (!mine) continue;
    if (e.flags === "DATA" && e.kind === (isSender ? "send" : "recv")) {
      const series: SeriesName = lost.has(e)
        ? "lost"
        : e.retransmission || e.duplicate
        ? "retransmission"
        : "data";
      marks.push({ series, t, y, len: e.len });
      top = Math.max(top, y + e.len);
    } else if (e.flags === "ACK" && e.kind === (isSender ? "recv" : "send")) {
      marks.push({
        series: e.duplicate || e.retransmission ? "duplicate-ack" : "ack",
        t,
        y,
        len: 0,
      });
      top = Math.max(top, y);
    } else if (e.kind === "timeout") {
      marks.push({ series: "timeout", t, y, len: e.len });
    } else if (e.kind === "send" && e.flags !== "DATA" && e.flags !== "ACK") {
      marks.push({ series: "control", t, y, len: 0 });
      top = Math.max(top, y);
    }
  }
  for (const e of lostAcks) {
    marks.push({ series: "lost-ack", t: e.time - start, y: e.seq - origin, len: 0 });
  }
  marks.sort((a, b) => a.t - b.t);
  // The x axis ends at the last mark: the copies of the last ACK that host A
  // sends after the close would only stretch it.
  const duration = marks.length > 0 ? Math.max(...marks.map((m) => m.t)) : 0;
  return { marks, origin, start, duration, top };
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

/** Draws the series of {@linkcode plotData} as a standalone SVG document. */
export function renderSvg(data: PlotData, options: PlotOptions = {}): string {
  const width = options.width ?? 960, height = options.height ?? 560;
  const margin = { left: 78, right: 24, top: options.subtitle ? 64 : 46, bottom: 112 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const maxT = Math.max(options.maxTime ?? 0, data.duration, 1);
  const maxY = Math.max(options.maxSeq ?? 0, data.top, 1);
  const xStep = niceStep(maxT), yStep = niceStep(maxY, 6);
  const xMax = Math.ceil(maxT / xStep) * xStep, yMax = Math.ceil(maxY / yStep) * yStep;
  const x = (t: number) => margin.left + (t / xMax) * plotW;
  const y = (s: number) => margin.top + plotH - (s / yMax) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="600">${
      esc(options.title ?? "Gráfico tiempo-secuencia")
    }</text>`,
  );
  if (options.subtitle) {
    out.push(
      `<text x="${width / 2}" y="44" text-anchor="middle" font-size="12" fill="#444">${
        esc(options.subtitle)
      }</text>`,
    );
  }
  // Grid and ticks.
  out.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">`);
  for (let t = 0; t <= xMax + 1e-9; t += xStep) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${margin.top}" x2="${x(t).toFixed(1)}" y2="${
        margin.top + plotH
      }"/>`,
    );
  }
  for (let s = 0; s <= yMax + 1e-9; s += yStep) {
    out.push(
      `<line x1="${margin.left}" y1="${y(s).toFixed(1)}" x2="${margin.left + plotW}" y2="${
        y(s).toFixed(1)
      }"/>`,
    );
  }
  out.push(`</g>`);
  out.push(`<g class="axes" stroke="#222" stroke-width="1.2">`);
  out.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${
      margin.top + plotH
    }"/>`,
  );
  out.push(
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}"/>`,
  );
  for (let t = 0; t <= xMax + 1e-9; t += xStep) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${margin.top + plotH}" x2="${x(t).toFixed(1)}" y2="${
        margin.top + plotH + 5
      }"/>`,
    );
  }
  for (let s = 0; s <= yMax + 1e-9; s += yStep) {
    out.push(
      `<line x1="${margin.left - 5}" y1="${y(s).toFixed(1)}" x2="${margin.left}" y2="${
        y(s).toFixed(1)
      }"/>`,
    );
  }
  out.push(`</g>`);
  out.push(`<g class="tick-labels" fill="#222">`);
  for (let t = 0; t <= xMax + 1e-9; t += xStep) {
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${margin.top + plotH + 19}" text-anchor="middle">${
        fmt(t)
      }</text>`,
    );
  }
  for (let s = 0; s <= yMax + 1e-9; s += yStep) {
    out.push(
      `<text x="${margin.left - 8}" y="${(y(s) + 4).toFixed(1)}" text-anchor="end">${
        fmt(s)
      }</text>`,
    );
  }
  out.push(`</g>`);
  out.push(
    `<text class="x-label" x="${margin.left + plotW / 2}" y="${
      margin.top + plotH + 40
    }" text-anchor="middle" font-size="13">tiempo desde el primer segmento (ms)</text>`,
    `<text class="y-label" transform="translate(18 ${
      margin.top + plotH / 2
    }) rotate(-90)" text-anchor="middle" font-size="13">número de secuencia relativo al SYN (bytes)</text>`,
  );

  // ACK step line: flat while waiting, a jump when an ACK advances.
  const acks = data.marks.filter((m) => m.series === "ack" || m.series === "duplicate-ack");
  if (acks.length > 0) {
    let level = acks[0].y;
    let path = `M${x(acks[0].t).toFixed(2)},${y(level).toFixed(2)}`;
    for (const m of acks.slice(1)) {
      path += ` H${x(m.t).toFixed(2)}`;
      if (m.y > level) {
        level = m.y;
        path += ` V${y(level).toFixed(2)}`;
      }
    }
    path += ` H${x(data.duration).toFixed(2)}`;
    out.push(
      `<path class="series-ack" d="${path}" fill="none" stroke="${SERIES.ack.color}" stroke-width="1.4" stroke-opacity="0.8"/>`,
    );
  }
  // Marks.
  const groups: Record<SeriesName, string[]> = {
    data: [],
    retransmission: [],
    lost: [],
    ack: [],
    "duplicate-ack": [],
    "lost-ack": [],
    control: [],
    timeout: [],
  };
  for (const m of data.marks) {
    const cx = x(m.t).toFixed(2);
    switch (m.series) {
      case "data":
      case "retransmission":
      case "lost": {
        const y0 = y(m.y), y1 = y(m.y + Math.max(m.len, 0));
        const top = Math.min(y1, y0 - 2).toFixed(2);
        const dash = m.series === "lost" ? ` stroke-dasharray="2 2"` : "";
        groups[m.series].push(
          `<path d="M${cx},${y0.toFixed(2)} V${top} M${(x(m.t) - 3).toFixed(2)},${
            y0.toFixed(2)
          } h6 M${(x(m.t) - 3).toFixed(2)},${top} h6"${dash}/>`,
        );
        if (m.series === "lost") {
          groups.lost.push(
            `<path d="M${(x(m.t) - 4).toFixed(2)},${
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
        groups.control.push(
          `<rect x="${(x(m.t) - 3.5).toFixed(2)}" y="${
            (y(m.y) - 3.5).toFixed(2)
          }" width="7" height="7" transform="rotate(45 ${cx} ${y(m.y).toFixed(2)})"/>`,
        );
        break;
      case "timeout": {
        const ty = y(m.y);
        groups.timeout.push(
          `<path d="M${cx},${(ty + 4).toFixed(2)} l-5,9 h10 z"/>`,
        );
        break;
      }
    }
  }
  for (const name of Object.keys(groups) as SeriesName[]) {
    if (groups[name].length === 0) continue;
    const { color } = SERIES[name];
    const paint =
      name === "ack" || name === "duplicate-ack" || name === "control" || name === "timeout"
        ? `fill="${color}" stroke="none"`
        : `fill="none" stroke="${color}" stroke-width="1.6"`;
    out.push(`<g class="series-${name}" ${paint}>`, ...groups[name], `</g>`);
  }

  // Legend, under the x axis label, in two rows.
  const names = Object.keys(SERIES) as SeriesName[];
  const legendY = margin.top + plotH + 62;
  const perRow = 4;
  const colW = plotW / perRow;
  out.push(`<g class="legend" font-size="12">`);
  names.forEach((name, i) => {
    const lx = margin.left + (i % perRow) * colW;
    const ly = legendY + Math.floor(i / perRow) * 20;
    const { color, label } = SERIES[name];
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
      swatch = `<circle cx="${
        lx + 8
      }" cy="${ly}" r="3.6" fill="#fff" stroke="${color}" stroke-width="1.6"/>`;
    } else if (name === "control") {
      swatch = `<rect x="${lx + 4.5}" y="${ly - 3.5}" width="7" height="7" transform="rotate(45 ${
        lx + 8
      } ${ly})" fill="${color}"/>`;
    } else if (name === "timeout") {
      swatch = `<path d="M${lx + 8},${ly - 5} l-5,9 h10 z" fill="${color}"/>`;
    } else {
      const dash = name === "lost" ? ` stroke-dasharray="2 2"` : "";
      swatch = `<path d="M${lx + 8},${ly + 6} V${ly - 6} M${lx + 5},${ly + 6} h6 M${lx + 5},${
        ly - 6
      } h6" fill="none" stroke="${color}" stroke-width="1.6"${dash}/>`;
    }
    out.push(swatch, `<text x="${lx + 22}" y="${ly + 4}">${esc(label)}</text>`);
  });
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Draws trace events as a time-sequence SVG: {@linkcode plotData} then {@linkcode renderSvg}. */
export function traceToSvg(events: readonly TraceEvent[], options: PlotOptions = {}): string {
  return renderSvg(plotData(events), options);
}

const USAGE = `Usage: deno task plot [options] trace.jsonl [more.jsonl ...] -o out.svg

Draws a time-sequence ("Stevens") graph of a transfer as an SVG file, from
trace files written with --trace-file (client, server, or both).

Options:
  -o, --output FILE   where to write the SVG (default: stdout)
  --title TEXT        the graph's title
  -h, --help          show this help

Example:
  deno task plot client.jsonl server.jsonl -o transferencia.svg
`;

/** The command line: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = parseFileArgs(args, {
    output: { type: "string", short: "o" },
    title: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  let events: TraceEvent[];
  try {
    events = await readTraceFiles(positionals);
  } catch (error) {
    console.error(`plot: ${(error as Error).message}`);
    return 1;
  }
  const svg = traceToSvg(events, { title: values.title, subtitle: positionals.join(" + ") });
  if (values.output) {
    await Deno.writeTextFile(values.output, svg);
    console.error(`plot: wrote ${values.output}`);
  } else {
    await Deno.stdout.write(new TextEncoder().encode(svg));
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
