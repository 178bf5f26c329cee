/**
 * One-process transfer: a listener, a client and the accepted socket in this
 * process, sending `--size` pseudo-random bytes with `--mss` byte segments,
 * `--reps` times. Internal peer of `bench/run.ts`, beside `_udp.ts self` (the
 * one-process floor), so that the protocol's cost is compared with the
 * ping-pong it rides on, in the same process and the same run.
 *
 * Prints one JSON line: `ms` per repetition (first `send` to the last ACK),
 * the data segments per transfer, and the sender's stats summed.
 *
 * ```sh
 * deno run --allow-net --allow-read bench/_local.ts --size 65536 --reps 5
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SocketTCP } from "../socket_tcp.ts";
import { randomBytes } from "./_common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "65536" },
    mss: { type: "string", default: "16" },
    reps: { type: "string", default: "5" },
  },
});
const size = Number(values.size);
const mss = Number(values.mss);
const reps = Number(values.reps);

const ms: number[] = [];
let retransmissions = 0;
let spurious = 0;
let timeouts = 0;
// A warm-up transfer first: the JIT and the sockets' first use are not the protocol.
for (let rep = -1; rep < reps; rep++) {
  await using listener = new SocketTCP({ mss });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const client = new SocketTCP({ mss });
  const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
  const data = randomBytes(size, rep + 2);
  const start = performance.now();
  const [, got] = await Promise.all([client.send(data), server.recv(size)]);
  const elapsed = performance.now() - start;
  if (got.length !== size || got.some((byte, i) => byte !== data[i])) {
    throw new Error(`repetition ${rep + 1}: the bytes differ`);
  }
  await Promise.all([client.close(), server.recvClose()]);
  if (rep < 0) continue;
  ms.push(elapsed);
  retransmissions += client.stats.retransmissions;
  spurious += client.stats.spuriousRetransmissions;
  timeouts += client.stats.timeouts;
}
console.log(JSON.stringify({
  ms,
  dataSegments: Math.ceil(size / mss) + 1,
  stats: { retransmissions, spuriousRetransmissions: spurious, timeouts },
}));
