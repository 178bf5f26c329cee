import assert from "node:assert/strict";
import { buildModel, main, traceToMermaid } from "../diagram.ts";
import type { TraceEvent } from "../trace.ts";
import { C, ev, L, S } from "./_traces.ts";

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
