/**
 * The cases of the conformance checker (`conformance.ts`) as data: a stable
 * id, a one-line description in English and Spanish, the payload sent, and
 * the faults the relay applies. Other tools (the web lab) import this table,
 * so ids never change meaning.
 *
 * @example Every id is unique and every case names its payload
 * ```ts
 * import assert from "node:assert/strict";
 * import { CASES, payloadOf } from "./conformance_cases.ts";
 * assert.equal(new Set(CASES.map((c) => c.id)).size, CASES.length);
 * assert.equal(payloadOf(CASES.find((c) => c.id === "two-segments")!).length, 17);
 * ```
 *
 * @module
 */

import type { RelayDirection, RelayRule } from "./faults.ts";
import { concatBytes } from "./segment.ts";

/** Which way a datagram travels through the relay. */
export type CaseDirection = RelayDirection;

/**
 * A deterministic fault of a case: a relay rule (the `nth` segment of `kind`
 * going `direction`, each segment counted once, at its first transmission:
 * see {@linkcode relayRules}), or with `through` a range of datagrams.
 */
export interface CaseFault extends Omit<RelayRule, "counts"> {
  /**
   * With it, the fault is every datagram of `kind` from the `nth` to this one
   * (1-based), each counted, retransmissions and copies included: "every copy
   * of the closing's last ACK". Without it, the `nth` segment alone.
   */
  through?: number;
}

/**
 * The relay's rules for a case's faults. They count segments, not datagrams
 * (see {@linkcode RelayRule.counts}): "the 2nd DATA" is the file's first
 * segment even when the implementation under test resent its length first,
 * because its timeout is short or the machine is loaded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CASES, relayRules } from "./conformance_cases.ts";
 * const lostData = CASES.find((c) => c.id === "lost-data")!;
 * assert.deepEqual(relayRules(lostData.faults), [
 *   { direction: "toServer", kind: "DATA", nth: 2, action: "drop", counts: "segments" },
 * ]);
 * // A range counts datagrams: the three copies of the last ACK are three of them.
 * const lastAcks = CASES.find((c) => c.id === "lost-last-acks")!;
 * assert.deepEqual(
 *   relayRules(lastAcks.faults).slice(0, 2).map((r) => [r.kind, r.nth, r.counts]),
 *   [["ACK", 2, "datagrams"], ["ACK", 3, "datagrams"]],
 * );
 * ```
 */
export function relayRules(faults: readonly CaseFault[]): RelayRule[] {
  return faults.flatMap(({ through, ...fault }): RelayRule[] =>
    through === undefined ? [{ ...fault, counts: "segments" }] : Array.from(
      { length: Math.max(0, through - fault.nth + 1) },
      (_, i) => ({ ...fault, nth: fault.nth + i, counts: "datagrams" }),
    )
  );
}

const ACTION_ES = { drop: "se descarta", duplicate: "se duplica", hold: "se retiene" } as const;
const ACTION_ES_MANY = {
  drop: "se descartan",
  duplicate: "se duplican",
  hold: "se retienen",
} as const;

/** `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`. */
function ordinalEn(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10];
  return `${n}${suffix ?? "th"}`;
}

/**
 * One fault of a case (or a relay rule) in words, in English or Spanish.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { faultWords } from "./conformance_cases.ts";
 * const fault = { direction: "toServer", kind: "DATA", nth: 2, action: "drop" } as const;
 * assert.equal(faultWords(fault, "en"), "drop the 2nd DATA to the server");
 * assert.equal(faultWords({ ...fault, nth: 21 }, "en"), "drop the 21st DATA to the server");
 * assert.equal(faultWords(fault, "es"), "se descarta el 2.º DATA hacia el servidor");
 * const every = { direction: "toServer", kind: "ACK", nth: 2, through: 30, action: "drop" } as const;
 * assert.equal(
 *   faultWords(every, "en"),
 *   "drop the 2nd to 30th ACK to the server, each copy and retransmission counted",
 * );
 * ```
 */
export function faultWords(fault: CaseFault, lang: "es" | "en"): string {
  if (lang === "en") {
    const to = fault.direction === "toServer" ? "to the server" : "to the client";
    const until = fault.action === "hold" ? " until its retransmission has gone by" : "";
    if (fault.through !== undefined) {
      return `${fault.action} the ${ordinalEn(fault.nth)} to ${ordinalEn(fault.through)} ` +
        `${fault.kind} ${to}, each copy and retransmission counted${until}`;
    }
    return `${fault.action} the ${ordinalEn(fault.nth)} ${fault.kind} ${to}${until}`;
  }
  const ordinal = (n: number) => n === 1 || n === 3 ? `${n}.er` : `${n}.º`;
  const to = fault.direction === "toServer" ? "hacia el servidor" : "hacia el cliente";
  const until = fault.action === "hold" ? " hasta que pase su retransmisión" : "";
  if (fault.through !== undefined) {
    return `${ACTION_ES_MANY[fault.action]} del ${ordinal(fault.nth)} al ${
      ordinal(fault.through)
    } ${fault.kind} ${to}, contando cada copia y retransmisión${until}`;
  }
  return `${ACTION_ES[fault.action]} el ${ordinal(fault.nth)} ${fault.kind} ${to}${until}`;
}

/** The payloads the cases send. */
export type PayloadName = "ascii" | "utf8" | "binary" | "empty" | "one-segment" | "two-segments";

/** One case of the checker. */
export interface CaseDefinition {
  /** Stable id, used by `--cases`, scripts and grade sheets. */
  id: string;
  /** What the case does, in English. */
  en: string;
  /** What the case does, in Spanish. */
  es: string;
  /** The file sent. */
  payload: PayloadName;
  /** Deterministic faults. */
  faults: CaseFault[];
  /** Seeded random faults, each way. */
  random?: { loss: number; duplicate: number; reorder: number; seed: number };
  /**
   * The close loses everything one end waits for: once socket-tcp's end has
   * ended, the end under test must give up by itself (step 8: after 3
   * timeouts), and is stopped a few seconds later, not at the bound.
   */
  givesUp?: boolean;
}

const ASCII_TEXT = "Stop & Wait over UDP: this plain ASCII file crosses the network " +
  "in segments of 16 bytes.\nLine two, digits 0123456789.\n";

/** A text whose every 16-byte boundary falls inside a multibyte character. */
function utf8Text(): Uint8Array {
  const encoder = new TextEncoder();
  const chars = ["¡", "ñ", "€", "😀", "é", "ü", "→"];
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let i = 0; length < 120; i++) {
    // A character never starts on a boundary (beyond 0): each boundary cuts one.
    for (let j = 0; j < chars.length; j++) {
      const bytes = encoder.encode(chars[(i + j) % chars.length]);
      if ((length + bytes.length) % 16 !== 0) {
        parts.push(bytes);
        length += bytes.length;
        break;
      }
    }
  }
  return concatBytes(parts);
}

/** Every byte value, `|||` and newlines among them, then every value backwards. */
function binaryBytes(): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < 256; i++) out.push(i);
  out.push(...new TextEncoder().encode("|||\n|||"));
  for (let i = 255; i >= 0; i--) out.push(i);
  return new Uint8Array(out);
}

/** The bytes of each payload. */
export const PAYLOADS: Readonly<Record<PayloadName, Uint8Array>> = {
  ascii: new TextEncoder().encode(ASCII_TEXT),
  utf8: utf8Text(),
  binary: binaryBytes(),
  empty: new Uint8Array(),
  "one-segment": new TextEncoder().encode("0123456789abcdef"),
  "two-segments": new TextEncoder().encode("0123456789abcdefg"),
};

/** The payload of a case (a copy). */
export function payloadOf(definition: CaseDefinition): Uint8Array {
  return PAYLOADS[definition.payload].slice();
}

/** Segments of the ASCII payload, with the default 16 bytes per segment. */
const ASCII_SEGMENTS = Math.ceil(PAYLOADS.ascii.length / 16);

/** "Every" datagram of a kind in a case: more than any end sends before it gives up. */
const MANY = 30;

const drop = (direction: CaseDirection, kind: string, nth = 1): CaseFault => ({
  direction,
  kind,
  nth,
  action: "drop",
});

/** Every case, in the order they are listed and reported. */
export const CASES: readonly CaseDefinition[] = [
  {
    id: "ascii",
    en: "an ASCII file on a clean network",
    es: "un archivo ASCII en una red sin pérdidas",
    payload: "ascii",
    faults: [],
  },
  {
    id: "utf8",
    en: "UTF-8 text with a multibyte character across every 16-byte boundary",
    es: "texto UTF-8 con un carácter multibyte cortado en cada frontera de 16 bytes",
    payload: "utf8",
    faults: [],
  },
  {
    id: "binary",
    en: "all 256 byte values, including '|||' and newlines",
    es: "los 256 valores de byte, incluidos '|||' y saltos de línea",
    payload: "binary",
    faults: [],
  },
  {
    id: "empty",
    en: "an empty file (0 bytes)",
    es: "un archivo vacío (0 bytes)",
    payload: "empty",
    faults: [],
  },
  {
    id: "one-segment",
    en: "exactly one segment (16 bytes)",
    es: "exactamente un segmento (16 bytes)",
    payload: "one-segment",
    faults: [],
  },
  {
    id: "two-segments",
    en: "one byte more than a segment (17 bytes)",
    es: "un byte más que un segmento (17 bytes)",
    payload: "two-segments",
    faults: [],
  },
  {
    id: "lost-syn",
    en: "the first SYN is lost",
    es: "se pierde el primer SYN",
    payload: "ascii",
    faults: [drop("toServer", "SYN")],
  },
  {
    id: "lost-synack",
    en: "the first SYN+ACK is lost",
    es: "se pierde el primer SYN+ACK",
    payload: "ascii",
    faults: [drop("toClient", "SYN+ACK")],
  },
  {
    id: "lost-handshake-ack",
    en: "the handshake's last ACK is lost (the assignment's edge case)",
    es: "se pierde el último ACK del handshake (el caso borde del enunciado)",
    payload: "ascii",
    faults: [drop("toServer", "ACK")],
  },
  {
    id: "lost-length",
    en: "the first data segment, the length, is lost",
    es: "se pierde el primer segmento de datos, el largo",
    payload: "ascii",
    faults: [drop("toServer", "DATA")],
  },
  {
    id: "lost-data",
    en: "the first segment of the file's bytes is lost",
    es: "se pierde el primer segmento con bytes del archivo",
    payload: "ascii",
    faults: [drop("toServer", "DATA", 2)],
  },
  {
    id: "lost-data-ack",
    en: "the ACK of the first segment of the file's bytes is lost",
    es: "se pierde el ACK del primer segmento con bytes del archivo",
    payload: "ascii",
    faults: [drop("toClient", "ACK", 2)],
  },
  {
    id: "lost-last-data-ack",
    en: "the ACK of the last data segment is lost",
    es: "se pierde el ACK del último segmento de datos",
    payload: "ascii",
    faults: [drop("toClient", "ACK", 1 + ASCII_SEGMENTS)],
  },
  {
    id: "lost-fin",
    en: "the first FIN is lost",
    es: "se pierde el primer FIN",
    payload: "ascii",
    faults: [drop("toServer", "FIN")],
  },
  {
    id: "lost-finack",
    en: "the first FIN+ACK is lost",
    es: "se pierde el primer FIN+ACK",
    payload: "ascii",
    faults: [drop("toClient", "FIN+ACK")],
  },
  {
    id: "lost-last-ack",
    en: "the first copy of the closing's last ACK is lost",
    es: "se pierde la primera copia del último ACK del cierre",
    payload: "ascii",
    faults: [drop("toServer", "ACK", 2)],
  },
  {
    id: "lost-last-acks",
    en: "every copy of the closing's last ACK is lost: host B gives up after 3 timeouts",
    es: "se pierden todas las copias del último ACK del cierre: el host B se rinde tras 3 timeouts",
    payload: "ascii",
    // Counted as datagrams: the 1st ACK is the handshake's; from the 2nd on, every ACK the
    // client sends (its copies of the last ACK, a re-ACK of a repeated SYN+ACK or FIN+ACK).
    faults: [{ ...drop("toServer", "ACK", 2), through: MANY }],
    givesUp: true,
  },
  {
    id: "lost-finacks",
    en: "every FIN+ACK is lost: close() gives up after 3 timeouts",
    es: "se pierden todos los FIN+ACK: close() se rinde tras 3 timeouts",
    payload: "ascii",
    faults: [{ ...drop("toClient", "FIN+ACK", 1), through: MANY }],
    givesUp: true,
  },
  {
    id: "duplicate-data",
    en: "the first segment of the file's bytes arrives twice",
    es: "el primer segmento con bytes del archivo llega dos veces",
    payload: "ascii",
    faults: [{ direction: "toServer", kind: "DATA", nth: 2, action: "duplicate" }],
  },
  {
    id: "duplicate-ack",
    en: "the ACK of the first segment of the file's bytes arrives twice",
    es: "el ACK del primer segmento con bytes del archivo llega dos veces",
    payload: "ascii",
    faults: [{ direction: "toClient", kind: "ACK", nth: 2, action: "duplicate" }],
  },
  {
    id: "delayed-segment",
    en: "a data segment is held past a timeout: it arrives after its retransmission",
    es: "un segmento de datos se retiene más de un timeout: llega después de su retransmisión",
    payload: "ascii",
    faults: [{ direction: "toServer", kind: "DATA", nth: 2, action: "hold" }],
  },
  {
    id: "loss-10",
    en: "10 % seeded random loss each way, with some duplication and reordering",
    es: "10 % de pérdida aleatoria (con semilla) en cada sentido, más duplicados y reordenamiento",
    payload: "ascii",
    faults: [],
    random: { loss: 0.1, duplicate: 0.05, reorder: 0.05, seed: 10 },
  },
  {
    id: "loss-20",
    en: "20 % seeded random loss each way, with some duplication and reordering",
    es: "20 % de pérdida aleatoria (con semilla) en cada sentido, más duplicados y reordenamiento",
    payload: "ascii",
    faults: [],
    random: { loss: 0.2, duplicate: 0.05, reorder: 0.05, seed: 20 },
  },
];
