/**
 * What `SocketTCP` refuses, and how it says so: options at construction,
 * arguments of its calls, and signals that are already aborted. Each refusal
 * names the option or argument, the value received (a string quoted, its type
 * named) and what was expected, and leaves nothing open behind it.
 */
import assert from "node:assert/strict";
import { AdaptiveRto, FixedRto } from "../rto.ts";
import { createSegment, SEQ_MODULUS } from "../segment.ts";
import { MAX_MSS, SocketTCP, type SocketTCPOptions } from "../socket_tcp.ts";
import { PeerTimeoutError } from "../errors.ts";
import type { DatagramLink, LinkWrapper } from "../link.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const LONGEST_TIMER = 2 ** 31 - 1;

/** Asserts that `fn` throws exactly `type` with exactly `message`. */
function throwsExactly(fn: () => unknown, type: ErrorConstructor, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Error, `not an Error: ${String(error)}`);
    assert.equal(error.constructor, type, `${error.name}: ${error.message}`);
    assert.equal(error.message, message);
    return true;
  });
}

/** Asserts that `promise` rejects with exactly `type` and `message`. */
async function rejectsExactly(
  promise: Promise<unknown>,
  type: ErrorConstructor,
  message: string,
): Promise<void> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof Error, `did not reject with an Error: ${String(error)}`);
  assert.equal(error.constructor, type, `${error.name}: ${error.message}`);
  assert.equal(error.message, message);
}

/** A link wrapper that counts the datagrams its sockets send. */
function counting(): { wrap: LinkWrapper; sent: () => number; opened: () => number } {
  let sent = 0;
  let opened = 0;
  const wrap: LinkWrapper = (link: DatagramLink) => {
    opened++;
    return {
      localAddr: link.localAddr,
      send(data, to) {
        sent++;
        return link.send(data, to);
      },
      receive: (buffer) => link.receive(buffer),
      close: () => link.close(),
    };
  };
  return { wrap, sent: () => sent, opened: () => opened };
}

/** A listener, a client connected to it and the server's socket. */
async function pair(client: SocketTCPOptions = {}, server: SocketTCPOptions = {}) {
  const listener = new SocketTCP(server);
  listener.bind(LOOPBACK);
  const connecting = new SocketTCP(client);
  const [[conn]] = await Promise.all([listener.accept(), connecting.connect(listener.localAddr)]);
  return { listener, client: connecting, server: conn };
}

// ------------------------------------------------------------ construction

/** [options, error class, message]: every refusal names the option, the value and what was expected. */
const REFUSED: [unknown, ErrorConstructor, string][] = [
  [{ window: 0 }, RangeError, "Cannot use option window = 0: expected an integer >= 1"],
  [
    { window: "4" },
    TypeError,
    'Cannot use option window = "4" (a string): expected an integer >= 1',
  ],
  [
    { mss: 0 },
    RangeError,
    `Cannot use option mss = 0: expected an integer in 1..${MAX_MSS}` +
    " (a segment, 25 bytes of header and the data, must fit a UDP datagram of 65,507 bytes)",
  ],
  [
    { mss: MAX_MSS + 1 },
    RangeError,
    `Cannot use option mss = ${MAX_MSS + 1}: expected an integer in 1..${MAX_MSS}` +
    " (a segment, 25 bytes of header and the data, must fit a UDP datagram of 65,507 bytes)",
  ],
  [
    { mss: 1.5 },
    RangeError,
    `Cannot use option mss = 1.5: expected an integer in 1..${MAX_MSS}` +
    " (a segment, 25 bytes of header and the data, must fit a UDP datagram of 65,507 bytes)",
  ],
  [{ maxRetries: -1 }, RangeError, "Cannot use option maxRetries = -1: expected an integer >= 0"],
  [
    { idleTimeout: 2 ** 40 },
    RangeError,
    "Cannot use option idleTimeout = 1099511627776: expected an integer in 1..2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { idleTimeout: "30000" },
    TypeError,
    'Cannot use option idleTimeout = "30000" (a string): expected an integer in 1..2147483647 ' +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { timeout: 2 ** 31 },
    RangeError,
    "Cannot use option timeout = 2147483648: expected a number > 0 and <= 2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { timeout: 0 },
    RangeError,
    "Cannot use option timeout = 0: expected a number > 0 and <= 2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { timeout: "200" },
    TypeError,
    'Cannot use option timeout = "200" (a string): expected a number > 0 and <= 2147483647 ' +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { rto: { min: 0 } },
    RangeError,
    "Cannot use option rto.min = 0: expected a number > 0 and <= 2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { rto: { initial: Number.NaN } },
    RangeError,
    "Cannot use option rto.initial = NaN: expected a number > 0 and <= 2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { rto: { max: 2 ** 40 } },
    RangeError,
    "Cannot use option rto.max = 1099511627776: expected a number > 0 and <= 2147483647 " +
    "(ms; setTimeout's longest delay)",
  ],
  [
    { rto: { min: 50, max: 10 } },
    RangeError,
    "Cannot use option rto.min = 50: expected at most rto.max = 10",
  ],
  [
    { rto: { min: 600 } },
    RangeError,
    "Cannot use option rto.min = 600: expected at most rto.max = 500 (its default)",
  ],
  [
    { rto: { initial: 1000 } },
    RangeError,
    "Cannot use option rto.initial = 1000: expected a number in rto.min..rto.max = 2..500",
  ],
  [
    { rto: { granularity: Infinity } },
    RangeError,
    "Cannot use option rto.granularity = Infinity: expected a finite number >= 0 (ms)",
  ],
  [
    { rto: { linearRetries: -1 } },
    RangeError,
    "Cannot use option rto.linearRetries = -1: expected an integer >= 0",
  ],
  [{ rto: { minn: 5 } }, TypeError, "Cannot use unknown option rto.minn (did you mean rto.min?)"],
  [{ rto: 100 }, TypeError, "Cannot use option rto = 100 (a number): expected an object"],
  [
    { maxMessageLength: -1 },
    RangeError,
    "Cannot use option maxMessageLength = -1: expected an integer in 0..9007199254740991",
  ],
  [
    { maxMessageLength: 2 ** 53 },
    RangeError,
    "Cannot use option maxMessageLength = 9007199254740992: expected an integer in 0..9007199254740991",
  ],
  [{ random: 0.5 }, TypeError, "Cannot use option random = 0.5 (a number): expected a function"],
  [{ link: {} }, TypeError, "Cannot use option link = {} (an object): expected a function"],
  [
    { onTrace: "log" },
    TypeError,
    'Cannot use option onTrace = "log" (a string): expected a function',
  ],
  [
    { arq: "sr" },
    RangeError,
    'Cannot use option arq = "sr": expected "go-back-n", "selective-repeat"',
  ],
  [
    { arq: 1 },
    TypeError,
    'Cannot use option arq = 1 (a number): expected "go-back-n", "selective-repeat"',
  ],
  [{ windw: 4 }, TypeError, "Cannot use unknown option windw (did you mean window?)"],
  [{ colour: "red" }, TypeError, "Cannot use unknown option colour"],
  [5, TypeError, "Cannot create a SocketTCP with options 5 (a number): expected an object"],
  [null, TypeError, "Cannot create a SocketTCP with options null: expected an object"],
];

for (const [options, type, message] of REFUSED) {
  Deno.test(`new SocketTCP(${Deno.inspect(options)}) throws a ${type.name} naming it`, () => {
    throwsExactly(() => new SocketTCP(options as SocketTCPOptions), type, message);
  });
}

Deno.test("every option, at its bound, is accepted; undefined means the default", () => {
  const all: Required<SocketTCPOptions> = {
    mss: MAX_MSS,
    timeout: LONGEST_TIMER,
    rto: { initial: LONGEST_TIMER, min: LONGEST_TIMER, max: LONGEST_TIMER, granularity: 0 },
    maxRetries: 0,
    closeRetries: 1,
    idleTimeout: LONGEST_TIMER,
    maxMessageLength: Number.MAX_SAFE_INTEGER,
    backlog: 1,
    link: (link) => link,
    onTrace: () => {},
    random: () => 0.99,
    window: 1,
    arq: "selective-repeat",
    congestion: "reno",
  };
  new SocketTCP(all);
  new SocketTCP(Object.fromEntries(Object.keys(all).map((k) => [k, undefined])));
  // The unset bound yields: the default initial 100 is clamped to a max of 20.
  assert.equal(new SocketTCP({ rto: { max: 20 } }).stats.rto, 20);
  assert.equal(new SocketTCP({ rto: { min: 200 } }).stats.rto, 200);
});

Deno.test("mss: the largest accepted makes a segment of exactly 65,507 bytes, the largest UDP datagram", () => {
  const worst = createSegment({
    syn: true,
    ack: true,
    fin: true,
    seq: SEQ_MODULUS - 1,
    data: new Uint8Array(MAX_MSS),
  });
  assert.equal(worst.length, 65_507);
  assert.equal(MAX_MSS, 65_482);
});

Deno.test("mss: a message goes through in segments of the largest mss", async () => {
  const { listener, client, server } = await pair({ mss: MAX_MSS }, { mss: MAX_MSS });
  const message = new Uint8Array(2 * MAX_MSS + 7).map((_, i) => i % 251);
  const [, got] = await Promise.all([client.send(message), server.recv(message.length)]);
  assert.deepEqual(got, message);
  // SYN, ACK, the length, 3 data segments (and any resend a loaded machine made)
  assert.equal(client.stats.segmentsSent - client.stats.retransmissions, 2 + 1 + 3);
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

Deno.test("AdaptiveRto and FixedRto refuse what SocketTCP refuses, with the same words", () => {
  throwsExactly(
    () => new AdaptiveRto({ max: 2 ** 31 }),
    RangeError,
    "Cannot use option rto.max = 2147483648: expected a number > 0 and <= 2147483647 " +
      "(ms; setTimeout's longest delay)",
  );
  throwsExactly(
    () => new FixedRto(-1),
    RangeError,
    "Cannot use option timeout = -1: expected a number > 0 and <= 2147483647 " +
      "(ms; setTimeout's longest delay)",
  );
  // The default initial yields to explicit bounds, as it always did.
  assert.equal(new AdaptiveRto({ min: 2, max: 20, linearRetries: 2 }).rto, 20);
});

// ------------------------------------------------------------ random

for (
  const [label, random, type, message] of [
    [
      "NaN",
      () => Number.NaN,
      RangeError,
      "Cannot connect: option random returned NaN: expected a number >= 0 and < 1",
    ],
    [
      "1.5",
      () => 1.5,
      RangeError,
      "Cannot connect: option random returned 1.5: expected a number >= 0 and < 1",
    ],
    [
      'the string "0.5"',
      () => "0.5",
      TypeError,
      'Cannot connect: option random returned "0.5" (a string): expected a number >= 0 and < 1',
    ],
    [
      "an exception",
      () => {
        throw new Error("no entropy");
      },
      Error,
      "no entropy",
    ],
  ] as [string, () => number, ErrorConstructor, string][]
) {
  Deno.test(`connect with a random that yields ${label} rejects before a socket is opened`, async () => {
    const link = counting();
    const client = new SocketTCP({ random, link: link.wrap, timeout: 5, maxRetries: 0 });
    // The resource sanitizer fails this test if a UDP socket stays open.
    await rejectsExactly(client.connect({ hostname: "127.0.0.1", port: 9 }), type, message);
    assert.equal(link.opened(), 0);
    assert.equal(link.sent(), 0);
  });
}

// ------------------------------------------------------------ arguments

Deno.test("bind: no address, or a badly typed one, says what it expected; the socket stays usable", async () => {
  const socket = new SocketTCP();
  throwsExactly(
    () => socket.bind(undefined as never),
    TypeError,
    'Cannot bind to undefined: expected an address such as { hostname: "127.0.0.1", port: 0 }',
  );
  throwsExactly(
    () => socket.bind({ hostname: "127.0.0.1", port: "8000" as never }),
    TypeError,
    'Cannot bind to port "8000" (a string): expected an integer in 0..65535',
  );
  throwsExactly(
    () => socket.bind({ hostname: "127.0.0.1", port: 65536 }),
    RangeError,
    "Cannot bind to port 65536: expected an integer in 0..65535",
  );
  throwsExactly(
    () => socket.bind({ hostname: 127001 as never, port: 0 }),
    TypeError,
    'Cannot bind to hostname 127001 (a number): expected an IP address or "localhost"',
  );
  socket.bind({ port: 0 }); // the documented defaults: 127.0.0.1, any free port
  assert.equal(socket.localAddr.hostname, "127.0.0.1");
  await socket.close();
});

Deno.test("bind to a port in use: AddrInUse naming the address", async () => {
  await using first = new SocketTCP();
  first.bind(LOOPBACK);
  const { port } = first.localAddr;
  const second = new SocketTCP();
  const error = (() => {
    try {
      second.bind({ hostname: "127.0.0.1", port });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(error instanceof Deno.errors.AddrInUse, String(error));
  assert.equal(
    (error as Error).message,
    `Cannot bind 127.0.0.1:${port}: the address is in use (is another server running there?)`,
  );
  assert.ok((error as Error).cause instanceof Deno.errors.AddrInUse);
  second.bind(LOOPBACK); // still usable
  await second.close();
});

Deno.test("connect: no address or a bad port says so; no hostname means 127.0.0.1", async () => {
  const client = new SocketTCP();
  await rejectsExactly(
    client.connect(undefined as never),
    TypeError,
    'Cannot connect to undefined: expected an address such as { hostname: "127.0.0.1", port: 8000 }',
  );
  await rejectsExactly(
    client.connect({ hostname: "127.0.0.1", port: "8000" as never }),
    TypeError,
    'Cannot connect to port "8000" (a string): expected an integer in 1..65535',
  );
  await rejectsExactly(
    client.connect({ hostname: "127.0.0.1", port: 0 }),
    RangeError,
    "Cannot connect to port 0: expected an integer in 1..65535",
  );
  await rejectsExactly(
    client.connect({ hostname: ["::1"] as never, port: 8000 }),
    TypeError,
    'Cannot connect to hostname ["::1"] (an array): expected a string',
  );
  await using listener = new SocketTCP();
  listener.bind(LOOPBACK);
  const [[server]] = await Promise.all([
    listener.accept(),
    client.connect({ port: listener.localAddr.port } as never),
  ]);
  assert.equal(client.remoteAddr?.hostname, "127.0.0.1");
  await Promise.all([client.close(), server.recvClose()]);
});

Deno.test('send("hola") from plain JS is refused before anything is sent; the socket stays usable', async () => {
  const link = counting();
  const { listener, client, server } = await pair({ link: link.wrap });
  const before = link.sent();
  await rejectsExactly(
    client.send("hola" as never),
    TypeError,
    'Cannot send "hola" (a string): expected a Uint8Array (encode text with TextEncoder)',
  );
  await rejectsExactly(
    client.sendStream("4" as never, []),
    TypeError,
    'Cannot send a message of length "4" (a string): expected an integer in 0..9007199254740991',
  );
  assert.equal(link.sent(), before, "nothing went out");
  const message = new TextEncoder().encode("hola");
  const [, got] = await Promise.all([client.send(message), server.recv(1024)]);
  assert.deepEqual(got, message);
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

Deno.test('recv("10") names the value and its type', async () => {
  const { listener, client, server } = await pair();
  await rejectsExactly(
    server.recv("10" as never),
    TypeError,
    'Cannot recv with buffSize "10" (a string): expected an integer >= 1',
  );
  await rejectsExactly(
    server.recv(0),
    RangeError,
    "Cannot recv with buffSize 0: expected an integer >= 1",
  );
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

Deno.test("accept on a connected or accepted socket says it is connected", async () => {
  const { listener, client, server } = await pair();
  for (const socket of [client, server]) {
    await rejectsExactly(
      socket.accept(),
      TypeError,
      "Cannot accept: this socket is connected; accept works on a bound listener",
    );
  }
  await rejectsExactly(
    new SocketTCP().accept(),
    TypeError,
    "Cannot accept: call bind first",
  );
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

Deno.test("bind or connect on an accepted socket is refused, and opens nothing", async () => {
  const { listener, client, server } = await pair();
  throwsExactly(
    () => server.bind(LOOPBACK),
    TypeError,
    "Cannot bind: the socket is already bound, connected or closed",
  );
  await rejectsExactly(
    server.connect(listener.localAddr),
    TypeError,
    "Cannot connect: the socket is already bound, connected or closed",
  );
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

// ------------------------------------------------------------ signals

Deno.test("send with an aborted signal rejects with its reason before anything is sent; a later send works", async () => {
  const link = counting();
  const { listener, client, server } = await pair({ link: link.wrap });
  const before = link.sent();
  const reason = new Error("user gave up");
  const error = await client.send(new Uint8Array(40), { signal: AbortSignal.abort(reason) })
    .catch((e) => e);
  assert.equal(error, reason);
  assert.equal(link.sent(), before, "no length segment went out");
  const message = new TextEncoder().encode("después");
  const [, got] = await Promise.all([client.send(message), server.recv(1024)]);
  assert.deepEqual(got, message);
  await Promise.all([client.close(), server.recvClose()]);
  await listener.close();
});

Deno.test("connect with an aborted signal rejects with its reason and sends no SYN; a later connect works", async () => {
  const link = counting();
  await using listener = new SocketTCP();
  listener.bind(LOOPBACK);
  const client = new SocketTCP({ link: link.wrap });
  const reason = new Error("too late");
  const error = await client.connect(listener.localAddr, { signal: AbortSignal.abort(reason) })
    .catch((e) => e);
  assert.equal(error, reason);
  assert.equal(link.sent(), 0, "no SYN went out");
  assert.equal(link.opened(), 0, "no UDP socket was opened");
  const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
  await Promise.all([client.close(), server.recvClose()]);
});

Deno.test("send aborted mid-message: nothing more is sent, and the next call says how much was acknowledged and to close", async () => {
  const controller = new AbortController();
  let acks = 0;
  /** New DATA segments the client sent once the signal aborted (not resends). */
  let sentAfter = 0;
  // The ACK of the segment that left with the abort (Stop & Wait: the 2nd ACK let it out).
  let inFlightAcked!: () => void;
  const acked = new Promise<void>((resolve) => inFlightAcked = resolve);
  const { listener, client, server } = await pair({
    onTrace: (event) => {
      if (
        controller.signal.aborted && event.kind === "send" && event.flags === "DATA" &&
        !event.retransmission
      ) sentAfter++;
      // The ACK of the first 16 data bytes: the length "64" took seq 2 bytes. Not a
      // duplicate: a loaded machine's spurious resend of the length gets a second ACK.
      if (event.kind === "recv" && event.flags === "ACK" && event.len === 0 && !event.duplicate) {
        acks++;
        if (acks === 2) controller.abort(new Error("stop"));
        if (acks === 3) inFlightAcked();
      }
    },
  });
  const reading = server.recv(1024).catch((e) => e);
  const error = await client.send(new Uint8Array(64), { signal: controller.signal })
    .catch((e) => e);
  assert.equal(error.message, "stop");
  await rejectsExactly(
    client.send(new Uint8Array(1)),
    Deno.errors.BrokenPipe as ErrorConstructor,
    "The connection is unusable: send was aborted after 16 of 64 bytes were acknowledged: " +
      "the peer waits for the rest; close this socket",
  );
  // The segment the same ACK let out went (it left in that turn); its ACK lets nothing more out.
  await acked;
  assert.equal(sentAfter, 1, "new DATA segments sent after the abort");
  await Promise.all([client.close(), reading]);
  await server.close();
  await listener.close();
});

// ------------------------------------------------------------ no server

Deno.test("connect where nothing answers: 'No server answered', not 'stopped answering'", async () => {
  // A UDP socket that never answers: no ICMP, no SYN+ACK.
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const { port } = silent.addr as Deno.NetAddr;
  const client = new SocketTCP({ timeout: 5, maxRetries: 2, random: () => 0.2 });
  const error = await client.connect({ hostname: "127.0.0.1", port }).catch((e) => e);
  silent.close();
  assert.ok(error instanceof PeerTimeoutError, String(error));
  assert.equal(
    error.message,
    `No server answered at 127.0.0.1:${port}: no SYN+ACK seq=21 after 3 SYNs (is a server listening?)`,
  );
  assert.equal(error.attempts, 3);
});
