import { FaultInjector, randomBytes } from "../faults.ts";
import { SocketTCP } from "../socket_tcp.ts";
import { concatBytes } from "../cli.ts";
const modes = [
  { window: 1 },
  { window: 32, arq: "go-back-n" },
  { window: 32, arq: "selective-repeat" },
  { window: 32, arq: "selective-repeat", congestion: "tahoe" },
  { window: 32, arq: "go-back-n", congestion: "reno" },
  { window: 32, arq: "selective-repeat", congestion: "reno" },
] as const;
const size = Number(Deno.args[0] ?? 16000);
const loss = Number(Deno.args[1] ?? 0.1);
for (const mode of modes) {
  const cfg = { loss, duplicate: loss > 0 ? 0.05 : 0, reorder: loss > 0 ? 0.05 : 0 };
  const faults = new FaultInjector({ seed: 7, out: cfg, in: cfg });
  const message = randomBytes(size, 3);
  const listener = new SocketTCP({ ...mode });
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const client = new SocketTCP({ ...mode, link: (l) => faults.wrap(l) });
  const t0 = performance.now();
  const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
  const parts: Uint8Array[] = [];
  await Promise.all([
    client.send(message),
    (async () => {
      do parts.push(await server.recv(65536)); while (server.incoming);
    })(),
  ]);
  const t1 = performance.now();
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
  const got = concatBytes(parts);
  const ok = got.length === message.length && got.every((b, i) => b === message[i]);
  const s = client.stats;
  console.log(
    JSON.stringify(mode),
    ok ? "OK" : "BAD",
    (t1 - t0).toFixed(0),
    "ms",
    "rtx",
    s.retransmissions,
    "fast",
    s.fastRetransmits,
    "to",
    s.timeouts,
    "sent",
    s.segmentsSent,
    "peak",
    s.peakCwnd.toFixed(1),
    "rto",
    s.rto.toFixed(1),
  );
}
