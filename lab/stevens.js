// The time-sequence ("Stevens") graph on a canvas, seen from the client (the
// end that sends the data), with the colours of plot.ts: each DATA segment a
// vertical bar as tall as its bytes, the ACKs a step line, losses marked ✗.

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** A step line through `points` ([x, y] in pixels, in x order): flat, then up or down. */
function stepLine(ctx, color, dash, points) {
  ctx.strokeStyle = color;
  ctx.setLineDash(dash);
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let last = null;
  for (const [px, py] of points) {
    if (last === null) ctx.moveTo(px, py);
    else {
      ctx.lineTo(px, last);
      ctx.lineTo(px, py);
    }
    last = py;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

/** The series of the graph and their colours, those of the report's graphs (plot.ts). */
export const SERIES_COLORS = {
  data: "#1f6fd1",
  retransmission: "#d62728",
  lost: "#7f7f7f",
  ack: "#2ca02c",
  "duplicate-ack": "#ff7f0e",
  "lost-ack": "#8c564b",
  control: "#9467bd",
  timeout: "#e377c2",
  cwnd: "#17becf",
};

export class Stevens {
  constructor(canvas, text) {
    this.canvas = canvas;
    this.text = text;
  }

  /**
   * Draws the records visible up to time `until` (ms), or all; `cwnd` is the
   * client's congestion window ({ t, cwnd, ssthresh }, in time order), drawn
   * over the graph on its own axis (right, in segments) when not empty.
   */
  draw(records, timeouts, until = Infinity, cwnd = []) {
    const canvas = this.canvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 960;
    const cssHeight = Math.round(Math.min(420, Math.max(220, cssWidth * 0.45)));
    if (canvas.width !== Math.round(cssWidth * ratio)) canvas.width = Math.round(cssWidth * ratio);
    if (canvas.height !== Math.round(cssHeight * ratio)) {
      canvas.height = Math.round(cssHeight * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    const visible = (t) => t !== null && t <= until;
    const syn = records.find((r) => r.side === "c" && r.flags === "SYN");
    const origin = syn ? syn.seq : Math.min(...records.map((r) => r.seq), 0);
    let maxT = 1, maxY = 1;
    for (const r of records) {
      const t = r.side === "c" ? r.tSend : r.tRecv;
      if (!visible(t)) continue;
      maxT = Math.max(maxT, t);
      maxY = Math.max(maxY, r.seq - origin + r.len);
    }
    const windows = cwnd.filter((p) => p.t <= until);
    const left = 56, right = windows.length ? 40 : 12, top = 10, bottom = 34;
    const w = cssWidth - left - right, h = cssHeight - top - bottom;
    const x = (t) => left + (t / maxT) * w;
    const y = (s) => top + h - (s / maxY) * h;

    // Axes and ticks.
    ctx.strokeStyle = "#9aa3ad";
    ctx.fillStyle = "#5b6470";
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, top);
    ctx.lineTo(left, top + h);
    ctx.lineTo(left + w, top + h);
    ctx.stroke();
    const tStep = niceStep(maxT, 8);
    ctx.textAlign = "center";
    for (let t = 0; t <= maxT + 1e-9; t += tStep) {
      ctx.fillText(String(+t.toFixed(3)), x(t), top + h + 14);
    }
    ctx.fillText(this.text("timeAxis"), left + w / 2, top + h + 28);
    const sStep = niceStep(maxY, 6);
    ctx.textAlign = "right";
    for (let s = 0; s <= maxY + 1e-9; s += sStep) ctx.fillText(String(s), left - 4, y(s) + 4);
    ctx.save();
    ctx.translate(12, top + h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.text("seqAxis"), 0, 0);
    ctx.restore();

    const color = (name) => SERIES_COLORS[name];
    const cross = (cx, cy, c) => {
      ctx.strokeStyle = c;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(cx - 4, cy - 4);
      ctx.lineTo(cx + 4, cy + 4);
      ctx.moveTo(cx + 4, cy - 4);
      ctx.lineTo(cx - 4, cy + 4);
      ctx.stroke();
    };

    // ACKs the client received: a step line; duplicates as dots; lost ACKs as ✗.
    const acks = records.filter((r) =>
      r.side === "s" && r.flags.includes("ACK") && r.flags !== "FIN+ACK"
    );
    stepLine(
      ctx,
      color("ack"),
      [],
      acks.filter((r) => r.tRecv !== null && visible(r.tRecv)).map((r) => [
        x(r.tRecv),
        y(r.seq - origin),
      ]),
    );
    for (const r of acks) {
      if (r.tRecv !== null && r.dup && visible(r.tRecv)) {
        ctx.fillStyle = color("duplicate-ack");
        ctx.beginPath();
        ctx.arc(x(r.tRecv), y(r.seq - origin), 3, 0, 2 * Math.PI);
        ctx.fill();
      } else if (r.fate === "lost" && visible(r.tSend)) {
        cross(x(r.tSend), y(r.seq - origin), color("lost-ack"));
      }
    }

    // What the client sent: one path per series, so thousands of bars stay cheap.
    const bars = { data: new Path2D(), retransmission: new Path2D(), lost: new Path2D() };
    const lostMarks = [];
    ctx.fillStyle = color("control");
    for (const r of records) {
      if (r.side !== "c" || !visible(r.tSend)) continue;
      const px = x(r.tSend);
      if (r.flags === "DATA") {
        const name = r.fate === "lost" ? "lost" : r.retx ? "retransmission" : "data";
        bars[name].moveTo(px, y(r.seq - origin));
        bars[name].lineTo(px, y(r.seq - origin + Math.max(r.len, 0.5)));
        if (r.fate === "lost") lostMarks.push([px, y(r.seq - origin + r.len / 2)]);
      } else if (r.flags === "SYN" || r.flags === "FIN") {
        ctx.fillRect(px - 2, y(r.seq - origin) - 2, 4, 4);
        if (r.fate === "lost") lostMarks.push([px, y(r.seq - origin)]);
      }
    }
    ctx.lineWidth = 2;
    for (const [name, path] of Object.entries(bars)) {
      ctx.strokeStyle = color(name);
      ctx.stroke(path);
    }
    for (const [px, py] of lostMarks) cross(px, py, color("lost"));
    this.#drawCwnd(ctx, windows, x, top, h, left + w);
    ctx.fillStyle = color("timeout");
    for (const to of timeouts) {
      if (to.side !== "c" || to.time > until) continue;
      const px = x(to.time);
      ctx.beginPath();
      ctx.moveTo(px, top + h);
      ctx.lineTo(px - 4, top + h - 8);
      ctx.lineTo(px + 4, top + h - 8);
      ctx.closePath();
      ctx.fill();
    }
  }

  /** cwnd (solid) and ssthresh (dashed) as step lines, in segments on the right axis. */
  #drawCwnd(ctx, points, x, top, h, right) {
    const canvas = this.canvas;
    if (points.length === 0) {
      delete canvas.dataset.cwnd;
      delete canvas.dataset.cwndPeak;
      return;
    }
    const peak = Math.max(1, ...points.map((p) => p.cwnd));
    const maxW = Math.max(peak, ...points.map((p) => Math.min(p.ssthresh ?? 0, peak * 2)));
    const y = (v) => top + h - (v / maxW) * h;
    canvas.dataset.cwnd = String(points.length);
    canvas.dataset.cwndPeak = String(Math.round(peak * 100) / 100);
    ctx.fillStyle = SERIES_COLORS.cwnd;
    ctx.textAlign = "left";
    for (const v of [0, maxW / 2, maxW]) ctx.fillText(String(Math.round(v)), right + 4, y(v) + 4);
    const line = (key, dash) =>
      stepLine(
        ctx,
        SERIES_COLORS.cwnd,
        dash,
        points.filter((p) => p[key] !== undefined && p[key] <= maxW).map((
          p,
        ) => [x(p.t), y(p[key])]),
      );
    line("cwnd", []);
    line("ssthresh", [4, 3]);
  }
}
