/**
 * The cases of the report, run for real: a client and a server
 * {@linkcode SocketTCP} talk in this process while a {@linkcode FaultInjector}
 * forces exactly the faults of the case (or none). Each run returns the trace
 * events of both ends, merged by time, and the command that reproduces it.
 *
 * Where the time comes from is one swappable piece, a {@linkcode TimeSource}
 * (`virtual_time.ts`): by default {@linkcode virtualTime}, a virtual clock
 * and an in-memory network with a fixed latency, so that every run of a case
 * gives the same events at the same times on any machine, and the report's
 * 7 s of timeouts take milliseconds; with `--real-time`, the wall clock and
 * loopback UDP, to check that a real run draws the same diagrams.
 *
 * The timeouts are fixed and the initial sequence number too, so that every
 * run of a case draws the same diagram, in virtual time and in real time. The
 * server's timeout (80 ms) is longer than the client's (50 ms): when both
 * ends wait at once, the client's timer always fires first, and the order of
 * the segments does not depend on a race between two timers.
 *
 * @example Run the case where the SYN+ACK is lost
 * ```ts
 * import assert from "node:assert/strict";
 * import { runScenario } from "./scenarios.ts";
 * const run = await runScenario("syn-ack-lost");
 * assert.equal(run.received, run.sent);
 * assert.equal(run.command, "deno task report --case syn-ack-lost");
 * assert.equal(run.dropped, 1);
 * ```
 *
 * @module
 */
import { parseArguments, parseCommandLine, Sha256, UsageError } from "./cli.ts";
import { FaultInjector, type FaultRule } from "./faults.ts";
import { type Addr, type DatagramLink, type LinkWrapper, udpLink } from "./link.ts";
import { concatBytes, parseSegment, segmentKind } from "./segment.ts";
import { SocketTCP } from "./socket_tcp.ts";
import type { Arq } from "./connection.ts";
import type { CongestionControl } from "./congestion.ts";
import type { TraceEvent } from "./trace.ts";
import { buildModel, renderMermaid, type Step } from "./diagram.ts";
import { traceToSvg } from "./plot.ts";
import { udpDatagrams, UdpReception } from "./udp_mode.ts";
import { realTime, type TimeSource, virtualTime } from "./virtual_time.ts";

export { realTime, type TimeSource, virtualTime };

/** The message every case sends: 20 bytes, so one segment of 16 bytes and one of 4. */
export const SCENARIO_MESSAGE = "Hola, mundo TCP!!!!!";

/** The client's fixed timeout in the cases, in ms. */
export const CLIENT_TIMEOUT = 50;
/** The server's fixed timeout in the cases, in ms (longer than the client's: see the module doc). */
export const SERVER_TIMEOUT = 80;

/** How long the ends of a case wait while the other sends nothing, in ms (30 000 by default in `SocketTCP`). */
export const SCENARIO_IDLE_TIMEOUT = 2000;

/** A datagram the network delivers late: the nth of its kind sent, counted across both ends. */
export interface LateRule {
  /** A segment kind (`SYN`, `SYN+ACK`, `ACK`, `DATA`, `FIN`, `FIN+ACK`). */
  kind: string;
  /** 1-based. */
  nth: number;
  /** How long the network holds it, in ms. */
  ms: number;
}

/** How the server's application reads: it waits `pause` ms before each `recv(buffSize)`. */
export interface ServerReads {
  /** Milliseconds before each `recv`. */
  pause: number;
  /** The `buffSize` of each `recv`. */
  buffSize: number;
}

/** One case of the report. */
export interface Scenario {
  /** Short name, used in `--case` and in the report's markers. */
  id: string;
  /** Title in Spanish, as the report's section names it. */
  title: string;
  /** What is forced, in Spanish. */
  fault: string;
  /** The fault rules: each drops or duplicates one segment, counted across both ends (see {@linkcode FaultRule}). */
  rules: FaultRule[];
  /** Segments the network delivers late. */
  late?: LateRule[];
  /** Milliseconds the client waits after `connect` before sending (default 0). */
  pauseAfterConnect?: number;
  /** A slow reader: the server's application waits `pause` ms before each `recv(buffSize)`. */
  serverReads?: ServerReads;
  /** Which part the report's diagram shows: everything, or only from the first FIN on. */
  focus?: "all" | "close";
  /** The name of the error the server's `recvClose` ends with, when it does not end well. */
  serverCloseError?: string;
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
 * (3rd DATA), `ACK` (4th), `FIN`, `FIN+ACK`, `ACK` (5th, then its copies,
 * 6th and 7th), so "the nth ACK sent" names one segment of the run exactly.
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
    id: "ack-duplicated",
    title: "La red duplica un ACK",
    fault: "la red entrega dos veces el 3.er ACK (el que confirma los primeros 16 bytes)",
    rules: [{ direction: "out", kind: "ACK", nth: 3, action: "duplicate" }],
  },
  {
    id: "ack-late",
    title: "Un ACK llega tarde (reordenado)",
    fault:
      "la red demora 75 ms el 3.er ACK (el que confirma los primeros 16 bytes), más que el timeout del cliente (50 ms)",
    rules: [],
    late: [{ kind: "ACK", nth: 3, ms: 75 }],
  },
  {
    id: "slow-reader",
    title: "El receptor lee lento (control de flujo)",
    fault:
      "la aplicación del servidor espera 125 ms antes de cada `recv(16)`: no hay espacio para el 3.er DATA hasta que lee (no se pierde ningún segmento)",
    rules: [],
    serverReads: { pause: 125, buffSize: 16 },
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
  {
    id: "all-fins-lost",
    title: "Se pierden los 3 FIN",
    fault: "se descartan el 1.er, 2.º y 3.er FIN",
    rules: [drop("FIN", 1), drop("FIN", 2), drop("FIN", 3)],
    focus: "close",
    serverCloseError: "PeerTimeoutError",
  },
  {
    id: "all-last-acks-lost",
    title: "Se pierden todas las copias del último ACK",
    fault:
      "se descartan el 5.º, 6.º, 7.º y 8.º ACK (las tres copias del último ACK y la respuesta al FIN+ACK repetido)",
    rules: [drop("ACK", 5), drop("ACK", 6), drop("ACK", 7), drop("ACK", 8)],
    focus: "close",
  },
];

/** The result of one run. */
export interface ScenarioRun {
  /** The case. */
  scenario: Scenario;
  /** Trace events of the client, the listener and the accepted socket, sorted by time. */
  events: TraceEvent[];
  /** The segments sent that the injector dropped (the diagram draws them lost, even to a peer that said nothing since). */
  lost: ReadonlySet<TraceEvent>;
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
  /** Segments the injector delivered twice. */
  duplicated: number;
  /** Duration of the run, from `connect` to the end of both closes, in ms (virtual or measured). */
  duration: number;
  /** How the server's `recvClose` ended: `undefined` when well, else the error's name and message. */
  serverCloseError?: string;
  /** True when the run's times are virtual (computed), false when measured. */
  virtual: boolean;
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
  /** How the server's application reads (default: the whole message at once, at once). */
  serverReads?: ServerReads;
  /** Retransmissions before giving up. Default 20. */
  maxRetries?: number;
  /** How long `recv` and `recvClose` wait while the peer sends nothing, in ms. Default 30 000. */
  idleTimeout?: number;
  /** Segments in flight, of both ends (`SocketTCPOptions.window`). Default 1: Stop & Wait. */
  window?: number;
  /** Loss recovery of a window. Default `go-back-n`. */
  arq?: Arq;
  /** Congestion control of both ends. Default `none`. */
  congestion?: CongestionControl;
}

/** The result of {@linkcode runTransfer}. */
export interface TransferResult {
  /** Trace events of both ends, sorted by time. */
  events: TraceEvent[];
  /** The bytes the server received. */
  received: Uint8Array;
  /** The listener's address, `host:port`. */
  listener: string;
  /** Duration from `connect` to the end of both closes, in ms, by `performance.now()`. */
  duration: number;
  /** Duration of `send` alone, in ms (client side). */
  sendDuration: number;
  /** The error the server's `recvClose` ended with, as `Name: message`, if any. */
  serverCloseError?: string;
}

/**
 * Runs one connection: the client connects, sends `message` and closes (host
 * A); the server accepts, receives the whole message and calls `recvClose`
 * (host B). Every socket is closed before it returns. It reads the time from
 * `performance.now()` and the network through `link`: run it under a
 * {@linkcode TimeSource} to choose both.
 *
 * @throws whatever a socket throws (a {@linkcode PeerTimeoutError} when the
 * retries run out), except an error of the server's `recvClose`, which is
 * returned in `serverCloseError`.
 */
export async function runTransfer(options: TransferOptions): Promise<TransferResult> {
  const events: TraceEvent[] = [];
  const onTrace = (event: TraceEvent) => events.push(event);
  const random = options.random ?? (() => 0.5);
  const common = {
    link: options.link,
    onTrace,
    random,
    maxRetries: options.maxRetries,
    idleTimeout: options.idleTimeout,
    window: options.window,
    arq: options.arq,
    congestion: options.congestion,
  };
  await using listener = new SocketTCP({ ...common, timeout: options.serverTimeout });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const address = listener.localAddr;
  const started = performance.now();
  let sendDuration = 0;
  let serverCloseError: string | undefined;

  const server = async (): Promise<Uint8Array> => {
    const [socket] = await listener.accept();
    try {
      const chunks: Uint8Array[] = [];
      let total = 0;
      // recv returns min(message length, buffSize) bytes: the whole message
      // here, unless the server reads slowly.
      const reads = options.serverReads;
      while (total < options.message.length || chunks.length === 0) {
        if (reads) await new Promise((resolve) => setTimeout(resolve, reads.pause));
        const chunk = await socket.recv(reads?.buffSize ?? (options.message.length || 1));
        chunks.push(chunk);
        total += chunk.length;
        if (chunk.length === 0) break;
      }
      try {
        await socket.recvClose();
      } catch (error) {
        serverCloseError = `${(error as Error).name}: ${(error as Error).message}`;
      }
      return concatBytes(chunks);
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
    serverCloseError,
  };
}

/**
 * A link wrapper that makes the network deliver some datagrams late: each
 * {@linkcode LateRule} holds the nth segment of its kind that arrives
 * (counted across every link it wraps) for `ms` before the socket reads it.
 * The datagram is held at the receiver, so it still arrives when its sender
 * has closed meanwhile, as in a real network; it is discarded if the receiver
 * closes first. The delay goes through `setTimeout`, so it is virtual under
 * {@linkcode virtualTime}.
 *
 * @example Hold the first SYN for 30 ms (virtual)
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpLink } from "./link.ts";
 * import { createSegment } from "./segment.ts";
 * import { lateLinks, virtualTime } from "./scenarios.ts";
 * const time = virtualTime();
 * const late = lateLinks([{ kind: "SYN", nth: 1, ms: 30 }]);
 * const at = await time.run(async () => {
 *   const a = time.link!(udpLink({ hostname: "127.0.0.1", port: 0 }));
 *   const b = late(time.link!(udpLink({ hostname: "127.0.0.1", port: 0 })));
 *   const syn = createSegment({ syn: true, ack: false, fin: false, seq: 1, data: new Uint8Array() });
 *   await a.send(syn, b.localAddr);
 *   await b.receive(new Uint8Array(64));
 *   a.close();
 *   b.close();
 *   return performance.now();
 * });
 * assert.equal(Math.round(at * 100) / 100, 31.17); // 20 µs on the wire, then 30 ms held (plus Deno's timer lag)
 * ```
 */
export function lateLinks(rules: readonly LateRule[]): LinkWrapper {
  const counts = new Map<string, number>();
  return (inner: DatagramLink): DatagramLink => {
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const ready: [Uint8Array, Addr][] = [];
    let wake: (() => void) | undefined;
    let reading: Promise<[Uint8Array, Addr]> | undefined;
    const classify = ([data, from]: [Uint8Array, Addr]) => {
      let kind = "INVALID";
      try {
        kind = segmentKind(parseSegment(data));
      } catch {
        // Not a segment: no rule applies.
      }
      const count = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, count);
      const rule = rules.find((r) => r.kind === kind && r.nth === count);
      if (!rule) {
        ready.push([data, from]);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        ready.push([data, from]);
        wake?.();
      }, rule.ms);
      timers.add(timer);
    };
    return {
      localAddr: inner.localAddr,
      send: (data, to) => inner.send(data, to),
      async receive(buffer) {
        while (ready.length === 0) {
          reading ??= inner.receive(new Uint8Array(65536)).then(([d, a]) => [d.slice(), a]);
          const woken = new Promise<undefined>((resolve) => wake = () => resolve(undefined));
          const got = await Promise.race([reading, woken]);
          wake = undefined;
          if (got) {
            reading = undefined;
            classify(got);
          }
        }
        const [data, from] = ready.shift()!;
        const n = Math.min(buffer.length, data.length);
        buffer.set(data.subarray(0, n));
        return [buffer.subarray(0, n), from];
      },
      close() {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        inner.close();
      },
    };
  };
}

/** Stacks link wrappers: the first is closest to the socket, the last closest to the network. */
function stack(...wrappers: (LinkWrapper | undefined)[]): LinkWrapper {
  return (raw) => wrappers.reduceRight((link, wrap) => wrap ? wrap(link) : link, raw);
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
 * Runs one case of the report with its faults forced, by default in virtual
 * time, and checks its outcome: the server received exactly the message, the
 * injector dropped and duplicated what the rules say, and the server's
 * `recvClose` ended as the case expects.
 *
 * @throws {Error} when the outcome differs.
 */
export async function runScenario(
  id: string,
  options: { time?: TimeSource } = {},
): Promise<ScenarioRun> {
  const scenario = findScenario(id);
  const time = options.time ?? virtualTime();
  const faults = new FaultInjector({ seed: 1, rules: scenario.rules });
  const message = new TextEncoder().encode(SCENARIO_MESSAGE);
  const late = scenario.late?.length ? lateLinks(scenario.late) : undefined;
  const result = await time.run(() =>
    runTransfer({
      message,
      clientTimeout: CLIENT_TIMEOUT,
      serverTimeout: SERVER_TIMEOUT,
      link: stack(faults.wrap, late, time.link),
      pauseAfterConnect: scenario.pauseAfterConnect,
      serverReads: scenario.serverReads,
      idleTimeout: SCENARIO_IDLE_TIMEOUT,
    })
  );
  const received = new TextDecoder().decode(result.received);
  const fail = (what: string) => new Error(`Case ${id}: ${what}`);
  if (received !== SCENARIO_MESSAGE) {
    throw fail(
      `the server received ${JSON.stringify(received)}, expected ${
        JSON.stringify(SCENARIO_MESSAGE)
      }`,
    );
  }
  const count = (action: string) => scenario.rules.filter((r) => r.action === action).length;
  const { dropped, duplicated } = faults.stats.out;
  if (dropped !== count("drop") || duplicated !== count("duplicate")) {
    throw fail(
      `the injector dropped ${dropped} and duplicated ${duplicated} segments, expected ${
        count("drop")
      } and ${count("duplicate")}`,
    );
  }
  const closeError = result.serverCloseError?.split(":")[0];
  if (closeError !== scenario.serverCloseError) {
    throw fail(
      `the server's recvClose ended with ${result.serverCloseError ?? "no error"}, expected ${
        scenario.serverCloseError ?? "no error"
      }`,
    );
  }
  // The injector sits right under each socket: its nth decision is the nth segment sent.
  const sends = result.events.filter((e) => e.kind === "send");
  const decisions = faults.log.filter((entry) => entry.direction === "out");
  const lost = new Set<TraceEvent>();
  if (sends.length !== decisions.length) {
    throw fail(`${sends.length} segments traced as sent, but the injector saw ${decisions.length}`);
  }
  sends.forEach((e, i) => {
    if (decisions[i].action === "drop") lost.add(e);
  });
  return {
    scenario,
    events: result.events,
    lost,
    command: `deno task report --case ${id}`,
    sent: SCENARIO_MESSAGE,
    received,
    listener: result.listener,
    dropped,
    duplicated,
    duration: result.duration,
    serverCloseError: result.serverCloseError,
    virtual: time.virtual,
  };
}

/**
 * A segment counts as late when it spent longer than this in the network, in
 * ms: above the cases' one-way delay (at most 5 ms), below the one case that
 * holds a segment (75 ms), and above what a loaded machine adds on the wall
 * clock (the real-time test once saw a SYN+ACK take more than 10 ms there).
 */
const LATE_MS = 25;

/**
 * The diagram of a case as the report draws it: participants named by role,
 * for the close cases only the steps from the first FIN on, and a segment
 * the network delivered late drawn where it arrived, with a note where it
 * left.
 */
export function scenarioDiagram(run: ScenarioRun): string {
  const fin = run.events.find((e) => e.kind === "send" && e.flags === "FIN");
  const since = run.scenario.focus === "close" ? fin?.time : undefined;
  const model = buildModel(run.events, { hidePorts: true });
  for (const step of model.steps) {
    if (step.type === "segment" && step.send && run.lost.has(step.send)) step.fate = "lost";
  }
  const marker = (n: number) => `@@late-${n}@@`;
  const notes: string[] = [];
  for (const step of [...model.steps]) {
    if (step.type !== "segment" || !step.send || !step.recv) continue;
    const transit = step.recv.time - step.send.time;
    if (transit <= LATE_MS) continue;
    const what = `${step.flags} seq=${step.seq}`;
    const left: Step = { ...step, type: "timeout", flags: marker(notes.length), seq: 0 };
    notes.push(`    Note over ${step.from.id},${step.to.id}: sale ${what}, pero la red lo demora`);
    const arrived: Step = { ...step, type: "timeout", flags: marker(notes.length), seq: 0 };
    notes.push(
      `    Note over ${step.from.id},${step.to.id}: ${what} llega tarde, después de segmentos más nuevos`,
    );
    model.steps.splice(model.steps.indexOf(step), 1, left);
    // Where it arrived: after every step up to its reception.
    const at = model.steps.findIndex((s) => s.time > step.recv!.time);
    const index = at < 0 ? model.steps.length : at;
    model.steps.splice(index, 0, { ...step, time: step.recv.time }, arrived);
  }
  let text = renderMermaid(model, { hidePorts: true, since });
  notes.forEach((note, n) => {
    text = text.replace(new RegExp(`^.*${marker(n)}.*$`, "m"), note);
  });
  return text;
}

/** What a case's section says of how the server's `recvClose` ended, in Spanish, or nothing. */
function closeOutcome(run: ScenarioRun): string[] {
  if (!run.serverCloseError) return [];
  const name = run.serverCloseError.split(":")[0];
  return [
    "",
    `Al final, \`recvClose\` del servidor termina con \`${name}\`: no recibió nada durante \`idleTimeout\` (${
      SCENARIO_IDLE_TIMEOUT / 1000
    } s en estas corridas; 30 s por omisión).`,
  ];
}

/** The text the report puts between a case's markers: the fault, the diagram and the command. */
export function scenarioSection(run: ScenarioRun): string {
  return [
    `Falla forzada: ${run.scenario.fault}. Reproducir: \`${run.command}\``,
    "",
    scenarioDiagram(run).trimEnd(),
    ...closeOutcome(run),
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

/** The file of the plain-UDP cases (step 1 of the assignment): 45 ASCII bytes, 3 datagrams of data. */
export const UDP_MESSAGE = "Paso 1: UDP sin ACK, sin reenvio, sin orden.\n";

/** One plain-UDP case: what the network does to the client's datagrams. */
export interface UdpCase {
  /** Short name. */
  id: string;
  /** What happens, in Spanish. */
  fault: string;
  /** The fate of the nth datagram the client sends (1-based; 1 is the length, 2-4 the SHA-256, 5-7 the data). */
  actions: ReadonlyMap<number, "drop" | "duplicate" | "late">;
}

/** The plain-UDP cases of the report, in its order. */
export const UDP_CASES: readonly UdpCase[] = [
  { id: "udp-ok", fault: "ninguna", actions: new Map() },
  {
    id: "udp-lost",
    fault: "se pierde el 2.º datagrama de datos",
    actions: new Map([[6, "drop"]]),
  },
  {
    id: "udp-duplicated",
    fault: "la red duplica el 1.er datagrama de datos",
    actions: new Map([[5, "duplicate"]]),
  },
  {
    id: "udp-late",
    fault: "el 1.er datagrama de datos llega después del 2.º",
    actions: new Map([[5, "late"]]),
  },
  {
    id: "udp-length-lost",
    fault: "se pierde el 1.er datagrama (el del largo)",
    actions: new Map([[1, "drop"]]),
  },
];

/** What the server of a plain-UDP case wrote and said. */
export interface UdpRun {
  /** The case. */
  udpCase: UdpCase;
  /** The bytes written, as text. */
  written: string;
  /** `servidor.ts --udp`'s verdict: `arrived intact` or `arrived damaged`, and why. */
  verdict: string;
  /** Datagrams received. */
  datagrams: number;
}

/**
 * Runs a plain-UDP case in virtual time: the datagrams of `cliente.ts --udp`
 * ({@linkcode udpDatagrams}: the length, the SHA-256 in 3 parts, the data in
 * chunks of 15 bytes) cross the network with the case's faults and are read by
 * `servidor.ts --udp`'s {@linkcode UdpReception}, which ends the transfer when
 * the announced bytes arrived or after 1 s of silence.
 *
 * @example A lost datagram leaves a hole in the file
 * ```ts
 * import assert from "node:assert/strict";
 * import { runUdpCase, UDP_CASES } from "./scenarios.ts";
 * const run = await runUdpCase(UDP_CASES[1]);
 * assert.equal(
 *   run.verdict,
 *   "arrived damaged: received 30 of 45 bytes; SHA-256 differs from the sender's",
 * );
 * ```
 */
export async function runUdpCase(
  udpCase: UdpCase,
  time: TimeSource = virtualTime(),
): Promise<UdpRun> {
  const file = new TextEncoder().encode(UDP_MESSAGE);
  const hash = new Sha256();
  hash.update(file);
  const datagrams = udpDatagrams(file, hash.bytes(), 16);
  const wrap = time.link ?? ((link: DatagramLink) => link);
  return await time.run(async () => {
    const server = wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
    const client = wrap(udpLink({ hostname: "127.0.0.1", port: 0 }));
    const reception = new UdpReception(16);
    const parts: Uint8Array[] = [];
    const idle = 1000;
    try {
      let late: Uint8Array | undefined;
      for (const [i, datagram] of datagrams.entries()) {
        const action = udpCase.actions.get(i + 1);
        if (action === "drop") continue;
        if (action === "late") {
          late = datagram;
          continue;
        }
        await client.send(datagram, server.localAddr);
        if (action === "duplicate") await client.send(datagram, server.localAddr);
        if (late) {
          await client.send(late, server.localAddr);
          late = undefined;
        }
      }
      const buffer = new Uint8Array(65536);
      while (!reception.settled) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const silence = new Promise<undefined>((resolve) =>
          timer = setTimeout(() => resolve(undefined), idle)
        );
        const got = await Promise.race([server.receive(buffer), silence]);
        clearTimeout(timer);
        if (!got) break;
        parts.push(reception.onDatagram(got[0]).slice());
      }
    } finally {
      client.close();
      server.close();
    }
    const result = reception.finish();
    return {
      udpCase,
      written: new TextDecoder().decode(concatBytes(parts)),
      verdict: `${result.intact ? "arrived intact" : "arrived damaged"}: ${result.verdict}`,
      datagrams: reception.datagrams,
    };
  });
}

/** The report's table of the plain-UDP cases. */
export function udpTable(runs: readonly UdpRun[]): string {
  const cell = (text: string) => "`" + JSON.stringify(text).slice(1, -1) + "`";
  const lines = [
    "| Falla | Datagramas recibidos | Lo que el servidor escribe | Lo que dice `servidor.ts --udp` |",
    "|---|---:|---|---|",
  ];
  for (const run of runs) {
    lines.push(
      `| ${run.udpCase.fault} | ${run.datagrams} | ${cell(run.written)} | ${run.verdict} |`,
    );
  }
  return lines.join("\n");
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
  /** Segments sent again by both ends because an answer did not come in time. */
  retransmissions: number;
  /** The 2 deliberate copies of the last ACK: not retransmissions, counted apart. */
  lastAckCopies: number;
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
 * Sends `bytes` bytes with `loss` of every datagram lost (both directions,
 * seeded), with a fixed timeout or the adaptive one, by default in virtual
 * time, and checks the bytes received.
 *
 * @throws {Error} when the server received other bytes.
 */
export async function lossyTransfer(
  options: {
    bytes: number;
    loss: number;
    seed: number;
    timeout?: number;
    time?: TimeSource;
    window?: number;
    arq?: Arq;
    congestion?: CongestionControl;
  },
): Promise<TransferResult & { dropped: number }> {
  const time = options.time ?? virtualTime();
  const faults = new FaultInjector({ seed: options.seed, out: { loss: options.loss }, log: false });
  const message = testMessage(options.bytes);
  const result = await time.run(() =>
    runTransfer({
      message,
      clientTimeout: options.timeout,
      serverTimeout: options.timeout,
      link: stack(faults.wrap, time.link),
      maxRetries: 40,
      window: options.window,
      arq: options.arq,
      congestion: options.congestion,
    })
  );
  if (
    result.received.length !== message.length || !result.received.every((b, i) => b === message[i])
  ) {
    throw new Error(
      `Lossy transfer (seed ${options.seed}): received ${result.received.length} bytes that differ from the ${message.length} sent`,
    );
  }
  return { ...result, dropped: faults.stats.out.dropped };
}

/**
 * Measures a 4 KiB transfer at 10 % loss with a fixed 100 ms timeout and
 * with the adaptive one, by default in virtual time.
 */
export async function measureTimeouts(
  seeds: number[] = [1, 2, 3, 4, 5],
  time: () => TimeSource = virtualTime,
): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const [mode, timeout] of [["fijo 100 ms", 100], ["adaptativo", undefined]] as const) {
    for (const seed of seeds) {
      const run = await lossyTransfer({ bytes: 4096, loss: 0.1, seed, timeout, time: time() });
      const sends = run.events.filter((e) => e.kind === "send");
      const fin = sends.findIndex((e) => e.flags === "FIN");
      out.push({
        mode,
        seed,
        sendMs: run.sendDuration,
        totalMs: run.duration,
        retransmissions: sends.filter((e) => e.retransmission).length,
        lastAckCopies: sends.slice(fin).filter((e) => e.lastAckCopy).length,
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
    "| Timeout | Semilla | Tiempo de `send` (ms) | Tiempo total (ms) | Datagramas perdidos | Timeouts | Retransmisiones | Copias del último ACK (aparte) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const r0 = (n: number) => Math.round(n).toString();
  for (const m of rows) {
    lines.push(
      `| ${m.mode} | ${m.seed} | ${r0(m.sendMs)} | ${
        r0(m.totalMs)
      } | ${m.dropped} | ${m.timeouts} | ${m.retransmissions} | ${m.lastAckCopies} |`,
    );
  }
  for (const mode of [...new Set(rows.map((r) => r.mode))]) {
    const mine = rows.filter((r) => r.mode === mode);
    const mean = (f: (m: Measurement) => number) =>
      mine.reduce((a, m) => a + f(m), 0) / mine.length;
    const m1 = (f: (m: Measurement) => number) => mean(f).toFixed(1);
    lines.push(
      `| **${mode}, media** | | **${r0(mean((m) => m.sendMs))}** | **${
        r0(mean((m) => m.totalMs))
      }** | ${m1((m) => m.dropped)} | ${m1((m) => m.timeouts)} | ${
        m1((m) => m.retransmissions)
      } | ${m1((m) => m.lastAckCopies)} |`,
    );
  }
  return lines.join("\n");
}

/**
 * One run of the report's chapter on the sliding window: a lossy transfer
 * with a window, an ARQ and a congestion control, seeded, in virtual time
 * over a network of {@linkcode WINDOW_LATENCY} ms each way.
 */
export interface WindowCase {
  /** Short name, used in `--case`. */
  id: string;
  /** The mode, as the report's table names it. */
  name: string;
  /** Segments in flight at most. */
  window: number;
  /** Loss recovery. */
  arq: Arq;
  /** Congestion control. */
  congestion: CongestionControl;
  /** Bytes sent. */
  bytes: number;
  /** Loss of every datagram, each way, 0..1 (seeded by {@linkcode WINDOW_SEED}). */
  loss: number;
  /** The graph's file. */
  file: string;
  /** The graph's title, in Spanish. */
  title: string;
}

/** Seed of the losses of every run of the sliding-window chapter. */
export const WINDOW_SEED = 7;
/** One-way latency of the virtual network in the sliding-window chapter, in ms: a 10 ms round trip, so that pipelining shows. */
export const WINDOW_LATENCY = 5;
/** Fixed retransmission timeout of both ends in the sliding-window chapter, in ms. */
export const WINDOW_TIMEOUT = 100;

/** The sliding-window chapter's runs: three ARQs on the same losses, then Tahoe and Reno. */
export const WINDOW_CASES: readonly WindowCase[] = [
  {
    id: "arq-sw",
    name: "Stop & Wait",
    window: 1,
    arq: "go-back-n",
    congestion: "none",
    bytes: 2048,
    loss: 0.05,
    file: "docs/ventana-stop-and-wait.svg",
    title: "Stop & Wait (ventana 1)",
  },
  {
    id: "arq-gbn",
    name: "Go-Back-N",
    window: 8,
    arq: "go-back-n",
    congestion: "none",
    bytes: 2048,
    loss: 0.05,
    file: "docs/ventana-go-back-n.svg",
    title: "Go-Back-N, ventana 8",
  },
  {
    id: "arq-sr",
    name: "Selective Repeat",
    window: 8,
    arq: "selective-repeat",
    congestion: "none",
    bytes: 2048,
    loss: 0.05,
    file: "docs/ventana-selective-repeat.svg",
    title: "Selective Repeat, ventana 8",
  },
  {
    id: "cc-tahoe",
    name: "Tahoe",
    window: 32,
    arq: "selective-repeat",
    congestion: "tahoe",
    bytes: 8192,
    loss: 0.02,
    file: "docs/cwnd-tahoe.svg",
    title: "TCP Tahoe: Selective Repeat, ventana máxima 32",
  },
  {
    id: "cc-reno",
    name: "Reno",
    window: 32,
    arq: "selective-repeat",
    congestion: "reno",
    bytes: 8192,
    loss: 0.02,
    file: "docs/cwnd-reno.svg",
    title: "TCP Reno: Selective Repeat, ventana máxima 32",
  },
];

/** The result of {@linkcode runWindowCase}. */
export interface WindowRun {
  /** The case. */
  windowCase: WindowCase;
  /** Trace events of both ends, by time. */
  events: TraceEvent[];
  /** The command that runs it again. */
  command: string;
  /** From the first SYN to the client's first FIN (every byte acknowledged), in ms. */
  transferMs: number;
  /** Datagrams sent by both ends, handshake and close included. */
  datagrams: number;
  /** DATA segments sent again (by timeout or fast retransmit). */
  retransmissions: number;
  /** Of those, the ones sent on the third duplicate ACK. */
  fastRetransmits: number;
  /** Retransmission timeouts of the sender during the data. */
  timeouts: number;
  /** Datagrams the seeded losses dropped. */
  dropped: number;
  /** The largest congestion window of the sender, in segments (with congestion control). */
  peakCwnd?: number;
}

/** Finds a case of the sliding-window chapter. */
function findWindowCase(id: string): WindowCase | undefined {
  return WINDOW_CASES.find((c) => c.id === id);
}

/**
 * Runs one case of the sliding-window chapter, by default in virtual time
 * over a network of {@linkcode WINDOW_LATENCY} ms each way, and checks the
 * bytes received.
 *
 * @example Selective Repeat resends far fewer segments than Go-Back-N on the same losses
 * ```ts
 * import assert from "node:assert/strict";
 * import { runWindowCase } from "./scenarios.ts";
 * const gbn = await runWindowCase("arq-gbn");
 * const sr = await runWindowCase("arq-sr");
 * assert.equal(gbn.command, "deno task report --case arq-gbn");
 * assert.ok(sr.retransmissions * 2 < gbn.retransmissions);
 * assert.ok(sr.transferMs < gbn.transferMs);
 * ```
 */
export async function runWindowCase(id: string, time?: TimeSource): Promise<WindowRun> {
  const windowCase = findWindowCase(id);
  if (!windowCase) {
    throw new RangeError(
      `Unknown case "${id}", expected one of: ${WINDOW_CASES.map((c) => c.id).join(", ")}`,
    );
  }
  const run = await lossyTransfer({
    bytes: windowCase.bytes,
    loss: windowCase.loss,
    seed: WINDOW_SEED,
    timeout: WINDOW_TIMEOUT,
    time: time ?? virtualTime({ latency: WINDOW_LATENCY }),
    window: windowCase.window,
    arq: windowCase.arq,
    congestion: windowCase.congestion,
  });
  const events = run.events;
  const sends = events.filter((e) => e.kind === "send");
  const data = sends.filter((e) => e.flags === "DATA");
  const sender = data[0]?.local;
  const fin = sends.find((e) => e.flags === "FIN");
  const cwnds = events.filter((e) => e.local === sender && e.cwnd !== undefined).map((e) =>
    e.cwnd!
  );
  const dataTimeouts = events.filter((e) =>
    e.kind === "timeout" && e.local === sender && e.flags === "DATA"
  );
  return {
    windowCase,
    events,
    command: `deno task report --case ${id}`,
    transferMs: (fin?.time ?? events[events.length - 1].time) - events[0].time,
    datagrams: sends.length,
    retransmissions: data.filter((e) => e.retransmission).length,
    fastRetransmits: data.filter((e) => e.fastRetransmit).length,
    timeouts: dataTimeouts.length,
    dropped: run.dropped,
    peakCwnd: cwnds.length > 0 ? Math.max(...cwnds) : undefined,
  };
}

/** The time-sequence graph of a sliding-window run, with cwnd under it when there is congestion control. */
export function windowSvg(run: WindowRun): string {
  const c = run.windowCase;
  return traceToSvg(run.events, {
    title: c.title,
    subtitle: `${c.bytes} bytes, ${
      Math.round(c.loss * 100)
    } % de pérdidas (semilla ${WINDOW_SEED}), RTT 10 ms: ${run.dropped} perdidos, ${run.retransmissions} DATA retransmitidos`,
    // Side by side in the report: narrower, the same height.
    width: c.congestion === "none" ? 720 : 960,
  });
}

/** The chapter's table comparing the three ARQs on the same losses. */
export function arqTable(runs: readonly WindowRun[]): string {
  const lines = [
    "| Modo | Ventana | Tiempo hasta el FIN (ms) | Datagramas enviados | Datagramas perdidos | Retransmisiones de DATA | de ellas, fast retransmit | Timeouts | Comando |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.windowCase.name} | ${r.windowCase.window} | ${
        Math.round(r.transferMs)
      } | ${r.datagrams} | ${r.dropped} | ${r.retransmissions} | ${r.fastRetransmits} | ${r.timeouts} | \`${r.command}\` |`,
    );
  }
  return lines.join("\n");
}

/** The chapter's table of the congestion-control runs. */
export function congestionTable(runs: readonly WindowRun[]): string {
  const lines = [
    "| Control | Tiempo hasta el FIN (ms) | Datagramas enviados | Datagramas perdidos | Retransmisiones de DATA | Fast retransmit (3 ACK duplicados) | Timeouts | cwnd máxima (segmentos) | Comando |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.windowCase.name} | ${
        Math.round(r.transferMs)
      } | ${r.datagrams} | ${r.dropped} | ${r.retransmissions} | ${r.fastRetransmits} | ${r.timeouts} | ${
        r.peakCwnd === undefined ? "—" : fmtSegments(r.peakCwnd)
      } | \`${r.command}\` |`,
    );
  }
  return lines.join("\n");
}

/** A window in segments, with at most one decimal. */
function fmtSegments(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** What `--case ID` prints for a sliding-window case: its row and where its graph goes. */
function windowSection(run: WindowRun): string {
  const table = run.windowCase.congestion === "none" ? arqTable([run]) : congestionTable([run]);
  return `${table}\n\nGráfico: \`${run.windowCase.file}\` (lo escribe \`deno task report\`).`;
}

/** Where the report lives. */
export const REPORT_PATH = "docs/informe.md";

/** One time-sequence graph of the report. */
export interface Graph {
  /** Where it is written. */
  file: string;
  /** Loss of every datagram, 0..1. */
  loss: number;
  /** Fixed timeout in ms, or adaptive when absent. */
  timeout?: number;
  /** What the graph shows, in Spanish. */
  title: string;
}

/** The report's time-sequence graphs: one transfer of 1 KiB each, seed 7. */
export const GRAPHS: readonly Graph[] = [
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
    title: "1 KiB con 10 % de pérdidas, timeout adaptativo (RFC 6298)",
  },
];

/** Draws one of the report's graphs, by default in virtual time. */
export async function graphSvg(graph: Graph, time: TimeSource = virtualTime()): Promise<string> {
  const run = await lossyTransfer({
    bytes: 1024,
    loss: graph.loss,
    seed: 7,
    timeout: graph.timeout,
    time,
  });
  const retx = run.events.filter((e) => e.kind === "send" && e.retransmission && e.flags === "DATA")
    .length;
  return traceToSvg(run.events, {
    title: `Stop & Wait: ${graph.title}`,
    subtitle: `MSS 16 bytes, semilla 7, ${
      time.virtual ? "tiempo virtual (loopback: 20 µs por sentido)" : "loopback, medido"
    }: ${run.dropped} datagramas perdidos, ${retx} segmentos de datos retransmitidos`,
  });
}

/** The generated parts of the report, keyed by marker, and the graphs, keyed by file. */
export interface Generated {
  /** Text between each marker pair of the report. */
  sections: Map<string, string>;
  /** SVG text of each graph file. */
  files: Map<string, string>;
}

/**
 * Computes every generated part of the report: each case's diagram, the
 * plain-UDP table, the measurements and the graphs. In virtual time (the
 * default) it is the same on every run, to the byte.
 */
export async function generateReport(
  options: { time?: () => TimeSource; log?: (line: string) => void } = {},
): Promise<Generated> {
  const time = options.time ?? virtualTime;
  const log = options.log ?? (() => {});
  const sections = new Map<string, string>();
  const files = new Map<string, string>();
  for (const scenario of SCENARIOS) {
    const run = await runScenario(scenario.id, { time: time() });
    sections.set(scenario.id, scenarioSection(run));
    log(`report: ${scenario.id}: ${run.events.length} events, ${Math.round(run.duration)} ms`);
  }
  const udp: UdpRun[] = [];
  for (const udpCase of UDP_CASES) udp.push(await runUdpCase(udpCase, time()));
  sections.set("udp", udpTable(udp));
  for (const graph of GRAPHS) {
    files.set(graph.file, await graphSvg(graph, time()));
    log(`report: ${graph.file}`);
  }
  const rows = await measureTimeouts(undefined, time);
  sections.set("medidas", measurementTable(rows));
  log(`report: measurements: ${rows.length} transfers`);
  const windowRuns: WindowRun[] = [];
  for (const windowCase of WINDOW_CASES) {
    // The chapter's network has its own latency: a factory that ignores it (real time) is used as is.
    const source = options.time ? options.time() : virtualTime({ latency: WINDOW_LATENCY });
    const run = await runWindowCase(windowCase.id, source);
    windowRuns.push(run);
    files.set(windowCase.file, windowSvg(run));
    log(`report: ${windowCase.id}: ${windowCase.file}`);
  }
  sections.set("ventanas", arqTable(windowRuns.filter((r) => r.windowCase.congestion === "none")));
  sections.set(
    "congestion",
    congestionTable(windowRuns.filter((r) => r.windowCase.congestion !== "none")),
  );
  return { sections, files };
}

/**
 * Rewrites the generated parts of the report (`docs/informe.md`) and the
 * graphs (`docs/*.svg`) from {@linkcode generateReport}, in virtual time.
 * A file whose content did not change is not written.
 *
 * @returns the files it wrote.
 */
export async function writeReport(
  options: { log?: (line: string) => void } = {},
): Promise<string[]> {
  const generated = await generateReport({ log: options.log });
  let text = await Deno.readTextFile(REPORT_PATH);
  for (const [id, content] of generated.sections) text = replaceBetweenMarkers(text, id, content);
  const written: string[] = [];
  for (const [file, content] of [[REPORT_PATH, text], ...generated.files]) {
    const before = await Deno.readTextFile(file).catch(() => undefined);
    if (before === content) continue;
    await Deno.writeTextFile(file, content);
    written.push(file);
  }
  return written;
}

const USAGE = `Usage: deno task report [--case ID [--trace FILE]] [--real-time] [--list]

Runs the cases of the report, each with its faults forced, and rewrites the
generated parts of docs/informe.md (the diagrams, the plain-UDP table, the
timeout measurements, the sliding window's tables) and the graphs docs/*.svg.
The cases arq-sw, arq-gbn, arq-sr, cc-tahoe and cc-reno are the sliding-window
chapter's runs (2 or 8 KiB, seeded losses, 10 ms round trip). The runs are in
virtual time (a virtual clock and an in-memory network): the same on every
run, so a second run changes nothing, and the whole report takes under a second.

Options:
  --case ID      run only this case and print its section (Markdown) to stdout
                 (--list names them)
  --trace FILE   with --case: also write the merged trace (JSON lines) to FILE
  --real-time    run on the wall clock over loopback UDP instead: check that
                 every case draws the diagram of the report, and measure the
                 timeouts (writes nothing; measured times go to stderr; ~45 s)
  -q, --quiet    no summary on stderr
  --list         list the cases
  -h, --help     show this help

Example:
  deno task report --case handshake-ack-lost
`;

/** The command line: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = parseCommandLine("report", USAGE, () => {
    const { values } = parseArguments(args, {
      case: { type: "string" },
      trace: { type: "string" },
      "real-time": { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      list: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return "help";
    if (values.trace !== undefined && values.case === undefined) {
      throw new UsageError("--trace needs --case ID");
    }
    if (
      values.case !== undefined && !SCENARIOS.some((s) => s.id === values.case) &&
      !findWindowCase(values.case)
    ) {
      throw new UsageError(`unknown case "${values.case}" (see --list)`);
    }
    return { values };
  });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  if (values.list) {
    for (const s of SCENARIOS) console.log(`${s.id.padEnd(26)} ${s.title}`);
    for (const c of WINDOW_CASES) console.log(`${c.id.padEnd(26)} ${c.title}`);
    return 0;
  }
  const time = values["real-time"] ? realTime : virtualTime;
  if (values.case !== undefined && findWindowCase(values.case)) {
    const run = await runWindowCase(
      values.case,
      values["real-time"] ? realTime() : virtualTime({ latency: WINDOW_LATENCY }),
    );
    console.log(`## ${run.windowCase.title}\n\n${windowSection(run)}`);
    if (values.trace && !(await writeTrace(values.trace, run.events))) return 1;
    if (!values.quiet) {
      console.error(
        `report: ${values.case}: ${run.windowCase.bytes} bytes received as sent, ${run.dropped} datagram(s) dropped, ${run.retransmissions} DATA retransmitted, ${
          Math.round(run.transferMs)
        } ms to the FIN ${values["real-time"] ? "(measured)" : "(virtual time)"}`,
      );
    }
    return 0;
  }
  if (values.case !== undefined) {
    const run = await runScenario(values.case, { time: time() });
    console.log(`## ${run.scenario.title}\n\n${scenarioSection(run)}`);
    if (values.trace && !(await writeTrace(values.trace, run.events))) return 1;
    if (values.quiet) return 0;
    console.error(
      `report: ${run.scenario.id}: received ${
        JSON.stringify(run.received)
      } (${run.received.length} bytes, as sent), ${run.dropped} segment(s) dropped, ${
        Math.round(run.duration)
      } ms ${run.virtual ? "(virtual time)" : "(measured)"}`,
    );
    return 0;
  }
  if (values["real-time"]) return await checkRealTime();
  try {
    await Deno.stat(REPORT_PATH);
  } catch {
    console.error(`report: cannot find ${REPORT_PATH}: run it from the repository's root`);
    return 1;
  }
  // Progress only on a terminal; the summary unless --quiet.
  const progress = Deno.stderr.isTerminal() && !values.quiet;
  const written = await writeReport({ log: progress ? (line) => console.error(line) : undefined });
  if (!values.quiet) {
    console.error(
      written.length === 0
        ? `report: ${REPORT_PATH} and the graphs are up to date`
        : `report: wrote ${written.join(", ")}`,
    );
  }
  return 0;
}

/** Writes a merged trace as JSON lines; says why on stderr and returns false when it cannot. */
async function writeTrace(file: string, events: readonly TraceEvent[]): Promise<boolean> {
  try {
    await Deno.writeTextFile(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    return true;
  } catch (error) {
    console.error(`report: cannot write ${file}: ${(error as Error).message}`);
    return false;
  }
}

/** `--real-time`: every case on the wall clock, compared with the report. */
async function checkRealTime(): Promise<number> {
  const text = await Deno.readTextFile(REPORT_PATH);
  let differ = 0;
  for (const scenario of SCENARIOS) {
    const run = await runScenario(scenario.id, { time: realTime() });
    const same = betweenMarkers(text, scenario.id) === scenarioSection(run);
    if (!same) differ++;
    console.error(
      `report: ${scenario.id}: ${same ? "same diagram as the report" : "DIFFERENT diagram"}, ${
        Math.round(run.duration)
      } ms measured`,
    );
  }
  console.error(
    differ === 0
      ? `report: all ${SCENARIOS.length} cases draw the report's diagrams in real time`
      : `report: ${differ} of ${SCENARIOS.length} cases draw another diagram in real time`,
  );
  console.error("report: measuring the timeouts in real time (about 40 s)…");
  console.error(measurementTable(await measureTimeouts(undefined, realTime)));
  return differ === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
