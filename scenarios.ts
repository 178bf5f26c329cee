/**
 * The cases of the report, run for real: a client and a server
 * {@linkcode SocketTCP} talk over loopback UDP, in this process, while a
 * {@linkcode FaultInjector} forces exactly one fault (or none). Each run
 * returns the trace events of both ends, merged by time, and the command that
 * reproduces it.
 *
 * The timeouts are fixed and the initial sequence number too, so that every
 * run of a case draws the same diagram. The server's timeout (80 ms) is
 * longer than the client's (50 ms): when both ends wait at once, the client's
 * timer always fires first, and the order of the segments does not depend on
 * a race between two timers.
 *
 * @example Run the case where the SYN+ACK is lost
 * ```ts ignore
 * import { runScenario } from "./scenarios.ts";
 * const run = await runScenario("syn-ack-lost");
 * console.log(run.received === run.sent, run.command); // true "deno task report --case syn-ack-lost"
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FaultInjector, type FaultRule } from "./faults.ts";
import type { LinkWrapper } from "./link.ts";
import { SocketTCP } from "./socket_tcp.ts";
import type { TraceEvent } from "./trace.ts";
import { traceToMermaid } from "./diagram.ts";
import { traceToSvg } from "./plot.ts";

/** The message every case sends: 20 bytes, so one segment of 16 bytes and one of 4. */
export const SCENARIO_MESSAGE = "Hola, mundo TCP!!!!!";

/** The client's fixed timeout in the cases, in ms. */
export const CLIENT_TIMEOUT = 50;
/** The server's fixed timeout in the cases, in ms (longer than the client's: see the module doc). */
export const SERVER_TIMEOUT = 80;

/** One case of the report. */
export interface Scenario {
  /** Short name, used in `--case` and in the report's markers. */
  id: string;
  /** Title in Spanish, as the report's section names it. */
  title: string;
  /** What is forced, in Spanish. */
  fault: string;
  /** The fault rules: each drops one segment, counted across both ends (see {@linkcode FaultRule}). */
  rules: FaultRule[];
  /** Milliseconds the client waits after `connect` before sending (default 0). */
  pauseAfterConnect?: number;
  /** Which part the report's diagram shows: everything, or only from the first FIN on. */
  focus?: "all" | "close";
}

const drop = (kind: string, nth: number): FaultRule => ({
  direction: "out",
  kind,
  nth,
  action: "drop",
});

/**
 * The cases, in the report's order. With the 20-byte message, the segments
 * sent are: `SYN`, `SYN+ACK`, `ACK` (1st ACK), `DATA "20"` (1st DATA),
 * `ACK` (2nd), `DATA` 16 bytes (2nd DATA), `ACK` (3rd), `DATA` 4 bytes
 * (3rd DATA), `ACK` (4th), `FIN`, `FIN+ACK`, `ACK` (5th), so "the nth ACK
 * sent" names one segment of the run exactly.
 */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: "normal",
    title: "Conexión normal: handshake, transferencia y cierre",
    fault: "ninguna pérdida",
    rules: [],
  },
  {
    id: "syn-lost",
    title: "Se pierde el SYN",
    fault: "se descarta el 1.er SYN",
    rules: [drop("SYN", 1)],
  },
  {
    id: "syn-ack-lost",
    title: "Se pierde el SYN+ACK",
    fault: "se descarta el 1.er SYN+ACK",
    rules: [drop("SYN+ACK", 1)],
  },
  {
    id: "handshake-ack-lost",
    title: "Se pierde el último ACK del handshake (caso borde)",
    fault: "se descarta el 1.er ACK (el del handshake); el cliente envía datos enseguida",
    rules: [drop("ACK", 1)],
  },
  {
    id: "handshake-ack-lost-idle",
    title: "Se pierde el último ACK del handshake y el cliente tarda en enviar",
    fault:
      "se descarta el 1.er ACK (el del handshake); el cliente espera 120 ms antes de enviar, así que el servidor reenvía el SYN+ACK",
    rules: [drop("ACK", 1)],
    pauseAfterConnect: 120,
  },
  {
    id: "data-lost",
    title: "Se pierde un segmento de datos",
    fault: "se descarta el 2.º DATA (los primeros 16 bytes del mensaje)",
    rules: [drop("DATA", 2)],
  },
  {
    id: "data-ack-lost",
    title: "Se pierde el ACK de un segmento de datos",
    fault: "se descarta el 3.er ACK (el que confirma los primeros 16 bytes)",
    rules: [drop("ACK", 3)],
  },
  {
    id: "last-data-ack-lost",
    title: "Se pierde el ACK del último segmento de datos",
    fault: "se descarta el 4.º ACK (el que confirma los últimos 4 bytes)",
    rules: [drop("ACK", 4)],
  },
  {
    id: "close",
    title: "Cierre normal",
    fault: "ninguna pérdida",
    rules: [],
    focus: "close",
  },
  {
    id: "fin-lost",
    title: "Se pierde el FIN",
    fault: "se descarta el 1.er FIN",
    rules: [drop("FIN", 1)],
    focus: "close",
  },
  {
    id: "fin-ack-lost",
    title: "Se pierde el FIN+ACK",
    fault: "se descarta el 1.er FIN+ACK",
    rules: [drop("FIN+ACK", 1)],
    focus: "close",
  },
  {
    id: "last-ack-lost",
    title: "Se pierde el último ACK del cierre",
    fault: "se descarta el 5.º ACK (la primera copia del último ACK)",
    rules: [drop("ACK", 5)],
    focus: "close",
  },
];

/** The result of one run. */
export interface ScenarioRun {
  /** The case. */
  scenario: Scenario;
  /** Trace events of the client, the listener and the accepted socket, sorted by time. */
  events: TraceEvent[];
  /** The command that runs this case again and prints its diagram. */
  command: string;
  /** The message sent. */
  sent: string;
  /** What the server received. */
  received: string;
  /** The listener's address, `host:port`. */
  listener: string;
  /** Segments dropped by the injector. */
  dropped: number;
  /** Wall-clock duration of the run, in ms. */
  duration: number;
}

/** Options of {@linkcode runTransfer}. */
export interface TransferOptions {
  /** The message to send from client to server. */
  message: Uint8Array;
  /** Fixed timeout of the client in ms; adaptive (RFC 6298) when absent. */
  clientTimeout?: number;
  /** Fixed timeout of the server in ms; adaptive when absent. */
  serverTimeout?: number;
  /** Wraps every UDP socket of both ends (the fault injector). */
  link?: LinkWrapper;
  /** ISN source. Default: always 0.5, so the SYN carries seq 50. */
  random?: () => number;
  /** Milliseconds the client waits after `connect` before sending. */
  pauseAfterConnect?: number;
  /** Retransmissions before giving up. Default 20. */
  maxRetries?: number;
}

/** The result of {@linkcode runTransfer}. */
export interface TransferResult {
  /** Trace events of both ends, sorted by time. */
  events: TraceEvent[];
  /** The bytes the server received. */
  received: Uint8Array;
  /** The listener's address, `host:port`. */
  listener: string;
  /** Wall-clock duration from `connect` to the end of both closes, in ms. */
  duration: number;
  /** Wall-clock duration of `send` alone, in ms (client side). */
  sendDuration: number;
}

/**
 * Runs one connection over loopback: the client connects, sends `message`
 * and closes (host A); the server accepts, receives the whole message and
 * calls `recvClose` (host B). Every socket is closed before it returns.
 *
 * @throws whatever a socket throws (a {@linkcode PeerTimeoutError} when the
 * retries run out).
 */
export async function runTransfer(options: TransferOptions): Promise<TransferResult> {
  const events: TraceEvent[] = [];
  const onTrace = (event: TraceEvent) => events.push(event);
  const random = options.random ?? (() => 0.5);
  const common = { link: options.link, onTrace, random, maxRetries: options.maxRetries };
  await using listener = new SocketTCP({ ...common, timeout: options.serverTimeout });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const address = listener.localAddr;
  const started = performance.now();
  let sendDuration = 0;

  const server = async (): Promise<Uint8Array> => {
    const [socket] = await listener.accept();
    try {
      const chunks: Uint8Array[] = [];
      let total = 0;
      // recv returns min(message length, buffSize) bytes: the whole message here.
      while (total < options.message.length || chunks.length === 0) {
        const chunk = await socket.recv(options.message.length || 1);
        chunks.push(chunk);
        total += chunk.length;
        if (chunk.length === 0) break;
      }
      await socket.recvClose();
      const out = new Uint8Array(total);
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      return out;
    } finally {
      await socket.close();
    }
  };

  const client = async (): Promise<void> => {
    const socket = new SocketTCP({ ...common, timeout: options.clientTimeout });
    try {
      await socket.connect(address);
      if (options.pauseAfterConnect) {
        await new Promise((resolve) => setTimeout(resolve, options.pauseAfterConnect));
      }
      const sendStart = performance.now();
      await socket.send(options.message);
      sendDuration = performance.now() - sendStart;
    } finally {
      await socket.close();
    }
  };

  const [received] = await Promise.all([server(), client()]);
  const duration = performance.now() - started;
  events.sort((a, b) => a.time - b.time);
  return {
    events,
    received,
    listener: `${address.hostname}:${address.port}`,
    duration,
    sendDuration,
  };
}

/** Finds a case by id. @throws {RangeError} naming the known ids when there is none. */
export function findScenario(id: string): Scenario {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) {
    throw new RangeError(
      `Unknown case "${id}", expected one of: ${SCENARIOS.map((s) => s.id).join(", ")}`,
    );
  }
  return scenario;
}

/**
 * Runs one case of the report with its fault forced, and checks that the
 * server received exactly the message.
 *
 * @throws {Error} when the bytes received differ from the bytes sent.
 */
export async function runScenario(id: string): Promise<ScenarioRun> {
  const scenario = findScenario(id);
  const faults = new FaultInjector({ seed: 1, rules: scenario.rules, log: false });
  const message = new TextEncoder().encode(SCENARIO_MESSAGE);
  const result = await runTransfer({
    message,
    clientTimeout: CLIENT_TIMEOUT,
    serverTimeout: SERVER_TIMEOUT,
    link: faults.wrap,
    pauseAfterConnect: scenario.pauseAfterConnect,
  });
  const received = new TextDecoder().decode(result.received);
  if (received !== SCENARIO_MESSAGE) {
    throw new Error(
      `Case ${id}: the server received ${JSON.stringify(received)}, expected ${
        JSON.stringify(SCENARIO_MESSAGE)
      }`,
    );
  }
  const expectedDrops = scenario.rules.length;
  if (faults.stats.out.dropped !== expectedDrops) {
    throw new Error(
      `Case ${id}: the injector dropped ${faults.stats.out.dropped} segments, expected ${expectedDrops}`,
    );
  }
  return {
    scenario,
    events: result.events,
    command: `deno task report --case ${id}`,
    sent: SCENARIO_MESSAGE,
    received,
    listener: result.listener,
    dropped: faults.stats.out.dropped,
    duration: result.duration,
  };
}

/**
 * The diagram of a case as the report draws it: participants named by role,
 * and for the close cases only the steps from the first FIN on.
 */
export function scenarioDiagram(run: ScenarioRun): string {
  const fin = run.events.find((e) => e.kind === "send" && e.flags === "FIN");
  const since = run.scenario.focus === "close" ? fin?.time : undefined;
  return traceToMermaid(run.events, { hidePorts: true, since });
}

/** The text the report puts between a case's markers: the diagram and the command. */
export function scenarioSection(run: ScenarioRun): string {
  return [
    `Falla forzada: ${run.scenario.fault}. Reproducir: \`${run.command}\``,
    "",
    scenarioDiagram(run).trimEnd(),
  ].join("\n");
}

/** Replaces the text between `<!-- begin:id -->` and `<!-- end:id -->`. @throws {Error} when the markers are missing. */
export function replaceBetweenMarkers(text: string, id: string, content: string): string {
  const begin = `<!-- begin:${id} -->`, end = `<!-- end:${id} -->`;
  const from = text.indexOf(begin), to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`Cannot find the markers ${begin} … ${end}`);
  return text.slice(0, from + begin.length) + "\n" + content.trimEnd() + "\n" + text.slice(to);
}

/** Returns the text between a case's markers, or `undefined`. */
export function betweenMarkers(text: string, id: string): string | undefined {
  const begin = `<!-- begin:${id} -->`, end = `<!-- end:${id} -->`;
  const from = text.indexOf(begin), to = text.indexOf(end);
  if (from < 0 || to < from) return undefined;
  return text.slice(from + begin.length, to).trim();
}

/** One measured transfer of {@linkcode measureTimeouts}. */
export interface Measurement {
  /** `fijo 100 ms` or `adaptativo`. */
  mode: string;
  /** Seed of the losses. */
  seed: number;
  /** Time of `send` (the 4 KiB), ms. */
  sendMs: number;
  /** Time from `connect` to the end of both closes, ms. */
  totalMs: number;
  /** Retransmissions of both ends. */
  retransmissions: number;
  /** Timeouts of both ends. */
  timeouts: number;
  /** Segments dropped by the injector. */
  dropped: number;
}

/** A deterministic message of `n` bytes. */
export function testMessage(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 97 + (i % 26);
  return out;
}

/**
 * Sends `bytes` bytes over loopback with `loss` of every datagram lost (both
 * directions, seeded), with a fixed timeout or the adaptive one, and checks
 * the bytes received.
 *
 * @throws {Error} when the server received other bytes.
 */
export async function lossyTransfer(
  options: { bytes: number; loss: number; seed: number; timeout?: number },
): Promise<TransferResult & { dropped: number }> {
  const faults = new FaultInjector({ seed: options.seed, out: { loss: options.loss }, log: false });
  const message = testMessage(options.bytes);
  const result = await runTransfer({
    message,
    clientTimeout: options.timeout,
    serverTimeout: options.timeout,
    link: faults.wrap,
    maxRetries: 40,
  });
  if (
    result.received.length !== message.length || !result.received.every((b, i) => b === message[i])
  ) {
    throw new Error(
      `Lossy transfer (seed ${options.seed}): received ${result.received.length} bytes that differ from the ${message.length} sent`,
    );
  }
  return { ...result, dropped: faults.stats.out.dropped };
}

/** Measures a 4 KiB transfer at 10 % loss with a fixed 100 ms timeout and with the adaptive one. */
export async function measureTimeouts(seeds: number[] = [1, 2, 3, 4, 5]): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const [mode, timeout] of [["fijo 100 ms", 100], ["adaptativo", undefined]] as const) {
    for (const seed of seeds) {
      const run = await lossyTransfer({ bytes: 4096, loss: 0.1, seed, timeout });
      out.push({
        mode,
        seed,
        sendMs: run.sendDuration,
        totalMs: run.duration,
        retransmissions: run.events.filter((e) => e.kind === "send" && e.retransmission).length,
        timeouts: run.events.filter((e) => e.kind === "timeout").length,
        dropped: run.dropped,
      });
    }
  }
  return out;
}

/** Formats measurements as a Markdown table, one row per run plus the means. */
export function measurementTable(rows: Measurement[]): string {
  const lines = [
    "| Timeout | Semilla | Tiempo de `send` (ms) | Tiempo total (ms) | Retransmisiones | Timeouts | Datagramas perdidos |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  const r0 = (n: number) => Math.round(n).toString();
  for (const m of rows) {
    lines.push(
      `| ${m.mode} | ${m.seed} | ${r0(m.sendMs)} | ${
        r0(m.totalMs)
      } | ${m.retransmissions} | ${m.timeouts} | ${m.dropped} |`,
    );
  }
  for (const mode of [...new Set(rows.map((r) => r.mode))]) {
    const mine = rows.filter((r) => r.mode === mode);
    const mean = (f: (m: Measurement) => number) =>
      mine.reduce((a, m) => a + f(m), 0) / mine.length;
    lines.push(
      `| **${mode}, media** | | **${r0(mean((m) => m.sendMs))}** | **${
        r0(mean((m) => m.totalMs))
      }** | ${mean((m) => m.retransmissions).toFixed(1)} | ${
        mean((m) => m.timeouts).toFixed(1)
      } | ${mean((m) => m.dropped).toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

/** Where the report lives. */
export const REPORT_PATH = "docs/informe.md";

/**
 * Runs every case and rewrites the generated parts of the report: each
 * case's diagram between its markers, the measurements of the timeouts, and
 * the time-sequence graphs (`docs/stevens-*.svg`).
 */
export async function writeReport(
  options: { measure?: boolean; log?: (line: string) => void } = {},
): Promise<void> {
  const log = options.log ?? (() => {});
  let text = await Deno.readTextFile(REPORT_PATH);
  for (const scenario of SCENARIOS) {
    const run = await runScenario(scenario.id);
    text = replaceBetweenMarkers(text, scenario.id, scenarioSection(run));
    log(`report: ${scenario.id}: ${run.events.length} events, ${Math.round(run.duration)} ms`);
  }
  if (options.measure ?? true) {
    const graphs = [
      { file: "docs/stevens-limpio.svg", loss: 0, timeout: 100, title: "1 KiB sin pérdidas" },
      {
        file: "docs/stevens-perdidas.svg",
        loss: 0.1,
        timeout: 100,
        title: "1 KiB con 10 % de pérdidas, timeout fijo de 100 ms",
      },
      {
        file: "docs/stevens-perdidas-adaptativo.svg",
        loss: 0.1,
        timeout: undefined,
        title: "1 KiB con 10 % de pérdidas, timeout adaptativo (RFC 6298)",
      },
    ];
    for (const graph of graphs) {
      const run = await lossyTransfer({
        bytes: 1024,
        loss: graph.loss,
        seed: 7,
        timeout: graph.timeout,
      });
      const retx = run.events.filter((e) =>
        e.kind === "send" && e.retransmission && e.flags === "DATA"
      ).length;
      await Deno.writeTextFile(
        graph.file,
        traceToSvg(run.events, {
          title: `Stop & Wait: ${graph.title}`,
          subtitle: `MSS 16 bytes, loopback, semilla 7: ${
            Math.round(run.duration)
          } ms en total, ${run.dropped} datagramas perdidos, ${retx} segmentos de datos retransmitidos`,
        }),
      );
      log(`report: ${graph.file}: ${Math.round(run.duration)} ms`);
    }
    const rows = await measureTimeouts();
    text = replaceBetweenMarkers(text, "medidas", measurementTable(rows));
    log(`report: measurements: ${rows.length} transfers`);
  }
  await Deno.writeTextFile(REPORT_PATH, text);
  log(`report: wrote ${REPORT_PATH}`);
}

const USAGE = `Usage: deno task report [--case ID] [--no-measure] [--list]

Runs the cases of the report over loopback UDP, each with exactly one fault
forced, and rewrites the generated parts of docs/informe.md (the diagrams,
the measured timeouts) and the graphs docs/stevens-*.svg.

Options:
  --case ID      run only this case and print its diagram (Markdown) to stdout
  --trace FILE   with --case: also write the merged trace (JSON lines) to FILE
  --no-measure   skip the timeout measurements and the graphs (fast)
  --list         list the cases
  -h, --help     show this help

Example:
  deno task report --case handshake-ack-lost
`;

/** The command line: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        case: { type: "string" },
        trace: { type: "string" },
        "no-measure": { type: "boolean" },
        list: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const s of SCENARIOS) console.log(`${s.id.padEnd(26)} ${s.title}`);
    return 0;
  }
  if (values.case !== undefined) {
    if (!SCENARIOS.some((s) => s.id === values.case)) {
      console.error(`report: unknown case "${values.case}"; try --list`);
      return 2;
    }
    const run = await runScenario(values.case);
    console.log(`## ${run.scenario.title}\n\n${scenarioSection(run)}`);
    if (values.trace) {
      await Deno.writeTextFile(
        values.trace,
        run.events.map((e) => JSON.stringify(e)).join("\n") + "\n",
      );
    }
    console.error(
      `report: ${run.scenario.id}: received ${
        JSON.stringify(run.received)
      } (${run.received.length} bytes, as sent), ${run.dropped} segment(s) dropped, ${
        Math.round(run.duration)
      } ms`,
    );
    return 0;
  }
  await writeReport({ measure: !values["no-measure"], log: (line) => console.error(line) });
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
