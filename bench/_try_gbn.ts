import { FaultInjector, randomBytes } from "../faults.ts";
import { SocketTCP } from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";
const mode = { window: 32, arq: "go-back-n" } as const;
const cfg = { loss: 0.1, duplicate: 0.05, reorder: 0.05 };
const faults = new FaultInjector({ seed: 7, out: cfg, in: cfg });
const message = randomBytes(16000, 3);
const listener = new SocketTCP({ ...mode });
listener.bind({ hostname: "127.0.0.1", port: 0 });
const ev: TraceEvent[] = [];
const client = new SocketTCP({ ...mode, link: (l) => faults.wrap(l), onTrace: (e) => ev.push(e) });
const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
await Promise.all([
  client.send(message),
  (async () => {
    do await server.recv(65536); while (server.incoming);
  })(),
]);
await Promise.all([client.close(), server.recvClose()]);
await listener.close();
const t0 = ev[0].time;
let n = 0;
for (const e of ev) {
  if (e.kind === "timeout" && n++ < 60) console.log((e.time - t0).toFixed(1), e.seq, e.rto);
}
console.log(client.stats.spuriousRetransmissions);
