/**
 * The window's floor: a raw one-way UDP stream over loopback in one process.
 * The sender blasts bursts of `--burst` datagrams of `--size` bytes; the
 * receiver, reading into one reused buffer, answers one datagram per burst
 * (or when a burst's rest is late: a lost datagram costs a 20 ms wait, not a
 * hang); the sender sends the next burst on that answer. Internal peer of
 * `bench/run.ts` (section 7), the ceiling a sliding window of the same
 * datagrams can approach.
 *
 * Prints one JSON line: `mbPerS` (payload MB/s) per repetition, and the
 * datagrams lost.
 *
 * ```sh
 * deno run --allow-net bench/_burst.ts --bytes 33554432 --reps 3
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    bytes: { type: "string", default: String(32 * 1024 * 1024) },
    size: { type: "string", default: "1400" },
    burst: { type: "string", default: "32" },
    reps: { type: "string", default: "3" },
    "max-ms": { type: "string", default: "20000" },
  },
});
const size = Number(values.size);
const burst = Number(values.burst);
const bursts = Math.ceil(Number(values.bytes) / (size * burst));
const reps = Number(values.reps);
const maxMs = Number(values["max-ms"]);

const bind = () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
const sender = bind();
const receiver = bind();
const toReceiver = receiver.addr as Deno.NetAddr;
const toSender = sender.addr as Deno.NetAddr;
const datagram = new Uint8Array(size).fill(97);
const answer = new Uint8Array(1);
let lost = 0;
let running = true;

/** Counts datagrams; answers each full burst, or a partial one after 20 ms of silence. */
async function receive(): Promise<void> {
  const buffer = new Uint8Array(65536);
  let got = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    lost += burst - got;
    got = 0;
    receiver.send(answer, toSender).catch(() => {});
  };
  while (running) {
    try {
      await receiver.receive(buffer);
    } catch {
      return; // closed
    }
    clearTimeout(timer);
    if (++got === burst) {
      got = 0;
      await receiver.send(answer, toSender).catch(() => {});
    } else timer = setTimeout(flush, 20);
  }
  clearTimeout(timer);
}

const served = receive();
const buffer = new Uint8Array(16);
const mbPerS: number[] = [];
for (let rep = -1; rep < reps; rep++) { // a warm-up repetition first
  const start = performance.now();
  let sent = 0;
  for (let b = 0; b < bursts && performance.now() - start < maxMs; b++) {
    for (let i = 0; i < burst; i++) sender.send(datagram, toReceiver).catch(() => {});
    await sender.receive(buffer);
    sent += burst * size;
  }
  if (rep >= 0) mbPerS.push(sent / 1e6 / ((performance.now() - start) / 1000));
}
running = false;
sender.close();
receiver.close();
await served;
console.log(JSON.stringify({ mbPerS, lost }));
