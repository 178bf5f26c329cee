/**
 * Soak test: hundreds of sequential transfers through a lossy relay
 * ({@linkcode startRelay}) with loss, duplication and reordering in both
 * directions, each message checked byte for byte. Prints the counts; exits 1
 * when any transfer failed or differed. Ctrl+C, SIGTERM or SIGHUP stop it:
 * it prints the counts of what ran and exits 130, 143 or 129. Not part of
 * `deno task test`.
 *
 * ```sh
 * deno task soak --count 200 --seed 7
 * ```
 *
 * @module
 */
import {
  onStopSignals,
  parseArguments,
  parseCommandLine,
  parseInteger,
  parseProbability,
  STOP_SIGNALS,
  type StopSignal,
} from "./cli.ts";
import { mulberry32, randomBytes } from "./faults.ts";
import { formatAddr } from "./link.ts";
import { describeFaults, startRelay } from "./relay.ts";
import { SocketTCP, type SocketTCPOptions } from "./socket_tcp.ts";

const USAGE = `Usage: deno task soak [options]

Sequential transfers of random sizes through a lossy relay on 127.0.0.1,
each checked byte for byte. Exits 1 if any transfer fails or differs.
Ctrl+C (SIGTERM, SIGHUP) stops it with the summary of what ran so far,
exit 130 (143, 129).

Options:
  --count N       transfers to run (default 200)
  --seconds S     stop starting new transfers after S seconds (default 300)
  --seed N        seed of the sizes, the bytes and the relay's faults (default: the time)
  --loss P        probability a datagram is dropped, each way (default 0.1)
  --dup P         probability a datagram is duplicated, each way (default 0.05)
  --reorder P     probability a datagram is reordered, each way (default 0.05)
  --max-size N    largest message in bytes; sizes are uniform in 0..N (default 4096)
  --quiet         print only failures and the summary
  -h, --help      show this help

Example:
  deno task soak --count 50 --seed 7 --loss 0.2`;

/** What the command line asked for. */
interface SoakOptions {
  count: number;
  seconds: number;
  seed: number;
  loss: number;
  dup: number;
  reorder: number;
  maxSize: number;
  quiet: boolean;
}

function parse(args: string[]): SoakOptions | "help" {
  const { values } = parseArguments(args, {
    count: { type: "string" },
    seconds: { type: "string" },
    seed: { type: "string" },
    loss: { type: "string" },
    dup: { type: "string" },
    reorder: { type: "string" },
    "max-size": { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  return {
    count: parseInteger(values.count, "count", 1) ?? 200,
    seconds: parseInteger(values.seconds, "seconds", 1) ?? 300,
    seed: parseInteger(values.seed, "seed", 0) ?? Date.now() % 2 ** 31,
    loss: parseProbability(values.loss, "loss") ?? 0.1,
    dup: parseProbability(values.dup, "dup") ?? 0.05,
    reorder: parseProbability(values.reorder, "reorder") ?? 0.05,
    maxSize: parseInteger(values["max-size"], "max-size", 0) ?? 4096,
    quiet: values.quiet ?? false,
  };
}

/** Totals of a soak run. */
interface Totals {
  ok: number;
  failed: number;
  bytes: number;
  retransmissions: number;
  timeouts: number;
  duplicatesSeen: number;
}

// Loss is applied on each way: generous retries so that only a real bug fails a transfer.
const SOCKET: SocketTCPOptions = { maxRetries: 40, closeRetries: 12, idleTimeout: 10_000 };
/** A transfer that takes longer than this is a failure (it would otherwise hang the soak). */
const TRANSFER_LIMIT_MS = 60_000;

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Receives one whole message of `length` bytes. */
async function receiveAll(socket: SocketTCP, length: number, signal: AbortSignal) {
  const out = new Uint8Array(length);
  let filled = 0;
  do {
    const piece = await socket.recv(Math.max(1, length - filled), { signal });
    out.set(piece.subarray(0, length - filled), filled);
    filled += piece.length;
  } while (filled < length);
  return out;
}

/**
 * One transfer: a new client connects through the relay, sends `size` seeded
 * bytes, the server checks them and both ends close. Returns an error message,
 * or null when the bytes matched and both ends finished.
 */
async function transfer(
  listener: SocketTCP,
  relayAddr: { hostname: string; port: number },
  size: number,
  seed: number,
  totals: Totals,
  stop: AbortSignal,
): Promise<string | null> {
  const message = randomBytes(size, mulberry32(seed));
  const client = new SocketTCP({ ...SOCKET, random: mulberry32(seed ^ 0x9e3779b9) });
  const signal = AbortSignal.any([AbortSignal.timeout(TRANSFER_LIMIT_MS), stop]);
  let server: SocketTCP | null = null;
  try {
    const [[accepted]] = await Promise.all([
      listener.accept({ signal }),
      client.connect(relayAddr, { signal }),
    ]);
    server = accepted;
    const [, received] = await Promise.all([
      client.send(message, { signal }),
      receiveAll(accepted, size, signal),
    ]);
    await Promise.all([client.close(), accepted.recvClose({ signal })]);
    for (const socket of [client, accepted]) {
      totals.retransmissions += socket.stats.retransmissions;
      totals.timeouts += socket.stats.timeouts;
      totals.duplicatesSeen += socket.stats.duplicates;
    }
    if (received.length !== size || firstDifference(received, message) !== size) {
      return `received ${received.length} bytes, expected ${size}; first difference at byte ${
        firstDifference(received, message)
      }`;
    }
    totals.bytes += size;
    return null;
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } finally {
    await Promise.allSettled([client.close(), server?.close()]);
  }
}

async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("soak", USAGE, () => parse(args));
  if (typeof options === "number") return options;
  const stop = new AbortController();
  using _signals = onStopSignals((signal) => stop.abort(signal));
  const { count, seconds, seed, loss, dup, reorder, maxSize, quiet } = options;
  const faults = { loss, duplicate: dup, reorder };
  const listener = new SocketTCP(SOCKET);
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const relay = await startRelay({
    listen: { hostname: "127.0.0.1", port: 0 },
    target: listener.localAddr,
    toServer: faults,
    toClient: faults,
    seed,
  });
  if (!quiet) {
    console.error(
      `soak: ${count} transfers of 0..${maxSize} bytes through relay ${formatAddr(relay.addr)} -> ${
        formatAddr(listener.localAddr)
      }, ${describeFaults(faults)}, seed ${seed}`,
    );
  }
  const totals: Totals = {
    ok: 0,
    failed: 0,
    bytes: 0,
    retransmissions: 0,
    timeouts: 0,
    duplicatesSeen: 0,
  };
  const sizes = mulberry32(seed);
  const start = performance.now();
  const progress = !quiet && Deno.stderr.isTerminal();
  let run = 0;
  let timedOut = false;
  try {
    for (; run < count && !stop.signal.aborted; run++) {
      if (performance.now() - start > seconds * 1000) {
        timedOut = true;
        break;
      }
      const size = Math.floor(sizes() * (maxSize + 1));
      const transferSeed = (seed * 1000 + run) >>> 0;
      const failure = await transfer(
        listener,
        relay.addr,
        size,
        transferSeed,
        totals,
        stop.signal,
      );
      // Stopped part-way: that transfer is neither ok nor failed, and not counted as run.
      if (stop.signal.aborted) break;
      if (failure) {
        totals.failed++;
        if (progress) console.error("");
        console.error(
          `soak: transfer ${run + 1} (${size} bytes, seed ${transferSeed}) failed: ${failure}`,
        );
      } else {
        totals.ok++;
      }
      if (progress) {
        Deno.stderr.writeSync(
          new TextEncoder().encode(`\rsoak: ${run + 1}/${count} (${totals.failed} failed)`),
        );
      }
    }
  } finally {
    if (progress) console.error("");
    await relay.close();
    await listener.close();
  }
  const elapsed = (performance.now() - start) / 1000;
  const { toServer, toClient } = relay.stats;
  const stoppedBy = stop.signal.aborted ? stop.signal.reason as StopSignal : undefined;
  console.log(
    [
      `transfers: ${totals.ok} ok, ${totals.failed} failed, ${run} of ${count} run` +
      (timedOut ? ` (stopped by --seconds ${seconds})` : "") +
      (stoppedBy === undefined
        ? ""
        : ` (stopped by ${stoppedBy === "SIGINT" ? "Ctrl+C" : stoppedBy})`),
      `bytes: ${totals.bytes} delivered byte-exact`,
      `retransmissions: ${totals.retransmissions} (timeouts ${totals.timeouts}, ` +
      `duplicates received ${totals.duplicatesSeen})`,
      `relay to server: ${toServer.received} datagrams, ${toServer.dropped} dropped, ` +
      `${toServer.duplicated} duplicated, ${toServer.reordered} reordered`,
      `relay to client: ${toClient.received} datagrams, ${toClient.dropped} dropped, ` +
      `${toClient.duplicated} duplicated, ${toClient.reordered} reordered`,
      `seed: ${seed}; ${elapsed.toFixed(1)} s`,
    ].join("\n"),
  );
  if (stoppedBy !== undefined) return STOP_SIGNALS[stoppedBy];
  return totals.failed > 0 ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
