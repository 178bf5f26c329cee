/**
 * The client: reads a file from standard input and sends it, as one message,
 * to a `servidor.ts` over {@linkcode SocketTCP} (or, with `--udp`, as plain
 * datagrams with no reliability at all).
 *
 * ```sh
 * deno run --allow-net cliente.ts localhost 8000 < archivo.txt
 * ```
 *
 * Exit codes: 0 delivered and closed; 1 failed (one line on stderr says
 * why); 2 bad usage; 130 interrupted by Ctrl+C (the server is told, by a FIN).
 *
 * @module
 */

import { fstatSync } from "node:fs";
import {
  asClause,
  CliError,
  describeMode,
  formatBytes,
  formatCount,
  formatSummary,
  paint,
  parseArguments,
  parseCommandLine,
  parseInteger,
  parseMss,
  parsePort,
  parseWindowOptions,
  Progress,
  requirePermission,
  requireTraceFilePermission,
  Sha256,
  TraceOutput,
  TRANSFER_OPTIONS,
  UsageError,
  type WindowOptions,
} from "./cli.ts";
import { type Addr, formatAddr, resolveHost } from "./link.ts";
import { concatBytes } from "./segment.ts";
import { ConnectionClosedError, PeerTimeoutError, ProtocolError, SocketTCP } from "./socket_tcp.ts";
import { isPlainUdpDatagram, observeDatagrams, segmentIn, sendPlainUdp } from "./udp_mode.ts";

/** The usage text of the client, printed by `--help` and on bad usage. */
export const USAGE = `Usage: deno run --allow-net cliente.ts HOST PORT [options] < FILE

Sends FILE (all of standard input) to a servidor.ts at HOST:PORT as one
message over SocketTCP: Stop & Wait over UDP, 16 data bytes per segment.

Options:
  --timeout MS       fixed retransmission timeout (default: adaptive, RFC 6298)
  --mss N            data bytes per segment (default 16)
  --window N         segments in flight at once (default 1: Stop & Wait)
  --arq gbn|sr       a window's loss recovery: Go-Back-N (default) or
                     selective repeat
  --cc none|tahoe|reno  congestion control (default none: a fixed window)
  --retries N        retransmissions of one segment before giving up (default 20)
  --max-size BYTES   the most read from a pipe (default 1G): a pipe is read
                     whole before sending, since its length goes first; a
                     file (< FILE) is streamed, whatever its size (K, M, G:
                     KiB, MiB, GiB)
  --trace            one line per segment sent or received, on stderr
                     (SocketTCP only, like --trace-file)
  --trace-file FILE  the same events as JSON lines (needs --allow-write=FILE)
  --udp              plain UDP instead: datagrams of at most 16 bytes, no ACKs,
                     no retransmission (the assignment's step 1)
  --quiet            no progress bar and no summary
  --help             print this help

Ctrl+C stops the transfer: the client says how much was delivered, tells
the server (FIN, waiting at most one timeout for its answer) and exits 130.

Exit codes: 0 delivered and closed, 1 failed, 2 bad usage, 130 Ctrl+C.

Example:
  deno run --allow-net cliente.ts localhost 8000 < archivo.txt`;

/** The parsed command line of the client. */
export interface ClientOptions {
  /** Server host name or IP address. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Fixed timeout in ms, or adaptive when absent. */
  timeout?: number;
  /** Data bytes per segment. */
  mss: number;
  /** The sliding window: segments in flight, loss recovery, congestion control. */
  mode: WindowOptions;
  /** Retransmissions before giving up. */
  retries: number;
  /** Print trace lines on stderr. */
  trace: boolean;
  /** Write trace events to this file. */
  traceFile?: string;
  /** Plain UDP mode. */
  udp: boolean;
  /** No progress and no summary. */
  quiet: boolean;
  /** The most bytes read whole into memory (from a pipe, or for `--udp`). */
  maxSize: number;
}

/** `--max-size` by default: 1 GiB. */
const DEFAULT_MAX_SIZE = 2 ** 30;

/** Parses `--max-size`: bytes, or K, M, G (KiB, MiB, GiB). @throws {UsageError} */
function parseSize(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MAX_SIZE;
  const match = /^\s*(\d+)\s*([KMG])?(?:i?B)?\s*$/i.exec(text);
  const value = match
    ? Number(match[1]) * 1024 ** " KMG".indexOf((match[2] ?? " ").toUpperCase())
    : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(
      `--max-size is "${text}", expected a number of bytes, such as 1000000 or 4M (K, M, G: KiB, MiB, GiB)`,
    );
  }
  return value;
}

/**
 * Parses the client's arguments; returns `"help"` for `--help`.
 *
 * @throws {UsageError} on bad usage.
 */
export function parseClientArgs(args: string[]): ClientOptions | "help" {
  const { values, positionals } = parseArguments(
    args,
    { ...TRANSFER_OPTIONS, retries: { type: "string" }, "max-size": { type: "string" } },
    Infinity,
  );
  if (values.help) return "help";
  if (positionals.length < 2) throw new UsageError("expected HOST and PORT");
  if (positionals.length > 2) {
    throw new UsageError(
      `unexpected argument "${positionals[2]}" (the file comes from standard input: < FILE)`,
    );
  }
  if (positionals[0].trim() === "") {
    throw new UsageError(`HOST is "${positionals[0]}", expected a host name or an IP address`);
  }
  const mss = parseMss(values.mss, values.udp);
  return {
    hostname: positionals[0],
    port: parsePort(positionals[1], "PORT", 1),
    timeout: parseInteger(values.timeout, "timeout", 1, 600_000),
    mss,
    mode: parseWindowOptions(values),
    retries: parseInteger(values.retries, "retries", 0, 1000) ?? 20,
    trace: values.trace,
    traceFile: values["trace-file"],
    udp: values.udp,
    quiet: values.quiet,
    maxSize: parseSize(values["max-size"]),
  };
}

/**
 * What standard input is, before anything is sent: its size when it is a
 * regular file, `undefined` when it is a pipe, a terminal or cannot be told.
 *
 * @throws {CliError} when it cannot be read at all (`< DIR`), so that the
 * client says so before it connects.
 */
function inspectInput(): { size: number | undefined } {
  let stat;
  try {
    stat = fstatSync(0);
  } catch {
    return { size: undefined }; // not stat-able: read it whole
  }
  if (stat.isDirectory()) {
    throw new CliError("cliente: cannot read standard input: it is a directory");
  }
  return { size: stat.isFile() ? stat.size : undefined };
}

/**
 * Standard input as a sized source: streamed when it is a regular file, read
 * whole otherwise (its length goes first), at most `options.maxSize` bytes;
 * `progress` shows how much was read when that takes more than a second.
 */
async function openInput(options: ClientOptions, progress: Progress): Promise<
  { size: number; chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
> {
  const { size } = inspectInput();
  if (size !== undefined) return { size, chunks: Deno.stdin.readable };
  if (Deno.stdin.isTerminal()) {
    console.error("cliente: reading the file from standard input (end it with Ctrl+D)");
  }
  const why = "a pipe is read whole before anything is sent, since its length goes first; " +
    "raise --max-size, or redirect a file (< FILE), which is streamed";
  let read = 0;
  const slow = setTimeout(
    () => progress.follow(() => ({ label: "reading stdin", done: read, retransmissions: 0 })),
    1000,
  );
  try {
    const parts = await readAll(Deno.stdin.readable, options.maxSize, why, (n) => read = n);
    return { size: read, chunks: parts };
  } finally {
    clearTimeout(slow);
    progress.hide();
  }
}

/**
 * Reads standard input to its end, in parts, at most `max` bytes; `onRead`
 * gets the count so far.
 *
 * @throws {CliError} saying why it could not be read, or that it holds more
 * than `max` bytes (`why` says what to do then).
 */
async function readAll(
  stream: ReadableStream<Uint8Array>,
  max: number,
  why: string,
  onRead: (bytes: number) => void = () => {},
): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  let read = 0;
  try {
    for await (const part of stream) {
      read += part.length;
      if (read > max) {
        throw new CliError(
          `cliente: standard input is longer than --max-size (${
            max < 1024 ? formatCount(max, "byte") : formatBytes(max)
          }): ${why}`,
        );
      }
      parts.push(part);
      onRead(read);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    // Say why, in one line: say, a descriptor open only for writing (0>FILE).
    throw new CliError(`cliente: cannot read standard input: ${(error as Error).message}`);
  }
  return parts;
}

/** Rejects with the signal's reason as soon as it aborts. */
function orAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Marks the abort of a Ctrl+C, apart from other aborts. */
class Interrupted extends Error {
  constructor() {
    super("interrupted by Ctrl+C");
    this.name = "Interrupted";
  }
}

/** Sends standard input over SocketTCP; returns the exit code. */
async function sendTcp(options: ClientOptions): Promise<number> {
  const progress = new Progress(!options.quiet);
  const trace = new TraceOutput({
    tool: "cliente",
    text: options.trace,
    file: options.traceFile,
    print: (line) => progress.log(line),
  });
  // As the server prints addresses: an IPv6 host in brackets ([::1]:8000).
  const target = formatAddr({
    hostname: options.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: options.port,
  });
  const stop = new AbortController();
  // Ctrl+C while sending lets the segment in flight finish (at most one
  // timeout), so that both ends agree on the sequence number and the FIN that
  // follows is one the server accepts; a second Ctrl+C stops at once.
  let interrupted = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const onSigint = () => {
    if (phase !== "send" || interrupted) {
      stop.abort(new Interrupted());
      return;
    }
    interrupted = true;
    grace = setTimeout(() => stop.abort(new Interrupted()), oneTimeout());
  };
  const oneTimeout = () => Math.max(20, Math.round(socket.stats.rto));
  Deno.addSignalListener("SIGINT", onSigint);
  let phase: "input" | "connect" | "send" | "close" = "input";
  /** What came back from the server's address that is not SocketTCP, and whether a FIN+ACK came. */
  let plainUdpFrom: Addr | null = null;
  let finAckSeen = false;
  const socket = new SocketTCP({
    mss: options.mss,
    window: options.mode.window,
    arq: options.mode.arq,
    congestion: options.mode.congestion,
    timeout: options.timeout,
    maxRetries: options.retries,
    onTrace: trace.sink,
    link: observeDatagrams((bytes, from) => {
      if (isPlainUdpDatagram(bytes)) {
        plainUdpFrom ??= from;
        // The server is in --udp mode: no SYN+ACK will ever come.
        if (phase === "connect") {
          stop.abort(
            new CliError(
              `cliente: ${formatAddr(from)} answers with plain UDP datagrams, not SocketTCP ` +
                `segments: is the other end in --udp mode?`,
            ),
          );
        }
      } else if (interrupted || stop.signal.aborted) {
        const segment = segmentIn(bytes);
        if (segment?.fin && segment.ack) finAckSeen = true;
      }
    }),
  });
  let size = 0;
  /** Bytes of the file the server acknowledged (sendStream buffers ahead of them). */
  const delivered = () => socket.outgoing?.acknowledged ?? 0;
  try {
    const input = await orAbort(openInput(options, progress), stop.signal);
    size = input.size;
    const hash = new Sha256();
    const started = performance.now();
    // One window's worth at a time (one segment for Stop & Wait), so that a
    // Ctrl+C stops the reading within one window of where the send is.
    const piece = options.mss * Math.max(1, options.mode.window);
    const counted = async function* () {
      for await (const chunk of input.chunks) {
        hash.update(chunk);
        for (let at = 0; at < chunk.length; at += piece) {
          if (interrupted) throw new Interrupted();
          yield chunk.subarray(at, at + piece);
        }
      }
    };
    phase = "connect";
    await socket.connect({ hostname: options.hostname, port: options.port }, {
      signal: stop.signal,
    });
    // A Ctrl+C that came as the handshake ended: stop before the first segment.
    if (stop.signal.aborted) throw stop.signal.reason;
    phase = "send";
    // The bar is redrawn on a timer from what the server acknowledged: sendStream
    // reads the input ahead of that (a whole piece at a time), and on a slow
    // link a piece takes seconds.
    progress.follow(() => ({
      done: delivered(),
      total: size,
      retransmissions: socket.stats.retransmissions,
    }));
    await socket.sendStream(size, counted(), { signal: stop.signal });
    const delivering = performance.now() - started;
    phase = "close";
    await orAbort(socket.close(), stop.signal);
    const closing = performance.now() - started - delivering;
    progress.done();
    if (!options.quiet) {
      const stats = socket.stats;
      console.error(
        formatSummary(`cliente: ${paint("green", "delivered")} to ${target}:`, {
          bytes: size,
          segmentsSent: stats.segmentsSent,
          segmentsReceived: stats.segmentsReceived,
          retransmissions: stats.retransmissions,
          spurious: stats.spuriousRetransmissions,
          duplicates: stats.duplicates,
          lastAckCopies: stats.lastAckCopies,
          elapsed: delivering,
          closeElapsed: closing,
          sha256: hash.hex(),
          mode: describeMode(options.mode),
          cwnd: options.mode.congestion === "none"
            ? undefined
            : { final: stats.cwnd, peak: stats.peakCwnd },
        }),
      );
    }
    return 0;
  } catch (error) {
    progress.done();
    if (!(error instanceof Interrupted)) {
      const sofar = phase === "send" ? ` after ${deliveredOf(delivered(), size)}` : "";
      throw explain(error, phase, target, options, plainUdpFrom, sofar);
    }
    const of = () => `${formatCount(delivered())} of ${formatCount(size, "byte")}`;
    if (phase === "input" || phase === "connect") {
      // Connected just as Ctrl+C came: the server is told with a FIN, as below.
      if (socket.remoteAddr) await closeWithin(socket, oneTimeout());
      console.error(`cliente: interrupted before anything was sent to ${target}`);
    } else if (phase === "close") {
      console.error(`cliente: interrupted while closing; all ${of()} were delivered to ${target}`);
    } else {
      // Tell the server: a FIN, waiting at most one timeout for its FIN+ACK.
      clearTimeout(grace);
      const wait = oneTimeout();
      await closeWithin(socket, wait);
      // Measured after the close: what was in flight when Ctrl+C came has landed.
      console.error(
        `cliente: interrupted: ${
          deliveredOf(delivered(), size)
        } delivered to ${target}; sent FIN, ` +
          (finAckSeen ? "the server confirmed" : `no answer within ${wait} ms`),
      );
    }
    return 130;
  } finally {
    clearTimeout(grace);
    Deno.removeSignalListener("SIGINT", onSigint);
    await socket.close().catch(() => {});
    trace.close();
  }
}

/** Closes as host A (FIN), but gives up waiting after `ms`: the socket is released then. */
async function closeWithin(socket: SocketTCP, ms: number): Promise<void> {
  const closing = socket.close().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([closing, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
  // A close still waiting (for FIN+ACK, or between copies of the last ACK) is cut short.
  await socket.close().catch(() => {});
  await closing;
}

/** `321,584 of 3,000,000 bytes (10%)`: how much of the file the server acknowledged. */
function deliveredOf(delivered: number, size: number): string {
  const percent = size > 0 ? ` (${Math.floor((delivered * 100) / size)}%)` : "";
  return `${formatCount(delivered)} of ${formatCount(size, "byte")}${percent}`;
}

/**
 * Turns an expected failure into a {@linkcode CliError} with one clear line;
 * `sofar` (` after N of M bytes (P%)`, or empty) ends the line of a failure
 * part-way through the file.
 */
function explain(
  error: unknown,
  phase: "input" | "connect" | "send" | "close",
  target: string,
  options: ClientOptions,
  plainUdpFrom: Addr | null,
  sofar: string,
): unknown {
  if (error instanceof PeerTimeoutError) {
    if (phase === "connect" && (plainUdpFrom || error.instead === undefined)) {
      return new CliError(
        plainUdpFrom
          ? `cliente: ${
            formatAddr(plainUdpFrom)
          } answers with plain UDP datagrams, not SocketTCP segments: is the other end in --udp mode?`
          : `cliente: no server answered at ${target} after ${
            formatCount(error.attempts ?? 0, "SYN")
          } ` +
            `(is servidor.ts running there, and not busy with another client? is the other end in --udp mode?)`,
      );
    }
    return new CliError(
      error.instead === undefined
        ? `cliente: the server at ${target} stopped answering${sofar}: no ${error.waitingFor} ${error.detail}`
        : `cliente: the server at ${target} made no progress${sofar}: no ${error.waitingFor} ${error.detail}; ${error.instead}`,
    );
  }
  if (error instanceof ConnectionClosedError) {
    return new CliError(
      `cliente: the server at ${target} closed the connection${
        sofar && `${sofar},`
      } before the file was delivered`,
    );
  }
  if (error instanceof ProtocolError) {
    return new CliError(
      `cliente: the server at ${target} broke the protocol: ${asClause(error.message, "it")}`,
    );
  }
  if (error instanceof Deno.errors.NotFound && phase === "connect") {
    return new CliError(`cliente: cannot resolve host "${options.hostname}"`);
  }
  if (error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.AddrInUse) {
    return new CliError(`cliente: cannot open a UDP socket: ${error.message}`);
  }
  if (error instanceof RangeError && phase === "send") {
    return new CliError(`cliente: standard input changed while it was sent: ${error.message}`);
  }
  return error;
}

/** Sends standard input as plain UDP datagrams, no reliability; returns the exit code. */
async function sendUdp(options: ClientOptions): Promise<number> {
  inspectInput();
  const hostname = await resolveHost(options.hostname).catch(() => {
    throw new CliError(`cliente: cannot resolve host "${options.hostname}"`);
  });
  const file = concatBytes(
    await readAll(
      Deno.stdin.readable,
      options.maxSize,
      "--udp reads it whole before sending; raise --max-size",
    ),
  );
  const sent = await sendPlainUdp(file, { hostname, port: options.port }, options.mss);
  if (!options.quiet) {
    console.error(
      `cliente: sent ${formatCount(file.length, "byte")} (${formatBytes(file.length)}) to ${
        formatAddr({ hostname, port: options.port })
      } as ${formatCount(sent.datagrams, "plain UDP datagram")} in ${
        Math.round(sent.elapsed)
      } ms, nothing acknowledged\n  SHA-256: ${sent.sha256}`,
    );
  }
  return 0;
}

/** The client's command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("cliente", USAGE, () => parseClientArgs(args));
  if (typeof options === "number") return options;
  try {
    requirePermission("cliente", { name: "net" }, "--allow-net", "to use the network");
    requireTraceFilePermission("cliente", options.traceFile);
    return options.udp ? await sendUdp(options) : await sendTcp(options);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(error.message);
      return 1;
    }
    if (error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.Interrupted) {
      console.error(`cliente: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
