/**
 * Two pure connections joined by a virtual link: each segment sent arrives
 * `delay` ms later unless `drop` says it is lost. The client sends one
 * message once the handshake is done; the server reads everything. No
 * network, no clock: every time is exact.
 */
import { Connection, type ConnectionOptions, type Output } from "../connection.ts";
import type { Segment } from "../segment.ts";

/** One output of either end, with its time. */
export interface LinkEvent {
  t: number;
  end: "client" | "server";
  output: Output;
}

/** Runs a client (x = 10) sending `message` to a server over the link, until both are closed or `until`. */
export function runLink(
  message: Uint8Array,
  options: {
    client: ConnectionOptions;
    server: ConnectionOptions;
    delay?: number;
    /** Whether the `n`th transmission (1 = first) of this segment from `end` is lost. */
    drop?: (end: "client" | "server", segment: Segment, n: number) => boolean;
    until?: number;
  },
): { events: LinkEvent[]; client: Connection; server: Connection | undefined; received: number } {
  const delay = options.delay ?? 1;
  const events: LinkEvent[] = [];
  const queue: { at: number; to: "client" | "server"; segment: Segment }[] = [];
  const sentCount = new Map<string, number>();
  const client = Connection.client(10, 0, options.client);
  let server: Connection | undefined;
  let started = false;
  let received = 0;
  const collect = (end: "client" | "server", c: Connection, t: number) => {
    for (const output of c.takeOutput()) {
      events.push({ t, end, output });
      if (output.kind !== "send") continue;
      const s = output.segment;
      const key = `${end} ${s.syn}${s.ack}${s.fin} ${s.seq} ${s.data.length}`;
      const n = (sentCount.get(key) ?? 0) + 1;
      sentCount.set(key, n);
      if (options.drop?.(end, s, n)) continue;
      const at = t + delay;
      let i = queue.length;
      while (i > 0 && queue[i - 1].at > at) i--;
      queue.splice(i, 0, { at, to: end === "client" ? "server" : "client", segment: s });
    }
  };
  const app = (t: number) => {
    if (!started && client.established) {
      started = true;
      client.startMessage(message.length, t);
      client.write(message, t);
      collect("client", client, t);
    }
    if (server?.established) {
      for (let piece = server.take(1 << 20); piece; piece = server.take(1 << 20)) {
        received += piece.length;
      }
      if (started && client.sent && client.state === "established") {
        client.close(t);
        collect("client", client, t);
      }
    }
  };
  collect("client", client, 0);
  const until = options.until ?? 60_000;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const next = Math.min(queue[0]?.at ?? Infinity, client.pollAt(), server?.pollAt() ?? Infinity);
    if (!(next <= until)) break;
    if (queue.length > 0 && queue[0].at === next) {
      const { to, segment } = queue.shift()!;
      if (to === "server") {
        if (!server) {
          if (!segment.syn) continue;
          server = Connection.server(segment.seq, next, options.server);
          server.want = 1 << 20;
          server.expect("data", next);
        } else {
          server.process(segment, next);
          server.idle();
        }
        collect("server", server, next);
      } else {
        client.process(segment, next);
        client.idle();
        collect("client", client, next);
      }
    } else {
      client.poll(next);
      collect("client", client, next);
      if (server) {
        server.poll(next);
        collect("server", server, next);
      }
    }
    app(next);
    if (client.closed && server?.closed) break;
  }
  return { events, client, server, received };
}
