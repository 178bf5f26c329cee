/**
 * The web lab's cases and the validation of every parameter a page sends
 * (`lab.ts` serves the page; `lab_run.ts` runs the transfer).
 *
 * A run's parameters come from the query string of `POST /api/run`, the
 * same names the page keeps in its own URL, so a shared link and a request
 * are checked by one function, {@linkcode parseRunParams}. Nothing in them
 * names an address: the lab only ever sends between its own loopback sockets.
 *
 * @example A case from a shared link
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ParamError, parseRunParams } from "./lab_params.ts";
 *
 * const params = parseRunParams(new URLSearchParams("case=data-lost"));
 * assert.equal(params.case?.id, "data-lost");
 * assert.equal(params.mss, 16);
 * assert.throws(() => parseRunParams(new URLSearchParams("mss=0")), /mss/);
 * assert.throws(
 *   () => parseRunParams(new URLSearchParams("mss=0")),
 *   (error: ParamError) => error.messageEs === 'mss es "0": se espera un entero entre 1 y 1400',
 * );
 * ```
 *
 * @module
 */
import {
  type CaseDefinition,
  CASES as CONFORMANCE_CASES,
  faultWords,
  PAYLOADS,
  relayRules,
} from "./conformance_cases.ts";
import type { FaultConfig, FaultRule, RelayRule } from "./faults.ts";
import {
  CLIENT_TIMEOUT,
  type Scenario,
  SCENARIO_MESSAGE,
  SCENARIOS,
  SERVER_TIMEOUT,
  type ServerReads,
  testMessage,
} from "./scenarios.ts";

/** One case the lab offers: a scripted fault, run with the report's timeouts and message. */
export interface LabCase {
  /** Id used in `?case=ID`. */
  id: string;
  /** Title in Spanish. */
  title: string;
  /** Title in English. */
  titleEn: string;
  /** What is forced, in Spanish. */
  fault: string;
  /** Where the case comes from: `report` (docs/informe.md) or `conformance` (the checker). */
  source: "report" | "conformance";
  /** What is forced, in English. */
  faultEn: string;
  /** Deterministic fault rules, counted across both ends. */
  rules: FaultRule[];
  /**
   * A conformance case runs through the relay (`relay.ts`), as the checker
   * runs it: its rules count datagrams per direction (`toServer`,
   * `toClient`) and may `hold` one until its retransmission has gone by;
   * `random` are its seeded random faults, each way.
   */
  relay?: { rules: RelayRule[]; random?: CaseDefinition["random"] };
  /** The payload the case sends (a `conformance_cases.ts` payload name), instead of the sample. */
  payload?: keyof typeof PAYLOADS;
  /** Milliseconds the client waits after `connect` before sending. */
  pauseAfterConnect?: number;
  /** A slow reader: the server's application waits `pause` ms before each `recv(buffSize)`. */
  serverReads?: ServerReads;
  /** Segments the network delivers late: the nth of a kind, held `ms` at its receiver. */
  late?: { kind: string; nth: number; ms: number }[];
  /** The error the server's `recvClose` is expected to end with (the close itself fails). */
  serverCloseError?: string;
}

/** Fields of a report case that newer versions of `scenarios.ts` add. */
type ScenarioExtras = Pick<LabCase, "late" | "serverCloseError">;

/** English titles of the report's cases (the report itself is in Spanish). */
const ENGLISH_TITLES: Record<string, string> = {
  "normal": "Normal connection: handshake, transfer and close",
  "syn-lost": "The SYN is lost",
  "syn-ack-lost": "The SYN+ACK is lost",
  "handshake-ack-lost": "The handshake's last ACK is lost (edge case)",
  "handshake-ack-lost-idle": "The handshake's last ACK is lost and the client is slow to send",
  "data-lost": "A data segment is lost",
  "data-ack-lost": "The ACK of a data segment is lost",
  "last-data-ack-lost": "The ACK of the last data segment is lost",
  "close": "Normal close",
  "fin-lost": "The FIN is lost",
  "fin-ack-lost": "The FIN+ACK is lost",
  "last-ack-lost": "The close's last ACK is lost",
  "ack-duplicated": "The network duplicates an ACK",
  "ack-late": "An ACK arrives late (reordered)",
  "all-fins-lost": "All 3 FINs are lost",
  "all-last-acks-lost": "Every copy of the last ACK is lost",
  "slow-reader": "The receiver reads slowly (flow control)",
};

function ordinalEn(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
}

/**
 * What a report case forces, in English, from every fault it scripts: its
 * rules (drop, duplicate), the segments the network delivers late, and the
 * client's pause after `connect` (the report's own text is in Spanish).
 */
export function reportFaultEn(scenario: Scenario & ScenarioExtras): string {
  const words = [
    ...scenario.rules.map((r) =>
      r.action === "duplicate"
        ? `the network delivers the ${ordinalEn(r.nth)} ${r.kind} twice`
        : `the ${ordinalEn(r.nth)} ${r.kind} is dropped`
    ),
    ...(scenario.late ?? []).map((l) =>
      `the network delays the ${ordinalEn(l.nth)} ${l.kind} by ${l.ms} ms`
    ),
    ...(scenario.pauseAfterConnect
      ? [`the client waits ${scenario.pauseAfterConnect} ms after connecting before it sends`]
      : []),
    ...(scenario.serverReads
      ? [
        `the server's application waits ${scenario.serverReads.pause} ms before each recv(${scenario.serverReads.buffSize}): there is no room for the 3rd DATA until it reads (no segment is lost)`,
      ]
      : []),
  ];
  const text = words.join("; ") || "no fault";
  return text[0].toUpperCase() + text.slice(1);
}

function reportCase(scenario: Scenario): LabCase {
  const extras = scenario as Scenario & ScenarioExtras;
  return {
    id: scenario.id,
    title: scenario.title,
    titleEn: ENGLISH_TITLES[scenario.id] ?? scenario.title,
    fault: scenario.fault,
    faultEn: reportFaultEn(extras),
    source: "report",
    rules: scenario.rules,
    pauseAfterConnect: scenario.pauseAfterConnect,
    ...(extras.late?.length ? { late: extras.late } : {}),
    ...(extras.serverCloseError ? { serverCloseError: extras.serverCloseError } : {}),
    ...(scenario.serverReads ? { serverReads: scenario.serverReads } : {}),
  };
}

function randomWords(random: NonNullable<CaseDefinition["random"]>, lang: "es" | "en"): string {
  const pct = (p: number) => `${Math.round(p * 100)} %`;
  return lang === "en"
    ? `each way: ${pct(random.loss)} loss, ${pct(random.duplicate)} duplicated, ${
      pct(random.reorder)
    } reordered (seed ${random.seed})`
    : `en cada sentido: ${pct(random.loss)} de pérdida, ${pct(random.duplicate)} duplicados, ${
      pct(random.reorder)
    } reordenados (semilla ${random.seed})`;
}

/** A case of the conformance checker, run through the relay with its payload. */
function conformanceCase(definition: CaseDefinition): LabCase {
  const words = (lang: "es" | "en") =>
    [
      ...definition.faults.map((f) => faultWords(f, lang)),
      ...(definition.random ? [randomWords(definition.random, lang)] : []),
    ].join("; ") || (lang === "en" ? "no fault" : "sin fallas");
  const capital = (text: string) => text[0].toUpperCase() + text.slice(1);
  const bytes = PAYLOADS[definition.payload].length;
  return {
    id: definition.id,
    title: `${definition.id}: ${definition.es}`,
    titleEn: `${definition.id}: ${definition.en}`,
    fault: `${capital(words("es"))}, en el relay; envía ${bytes} bytes (${definition.payload})`,
    faultEn: `${capital(words("en"))}, in the relay; sends ${bytes} bytes (${definition.payload})`,
    source: "conformance",
    rules: [],
    relay: {
      rules: relayRules(definition.faults),
      ...(definition.random ? { random: { ...definition.random } } : {}),
    },
    payload: definition.payload,
  };
}

/** Every case the lab offers, in the order of its menu: the report's, then the checker's. */
export const LAB_CASES: readonly LabCase[] = [
  ...SCENARIOS.map(reportCase),
  ...CONFORMANCE_CASES.map(conformanceCase),
];

/** Bounds of what one page may ask for. */
export const LIMITS = {
  /** Largest message, in bytes. */
  maxBytes: 256 * 1024,
  /** Most data segments one message may take (bytes / mss, rounded up). */
  maxSegments: 20_000,
  /** Largest typed text, in characters. */
  maxText: 4096,
  /** Largest `mss`. */
  maxMss: 1400,
  /** Largest fixed timeout, in ms. */
  maxTimeout: 5000,
  /** Smallest fixed timeout, in ms. */
  minTimeout: 2,
  /** Largest delay or jitter of a fault, in ms. */
  maxDelay: 1000,
  /** Largest slow-motion delay per datagram, in ms. */
  maxSlow: 2000,
  /** Largest window, in segments (1 is Stop & Wait). */
  maxWindow: 64,
  /** Longest pause of a slow reader before each `recv`, in ms. */
  maxReadPause: 2000,
  /** Longest a slow reader may pause in all, in ms (half a run's time limit). */
  maxReadMs: 60_000,
} as const;

/** The ARQs of a window, as they appear in the URL (`arq=gbn|sr`). */
export const ARQ_NAMES = { gbn: "go-back-n", sr: "selective-repeat" } as const;
/** The congestion controls, as they appear in the URL (`cc=none|tahoe|reno`). */
export const CC_NAMES = ["none", "tahoe", "reno"] as const;

/** The random faults a page can ask for, as they appear in the URL. */
export const FAULT_FIELDS = ["loss", "dup", "reorder", "delay", "jitter"] as const;
/** The directions of the custom faults: client to server, server to client. */
export const DIRECTIONS = ["c2s", "s2c"] as const;

/** Where the message comes from. */
export type MessageSource = "sample" | "text" | "size" | "file";

/** A run's parameters, validated and with defaults filled in. */
export interface RunParams {
  /** The scripted case, or `undefined` for custom faults. */
  case?: LabCase;
  /** Random faults of the datagrams the client sends. */
  c2s: FaultConfig;
  /** Random faults of the datagrams the server sends. */
  s2c: FaultConfig;
  /** Seed of the random faults. */
  seed: number;
  /** `fixed` or `adaptive` (RFC 6298). */
  timeout: "fixed" | "adaptive";
  /** The client's fixed timeout, ms (the server's is 1.6 times longer, as in the report). */
  rto: number;
  /** Data bytes per segment. */
  mss: number;
  /** Where the message comes from. */
  msg: MessageSource;
  /** The text, for `msg=text`. */
  text: string;
  /** The size, for `msg=size`. */
  size: number;
  /** Slow motion: ms every datagram spends on the wire (timeouts grow by twice this). */
  slow: number;
  /** Segments in flight, 1..64 (1: Stop & Wait). */
  window: number;
  /** Loss recovery of the window: `gbn` (Go-Back-N) or `sr` (Selective Repeat). */
  arq: keyof typeof ARQ_NAMES;
  /** Congestion control of the senders. */
  cc: typeof CC_NAMES[number];
  /**
   * The server's application as a slow reader (`read=BYTES&readPause=MS`,
   * custom runs): it waits `pause` ms before each `recv(buffSize)`. A case
   * brings its own (`case.serverReads`); by default the server reads the
   * whole message at once.
   */
  reads?: ServerReads;
}

/** Names accepted in a run's query string (the page's own `run` and `lang` are not sent). */
export const PARAM_NAMES: readonly string[] = [
  "case",
  "seed",
  "timeout",
  "rto",
  "mss",
  "msg",
  "text",
  "size",
  "slow",
  "window",
  "arq",
  "cc",
  "read",
  "readPause",
  ...DIRECTIONS.flatMap((d) => FAULT_FIELDS.map((f) => `${d}-${f}`)),
];
const KNOWN = new Set(PARAM_NAMES);

/**
 * A parameter a page sent is wrong: the message names it and what was
 * expected, in English (`message`) and in Spanish (`messageEs`, for the
 * page's default language; names and numbers as in the English one).
 */
export class ParamError extends RangeError {
  /** Creates the error; `param` is the parameter's name. */
  constructor(readonly param: string, message: string, readonly messageEs: string) {
    super(message);
    this.name = "ParamError";
  }
}

function integer(query: URLSearchParams, name: string, min: number, max: number, fallback: number) {
  const text = query.get(name);
  if (text === null || text === "") return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ParamError(
      name,
      `${name} is "${text}": expected an integer in ${min}..${max}`,
      `${name} es "${text}": se espera un entero entre ${min} y ${max}`,
    );
  }
  return value;
}

function fraction(query: URLSearchParams, name: string): number {
  const text = query.get(name);
  if (text === null || text === "") return 0;
  const value = Number(text);
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) || value < 0 || value > 1) {
    throw new ParamError(
      name,
      `${name} is "${text}": expected a probability in 0..1`,
      `${name} es "${text}": se espera una probabilidad entre 0 y 1`,
    );
  }
  return value;
}

function oneOf<T extends string>(
  query: URLSearchParams,
  name: string,
  values: readonly T[],
  fallback: T,
): T {
  const text = query.get(name);
  if (text === null || text === "") return fallback;
  if (!(values as readonly string[]).includes(text)) {
    throw new ParamError(
      name,
      `${name} is "${text}": expected one of ${values.join(", ")}`,
      `${name} es "${text}": se espera uno de ${values.join(", ")}`,
    );
  }
  return text as T;
}

/** Finds a lab case by id, or `undefined`. */
export function findLabCase(id: string): LabCase | undefined {
  return LAB_CASES.find((c) => c.id === id);
}

/**
 * Validates a run's query string. Unknown names, repeated names, values out
 * of range and messages too large for the lab are all refused.
 *
 * @throws {ParamError} naming the first wrong parameter.
 */
export function parseRunParams(query: URLSearchParams): RunParams {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!KNOWN.has(name)) {
      throw new ParamError(name, `unknown parameter "${name}"`, `parámetro desconocido "${name}"`);
    }
    if (seen.has(name)) {
      throw new ParamError(
        name,
        `${name} is given more than once`,
        `${name} aparece más de una vez`,
      );
    }
    seen.add(name);
  }
  const caseId = query.get("case") ?? "";
  let labCase: LabCase | undefined;
  if (caseId !== "" && caseId !== "custom") {
    labCase = findLabCase(caseId);
    if (!labCase) {
      throw new ParamError(
        "case",
        `case is "${caseId}": expected custom or one of ${LAB_CASES.map((c) => c.id).join(", ")}`,
        `case es "${caseId}": se espera custom o uno de ${LAB_CASES.map((c) => c.id).join(", ")}`,
      );
    }
  }
  const faults = (direction: string): FaultConfig => ({
    loss: fraction(query, `${direction}-loss`),
    duplicate: fraction(query, `${direction}-dup`),
    reorder: fraction(query, `${direction}-reorder`),
    delay: integer(query, `${direction}-delay`, 0, LIMITS.maxDelay, 0),
    jitter: integer(query, `${direction}-jitter`, 0, LIMITS.maxDelay, 0),
  });
  const params: RunParams = {
    case: labCase,
    c2s: faults("c2s"),
    s2c: faults("s2c"),
    seed: integer(query, "seed", 0, 2 ** 32 - 1, 1),
    timeout: oneOf(query, "timeout", ["fixed", "adaptive"] as const, "fixed"),
    rto: integer(query, "rto", LIMITS.minTimeout, LIMITS.maxTimeout, CLIENT_TIMEOUT),
    mss: integer(query, "mss", 1, LIMITS.maxMss, 16),
    msg: oneOf(query, "msg", ["sample", "text", "size", "file"] as const, "sample"),
    text: query.get("text") ?? "",
    size: integer(query, "size", 1, LIMITS.maxBytes, 1024),
    slow: integer(query, "slow", 0, LIMITS.maxSlow, 0),
    window: integer(query, "window", 1, LIMITS.maxWindow, 1),
    arq: oneOf(query, "arq", Object.keys(ARQ_NAMES) as (keyof typeof ARQ_NAMES)[], "gbn"),
    cc: oneOf(query, "cc", CC_NAMES, "none"),
  };
  const read = integer(query, "read", 1, LIMITS.maxBytes, 0);
  const readPause = integer(query, "readPause", 0, LIMITS.maxReadPause, 0);
  if (readPause > 0 && read === 0) {
    throw new ParamError(
      "read",
      "readPause needs read: the bytes each recv asks for",
      "readPause necesita read: los bytes que pide cada recv",
    );
  }
  if (read > 0) params.reads = { pause: readPause, buffSize: read };
  if (params.text.length > LIMITS.maxText) {
    throw new ParamError(
      "text",
      `text has ${params.text.length} characters: at most ${LIMITS.maxText}`,
      `text tiene ${params.text.length} caracteres: como máximo ${LIMITS.maxText}`,
    );
  }
  if (params.msg === "text" && params.text === "") {
    throw new ParamError(
      "text",
      "text is empty: write the message to send",
      "text está vacío: escriba el mensaje a enviar",
    );
  }
  if (labCase && [...seen].some((name) => name.startsWith("c2s-") || name.startsWith("s2c-"))) {
    throw new ParamError(
      "case",
      `case ${labCase.id} scripts its own fault: drop the custom faults, or use case=custom`,
      `el caso ${labCase.id} trae su propia falla guionada: quite las fallas personalizadas, o use case=custom`,
    );
  }
  if (labCase && (seen.has("timeout") || seen.has("rto") || seen.has("seed"))) {
    throw new ParamError(
      "case",
      `case ${labCase.id} runs with the report's fixed timeouts (50 ms and 80 ms): drop timeout, rto and seed, or use case=custom`,
      `el caso ${labCase.id} corre con los timeouts fijos del informe (50 ms y 80 ms): quite timeout, rto y seed, o use case=custom`,
    );
  }
  if (labCase?.payload && params.msg !== "sample") {
    throw new ParamError(
      "msg",
      `case ${labCase.id} sends its own file (${labCase.payload}): drop msg, or use case=custom`,
      `el caso ${labCase.id} envía su propio archivo (${labCase.payload}): quite msg, o use case=custom`,
    );
  }
  if (labCase && (seen.has("read") || seen.has("readPause"))) {
    throw new ParamError(
      "case",
      `case ${labCase.id} scripts how the server reads: drop read and readPause, or use case=custom`,
      `el caso ${labCase.id} fija cómo lee el servidor: quite read y readPause, o use case=custom`,
    );
  }
  if (labCase && (seen.has("window") || seen.has("arq") || seen.has("cc"))) {
    throw new ParamError(
      "case",
      `case ${labCase.id} is scripted for Stop & Wait (window 1): drop window, arq and cc, or use case=custom`,
      `el caso ${labCase.id} está guionado para Stop & Wait (ventana 1): quite window, arq y cc, o use case=custom`,
    );
  }
  if (labCase?.relay && params.mss !== 16) {
    throw new ParamError(
      "mss",
      `case ${labCase.id} is the checker's, counted in segments of 16 bytes: drop mss, or use case=custom`,
      `el caso ${labCase.id} es del verificador, contado en segmentos de 16 bytes: quite mss, o use case=custom`,
    );
  }
  return params;
}

/**
 * An application's wait of `pause` ms in slow motion: longer by a round trip
 * of the slowed link (`slow` ms per datagram, each way), as the timeouts are.
 */
export function slowedPause(pause: number, slow: number): number {
  return pause + 2 * slow;
}

/** The server's fixed timeout for a client timeout of `rto` ms: 1.6 times it, like the report's 50/80. */
export function serverTimeout(rto: number): number {
  return Math.round(rto * SERVER_TIMEOUT / CLIENT_TIMEOUT);
}

/**
 * The message a run sends: the sample text, the typed text, `size` bytes of
 * a repeating alphabet, or the uploaded file (`body`).
 *
 * @throws {ParamError} when the body does not fit the source or the limits.
 */
export function runMessage(params: RunParams, body: Uint8Array): Uint8Array {
  if (params.msg !== "file" && body.length > 0) {
    throw new ParamError(
      "msg",
      `a request body is only accepted with msg=file (msg is ${params.msg})`,
      `la petición solo puede traer un cuerpo con msg=file (msg es ${params.msg})`,
    );
  }
  let message: Uint8Array;
  switch (params.msg) {
    case "sample":
      message = params.case?.payload
        ? PAYLOADS[params.case.payload].slice()
        : new TextEncoder().encode(SCENARIO_MESSAGE);
      break;
    case "text":
      message = new TextEncoder().encode(params.text);
      break;
    case "size":
      message = testMessage(params.size);
      break;
    case "file":
      message = body;
      if (message.length === 0) {
        throw new ParamError("msg", "the file is empty", "el archivo está vacío");
      }
  }
  if (message.length > LIMITS.maxBytes) {
    throw new ParamError(
      "msg",
      `the message has ${message.length} bytes: the lab sends at most ${LIMITS.maxBytes}`,
      `el mensaje tiene ${message.length} bytes: el laboratorio envía como máximo ${LIMITS.maxBytes}`,
    );
  }
  const segments = Math.ceil(message.length / params.mss);
  if (segments > LIMITS.maxSegments) {
    throw new ParamError(
      "mss",
      `${message.length} bytes with mss ${params.mss} make ${segments} segments: at most ${LIMITS.maxSegments} (raise mss)`,
      `${message.length} bytes con mss ${params.mss} son ${segments} segmentos: como máximo ${LIMITS.maxSegments} (suba mss)`,
    );
  }
  // A case's own reads are the report's, within bounds: only custom ones are checked.
  const reads = params.reads;
  if (reads) {
    const calls = Math.ceil(message.length / reads.buffSize);
    const ms = calls * slowedPause(reads.pause, params.slow);
    if (ms > LIMITS.maxReadMs) {
      throw new ParamError(
        "readPause",
        `${message.length} bytes read ${reads.buffSize} at a time take ${calls} recv calls, ${ms} ms of pauses: at most ${LIMITS.maxReadMs} (raise read or lower readPause)`,
        `${message.length} bytes leídos de a ${reads.buffSize} son ${calls} llamadas a recv, ${ms} ms de pausas: como máximo ${LIMITS.maxReadMs} (suba read o baje readPause)`,
      );
    }
  }
  return message;
}
