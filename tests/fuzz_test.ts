/**
 * Hostile input against live sockets over loopback: thousands of random,
 * truncated, oversized and almost-valid datagrams hit a listener, an accepted
 * socket and a client while they transfer, from a stranger's port and from
 * the peer's own port; the transfer still completes byte-exact and both ends
 * finish. Then: forged segments with the right sequence number from another
 * port are ignored, and malformed or absurd message lengths end `recv` with a
 * ProtocolError at once, allocating nothing of that size.
 *
 * Randomness is seeded: `SEED=n` reruns one seed; every failure names it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { mulberry32 } from "../faults.ts";
import { type Addr, type DatagramLink, udpLink } from "../link.ts";
import { concatBytes, createSegment, parseSegment, type Segment, SEQ_MODULUS } from "../segment.ts";
import {
  ConnectionClosedError,
  ProtocolError,
  SocketTCP,
  type SocketTCPOptions,
} from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";
import { randomBytes, recvMessage } from "./_harness.ts";
import { deadline, Waiters } from "./_wait.ts";

// Fixed, so that every run tests the same thing; SEED=n tries another (printed on failure).
const SEED = Number(Deno.env.get("SEED") ?? 20261201);
const RERUN = `seed ${SEED} (rerun with SEED=${SEED})`;
console.log(`fuzz_test: ${RERUN}`);

const encoder = new TextEncoder();
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

// ------------------------------------------------------------------ helpers

/** Rejects with a message naming `what` and the seed when `promise` takes more than `ms`. */
const within = deadline((what, ms) => `Timed out after ${ms} ms: ${what}, ${RERUN}`, 5000);

/**
 * Wraps every link of a socket (and of the sockets a listener accepts) to keep
 * the raw link, and to count the datagrams the socket has finished handling:
 * a datagram counts once the reader asks for the next one, so the socket's
 * stats already include it.
 */
class Tap {
  /** The raw links, in the order the socket opened them. */
  readonly links: DatagramLink[] = [];
  /** Per `localPort<fromPort`: [well-formed, malformed] datagrams handled. */
  readonly #counts = new Map<string, [number, number]>();
  readonly #waiters = new Waiters(within);

  readonly wrap = (link: DatagramLink): DatagramLink => {
    this.links.push(link);
    let last: [Addr, boolean] | null = null;
    return {
      get localAddr() {
        return link.localAddr;
      },
      send: (data, to) => link.send(data, to),
      receive: async (buffer) => {
        if (last) this.#record(link.localAddr.port, ...last);
        last = null;
        const got = await link.receive(buffer);
        last = [got[1], parses(got[0])];
        return got;
      },
      close: () => link.close(),
    };
  };

  #record(local: number, from: Addr, wellFormed: boolean): void {
    const key = `${local}<${from.port}`;
    const count = this.#counts.get(key) ?? [0, 0];
    count[wellFormed ? 0 : 1]++;
    this.#counts.set(key, count);
    this.#waiters.wake();
  }

  /** Datagrams handled by the socket on port `local`, from port `from` (any when omitted). */
  handled(local: number, from?: number): { wellFormed: number; malformed: number } {
    let wellFormed = 0, malformed = 0;
    for (const [key, [w, m]] of this.#counts) {
      const [l, f] = key.split("<").map(Number);
      if (l === local && (from === undefined || f === from)) {
        wellFormed += w;
        malformed += m;
      }
    }
    return { wellFormed, malformed };
  }

  /** Resolves once `condition()` holds, re-checked after each datagram handled. */
  until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
    return this.#waiters.until(condition, what, ms);
  }
}

function parses(bytes: Uint8Array): boolean {
  try {
    parseSegment(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A listener, a client and the accepted socket, each end's raw links kept. */
interface TappedPair {
  listener: SocketTCP;
  client: SocketTCP;
  server: SocketTCP;
  serverTap: Tap;
  clientTap: Tap;
  clientTrace: TraceEvent[];
  /** The client's UDP socket, to send as the client. */
  clientLink: DatagramLink;
  /** The accepted socket's UDP socket, to send as the server. */
  serverLink: DatagramLink;
  /** Keeps `call` (a send or recv) so that `close` waits for it to settle first. */
  run<T>(call: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function openTapped(
  socket: SocketTCPOptions = {},
  onClientTrace?: (event: TraceEvent) => void,
): Promise<TappedPair> {
  const serverTap = new Tap();
  const clientTap = new Tap();
  const clientTrace: TraceEvent[] = [];
  const base = { timeout: 20, ...socket };
  const listener = new SocketTCP({ ...base, link: serverTap.wrap });
  listener.bind(LOOPBACK);
  const client = new SocketTCP({
    ...base,
    link: clientTap.wrap,
    random: () => 0, // ISN x = 0: the handshake ends at seq 2
    onTrace: (event) => {
      clientTrace.push(event);
      onClientTrace?.(event);
    },
  });
  const [[server]] = await within(
    Promise.all([listener.accept(), client.connect(listener.localAddr)]),
    "the handshake",
  );
  const serverLink = serverTap.links.find((l) => l.localAddr.port === server.localAddr.port);
  assert.ok(serverLink, "the accepted socket's link was wrapped");
  const calls = new Set<Promise<unknown>>();
  return {
    listener,
    client,
    server,
    serverTap,
    clientTap,
    clientTrace,
    clientLink: clientTap.links[0],
    serverLink,
    run(call) {
      calls.add(call);
      return call;
    },
    async close() {
      // A send that failed on the other end still retries until its own limit.
      await Promise.allSettled(calls);
      await Promise.allSettled([client.close(), server.close()]);
      await listener.close();
    },
  };
}

// ------------------------------------------------------------ arbitraries

const text = (s: string) => encoder.encode(s);

/** A well-formed segment with any flags (SYN+FIN, FIN+ACK, ...) and a sequence number from `seq`. */
const segmentArb = (seq: fc.Arbitrary<number>) =>
  fc.record({
    syn: fc.boolean(),
    ack: fc.boolean(),
    fin: fc.boolean(),
    seq,
    data: fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.constantFrom("0", "-1", "1099511627777", "4096").map(text) },
    ),
  }).map((s: Segment) => createSegment(s));

/** Header fields that are almost right. */
const badFlag = fc.constantFrom("", "2", "01", "a", " 1", "-1", "1 ", "\u00ff", "true");
const badSeq = fc.constantFrom(
  "",
  "-5",
  "abc",
  "1e3",
  "0x10",
  "12.5",
  " 7",
  "4294967296",
  "99999999999999999999999999",
  "-0",
  "NaN",
  "Infinity",
);
const flag = fc.constantFrom("0", "1");
const almostValid = fc.oneof(
  // One bad flag among good ones.
  fc.tuple(badFlag, flag, flag, fc.nat({ max: 5000 }), fc.nat({ max: 2 })).map(
    ([bad, a, b, seq, at]) => {
      const flags: string[] = [a, b];
      flags.splice(at, 0, bad);
      return text(`${flags.join("|||")}|||${seq}|||x`);
    },
  ),
  // A bad SEQ.
  fc.tuple(flag, flag, flag, badSeq).map(([s, a, f, seq]) =>
    text(`${s}|||${a}|||${f}|||${seq}|||`)
  ),
  // Missing or short separators.
  fc.constantFrom("0|||0|||0|||5", "0||0||0||5||", "0|||0|||0", "|||||||||||||", "1|||0|||0||||||")
    .map(text),
);

/** A valid segment cut short. */
const truncated = fc.tuple(segmentArb(fc.nat({ max: 5000 })), fc.nat()).map(([bytes, cut]) =>
  bytes.subarray(0, cut % bytes.length)
);

/**
 * Large datagrams (up to 60 000 bytes): noise, or a DATA header with a sequence
 * number from `seq` before a huge payload.
 */
const oversized = (seq: fc.Arbitrary<number>) =>
  fc.tuple(fc.integer({ min: 1000, max: 60_000 }), fc.nat(), fc.option(seq)).map(
    ([length, seed, header]) =>
      header === null
        ? randomBytes(length, seed)
        : concatBytes([text(`0|||0|||0|||${header}|||`), randomBytes(length, seed)]),
  );

/** A datagram that fast-check prints in one short line, whatever its size. */
class Datagram {
  constructor(readonly bytes: Uint8Array) {}
  [fc.toStringMethod](): string {
    let shown = "";
    for (const byte of this.bytes.subarray(0, 32)) {
      shown += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".";
    }
    return `${this.bytes.length}B:${JSON.stringify(shown)}`;
  }
}
const datagram = (bytes: Uint8Array) => new Datagram(bytes);

/** Anything at all, for a stranger's port. */
const hostileDatagram = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 3, arbitrary: almostValid },
  { weight: 2, arbitrary: truncated },
  { weight: 4, arbitrary: segmentArb(fc.oneof(fc.nat({ max: 5000 }), fc.nat(SEQ_MODULUS - 1))) },
  { weight: 1, arbitrary: oversized(fc.nat({ max: 5000 })) },
).map(datagram);

/**
 * What the peer's own port may send without being a legitimate segment:
 * malformed bytes, or segments whose sequence number is far from every number
 * this transfer uses (0..~4200), so that no protocol could tell them valid.
 */
const FAR_SEQ = fc.integer({ min: 100_000, max: SEQ_MODULUS - 1 });
const peerDatagram = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 3, arbitrary: almostValid },
  { weight: 5, arbitrary: segmentArb(FAR_SEQ) },
  { weight: 1, arbitrary: oversized(FAR_SEQ) },
).map(datagram);

type Target = "listener" | "server" | "client";
const stranger = fc.tuple(fc.constantFrom<Target>("listener", "server", "client"), hostileDatagram);
/** From the client's port to the server, or from the server's port to the client. */
const impostor = fc.tuple(
  fc.constantFrom<"toServer" | "toClient">("toServer", "toClient"),
  peerDatagram,
);

// ------------------------------------------------------------------- tests

const MESSAGE_LENGTH = 4096;

Deno.test(`a transfer under a storm of hostile datagrams to every port still arrives byte-exact (${RERUN})`, async () => {
  let runs = 0, strangerSent = 0, impostorSent = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(stranger, { minLength: 500, maxLength: 800 }),
      fc.array(impostor, { minLength: 200, maxLength: 400 }),
      fc.nat(),
      async (fromStranger, fromImpostor, messageSeed) => {
        runs++;
        const intruder = udpLink(LOOPBACK);
        // One batch of hostile datagrams leaves each time the client sends a new DATA segment.
        const work = [
          ...fromStranger.map(([target, bytes]) => ({ kind: "stranger" as const, target, bytes })),
          ...fromImpostor.map(([target, bytes]) => ({ kind: "impostor" as const, target, bytes })),
        ];
        const rng = mulberry32(messageSeed);
        for (let i = work.length - 1; i > 0; i--) {
          const j = Math.floor(rng() * (i + 1));
          [work[i], work[j]] = [work[j], work[i]];
        }
        const batch = Math.ceil(work.length / 200);
        let next = 0;
        const sending = new Set<Promise<void>>();
        let pair: TappedPair | null = null;
        const sendBatch = async (items: typeof work) => {
          const p = pair!;
          for (const item of items) {
            if (item.kind === "stranger") {
              const to = item.target === "listener"
                ? p.listener.localAddr
                : item.target === "server"
                ? p.server.localAddr
                : { hostname: "127.0.0.1", port: p.client.localAddr.port };
              await intruder.send(item.bytes.bytes, to);
              strangerSent++;
            } else if (item.target === "toServer") {
              await p.clientLink.send(item.bytes.bytes, p.server.localAddr);
              impostorSent++;
            } else {
              await p.serverLink.send(item.bytes.bytes, {
                hostname: "127.0.0.1",
                port: p.client.localAddr.port,
              });
              impostorSent++;
            }
          }
        };
        const onTrace = (event: TraceEvent) => {
          if (event.kind !== "send" || event.flags !== "DATA" || event.retransmission) return;
          if (!pair || next >= work.length) return;
          const promise = sendBatch(work.slice(next, next + batch));
          next += batch;
          sending.add(promise);
        };
        pair = await openTapped({ backlog: 8, maxRetries: 40, closeRetries: 6 }, onTrace);
        const context = `${RERUN}, message seed ${messageSeed}`;
        try {
          const message = randomBytes(MESSAGE_LENGTH, messageSeed);
          const [, received] = await within(
            Promise.all([
              pair.run(pair.client.send(message)),
              recvMessage(pair.server, MESSAGE_LENGTH, 1000),
            ]),
            `the 4 KiB transfer, ${context}`,
            15_000,
          );
          const allSent = next >= work.length;
          await within(Promise.all(sending), `the hostile datagrams, ${context}`);
          assert.ok(allSent, `every hostile datagram left during the transfer, ${context}`);
          assert.deepEqual(received, message, `the message differs, ${context}`);

          // The connection still works the other way.
          const reply = randomBytes(100, messageSeed + 1);
          const [, back] = await within(
            Promise.all([pair.run(pair.server.send(reply)), recvMessage(pair.client, 100, 100)]),
            `the reply, ${context}`,
          );
          assert.deepEqual(back, reply, `the reply differs, ${context}`);

          // Every datagram each socket handled was counted where it belongs.
          const intruderPort = intruder.localAddr.port;
          const { server, client, listener } = pair;
          const atServer = pair.serverTap.handled(server.localAddr.port);
          const strangerAtServer = pair.serverTap.handled(server.localAddr.port, intruderPort);
          assert.equal(server.stats.malformed, atServer.malformed, `server malformed, ${context}`);
          assert.equal(
            server.stats.foreign,
            strangerAtServer.wellFormed,
            `server foreign, ${context}`,
          );
          const atClient = pair.clientTap.handled(client.localAddr.port);
          const strangerAtClient = pair.clientTap.handled(client.localAddr.port, intruderPort);
          assert.equal(client.stats.malformed, atClient.malformed, `client malformed, ${context}`);
          assert.equal(
            client.stats.foreign,
            strangerAtClient.wellFormed,
            `client foreign, ${context}`,
          );
          const atListener = pair.serverTap.handled(listener.localAddr.port);
          assert.equal(listener.stats.malformed, atListener.malformed, `listener, ${context}`);
          assert.ok(
            server.stats.malformed + server.stats.foreign > 0,
            `server was hit, ${context}`,
          );

          await within(
            Promise.all([pair.client.close(), pair.server.recvClose()]),
            `the close, ${context}`,
          );
        } finally {
          intruder.close();
          await within(Promise.allSettled(sending), `the hostile datagrams, ${context}`);
          await within(pair.close(), `closing the sockets, ${context}`);
        }
      },
    ),
    { seed: SEED, numRuns: 4, endOnFailure: true },
  );
  assert.equal(runs, 4);
  assert.ok(strangerSent >= 2000, `${strangerSent} datagrams from a stranger, ${RERUN}`);
  assert.ok(impostorSent >= 800, `${impostorSent} datagrams from the peers' ports, ${RERUN}`);
});

Deno.test("segments with the right sequence number from another port are ignored and counted as foreign", async () => {
  const intruder = udpLink(LOOPBACK);
  let toServer = 0, toClient = 0;
  const forging = new Set<Promise<void>>();
  let pair: TappedPair | null = null;
  // For every DATA segment the client sends: the same seq with other bytes, and a FIN at that
  // seq, to the server; the very ACK the client waits for, and a FIN+ACK, to the client.
  const forge = async (event: TraceEvent) => {
    const p = pair!;
    const client = { hostname: "127.0.0.1", port: p.client.localAddr.port };
    const seg = (flags: Partial<Segment>, seq: number, data = new Uint8Array()) =>
      createSegment({ syn: false, ack: false, fin: false, ...flags, seq, data });
    const garbage = new Uint8Array(event.len).fill(0x21);
    await intruder.send(seg({}, event.seq, garbage), p.server.localAddr);
    await intruder.send(seg({ fin: true }, event.seq), p.server.localAddr);
    toServer += 2;
    await intruder.send(seg({ ack: true }, event.seq + event.len), client);
    await intruder.send(seg({ fin: true, ack: true }, event.seq + 1), client);
    toClient += 2;
  };
  pair = await openTapped({}, (event) => {
    if (pair && event.kind === "send" && event.flags === "DATA" && !event.retransmission) {
      forging.add(forge(event));
    }
  });
  try {
    const message = randomBytes(1000, SEED);
    const [, received] = await within(
      Promise.all([pair.run(pair.client.send(message)), recvMessage(pair.server, 1000, 1000)]),
      "the transfer",
    );
    await within(Promise.all(forging), "the forged segments");
    const { server, client } = pair;
    const port = intruder.localAddr.port;
    await pair.serverTap.until(
      () => pair.serverTap.handled(server.localAddr.port, port).wellFormed === toServer,
      "the forged segments at the server",
    );
    await pair.clientTap.until(
      () => pair.clientTap.handled(client.localAddr.port, port).wellFormed === toClient,
      "the forged segments at the client",
    );
    assert.deepEqual(received, message, `the message differs, ${RERUN}`);
    // 1000 bytes: a length segment and 63 data segments, each forged 4 times.
    assert.equal(toServer, 2 * 64);
    assert.equal(server.stats.foreign, toServer);
    assert.equal(client.stats.foreign, toClient);
    assert.equal(server.stats.bytesReceived, 1000);
    await within(Promise.all([client.close(), server.recvClose()]), "the close");
  } finally {
    intruder.close();
    await within(Promise.allSettled(forging), "the forged segments");
    await within(pair.close(), "closing the sockets");
  }
});

/** Sends `data` as the client's first segment after the handshake (seq 2), raw. */
async function announce(
  data: Uint8Array,
  socket: SocketTCPOptions = {},
): Promise<{ error: unknown; ms: number }> {
  const pair = await openTapped({ maxRetries: 3, closeRetries: 2, ...socket });
  try {
    const receiving = pair.server.recv(1024).then(() => undefined, (e) => e);
    const start = performance.now();
    await pair.clientLink.send(
      createSegment({ syn: false, ack: false, fin: false, seq: 2, data }),
      pair.server.localAddr,
    );
    const error = await within(receiving, `recv after announcing ${JSON.stringify(data)}`, 2000);
    return { error, ms: performance.now() - start };
  } finally {
    await within(pair.close(), "closing the sockets");
  }
}

Deno.test("a length segment that is not a decimal number ends recv with a ProtocolError naming it", async () => {
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([0xff, 0xfe, 0x80, 0x31]), /expected a decimal number/],
    [text("-5"), /"-5", expected a decimal number/],
    [text("abc"), /"abc", expected a decimal number/],
    [text("1e3"), /"1e3", expected a decimal number/],
    [text("12.5"), /"12.5", expected a decimal number/],
    [text(" 7"), /expected a decimal number/],
    [text("0x10"), /"0x10", expected a decimal number/],
    [text("Infinity"), /expected a decimal number/],
  ];
  for (const [data, expected] of cases) {
    const { error, ms } = await announce(data);
    assert.ok(error instanceof ProtocolError, `${JSON.stringify([...data])}: ${error}`);
    assert.match(error.message, expected);
    assert.ok(ms < 1000, `rejected after ${ms} ms`);
  }
});

Deno.test({
  name:
    "a bad length is shown with its control bytes escaped, so a peer cannot write to the server's terminal",
  fn: async () => {
    const { error } = await announce(text("\x1b[2J\x1b[31mpwned\r\n\x07"));
    assert.ok(error instanceof ProtocolError, String(error));
    const control = [...error.message].filter((c) => c < " " || c === "\x7f");
    assert.deepEqual(control, [], `control characters in: ${JSON.stringify(error.message)}`);
  },
});

Deno.test(`any length segment that is not 1 to 16 digits is refused (property, ${RERUN})`, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((bytes) =>
        !/^[0-9]{1,16}$/.test(new TextDecoder().decode(bytes))
      ),
      async (data) => {
        const { error } = await announce(data);
        assert.ok(error instanceof ProtocolError, `${JSON.stringify([...data])}: ${error}`);
      },
    ),
    { seed: SEED, numRuns: 15, endOnFailure: true },
  );
});

Deno.test("a length above maxMessageLength ends recv at once with a ProtocolError, allocating nothing", async () => {
  const before = Deno.memoryUsage().rss;
  const cases: [string, SocketTCPOptions, RegExp][] = [
    ["1099511627777", {}, /length 1099511627777, more than the maximum 1099511627776/],
    ["9007199254740993", {}, /more than the maximum/],
    ["1001", { maxMessageLength: 1000 }, /length 1001, more than the maximum 1000/],
    // 20 digits: refused (the message calls it "not a decimal number").
    ["99999999999999999999", {}, /"99999999999999999999"/],
  ];
  for (const [length, socket, expected] of cases) {
    const { error, ms } = await announce(text(length), socket);
    assert.ok(error instanceof ProtocolError, `${length}: ${error}`);
    assert.match(error.message, expected);
    assert.ok(ms < 1000, `${length}: rejected after ${ms} ms`);
  }
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 256 * 2 ** 20, `the process grew by ${grown} bytes`);
});

Deno.test("a message announced as 2^40 bytes is accepted without allocating it, and its early end is reported", async () => {
  const pair = await openTapped({ maxRetries: 3, closeRetries: 2 });
  try {
    const before = Deno.memoryUsage().rss;
    const receiving = pair.server.recv(2 ** 40).then(() => undefined, (e) => e);
    const length = text(String(2 ** 40)); // 13 bytes at seq 2, then 16 bytes at seq 15
    const segments: [Partial<Segment>, number, Uint8Array][] = [
      [{}, 2, length],
      [{}, 15, randomBytes(16, SEED)],
      [{ fin: true }, 31, new Uint8Array()],
    ];
    for (const [flags, seq, data] of segments) {
      await pair.clientLink.send(
        createSegment({ syn: false, ack: false, fin: false, ...flags, seq, data }),
        pair.server.localAddr,
      );
    }
    const error = await within(receiving, "recv of the 2^40-byte message", 2000);
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.match(error.message, /closed the connection 1,099,511,627,760 bytes before the end/);
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 64 * 2 ** 20, `the process grew by ${grown} bytes`);
    // Both segments were acknowledged: the length (ACK 15) and the 16 bytes (ACK 31).
    await pair.clientTap.until(
      () => pair.clientTap.handled(pair.client.localAddr.port).wellFormed >= 3,
      "the two ACKs and the FIN+ACK",
    );
  } finally {
    await within(pair.close(), "closing the sockets");
  }
});
