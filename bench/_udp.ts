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
import { createSegment } from "../segment.ts";
import { echoAll, pingPong } from "./_common.ts";

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

/** A 16-byte DATA segment, as SocketTCP sends it. */
const PAYLOAD = createSegment({
  syn: false,
  ack: false,
  fin: false,
  seq: 1_234_567,
  data: new Uint8Array(16).fill(97),
});

function bind(): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
}

/** Runs `reps` repetitions of `count` round trips (each bounded by `maxMs`); µs per round trip each. */
async function ping(target: number, count: number, reps: number, maxMs: number): Promise<number[]> {
  const conn = bind();
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: target };
  const buffer = new Uint8Array(2048);
  const roundTrip = async () => {
    await conn.send(PAYLOAD, to);
    await conn.receive(buffer);
  };
  for (let i = 0; i < 500; i++) await roundTrip(); // warm-up
  const results: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const start = performance.now();
    let done = 0;
    while (done < count && performance.now() - start < maxMs) {
      await roundTrip();
      done++;
    }
    results.push((performance.now() - start) * 1000 / done);
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
    usPerRoundTrip.push(await pingPong(PAYLOAD, count, { maxMs, warmup: rep === 0 ? 500 : 0 }));
  }
  console.log(JSON.stringify({ usPerRoundTrip }));
} else {
  console.error("usage: _udp.ts echo | ping --port N | self [--count C --reps R]");
  Deno.exit(2);
}
