// The sequence diagram, drawn in SVG one event at a time: each event (a
// segment sent, a segment arrived, a timer run out) takes one row, so a
// transfer of microseconds and a timeout of 50 ms are both readable; the time
// of each row is written in the margin. Beyond MAX_DRAWN segments the oldest
// are removed and summarised in one line.

const NS = "http://www.w3.org/2000/svg";
const ROW = 24;
const HEAD = 34;
const MAX_DRAWN = 3000;
const TRIM = 500;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function ms(value) {
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 1) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

/** Timeline events of finished records, in the order they happened. */
export function timelineOf(records, timeouts) {
  const events = [];
  for (const rec of records) {
    if (rec.tSend !== null) events.push({ kind: "send", t: rec.tSend, rec, order: 0 });
    if (rec.tRecv !== null) {
      events.push({ kind: rec.tSend === null ? "copy" : "arrive", t: rec.tRecv, rec, order: 1 });
    }
  }
  for (const timeout of timeouts) {
    events.push({ kind: "timeout", t: timeout.time, timeout, order: 2 });
  }
  events.sort((a, b) => a.t - b.t || a.order - b.order || (a.rec?.id ?? 0) - (b.rec?.id ?? 0));
  return events;
}

export class Diagram {
  constructor(svg, box, text) {
    this.svg = svg;
    this.box = box;
    this.text = text;
    this.reset();
  }

  reset() {
    this.svg.replaceChildren();
    this.width = Math.max(320, Math.min(960, this.box.clientWidth || 640));
    this.xc = Math.round(this.width * 0.2) + 30;
    this.xs = this.width - Math.round(this.width * 0.12) - 10;
    const defs = el("defs");
    for (
      const [id, color] of [["head", "#1f6fd1"], ["head-retx", "#d62728"], ["head-dup", "#ff7f0e"]]
    ) {
      const marker = el("marker", {
        id,
        viewBox: "0 0 10 10",
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: "auto-start-reverse",
      });
      marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: color }));
      defs.append(marker);
    }
    this.svg.append(defs);
    this.laneC = el("line", { class: "lane", x1: this.xc, x2: this.xc, y1: HEAD - 6 });
    this.laneS = el("line", { class: "lane", x1: this.xs, x2: this.xs, y1: HEAD - 6 });
    this.labelC = el("text", { class: "lane-label", x: this.xc, "text-anchor": "middle" });
    this.labelS = el("text", { class: "lane-label", x: this.xs, "text-anchor": "middle" });
    this.summary = el("text", { class: "summary", x: this.width / 2, "text-anchor": "middle" });
    this.layer = el("g");
    this.svg.append(this.laneC, this.laneS, this.labelC, this.labelS, this.summary, this.layer);
    this.row = 0;
    this.firstRow = 0;
    this.rows = new Map(); // id -> { send, recv }: the rows of its events
    this.groups = new Map(); // id -> g
    this.recs = new Map(); // id -> rec
    this.drawn = []; // ids in order of drawing
    this.rowNodes = []; // [row, node] for margin texts and timer marks
    this.inFlight = new Set();
    this.timers = { c: null, s: null };
    this.summarised = { n: 0, lost: 0, retx: 0 };
    this.relabel();
    this.resize();
  }

  relabel() {
    this.labelC.textContent = this.text("client");
    this.labelS.textContent = this.text("server");
    for (const id of this.drawn) this.draw(this.recs.get(id));
    this.drawSummary();
  }

  y(row) {
    return HEAD + row * ROW + ROW / 2;
  }

  /** Feeds one timeline event. */
  add(event) {
    const row = this.row++;
    const time = el("text", { class: "flight", x: 4, y: this.y(row) + 4 }, ms(event.t));
    this.layer.append(time);
    this.rowNodes.push([row, time]);
    if (event.kind === "timeout") {
      this.timeout(event.timeout, row);
      return;
    }
    const rec = event.rec;
    if (event.kind === "send") {
      this.rows.set(rec.id, { send: row });
      this.recs.set(rec.id, rec);
      this.drawn.push(rec.id);
      if (rec.fate !== "lost" && rec.fate !== "unheard") this.inFlight.add(rec.id);
      if (rec.rto !== undefined) this.startTimer(rec, row);
    } else {
      if (event.kind === "copy") {
        this.rows.set(rec.id, { recv: row });
        this.recs.set(rec.id, rec);
        this.drawn.push(rec.id);
      } else {
        this.rows.get(rec.id).recv = row;
      }
      this.inFlight.delete(rec.id);
      this.stopTimer(rec.side === "c" ? "s" : "c", row, false);
    }
    this.draw(rec);
    if (this.drawn.length > MAX_DRAWN) this.trim();
  }

  /** Updates a record already drawn (it arrived, or was dropped). */
  update(rec) {
    if (rec.fate === "lost" || rec.fate === "unheard") this.inFlight.delete(rec.id);
    if (this.groups.has(rec.id)) this.draw(rec);
  }

  /** Redraws what moves with the current row: arrows in flight, running timers, lanes. */
  tick() {
    for (const id of this.inFlight) this.draw(this.recs.get(id));
    for (const side of ["c", "s"]) {
      const timer = this.timers[side];
      if (timer) this.sizeTimer(timer, this.row);
    }
    this.resize();
  }

  resize() {
    const top = this.firstRow * ROW;
    const height = HEAD + (this.row - this.firstRow) * ROW + ROW;
    this.svg.setAttribute("viewBox", `0 ${top} ${this.width} ${height}`);
    this.svg.setAttribute("height", String(height));
    this.svg.style.height = `${height}px`;
    this.svg.style.width = `${this.width}px`;
    for (const lane of [this.laneC, this.laneS]) {
      lane.setAttribute("y1", String(top + HEAD - 6));
      lane.setAttribute("y2", String(top + height));
    }
    for (const label of [this.labelC, this.labelS]) label.setAttribute("y", String(top + 16));
    this.summary.setAttribute("y", String(top + HEAD - 10));
  }

  startTimer(rec, row) {
    this.stopTimer(rec.side, row, false);
    const x = rec.side === "c" ? this.xc - 9 : this.xs + 3;
    const bar = el("rect", { class: "timerbar", x, y: this.y(row), width: 6, height: 1 });
    bar.append(el("title", {}, `RTO ${rec.rto} ms`));
    this.layer.prepend(bar);
    this.rowNodes.push([row, bar]);
    this.timers[rec.side] = { bar, row };
  }

  sizeTimer(timer, row) {
    timer.bar.setAttribute("height", String(Math.max(2, (row - timer.row) * ROW)));
  }

  stopTimer(side, row, expired) {
    const timer = this.timers[side];
    if (!timer) return;
    this.sizeTimer(timer, row);
    if (expired) timer.bar.classList.add("expired");
    this.timers[side] = null;
  }

  timeout(timeout, row) {
    this.stopTimer(timeout.side, row, true);
    const cx = timeout.side === "c" ? this.xc - 22 : this.xs + 16, cy = this.y(row);
    const mark = el("g", { class: "timeout" });
    mark.append(
      el("circle", { cx, cy, r: 6 }),
      el("path", { d: `M${cx},${cy - 4} L${cx},${cy} L${cx + 3},${cy + 2}` }),
      el("title", {}, `timeout ${timeout.rto ?? ""} ms: ${timeout.flags} seq=${timeout.seq}`),
    );
    this.layer.append(mark);
    this.rowNodes.push([row, mark]);
  }

  draw(rec) {
    let g = this.groups.get(rec.id);
    if (!g) {
      g = el("g");
      g.setAttribute("data-segment", String(rec.id));
      this.groups.set(rec.id, g);
      this.layer.append(g);
    } else {
      g.replaceChildren();
    }
    const fromX = rec.side === "c" ? this.xc : this.xs;
    const toX = rec.side === "c" ? this.xs : this.xc;
    const lost = rec.fate === "lost";
    g.setAttribute("data-flags", rec.flags);
    g.setAttribute("data-seq", String(rec.seq));
    g.setAttribute("data-fate", rec.fate);
    g.setAttribute("data-retx", String(rec.retx));
    g.setAttribute("data-dup", String(rec.dup || rec.tSend === null));
    if (lost) g.setAttribute("data-lost", "true");
    else g.removeAttribute("data-lost");
    const rows = this.rows.get(rec.id);
    const y1 = rows.send !== undefined ? this.y(rows.send) : this.y(rows.recv) - ROW * 0.7;
    let x2 = toX, y2;
    if (rows.recv !== undefined) {
      y2 = this.y(rows.recv);
    } else if (lost || rec.fate === "unheard") {
      const part = rec.dropped === "out" ? 0.4 : rec.dropped === "in" ? 0.88 : 0.62;
      x2 = fromX + (toX - fromX) * part;
      y2 = y1 + ROW * 0.8;
    } else {
      // In flight: towards the current row.
      x2 = fromX + (toX - fromX) * 0.5;
      y2 = Math.max(y1 + ROW * 0.4, this.y(this.row));
    }
    const head = rec.retx ? "head-retx" : rec.dup || rec.tSend === null ? "head-dup" : "head";
    const line = el("line", { class: "arrow", x1: fromX, y1, x2, y2 });
    if (rows.recv !== undefined) {
      line.setAttribute("marker-end", `url(#${head})`);
    }
    g.append(line);
    const marks = [];
    if (rec.retx) marks.push(`↻ ${this.text("retx")}`);
    if (rec.dup) marks.push(`×2 ${this.text("duplicate")}`);
    if (rec.tSend === null) marks.push(`×2 ${this.text("copy")}`);
    if (lost) marks.push(`✗ ${this.text("lostMark")}`);
    if (rec.fate === "unheard") marks.push(this.text("unheard"));
    const len = rec.flags === "DATA" || rec.len > 0 ? ` len=${rec.len}` : "";
    const label = `${rec.flags} seq=${rec.seq}${len}${marks.length ? `  ${marks.join(" ")}` : ""}`;
    const midX = (this.xc + this.xs) / 2;
    g.append(el("text", { class: "label", x: midX, y: y1 + 1, "text-anchor": "middle" }, label));
    if (lost) {
      g.append(el("text", { class: "cross", x: x2, y: y2 + 6, "text-anchor": "middle" }, "✗"));
    }
    if (rows.send !== undefined && rows.recv !== undefined) {
      const flight = el("text", {
        class: "flight",
        x: midX,
        y: (y1 + y2) / 2 + 12,
        "text-anchor": "middle",
      }, ms(rec.tRecv - rec.tSend));
      g.append(flight);
    }
  }

  /** Removes the oldest drawn segments, counting them in the summary line. */
  trim() {
    const gone = this.drawn.splice(0, TRIM);
    let lastRow = 0;
    for (const id of gone) {
      const rec = this.recs.get(id);
      const rows = this.rows.get(id);
      this.rows.delete(id);
      this.groups.get(id)?.remove();
      this.groups.delete(id);
      this.recs.delete(id);
      this.inFlight.delete(id);
      this.summarised.n++;
      if (rec.fate === "lost") this.summarised.lost++;
      if (rec.retx) this.summarised.retx++;
      lastRow = Math.max(lastRow, rows.recv ?? rows.send ?? 0);
    }
    this.firstRow = lastRow + 1;
    this.rowNodes = this.rowNodes.filter(([row, node]) => {
      if (row > lastRow) return true;
      node.remove();
      return false;
    });
    this.drawSummary();
  }

  drawSummary() {
    const { n, lost, retx } = this.summarised;
    this.summary.textContent = n > 0 ? this.text("summarised")(n, lost, retx) : "";
  }
}
