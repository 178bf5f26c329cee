/**
 * Benchmark client: `--clients N` `SocketTCP` connections from this process,
 * each sending one pseudo-random message of `--size` bytes (seeded by
 * `--seed` + its index) or a regular file (`--file`, streamed with
 * `sendStream`). All connect first, then all send at once. Internal peer of
 * `bench/run.ts`.
 *
 * Prints one JSON line: the transfer time measured in this process from the
 * first `send` to the last ACK (`ms`), per-connection times, SHA-256 of what
 * was sent, summed stats, the histogram of RTO values on DATA sends (with
 * `--rto-histogram`), and the peak RSS. `--warmup BYTES` first sends BYTES on
 * a connection of its own, not measured (the server needs `--warmup` too).
 *
 * ```sh
 * deno run --allow-net --allow-read bench/_client.ts --port 9000 --size 65536 --mss 16
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { type SocketStats, SocketTCP } from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";
import { stallGuard } from "../endpoint.ts";
import { peakRss, randomBytes, RTO_BUCKETS, rtoBucket, windowOptions } from "./_common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "stall-guard": { type: "string", default: "on" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    clients: { type: "string", default: "1" },
    size: { type: "string", default: "65536" },
    seed: { type: "string", default: "1" },
    file: { type: "string" },
    mss: { type: "string", default: "16" },
    timeout: { type: "string" },
    window: { type: "string", default: "1" },
    arq: { type: "string", default: "gbn" },
    cc: { type: "string", default: "none" },
    "rto-histogram": { type: "boolean", default: false },
    "early-timers": { type: "boolean", default: false },
    warmup: { type: "string", default: "0" },
  },
});
// The endpoint's stall guard, off only to measure what it saves (bench section 8).
stallGuard.on = values["stall-guard"] !== "off";

if (values["early-timers"]) {
  // Experiment, off by default: Deno fires setTimeout(ms) about ceil(ms) + 1.15 ms later
  // (and no sooner than ~2.15 ms), so arm every timer 1 ms early to measure what that costs.
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms = 0) =>
    original(fn, Math.max(0, Math.ceil(ms) - 1))) as typeof setTimeout;
}

const clients = Number(values.clients);
const mss = Number(values.mss);
const histogram = new Array<number>(RTO_BUCKETS.length + 1).fill(0);
const rtoValues: number[] = [];
const onTrace = values["rto-histogram"]
  ? (event: TraceEvent) => {
    if (event.kind === "send" && event.flags === "DATA" && event.rto !== undefined) {
      histogram[rtoBucket(event.rto)]++;
      rtoValues.push(event.rto);
    }
  }
  : undefined;
const target = { hostname: values.host, port: Number(values.port) };

// A warm-up transfer on a connection of its own, not measured: the JIT and
// the first use of the sockets are not the protocol (the floor's ping-pong
// warms up too). The server is told to expect it (`_server.ts --warmup`).
if (Number(values.warmup) > 0) {
  const warm = new SocketTCP({ mss, ...windowOptions(values) });
  await warm.connect(target);
  await warm.send(randomBytes(Number(values.warmup), 0));
  await warm.close();
}

const sockets = Array.from({ length: clients }, () =>
  new SocketTCP({
    mss,
    timeout: values.timeout === undefined ? undefined : Number(values.timeout),
    ...windowOptions(values),
    onTrace,
  }));
await Promise.all(sockets.map((socket) => socket.connect(target)));

/** Sends connection `index`'s message; returns its [start, end] times and SHA-256. */
async function transfer(socket: SocketTCP, index: number) {
  const hash = createHash("sha256");
  let start: number;
  let bytes: number;
  if (values.file) {
    bytes = Deno.statSync(values.file).size;
    using file = Deno.openSync(values.file);
    const hashed = async function* () {
      for await (const chunk of file.readable) {
        hash.update(chunk);
        yield chunk;
      }
    };
    start = performance.now();
    await socket.sendStream(bytes, hashed());
  } else {
    const data = randomBytes(Number(values.size), Number(values.seed) + index);
    hash.update(data);
    bytes = data.length;
    start = performance.now();
    await socket.send(data);
  }
  const end = performance.now();
  return { start, end, bytes, sha256: hash.digest("hex") };
}

const results = await Promise.all(sockets.map(transfer));
await Promise.all(sockets.map((socket) => socket.close()));
const start = Math.min(...results.map((r) => r.start));
const end = Math.max(...results.map((r) => r.end));
const stats = sockets.map((s) => s.stats).reduce((sum: Partial<SocketStats>, s) => {
  const keys = [
    "segmentsSent",
    "segmentsReceived",
    "duplicates",
    "fastRetransmits",
    "retransmissions",
    "spuriousRetransmissions",
    "timeouts",
    "bytesSent",
  ] as const;
  for (const key of keys) {
    sum[key] = (sum[key] ?? 0) + s[key];
  }
  return sum;
}, {});
const dataSegments = results.reduce((n, r) => n + Math.ceil(r.bytes / mss) + 1, 0);
console.log(JSON.stringify({
  ms: end - start,
  perConnectionMs: results.map((r) => r.end - r.start),
  bytes: results.reduce((n, r) => n + r.bytes, 0),
  dataSegments,
  sha256: results.map((r) => r.sha256),
  stats,
  finalRto: sockets[0].stats.rto,
  srtt: sockets[0].stats.srtt,
  rtoHistogram: onTrace ? histogram : undefined,
  rtoMedian: rtoValues.length ? rtoValues.sort((a, b) => a - b)[rtoValues.length >> 1] : undefined,
  peakRss: peakRss(),
}));
