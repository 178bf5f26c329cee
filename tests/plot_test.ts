import assert from "node:assert/strict";
import {
  flatCaption,
  flatStretches,
  niceStep,
  phasesOf,
  plotData,
  seriesLabels,
  splitConnections,
  traceToSvg,
  vantageText,
} from "../plot.ts";
import type { TraceEvent } from "../trace.ts";
import { C, ev, L, S } from "./_traces.ts";
import { assertUsageFailures, runScript } from "./_run.ts";

const trace: TraceEvent[] = [
  ev(1000, "send", C, L, "SYN", 10),
  ev(1000.5, "send", S, C, "SYN+ACK", 11),
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

/** A whole connection of one client, with a fixed close: FIN, FIN+ACK, the last ACK 3 times 100 ms apart. */
function connection(client: string, server: string, at: number, seq: number): TraceEvent[] {
  return [
    ev(at, "send", client, L, "SYN", seq),
    ev(at + 0.1, "recv", server, client, "SYN", seq),
    ev(at + 0.1, "send", server, client, "SYN+ACK", seq + 1),
    ev(at + 0.2, "recv", client, server, "SYN+ACK", seq + 1),
    ev(at + 0.2, "send", client, server, "ACK", seq + 2),
    ev(at + 0.2, "send", client, server, "DATA", seq + 2, 16),
    ev(at + 0.3, "recv", server, client, "ACK", seq + 2),
    ev(at + 0.3, "recv", server, client, "DATA", seq + 2, 16),
    ev(at + 0.3, "send", server, client, "ACK", seq + 18),
    ev(at + 0.4, "recv", client, server, "ACK", seq + 18),
    ev(at + 0.4, "send", client, server, "FIN", seq + 18),
    ev(at + 0.5, "recv", server, client, "FIN", seq + 18),
    ev(at + 0.5, "send", server, client, "FIN+ACK", seq + 19),
    ev(at + 0.6, "recv", client, server, "FIN+ACK", seq + 19),
    ev(at + 0.6, "send", client, server, "ACK", seq + 20),
    ev(at + 0.7, "recv", server, client, "ACK", seq + 20),
    ev(at + 100.6, "send", client, server, "ACK", seq + 20, 0, { retransmission: true }),
    ev(at + 200.6, "send", client, server, "ACK", seq + 20, 0, { retransmission: true }),
  ];
}

const C2 = "127.0.0.1:6000", S2 = "127.0.0.1:9001";
/** A server's view of two clients (and the clients' own events), interleaved in time. */
const twoConnections = [
  ...connection(C, S, 1000, 10),
  ...connection(C2, S2, 1050, 70),
].sort((a, b) => a.time - b.time);

Deno.test("plotData takes the data sender's view, relative to the SYN and the first event", () => {
  const data = plotData(trace);
  assert.deepEqual(data.origin, 10);
  assert.deepEqual(data.start, 1000);
  const series = data.marks.map((m) => `${m.series}@${m.t}:${m.y}`);
  assert.deepEqual(series, [
    "control@0:0",
    "control-in@1:1",
    "data@2:2",
    "ack@4:18",
    "lost@5:18",
    "timeout@55:18",
    "retransmission@56:18",
    "ack@58:34",
  ]);
  assert.deepEqual(data.top, 34);
  assert.deepEqual(data.vantage, { role: "sender", side: "client", bothEnds: true });
});

Deno.test("the legend says which end the trace was taken on", () => {
  const clientOnly = twoConnections.filter((e) => e.local === C);
  const serverOnly = twoConnections.filter((e) => e.local === S);
  assert.deepEqual(plotData(clientOnly).vantage, {
    role: "sender",
    side: "client",
    bothEnds: false,
  });
  assert.deepEqual(plotData(serverOnly).vantage, {
    role: "receiver",
    side: "server",
    bothEnds: false,
  });
  const client = traceToSvg(clientOnly);
  assert.ok(client.includes(">DATA enviado por el cliente</text>"));
  assert.ok(client.includes(">ACK recibido por el cliente (línea escalonada)</text>"));
  assert.ok(client.includes("Visto desde el lado del cliente (envía los datos); traza de ese"));
  assert.ok(!client.includes("recibido por el servidor"));
  const server = traceToSvg(serverOnly);
  assert.ok(server.includes(">DATA recibido por el servidor</text>"));
  assert.ok(server.includes(">ACK enviado por el servidor (línea escalonada)</text>"));
  assert.ok(server.includes("Visto desde el lado del servidor (recibe los datos)"));
  assert.ok(!server.includes("enviado por el cliente"));
  // The server's trace alone cannot know losses: no series claims them.
  assert.ok(!server.includes("perdido"));
  assert.deepEqual(
    seriesLabels({ role: "sender", side: "server", bothEnds: true }).timeout,
    "timeout del servidor",
  );
});

Deno.test("the SVG has axes with units, a legend, a title and every series present", () => {
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
  assert.ok(svg.includes(">DATA retransmitido</text>"));
  // No legend entry for a series the graph does not draw.
  assert.ok(!svg.includes("ACK duplicado"));
  assert.ok(svg.includes(`class="tick-labels"`));
});

Deno.test("splitConnections: one connection per client, numbered by first event", () => {
  const connections = splitConnections(twoConnections);
  assert.deepEqual(connections.map((c) => [c.index, c.client, c.events.length]), [
    [1, C, 18],
    [2, C2, 18],
  ]);
  // A connection's events are all its own: to or from its client.
  for (const c of connections) {
    assert.ok(c.events.every((e) => e.local === c.client || e.peer === c.client));
  }
  assert.deepEqual(splitConnections(trace).length, 1);
});

Deno.test("phases: each panel is one phase, and its title states that phase's duration", () => {
  const data = plotData(connection(C, S, 1000, 10));
  const phases = phasesOf(data.marks);
  const ms = (t: number) => Math.round(t * 1000) / 1000;
  assert.deepEqual(phases.map((p) => [p.name, ms(p.from), ms(p.to)]), [
    ["handshake", 0, 0.2],
    ["data", 0.2, 0.4],
    ["close", 0.4, 200.6],
  ]);
  const close = phases[2];
  const flats = flatStretches(close, 10);
  assert.deepEqual(flats.map((f) => [f.kind, Math.round(f.to - f.from)]), [
    ["close-wait", 100],
    ["close-wait", 100],
  ]);
  assert.deepEqual(flatCaption(flats), "2 esperas fijas del cierre (200 ms)");
  const svg = traceToSvg(connection(C, S, 1000, 10));
  const titles = [...svg.matchAll(/class="phase-title"[^>]*>([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(titles, ["Handshake: 0.2 ms", "Datos: 0.2 ms", "Cierre: 200 ms"]);
  assert.ok(svg.includes(`class="axis-break"`));
  assert.deepEqual([...svg.matchAll(/class="flat-close-wait"/g)].length, 2);
  assert.ok(svg.includes(">2 esperas fijas del cierre (200 ms)</text>"));
  // No title claims a total the axes do not show.
  assert.ok(!svg.includes("en total"));
});

Deno.test("a flat stretch ending in a timeout is a wait for it; one with no cause is idle", () => {
  const data = plotData(trace);
  const [, dataPhase] = phasesOf(data.marks);
  assert.deepEqual(flatStretches(dataPhase, 10), [{ kind: "timeout", from: 5, to: 55 }]);
  assert.deepEqual(
    flatStretches({
      name: "data",
      label: "datos",
      from: 0,
      to: 30,
      marks: [{ series: "data", t: 0, y: 0, len: 16 }, { series: "data", t: 30, y: 16, len: 16 }],
    }, 10),
    [{ kind: "idle", from: 0, to: 30 }],
  );
  // Waiting for what the other end sends: for the receiver, the next DATA; for the sender, its ACK.
  const slow = {
    name: "data" as const,
    label: "datos",
    from: 0,
    to: 40,
    marks: [
      { series: "ack" as const, t: 0, y: 16, len: 0 },
      { series: "data" as const, t: 20, y: 16, len: 16 },
      { series: "ack" as const, t: 40, y: 32, len: 0 },
    ],
  };
  assert.deepEqual(flatStretches(slow, 10, "receiver").map((f) => f.kind), ["answer", "idle"]);
  assert.deepEqual(flatStretches(slow, 10, "sender").map((f) => f.kind), ["idle", "answer"]);
  assert.deepEqual(
    flatCaption(flatStretches(slow, 10, "sender")),
    "1 espera de respuesta (20 ms); 1 tramo sin actividad (20 ms)",
  );
});

Deno.test("niceStep picks 1, 2 or 5 times a power of ten", () => {
  assert.deepEqual(niceStep(100, 10), 10);
  assert.deepEqual(niceStep(1331, 8), 200);
  assert.deepEqual(niceStep(7, 8), 1);
  assert.deepEqual(niceStep(0), 1);
});

// ------------------------------------------------------------ the real script

async function withTrace<T>(events: TraceEvent[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "plot_test_" });
  try {
    await Deno.writeTextFile(`${dir}/trace.jsonl`, events.map((e) => JSON.stringify(e)).join("\n"));
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("plot --connection N draws that connection and says which, of how many", async () => {
  await withTrace(twoConnections, async (dir) => {
    const second = await runScript("plot.ts", [
      `${dir}/trace.jsonl`,
      "--connection",
      "2",
      "-o",
      `${dir}/2.svg`,
    ]);
    assert.deepEqual(second.code, 0, second.stderr.join("\n"));
    assert.deepEqual(second.stderr, [
      `plot: drew connection 2 of 2 (client ${C2}, 18 events, seen from the client, both ends traced) to ${dir}/2.svg`,
    ]);
    const svg = await Deno.readTextFile(`${dir}/2.svg`);
    assert.ok(svg.includes(`conexión 2 de 2 (cliente ${C2})`));
    // Connection 2's SYN carries seq 70, and the graph is relative to it: its data bar starts at 2.
    assert.ok(svg.includes(">DATA enviado por el cliente</text>"));

    const first = await runScript("plot.ts", [`${dir}/trace.jsonl`]);
    assert.deepEqual(first.code, 0);
    assert.ok(first.stdout.startsWith("<svg"));
    assert.ok(first.stdout.includes(`conexión 1 de 2 (cliente ${C})`));
    assert.deepEqual(first.stderr, [
      `plot: drew connection 1 of 2 (client ${C}, 18 events, seen from the client, both ends traced); --connection N draws another`,
    ]);

    const server = await runScript("plot.ts", [`${dir}/trace.jsonl`, "-q", "--connection", "2"]);
    assert.deepEqual([server.code, server.stderr], [0, []]);
  });
  // A server's trace: the listener's events too, and the clients as 0.0.0.0 in their own traces.
  const serverSide = [ev(1049.9, "recv", L, C2, "SYN", 70), ...twoConnections].filter((e) =>
    e.local === S2 || e.local === L
  );
  const clientSide = twoConnections.filter((e) => e.local === C2).map((e) => ({
    ...e,
    local: "0.0.0.0:6000",
  }));
  assert.deepEqual(plotData(serverSide).vantage.bothEnds, false);
  const merged = splitConnections([...clientSide, ...serverSide]);
  assert.deepEqual(merged.map((c) => [c.client, c.events.length]), [[C2, 19]]);
  assert.deepEqual(plotData(merged[0].events).vantage, {
    role: "sender",
    side: "client",
    bothEnds: true,
  });
  await withTrace(twoConnections.filter((e) => e.local === S2), async (dir) => {
    const result = await runScript("plot.ts", [`${dir}/trace.jsonl`, "-o", `${dir}/s.svg`]);
    assert.deepEqual(result.stderr, [
      `plot: drew connection 1 of 1 (client ${C2}, 8 events, seen from the server) to ${dir}/s.svg`,
    ]);
    assert.ok(
      (await Deno.readTextFile(`${dir}/s.svg`)).includes(">DATA recibido por el servidor<"),
    );
  });
});

Deno.test("plot: bad usage is one line saying what is wrong and one pointing to --help, exit 2", async () => {
  await withTrace(twoConnections, async (dir) => {
    const file = `${dir}/trace.jsonl`;
    const cases: [string[], string][] = [
      [[file, "--connection", "3"], "plot: --connection is 3, but the trace holds 2 connections"],
      [[file, "--connection", "0"], 'plot: --connection is "0", expected a connection number >= 1'],
      [[file, "--connection=x"], 'plot: --connection is "x", expected a connection number >= 1'],
      [[file, "--bogus"], "plot: unknown option --bogus"],
      [[file, "--connection"], "plot: --connection needs a value"],
      [[file, "--lang", "fr"], 'plot: --lang is "fr", expected es or en'],
      [[], "plot: expected a trace file to read"],
    ];
    await assertUsageFailures("plot.ts", "plot", cases);
    const unwritable = await runScript("plot.ts", [file, "-o", `${dir}/no/such/dir.svg`]);
    assert.deepEqual(unwritable.code, 1);
    assert.deepEqual(unwritable.stderr.length, 1);
    assert.ok(unwritable.stderr[0].startsWith(`plot: cannot write ${dir}/no/such/dir.svg: `));
    const missing = await runScript("plot.ts", [`${dir}/nope.jsonl`]);
    assert.deepEqual(missing.code, 1);
    assert.deepEqual(missing.stderr.length, 1);
    assert.ok(missing.stderr[0].startsWith(`plot: ${dir}/nope.jsonl: `), missing.stderr[0]);
  });
  const help = await runScript("plot.ts", ["--help"]);
  assert.deepEqual(help.code, 0);
  assert.ok(help.stdout.includes("--connection N"));
  assert.ok(help.stdout.includes("Example:"));
});

Deno.test("a lost SYN is drawn lost when both ends are traced, and the wait after it is a timeout wait", () => {
  const events = [
    ev(1000, "send", C, L, "SYN", 10),
    ev(1100, "timeout", C, L, "SYN", 10, 0, { rto: 100 }),
    ev(1100, "send", C, L, "SYN", 10, 0, { retransmission: true }),
    ev(1100.1, "send", S, C, "SYN+ACK", 11),
    ev(1100.2, "recv", C, S, "SYN+ACK", 11),
    ev(1100.2, "send", C, S, "DATA", 12, 16),
    ev(1100.3, "recv", S, C, "DATA", 12, 16),
  ];
  const data = plotData(events);
  assert.deepEqual(data.marks.slice(0, 3).map((m) => `${m.series}@${m.t}`), [
    "lost-control@0",
    "timeout@100",
    "control@100",
  ]);
  const [handshake] = phasesOf(data.marks);
  assert.deepEqual(flatStretches(handshake, 10), [{ kind: "timeout", from: 0, to: 100 }]);
  assert.ok(traceToSvg(events).includes(">SYN / FIN / ACK de control perdido (no llegó)</text>"));
});

/** The trace above with the sender's congestion state on its data events (and a receiver's, to ignore). */
const withWindow: TraceEvent[] = trace.map((e) => {
  const state: Record<string, [number, number]> = {
    "1002 send": [1, 8],
    "1004 recv": [2, 8],
    "1005 send": [2, 8],
    "1056 send": [1, 2],
    "1058 recv": [2, 2],
  };
  const mine = e.local === C ? state[`${e.time} ${e.kind}`] : undefined;
  if (mine) return { ...e, cwnd: mine[0], ssthresh: mine[1] };
  // The receiver's events never carry the sender's window: a stray one must not be drawn.
  if (e.local === S && e.kind === "send") return { ...e, cwnd: 32, ssthresh: 32 };
  return e;
});

/** The numbers of an SVG path's `d`, by command: `[["M", x, y], ["H", x], ["V", y], …]`. */
function pathCommands(svg: string, cls: string): [string, ...number[]][] {
  const d = svg.match(new RegExp(`class="${cls}" d="([^"]*)"`))?.[1];
  assert.ok(d !== undefined, `no path of class ${cls}`);
  return [...d.matchAll(/([MHV])([-\d.]+)(?:,([-\d.]+))?/g)].map((m) =>
    [m[1], ...[m[2], m[3]].filter((n) => n !== undefined).map(Number)] as [string, ...number[]]
  );
}

Deno.test("with congestion control, cwnd and ssthresh are drawn under the graph on its time axis", () => {
  const data = plotData(withWindow);
  assert.deepEqual(data.window, [
    { t: 2, cwnd: 1, ssthresh: 8 },
    { t: 4, cwnd: 2, ssthresh: 8 },
    { t: 5, cwnd: 2, ssthresh: 8 },
    { t: 56, cwnd: 1, ssthresh: 2 },
    { t: 58, cwnd: 2, ssthresh: 2 },
  ]);
  const svg = traceToSvg(withWindow);
  // cwnd: a step line, 1 -> 2 -> (2) -> 1 -> 2, one vertical step per change.
  const cwnd = pathCommands(svg, "series-cwnd");
  assert.deepEqual(cwnd.map((c) => c[0]), ["M", "H", "V", "H", "H", "V", "H", "V"]);
  const ys = cwnd.filter((c) => c[0] !== "H").map((c) => Number(c.at(-1)));
  const [one, two] = [ys[0], ys[1]];
  assert.ok(two < one, "a larger cwnd is drawn higher");
  assert.deepEqual(ys, [one, two, one, two]);
  // ssthresh: 8 until the timeout, then 2.
  const ssthresh = pathCommands(svg, "series-ssthresh");
  assert.deepEqual(ssthresh.map((c) => c[0]), ["M", "H", "H", "H", "V", "H"]);
  const eight = Number(ssthresh[0][2]), low = Number(ssthresh[4][1]);
  assert.ok(eight < two && low === two, "ssthresh 8 above cwnd 2; ssthresh 2 level with cwnd 2");
  // The same time axis: cwnd falls to 1 exactly where the retransmission's bar stands.
  const retransmission = svg.match(/<g class="series-retransmission"[^>]*>\n<path d="M([\d.]+),/);
  assert.ok(retransmission, "the retransmission is drawn");
  assert.deepEqual(cwnd[4], ["H", Number(retransmission[1])]);
  // Also when a long close follows, whose panel's margin reaches back over the data's times.
  const closed = traceToSvg([
    ...withWindow,
    ev(1060, "send", C, S, "FIN", 44, 0, { cwnd: 2, ssthresh: 2 }),
    ev(2060, "send", C, S, "ACK", 45),
  ]);
  const bar = closed.match(/<g class="series-retransmission"[^>]*>\n<path d="M([\d.]+),/)!;
  const steps = pathCommands(closed, "series-cwnd");
  assert.deepEqual(steps[4], ["H", Number(bar[1])]);
  assert.deepEqual(steps.map((c) => c[0]).slice(-2), ["V", "M"], "the close starts its own line");
  // Under the graph: every point of the strip is below the x axis of the time-sequence graph.
  const axis = Number(svg.match(/<g class="axes"[^>]*>\n<line x1="[\d.]+" y1="([\d.]+)"/)![1]);
  assert.ok(Math.min(...ys, eight) > axis + 40, "the strip is under the graph");
  assert.ok(svg.includes("cwnd del emisor (ventana de congestión, en segmentos; abajo)"));
  assert.ok(svg.includes("ssthresh del emisor (umbral de slow start; abajo)"));
  assert.ok(svg.includes(">cwnd (segmentos)</text>"));
});

Deno.test("without congestion control there is no cwnd strip, and the graph keeps its height", () => {
  assert.deepEqual(plotData(trace).window, []);
  const svg = traceToSvg(trace);
  assert.ok(!svg.includes("series-cwnd") && !svg.includes("cwnd del emisor"));
  const height = (s: string) => Number(s.match(/height="(\d+)"/)![1]);
  assert.ok(height(traceToSvg(withWindow)) > height(svg) + 150);
  // Seen from the receiver alone (its trace only), no sender's window to draw.
  assert.deepEqual(plotData(withWindow.filter((e) => e.local === S)).window, []);
});

Deno.test("plot through a relay: the relay's trace pairs the client's and the server's; alone it points to diagram", async () => {
  // The relay listens on 7000 for the server's 8000, mirrors the new port 9000 as 7001, and
  // reaches the server from 6000 for the client 5000 (tests/_traces.ts's C, L, S).
  const R = "127.0.0.1:7000", M = "127.0.0.1:7001", U = "127.0.0.1:6000";
  const mapping = [
    { time: 0, kind: "relay-map", event: "listen", listen: R, target: L },
    { time: 1, kind: "relay-map", event: "connection", client: C, upstream: U },
    { time: 2, kind: "relay-map", event: "mirror", client: C, server: S, mirror: M },
  ];
  const wire = (time: number, flags: string, seq: number) => ({
    time,
    kind: "relay",
    id: time,
    direction: "toServer",
    client: C,
    server: L,
    flags,
    seq,
    len: 0,
    fate: "forwarded",
  });
  const client = [
    ev(1000, "send", C, R, "SYN", 10),
    ev(1002, "recv", C, M, "SYN+ACK", 11),
    ev(1002, "send", C, M, "ACK", 12),
    ev(1003, "send", C, M, "DATA", 12, 16),
    ev(1005, "recv", C, M, "ACK", 28),
  ];
  const server = [
    ev(1001, "recv", L, U, "SYN", 10),
    ev(1001, "send", S, U, "SYN+ACK", 11),
    ev(1003, "recv", S, U, "ACK", 12),
    ev(1004, "recv", S, U, "DATA", 12, 16),
    ev(1004, "send", S, U, "ACK", 28),
  ];
  const dir = await Deno.makeTempDir({ prefix: "plot_test_" });
  const lines = (records: object[]) => records.map((r) => JSON.stringify(r)).join("\n");
  try {
    await Deno.writeTextFile(`${dir}/c.jsonl`, lines(client));
    await Deno.writeTextFile(`${dir}/s.jsonl`, lines(server));
    await Deno.writeTextFile(`${dir}/r.jsonl`, lines([...mapping, wire(1000.5, "SYN", 10)]));
    const alone = await runScript("plot.ts", [`${dir}/r.jsonl`, "-o", `${dir}/r.svg`]);
    assert.deepEqual([alone.code, alone.stderr], [1, [
      `plot: ${dir}/r.jsonl is a relay's trace (relay.ts --trace-file), which plot does not ` +
      "draw: give the client's or the server's --trace-file (with the relay's, to pair them), " +
      `or draw it with: deno task diagram ${dir}/r.jsonl`,
    ]]);
    const unpaired = await runScript("plot.ts", [`${dir}/c.jsonl`, `${dir}/s.jsonl`]);
    assert.deepEqual([unpaired.code, unpaired.stderr], [0, [
      `plot: drew connection 1 of 2 (client ${C}, 5 events, seen from the client); ` +
      "--connection N draws another; through a relay, add the relay's --trace-file to pair " +
      "the client's and the server's",
    ]]);
    const paired = await runScript("plot.ts", [
      `${dir}/c.jsonl`,
      `${dir}/s.jsonl`,
      `${dir}/r.jsonl`,
      "-o",
      `${dir}/out.svg`,
    ]);
    assert.deepEqual([paired.code, paired.stderr], [0, [
      `plot: drew connection 1 of 1 (client ${C}, 10 events, seen from the client, both ends ` +
      `traced) to ${dir}/out.svg`,
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("each phase's time ticks fall within that phase, not in the padding before or after it", () => {
  // A handshake of 103 ms, data from 103 to 2431 ms, a close of 9.5 ms (the audit's run).
  const events: TraceEvent[] = [
    ev(1000, "send", C, L, "SYN", 10),
    ev(1103, "recv", C, S, "SYN+ACK", 11),
    ev(1103, "send", C, S, "ACK", 12),
  ];
  let seq = 12;
  for (let t = 1103; t <= 3431; t += 97) {
    events.push(ev(t, "send", C, S, "DATA", seq, 16), ev(t + 1, "recv", C, S, "ACK", seq + 16));
    seq += 16;
  }
  events.push(
    ev(3432, "send", C, S, "FIN", seq),
    ev(3433, "recv", C, S, "FIN+ACK", seq + 1),
    ev(3433, "send", C, S, "ACK", seq + 2),
    ev(3441.5, "send", C, S, "ACK", seq + 2, 0, { lastAckCopy: true }),
  );
  const svg = traceToSvg(events);
  const groups = [...svg.matchAll(/<g class="tick-labels" fill="#222">(.*?)<\/g>/gs)].slice(0, 3);
  const ticks = groups.map(([, body]) =>
    [...body.matchAll(/>([\d.,]+)<\/text>/g)].map(([, n]) => Number(n.replace(/,/g, "")))
  );
  const phases = [[0, 103], [103, 2432], [2432, 2441.5]];
  ticks.forEach((panel, i) => {
    const [from, to] = phases[i];
    assert.ok(panel.length >= 2, `panel ${i}: ticks ${panel}`);
    for (const t of panel) assert.ok(t >= from && t <= to, `panel ${i} [${from}, ${to}]: ${panel}`);
  });
});

Deno.test("a long caption of the close is broken into lines that fit its panel", () => {
  // The close: FIN lost once (a timeout), then FIN+ACK and the last ACK's 2 fixed waits.
  const close = connection(C, S, 1000, 10).filter((e) => e.local === C);
  const fin = close.findIndex((e) => e.flags === "FIN");
  const finEvent = close[fin];
  close.splice(
    fin + 1,
    0,
    ev(finEvent.time + 50, "timeout", C, S, "FIN", finEvent.seq, 0, { rto: 50 }),
    ev(finEvent.time + 50, "send", C, S, "FIN", finEvent.seq, 0, { retransmission: true }),
  );
  for (const e of close.slice(fin + 3)) e.time += 50;
  const svg = traceToSvg(close);
  const captions = [...svg.matchAll(/class="phase-caption"[^>]*>([^<]*)</g)].map(([, t]) => t);
  const all = captions.join(" ");
  assert.ok(all.includes("1 espera de timeout"), all);
  assert.ok(all.includes("2 esperas fijas del cierre"), all);
  // The close panel is 28% of 858 px: about 38 characters of 11 px.
  for (const line of captions) assert.ok(line.length <= 38, `too long for its panel: ${line}`);
});

/** Words of the Spanish graph that an English one must not have. */
const SPANISH =
  /[áéíóúñ]|Gráfico|enviado|recibido|perdido|reenviado|espera|datos|cierre|conexi|cliente|servidor|emisor|receptor|segmentos|tramo|Visto|eje|tiempo/;

Deno.test("--lang en: the graph in English, every word of it; Spanish stays the default", () => {
  const closed = traceToSvg(connection(C, S, 1000, 10), { lang: "en" });
  const lossy = traceToSvg(trace, { lang: "en" });
  const windowed = traceToSvg(withWindow, { lang: "en" });
  for (const text of ["Time-sequence graph", "time since the first segment (ms)"]) {
    assert.ok(closed.includes(text), text);
  }
  assert.ok(closed.includes("sequence number relative to the SYN (bytes)"));
  assert.ok(closed.includes("the axis breaks between phases, each on its own scale"));
  assert.match(closed, />Close: /);
  assert.match(closed, /fixed waits? of the close/);
  assert.ok(lossy.includes(">DATA sent by the client</text>"), lossy);
  assert.ok(lossy.includes(">the client's timeout</text>"), lossy);
  assert.ok(lossy.includes("Seen from the client's side (it sends the data)"), lossy);
  assert.match(windowed, /The sender&#39;s congestion window|The sender's congestion window/);
  assert.ok(windowed.includes("cwnd (segments)"));
  for (const svg of [closed, lossy, windowed]) assert.doesNotMatch(svg, SPANISH);
  assert.ok(
    traceToSvg(trace).includes(">DATA enviado por el cliente</text>"),
    "Spanish by default",
  );
  const receiver = { role: "receiver" as const, side: "server" as const, bothEnds: false };
  assert.equal(seriesLabels(receiver, "en").data, "DATA received by the server");
  assert.equal(seriesLabels(receiver, "en").ack, "ACK sent by the server (step line)");
  assert.equal(
    vantageText(receiver, "en"),
    "Seen from the server's side (it receives the data); that end's trace alone: the losses do not show.",
  );
  assert.equal(
    flatCaption([{ kind: "timeout", from: 0, to: 50 }, { kind: "idle", from: 60, to: 90 }], "en"),
    "1 timeout wait (50 ms); 1 stretch with no activity (30 ms)",
  );
  assert.equal(flatCaption([], "en"), "no flat stretches");
});

Deno.test("plot --lang en: the subtitle names the connection in English", async () => {
  await withTrace(twoConnections, async (dir) => {
    const run = await runScript("plot.ts", [
      `${dir}/trace.jsonl`,
      "--lang",
      "en",
      "-o",
      `${dir}/en.svg`,
    ]);
    assert.deepEqual(run.code, 0, run.stderr.join("\n"));
    const svg = await Deno.readTextFile(`${dir}/en.svg`);
    assert.ok(svg.includes(`connection 1 of 2 (client ${C})`), svg.slice(0, 600));
    assert.doesNotMatch(svg, SPANISH);
  });
});
