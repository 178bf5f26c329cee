/**
 * Helpers shared by the command-line tools `cliente.ts` and `servidor.ts`
 * (and, for option parsing, `diagram.ts`, `plot.ts` and `demo.ts`):
 * option parsing, permission checks, the progress bar, summaries, trace
 * output, an incremental SHA-256 and the framing of the plain-UDP mode.
 *
 * Nothing here needs a permission of its own: colour is used only when
 * `--allow-env` happens to be granted, and terminal detection needs none.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs, type ParseArgsOptionsConfig, styleText } from "node:util";
import type { Arq } from "./connection.ts";
import { CONGESTION_CONTROLS, type CongestionControl } from "./congestion.ts";
import { formatTraceLine, type TraceEvent, type TraceKind, type TraceSink } from "./trace.ts";

export type { TraceEvent, TraceKind, TraceSink };

// ------------------------------------------------------------------ usage

/** Bad command-line usage: the tools print the message and the usage, and exit 2. */
export class UsageError extends Error {
  /** Creates the error; the message says which argument is wrong and what was expected. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An expected failure: the tools print its message as one line and exit 1. */
export class CliError extends Error {
  /** Creates the error; the message is the whole line shown to the user. */
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * Tells whether `error` is bad usage: a {@linkcode UsageError} or an error
 * of `parseArgs` from `node:util` (unknown option, missing value…).
 */
export function isUsageError(error: unknown): error is Error {
  return error instanceof UsageError ||
    (error instanceof TypeError && "code" in error &&
      String(error.code).startsWith("ERR_PARSE_ARGS"));
}

/**
 * Runs `parse` over a tool's command line. Returns an exit code instead when
 * there is nothing to run: 0 after printing `usage` on stdout when `parse`
 * returns `"help"`; 2 after printing `TOOL: message` and `usage` on stderr
 * on bad usage (see {@linkcode isUsageError}). Other errors are thrown.
 *
 * @example
 * ```ts
 * import { parseCommandLine, UsageError } from "./cli.ts";
 * const code = parseCommandLine("demo", "Usage: …", () => {
 *   throw new UsageError("expected HOST and PORT");
 * });
 * console.log(code); // 2
 * ```
 */
export function parseCommandLine<T extends object>(
  tool: string,
  usage: string,
  parse: () => T | "help",
): T | number {
  try {
    const parsed = parse();
    if (parsed === "help") {
      console.log(usage);
      return 0;
    }
    return parsed;
  } catch (error) {
    if (!isUsageError(error)) throw error;
    console.error(`${tool}: ${error.message}\n\n${usage}`);
    return 2;
  }
}

/**
 * Parses an integer option in `[min, max]`; `undefined` stays `undefined`.
 *
 * @throws {UsageError} naming the option and the expected range.
 *
 * @example
 * ```ts
 * import { parseInteger } from "./cli.ts";
 * console.log(parseInteger("16", "mss", 1, 60000)); // 16
 * ```
 */
export function parseInteger(
  text: string | undefined,
  option: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${option} is "${text}", expected an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * The `parseArgs` options that `cliente.ts` and `servidor.ts` share, with
 * the same meaning and defaults in both.
 */
export const TRANSFER_OPTIONS = {
  timeout: { type: "string" },
  mss: { type: "string" },
  window: { type: "string" },
  arq: { type: "string" },
  cc: { type: "string" },
  trace: { type: "boolean", default: false },
  "trace-file": { type: "string" },
  udp: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const;

/**
 * Parses `--mss`: 1..60000, 16 by default, and at least 16 with `--udp`.
 *
 * @throws {UsageError} naming the option and the expected range.
 */
export function parseMss(text: string | undefined, udp: boolean): number {
  const mss = parseInteger(text, "mss", 1, 60_000) ?? 16;
  if (udp && mss < 16) throw new UsageError(`--mss is ${mss}, expected >= 16 with --udp`);
  return mss;
}

/** The sliding window's options of the command line: `--window`, `--arq`, `--cc`. */
export interface WindowOptions {
  /** Segments in flight (1: Stop & Wait). */
  window: number;
  /** Loss recovery. */
  arq: Arq;
  /** Congestion control. */
  congestion: CongestionControl;
}

/** `--arq` names: short and long. */
const ARQ_NAMES: Record<string, Arq> = {
  gbn: "go-back-n",
  "go-back-n": "go-back-n",
  sr: "selective-repeat",
  "selective-repeat": "selective-repeat",
};

/**
 * Parses `--window N` (1..4096, default 1), `--arq gbn|sr` (default gbn) and
 * `--cc none|tahoe|reno` (default none); `--udp` takes none of them.
 *
 * @throws {UsageError} naming the option and what it accepts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseWindowOptions } from "./cli.ts";
 * assert.deepEqual(parseWindowOptions({ window: "32", arq: "sr", cc: "reno" }), {
 *   window: 32, arq: "selective-repeat", congestion: "reno",
 * });
 * assert.throws(() => parseWindowOptions({ arq: "gnb" }), /--arq is "gnb", expected gbn or sr/);
 * ```
 */
export function parseWindowOptions(
  values: { window?: string; arq?: string; cc?: string; udp?: boolean },
): WindowOptions {
  if (values.udp) {
    for (const name of ["window", "arq", "cc"] as const) {
      if (values[name] !== undefined) throw new UsageError(`--${name} has no meaning with --udp`);
    }
  }
  const window = parseInteger(values.window, "window", 1, 4096) ?? 1;
  const arq = values.arq === undefined ? "go-back-n" : ARQ_NAMES[values.arq];
  if (arq === undefined) throw new UsageError(`--arq is "${values.arq}", expected gbn or sr`);
  const congestion = (values.cc ?? "none") as CongestionControl;
  if (!CONGESTION_CONTROLS.includes(congestion)) {
    throw new UsageError(`--cc is "${values.cc}", expected none, tahoe or reno`);
  }
  return { window, arq, congestion };
}

/**
 * The mode of a transfer in words, for summaries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeMode } from "./cli.ts";
 * assert.equal(describeMode({ window: 1, arq: "go-back-n", congestion: "none" }), "Stop & Wait");
 * assert.equal(
 *   describeMode({ window: 32, arq: "selective-repeat", congestion: "reno" }),
 *   "window 32, selective repeat, Reno",
 * );
 * ```
 */
export function describeMode(mode: WindowOptions): string {
  const parts = mode.window === 1
    ? ["Stop & Wait"]
    : [`window ${mode.window}`, mode.arq === "go-back-n" ? "Go-Back-N" : "selective repeat"];
  if (mode.congestion !== "none") {
    parts.push(mode.congestion === "reno" ? "Reno" : "Tahoe");
  }
  return parts.join(", ");
}

/**
 * Parses a port argument, 0..65535.
 *
 * @throws {UsageError} when it is not a port number.
 */
export function parsePort(text: string, what = "PORT"): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) {
    throw new UsageError(`${what} is "${text}", expected a port number in 0..65535`);
  }
  return value;
}

/** What `parseArgs` returns for `options`, with positionals allowed. */
export type ParsedFileArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: O }>
>;

/**
 * Parses the command line of a tool that reads the files named as arguments
 * (`diagram.ts`, `plot.ts`); `options` must hold a boolean `help`. Returns an
 * exit code instead when there is nothing to run: 0 after printing `usage` on
 * stdout for `--help`; 2 after printing the error and `usage` on stderr on
 * bad usage, or `usage` alone when no file is named.
 *
 * @example
 * ```ts
 * import { parseFileArgs } from "./cli.ts";
 * const parsed = parseFileArgs(["a.jsonl"], { help: { type: "boolean" } }, "Usage: …");
 * console.log(typeof parsed === "number" ? parsed : parsed.positionals); // ["a.jsonl"]
 * ```
 */
export function parseFileArgs<
  const O extends ParseArgsOptionsConfig & { help: { type: "boolean" } },
>(args: string[], options: O, usage: string): ParsedFileArgs<O> | number {
  let parsed: ParsedFileArgs<O>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  if (parsed.positionals.length === 0) {
    console.error(usage);
    return 2;
  }
  return parsed;
}

// ------------------------------------------------------------ permissions

/**
 * Checks that a permission is granted, without ever prompting.
 *
 * @throws {CliError} naming the Deno flag to add, e.g. `--allow-write=out`.
 *
 * @example
 * ```ts
 * import { requirePermission } from "./cli.ts";
 * requirePermission("servidor", { name: "net" }, "--allow-net", "to use the network"); // throws without --allow-net
 * ```
 */
export function requirePermission(
  tool: string,
  descriptor: Deno.PermissionDescriptor,
  flag: string,
  purpose: string,
): void {
  if (Deno.permissions.querySync(descriptor).state !== "granted") {
    throw new CliError(`${tool}: missing permission ${purpose}: run it with ${flag}`);
  }
}

/**
 * Checks the permission to write the trace file of `--trace-file`, if any.
 *
 * @throws {CliError} naming the flag to add, `--allow-write=FILE`.
 */
export function requireTraceFilePermission(tool: string, traceFile: string | undefined): void {
  if (traceFile === undefined) return;
  requirePermission(
    tool,
    { name: "write", path: traceFile },
    `--allow-write=${traceFile}`,
    "to write the trace file",
  );
}

// ------------------------------------------------------------- formatting

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

/** Formats a count with thousands separators: `12,345`. */
export function formatCount(value: number): string {
  return integer.format(value);
}

/**
 * Formats a byte count in binary units: `512 B`, `12.3 KiB`, `4.0 MiB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./cli.ts";
 * console.log(formatBytes(12600)); // "12.3 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${integer.format(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${decimal.format(value)} ${units[unit]}`;
}

/** Formats a duration in ms as `850 ms` or `12.3 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${integer.format(ms)} ms` : `${decimal.format(ms / 1000)} s`;
}

/** Formats a rate from bytes and ms: `3.2 KiB/s`. */
export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? (bytes * 1000) / ms : 0)}/s`;
}

/** Whether colour may be used on stderr: a terminal, and `--allow-env` already granted (never asked for). */
function colourAllowed(): boolean {
  return Deno.stderr.isTerminal() &&
    Deno.permissions.querySync({ name: "env" }).state === "granted";
}

/**
 * Styles text for stderr with `styleText` (which respects `NO_COLOR`), only
 * when stderr is a terminal and env access is already granted; otherwise
 * returns the text as it is. Never prompts for a permission.
 */
export function paint(format: Parameters<typeof styleText>[0], text: string): string {
  if (!colourAllowed()) return text;
  try {
    return styleText(format, text, { validateStream: false });
  } catch {
    return text;
  }
}

// -------------------------------------------------------------- SHA-256

/** An incremental SHA-256 (from `node:crypto`), so that files are hashed as they stream. */
export class Sha256 {
  readonly #hash = createHash("sha256");

  /** Adds bytes to the hash. */
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }

  /** The digest in lowercase hex; call it once, at the end. */
  hex(): string {
    return this.#hash.digest("hex");
  }

  /** The digest as 32 bytes; call it once, at the end (instead of `hex`). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
  }

  /** The SHA-256 of `bytes` in hex, at once. */
  static of(bytes: Uint8Array): string {
    const hash = new Sha256();
    hash.update(bytes);
    return hash.hex();
  }
}

// --------------------------------------------------------------- stderr

const encoder = new TextEncoder();

/** Writes bytes as lowercase hexadecimal, two digits each. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export { concatBytes } from "./segment.ts";

/** Writes all of `bytes` to a writer such as `Deno.stdout`. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await writer.write(bytes.subarray(written));
}

/** What a progress bar shows. */
export interface ProgressState {
  /** Bytes done so far. */
  done: number;
  /** Bytes in all, when known. */
  total?: number;
  /** Retransmissions so far. */
  retransmissions: number;
}

/**
 * A one-line progress bar on stderr, drawn only while stderr is a terminal,
 * redrawn at most 10 times a second. Other stderr lines go through
 * {@linkcode Progress.log} so that they do not mix with the bar.
 */
export class Progress {
  readonly #enabled: boolean;
  readonly #start = performance.now();
  #lastDraw = -Infinity;
  #shown = false;
  #state: ProgressState = { done: 0, retransmissions: 0 };

  /** Creates a bar; it draws nothing when `enabled` is false or stderr is not a terminal. */
  constructor(enabled: boolean) {
    this.#enabled = enabled && Deno.stderr.isTerminal();
  }

  /** Records the progress and redraws if the last redraw is 100 ms old. */
  update(state: ProgressState): void {
    this.#state = state;
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#draw();
  }

  /** Prints a line on stderr above the bar. */
  log(line: string): void {
    if (this.#shown) this.#clear();
    console.error(line);
    if (this.#shown) this.#draw();
  }

  /** Removes the bar for good. */
  done(): void {
    if (this.#shown) this.#clear();
    this.#shown = false;
  }

  #clear(): void {
    Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
  }

  #draw(): void {
    const { done, total, retransmissions } = this.#state;
    const elapsed = performance.now() - this.#start;
    const width = 24;
    let bar = "";
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, done / total);
      const filled = Math.round(fraction * width);
      bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
        Math.floor(fraction * 100).toString().padStart(3)
      }%  ${formatBytes(done)} / ${formatBytes(total)}`;
    } else {
      bar = formatBytes(done);
    }
    const line = `${bar}  ${formatRate(done, elapsed)}  retransmissions ${
      formatCount(retransmissions)
    }`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    this.#shown = true;
  }
}

// ---------------------------------------------------------------- traces

/** Where trace events go: text lines on stderr (`--trace`) and/or JSON lines in a file (`--trace-file`). */
export class TraceOutput {
  readonly #file: Deno.FsFile | null;
  readonly #text: boolean;
  readonly #origin = performance.timeOrigin + performance.now();
  readonly #print: (line: string) => void;
  readonly #prefix: (event: TraceEvent) => string;
  #buffer = "";

  /**
   * Opens the trace outputs. `print` writes a text line (through the
   * progress bar); `prefix` may add, say, the peer to each text line.
   *
   * @throws {CliError} when the trace file cannot be created.
   */
  constructor(options: {
    tool: string;
    text: boolean;
    file?: string;
    print: (line: string) => void;
    prefix?: (event: TraceEvent) => string;
  }) {
    this.#text = options.text;
    this.#print = options.print;
    this.#prefix = options.prefix ?? (() => "");
    if (options.file === undefined) {
      this.#file = null;
    } else {
      try {
        this.#file = Deno.openSync(options.file, { write: true, create: true, truncate: true });
      } catch (error) {
        throw new CliError(
          `${options.tool}: cannot write the trace file ${options.file}: ${
            (error as Error).message
          }`,
        );
      }
    }
  }

  /** Whether any trace output is on. */
  get enabled(): boolean {
    return this.#text || this.#file !== null;
  }

  /** The sink to pass as `onTrace`, or `undefined` when tracing is off. */
  get sink(): TraceSink | undefined {
    return this.enabled ? (event) => this.write(event) : undefined;
  }

  /** Writes one event. */
  write(event: TraceEvent): void {
    if (this.#text) this.#print(this.#prefix(event) + formatTraceLine(event, this.#origin));
    if (this.#file) {
      this.#buffer += JSON.stringify(event) + "\n";
      if (this.#buffer.length >= 65536) this.flush();
    }
  }

  /** Writes the buffered JSON lines to the file. */
  flush(): void {
    if (!this.#file || this.#buffer === "") return;
    const bytes = encoder.encode(this.#buffer);
    this.#buffer = "";
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    this.#file?.close();
  }
}

// -------------------------------------------------------------- summary

/** What a summary reports. */
export interface Summary {
  /** Bytes of the file. */
  bytes: number;
  /** Segments (or datagrams) sent and received. */
  segmentsSent: number;
  /** Segments received. */
  segmentsReceived: number;
  /** Retransmissions. */
  retransmissions: number;
  /** Duplicates received. */
  duplicates: number;
  /** Elapsed time, ms. */
  elapsed: number;
  /** SHA-256 in hex. */
  sha256: string;
  /** The mode (see {@linkcode describeMode}), when the summary names it. */
  mode?: string;
  /** With congestion control: the final and the peak congestion window, in segments. */
  cwnd?: { final: number; peak: number };
}

/**
 * Formats a summary as indented lines under a title line.
 *
 * @example
 * ```ts
 * import { formatSummary } from "./cli.ts";
 * console.log(formatSummary("cliente: sent", {
 *   bytes: 2048, segmentsSent: 140, segmentsReceived: 135, retransmissions: 7,
 *   duplicates: 1, elapsed: 1000, sha256: "ab",
 * }));
 * ```
 */
export function formatSummary(title: string, summary: Summary): string {
  return [
    `${title} ${formatCount(summary.bytes)} bytes in ${formatDuration(summary.elapsed)}`,
    `  segments: ${formatCount(summary.segmentsSent)} sent, ${
      formatCount(summary.segmentsReceived)
    } received; retransmissions: ${formatCount(summary.retransmissions)}; duplicates: ${
      formatCount(summary.duplicates)
    }`,
    `  goodput: ${formatRate(summary.bytes, summary.elapsed)}`,
    ...(summary.mode === undefined
      ? []
      : [`  mode: ${summary.mode}${
        summary.cwnd
          ? `; cwnd: ${round2(summary.cwnd.final)} final, ${
            round2(summary.cwnd.peak)
          } peak segments`
          : ""
      }`]),
    `  SHA-256: ${summary.sha256}`,
  ].join("\n");
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

// ------------------------------------------------------------ plain UDP

/**
 * Framing of the plain-UDP mode (`--udp`, the assignment's step 1): every
 * datagram is at most `mss` (16) bytes and begins with one tag byte.
 *
 * - `L` + the file's length in ASCII decimal: the announcement, sent first.
 * - `H` + one index byte (0, 1, 2) + a slice of the file's SHA-256: three
 *   datagrams that carry the digest, so the receiver can tell a damaged file.
 * - `D` + up to `mss - 1` bytes of the file, in order.
 *
 * Nothing is acknowledged or sent again: whatever the network loses,
 * duplicates or reorders shows in the file that arrives. The receiver ends a
 * transfer when the announced bytes have arrived or after an idle gap.
 */
export const UDP_TAG = { length: 0x4c, hash: 0x48, data: 0x44 } as const;

/**
 * Splits a file into the datagrams of the plain-UDP mode.
 *
 * @throws {RangeError} when `mss` is below 16 (the announcement must fit).
 */
export function udpDatagrams(file: Uint8Array, sha256: Uint8Array, mss: number): Uint8Array[] {
  if (mss < 16) throw new RangeError(`Cannot frame UDP datagrams of ${mss} bytes: expected >= 16`);
  const out: Uint8Array[] = [];
  out.push(new Uint8Array([UDP_TAG.length, ...encoder.encode(String(file.length))]));
  const slice = mss - 2;
  for (let index = 0, at = 0; at < sha256.length; index++, at += slice) {
    out.push(new Uint8Array([UDP_TAG.hash, index, ...sha256.subarray(at, at + slice)]));
  }
  for (let at = 0; at < file.length; at += mss - 1) {
    const chunk = file.subarray(at, at + mss - 1);
    const datagram = new Uint8Array(chunk.length + 1);
    datagram[0] = UDP_TAG.data;
    datagram.set(chunk, 1);
    out.push(datagram);
  }
  return out;
}

/** The receiving side of one plain-UDP transfer. */
export class UdpReception {
  /** The announced length, once its datagram arrived. */
  announced: number | undefined;
  /** Data bytes received (duplicates included). */
  received = 0;
  /** Datagrams received. */
  datagrams = 0;
  /** When the last datagram arrived (`performance.now()`). */
  lastSeen: number = performance.now();
  /** When the first datagram arrived. */
  readonly started: number = performance.now();
  readonly #hash = new Sha256();
  readonly #digest = new Uint8Array(32);
  readonly #digestParts = new Set<number>();
  readonly #mss: number;

  /** Creates the state of a transfer whose datagrams are at most `mss` bytes. */
  constructor(mss: number) {
    this.#mss = mss;
  }

  /**
   * Feeds one datagram; returns the data bytes to write (possibly empty).
   * Datagrams that are not of this framing are counted and ignored.
   */
  onDatagram(bytes: Uint8Array): Uint8Array {
    this.datagrams++;
    this.lastSeen = performance.now();
    const tag = bytes[0];
    if (tag === UDP_TAG.length) {
      const text = new TextDecoder().decode(bytes.subarray(1));
      if (/^\d+$/.test(text)) this.announced = Number(text);
    } else if (tag === UDP_TAG.hash && bytes.length >= 2) {
      const at = bytes[1] * (this.#mss - 2);
      const part = bytes.subarray(2);
      if (at + part.length <= 32) {
        this.#digest.set(part, at);
        this.#digestParts.add(bytes[1]);
      }
    } else if (tag === UDP_TAG.data) {
      const data = bytes.slice(1);
      this.received += data.length;
      this.#hash.update(data);
      return data;
    }
    return new Uint8Array(0);
  }

  /** All the announced bytes arrived (they may still be damaged). */
  get complete(): boolean {
    return this.announced !== undefined && this.received >= this.announced;
  }

  /** The sender's SHA-256 in hex, if all its datagrams arrived. */
  get expectedSha256(): string | undefined {
    const parts = Math.ceil(32 / (this.#mss - 2));
    if (this.#digestParts.size < parts) return undefined;
    return toHex(this.#digest);
  }

  /** Finishes the hash of what arrived; call it once. */
  finish(): { sha256: string; intact: boolean; verdict: string } {
    const sha256 = this.#hash.hex();
    const expected = this.expectedSha256;
    const of = this.announced === undefined
      ? `${formatCount(this.received)} bytes (length announcement lost)`
      : `${formatCount(this.received)} of ${formatCount(this.announced)} bytes`;
    const intact = expected === sha256 && this.received === this.announced;
    const hashText = expected === undefined
      ? "SHA-256 unknown (digest datagrams lost)"
      : expected === sha256
      ? "SHA-256 matches"
      : "SHA-256 mismatch";
    return { sha256, intact, verdict: `received ${of}, ${hashText}` };
  }
}
