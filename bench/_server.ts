/**
 * Benchmark server: a `SocketTCP` listener that receives `--connections N`
 * messages (one per connection, each read with `recv` in a loop until the
 * peer closes), hashing every byte, then exits. Internal peer of
 * `bench/run.ts`.
 *
 * With `--warmup`, one more connection comes first and is served without
 * being reported (the client's warm-up transfer).
 *
 * Prints `{"port":N}` on its first stdout line, then one JSON line:
 * `{ connections: [{ bytes, sha256, error? }], peakRss, sampledRss }`.
 *
 * ```sh
 * deno run --allow-net --allow-read bench/_server.ts --connections 1 --mss 16 [--timeout 100]
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { SocketTCP } from "../socket_tcp.ts";
import { stallGuard } from "../endpoint.ts";
import { peakRss, windowOptions } from "./_common.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "stall-guard": { type: "string", default: "on" },
    connections: { type: "string", default: "1" },
    mss: { type: "string", default: "16" },
    timeout: { type: "string" },
    window: { type: "string", default: "1" },
    arq: { type: "string", default: "gbn" },
    cc: { type: "string", default: "none" },
    "buffer-size": { type: "string", default: "65536" },
    warmup: { type: "boolean", default: false },
  },
});
// The endpoint's stall guard, off only to measure what it saves (bench section 8).
stallGuard.on = values["stall-guard"] !== "off";

interface Received {
  bytes: number;
  sha256: string;
  error?: string;
}

const expected = Number(values.connections);
const bufferSize = Number(values["buffer-size"]);
let sampledRss = Deno.memoryUsage().rss;
const sampler = setInterval(() => {
  sampledRss = Math.max(sampledRss, Deno.memoryUsage().rss);
}, 50);

async function serve(conn: SocketTCP): Promise<Received> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    do {
      const piece = await conn.recv(bufferSize);
      hash.update(piece);
      bytes += piece.length;
    } while (conn.incoming !== null);
    await conn.recvClose().catch(() => {});
    return { bytes, sha256: hash.digest("hex") };
  } catch (error) {
    return { bytes, sha256: "", error: String(error) };
  } finally {
    await conn.close().catch(() => {});
  }
}

const listener = new SocketTCP({
  mss: Number(values.mss),
  timeout: values.timeout === undefined ? undefined : Number(values.timeout),
  ...windowOptions(values),
  backlog: Math.max(64, expected),
});
listener.bind({ hostname: "127.0.0.1", port: 0 });
console.log(JSON.stringify({ port: listener.localAddr.port }));
if (values.warmup) {
  // The client's warm-up connection (`_client.ts --warmup`): served, not reported.
  const [warm] = await listener.accept();
  await serve(warm);
}
const tasks: Promise<Received>[] = [];
while (tasks.length < expected) {
  const [conn] = await listener.accept();
  tasks.push(serve(conn));
}
await listener.close();
const connections = await Promise.all(tasks);
clearInterval(sampler);
sampledRss = Math.max(sampledRss, Deno.memoryUsage().rss);
console.log(JSON.stringify({ connections, peakRss: peakRss(), sampledRss }));
