/**
 * The server: receives files sent by `cliente.ts` over {@linkcode SocketTCP}.
 * Like the assignment's server (and `nc -l`), it receives ONE file, writes it
 * to standard output and exits; with `--out DIR` it serves many clients at
 * once, each file saved in DIR, until Ctrl+C. Logs and summaries go to
 * stderr. With `--udp`, it receives plain datagrams instead and tells how
 * damaged the file arrived.
 *
 * ```sh
 * deno run --allow-net servidor.ts localhost 8000 > recibido.txt
 * ```
 *
 * Exit codes: 0 the file arrived byte-exact and the connection closed (with
 * `--out`: stopped by Ctrl+C); 1 failed (one line on stderr says why); 2 bad
 * usage; 130 Ctrl+C before the file was complete; 143 SIGTERM and 129 SIGHUP
 * (with `--out` too).
 *
 * @module
 */

import {
  asClause,
  CliError,
  describeFileError,
  describeMode,
  formatCount,
  formatDuration,
  formatSummary,
  onStopSignals,
  paint,
  parseArguments,
  parseCommandLine,
  parseInteger,
  parseMss,
  parsePort,
  parseWindowOptions,
  requirePermission,
  requireTraceFilePermission,
  Sha256,
  STOP_SIGNALS,
  type StopSignal,
  TraceOutput,
  TRANSFER_OPTIONS,
  UsageError,
  type WindowOptions,
  writeAll,
} from "./cli.ts";
import { type Addr, formatAddr, resolveHost } from "./link.ts";
import { concatBytes } from "./segment.ts";
import { ConnectionClosedError, PeerTimeoutError, ProtocolError, SocketTCP } from "./socket_tcp.ts";
import {
  describeSegment,
  isPlainUdpDatagram,
  observeDatagrams,
  segmentIn,
  UdpReception,
} from "./udp_mode.ts";

/** The usage text of the server, printed by `--help`. */
export const USAGE = `Usage: deno run --allow-net servidor.ts [HOST] [PORT] [options]

Receives ONE file sent by cliente.ts over SocketTCP (Stop & Wait over UDP),
writes it to standard output and exits, like the assignment's server (and
nc -l); logs and summaries go to stderr. To receive many files, from many
clients at once, use --out DIR. HOST and PORT default to localhost 8000; a
lone number is the PORT; PORT 0 picks a free port. The first stderr line is
always "servidor: listening on HOST:PORT" (with --quiet, only for PORT 0).

Options:
  --out DIR          serve until Ctrl+C, many clients at once, saving each
                     file in DIR (created if missing), named by time and
                     peer; a file appears under its name only once complete
                     (needs --allow-read=DIR --allow-write=DIR)
  --once             with --out, exit after one transfer (without --out the
                     server always does)
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
  --quiet            print only errors (and the port PORT 0 picked)
  --help             print this help

Exit codes: 0 the file arrived byte-exact and the connection closed (with
--out: stopped by Ctrl+C), 1 failed, 2 bad usage, 130 Ctrl+C before the
file was complete, 143 SIGTERM and 129 SIGHUP (with --out too; like
Ctrl+C, they remove a partial file).

Examples:
  deno run --allow-net servidor.ts localhost 8000 > recibido.txt
  deno run --allow-net --allow-read=in --allow-write=in servidor.ts 8000 --out in`;

/** The parsed command line of the server. */
export interface ServerOptions {
  /** Address to listen on: a host name or an IP address. */
  hostname: string;
  /** Port to listen on; 0 for any free port. */
  port: number;
  /** Directory to save files in, instead of stdout. */
  out?: string;
  /** Exit after one transfer: always without `out`. */
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
 * Parses the server's arguments; returns `"help"` for `--help`. A lone
 * number is the port (`servidor.ts 8000`).
 *
 * @throws {UsageError} on bad usage.
 */
export function parseServerArgs(args: string[]): ServerOptions | "help" {
  const { values, positionals } = parseArguments(args, {
    ...TRANSFER_OPTIONS,
    out: { type: "string" },
    once: { type: "boolean", default: false },
    "idle-timeout": { type: "string" },
  }, 2);
  if (values.help) return "help";
  if (positionals.length === 1 && /^\d+$/.test(positionals[0])) positionals.unshift("localhost");
  const hostname = (positionals[0] ?? "localhost").replace(/^\[(.*)\]$/, "$1");
  if (!/^[0-9A-Za-z.:_-]+$/.test(hostname)) {
    throw new UsageError(`HOST is "${hostname}", expected a host name or an IP address`);
  }
  const mss = parseMss(values.mss, values.udp);
  if (values.out === "") throw new UsageError("--out is empty, expected a directory");
  return {
    hostname,
    port: positionals[1] === undefined ? 8000 : parsePort(positionals[1]),
    out: values.out,
    once: values.once || values.out === undefined,
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

/** Standard output: the one file of a server without `--out`. */
function stdoutSink(): Sink {
  let written = 0;
  return {
    async write(bytes) {
      written += bytes.length;
      await writeAll(Deno.stdout, bytes);
    },
    commit: () => Promise.resolve("stdout"),
    abort: () =>
      Promise.resolve(written > 0 ? "stdout holds the partial file" : "nothing was written"),
  };
}

/** Gathers small writes (one per segment) into writes of up to `size` bytes. */
function buffered(sink: Sink, size = 65_536): Sink {
  let parts: Uint8Array[] = [];
  let held = 0;
  const flush = async () => {
    if (held === 0) return;
    const bytes = concatBytes(parts);
    parts = [];
    held = 0;
    await sink.write(bytes);
  };
  return {
    async write(bytes) {
      parts.push(bytes);
      held += bytes.length;
      if (held >= size) await flush();
    },
    async commit() {
      await flush();
      return await sink.commit();
    },
    async abort() {
      await flush().catch(() => {});
      return await sink.abort();
    },
  };
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

/**
 * Makes `--out DIR` ready before anything is received: creates it like
 * `mkdir -p`, and writes and removes a probe file in it.
 *
 * @throws {CliError} saying why DIR cannot hold the files.
 */
async function prepareOutDir(dir: string): Promise<void> {
  const flags = `--allow-read=${dir} --allow-write=${dir}`;
  const fail = (why: string) => new CliError(`servidor: cannot use --out ${dir}: ${why}`);
  // The system's reason, or the permission Deno refused (not Deno's "--allow-all" advice).
  const because = (what: string, error: unknown) =>
    fail(`${what} (${describeFileError(error, flags)})`);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw error instanceof Deno.errors.AlreadyExists
      ? fail("not a directory")
      : because("cannot create it", error);
  }
  let isDirectory;
  try {
    isDirectory = (await Deno.stat(dir)).isDirectory;
  } catch (error) {
    throw because("cannot read it", error);
  }
  if (!isDirectory) throw fail("not a directory");
  const probe = `${dir}/.servidor-probe-${Deno.pid}`;
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
    await Deno.remove(probe);
  } catch (error) {
    throw because("cannot write in it", error);
  }
}

// ---------------------------------------------------------------- serving

interface Context {
  options: ServerOptions;
  log: (line: string) => void;
  signal: AbortSignal;
}

/**
 * How many bytes the server asks `recv` for at a time: independent of
 * `--mss`, because the receiver holds only what was asked for (plus one
 * segment) and refuses the rest as "no room": a client with a larger `--mss`
 * or a window would otherwise be refused most of its segments.
 */
const READ_SIZE = 65_536;

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
  const keep = async (piece: Uint8Array) => {
    hash.update(piece);
    bytes += piece.length;
    await sink!.write(piece);
  };
  try {
    if (!options.quiet) log(`${name}: connected (served from port ${conn.localAddr.port})`);
    sink = buffered(options.out ? await fileSink(options.out, peer) : stdoutSink());
    // The client sends the file as one message, then closes: read until the
    // message has no bytes left, then answer the close as host B.
    try {
      do await keep(await conn.recv(READ_SIZE, { signal })); while (conn.incoming !== null);
    } catch (error) {
      // A client that stops part-way leaves every byte it sent in the partial
      // file, and the count says so exactly: read what arrived and was not read.
      if (error instanceof ConnectionClosedError) await readWhatArrived(conn, keep, signal);
      throw error;
    }
    // Every byte is in: the file is complete whatever happens to the close.
    const where = await sink.commit();
    sink = null;
    const delivered = performance.now();
    // The summary comes after the close, so that its counts are the whole
    // connection's (the client's FIN and the server's answers included).
    let closeElapsed: number | undefined;
    let closeNote: string | undefined;
    try {
      await conn.recvClose({ signal });
      closeElapsed = performance.now() - delivered;
    } catch (error) {
      // A peer that closes as the assignment says gives up after 3 FINs, and all
      // of them may be lost; anything else here is the server shutting down.
      if (error instanceof PeerTimeoutError) {
        closeNote = `${name}: no FIN arrived (${error.detail}); assumed the client closed`;
      }
    }
    if (!options.quiet) {
      const stats = conn.stats;
      const lines = formatSummary(`${name}: ${paint("green", "received")}`, {
        bytes,
        segmentsSent: stats.segmentsSent,
        segmentsReceived: stats.segmentsReceived,
        retransmissions: stats.retransmissions,
        spurious: stats.spuriousRetransmissions,
        duplicates: stats.duplicates,
        refused: stats.ignored,
        elapsed: delivered - started,
        closeElapsed,
        sha256: hash.hex(),
        mode: describeMode(options.mode),
      });
      log(`${lines}\n  written to: ${where}`);
      if (closeNote) log(closeNote);
    }
    return true;
  } catch (error) {
    const note = sink ? await sink.abort() : "nothing was written";
    log(
      `${name}: ${paint("red", "failed")}: ${why(error, options, conn)}, after ${
        formatCount(bytes, "byte")
      }; ${note}`,
    );
    return false;
  } finally {
    await conn.close().catch(() => {});
  }
}

/**
 * After the client closed part-way: reads the bytes that arrived but were
 * not read yet. A `recv` for more than there is fails at once (the client
 * closed), so halving sizes read them all, each size at most once.
 */
async function readWhatArrived(
  conn: SocketTCP,
  keep: (piece: Uint8Array) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  for (let size = READ_SIZE / 2; size >= 1 && conn.incoming !== null; size /= 2) {
    try {
      await keep(await conn.recv(size, { signal }));
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) return;
    }
  }
}

/**
 * The clause, after "failed: ", saying why a connection failed. The
 * socket's own messages are sentences about a "Peer"; here it is the client,
 * and every count is formatted as the rest of the line formats it.
 */
function why(error: unknown, options: ServerOptions, conn: SocketTCP): string {
  if (error instanceof PeerTimeoutError) {
    return error.waitingFor === "data" || error.waitingFor === "FIN"
      ? `the client went silent (nothing for ${formatDuration(options.idleTimeout)})`
      : `the client stopped answering (no ${error.waitingFor} ${error.detail})`;
  }
  if (error instanceof ConnectionClosedError) {
    // Every byte handed to the server was written: the rest of the file is what is missing.
    const incoming = conn.incoming;
    return incoming === null
      ? "the client closed the connection before sending a file"
      : `the client closed the connection ${
        formatCount(incoming.remaining, "byte")
      } before the end of the file`;
  }
  if (error instanceof ProtocolError) {
    return `the client broke the protocol: ${asClause(error.message, "it")}`;
  }
  if (error instanceof DOMException && error.name === "AbortError") {
    return `stopped by ${describeSignal(error.message)}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** How many peers in the other mode a server remembers, so that it tells about each once. */
const OTHER_MODE_MEMORY = 1024;

/** The line for a peer whose datagrams belong to the other mode. */
function otherModeLine(peer: Addr, segment?: string): string {
  return segment !== undefined
    ? `servidor: ${formatAddr(peer)} sends SocketTCP segments (${segment}), not plain UDP ` +
      `datagrams: run it with --udp too, or run this server without --udp`
    : `servidor: ${formatAddr(peer)} sends plain UDP datagrams, not SocketTCP segments: ` +
      `is the other end in --udp mode?`;
}

/**
 * Serves SocketTCP connections: one, to stdout, or with `--out` many at once
 * until Ctrl+C (or one with `--once`); returns the exit code.
 */
async function serveTcp(options: ServerOptions, stop: AbortController): Promise<number> {
  const trace = new TraceOutput({
    tool: "servidor",
    text: options.trace,
    file: options.traceFile,
    print: (line) => console.error(line),
    prefix: (event) => `${event.peer.padEnd(21)} `,
  });
  // A peer sending plain UDP datagrams is a client in --udp mode: say so,
  // once per peer; without --out that was the one transfer, and it failed.
  const otherMode = new Set<string>();
  const mismatch = new AbortController();
  const listener = new SocketTCP({
    mss: options.mss,
    window: options.mode.window,
    arq: options.mode.arq,
    congestion: options.mode.congestion,
    timeout: options.timeout,
    idleTimeout: options.idleTimeout,
    onTrace: trace.sink,
    link: observeDatagrams((bytes, from) => {
      if (!isPlainUdpDatagram(bytes)) return;
      const key = formatAddr(from);
      if (otherMode.has(key)) return;
      if (otherMode.size >= OTHER_MODE_MEMORY) otherMode.clear(); // bounded: said again, at worst
      otherMode.add(key);
      console.error(otherModeLine(from));
      if (options.once) mismatch.abort();
    }),
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
    signal: stop.signal,
  };
  // With --quiet too when the port was picked (PORT 0): nothing else would tell it.
  if (!options.quiet || options.port === 0) {
    console.error(`servidor: listening on ${formatAddr(listener.localAddr)}`);
  }
  const tasks = new Set<Promise<boolean>>();
  const acceptSignal = AbortSignal.any([stop.signal, mismatch.signal]);
  let ids = 0;
  let exitCode = 0;
  acceptSignal.addEventListener("abort", () => void listener.close(), { once: true });
  try {
    while (!acceptSignal.aborted) {
      let conn: SocketTCP;
      try {
        [conn] = await listener.accept({ signal: acceptSignal });
      } catch (error) {
        if (acceptSignal.aborted) break;
        throw error;
      }
      const task = serveConnection(context, conn, ++ids);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
      if (options.once) {
        const where = listener.localAddr;
        await listener.close();
        const refusing = refuseOthers(where, conn.remoteAddr!, ids, options.quiet);
        exitCode = (await task) ? 0 : 1;
        await refusing.close();
        break;
      }
    }
    await Promise.all(tasks);
  } finally {
    await listener.close();
    trace.close();
  }
  if (mismatch.signal.aborted && ids === 0) return 1;
  return finish(options, stop, exitCode, ids > 0);
}

/**
 * The exit code once serving ended: Ctrl+C is a normal stop with `--out`
 * (0) and an interruption otherwise (130, unless the file was complete).
 */
function finish(
  options: ServerOptions,
  stop: AbortController,
  exitCode: number,
  served: boolean,
): number {
  if (!stop.signal.aborted) return exitCode;
  const signal = stopSignal(stop.signal);
  if (!options.quiet) {
    console.error(signal === "SIGINT" ? "servidor: stopped" : `servidor: stopped by ${signal}`);
  }
  // Ctrl+C is how a server with --out is meant to stop; SIGTERM and SIGHUP come from elsewhere.
  if (options.out !== undefined && signal === "SIGINT") return 0;
  return options.out === undefined && served && exitCode === 0 ? 0 : STOP_SIGNALS[signal];
}

/** Which signal stopped the server: the message of the abort's reason. */
function stopSignal(signal: AbortSignal): StopSignal {
  const name = signal.reason instanceof DOMException ? signal.reason.message : "";
  return name in STOP_SIGNALS ? name as StopSignal : "SIGINT";
}

/** A signal's name as a person says it: Ctrl+C for SIGINT. */
function describeSignal(name: string): string {
  return name === "SIGTERM" || name === "SIGHUP" ? name : "Ctrl+C";
}

/**
 * While a one-file server receives its file, nothing answers on its port: a
 * second client would wait for its SYNs' answers in silence. This reads that
 * port meanwhile and says, once per client, that its SYN came and was not
 * answered. Closing it releases the port.
 */
function refuseOthers(
  where: Addr,
  serving: Addr,
  id: number,
  quiet: boolean,
): { close(): Promise<void> } {
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: "udp", hostname: where.hostname, port: where.port });
  } catch {
    return { close: () => Promise.resolve() }; // the port was taken meanwhile: nothing to say
  }
  const busy = formatAddr(serving); // its own SYN, duplicated late, is no other client's
  const told = new Set<string>();
  let closed = false;
  const reading = (async () => {
    while (!closed) {
      let bytes: Uint8Array, from: Addr;
      try {
        const [data, addr] = await socket.receive();
        bytes = data;
        from = addr as Deno.NetAddr;
      } catch {
        if (closed) return;
        await new Promise((resolve) => setTimeout(resolve, 1)); // a transient error: no spin
        continue;
      }
      const segment = segmentIn(bytes);
      const key = formatAddr(from);
      if (!segment?.syn || segment.ack || key === busy || told.has(key)) continue;
      if (told.size >= OTHER_MODE_MEMORY) told.clear();
      told.add(key);
      if (quiet) continue;
      console.error(
        `servidor: ${key} asked to connect (${describeSegment(segment)}) while #${id} ` +
          `sends its file: not answered, this server receives one file ` +
          `(run another, or one with --out DIR for many clients)`,
      );
    }
  })();
  return {
    async close() {
      closed = true;
      socket.close();
      await reading;
    },
  };
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

/** Receives plain-UDP transfers (`--udp`): one, to stdout, or with `--out` until Ctrl+C. */
async function serveUdp(options: ServerOptions, stop: AbortController): Promise<number> {
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname,
      port: options.port,
    });
  } catch (error) {
    throw bindError(error, options);
  }
  const local = socket.addr as Deno.NetAddr;
  if (!options.quiet || options.port === 0) {
    console.error(
      `servidor: listening on ${formatAddr(local)} (plain UDP: no ACKs, no retransmission)`,
    );
  }
  interface Transfer {
    reception: UdpReception;
    sink: Promise<Sink>;
    writes: Promise<void>;
    peer: Addr;
  }
  const transfers = new Map<string, Transfer>();
  /** Senders whose transfer ended, so that their stragglers do not start a new one. */
  const finished = new Map<string, number>();
  /** Senders of SocketTCP segments: clients not in --udp mode, told about once. */
  const otherMode = new Set<string>();
  const done = Promise.withResolvers<void>();
  let exitCode = 0;
  let ids = 0;
  let started = 0;

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
      const expected = reception.expectedSha256;
      console.error(
        `servidor: #${id} ${formatAddr(transfer.peer)} (UDP): ${verdict}: ${result.verdict}\n` +
          `  datagrams: ${formatCount(reception.datagrams)}; elapsed ${
            formatDuration(reception.lastSeen - reception.started)
          }\n  SHA-256 of what arrived: ${result.sha256}\n  SHA-256 the sender sent: ${
            expected ?? "lost"
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
      if (finished.has(key) || otherMode.has(key)) continue;
      let transfer = transfers.get(key);
      if (!transfer) {
        const segment = segmentIn(bytes);
        if (segment) {
          // A SocketTCP client: no plain-UDP transfer will come from it.
          if (otherMode.size >= OTHER_MODE_MEMORY) otherMode.clear();
          otherMode.add(key);
          console.error(otherModeLine(peer, describeSegment(segment)));
          if (options.once && started === 0) {
            exitCode = 1;
            done.resolve();
          }
          continue;
        }
        if (options.once && started > 0) continue;
        started++;
        transfer = {
          reception: new UdpReception(options.mss),
          sink: options.out ? fileSink(options.out, peer) : Promise.resolve(stdoutSink()),
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
      // Not at the last byte: the digest may come later (first, for an empty
      // file); if it was lost, the idle sweep ends the transfer.
      if (transfer.reception.settled) void end(key, transfer);
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
  return finish(options, stop, exitCode, ids > 0);
}

// ------------------------------------------------------------------- main

/** The server's command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("servidor", USAGE, () => parseServerArgs(args));
  if (typeof options === "number") return options;
  const stop = new AbortController();
  let listening: Disposable | undefined;
  try {
    requirePermission("servidor", { name: "net" }, "--allow-net", "to use the network");
    if (options.out !== undefined) {
      const flags = `--allow-read=${options.out} --allow-write=${options.out}`;
      requirePermission("servidor", { name: "read", path: options.out }, flags, "to use --out");
      requirePermission("servidor", { name: "write", path: options.out }, flags, "to use --out");
      await prepareOutDir(options.out);
    }
    requireTraceFilePermission("servidor", options.traceFile);
    // Host names resolve as the client resolves them (localhost is 127.0.0.1).
    options.hostname = await resolveHost(options.hostname).catch(() => {
      throw new CliError(`servidor: cannot resolve host "${options.hostname}"`);
    });
    listening = onStopSignals((signal) => stop.abort(new DOMException(signal, "AbortError")));
    return options.udp ? await serveUdp(options, stop) : await serveTcp(options, stop);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    listening?.[Symbol.dispose]();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
