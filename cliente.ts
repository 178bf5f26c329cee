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
 * why); 2 bad usage.
 *
 * @module
 */

import { fstatSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  CliError,
  concatBytes,
  describeMode,
  formatBytes,
  formatCount,
  formatSummary,
  paint,
  parseCommandLine,
  parseInteger,
  parseMss,
  parsePort,
  parseWindowOptions,
  Progress,
  requirePermission,
  requireTraceFilePermission,
  Sha256,
  toHex,
  TraceOutput,
  TRANSFER_OPTIONS,
  udpDatagrams,
  UsageError,
  type WindowOptions,
} from "./cli.ts";
import { formatAddr, resolveHost } from "./link.ts";
import { ConnectionClosedError, PeerTimeoutError, ProtocolError, SocketTCP } from "./socket_tcp.ts";

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
  --trace            one line per segment sent or received, on stderr
                     (SocketTCP only, like --trace-file)
  --trace-file FILE  the same events as JSON lines (needs --allow-write=FILE)
  --udp              plain UDP instead: datagrams of at most 16 bytes, no ACKs,
                     no retransmission (the assignment's step 1)
  --quiet            no progress bar and no summary
  --help             print this help

Exit codes: 0 delivered and closed, 1 failed, 2 bad usage.

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
}

/**
 * Parses the client's arguments; returns `"help"` for `--help`.
 *
 * @throws {UsageError} (or a `parseArgs` error) on bad usage.
 */
export function parseClientArgs(args: string[]): ClientOptions | "help" {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...TRANSFER_OPTIONS, retries: { type: "string" } },
  });
  if (values.help) return "help";
  if (positionals.length < 2) throw new UsageError("expected HOST and PORT");
  if (positionals.length > 2) {
    throw new UsageError(
      `unexpected argument "${positionals[2]}" (the file comes from standard input: < FILE)`,
    );
  }
  const mss = parseMss(values.mss, values.udp);
  return {
    hostname: positionals[0],
    port: parsePort(positionals[1]),
    timeout: parseInteger(values.timeout, "timeout", 1, 600_000),
    mss,
    mode: parseWindowOptions(values),
    retries: parseInteger(values.retries, "retries", 0, 1000) ?? 20,
    trace: values.trace,
    traceFile: values["trace-file"],
    udp: values.udp,
    quiet: values.quiet,
  };
}

/** Standard input as a sized source: streamed when it is a regular file, read whole otherwise. */
async function openInput(): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> }> {
  let size: number | undefined;
  try {
    const stat = fstatSync(0);
    if (stat.isFile()) size = stat.size;
  } catch {
    // not stat-able: read it whole below
  }
  if (size !== undefined) return { size, chunks: Deno.stdin.readable };
  if (Deno.stdin.isTerminal()) {
    console.error("cliente: reading the file from standard input (end it with Ctrl+D)");
  }
  const whole = await readAll(Deno.stdin.readable);
  return { size: whole.length, chunks: pieces(whole, 4096) };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatBytes(parts);
}

async function* pieces(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
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
  const target = `${options.hostname}:${options.port}`;
  const socket = new SocketTCP({
    mss: options.mss,
    window: options.mode.window,
    arq: options.mode.arq,
    congestion: options.mode.congestion,
    timeout: options.timeout,
    maxRetries: options.retries,
    onTrace: trace.sink,
  });
  let phase: "connect" | "send" | "close" = "connect";
  try {
    const input = await openInput();
    const hash = new Sha256();
    let done = 0;
    const started = performance.now();
    const counted = async function* () {
      for await (const chunk of input.chunks) {
        hash.update(chunk);
        // Small pieces, so that the progress bar moves smoothly.
        for (let at = 0; at < chunk.length; at += 4096) {
          const piece = chunk.subarray(at, at + 4096);
          yield piece;
          done += piece.length;
          progress.update({
            done,
            total: input.size,
            retransmissions: socket.stats.retransmissions,
          });
        }
      }
    };
    await socket.connect({ hostname: options.hostname, port: options.port });
    phase = "send";
    await socket.sendStream(input.size, counted());
    phase = "close";
    await socket.close();
    const elapsed = performance.now() - started;
    progress.done();
    if (!options.quiet) {
      const stats = socket.stats;
      console.error(
        formatSummary(`cliente: ${paint("green", "delivered")} to ${target}:`, {
          bytes: input.size,
          segmentsSent: stats.segmentsSent,
          segmentsReceived: stats.segmentsReceived,
          retransmissions: stats.retransmissions,
          duplicates: stats.duplicates,
          elapsed,
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
    throw explain(error, phase, target, options);
  } finally {
    await socket.close().catch(() => {});
    trace.close();
  }
}

/** Turns an expected failure into a {@linkcode CliError} with one clear line. */
function explain(
  error: unknown,
  phase: "connect" | "send" | "close",
  target: string,
  options: ClientOptions,
): unknown {
  if (error instanceof PeerTimeoutError) {
    if (phase === "connect") {
      return new CliError(
        `cliente: no server answered at ${target} after ${error.attempts} SYNs`,
      );
    }
    return new CliError(
      `cliente: the server at ${target} stopped answering: no ${error.waitingFor} after ${error.attempts} tries`,
    );
  }
  if (error instanceof ConnectionClosedError) {
    return new CliError(
      `cliente: the server at ${target} closed the connection before the file was delivered`,
    );
  }
  if (error instanceof ProtocolError) {
    return new CliError(`cliente: the server at ${target} broke the protocol: ${error.message}`);
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
  const hostname = await resolveHost(options.hostname).catch(() => {
    throw new CliError(`cliente: cannot resolve host "${options.hostname}"`);
  });
  const file = await readAll(Deno.stdin.readable);
  const hash = new Sha256();
  hash.update(file);
  const digest = hash.bytes();
  const datagrams = udpDatagrams(file, digest, options.mss);
  const started = performance.now();
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: hostname.includes(":") ? "::" : "0.0.0.0",
    port: 0,
  });
  const to = { transport: "udp" as const, hostname, port: options.port };
  try {
    let index = 0;
    for (const datagram of datagrams) {
      await socket.send(datagram, to).catch(() => {});
      // Pace a little, so the kernel's buffers (not the network) are not what loses datagrams.
      if (++index % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    socket.close();
  }
  if (!options.quiet) {
    const hex = toHex(digest);
    console.error(
      `cliente: sent ${formatCount(file.length)} bytes (${formatBytes(file.length)}) to ${
        formatAddr({ hostname, port: options.port })
      } as ${formatCount(datagrams.length)} plain UDP datagrams in ${
        Math.round(performance.now() - started)
      } ms, nothing acknowledged\n  SHA-256: ${hex}`,
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
