/**
 * Helpers shared by the benchmark runner and its peer processes. Internal.
 *
 * @module
 */

import { createSegment } from "../segment.ts";
import type { SocketTCPOptions } from "../socket_tcp.ts";
export { randomBytes } from "../faults.ts";

/** Peak resident set size of this process in bytes: VmHWM from /proc, else the current RSS. */
export function peakRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux, or no read permission: fall back to a sample
  }
  return Deno.memoryUsage().rss;
}

/** The median of `values` (NaN when empty). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Upper bounds (ms, exclusive) of the RTO histogram buckets; the last bucket is open. */
export const RTO_BUCKETS = [2, 3, 5, 10, 20, 50, 100, 200, 500];

/** The label of bucket `index` of {@linkcode RTO_BUCKETS}. */
export function rtoBucketLabel(index: number): string {
  if (index === 0) return `<${RTO_BUCKETS[0]}`;
  if (index >= RTO_BUCKETS.length) return `≥${RTO_BUCKETS[RTO_BUCKETS.length - 1]}`;
  return `${RTO_BUCKETS[index - 1]}–${RTO_BUCKETS[index]}`;
}

/** The bucket index of an RTO value in ms. */
export function rtoBucket(rto: number): number {
  const index = RTO_BUCKETS.findIndex((limit) => rto < limit);
  return index === -1 ? RTO_BUCKETS.length : index;
}

/** The window options of a peer's `--window N --arq gbn|sr --cc none|tahoe|reno` flags. */
export function windowOptions(
  values: { window?: string; arq?: string; cc?: string },
): Pick<SocketTCPOptions, "window" | "arq" | "congestion"> {
  return {
    window: Number(values.window ?? 1),
    arq: values.arq === "sr" ? "selective-repeat" : "go-back-n",
    congestion: (values.cc ?? "none") as SocketTCPOptions["congestion"],
  };
}

/** Sends every datagram `conn` receives back to its sender, until `conn` closes. */
export async function echoAll(conn: Deno.DatagramConn): Promise<void> {
  const buffer = new Uint8Array(2048);
  for (;;) {
    let datagram: [Uint8Array, Deno.Addr];
    try {
      datagram = await conn.receive(buffer);
    } catch {
      return; // closed
    }
    await conn.send(datagram[0], datagram[1]).catch(() => {});
  }
}

/** The floor's datagram: a 16-byte DATA segment, as SocketTCP sends it (41 bytes). */
export const FLOOR_DATAGRAM: Uint8Array = createSegment({
  syn: false,
  ack: false,
  fin: false,
  seq: 1_234_567,
  data: new Uint8Array(16).fill(97),
});

/**
 * Round trips of {@linkcode FLOOR_DATAGRAM} from `conn` to an echo at `to`,
 * received into one reused buffer: `warmup` first, unmeasured, then `count`
 * (bounded by `maxMs`); µs per measured round trip.
 */
export async function timeRoundTrips(
  conn: Deno.DatagramConn,
  to: Deno.NetAddr,
  count: number,
  { warmup = 500, maxMs = 3000 } = {},
): Promise<number> {
  const buffer = new Uint8Array(2048);
  for (let i = 0; i < warmup; i++) {
    await conn.send(FLOOR_DATAGRAM, to);
    await conn.receive(buffer);
  }
  const start = performance.now();
  let done = 0;
  while (done < count && performance.now() - start < maxMs) {
    await conn.send(FLOOR_DATAGRAM, to);
    await conn.receive(buffer);
    done++;
  }
  return (performance.now() - start) * 1000 / done;
}

/**
 * The one-process floor: {@linkcode timeRoundTrips} between two sockets of
 * this process, the second echoing.
 */
export async function pingPong(
  count: number,
  options: { warmup?: number; maxMs?: number } = {},
): Promise<number> {
  const bind = () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const ping = bind();
  const echo = bind();
  const echoing = echoAll(echo);
  try {
    return await timeRoundTrips(ping, echo.addr as Deno.NetAddr, count, options);
  } finally {
    ping.close();
    echo.close();
    await echoing;
  }
}
