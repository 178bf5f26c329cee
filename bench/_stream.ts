/**
 * The window's floor with 16-byte segments, between two processes: a raw
 * pipelined window of 41-byte datagrams (a DATA segment's size) with no
 * protocol at all. The sender keeps 32 datagrams in flight; the receiver
 * counts them and answers with the count every 8 datagrams, and when its
 * socket has nothing more waiting (the ACK policy of a SocketTCP window
 * receiver). Internal peer of `bench/run.ts` (section 7b): what no window
 * over Deno's UDP can beat on this machine, so the ratio it allows over Stop
 * & Wait is known in the same run.
 *
 * - `_stream.ts receive`: binds, prints `{"port":N}`, counts (a 1-byte
 *   datagram ends a repetition) until standard input closes (or 60 s pass).
 * - `_stream.ts send --port N --count C --reps R`: prints `{"usPerDatagram":[...]}`.
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    port: { type: "string" },
    count: { type: "string", default: "65536" },
    reps: { type: "string", default: "3" },
    window: { type: "string", default: "32" },
  },
});
const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
const buffer = new Uint8Array(2048);
const deadline = performance.now() + 60_000;

if (positionals[0] === "receive") {
  console.log(JSON.stringify({ port: (socket.addr as Deno.NetAddr).port }));
  const answer = new Uint8Array(4);
  const view = new DataView(answer.buffer);
  let count = 0;
  let unanswered = 0;
  let peer: Deno.Addr | null = null;
  const reply = () => {
    view.setUint32(0, count);
    socket.send(answer, peer!).catch(() => {});
    unanswered = 0;
  };
  let ready = false;
  const mark = () => ready = true;
  const stop = setTimeout(() => socket.close(), 60_000);
  // The parent closes standard input when it is done: so is this process.
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* wait for the end */ }
    socket.close();
  })();
  try {
    for (;;) {
      ready = false;
      const next = socket.receive(buffer);
      next.then(mark, mark);
      for (let turn = 0; turn < 4 && !ready; turn++) await null;
      if (!ready && unanswered > 0) reply(); // nothing more waiting
      const [bytes, from] = await next;
      peer = from;
      if (bytes.length === 1) {
        count = 0; // a repetition ended: the next starts from zero
        unanswered = 0;
        reply();
        continue;
      }
      count++;
      if (++unanswered >= 8) reply();
    }
  } catch {
    // closed: the sender is done
  } finally {
    clearTimeout(stop);
  }
} else {
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: Number(values.port) };
  const count = Number(values.count);
  const window = Number(values.window);
  const datagram = new Uint8Array(41).fill(0x30);
  const end = new Uint8Array(1);
  const view = () => new DataView(buffer.buffer).getUint32(0);
  const usPerDatagram: number[] = [];
  for (let rep = -1; rep < Number(values.reps); rep++) { // a warm-up repetition first
    let sent = 0;
    let acked = 0;
    const start = performance.now();
    while (acked < count && performance.now() < deadline) {
      while (sent < count && sent - acked < window) {
        socket.send(datagram, to).catch(() => {});
        sent++;
      }
      await socket.receive(buffer);
      acked = Math.max(acked, view());
    }
    if (rep >= 0) usPerDatagram.push((performance.now() - start) * 1000 / count);
    await socket.send(end, to);
    while (view() !== 0 && performance.now() < deadline) await socket.receive(buffer);
  }
  console.log(JSON.stringify({ usPerDatagram }));
  await socket.send(end, to);
  socket.close();
}
