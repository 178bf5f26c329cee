/**
 * The floor: a plain UDP ping-pong over loopback with segment-sized
 * datagrams, each side receiving into one reused buffer. Internal peer of
 * `bench/run.ts`.
 *
 * - `_udp.ts echo`: binds 127.0.0.1:0, prints `{"port":N}`, echoes every
 *   datagram back until standard input closes (or 120 s pass).
 * - `_udp.ts ping --port N --count C --reps R`: ping-pong against an echo
 *   process; prints `{"usPerRoundTrip":[...]}` (one value per repetition).
 * - `_udp.ts self --count C --reps R`: the same with the echo in this process.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { echoAll, pingPong, timeRoundTrips } from "./_common.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    port: { type: "string" },
    count: { type: "string", default: "5000" },
    reps: { type: "string", default: "5" },
    "max-ms": { type: "string", default: "3000" },
  },
});

function bind(): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
}

/** Runs `reps` repetitions of `count` round trips (each bounded by `maxMs`); µs per round trip each. */
async function ping(target: number, count: number, reps: number, maxMs: number): Promise<number[]> {
  const conn = bind();
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: target };
  const results: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    results.push(await timeRoundTrips(conn, to, count, { maxMs, warmup: rep === 0 ? 500 : 0 }));
  }
  conn.close();
  return results;
}

const count = Number(values.count);
const reps = Number(values.reps);
const maxMs = Number(values["max-ms"]);
const mode = positionals[0];
if (mode === "echo") {
  const conn = bind();
  console.log(JSON.stringify({ port: (conn.addr as Deno.NetAddr).port }));
  const stop = setTimeout(() => conn.close(), 120_000);
  const served = echoAll(conn);
  for await (const _ of Deno.stdin.readable) {
    // wait for the parent to close standard input
  }
  clearTimeout(stop);
  conn.close();
  await served;
} else if (mode === "ping") {
  const usPerRoundTrip = await ping(Number(values.port), count, reps, maxMs);
  console.log(JSON.stringify({ usPerRoundTrip }));
} else if (mode === "self") {
  const usPerRoundTrip: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    usPerRoundTrip.push(await pingPong(count, { maxMs, warmup: rep === 0 ? 500 : 0 }));
  }
  console.log(JSON.stringify({ usPerRoundTrip }));
} else {
  console.error("usage: _udp.ts echo | ping --port N | self [--count C --reps R]");
  Deno.exit(2);
}
