/**
 * Benchmarks of the pure protocol core, no sockets: `deno bench bench/core_bench.ts`
 * (the first step of `deno task bench`). One iteration moves a 64 KiB message
 * of 16-byte segments between a client and a server {@linkcode Connection},
 * every segment encoded and parsed as on the wire, and reports the time per
 * message; ÷ 4,097 segments is the core's cost per segment, both ends
 * together (what `deno task bench` section 2 pays above the UDP floor,
 * besides Deno's own work per datagram).
 *
 * Not part of the test suite.
 */
import { Connection, type ConnectionOptions } from "../connection.ts";
import { parseSegment, parseSegmentView } from "../segment.ts";

const SIZE = 64 * 1024;

/** Moves one message of SIZE bytes from a new client to a new server; returns the bytes received. */
function transfer(options: ConnectionOptions): number {
  let t = 0;
  const client = Connection.client(10, t, options);
  let server: Connection | null = null;
  client.recordReceived = false;
  client.traceWindow = false;
  /** Delivers what `from` sent to `to` (or creates the server from the SYN); returns how many. */
  const pump = (from: Connection, to: Connection | null): number => {
    let sent = 0;
    for (const output of from.takeOutput()) {
      if (output.kind !== "send") continue;
      sent++;
      if (to === null) {
        server = Connection.server(parseSegment(output.bytes).seq, t, options);
        server.recordReceived = false;
        server.traceWindow = false;
      } else to.process(parseSegmentView(output.bytes), t);
    }
    return sent;
  };
  pump(client, null);
  pump(server!, client);
  const data = new Uint8Array(SIZE);
  client.startMessage(SIZE, t);
  client.write(data, t);
  server!.want = SIZE;
  server!.expect("data", t);
  let received = 0;
  for (let step = 0; step < 100_000 && received < SIZE; step++) {
    t += 0.04;
    const moved = pump(client, server);
    server!.idle();
    pump(server!, client);
    received += server!.take(SIZE)?.length ?? 0;
    if (moved === 0 && received < SIZE) client.poll(t + 10);
  }
  if (received !== SIZE) throw new Error(`received ${received} of ${SIZE} bytes`);
  return received;
}

Deno.bench({
  name: "64 KiB, 16-byte segments, Stop & Wait, both ends",
  group: "core",
  baseline: true,
  fn() {
    transfer({});
  },
});

Deno.bench({
  name: "64 KiB, 16-byte segments, window 32, selective repeat, both ends",
  group: "core",
  fn() {
    transfer({ window: 32, arq: "selective-repeat" });
  },
});
