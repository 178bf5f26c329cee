/**
 * Helpers shared by the benchmark runner and its peer processes. Internal.
 *
 * @module
 */

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

/**
 * The one-process floor: `count` UDP round trips (after `warmup` ones) of
 * `payload` between two sockets of this process, each side receiving into
 * one reused buffer; µs per round trip. Bounded by `maxMs`.
 */
export async function pingPong(
  payload: Uint8Array,
  count: number,
  { warmup = 500, maxMs = 3000 } = {},
): Promise<number> {
  const bind = () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const ping = bind();
  const echo = bind();
  const echoing = echoAll(echo);
  const to = echo.addr as Deno.NetAddr;
  const buffer = new Uint8Array(2048);
  for (let i = 0; i < warmup; i++) {
    await ping.send(payload, to);
    await ping.receive(buffer);
  }
  const start = performance.now();
  let done = 0;
  while (done < count && performance.now() - start < maxMs) {
    await ping.send(payload, to);
    await ping.receive(buffer);
    done++;
  }
  const us = (performance.now() - start) * 1000 / done;
  ping.close();
  echo.close();
  await echoing;
  return us;
}
