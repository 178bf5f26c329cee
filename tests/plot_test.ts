import assert from "node:assert/strict";
import { niceStep, plotData, traceToSvg } from "../plot.ts";
import type { TraceEvent } from "../trace.ts";
import { C, ev, L, S } from "./_traces.ts";

const trace: TraceEvent[] = [
  ev(1000, "send", C, L, "SYN", 10),
  ev(1001, "recv", C, S, "SYN+ACK", 11),
  ev(1002, "send", C, S, "DATA", 12, 16),
  ev(1003, "recv", S, C, "DATA", 12, 16),
  ev(1003, "send", S, C, "ACK", 28),
  ev(1004, "recv", C, S, "ACK", 28),
  ev(1005, "send", C, S, "DATA", 28, 16),
  ev(1055, "timeout", C, S, "DATA", 28, 16, { rto: 50 }),
  ev(1056, "send", C, S, "DATA", 28, 16, { retransmission: true }),
  ev(1057, "recv", S, C, "DATA", 28, 16),
  ev(1057, "send", S, C, "ACK", 44),
  ev(1058, "recv", C, S, "ACK", 44),
];

Deno.test("plotData takes the data sender's view, relative to the SYN and the first event", () => {
  const data = plotData(trace);
  assert.deepEqual(data.origin, 10);
  assert.deepEqual(data.start, 1000);
  const series = data.marks.map((m) => `${m.series}@${m.t}:${m.y}`);
  assert.deepEqual(series, [
    "control@0:0",
    "data@2:2",
    "ack@4:18",
    "lost@5:18",
    "timeout@55:18",
    "retransmission@56:18",
    "ack@58:34",
  ]);
  assert.deepEqual(data.top, 34);
});

Deno.test("the SVG has axes with units, a legend, a title and every series", () => {
  const svg = traceToSvg(trace, { title: "Prueba" });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes(">Prueba</text>"));
  assert.ok(svg.includes("tiempo desde el primer segmento (ms)"));
  assert.ok(svg.includes("número de secuencia relativo al SYN (bytes)"));
  assert.ok(svg.includes(`class="legend"`));
  for (const name of ["ack", "data", "retransmission", "lost", "timeout", "control"]) {
    assert.ok(svg.includes(`class="series-${name}"`), name);
  }
  assert.ok(svg.includes("DATA retransmitido"));
  // Tick labels on both axes.
  assert.ok(svg.includes(`class="tick-labels"`));
});

Deno.test("niceStep picks 1, 2 or 5 times a power of ten", () => {
  assert.deepEqual(niceStep(100, 10), 10);
  assert.deepEqual(niceStep(1331, 8), 200);
  assert.deepEqual(niceStep(7, 8), 1);
  assert.deepEqual(niceStep(0), 1);
});
