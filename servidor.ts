/**
 * The server: accepts {@linkcode SocketTCP} connections and writes each file
 * it receives to standard output (or, with `--out DIR`, to a file of its own
 * in DIR). Logs and summaries go to stderr. With `--udp`, it receives plain
 * datagrams instead and tells how damaged the file arrived.
 *
 * ```sh
 * deno run --allow-net servidor.ts localhost 8000 > recibido.txt
 * ```
 *
 * Exit codes: 0 (Ctrl+C, or `--once` and the transfer succeeded); 1 failed
 * (one line on stderr says why); 2 bad usage.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  CliError,
  describeMode,
  formatCount,
  formatDuration,
  formatSummary,
  paint,
  parseCommandLine,
  parseInteger,
  parseMss,
  parsePort,
  parseWindowOptions,
  requirePermission,
  requireTraceFilePermission,
  Sha256,
  TraceOutput,
  TRANSFER_OPTIONS,
  UdpReception,
  UsageError,
  type WindowOptions,
  writeAll,
} from "./cli.ts";
import { type Addr, formatAddr, isIpLiteral, normalizeHost } from "./link.ts";
import { ConnectionClosedError, PeerTimeoutError, ProtocolError, SocketTCP } from "./socket_tcp.ts";

/** The usage text of the server, printed by `--help` and on bad usage. */
export const USAGE = `Usage: deno run --allow-net servidor.ts [HOST] [PORT] [options]

Receives files sent by cliente.ts over SocketTCP (Stop & Wait over UDP) and
writes each one to standard output; logs and summaries go to stderr. HOST and
PORT default to localhost 8000; PORT 0 picks a free port. The first stderr
line is always "servidor: listening on HOST:PORT" (unless --quiet).

Options:
  --out DIR          save each file in DIR instead, named by time and peer; a
                     file appears under its name only once complete
                     (needs --allow-read=DIR --allow-write=DIR)
  --once             exit after one transfer (exit code 1 if it failed)
  --timeout MS       fixed retransmission timeout (default: adaptive, RFC 6298)
  --mss N            data bytes per segment (default 16)
  --window N         segments a selective-repeat receiver holds past a hole,
                     and in flight when it sends (default 1: Stop & Wait)
  --arq gbn|sr       a window's loss recovery: Go-Back-N (default) or
                     selective repeat
  --cc none|tahoe|reno  congestion control (default none: a fixed window)
  --idle-timeout MS  give up on a client that sends nothing for MS
                     (default 30000; with --udp, the gap that ends a transfer,
                     default 1000)
  --trace            one line per segment sent or received, on stderr
                     (SocketTCP only, like --trace-file)
  --trace-file FILE  the same events as JSON lines (needs --allow-write=FILE)
  --udp              plain UDP instead: no ACKs, no retransmission (the
                     assignment's step 1); reports what arrived
  --quiet            print only errors
  --help             print this help

Example:
  deno run --allow-net servidor.ts localhost 8000 > recibido.txt`;

/** The parsed command line of the server. */
export interface ServerOptions {
  /** Address to listen on (an IP address or localhost). */
  hostname: string;
  /** Port to listen on; 0 for any free port. */
  port: number;
  /** Directory to save files in, instead of stdout. */
  out?: string;
  /** Exit after one transfer. */
  once: boolean;
  /** Fixed timeout in ms, or adaptive when absent. */
  timeout?: number;
  /** Data bytes per segment (datagram size with --udp). */
  mss: number;
  /** The sliding window: segments in flight and held, loss recovery, congestion control. */
  mode: WindowOptions;
  /** How long a silent client is waited for, in ms. */
  idleTimeout: number;
  /** Print trace lines on stderr. */
  trace: boolean;
  /** Write trace events to this file. */
  traceFile?: string;
  /** Plain UDP mode. */
  udp: boolean;
  /** Print only errors. */
  quiet: boolean;
}

/**
 * Parses the server's arguments; returns `"help"` for `--help`.
 *
 * @throws {UsageError} (or a `parseArgs` error) on bad usage.
 */
export function parseServerArgs(args: string[]): ServerOptions | "help" {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TRANSFER_OPTIONS,
      out: { type: "string" },
      once: { type: "boolean", default: false },
      "idle-timeout": { type: "string" },
    },
  });
  if (values.help) return "help";
  if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
  const hostname = (positionals[0] ?? "localhost").replace(/^\[(.*)\]$/, "$1");
  if (hostname !== "localhost" && !isIpLiteral(hostname)) {
    throw new UsageError(`HOST is "${hostname}", expected an IP address or localhost`);
  }
  const mss = parseMss(values.mss, values.udp);
  if (values.out === "") throw new UsageError("--out is empty, expected a directory");
  return {
    hostname,
    port: positionals[1] === undefined ? 8000 : parsePort(positionals[1]),
    out: values.out,
    once: values.once,
    timeout: parseInteger(values.timeout, "timeout", 1, 600_000),
    mss,
    mode: parseWindowOptions(values),
    idleTimeout: parseInteger(values["idle-timeout"], "idle-timeout", 1, 86_400_000) ??
      (values.udp ? 1000 : 30_000),
    trace: values.trace,
    traceFile: values["trace-file"],
    udp: values.udp,
    quiet: values.quiet,
  };
}

// ------------------------------------------------------------------ sinks

/** Where one received file goes. */
interface Sink {
  write(bytes: Uint8Array): Promise<void>;
  /** The file is complete; returns where it went. */
  commit(): Promise<string>;
  /** The transfer failed: undo what can be undone; returns a note for the log. */
  abort(): Promise<string>;
}

/**
 * Standard output, shared by concurrent connections: one connection writes
 * at a time, in the order they began; a connection waiting for its turn keeps
 * its bytes in memory until then (use `--out` for big concurrent transfers).
 */
class StdoutQueue {
  #tail: Promise<void> = Promise.resolve();

  open(): Sink {
    const previous = this.#tail;
    const finished = Promise.withResolvers<void>();
    this.#tail = previous.then(() => finished.promise);
    let turn = false;
    let written = 0;
    const waiting: Uint8Array[] = [];
    const ready = previous.then(async () => {
      turn = true;
      for (const bytes of waiting.splice(0)) await writeAll(Deno.stdout, bytes);
    });
    return {
      async write(bytes) {
        written += bytes.length;
        if (!turn) {
          waiting.push(bytes);
          return;
        }
        await ready;
        await writeAll(Deno.stdout, bytes);
      },
      async commit() {
        await ready;
        finished.resolve();
        return "stdout";
      },
      async abort() {
        waiting.length = 0;
        await ready.catch(() => {});
        finished.resolve();
        return written > 0 ? "stdout holds the partial file" : "nothing was written";
      },
    };
  }
}

/** A safe file-name piece from a time and an address. */
function fileName(peer: Addr, when: Date): string {
  const stamp = when.toISOString().replace(/[-:]/g, "").replace("T", "-").replace("Z", "");
  return `${stamp}_${peer.hostname.replace(/[^0-9A-Za-z.]/g, "_")}_${peer.port}.bin`;
}

/** A file in `dir`, written under a temporary name and renamed when complete. */
async function fileSink(dir: string, peer: Addr): Promise<Sink> {
  const name = fileName(peer, new Date());
  const temp = `${dir}/.${name}.part`;
  const file = await Deno.open(temp, { write: true, createNew: true });
  let open = true;
  const closeFile = () => {
    if (open) file.close();
    open = false;
  };
  return {
    async write(bytes) {
      await writeAll(file, bytes);
    },
    async commit() {
      closeFile();
      let final = `${dir}/${name}`;
      for (let n = 2; await exists(final); n++) {
        final = `${dir}/${name.replace(/\.bin$/, `-${n}.bin`)}`;
      }
      await Deno.rename(temp, final);
      return final;
    },
    async abort() {
      closeFile();
      await Deno.remove(temp).catch(() => {});
      return "partial file removed";
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- serving

interface Context {
  options: ServerOptions;
  log: (line: string) => void;
  stdout: StdoutQueue;
  signal: AbortSignal;
}

/** Receives one connection's file; resolves true on success. Never rejects. */
async function serveConnection(
  context: Context,
  conn: SocketTCP,
  id: number,
): Promise<boolean> {
  const { options, log, signal } = context;
  const peer = conn.remoteAddr!;
  const name = `servidor: #${id} ${formatAddr(peer)}`;
  const started = performance.now();
  const hash = new Sha256();
  let bytes = 0;
  let sink: Sink | null = null;
  try {
    if (!options.quiet) log(`${name}: connected (served from port ${conn.localAddr.port})`);
    sink = options.out ? await fileSink(options.out, peer) : context.stdout.open();
    // The client sends the file as one message, then closes: read until the
    // message has no bytes left, then answer the close as host B.
    do {
      const piece = await conn.recv(65536, { signal });
      hash.update(piece);
      bytes += piece.length;
      await sink.write(piece);
    } while (conn.incoming !== null);
    // Every byte is in: the file is complete whatever happens to the close.
    const where = await sink.commit();
    sink = null;
    if (!options.quiet) {
      const stats = conn.stats;
      log(
        formatSummary(`${name}: ${paint("green", "received")}`, {
          bytes,
          segmentsSent: stats.segmentsSent,
          segmentsReceived: stats.segmentsReceived,
          retransmissions: stats.retransmissions,
          duplicates: stats.duplicates,
          elapsed: performance.now() - started,
          sha256: hash.hex(),
          mode: describeMode(options.mode),
        }) + `\n  written to: ${where}`,
      );
    }
    try {
      await conn.recvClose({ signal });
    } catch (error) {
      // A peer that closes as the assignment says gives up after 3 FINs, and all
      // of them may be lost; anything else here is the server shutting down.
      if (error instanceof PeerTimeoutError && !options.quiet) {
        log(`${name}: no FIN arrived (${error.detail}); assumed the client closed`);
      }
    }
    return true;
  } catch (error) {
    const note = sink ? await sink.abort() : "nothing was written";
    log(
      `${name}: ${paint("red", "failed")}: ${why(error, options)} after ${
        formatCount(bytes)
      } bytes; ${note}`,
    );
    return false;
  } finally {
    await conn.close().catch(() => {});
  }
}

/** One line saying why a connection failed. */
function why(error: unknown, options: ServerOptions): string {
  if (error instanceof PeerTimeoutError) {
    return error.waitingFor === "data" || error.waitingFor === "FIN"
      ? `the client went silent (nothing for ${formatDuration(options.idleTimeout)})`
      : `the client stopped answering (no ${error.waitingFor} after ${error.attempts} tries)`;
  }
  if (error instanceof ConnectionClosedError) return error.message;
  if (error instanceof ProtocolError) return `the client broke the protocol: ${error.message}`;
  if (error instanceof DOMException && error.name === "AbortError") return "stopped by Ctrl+C";
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Runs until Ctrl+C (or one transfer with `--once`); returns the exit code. */
async function serveTcp(options: ServerOptions, stop: AbortController): Promise<number> {
  const trace = new TraceOutput({
    tool: "servidor",
    text: options.trace,
    file: options.traceFile,
    print: (line) => console.error(line),
    prefix: (event) => `${event.peer.padEnd(21)} `,
  });
  const listener = new SocketTCP({
    mss: options.mss,
    window: options.mode.window,
    arq: options.mode.arq,
    congestion: options.mode.congestion,
    timeout: options.timeout,
    idleTimeout: options.idleTimeout,
    onTrace: trace.sink,
  });
  try {
    listener.bind({ hostname: options.hostname, port: options.port });
  } catch (error) {
    trace.close();
    throw bindError(error, options);
  }
  const context: Context = {
    options,
    log: (line) => console.error(line),
    stdout: new StdoutQueue(),
    signal: stop.signal,
  };
  if (!options.quiet) console.error(`servidor: listening on ${formatAddr(listener.localAddr)}`);
  const tasks = new Set<Promise<boolean>>();
  let ids = 0;
  let exitCode = 0;
  stop.signal.addEventListener("abort", () => void listener.close(), { once: true });
  try {
    while (!stop.signal.aborted) {
      let conn: SocketTCP;
      try {
        [conn] = await listener.accept({ signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      const task = serveConnection(context, conn, ++ids);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
      if (options.once) {
        await listener.close();
        exitCode = (await task) ? 0 : 1;
        break;
      }
    }
    await Promise.all(tasks);
  } finally {
    await listener.close();
    trace.close();
  }
  if (stop.signal.aborted && !options.quiet) console.error("servidor: stopped");
  return options.once && !stop.signal.aborted ? exitCode : 0;
}

function bindError(error: unknown, options: ServerOptions): unknown {
  const where = formatAddr({ hostname: options.hostname, port: options.port });
  if (error instanceof Deno.errors.AddrInUse) {
    return new CliError(`servidor: cannot listen on ${where}: the port is in use`);
  }
  if (error instanceof Deno.errors.AddrNotAvailable || error instanceof TypeError) {
    return new CliError(`servidor: cannot listen on ${where}: ${(error as Error).message}`);
  }
  return error;
}

// --------------------------------------------------------------- plain UDP

/** Receives plain-UDP transfers (`--udp`) until Ctrl+C or, with `--once`, one transfer. */
async function serveUdp(options: ServerOptions, stop: AbortController): Promise<number> {
  const hostname = normalizeHost(options.hostname);
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: "udp", hostname, port: options.port });
  } catch (error) {
    throw bindError(error, options);
  }
  const local = socket.addr as Deno.NetAddr;
  if (!options.quiet) {
    console.error(
      `servidor: listening on ${formatAddr(local)} (plain UDP: no ACKs, no retransmission)`,
    );
  }
  const stdout = new StdoutQueue();
  interface Transfer {
    reception: UdpReception;
    sink: Promise<Sink>;
    writes: Promise<void>;
    peer: Addr;
  }
  const transfers = new Map<string, Transfer>();
  /** Senders whose transfer ended, so that their stragglers do not start a new one. */
  const finished = new Map<string, number>();
  const done = Promise.withResolvers<void>();
  let exitCode = 0;
  let ids = 0;

  const end = async (key: string, transfer: Transfer) => {
    transfers.delete(key);
    finished.set(key, performance.now());
    const id = ++ids;
    const { reception } = transfer;
    const result = reception.finish();
    const sink = await transfer.sink;
    await transfer.writes.catch(() => {});
    const where = await sink.commit();
    if (!result.intact) exitCode = 1;
    if (!options.quiet) {
      const verdict = result.intact
        ? paint("green", "arrived intact")
        : paint("red", "arrived damaged");
      console.error(
        `servidor: #${id} ${formatAddr(transfer.peer)} (UDP): ${verdict}: ${result.verdict}\n` +
          `  datagrams: ${formatCount(reception.datagrams)}; elapsed ${
            formatDuration(reception.lastSeen - reception.started)
          }\n  SHA-256: ${result.sha256}${
            reception.expectedSha256 ? ` (sent: ${reception.expectedSha256})` : ""
          }\n  written to: ${where}`,
      );
    }
    if (options.once) done.resolve();
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [key, transfer] of [...transfers]) {
      if (now - transfer.reception.lastSeen >= options.idleTimeout) void end(key, transfer);
    }
    for (const [key, at] of [...finished]) {
      if (now - at >= 10 * options.idleTimeout) finished.delete(key);
    }
  }, Math.max(5, Math.min(250, options.idleTimeout / 4)));

  let closed = false;
  const closeSocket = () => {
    if (!closed) socket.close();
    closed = true;
  };
  const reader = (async () => {
    const buffer = new Uint8Array(65536);
    while (!closed) {
      let bytes: Uint8Array, from: Deno.NetAddr;
      try {
        const [data, addr] = await socket.receive(buffer);
        bytes = data;
        from = addr as Deno.NetAddr;
      } catch {
        if (closed) return;
        // A transient error (an ICMP report on some systems): keep reading,
        // one timer tick later, so that a failing socket cannot spin.
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const peer = { hostname: from.hostname, port: from.port };
      const key = formatAddr(peer);
      if (finished.has(key)) continue;
      let transfer = transfers.get(key);
      if (!transfer) {
        if (options.once && ids > 0) continue;
        transfer = {
          reception: new UdpReception(options.mss),
          sink: options.out ? fileSink(options.out, peer) : Promise.resolve(stdout.open()),
          writes: Promise.resolve(),
          peer,
        };
        transfers.set(key, transfer);
      }
      const data = transfer.reception.onDatagram(bytes);
      if (data.length > 0) {
        const current = transfer;
        current.writes = current.writes.then(async () => (await current.sink).write(data));
      }
      if (transfer.reception.complete) void end(key, transfer);
    }
  })();

  const onAbort = () => {
    closeSocket();
    done.resolve();
  };
  stop.signal.addEventListener("abort", onAbort, { once: true });
  await done.promise;
  clearInterval(sweep);
  closeSocket();
  await reader;
  for (const [key, transfer] of [...transfers]) await end(key, transfer);
  stop.signal.removeEventListener("abort", onAbort);
  if (stop.signal.aborted && !options.quiet) console.error("servidor: stopped");
  return options.once && !stop.signal.aborted ? exitCode : 0;
}

// ------------------------------------------------------------------- main

/** The server's command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("servidor", USAGE, () => parseServerArgs(args));
  if (typeof options === "number") return options;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  try {
    requirePermission("servidor", { name: "net" }, "--allow-net", "to use the network");
    if (options.out !== undefined) {
      const flags = `--allow-read=${options.out} --allow-write=${options.out}`;
      requirePermission("servidor", { name: "read", path: options.out }, flags, "to use --out");
      requirePermission("servidor", { name: "write", path: options.out }, flags, "to use --out");
      let isDirectory = false;
      try {
        isDirectory = (await Deno.stat(options.out)).isDirectory;
      } catch {
        // reported below
      }
      if (!isDirectory) {
        throw new CliError(`servidor: cannot use --out ${options.out}: not a directory`);
      }
    }
    requireTraceFilePermission("servidor", options.traceFile);
    Deno.addSignalListener("SIGINT", onSignal);
    return options.udp ? await serveUdp(options, stop) : await serveTcp(options, stop);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onSignal);
    } catch {
      // never added
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
