/**
 * The sliding window over real UDP on loopback: every mode delivers
 * byte-exact through a seeded fault injector that loses 10% of the
 * datagrams each way, duplicates and reorders some; a window sender talks
 * to a Stop & Wait receiver and the reverse; trace events carry the window.
 * The seeds are fixed (FAULT_SEED overrides) and printed on failure.
 */
import assert from "node:assert/strict";
import { concatBytes } from "../segment.ts";
import { FaultInjector, randomBytes } from "../faults.ts";
import { SocketTCP, type SocketTCPOptions } from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";

const SEED = Number(Deno.env.get("FAULT_SEED") ?? 13);
const LOSSY = { loss: 0.1, duplicate: 0.05, reorder: 0.05 };

interface Result {
  received: Uint8Array;
  client: SocketTCP;
  server: SocketTCP;
  faults: FaultInjector;
}

/** Sends `message` from a client with `sender` options to a server with `receiver` options. */
async function transfer(
  message: Uint8Array,
  sender: SocketTCPOptions,
  receiver: SocketTCPOptions,
  lossy = true,
): Promise<Result> {
  const faults = new FaultInjector({ seed: SEED, out: lossy ? LOSSY : {}, in: lossy ? LOSSY : {} });
  await using listener = new SocketTCP({ idleTimeout: 10_000, ...receiver });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const client = new SocketTCP({ idleTimeout: 10_000, ...sender, link: (l) => faults.wrap(l) });
  const signal = AbortSignal.timeout(20_000);
  const [[server]] = await Promise.all([
    listener.accept({ signal }),
    client.connect(listener.localAddr, { signal }),
  ]);
  try {
    const parts: Uint8Array[] = [];
    await Promise.all([
      client.send(message, { signal }),
      (async () => {
        do parts.push(await server.recv(4096, { signal })); while (server.incoming);
      })(),
    ]);
    await Promise.all([client.close(), server.recvClose({ signal }).catch(() => {})]);
    return { received: concatBytes(parts), client, server, faults };
  } finally {
    await client.close().catch(() => {});
    await server.close().catch(() => {});
  }
}

function assertSame(received: Uint8Array, sent: Uint8Array, what: string) {
  assert.equal(received.length, sent.length, `${what}: length (FAULT_SEED=${SEED})`);
  assert.ok(received.every((b, i) => b === sent[i]), `${what}: bytes differ (FAULT_SEED=${SEED})`);
}

const MODES: SocketTCPOptions[] = [
  { window: 16, arq: "go-back-n" },
  { window: 16, arq: "selective-repeat" },
  { window: 16, arq: "go-back-n", congestion: "tahoe" },
  { window: 16, arq: "selective-repeat", congestion: "tahoe" },
  { window: 16, arq: "go-back-n", congestion: "reno" },
  { window: 16, arq: "selective-repeat", congestion: "reno" },
];

for (const mode of MODES) {
  Deno.test(`window over UDP: ${JSON.stringify(mode)} byte-exact at 10% loss, duplication, reordering`, async () => {
    const message = randomBytes(3000, SEED);
    const { received, client, faults } = await transfer(message, mode, mode);
    assertSame(received, message, JSON.stringify(mode));
    const { out, in: back } = faults.stats;
    assert.ok(out.dropped > 0 && back.dropped > 0, "the link lost datagrams both ways");
    assert.ok(out.duplicated + back.duplicated > 0 && out.reordered + back.reordered > 0);
    assert.ok(client.stats.retransmissions > 0);
  });
}

Deno.test("window over UDP: a window sender to a Stop & Wait receiver, and the reverse, at 10% loss", async () => {
  const message = randomBytes(2000, SEED + 1);
  const sr = { window: 16, arq: "selective-repeat", congestion: "reno" } as const;
  assertSame((await transfer(message, sr, {})).received, message, "window → Stop & Wait");
  assertSame((await transfer(message, {}, sr)).received, message, "Stop & Wait → window");
});

Deno.test("window over UDP: selective repeat to a Stop & Wait receiver at 10% loss goes back N, not one timeout per segment", async () => {
  // socket-tcp's default receiver drops what comes past a hole, silently: the
  // sender must learn it, or every segment after a loss waits a timeout of
  // its own (before: 1,185 timeouts and 9.7 s for these 16 KiB; now about 170
  // and 1.2 s).
  const message = randomBytes(16 * 1024, SEED + 4);
  const { received, client } = await transfer(message, { window: 8, arq: "selective-repeat" }, {});
  assertSame(received, message, "selective repeat → Stop & Wait");
  const { timeouts, retransmissions } = client.stats;
  assert.ok(
    timeouts < 400,
    `${timeouts} timeouts, ${retransmissions} resends (FAULT_SEED=${SEED})`,
  );
});

Deno.test("window over UDP: traces carry base, next, cwnd and ssthresh on every send and ACK", async () => {
  const events: TraceEvent[] = [];
  const message = randomBytes(1000, SEED + 2);
  // A fixed 200 ms timeout: the adaptive one, a few ms here, fired before the
  // 4th ACK was read once in the parallel suite, and slow start is read up to the first resend.
  const mode = { window: 8, arq: "selective-repeat", congestion: "tahoe", timeout: 200 } as const;
  const { received, client } = await transfer(
    message,
    { ...mode, onTrace: (e) => events.push(e) },
    mode,
    false,
  );
  assertSame(received, message, "clean");
  const windowed = events.filter((e) => e.kind !== "timeout");
  assert.ok(windowed.length > 60);
  for (const e of windowed) {
    assert.ok(
      typeof e.base === "number" && typeof e.next === "number" && typeof e.cwnd === "number" &&
        typeof e.ssthresh === "number",
      JSON.stringify(e),
    );
  }
  // Slow start: one more segment per segment acknowledged (an ACK may cover
  // a burst), up to the window of 8, until the first resend (a loaded
  // machine may stall long enough for a spurious timeout).
  const firstResend = events.findIndex((e) => e.kind === "timeout" || e.retransmission);
  const clean = firstResend < 0 ? events : events.slice(0, firstResend);
  const ends = clean.filter((e) => e.kind === "send" && e.flags === "DATA").map((e) =>
    e.seq + e.len
  );
  const acks = clean.filter((e) => e.kind === "recv" && e.flags === "ACK" && !e.duplicate);
  assert.ok(acks.length > 0);
  for (const e of acks) {
    const acked = ends.filter((end) => end <= e.seq).length;
    assert.equal(e.cwnd, Math.min(8, 1 + acked), JSON.stringify(e));
  }
  assert.equal(client.stats.peakCwnd, 8);
  assert.ok(acks.length > 3);
  // Several segments in flight at once: some send went out with next - base > 1 segment.
  assert.ok(events.some((e) => e.kind === "send" && e.flags === "DATA" && e.next! - e.base! > 16));
});

Deno.test("window over UDP: one send of a message four times the send buffer (1 MiB), Stop & Wait and window 64", async () => {
  const message = randomBytes(1024 * 1024, SEED + 3);
  for (const mode of [{ mss: 1400 }, { mss: 1400, window: 64, arq: "selective-repeat" }] as const) {
    const { received } = await transfer(message, mode, mode, false);
    assertSame(received, message, JSON.stringify(mode));
  }
});
