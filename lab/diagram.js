// The sequence diagram, drawn in SVG one event at a time: each event (a
// segment sent, a segment arrived, a timer run out) takes one row, so a
// transfer of microseconds and a timeout of 50 ms are both readable; the time
// of each row is written in the margin. The rows are split into chunks of
// CHUNK rows, each its own <svg>: only the last one changes while a run goes
// on, so the browser does not lay out thousands of arrows again every frame.
// Beyond MAX_DRAWN segments the oldest chunks are removed and summarised in
// one line.

const NS = "http://www.w3.org/2000/svg";
const ROW = 24;
const CHUNK = 200;
const OVERLAP = 10;
const MAX_DRAWN = 3000;

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
      // The diagram's pairing allows a few ms of clock skew between two processes' traces:
      // an arrival is never drawn before its own send.
      const t = rec.tSend === null ? rec.tRecv : Math.max(rec.tRecv, rec.tSend);
      events.push({ kind: rec.tSend === null ? "copy" : "arrive", t, rec, order: 1 });
    }
  }
  for (const timeout of timeouts) {
    events.push({ kind: "timeout", t: timeout.time, timeout, order: 2 });
  }
  events.sort((a, b) => a.t - b.t || a.order - b.order || (a.rec?.id ?? 0) - (b.rec?.id ?? 0));
  return events;
}

export class Diagram {
  constructor(root, box, text) {
    /** Sides whose sends are in the trace (`null`: both, as in a live run). */
    this.senders = null;
    this.root = root;
    this.box = box;
    this.text = text;
    this.reset();
  }

  reset() {
    this.root.replaceChildren();
    this.width = Math.max(320, Math.min(960, this.box.clientWidth || 640));
    this.xc = Math.round(this.width * 0.2) + 30;
    this.xs = this.width - Math.round(this.width * 0.12) - 10;
    // The header: lane names, the summary line, and the arrowheads every chunk uses.
    const head = el("svg", { class: "head", width: this.width, height: 40 });
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
    this.labelC = el("text", { class: "lane-label", x: this.xc, y: 16, "text-anchor": "middle" });
    this.labelS = el("text", { class: "lane-label", x: this.xs, y: 16, "text-anchor": "middle" });
    this.summary = el("text", {
      class: "summary",
      x: this.width / 2,
      y: 34,
      "text-anchor": "middle",
    });
    head.append(
      defs,
      el("line", { class: "lane", x1: this.xc, x2: this.xc, y1: 22, y2: 40 }),
      el("line", { class: "lane", x1: this.xs, x2: this.xs, y1: 22, y2: 40 }),
      this.labelC,
      this.labelS,
      this.summary,
    );
    this.root.append(head);
    this.chunks = []; // { index, svg, layer, lanes, ids }
    this.row = 0;
    this.rows = new Map(); // id -> { send, recv }: the rows of its events
    this.groups = new Map(); // id -> g
    this.recs = new Map(); // id -> rec
    this.drawn = 0;
    this.inFlight = new Set();
    this.timers = { c: null, s: null };
    this.summarised = { n: 0, lost: 0, retx: 0 };
    this.skipped = new Set(); // ids of the segments skip() summarised without drawing
    this.relabel();
  }

  relabel() {
    this.labelC.textContent = this.text("client");
    this.labelS.textContent = this.text("server");
    for (const rec of this.recs.values()) this.draw(rec);
    this.drawSummary();
  }

  y(row) {
    return row * ROW + ROW / 2;
  }

  /** The chunk that holds `row`, created when the run reaches it. */
  chunkOf(row) {
    const index = Math.floor(row / CHUNK);
    const found = this.chunks.find((c) => c.index === index);
    if (found) return found;
    // Each chunk reaches OVERLAP rows into the next one, so that an arrow crossing the boundary
    // is not clipped once its chunk is done and skipped by the browser (content-visibility).
    const box = document.createElement("div");
    box.className = "chunk";
    const svg = el("svg", { width: this.width, height: ROW });
    const top = index * CHUNK * ROW;
    const lanes = [this.xc, this.xs].map((x) => el("line", { class: "lane", x1: x, x2: x, y1: 0 }));
    const layer = el("g", { transform: `translate(0 ${-top})` });
    svg.append(...lanes, layer);
    box.append(svg);
    this.root.append(box);
    const chunk = { index, box, svg, layer, lanes, ids: [], height: 0 };
    this.chunks.push(chunk);
    return chunk;
  }

  /** Sets a chunk's height (its rows); a chunk no longer last is left to content-visibility. */
  size(chunk, height, done) {
    chunk.height = height;
    // The last chunk has nothing below it: no overlap, or the view would scroll past the end.
    const full = done ? height + OVERLAP * ROW : height;
    chunk.svg.setAttribute("height", String(full));
    chunk.box.style.height = `${full}px`;
    chunk.box.style.marginBottom = done ? `${-OVERLAP * ROW}px` : "0";
    for (const lane of chunk.lanes) lane.setAttribute("y2", String(height));
    chunk.done = done;
    if (done) {
      chunk.box.style.containIntrinsicSize = `auto ${full}px`;
      chunk.box.classList.add("done");
    }
  }

  /**
   * Where to start drawing the first `k` events of a timeline so that at most
   * MAX_DRAWN segments are drawn: the events before it are only summarised
   * ({@link skip}). 0 when they all fit.
   */
  cut(events, k) {
    let segments = 0;
    for (let i = k - 1; i >= 0; i--) {
      if (events[i].kind !== "send" && events[i].kind !== "copy") continue;
      if (++segments > MAX_DRAWN) return i + 1;
    }
    return 0;
  }

  /**
   * Counts the segments of `events` (the start of a long timeline) in the
   * summary line without drawing them, as trim() would have once they were
   * drawn: drawing 20,000 segments at once then costs what 3,000 do. Their
   * later events (an arrival) are skipped too.
   */
  skip(events) {
    for (const event of events) {
      if (event.kind !== "send" && event.kind !== "copy") continue;
      this.skipped.add(event.rec.id);
      this.summarised.n++;
      if (event.rec.fate === "lost") this.summarised.lost++;
      if (event.rec.retx) this.summarised.retx++;
    }
    this.drawSummary();
  }

  /** Feeds one timeline event. */
  add(event) {
    if (event.rec && this.skipped.has(event.rec.id)) return;
    const row = this.row++;
    const chunk = this.chunkOf(row);
    chunk.layer.append(el("text", { class: "flight", x: 4, y: this.y(row) + 4 }, ms(event.t)));
    if (event.kind === "timeout") {
      this.timeout(event.timeout, row);
      return;
    }
    const rec = event.rec;
    if (event.kind === "send") {
      this.rows.set(rec.id, { send: row });
      this.recs.set(rec.id, rec);
      this.drawn++;
      if (rec.fate === "flight" || rec.fate === "received") this.inFlight.add(rec.id);
      if (rec.rto !== undefined) this.startTimer(rec, row);
    } else {
      if (event.kind === "copy" || !this.rows.has(rec.id)) {
        this.rows.set(rec.id, { recv: row });
        this.recs.set(rec.id, rec);
        this.drawn++;
      } else {
        this.rows.get(rec.id).recv = row;
      }
      this.inFlight.delete(rec.id);
      this.stopTimer(rec.side === "c" ? "s" : "c", row, false);
    }
    this.draw(rec);
    if (this.drawn > MAX_DRAWN) this.trim();
  }

  /** Updates a record already drawn (it arrived, or was dropped). */
  update(rec) {
    if (rec.fate === "lost" || rec.fate === "unheard" || rec.fate === "unarrived") {
      this.inFlight.delete(rec.id);
    }
    if (this.groups.has(rec.id)) this.draw(rec);
  }

  /** Redraws what moves with the current row: arrows in flight, running timers, the last chunk. */
  tick() {
    for (const id of this.inFlight) this.draw(this.recs.get(id));
    for (const side of ["c", "s"]) {
      const timer = this.timers[side];
      if (timer) this.sizeTimer(timer, this.row);
    }
    const last = this.chunks.at(-1);
    if (!last) return;
    for (const chunk of this.chunks.slice(0, -1)) {
      if (!chunk.done) this.size(chunk, CHUNK * ROW, true);
    }
    const height = Math.min(CHUNK, this.row - last.index * CHUNK) * ROW + ROW / 2;
    if (height !== last.height) this.size(last, height, false);
  }

  startTimer(rec, row) {
    this.stopTimer(rec.side, row, false);
    const x = rec.side === "c" ? this.xc - 9 : this.xs + 3;
    const bar = el("rect", { class: "timerbar", x, y: this.y(row), width: 6, height: 1 });
    bar.append(el("title", {}, `RTO ${rec.rto} ms`));
    this.chunkOf(row).layer.prepend(bar);
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
    this.chunkOf(row).layer.append(mark);
  }

  draw(rec) {
    let g = this.groups.get(rec.id);
    if (!g) {
      g = el("g");
      g.setAttribute("data-segment", String(rec.id));
      this.groups.set(rec.id, g);
      const rows = this.rows.get(rec.id);
      const chunk = this.chunkOf(rows.send ?? rows.recv);
      chunk.layer.append(g);
      chunk.ids.push(rec.id);
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
    if (rec.fast) g.setAttribute("data-fast", "true");
    g.setAttribute("data-dup", String(rec.dup || rec.tSend === null));
    if (lost) g.setAttribute("data-lost", "true");
    else g.removeAttribute("data-lost");
    const rows = this.rows.get(rec.id);
    const y1 = rows.send !== undefined ? this.y(rows.send) : this.y(rows.recv) - ROW * 0.7;
    let x2 = toX, y2;
    if (rows.recv !== undefined) {
      y2 = this.y(rows.recv);
    } else if (
      lost || rec.fate === "unheard" || rec.fate === "unknown" || rec.fate === "unarrived"
    ) {
      const part = rec.dropped === "out"
        ? 0.4
        : rec.dropped === "in"
        ? 0.88
        : rec.fate === "unknown"
        ? 0.5
        : 0.62;
      x2 = fromX + (toX - fromX) * part;
      y2 = y1 + ROW * 0.45;
    } else {
      // In flight: towards the current row.
      x2 = fromX + (toX - fromX) * 0.5;
      y2 = Math.max(y1 + ROW * 0.4, this.y(this.row));
    }
    const head = rec.retx ? "head-retx" : rec.dup || rec.tSend === null ? "head-dup" : "head";
    const line = el("line", { class: "arrow", x1: fromX, y1, x2, y2 });
    if (rows.recv === undefined && !lost) line.classList.add("partial");
    if (rows.recv !== undefined) {
      line.setAttribute("marker-end", `url(#${head})`);
    }
    g.append(line);
    const marks = [];
    if (rec.retx) {
      marks.push(`↻ ${this.text("retx")}${rec.fast ? ` (${this.text("fastMark")})` : ""}`);
    }
    if (rec.dup) marks.push(`×2 ${this.text("duplicate")}`);
    if (rec.room === "none") marks.push(`⊘ ${this.text("noRoom")}`);
    if (rec.room === "again") marks.push(`✓ ${this.text("roomAgain")}`);
    if (rec.tSend === null) {
      // A reception with no send: a copy the network made, unless the sender is not in the trace.
      const traced = this.senders === null || this.senders.has(rec.side);
      marks.push(traced ? `×2 ${this.text("copy")}` : this.text("unsent"));
    }
    if (lost) marks.push(`✗ ${this.text("lostMark")}`);
    if (rec.fate === "unheard") marks.push(this.text("unheard"));
    if (rec.fate === "unarrived") marks.push(this.text("unarrived"));
    if (rec.fate === "unknown" && rows.recv === undefined) marks.push(this.text("untraced"));
    const len = rec.flags === "DATA" || rec.len > 0 ? ` len=${rec.len}` : "";
    const label = `${rec.flags} seq=${rec.seq}${len}${marks.length ? `  ${marks.join(" ")}` : ""}`;
    const midX = (this.xc + this.xs) / 2;
    // A reception with no send is labelled in its own row, like every other arrow.
    const labelY = rows.send !== undefined ? y1 + 1 : y2 - 3;
    const text = el("text", { class: "label", x: midX, y: labelY, "text-anchor": "middle" }, label);
    g.append(text);
    if (lost) {
      g.append(el("text", { class: "cross", x: x2, y: y2 + 5, "text-anchor": "middle" }, "✗"));
    }
    if (rows.send !== undefined && rows.recv !== undefined && rows.recv - rows.send > 1) {
      // An arrow across several rows (a window in flight): its flight time beside its label, not
      // in the middle, where the other arrows' labels are.
      text.append(el("tspan", { class: "flight" }, ` · ${ms(rec.tRecv - rec.tSend)}`));
    } else if (rows.send !== undefined && rows.recv !== undefined) {
      const flight = el("text", {
        class: "flight",
        x: midX,
        y: (y1 + y2) / 2 + 12,
        "text-anchor": "middle",
      }, ms(rec.tRecv - rec.tSend));
      g.append(flight);
    }
  }

  /** Removes the oldest chunks until at most MAX_DRAWN segments are drawn, counting them in the summary line. */
  trim() {
    while (this.drawn > MAX_DRAWN && this.chunks.length > 1) {
      const chunk = this.chunks.shift();
      chunk.box.remove();
      for (const id of chunk.ids) {
        const rec = this.recs.get(id);
        this.rows.delete(id);
        this.groups.delete(id);
        this.recs.delete(id);
        this.inFlight.delete(id);
        this.drawn--;
        this.summarised.n++;
        if (rec.fate === "lost") this.summarised.lost++;
        if (rec.retx) this.summarised.retx++;
      }
    }
    this.drawSummary();
  }

  drawSummary() {
    const { n, lost, retx } = this.summarised;
    this.summary.textContent = n > 0 ? this.text("summarised")(n, lost, retx) : "";
  }
}
