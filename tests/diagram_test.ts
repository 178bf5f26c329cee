import assert from "node:assert/strict";
import {
  buildModel,
  main,
  matchTraces,
  relayTraceToMermaid,
  throughRelay,
  traceToMermaid,
} from "../diagram.ts";
import {
  type RelayEvent,
  type RelayMappingRecord,
  type RelayTraceRecord,
  relayTraceRecorder,
  startRelay,
} from "../relay.ts";
import { SocketTCP } from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";
import { C, ev, L, S } from "./_traces.ts";
import { runScript } from "./_run.ts";

/** A handshake whose SYN+ACK is answered, then one data segment lost and retransmitted. */
function lossyTrace(): TraceEvent[] {
  return [
    ev(0, "send", C, L, "SYN", 50),
    ev(1, "send", S, C, "SYN+ACK", 51),
    ev(2, "recv", C, S, "SYN+ACK", 51),
    ev(3, "send", C, S, "ACK", 52),
    ev(4, "recv", S, C, "ACK", 52),
    ev(5, "send", C, S, "DATA", 52, 2),
    ev(55, "timeout", C, S, "DATA", 52, 2, { rto: 50 }),
    ev(56, "send", C, S, "DATA", 52, 2, { retransmission: true }),
    ev(57, "recv", S, C, "DATA", 52, 2),
    ev(58, "send", S, C, "ACK", 54),
    ev(59, "recv", C, S, "ACK", 54),
  ];
}

Deno.test("a segment sent and never received is drawn lost with -x and a note", () => {
  const md = traceToMermaid(lossyTrace());
  const lines = md.split("\n");
  const lost = lines.findIndex((l) => l === "    C-xS: DATA seq=52 len=2");
  assert.ok(lost > 0, md);
  assert.deepEqual(lines[lost + 1], "    Note over C,S: perdido");
  assert.ok(lines.includes("    C->>S: DATA seq=52 len=2 (retransmisión)"), md);
  assert.ok(lines.includes("    Note over C: ⏱ timeout (50 ms): sin respuesta a DATA seq=52"), md);
});

/** A full receiver: its refusal, a probe refused too, then its window update and the segment taken. */
function fullReceiverTrace(): TraceEvent[] {
  const noRoom = { reason: "no room: the application has not read what came before" };
  const alive = { reason: "alive, no room: it acknowledges what came before our segment" };
  return [
    ...lossyTrace().slice(0, 5),
    ev(5, "send", C, S, "DATA", 52, 2),
    ev(6, "recv", S, C, "DATA", 52, 2, noRoom),
    ev(6, "send", S, C, "ACK", 52),
    ev(7, "recv", C, S, "ACK", 52, 0, alive),
    ev(55, "timeout", C, S, "DATA", 52, 2, { rto: 50 }),
    ev(55, "send", C, S, "DATA", 52, 2, { retransmission: true }),
    ev(56, "recv", S, C, "DATA", 52, 2, noRoom),
    ev(56, "send", S, C, "ACK", 52),
    ev(57, "recv", C, S, "ACK", 52, 0, alive),
    ev(80, "send", S, C, "ACK", 52),
    ev(81, "recv", C, S, "ACK", 52, 0, {
      reason: "room again: a second answer to our last try; it goes again",
    }),
    ev(81, "send", C, S, "DATA", 52, 2, { retransmission: true }),
    ev(82, "recv", S, C, "DATA", 52, 2),
  ];
}

Deno.test("a full receiver: the refused segment, the probe's note and the window update are named", () => {
  const lines = traceToMermaid(fullReceiverTrace()).split("\n");
  assert.deepEqual(lines.slice(-9), [
    "    C->>S: DATA seq=52 len=2 (sin espacio: no lo toma)",
    "    S->>C: ACK seq=52",
    "    Note over C: ⏱ timeout (50 ms): el receptor no tenía espacio; sondea con DATA seq=52",
    "    C->>S: DATA seq=52 len=2 (retransmisión, sin espacio: no lo toma)",
    "    S->>C: ACK seq=52",
    "    S->>C: ACK seq=52 (hay espacio otra vez)",
    "    C->>S: DATA seq=52 len=2 (retransmisión)",
    "```",
    "",
  ]);
});

/** Words of the Spanish drawing that an English one must not have. */
const SPANISH =
  /Cliente|Servidor|perdido|retransmisi|duplicado|sin respuesta|sin espacio|espacio otra|ya cerró|segmentos|sin tráfico|datagramas|copia|retenido|descartado/;

Deno.test("--lang en: the same drawing in English, every word of it", () => {
  const lossy = traceToMermaid(lossyTrace(), { lang: "en" });
  const lines = lossy.split("\n");
  assert.ok(lines.includes("    C-xS: DATA seq=52 len=2"), lossy);
  assert.ok(lines.includes("    Note over C,S: lost"), lossy);
  assert.ok(lines.includes("    Note over C: ⏱ timeout (50 ms): no answer to DATA seq=52"), lossy);
  assert.ok(lines.includes("    C->>S: DATA seq=52 len=2 (retransmission)"), lossy);
  assert.match(lossy, /participant C as Client :5000/);
  const full = traceToMermaid(fullReceiverTrace(), { lang: "en", hidePorts: true });
  assert.deepEqual(full.split("\n").slice(-9, -3), [
    "    C->>S: DATA seq=52 len=2 (no room: not taken)",
    "    S->>C: ACK seq=52",
    "    Note over C: ⏱ timeout (50 ms): the receiver had no room; probes with DATA seq=52",
    "    C->>S: DATA seq=52 len=2 (retransmission, no room: not taken)",
    "    S->>C: ACK seq=52",
    "    S->>C: ACK seq=52 (room again)",
  ]);
  assert.match(full, /participant L as Server \(listening\)/);
  assert.match(full, /participant S as Server \(new socket\)/);
  const unheard = traceToMermaid([
    ev(0, "send", C, S, "ACK", 76),
    ev(1, "recv", S, C, "ACK", 76),
    ev(50, "send", C, S, "ACK", 76, 0, { lastAckCopy: true }),
  ], { lang: "en" });
  assert.ok(unheard.includes("    C--xS: ACK seq=76 (copy)"), unheard);
  assert.ok(unheard.includes(`no receiver: Server :${S.split(":")[1]} had closed`), unheard);
  const long: TraceEvent[] = [ev(0, "send", C, L, "SYN", 0), ev(1, "send", S, C, "SYN+ACK", 1)];
  for (let seq = 2, t = 2; seq < 2 + 50 * 16; seq += 16) {
    long.push(ev(t++, "send", C, S, "DATA", seq, 16), ev(t++, "recv", S, C, "DATA", seq, 16));
  }
  const summarised = traceToMermaid(long, { lang: "en", head: 2, tail: 2, since: 10 });
  assert.match(summarised, /… \d+ earlier segments \(1 lost\) …/);
  assert.match(summarised, /… \d+ segments …/);
  for (const md of [lossy, full, unheard, summarised]) assert.doesNotMatch(md, SPANISH, md);
  const at = (
    id: number,
    time: number,
    direction: "toServer" | "toClient",
    flags: string,
    fate: RelayTraceRecord["fate"],
  ): RelayTraceRecord => ({
    time,
    kind: "relay",
    id,
    direction,
    client: C,
    server: S,
    flags,
    seq: flags === "INVALID" ? 0 : 7,
    len: 0,
    fate,
  });
  const relay = relayTraceToMermaid([
    at(1, 1, "toServer", "SYN", "dropped"),
    at(2, 40, "toServer", "SYN", "duplicated"),
    at(3, 41, "toClient", "INVALID", "forwarded"),
  ], { lang: "en", until: 100 });
  assert.ok(relay.includes("    participant C as Client"), relay);
  assert.ok(relay.includes("    Note over C,S: lost in the relay"), relay);
  assert.ok(relay.includes("    Note over C,S: ⏱ 39 ms with no traffic"), relay);
  assert.ok(relay.includes("    C->>S: SYN seq=7 (the relay's copy)"), relay);
  assert.ok(relay.includes("    S->>C: datagram that is not a segment"), relay);
  assert.ok(relay.includes("    Note over C,S: ⏱ 59 ms with no traffic, to the end"), relay);
  assert.doesNotMatch(relay, SPANISH, relay);
});

Deno.test("--lang: the command line draws in English, and refuses another language in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/c.jsonl`;
    await Deno.writeTextFile(file, lossyTrace().map((e) => JSON.stringify(e)).join("\n"));
    const english = await runScript("diagram.ts", ["--lang", "en", file]);
    assert.equal(english.code, 0, english.stderr.join("\n"));
    assert.ok(english.stdout.includes("Note over C,S: lost"), english.stdout);
    const french = await runScript("diagram.ts", ["--lang", "fr", file]);
    assert.equal(french.code, 2);
    assert.match(french.stderr[0], /--lang is "fr", expected es or en/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("participants are the client, the listener and the server's new port", () => {
  const md = traceToMermaid(lossyTrace());
  assert.match(md, /^```mermaid\nsequenceDiagram\n/);
  assert.ok(md.includes("participant C as Cliente :5000"));
  assert.ok(md.includes("participant L as Servidor :8000"));
  assert.ok(md.includes("participant S as Servidor :9000"));
  assert.ok(
    md.includes("    C->>L: SYN seq=50"),
    "the SYN the listener does not trace counts as received",
  );
  assert.ok(md.endsWith("```\n"));
});

Deno.test("a reception pairs with the latest copy sent before it, so the earlier copy is the lost one", () => {
  const trace = [
    ev(0, "send", C, S, "FIN", 74),
    ev(1, "recv", S, C, "FIN", 74),
    ev(2, "send", S, C, "FIN+ACK", 75),
    ev(50, "send", C, S, "FIN", 74, 0, { retransmission: true }),
    ev(51, "recv", S, C, "FIN", 74, 0, { duplicate: true }),
    ev(52, "send", S, C, "FIN+ACK", 75),
    ev(53, "recv", C, S, "FIN+ACK", 75),
  ];
  const fates = buildModel(trace).steps.map((s) => `${s.flags}:${s.fate}`);
  assert.deepEqual(fates, ["FIN:received", "FIN+ACK:lost", "FIN:received", "FIN+ACK:received"]);
  assert.ok(traceToMermaid(trace).includes("C->>S: FIN seq=74 (retransmisión, duplicado)"));
});

Deno.test("a window: copies of one ACK sent in a burst pair in order, and a later copy is the lost one", () => {
  // Window 3: the first DATA is lost; each of the next two makes the receiver repeat ACK 52
  // (one burst), and they arrive in order; it sends ACK 52 once more 2 ms after the sender got
  // them (within the slack allowed for two processes' clocks), and that copy is the lost one.
  const trace = [
    ...lossyTrace().slice(0, 5),
    ev(10, "send", C, S, "DATA", 52, 16, { base: 52, next: 68 }),
    ev(10, "send", C, S, "DATA", 68, 16, { base: 52, next: 84 }),
    ev(10, "send", C, S, "DATA", 84, 16, { base: 52, next: 100 }),
    ev(15, "recv", S, C, "DATA", 68, 16, { held: true }),
    ev(15, "send", S, C, "ACK", 52),
    ev(15.01, "recv", S, C, "DATA", 84, 16, { held: true }),
    ev(15.01, "send", S, C, "ACK", 52),
    ev(20, "recv", C, S, "ACK", 52, 0, { base: 52, next: 100 }),
    ev(20.01, "recv", C, S, "ACK", 52, 0, { duplicate: true, base: 52, next: 100 }),
    ev(22, "send", S, C, "ACK", 52),
    ev(110, "timeout", C, S, "DATA", 52, 16, { rto: 100 }),
    ev(110, "send", C, S, "DATA", 52, 16, { retransmission: true, base: 52, next: 100 }),
    ev(115, "recv", S, C, "DATA", 52, 16),
    ev(115, "send", S, C, "ACK", 100),
    ev(120, "recv", C, S, "ACK", 100, 0, { base: 100, next: 100 }),
  ];
  const lines = traceToMermaid(trace).split("\n");
  const from = lines.indexOf("    C->>S: ACK seq=52");
  assert.deepEqual(lines.slice(from + 1, from + 12), [
    "    C-xS: DATA seq=52 len=16",
    "    Note over C,S: perdido",
    "    C->>S: DATA seq=68 len=16",
    "    C->>S: DATA seq=84 len=16",
    "    S->>C: ACK seq=52",
    "    S->>C: ACK seq=52 (duplicado)",
    "    S-xC: ACK seq=52",
    "    Note over S,C: perdido",
    "    Note over C: ⏱ timeout (100 ms): sin respuesta a DATA seq=52",
    "    C->>S: DATA seq=52 len=16 (retransmisión)",
    "    S->>C: ACK seq=100",
  ]);
});

Deno.test("a segment sent after the receiver's last event is drawn as having no receiver", () => {
  const trace = [
    ev(0, "send", C, S, "ACK", 76),
    ev(1, "recv", S, C, "ACK", 76),
    ev(50, "send", C, S, "ACK", 76, 0, { retransmission: true }),
  ];
  const md = traceToMermaid(trace);
  assert.ok(md.includes("    C--xS: ACK seq=76 (retransmisión)"), md);
  assert.ok(md.includes("ya cerró"), md);
});

Deno.test("with only one side's trace, what it saw is drawn and nothing is called lost", () => {
  const clientOnly = lossyTrace().filter((e) => e.local === C);
  const md = traceToMermaid(clientOnly);
  assert.ok(!md.includes("perdido"), md);
  assert.ok(md.includes("C->>S: DATA seq=52 len=2"), md);
  assert.ok(md.includes("S->>C: ACK seq=54"), md);
  const serverOnly = lossyTrace().filter((e) => e.local !== C);
  const md2 = traceToMermaid(serverOnly);
  assert.ok(md2.includes("C->>S: DATA seq=52 len=2"), md2);
  assert.ok(md2.includes("S->>C: SYN+ACK seq=51"), md2);
});

Deno.test("a long transfer is summarised: first and last segments, a count in between", () => {
  const trace: TraceEvent[] = [ev(0, "send", C, L, "SYN", 0), ev(1, "send", S, C, "SYN+ACK", 1)];
  let t = 2;
  for (let seq = 2; seq < 2 + 100 * 16; seq += 16) {
    trace.push(ev(t++, "send", C, S, "DATA", seq, 16), ev(t++, "recv", S, C, "DATA", seq, 16));
    trace.push(ev(t++, "send", S, C, "ACK", seq + 16), ev(t++, "recv", C, S, "ACK", seq + 16));
  }
  const md = traceToMermaid(trace, { head: 5, tail: 4 });
  const arrows = md.split("\n").filter((l) => /^ {4}\w+(->>|-x|--x)\w+:/.test(l));
  assert.deepEqual(arrows.length, 9);
  assert.ok(md.includes("Note over C,S: … 193 segmentos …"), md);
  assert.ok(arrows[8].includes("ACK seq=1602"), arrows[8]);
});

Deno.test("the command line prints usage and exits 2 without files", async () => {
  assert.deepEqual(await main([]), 2);
});

// ------------------------------------------------------------------ through the relay

/** A clean-network-but-one-loss transfer through a real relay, traced at both ends and by the relay. */
async function throughARelay() {
  const records: RelayTraceRecord[] = [];
  const mapping: RelayMappingRecord[] = [];
  const record = relayTraceRecorder();
  const clientEvents: TraceEvent[] = [];
  const serverEvents: TraceEvent[] = [];
  await using listener = new SocketTCP({ timeout: 150, onTrace: (e) => serverEvents.push(e) });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  await using relay = await startRelay({
    listen: { hostname: "127.0.0.1", port: 0 },
    target: listener.localAddr,
    // The file's first segment, even if a loaded machine resent the length first.
    rules: [{ direction: "toServer", kind: "DATA", nth: 2, action: "drop", counts: "segments" }],
    onEvent: (event: RelayEvent) => {
      const line = record(event);
      if (line?.kind === "relay") records.push(line);
      else if (line?.kind === "relay-map") mapping.push(line);
    },
  });
  const client = new SocketTCP({ timeout: 150, onTrace: (e) => clientEvents.push(e) });
  const [[server]] = await Promise.all([listener.accept(), client.connect(relay.addr)]);
  await Promise.all([client.send(new TextEncoder().encode("hola, relay")), server.recv(64)]);
  await Promise.all([client.close(), server.recvClose()]);
  await relay.close();
  return { records, mapping, clientEvents, serverEvents };
}

Deno.test("a relay trace alone draws two columns and one -x per datagram the relay dropped", async () => {
  const { records } = await throughARelay();
  const md = relayTraceToMermaid(records);
  const lines = md.split("\n");
  assert.deepEqual(lines.filter((l) => l.includes("participant")), [
    "    participant C as Cliente",
    "    participant S as Servidor",
  ]);
  const dropped = records.filter((r) => r.fate === "dropped");
  assert.equal(dropped.length, 1);
  const lost = lines.filter((l) => l.includes("-x"));
  assert.deepEqual(lost, [`    C-xS: DATA seq=${dropped[0].seq} len=${dropped[0].len}`]);
  // At its place: after the length's ACK, before the retransmission that arrived.
  const at = lines.indexOf(lost[0]);
  assert.match(lines[at - 1], /S->>C: ACK seq=\d+/);
  assert.ok(lines.slice(at + 1).some((l) => l === lost[0].replace("-x", "->>")), md);
  assert.ok(lines.slice(at + 1, at + 4).some((l) => /⏱ \d+ ms sin tráfico/.test(l)), md);
  // A silence until the end of the recording (a hang) is said last.
  const end = Math.max(...records.map((r) => r.time)) + 1500;
  const until = relayTraceToMermaid(records, { until: end }).split("\n");
  assert.equal(until.at(-3), "    Note over C,S: ⏱ 1500 ms sin tráfico, hasta el final");
});

Deno.test("merged client and server traces through a relay match by its port mapping", async () => {
  const { mapping, clientEvents, serverEvents } = await throughARelay();
  // Without the mapping they share no connection: said, not drawn as lost.
  assert.throws(
    () =>
      matchTraces([{ path: "client.jsonl", events: clientEvents }, {
        path: "server.jsonl",
        events: serverEvents,
      }]),
    /cannot match the traces: client\.jsonl talks to .*no connection appears in two of them/,
  );
  const { events, leftOut } = matchTraces([
    { path: "client.jsonl", events: throughRelay(clientEvents, mapping) },
    { path: "server.jsonl", events: throughRelay(serverEvents, mapping) },
  ]);
  assert.equal(leftOut, 0);
  const md = traceToMermaid(events);
  const participants = md.split("\n").filter((l) => l.includes("participant"));
  assert.equal(participants.length, 3, md); // client, listener, the server's new port
  const lost = md.split("\n").filter((l) => /^ {4}\w+-x\w+:/.test(l));
  assert.equal(lost.length, 1, md);
  assert.match(lost[0], /C-xS: DATA seq=\d+ len=11/);
});

Deno.test("traces covering different connections leave the unmatched one out instead of drawing it lost", () => {
  const other = "127.0.0.1:5001";
  const server = [
    ...lossyTrace().filter((e) => e.local !== C),
    ev(100, "send", "127.0.0.1:9001", other, "SYN+ACK", 8),
    ev(101, "recv", "127.0.0.1:9001", other, "ACK", 9),
    ev(102, "send", "127.0.0.1:9001", other, "FIN+ACK", 10),
  ];
  const client = lossyTrace().filter((e) => e.local === C);
  const { events, leftOut } = matchTraces([
    { path: "client", events: client },
    { path: "server", events: server },
  ]);
  assert.equal(leftOut, 3);
  const md = traceToMermaid(events);
  assert.ok(!md.includes("5001") && !md.includes("9001"), md);
  assert.equal(md.split("\n").filter((l) => l.includes("-x")).length, 1, md);
});

Deno.test("the diagram script draws a relay trace file, and says when endpoint traces cannot match", async () => {
  const { records, mapping, clientEvents, serverEvents } = await throughARelay();
  const dir = await Deno.makeTempDir();
  try {
    const write = (name: string, lines: object[]) =>
      Deno.writeTextFile(`${dir}/${name}`, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    await write("relay.jsonl", [...mapping, ...records]);
    await write("client.jsonl", clientEvents);
    await write("server.jsonl", serverEvents);
    const run = async (...files: string[]) => {
      const result = await runScript("diagram.ts", files.map((f) => `${dir}/${f}`), {
        permissions: [`--allow-read=${dir}`],
      });
      return { ...result, stderr: result.stderr.join("\n") };
    };
    const [wire, unmatched, matched] = await Promise.all([
      run("relay.jsonl"),
      run("client.jsonl", "server.jsonl"),
      run("client.jsonl", "server.jsonl", "relay.jsonl"),
    ]);
    assert.equal(wire.code, 0, wire.stderr);
    assert.equal(wire.stdout.split("\n").filter((l) => l.includes("participant")).length, 2);
    assert.equal(wire.stdout.split("\n").filter((l) => /^ {4}C-xS:/.test(l)).length, 1);
    assert.equal(unmatched.code, 1);
    assert.equal(unmatched.stdout, "");
    assert.match(
      unmatched.stderr.trim(),
      /^diagram: cannot match the traces: .*client\.jsonl talks to/,
    );
    assert.equal(unmatched.stderr.trim().split("\n").length, 1);
    assert.equal(matched.code, 0, matched.stderr);
    assert.equal(matched.stdout.split("\n").filter((l) => l.includes("participant")).length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one end's trace: a reception comes before the answer it triggered at the same instant", () => {
  // The client's trace: the SYN+ACK and the ACK it triggers share a timestamp, so do the
  // ACK of the data and the FIN, as socket-tcp's traces record them.
  const client = [
    ev(0, "send", C, L, "SYN", 14),
    ev(10, "recv", C, S, "SYN+ACK", 15),
    ev(10, "send", C, S, "ACK", 16),
    ev(20, "send", C, S, "DATA", 16, 1),
    ev(30, "recv", C, S, "ACK", 17),
    ev(30, "send", C, S, "FIN", 17),
  ];
  const arrows = (md: string) => md.split("\n").filter((l) => l.includes(">>"));
  assert.deepEqual(arrows(traceToMermaid(client)), [
    "    C->>L: SYN seq=14",
    "    S->>C: SYN+ACK seq=15",
    "    C->>S: ACK seq=16",
    "    C->>S: DATA seq=16 len=1",
    "    S->>C: ACK seq=17",
    "    C->>S: FIN seq=17",
  ]);
  // The server's: each segment received at the same instant as the answer it sends.
  const server = [
    ev(0, "recv", L, C, "SYN", 14),
    ev(1, "send", S, C, "SYN+ACK", 15),
    ev(5, "recv", S, C, "ACK", 16),
    ev(8, "recv", S, C, "DATA", 16, 1),
    ev(8, "send", S, C, "ACK", 17),
    ev(9, "recv", S, C, "FIN", 17),
    ev(9, "send", S, C, "FIN+ACK", 18),
  ];
  const md = traceToMermaid(server);
  assert.ok(md.includes("participant L as Servidor :8000"), md);
  assert.deepEqual(arrows(md).slice(3), [
    "    C->>S: DATA seq=16 len=1",
    "    S->>C: ACK seq=17",
    "    C->>S: FIN seq=17",
    "    S->>C: FIN+ACK seq=18",
  ]);
});

Deno.test("--max alone summarises: the segments kept at each end shrink to fit it", async () => {
  // 1 SYN and 19 DATA sends, only the client's trace: 20 arrows.
  const events = [ev(0, "send", C, L, "SYN", 1)];
  for (let i = 0; i < 19; i++) events.push(ev(1 + i, "send", C, S, "DATA", 3 + 16 * i, 16));
  const arrows = (md: string) => md.split("\n").filter((l) => l.includes("->>")).length;
  assert.equal(arrows(traceToMermaid(events)), 20, "under the default 40: all drawn");
  const five = traceToMermaid(events, { maxArrows: 5 });
  assert.equal(arrows(five), 5, five);
  assert.ok(five.includes("… 15 segmentos …"), five);
  // Given, --head and --tail still say how many are kept.
  assert.equal(arrows(traceToMermaid(events, { maxArrows: 5, head: 1, tail: 1 })), 2);
  const none = traceToMermaid(events, { maxArrows: 0 });
  assert.equal(arrows(none), 0, none);
  assert.ok(none.includes("… 20 segmentos …"), none);
  const dir = await Deno.makeTempDir({ prefix: "diagram_test_" });
  try {
    await Deno.writeTextFile(`${dir}/c.jsonl`, events.map((e) => JSON.stringify(e)).join("\n"));
    const run = await runScript("diagram.ts", ["--max", "5", `${dir}/c.jsonl`]);
    assert.equal(run.code, 0, run.stderr.join("\n"));
    assert.equal(arrows(run.stdout), 5, run.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
