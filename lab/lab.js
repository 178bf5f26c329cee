// The lab's page: controls kept in the URL, one live transfer at a time
// (POST /api/run, read as Server-Sent Events), replay of trace files
// (POST /api/trace), and the drawing of both.
import { TEXTS } from "./i18n.js";
import { Diagram, timelineOf } from "./diagram.js";
import { SERIES_COLORS, Stevens } from "./stevens.js";

const $ = (id) => document.getElementById(id);
const url = new URL(location.href);
let lang = url.searchParams.get("lang") === "en" ? "en" : "es";
const text = (key) => TEXTS[lang][key] ?? TEXTS.es[key] ?? key;
/**
 * A message in both languages, `{ en, es }`, in the page's (English when the
 * Spanish is missing); a plain string as it is.
 */
const say = (message) =>
  typeof message === "string" ? message : lang === "en" ? message.en : message.es || message.en;
/** A text of i18n.js in both languages (called with `args` when it is a function). */
const both = (key, ...args) => {
  const of = (l) => typeof TEXTS[l][key] === "function" ? TEXTS[l][key](...args) : TEXTS[l][key];
  return { en: of("en"), es: of("es") };
};
/** A refusal of the server (`{ error, errorEs }`) in both languages. */
const refusal = (body) => ({ en: body?.error ?? "", es: body?.errorEs ?? body?.error ?? "" });

const config = await (await fetch("/api/config")).json();
const { limits } = config;
const DEFAULTS = {
  case: "normal",
  seed: "1",
  timeout: "fixed",
  rto: "50",
  mss: "16",
  msg: "sample",
  size: "1024",
  slow: "0",
  window: "1",
  arq: "gbn",
  cc: "none",
  read: "",
  readPause: "0",
};
const FAULT_KEYS = config.directions.flatMap((d) => config.faultFields.map((f) => `${d}-${f}`));

const diagram = new Diagram($("diagram"), $("diagram-box"), text);
const stevens = new Stevens($("stevens"), text);

const state = {
  mode: "idle", // idle | live | replay
  cwnd: [], // the client's { t, cwnd, ssthresh } after each event, with congestion control
  records: [],
  byId: new Map(),
  timeouts: [],
  raw: [], // trace events of the live run, for the download
  sendOf: new Map(),
  replayText: "",
  timeline: [],
  shown: 0,
  stats: null,
  clientRto: null,
  timer: null, // { start, rto } of the client's running timer
  controller: null,
  dirty: false,
  follow: true,
  playing: null,
  inbox: [], // messages of the live run not drawn yet: drawn a few ms per frame
  end: null, // the "end" message of the run, for its verdict line
};

/** Milliseconds of drawing per frame, so the page stays fluent while a fast run bursts in. */
const BUDGET_MS = 8;
/**
 * Milliseconds of drawing per frame once far behind (more messages waiting
 * than BEHIND) or once the transfer is over and only the drawing is left:
 * the page answers a little slower, the drawing catches up several times faster.
 */
const CATCH_UP_MS = 40;
const BEHIND = 2000;

// ------------------------------------------------------------------ controls

function buildControls() {
  const select = $("case");
  select.replaceChildren();
  const custom = new Option(text("custom"), "custom");
  select.append(custom);
  for (const source of ["report", "conformance"]) {
    const cases = config.cases.filter((c) => c.source === source);
    if (cases.length === 0) continue;
    const group = document.createElement("optgroup");
    group.label = text(source);
    for (const c of cases) group.append(new Option(lang === "en" ? c.titleEn : c.title, c.id));
    select.append(group);
  }
  const rows = $("fault-rows");
  const values = Object.fromEntries(FAULT_KEYS.map((k) => [k, $(k)?.value ?? ""]));
  rows.replaceChildren();
  for (const field of config.faultFields) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = text(field);
    tr.append(th);
    for (const direction of config.directions) {
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.type = "number";
      input.id = input.name = `${direction}-${field}`;
      input.min = "0";
      const probability = field === "loss" || field === "dup" || field === "reorder";
      input.max = probability ? "1" : String(limits.maxDelay);
      input.step = probability ? "0.01" : "1";
      input.placeholder = "0";
      keepValue(input, values[input.id] ?? "");
      input.setAttribute("aria-label", `${text(field)}, ${text(direction)}`);
      td.append(input);
      tr.append(td);
    }
    rows.append(tr);
  }
}

/** The graph's legend: the colours of the report's graphs, with a ✗ for losses. */
function buildLegend() {
  const list = $("stevens-legend");
  list.replaceChildren();
  for (const [name, color] of Object.entries(SERIES_COLORS)) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color;
    if (name === "lost" || name === "lost-ack") {
      swatch.textContent = "✗";
      swatch.classList.add("cross");
      swatch.style.background = "none";
      swatch.style.color = color;
    }
    item.append(swatch, text("series")[name]);
    list.append(item);
  }
}

/**
 * Sets a control's value as typed. A number input would turn a value that is
 * not a number into "" (and the run would go with the default): it becomes a
 * text input instead, so that the value is shown and refused by validate().
 */
function keepValue(node, value) {
  node.value = value;
  if (node.tagName === "INPUT" && node.value !== value) {
    node.type = "text";
    node.value = value;
  }
}

/** Sets a control from the URL; a select gets an option for a value it lacks (refused by validate()). */
function setControl(id, value) {
  const node = $(id);
  if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === value)) {
    node.append(new Option(value, value));
  }
  keepValue(node, value);
}

/** The verdict line of the run that ended, in the page's language. */
function renderVerdict() {
  const end = state.end;
  if (!end) return;
  const closed = end.closeError ? `; ${text("closeError")}: ${say(end.closeError)}` : "";
  // A transfer that did not finish says how far it got, not that the bytes were damaged.
  const bytes = end.verdict === "unfinished"
    ? text("bytesOf")(end.bytesReceived, state.bytes ?? 0)
    : `${end.bytesReceived} bytes`;
  $("verdict-text").textContent = `${text(end.verdict)} (${bytes}, ${
    round(end.duration)
  } ms)${closed}`;
}

function applyTexts() {
  document.documentElement.lang = lang;
  document.title = text("title");
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = text(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", text(node.dataset.i18nLabel));
  }
  $("lang").textContent = text("switchTo");
  $("lang").setAttribute("aria-label", text("switchTo"));
  $("step-back").setAttribute("aria-label", lang === "en" ? "Previous step" : "Paso anterior");
  $("step-forward").setAttribute("aria-label", lang === "en" ? "Next step" : "Paso siguiente");
  const current = $("case").value;
  buildControls();
  setControl("case", current || DEFAULTS.case);
  showCaseFault();
  diagram.relabel();
  buildLegend();
  renderStatus();
  renderVerdict();
  renderError();
  state.dirty = true;
}

function showCaseFault() {
  const id = $("case").value;
  const c = config.cases.find((x) => x.id === id);
  $("faults").hidden = id !== "custom";
  for (
    const input of document.querySelectorAll(
      'input[name="timeout"], #rto, #window, #arq, #cc, #read, #readPause',
    )
  ) {
    input.disabled = id !== "custom";
  }
  $("window-fixed").hidden = id === "custom";
  let description = "";
  if (c) {
    // Slow motion lengthens the timeouts by twice its delay (a round trip): say the ones in use.
    const slow = 2 * (Number($("slow").value) || 0);
    const { client, server } = config.caseTimeouts;
    description = `${lang === "en" ? c.faultEn : c.fault} ${
      text("caseTimeouts")(client + slow, server + slow, slow > 0)
    }`;
  }
  $("case-fault").textContent = description;
  $("slow-hint").hidden = $("slow").value === "0";
  showCcHint();
  // A checker's case sends its own payload in place of the sample text, 16 bytes a segment.
  for (const key of ["mss", "msg", "text", "size", "file"]) $(key).disabled = Boolean(c?.payload);
  const sample = $("msg").querySelector('option[value="sample"]');
  sample.dataset.i18n = c?.payload ? "msgCase" : "msgSample";
  sample.textContent = text(sample.dataset.i18n);
}

/** Congestion control with a window of 1 changes nothing: cwnd cannot grow past it. */
function showCcHint() {
  $("cc-hint").hidden = $("case").value !== "custom" || $("cc").value === "none" ||
    Number($("window").value) > 1;
}

function showMessageInputs() {
  const msg = $("msg").value;
  $("text").hidden = msg !== "text";
  $("size").hidden = msg !== "size";
  $("file").hidden = msg !== "file";
}

/** The run's parameters, as the server reads them (defaults left out). */
function readParams() {
  const query = new URLSearchParams();
  const id = $("case").value;
  query.set("case", id);
  if (id === "custom") {
    for (const key of FAULT_KEYS) {
      const value = $(key).value.trim();
      if (value !== "" && Number(value) !== 0) query.set(key, value);
    }
    query.set("seed", $("seed").value.trim());
    // A timeout the radios do not offer (from the URL) is kept, to be refused by validate().
    const timeout = document.querySelector('input[name="timeout"]:checked')?.value ??
      state.badTimeout ?? DEFAULTS.timeout;
    if (timeout !== DEFAULTS.timeout) query.set("timeout", timeout);
    if (timeout === "fixed" && $("rto").value.trim() !== DEFAULTS.rto) {
      query.set("rto", $("rto").value.trim());
    }
    for (const key of ["window", "arq", "cc", "read", "readPause"]) {
      const value = $(key).value.trim();
      if (value !== DEFAULTS[key]) query.set(key, value);
    }
  }
  // A checker's case sends its own file in segments of 16 bytes: mss and the message do not apply.
  const own = config.cases.find((c) => c.id === id)?.payload !== undefined;
  if (!own && $("mss").value.trim() !== DEFAULTS.mss) query.set("mss", $("mss").value.trim());
  const msg = own ? DEFAULTS.msg : $("msg").value;
  if (msg !== DEFAULTS.msg) query.set("msg", msg);
  if (msg === "text") query.set("text", $("text").value);
  if (msg === "size") query.set("size", $("size").value.trim());
  if ($("slow").value !== DEFAULTS.slow) query.set("slow", $("slow").value);
  return query;
}

/** Puts the URL's parameters into the controls (unknown values are kept, to be refused visibly). */
function writeControls(query) {
  const set = setControl;
  set("case", query.get("case") ?? (hasCustom(query) ? "custom" : DEFAULTS.case));
  for (const key of FAULT_KEYS) if (query.has(key)) set(key, query.get(key));
  if (query.has("seed")) set("seed", query.get("seed"));
  const timeout = query.get("timeout") ?? DEFAULTS.timeout;
  for (const radio of document.querySelectorAll('input[name="timeout"]')) {
    radio.checked = radio.value === timeout;
  }
  state.badTimeout = timeout !== "fixed" && timeout !== "adaptive" ? timeout : null;
  for (const key of ["rto", "mss", "size", "text"]) if (query.has(key)) set(key, query.get(key));
  if (query.has("msg")) set("msg", query.get("msg"));
  if (query.has("slow")) set("slow", query.get("slow"));
  for (const key of ["window", "arq", "cc", "read", "readPause"]) {
    if (query.has(key)) set(key, query.get(key));
  }
  state.unknown = [...query.keys()].find((k) =>
    !config.params.includes(k) && k !== "run" && k !== "lang"
  );
  showCaseFault();
  showMessageInputs();
}

function hasCustom(query) {
  return FAULT_KEYS.some((k) => query.has(k)) ||
    ["timeout", "rto", "window", "arq", "cc", "read", "readPause"].some((k) => query.has(k));
}

/**
 * The first wrong parameter, in the server's words (lab_params.ts), `{ en, es }`;
 * or null.
 */
function validate(query) {
  const oneOf = (name, value, values) => ({
    en: `${name} is "${value}": expected one of ${values.join(", ")}`,
    es: `${name} es "${value}": se espera uno de ${values.join(", ")}`,
  });
  if (state.unknown) {
    return {
      en: `unknown parameter "${state.unknown}"`,
      es: `parámetro desconocido "${state.unknown}"`,
    };
  }
  if (state.badTimeout) return oneOf("timeout", state.badTimeout, ["fixed", "adaptive"]);
  const integer = (name, min, max) => {
    const value = query.get(name);
    if (value === null || value === "") return null;
    return /^\d+$/.test(value) && Number(value) >= min && Number(value) <= max ? null : {
      en: `${name} is "${value}": expected an integer in ${min}..${max}`,
      es: `${name} es "${value}": se espera un entero entre ${min} y ${max}`,
    };
  };
  const id = query.get("case");
  if (id !== "custom" && !config.cases.some((c) => c.id === id)) {
    const ids = config.cases.map((c) => c.id).join(", ");
    return {
      en: `case is "${id}": expected custom or one of ${ids}`,
      es: `case es "${id}": se espera custom o uno de ${ids}`,
    };
  }
  for (const key of FAULT_KEYS) {
    const value = query.get(key);
    if (value === null) continue;
    if (/-(loss|dup|reorder)$/.test(key)) {
      if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) || Number(value) > 1) {
        return {
          en: `${key} is "${value}": expected a probability in 0..1`,
          es: `${key} es "${value}": se espera una probabilidad entre 0 y 1`,
        };
      }
    } else {
      const problem = integer(key, 0, limits.maxDelay);
      if (problem) return problem;
    }
  }
  for (const [key, values] of [["arq", ["gbn", "sr"]], ["cc", ["none", "tahoe", "reno"]]]) {
    const value = query.get(key);
    if (value !== null && value !== "" && !values.includes(value)) {
      return oneOf(key, value, values);
    }
  }
  const msg = query.get("msg") ?? "sample";
  if (!["sample", "text", "size", "file"].includes(msg)) {
    return oneOf("msg", msg, ["sample", "text", "size", "file"]);
  }
  const problem = integer("seed", 0, 2 ** 32 - 1) ??
    integer("rto", limits.minTimeout, limits.maxTimeout) ??
    integer("mss", 1, limits.maxMss) ?? integer("size", 1, limits.maxBytes) ??
    integer("slow", 0, limits.maxSlow) ?? integer("window", 1, limits.maxWindow) ??
    integer("read", 1, limits.maxBytes) ?? integer("readPause", 0, limits.maxReadPause);
  if (problem) return problem;
  if (Number(query.get("readPause") ?? 0) > 0 && (query.get("read") ?? "") === "") {
    return {
      en: "readPause needs read: the bytes each recv asks for",
      es: "readPause necesita read: los bytes que pide cada recv",
    };
  }
  if (msg === "text" && (query.get("text") ?? "") === "") {
    return {
      en: "text is empty: write the message to send",
      es: "text está vacío: escriba el mensaje a enviar",
    };
  }
  if (msg === "size") {
    const segments = Math.ceil(
      Number(query.get("size") ?? DEFAULTS.size) / Number(query.get("mss") ?? 16),
    );
    if (segments > limits.maxSegments) {
      const [size, mss, most] = [query.get("size"), query.get("mss") ?? 16, limits.maxSegments];
      return {
        en: `${size} bytes with mss ${mss} make ${segments} segments: at most ${most} (raise mss)`,
        es:
          `${size} bytes con mss ${mss} son ${segments} segmentos: como máximo ${most} (suba mss)`,
      };
    }
  }
  return null;
}

function updateUrl() {
  const query = readParams();
  if (lang !== "es") query.set("lang", lang);
  const address = `${location.pathname}?${query}`;
  history.replaceState(null, "", address);
  $("share").href = `${address}&run`;
}

// ------------------------------------------------------------------ status

/** Sets the status; `detail` is a string or a message in both languages (`{ en, es }`). */
function setStatus(value, detail = "") {
  state.status = { value, detail };
  renderStatus();
}

function renderStatus() {
  const status = $("status");
  const { value, detail, verdict } = state.status ?? { value: "idle", detail: "" };
  status.dataset.state = value;
  if (verdict && (value === "done" || value === "failed")) status.dataset.verdict = verdict;
  else delete status.dataset.verdict;
  const head = value === "running" && state.draining
    ? text("drawing")(state.records.length, state.drawTotal ?? state.records.length)
    : value === "running"
    ? text("running")
    : value === "done"
    ? (state.mode === "replay" ? text("replaying") : text("done"))
    : value === "failed"
    ? text("failed")
    : text("idle");
  const verdictText = verdict ? ` — ${text(verdict)}` : "";
  const said = detail ? say(detail) : "";
  status.textContent = `${head}${verdictText}${said ? `: ${said}` : ""}`;
}

/** Shows an error: a string, or a message in both languages (`{ en, es }`), kept for a switch. */
function showError(message) {
  state.error = message;
  renderError();
}

function renderError() {
  $("error").textContent = state.error ? say(state.error) : "";
  $("error").hidden = !state.error;
}

function clearError() {
  state.error = null;
  renderError();
}

// ------------------------------------------------------------------ drawing

function resetView(mode) {
  stopPlaying();
  state.mode = mode;
  diagram.senders = null;
  state.records = [];
  state.byId = new Map();
  state.timeouts = [];
  state.raw = [];
  state.sendOf = new Map(); // record id -> its send event, to mark what the network dropped
  state.inbox = [];
  state.ended = false;
  state.draining = false;
  state.bytes = null;
  state.stats = null;
  state.cwnd = [];
  state.timer = null;
  state.timeline = [];
  state.shown = 0;
  state.follow = true;
  state.status = { value: "idle", detail: "" };
  diagram.reset();
  $("verdict").hidden = true;
  state.end = null;
  $("timeline").hidden = mode !== "replay";
  $("download").disabled = true;
  state.dirty = true;
}

function counters() {
  const scrubbed = state.mode === "replay" ||
    (state.timeline.length > 0 && state.shown < state.timeline.length);
  const visible = scrubbed ? state.timeline.slice(0, state.shown) : null;
  let segments = 0, retx = 0, lost = 0, timeouts = 0, rto = null;
  if (visible) {
    for (const e of visible) {
      if (e.kind === "timeout") timeouts++;
      if (e.kind !== "send") continue;
      segments++;
      if (e.rec.retx) retx++;
      if (e.rec.fate === "lost") lost++;
      if (e.rec.side === "c" && e.rec.rto !== undefined) rto = e.rec.rto;
    }
  } else if (state.stats) {
    ({ segments, retransmissions: retx, timeouts, lost, rto } = state.stats);
  }
  $("c-segments").textContent = String(segments);
  $("c-retx").textContent = String(retx);
  $("c-timeouts").textContent = String(timeouts);
  $("c-lost").textContent = String(lost);
  $("c-rto").textContent = rto === null || rto === undefined ? "—" : `${round(rto)} ms`;
  const srtt = state.mode === "live" ? state.stats?.srtt : null;
  $("c-srtt").textContent = srtt === null || srtt === undefined ? "—" : `${round(srtt)} ms`;
  const stats = state.stats;
  const windowed = stats !== null && (stats.peakCwnd > 1 || stats.fastRetransmits > 0);
  $("c-cwnd-box").hidden = !windowed;
  $("c-fast-box").hidden = !windowed;
  if (windowed) {
    $("c-cwnd").textContent = `${round(stats.cwnd)} / ${round(stats.peakCwnd)}`;
    $("c-fast").textContent = String(stats.fastRetransmits);
  }
}

function round(value) {
  return Math.round(value * 100) / 100;
}

function frame() {
  requestAnimationFrame(frame);
  const bar = document.querySelector("#timer .bar");
  if (state.timer) {
    const left = 1 - (performance.now() - state.timer.start) / state.timer.rto;
    bar.style.width = `${Math.max(0, left) * 100}%`;
  } else if (bar.style.width !== "0%") {
    bar.style.width = "0%";
  }
  if (state.inbox.length > 0) {
    const start = performance.now();
    const budget = state.draining || state.inbox.length > BEHIND ? CATCH_UP_MS : BUDGET_MS;
    let i = 0;
    while (i < state.inbox.length && performance.now() - start < budget) {
      onMessage(state.inbox[i++]);
    }
    state.inbox.splice(0, i);
    if (state.draining) renderStatus();
  }
  if (state.stevensLate && performance.now() - state.stevensAt >= 100) state.dirty = true;
  if (!state.dirty) return;
  state.stevensLate = false;
  state.dirty = false;
  diagram.tick();
  const until = state.timeline.length > 0 && state.shown < state.timeline.length
    ? (state.shown > 0 ? state.timeline[state.shown - 1].t : -1)
    : Infinity;
  // While a run streams in, the graph is redrawn 10 times a second; the diagram every frame.
  const now = performance.now();
  // (and while a backlog is drawn: every message of it would redraw the whole graph otherwise).
  const streaming = state.inbox.length > 0 || (state.controller !== null && !state.ended);
  if (!streaming || now - (state.stevensAt ?? 0) >= 100) {
    state.stevensAt = now;
    stevens.draw(state.records, state.timeouts, until, state.cwnd);
  } else {
    state.stevensLate = true;
  }
  counters();
  if (state.follow && state.mode === "live") {
    const box = $("diagram-box");
    box.scrollTop = box.scrollHeight;
  }
  if (state.timeline.length > 0) {
    $("cursor-label").textContent = text("step")(state.shown, state.timeline.length);
  }
}

/** Draws finished records from scratch, up to `upTo` timeline events. */
function showRecords(records, timeouts, upTo) {
  diagram.senders = state.mode === "replay"
    ? new Set(records.filter((r) => r.tSend !== null).map((r) => r.side))
    : null;
  state.records = records;
  state.byId = new Map(records.map((r) => [r.id, r]));
  state.timeouts = timeouts;
  state.timeline = timelineOf(records, timeouts);
  state.shown = 0;
  diagram.reset();
  $("cursor").max = String(state.timeline.length);
  showUpTo(upTo ?? state.timeline.length);
}

/**
 * Brings the live drawing to the final records (the diagram's own pairing,
 * as a replay draws them): updates what changed, and redraws from scratch
 * only when a segment is missing or extra.
 */
function reconcile(records, timeouts) {
  const same = records.length === state.records.length &&
    records.every((r) =>
      state.byId.has(r.id) && (state.byId.get(r.id).tRecv === null) === (r.tRecv === null)
    );
  if (!same || state.quiet) return showRecords(records, timeouts);
  for (const final of records) {
    const rec = state.byId.get(final.id);
    const changed = rec.fate !== final.fate || rec.dup !== final.dup ||
      rec.dropped !== final.dropped || rec.room !== final.room;
    Object.assign(rec, final);
    if (changed) diagram.update(rec);
  }
  state.records = records.map((r) => state.byId.get(r.id));
  state.timeouts = timeouts;
  state.timeline = timelineOf(state.records, timeouts);
  state.shown = state.timeline.length;
  $("cursor").max = String(state.timeline.length);
  $("cursor").value = String(state.timeline.length);
  state.dirty = true;
}

function showUpTo(k) {
  k = Math.max(0, Math.min(state.timeline.length, k));
  if (k < state.shown) {
    diagram.reset();
    state.shown = 0;
  }
  if (state.shown === 0) {
    // Only the last segments stay drawn: the older ones are summarised without drawing them.
    const cut = diagram.cut(state.timeline, k);
    if (cut > 0) {
      diagram.skip(state.timeline.slice(0, cut));
      state.shown = cut;
    }
  }
  for (; state.shown < k; state.shown++) diagram.add(state.timeline[state.shown]);
  $("cursor").value = String(k);
  state.dirty = true;
}

// ------------------------------------------------------------------ live runs

function onMessage(m) {
  switch (m.t) {
    case "start":
      state.clientRto = m.clientRto;
      state.bytes = m.bytes;
      $("sha-sent").textContent = m.sha256Sent;
      break;
    case "seg": {
      const rec = m.rec;
      state.records.push(rec);
      state.byId.set(rec.id, rec);
      state.raw.push(m.e);
      if (rec.tSend !== null) state.sendOf.set(rec.id, m.e);
      if (!state.quiet) {
        diagram.add({ kind: rec.tSend === null ? "copy" : "send", t: rec.tSend ?? rec.tRecv, rec });
      }
      if (rec.side === "c" && rec.rto !== undefined) {
        state.timer = { start: performance.now(), rto: rec.rto };
      }
      if (rec.side === "c" && m.e.cwnd !== undefined && rec.tSend !== null) {
        state.cwnd.push({ t: rec.tSend, cwnd: m.e.cwnd, ssthresh: m.e.ssthresh });
      }
      break;
    }
    case "arrive": {
      const rec = state.byId.get(m.id);
      rec.tRecv = m.time;
      rec.fate = "received";
      rec.dup = m.dup;
      if (m.room) rec.room = m.room;
      state.raw.push(m.e);
      if (!state.quiet) diagram.add({ kind: "arrive", t: m.time, rec });
      if (rec.side === "s") state.timer = null;
      if (rec.side === "s" && m.e.cwnd !== undefined) {
        state.cwnd.push({ t: m.time, cwnd: m.e.cwnd, ssthresh: m.e.ssthresh });
      }
      break;
    }
    case "lost": {
      const rec = state.byId.get(m.id);
      rec.fate = "lost";
      rec.dropped = m.at;
      if (!state.quiet) diagram.update(rec);
      break;
    }
    case "timeout":
      state.timeouts.push(m.timeout);
      state.raw.push(m.e);
      if (!state.quiet) diagram.add({ kind: "timeout", t: m.timeout.time, timeout: m.timeout });
      if (m.timeout.side === "c") state.timer = null;
      break;
    case "stats":
      state.stats = m.stats;
      break;
    case "end": {
      state.stats = m.stats;
      state.timer = null;
      reconcile(m.records, m.timeouts);
      $("timeline").hidden = false;
      $("sha-sent").textContent = m.sha256Sent;
      $("sha-received").textContent = m.sha256Received;
      $("verdict").hidden = false;
      const verdict = m.verdict;
      // The library's reasons come in both languages ({ error, errorEs }): shown in the page's.
      const both = (en, es) => en ? { en, es: es ?? en } : null;
      state.end = { ...m, closeError: both(m.serverCloseError, m.serverCloseErrorEs) };
      renderVerdict();
      state.status = {
        value: m.error ? "failed" : "done",
        detail: both(m.error, m.errorEs) ?? "",
        verdict,
      };
      state.draining = false;
      renderStatus();
      $("download").disabled = state.raw.length === 0;
      if (!state.controller) $("stop").disabled = true;
      break;
    }
  }
  state.dirty = true;
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of chunk.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const messages = JSON.parse(line.slice(6));
        state.inbox.push(...messages);
        if (messages.some((m) => m.t === "end")) state.ended = true;
      }
    }
  }
}

async function run() {
  stopRun();
  clearError();
  const query = readParams();
  const problem = validate(query);
  if (problem) {
    resetView("idle");
    showError(problem);
    setStatus("failed", problem);
    return;
  }
  let body = null;
  if (query.get("msg") === "file") {
    const file = $("file").files[0];
    const problem = !file
      ? both("pickFile")
      : file.size > limits.maxBytes
      ? both("fileTooBig", file.size, limits.maxBytes)
      : null;
    if (problem) {
      resetView("idle");
      showError(problem);
      setStatus("failed", problem);
      return;
    }
    body = await file.arrayBuffer();
  }
  resetView("live");
  setStatus("running");
  const controller = new AbortController();
  state.controller = controller;
  $("run").disabled = false;
  $("stop").disabled = false;
  try {
    const response = await fetch(`/api/run?${query}`, {
      method: "POST",
      body,
      signal: controller.signal,
      headers: { "content-type": "application/octet-stream" },
    });
    if (!response.ok) {
      // The server's refusal, in both languages ({ error, errorEs }): shown in the page's.
      const problem = refusal(await response.json().catch(() => ({ error: response.statusText })));
      showError(problem);
      setStatus("failed", problem);
      return;
    }
    await readEvents(response.body);
    if (state.controller !== controller) return; // stopped, or another run started
    if (!state.ended) {
      // The stream ended without the transfer's end: the lab went away mid-run.
      showError(both("serverGone"));
      finishDrawing();
      setStatus("failed", both("serverGone"));
    } else if (state.inbox.length > 0) {
      // The transfer is over; only the drawing is left: say so, and let Stop skip it.
      state.draining = true;
      state.drawTotal = state.records.length +
        state.inbox.reduce((n, m) => n + (m.t === "seg" ? 1 : 0), 0);
      renderStatus();
    }
  } catch {
    if (controller.signal.aborted) return; // stopRun() has said so
    if (state.controller !== controller) return;
    // fetch() and the stream fail with the browser's words ("Failed to fetch"): the page's own.
    const message = state.raw.length > 0 || state.records.length > 0
      ? both("serverGone")
      : both("networkError");
    showError(message);
    finishDrawing();
    setStatus("failed", message);
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      $("stop").disabled = !state.draining;
    }
  }
}

/**
 * Draws at once what the live run left to draw (every message waiting), and
 * makes the run's drawing a finished one: the timeline to scrub it, the
 * trace to download.
 */
function finishDrawing() {
  state.draining = false;
  state.timer = null;
  if (state.mode !== "live") return;
  const inbox = state.inbox;
  state.inbox = [];
  state.quiet = true;
  try {
    for (const m of inbox) onMessage(m);
    if (!inbox.some((m) => m.t === "end")) showRecords(state.records, state.timeouts);
  } finally {
    state.quiet = false;
  }
  $("timeline").hidden = state.timeline.length === 0;
  $("download").disabled = state.raw.length === 0;
  $("stop").disabled = true;
  state.dirty = true;
}

/** Stop (or Escape): ends the running transfer, or skips the drawing of one already over. */
function stopRun() {
  const controller = state.controller;
  state.controller = null;
  controller?.abort();
  $("stop").disabled = true;
  const wasRunning = controller !== null && state.mode === "live" && !state.ended;
  if (controller || state.draining) finishDrawing();
  if (wasRunning) setStatus("failed", both("stopped"));
}

// ------------------------------------------------------------------ replay

async function openTraces(files) {
  stopRun();
  clearError();
  const payload = {
    files: await Promise.all([...files].map(async (f) => ({ name: f.name, text: await f.text() }))),
  };
  const response = await fetch("/api/trace", {
    method: "POST",
    body: JSON.stringify(payload),
    headers: { "content-type": "application/json" },
  });
  const data = await response.json();
  if (!response.ok) {
    resetView("idle");
    const problem = refusal(data);
    const { en, es } = both("replayError");
    showError({ en: `${en}: ${problem.en}`, es: `${es}: ${problem.es}` });
    setStatus("failed", problem);
    return;
  }
  resetView("replay");
  state.replayText = payload.files.map((f) => f.text.trimEnd()).join("\n") + "\n";
  state.cwnd = data.cwnd ?? [];
  showRecords(data.records, data.timeouts);
  $("download").disabled = false;
  setStatus("done", payload.files.map((f) => f.name).join(", "));
}

function step(delta) {
  if (state.timeline.length === 0 || state.controller) return;
  stopPlaying();
  showUpTo(state.shown + delta);
}

function stopPlaying() {
  if (state.playing) clearInterval(state.playing);
  state.playing = null;
  $("play").textContent = text("play");
}

function togglePlay() {
  if (state.playing) return stopPlaying();
  if (state.shown >= state.timeline.length) showUpTo(0);
  $("play").textContent = text("pause");
  state.playing = setInterval(() => {
    if (state.shown >= state.timeline.length) return stopPlaying();
    showUpTo(state.shown + 1);
  }, 250);
}

// ------------------------------------------------------------------ download

/**
 * The trace of what is drawn, as JSON lines: a replay's files as they were, or
 * the live run's events, each send saying whether the network dropped it
 * (`"dropped": "out"` or `false`), so that its replay draws the same losses.
 */
function traceText() {
  if (state.mode === "replay") return state.replayText;
  for (const rec of state.records) {
    const send = state.sendOf.get(rec.id);
    if (send) send.dropped = rec.dropped ?? false;
  }
  return [...state.raw].sort((a, b) => a.time - b.time).map((e) => JSON.stringify(e)).join("\n") +
    "\n";
}

function download() {
  const blob = new Blob([traceText()], { type: "application/x-ndjson" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "traza.jsonl";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ------------------------------------------------------------------ wiring

buildControls();
writeControls(url.searchParams);
applyTexts();
updateUrl();
$("controls").addEventListener("input", (event) => {
  // The case's hint names the timeouts of the speed, the window's hint depends on cc.
  if (["case", "slow", "window", "cc"].includes(event.target.id)) showCaseFault();
  if (event.target.id === "msg") showMessageInputs();
  if (event.target.id !== "trace-file" && event.target.id !== "file") {
    state.unknown = null;
    state.badTimeout = null;
    updateUrl();
  }
});
$("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
$("stop").addEventListener("click", () => stopRun());
$("lang").addEventListener("click", () => {
  lang = lang === "es" ? "en" : "es";
  applyTexts();
  updateUrl();
});
$("trace-file").addEventListener("change", (event) => {
  if (event.target.files.length > 0) openTraces(event.target.files);
});
$("download").addEventListener("click", download);
$("cursor").addEventListener("input", (event) => {
  stopPlaying();
  showUpTo(Number(event.target.value));
});
$("step-back").addEventListener("click", () => step(-1));
$("step-forward").addEventListener("click", () => step(1));
$("play").addEventListener("click", togglePlay);
$("diagram-box").addEventListener("keydown", (event) => {
  if (event.key === "ArrowRight") step(1);
  else if (event.key === "ArrowLeft") step(-1);
  else return;
  event.preventDefault();
});
$("diagram-box").addEventListener("scroll", () => {
  const box = $("diagram-box");
  state.follow = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && (state.controller || state.draining)) stopRun();
});
let resizeTimer;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (state.mode === "live" && state.controller) return;
    const upTo = state.shown;
    if (state.timeline.length > 0) showRecords(state.records, state.timeouts, upTo);
    state.dirty = true;
  }, 150);
});
requestAnimationFrame(frame);

// For tests and tools: the trace of what is drawn, and the records.
globalThis.lab = { trace: traceText, records: () => state.records, stats: () => state.stats };

// The page is wired: tools and tests wait for this before they type or upload.
document.documentElement.dataset.ready = "true";
if (url.searchParams.has("run")) {
  // A link cannot carry a file: with msg=file it waits for one instead of failing at once.
  if ($("msg").value === "file" && !$("msg").disabled) setStatus("idle", both("pickFileFirst"));
  else run();
}
