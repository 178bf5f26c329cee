/**
 * One-process transfer: a listener, a client and the accepted socket in this
 * process, sending `--size` pseudo-random bytes with `--mss` byte segments,
 * `--reps` times. Internal peer of `bench/run.ts`, beside `_udp.ts self` (the
 * one-process floor), so that the protocol's cost is compared with the
 * ping-pong it rides on, in the same process and the same run.
 *
 * Prints one JSON line: `ms` per repetition (first `send` to the last ACK),
 * the data segments per transfer, and the sender's stats summed. With
 * `--floor N`, each repetition is preceded by N ping-pong round trips in this
 * process (`floorUs`, µs per round trip): each transfer has its own floor,
 * measured a moment before it.
 *
 * `--window N --arq gbn|sr --cc none|tahoe|reno` choose the sliding window
 * (section 7); `--loss P` puts a relay (`relay.ts`, seeded by the repetition)
 * between client and server that loses P of the datagrams each way.
 *
 * ```sh
 * deno run --allow-net --allow-read bench/_local.ts --size 65536 --reps 5
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startRelay } from "../relay.ts";
import { SocketTCP, type SocketTCPOptions } from "../socket_tcp.ts";
import { pingPong, randomBytes, windowOptions } from "./_common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "65536" },
    mss: { type: "string", default: "16" },
    reps: { type: "string", default: "5" },
    window: { type: "string", default: "1" },
    arq: { type: "string", default: "gbn" },
    cc: { type: "string", default: "none" },
    loss: { type: "string", default: "0" },
    floor: { type: "string", default: "0" },
  },
});
const mode: SocketTCPOptions = { mss: Number(values.mss), ...windowOptions(values) };
const loss = Number(values.loss);
const size = Number(values.size);
const mss = Number(values.mss);
const reps = Number(values.reps);

const floorCount = Number(values.floor);
const ms: number[] = [];
const floorUs: number[] = [];
let retransmissions = 0;
let spurious = 0;
let timeouts = 0;
let fastRetransmits = 0;
let peakCwnd = 0;
// A warm-up transfer first: the JIT and the sockets' first use are not the protocol.
for (let rep = -1; rep < reps; rep++) {
  await using listener = new SocketTCP(mode);
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  await using relay = loss > 0
    ? await startRelay({
      listen: { hostname: "127.0.0.1", port: 0 },
      target: listener.localAddr,
      toServer: { loss },
      toClient: { loss },
      seed: rep + 2,
    })
    : null;
  const client = new SocketTCP(mode);
  const [[server]] = await Promise.all([
    listener.accept(),
    client.connect(relay ? relay.addr : listener.localAddr),
  ]);
  const data = randomBytes(size, rep + 2);
  // The floor right before each measured repetition: the pair sees the same machine.
  if (floorCount > 0 && rep >= 0) {
    floorUs.push(await pingPong(floorCount, { warmup: 200 }));
  }
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
  fastRetransmits += client.stats.fastRetransmits;
  peakCwnd = Math.max(peakCwnd, client.stats.peakCwnd);
}
console.log(JSON.stringify({
  ms,
  floorUs,
  dataSegments: Math.ceil(size / mss) + 1,
  stats: {
    retransmissions,
    spuriousRetransmissions: spurious,
    timeouts,
    fastRetransmits,
    peakCwnd,
  },
}));
