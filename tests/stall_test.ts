/**
 * The stall guard of the endpoint's timer (issue 12, item 5): on a loaded
 * machine the process is not scheduled for a while; when it runs again, the
 * retransmission timer that fell due meanwhile must not resend a segment
 * whose ACK is already waiting in the socket. Deno runs such a timer before
 * the receives that completed during the stall, so without the guard the
 * resend goes out and is counted.
 *
 * The peer is a raw UDP socket driven by hand, and the stall a busy loop:
 * the ACK is in the client's socket before the loop starts, the timer falls
 * due during it.
 */
import assert from "node:assert/strict";
import { createSegment, parseSegment, type Segment } from "../segment.ts";
import type { LinkWrapper } from "../link.ts";
import { SocketTCP } from "../socket_tcp.ts";
import { stallGuard } from "../endpoint.ts";
import { seededDeadline } from "./_wait.ts";

const within = seededDeadline(0, 3000);
const TIMEOUT = 20; // the client's fixed retransmission timeout, ms

function control(flags: Partial<Segment>, seq: number): Uint8Array {
  return createSegment({
    syn: false,
    ack: false,
    fin: false,
    data: new Uint8Array(),
    ...flags,
    seq,
  });
}

/** One byte sent through a hand-driven peer that stalls the process after the data segment's ACK; the client's stats. */
async function sendThroughStall(link?: LinkWrapper): Promise<SocketTCP["stats"]> {
  const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const client = new SocketTCP({ timeout: TIMEOUT, link });
  const buffer = new Uint8Array(2048);
  let sending: Promise<void> | undefined;
  const next = async (what: string) => {
    const [bytes, from] = await within(peer.receive(buffer), what);
    return { segment: parseSegment(bytes), from: from as Deno.NetAddr };
  };
  try {
    const connecting = client.connect(peer.addr as Deno.NetAddr);
    const syn = await next("the SYN");
    await peer.send(control({ syn: true, ack: true }, syn.segment.seq + 1), syn.from);
    await within(connecting, "connect");
    sending = client.send(new Uint8Array([7]));
    // The ACK of the handshake, then the length announcement "1" (a loaded machine may have
    // sent the SYN again before our SYN+ACK reached it: skipped too).
    let got = await next("the handshake's ACK or the length");
    while (got.segment.syn || got.segment.data.length === 0) {
      got = await next("the length announcement");
    }
    assert.equal(new TextDecoder().decode(got.segment.data), "1");
    await peer.send(control({ ack: true }, got.segment.seq + 1), got.from);
    // A loaded machine may have resent the length before our ACK reached it.
    let data = await next("the data segment");
    while (data.segment.seq === got.segment.seq) data = await next("the data segment");
    assert.deepEqual(data.segment.data, new Uint8Array([7]));
    // Its ACK is in the client's socket now; then the process stalls for two timeouts.
    await peer.send(control({ ack: true }, data.segment.seq + 1), data.from);
    const start = performance.now();
    while (performance.now() - start < 2 * TIMEOUT) { /* a stall: nothing runs */ }
    await within(sending, "send");
    return client.stats;
  } finally {
    // A step that failed above left the send pending: its rejection at close is not the error.
    sending?.catch(() => {});
    await client.close().catch(() => {}); // the peer does not answer the FIN: released
    peer.close();
  }
}

Deno.test("after a stall, an ACK already waiting is read before the timer resends (and without the guard it is not)", async () => {
  try {
    stallGuard.on = false;
    const unguarded = await sendThroughStall();
    assert.equal(unguarded.retransmissions, 1, "the control: without the guard the timer resends");
    stallGuard.on = true;
    const guarded = await sendThroughStall();
    assert.equal(guarded.retransmissions, 0);
    assert.equal(guarded.timeouts, 0);
  } finally {
    stallGuard.on = true;
  }
});

Deno.test("a link that cannot wake itself (a wrapper) still reads the waiting ACK first, a timer tick later", async () => {
  // The wrapper forwards everything but wake: the guard falls back to its timer.
  const noWake: LinkWrapper = (link) => ({
    localAddr: link.localAddr,
    send: (data, to) => link.send(data, to),
    receive: (buffer) => link.receive(buffer),
    close: () => link.close(),
  });
  const stats = await sendThroughStall(noWake);
  assert.equal(stats.retransmissions, 0);
});
