import assert from "node:assert/strict";
import { type Addr, type DatagramLink, freePort, sameAddr, udpLink } from "../link.ts";
import { type Relay, type RelayEvent, type RelayOptions, startRelay } from "../relay.ts";
import { seededDeadline } from "./_wait.ts";

const SEED = 7;
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rejects with a message naming `what` and the seed if `promise` takes longer than `ms`. */
const within = seededDeadline(SEED);

/** Receives one datagram as text, with its sender. */
async function receiveText(link: DatagramLink, what: string): Promise<[string, Addr]> {
  const [bytes, from] = await within(link.receive(new Uint8Array(2048)), what);
  return [decoder.decode(bytes), from];
}

function send(link: DatagramLink, text: string, to: Addr): Promise<unknown> {
  return link.send(encoder.encode(text), to);
}

/** Resolves once `count` events match `predicate`. */
function eventWaiter(predicate: (event: RelayEvent) => boolean, count = 1) {
  const done = Promise.withResolvers<void>();
  let seen = 0;
  return {
    onEvent(event: RelayEvent) {
      if (predicate(event) && ++seen === count) done.resolve();
    },
    reached: done.promise,
  };
}

Deno.test("the relay mirrors the server's new port and forwards bytes both ways", async () => {
  const events: RelayEvent[] = [];
  const server = udpLink(LOOPBACK);
  const child = udpLink(LOOPBACK); // the server's socket for one accepted connection
  const client = udpLink(LOOPBACK);
  const relay = await startRelay({
    listen: LOOPBACK,
    target: server.localAddr,
    seed: SEED,
    onEvent: (event) => events.push(event),
  });
  try {
    await send(client, "0|||...SYN", relay.addr);
    const [syn, upstream] = await receiveText(server, "the SYN at the server");
    assert.equal(syn, "0|||...SYN");
    assert.ok(!sameAddr(upstream, client.localAddr), "the server sees the relay, not the client");

    await send(child, "SYN+ACK from the child", upstream);
    const [synAck, mirror] = await receiveText(client, "the SYN+ACK at the client");
    assert.equal(synAck, "SYN+ACK from the child");
    assert.notEqual(mirror.port, relay.addr.port, `seed ${SEED}: answer from a new relay port`);
    assert.notEqual(mirror.port, child.localAddr.port, "the client never sees the server");

    await send(client, "ACK to the new port", mirror);
    const [ack, sender] = await receiveText(child, "the ACK at the child");
    assert.equal(ack, "ACK to the new port");
    assert.deepEqual(sender, upstream, "one upstream socket per client");

    const payload = new Uint8Array(1500).map((_, i) => i % 251);
    await child.send(payload, upstream);
    const [bytes, from] = await within(client.receive(new Uint8Array(2048)), "the payload");
    assert.deepEqual(bytes, payload);
    assert.deepEqual(from, mirror);

    await send(server, "from the listening port", upstream);
    const [text, listening] = await receiveText(client, "the listener's datagram");
    assert.equal(text, "from the listening port");
    assert.deepEqual(listening, relay.addr, "the listening port is mirrored by the relay's own");

    assert.deepEqual(relay.stats, {
      toServer: {
        received: 2,
        forwarded: 2,
        dropped: 0,
        duplicated: 0,
        reordered: 0,
        delayed: 0,
        held: 0,
      },
      toClient: {
        received: 3,
        forwarded: 3,
        dropped: 0,
        duplicated: 0,
        reordered: 0,
        delayed: 0,
        held: 0,
      },
      connections: 1,
      active: 1,
    });
    assert.deepEqual(
      events.filter((event) => event.type !== "datagram"),
      [
        { type: "listen", listen: relay.addr, target: server.localAddr },
        {
          type: "connection",
          client: client.localAddr,
          upstream: { ...LOOPBACK, port: upstream.port },
        },
        { type: "mirror", client: client.localAddr, server: child.localAddr, mirror },
      ],
    );
  } finally {
    await relay.close();
    server.close();
    child.close();
    client.close();
  }
});

Deno.test("with loss 1 toward the server nothing arrives there", async () => {
  const drops = eventWaiter((event) => event.type === "datagram" && event.action === "drop", 3);
  const server = udpLink(LOOPBACK);
  const client = udpLink(LOOPBACK);
  const relay = await startRelay({
    listen: LOOPBACK,
    target: server.localAddr,
    toServer: { loss: 1 },
    seed: SEED,
    onEvent: drops.onEvent,
  });
  try {
    for (const text of ["one", "two", "three"]) await send(client, text, relay.addr);
    await within(drops.reached, "three drops");
    // Nothing was sent: the first datagram the server gets is one sent around the relay.
    await send(client, "direct", server.localAddr);
    assert.deepEqual(await receiveText(server, "the direct datagram"), [
      "direct",
      client.localAddr,
    ]);
    assert.equal(relay.stats.toServer.dropped, 3, `seed ${SEED}`);
    assert.equal(relay.stats.toServer.forwarded, 0, `seed ${SEED}`);
  } finally {
    await relay.close();
    server.close();
    client.close();
  }
});

Deno.test("faults apply to each direction independently", async () => {
  const server = udpLink(LOOPBACK);
  const client = udpLink(LOOPBACK);
  const relay = await startRelay({
    listen: LOOPBACK,
    target: server.localAddr,
    toClient: { duplicate: 1 },
    seed: SEED,
  });
  try {
    await send(client, "once", relay.addr);
    const [text, upstream] = await receiveText(server, "the request");
    assert.equal(text, "once");
    await send(server, "twice", upstream);
    assert.equal((await receiveText(client, "the first copy"))[0], "twice");
    assert.equal((await receiveText(client, "the second copy"))[0], "twice");
    // The single copy toward the server came first: the server's next datagram is the new one.
    await send(client, "again", relay.addr);
    assert.equal((await receiveText(server, "the second request"))[0], "again");
    assert.equal(relay.stats.toServer.duplicated, 0, `seed ${SEED}`);
    assert.equal(relay.stats.toClient.duplicated, 1, `seed ${SEED}`);
    assert.equal(relay.stats.toClient.forwarded, 2, `seed ${SEED}`);
  } finally {
    await relay.close();
    server.close();
    client.close();
  }
});

Deno.test("the oldest client is evicted beyond maxClients, and idle ones expire", async () => {
  const events: RelayEvent[] = [];
  const idle = eventWaiter((event) => event.type === "expire" && event.reason === "idle");
  const server = udpLink(LOOPBACK);
  const first = udpLink(LOOPBACK);
  const second = udpLink(LOOPBACK);
  const relay = await startRelay({
    listen: LOOPBACK,
    target: server.localAddr,
    maxClients: 1,
    idleTimeout: 50,
    onEvent: (event) => {
      events.push(event);
      idle.onEvent(event);
    },
  });
  try {
    await send(first, "first", relay.addr);
    const [, firstUpstream] = await receiveText(server, "the first client's datagram");
    await send(second, "second", relay.addr);
    const [, secondUpstream] = await receiveText(server, "the second client's datagram");
    assert.notDeepEqual(firstUpstream, secondUpstream);
    assert.deepEqual(events.filter((event) => event.type === "expire")[0], {
      type: "expire",
      client: first.localAddr,
      reason: "evicted",
    });
    await within(idle.reached, "the idle expiry");
    assert.equal(relay.stats.connections, 2);
    assert.equal(relay.stats.active, 0);
  } finally {
    await relay.close();
    server.close();
    first.close();
    second.close();
  }
});

Deno.test("close() releases every port and timer of the relay", async () => {
  const answers = eventWaiter(
    (event) => event.type === "datagram" && event.direction === "toClient",
    2,
  );
  const mirrors: Addr[] = [];
  const server = udpLink(LOOPBACK);
  const child = udpLink(LOOPBACK);
  const client = udpLink(LOOPBACK);
  const relay = await startRelay({
    listen: LOOPBACK,
    target: server.localAddr,
    toClient: { delay: 60_000 },
    seed: SEED,
    onEvent: (event) => {
      if (event.type === "mirror") mirrors.push(event.mirror);
      answers.onEvent(event);
    },
  });
  try {
    await send(client, "hello", relay.addr);
    const [, upstream] = await receiveText(server, "the request");
    await send(child, "held by a long delay", upstream);
    await send(server, "held too", upstream);
    await within(answers.reached, "the relay to delay both answers");
  } finally {
    await relay.close();
    await relay.close(); // harmless
    server.close();
    child.close();
    client.close();
  }
  assert.equal(mirrors.length, 1);
  assert.equal(relay.stats.toClient.delayed, 2, `seed ${SEED}`);
  assert.equal(relay.stats.toClient.forwarded, 0, `seed ${SEED}`);
  assert.equal(relay.stats.toClient.dropped, 2, "copies still waiting at close count as dropped");
  assert.equal(relay.stats.active, 0);
  // The listening port and the mirror port are free again.
  for (const addr of [relay.addr, mirrors[0]]) udpLink(addr).close();
});

const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted" &&
  (await Deno.permissions.query({ name: "read" })).state === "granted";
const relayScript = new URL("../relay.ts", import.meta.url).pathname;

async function runCli(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-net", relayScript, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "the CLI prints help, rejects bad usage and reports a busy port in one line",
  ignore: !canRun,
  async fn() {
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage:.*\n[\s\S]*Example:/);

    for (
      const bad of [[], ["--listen", "9000"], ["--listen", "x", "--target", "localhost:1"], [
        "--listen",
        "9000",
        "--target",
        "localhost:1",
        "--loss",
        "2",
      ], ["--bogus"]]
    ) {
      const result = await runCli(bad);
      assert.equal(result.code, 2, `args ${bad.join(" ")}: ${result.stderr}`);
      // One line saying what is wrong (cli.ts's parseCommandLine adds the pointer to --help).
      assert.match(result.stderr.split("\n")[0], /^relay: \S/, result.stderr);
      assert.ok(!result.stderr.split("\n")[0].includes("Usage:"), result.stderr);
    }

    const busy = udpLink(LOOPBACK);
    try {
      const result = await runCli([
        "--listen",
        String(busy.localAddr.port),
        "--target",
        "localhost:9",
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.match(result.stderr, /address in use/);
    } finally {
      busy.close();
    }
  },
});

Deno.test({
  name: "the CLI relays for --duration and prints a summary",
  ignore: !canRun,
  async fn() {
    const server = udpLink(LOOPBACK);
    try {
      const result = await runCli([
        "--listen",
        "0",
        "--target",
        `localhost:${server.localAddr.port}`,
        "--loss",
        "0.2",
        "--seed",
        String(SEED),
        "--duration",
        "0.2",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /seed 7/);
      assert.match(
        result.stderr,
        /to server: 0 received \+ 0 duplicated = 0 forwarded \+ 0 dropped/,
      );
      assert.match(result.stderr, /to client: 0 received/);
    } finally {
      server.close();
    }
  },
});

Deno.test({
  name: "the CLI applies --rule and --case faults, counting segments, and says which",
  ignore: !canRun,
  async fn() {
    const server = udpLink(LOOPBACK);
    const client = udpLink(LOOPBACK);
    const run = async (faults: string[], texts: string[], arriving: number) => {
      const listen = freePort();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--allow-net", relayScript, "--listen", String(listen)]
          .concat(["--target", `127.0.0.1:${server.localAddr.port}`, "--duration", "2"], faults),
        stdout: "null",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      while (!stderr.includes("\n")) {
        const { value, done } = await within(lines.read(), "the relay's first line", 15_000);
        if (done) break;
        stderr += value;
      }
      const to = { hostname: "127.0.0.1", port: listen };
      for (const text of texts) await send(client, text, to);
      const arrived: string[] = [];
      for (let i = 0; i < arriving; i++) {
        arrived.push((await receiveText(server, `datagram ${i + 1}`))[0]);
      }
      for (;;) {
        const { value, done } = await within(lines.read(), "the relay's summary", 15_000);
        if (done) break;
        stderr += value;
      }
      assert.equal((await child.status).code, 0, stderr);
      return { arrived, stderr };
    };
    try {
      // The length twice (a resend), then the file's first segment: the rule drops that one.
      const length = "0|||0|||0|||5|||11";
      const first = "0|||0|||0|||7|||hola";
      const ruled = await run(["--rule", "drop:data:2:server"], [length, length, first], 2);
      assert.deepEqual(ruled.arrived, [length, length]);
      assert.match(ruled.stderr, /rule: drop the 2nd DATA to the server \(resends not counted\)/);
      assert.match(ruled.stderr, /to server {2}DATA seq=7 len=4 {2}dropped/);
      assert.match(
        ruled.stderr,
        /to server: 3 received \+ 0 duplicated = 2 forwarded \+ 1 dropped/,
      );
      // A conformance case: its own rules (here a copy of the 2nd DATA) and seed.
      const cased = await run(["--case", "duplicate-data"], [length, first], 3);
      assert.deepEqual(cased.arrived, [length, first, first]);
      assert.match(cased.stderr, /seed 0/);
      assert.match(
        cased.stderr,
        /case duplicate-data: the first segment of the file's bytes arrives twice/,
      );
      assert.match(cased.stderr, /rule: duplicate the 2nd DATA to the server/);
    } finally {
      server.close();
      client.close();
    }
  },
});

/** The `type: "datagram"` events, narrowed. */
type DatagramEvent = Extract<RelayEvent, { type: "datagram" }>;

/** Runs `body` with a server, a client and a relay between them (`options` added), then closes all. */
async function withRelay(
  options: Omit<RelayOptions, "listen" | "target" | "onEvent">,
  body: (
    context: { server: DatagramLink; client: DatagramLink; relay: Relay; events: RelayEvent[] },
  ) => Promise<void>,
  onEvent?: (event: RelayEvent) => void,
): Promise<void> {
  const events: RelayEvent[] = [];
  const server = udpLink(LOOPBACK);
  const client = udpLink(LOOPBACK);
  const relay = await startRelay({
    ...options,
    listen: LOOPBACK,
    target: server.localAddr,
    onEvent: (event) => {
      events.push(event);
      onEvent?.(event);
    },
  });
  try {
    await body({ server, client, relay, events });
  } finally {
    await relay.close();
    server.close();
    client.close();
  }
}

/** The upstream address of the first connection event. */
function firstUpstream(events: RelayEvent[]): Addr {
  const connection = events.find((event) => event.type === "connection");
  assert.ok(connection && connection.type === "connection");
  return connection.upstream;
}

Deno.test("a datagram held for reorder with nothing after it goes out when the hold expires", async () => {
  await withRelay(
    { toServer: { reorder: 1 }, reorderHold: 20, seed: SEED },
    async ({ server, client, relay, events }) => {
      await send(client, "alone", relay.addr);
      assert.deepEqual(await receiveText(server, "the held datagram"), [
        "alone",
        firstUpstream(events),
      ]);
      const stats = relay.stats.toServer;
      assert.deepEqual(
        [stats.received, stats.duplicated, stats.forwarded, stats.dropped, stats.reordered],
        [1, 0, 1, 0, 1],
        `seed ${SEED}`,
      );
      const datagram = events.find((event) => event.type === "datagram") as DatagramEvent;
      assert.equal(datagram.fate, "reordered");
      const release = events.find((event) => event.type === "release");
      assert.ok(release && release.type === "release" && release.id === datagram.id);
      assert.ok(release.time - datagram.time >= 15, `held ${release.time - datagram.time} ms`);
    },
  );
});

Deno.test("every datagram is accounted for: received + duplicated = forwarded + dropped", async () => {
  const count = 60;
  const decided = eventWaiter((event) => event.type === "datagram", count);
  await withRelay(
    {
      toServer: { loss: 0.3, duplicate: 0.3, reorder: 0.3, jitter: 2 },
      reorderHold: 10,
      seed: SEED,
    },
    async ({ server, client, relay, events }) => {
      for (let i = 0; i < count; i++) await send(client, `0|||0|||0|||${i}|||x`, relay.addr);
      await within(decided.reached, `${count} decisions`);
      const datagrams = events.filter((event) => event.type === "datagram") as DatagramEvent[];
      assert.equal(datagrams.length, count);
      const copies = datagrams.reduce((sum, event) => sum + event.delays.length, 0);
      // Every copy not dropped reaches the server, the last ones when their hold or delay ends.
      for (let arrived = 0; arrived < copies; arrived++) {
        await receiveText(server, `copy ${arrived + 1} of ${copies}`);
      }
      const stats = relay.stats.toServer;
      assert.equal(stats.received, count);
      assert.equal(stats.forwarded, copies, `seed ${SEED}`);
      assert.equal(
        stats.received + stats.duplicated,
        stats.forwarded + stats.dropped,
        `seed ${SEED}`,
      );
      assert.ok(
        stats.dropped > 5 && stats.duplicated > 5 && stats.reordered > 3,
        `${JSON.stringify(stats)}, seed ${SEED}`,
      );
      const fates = new Set(datagrams.map((event) => event.fate));
      for (const fate of ["dropped", "duplicated", "reordered", "delayed"]) {
        assert.ok(fates.has(fate as DatagramEvent["fate"]), `${fate}, seed ${SEED}`);
      }
    },
    decided.onEvent,
  );
});

Deno.test("a hold rule keeps a datagram until its retransmission has gone by, or until holdLimit", async () => {
  await withRelay(
    {
      rules: [
        { direction: "toServer", kind: "DATA", nth: 1, action: "hold" },
        { direction: "toServer", kind: "DATA", nth: 3, action: "hold" },
      ],
      holdLimit: 30,
    },
    async ({ server, client, relay, events }) => {
      const data = "0|||0|||0|||5|||hola";
      await send(client, data, relay.addr);
      await send(client, data, relay.addr); // its retransmission: both go now, the copy first
      await receiveText(server, "the retransmission");
      await receiveText(server, "the held original");
      const sent = events.filter((event) => event.type === "datagram" || event.type === "release")
        .map((event) => `${event.type} ${(event as { id: number }).id}`);
      assert.deepEqual(sent, ["datagram 1", "datagram 2", "release 1"]);
      // A held datagram with no retransmission goes out after holdLimit.
      await send(client, "0|||0|||0|||9|||otro", relay.addr);
      assert.equal(
        (await receiveText(server, "the datagram held to the limit"))[0],
        "0|||0|||0|||9|||otro",
      );
      const stats = relay.stats.toServer;
      assert.deepEqual([stats.received, stats.held, stats.forwarded, stats.dropped], [3, 2, 3, 0]);
    },
  );
});

Deno.test("a rule counts every datagram by default, and each segment once with counts: segments", async () => {
  // The length, resent; the first data segment, resent; the second; a FIN, resent.
  const stream = [
    "0|||0|||0|||5|||11",
    "0|||0|||0|||5|||11",
    "0|||0|||0|||7|||hola",
    "0|||0|||0|||7|||hola",
    "0|||0|||0|||11|||chau",
    "0|||0|||1|||15|||",
    "0|||0|||1|||15|||",
  ];
  const fates = async (rules: RelayOptions["rules"], forwarded: number) => {
    let result: string[] = [];
    await withRelay({ rules }, async ({ server, client, relay, events }) => {
      for (const text of stream) await send(client, text, relay.addr);
      for (let i = 0; i < forwarded; i++) await receiveText(server, `forwarded datagram ${i + 1}`);
      result = events.flatMap((e) => e.type === "datagram" ? [`${e.seq} ${e.fate}`] : []);
    });
    return result;
  };
  // "The 2nd DATA" as datagrams: the length's resend.
  assert.deepEqual(
    await fates([{ direction: "toServer", kind: "DATA", nth: 2, action: "drop" }], 6),
    [
      "5 forwarded",
      "5 dropped",
      "7 forwarded",
      "7 forwarded",
      "11 forwarded",
      "15 forwarded",
      "15 forwarded",
    ],
  );
  // As segments: the first transmission of seq=7, and of the 4th segment of any kind (the FIN).
  assert.deepEqual(
    await fates([
      { direction: "toServer", kind: "DATA", nth: 2, action: "drop", counts: "segments" },
      { direction: "toServer", kind: "any", nth: 4, action: "drop", counts: "segments" },
      { direction: "toServer", kind: "DATA", nth: 4, action: "drop", counts: "segments" }, // only 3 DATA
    ], 5),
    [
      "5 forwarded",
      "5 forwarded",
      "7 dropped",
      "7 forwarded",
      "11 forwarded",
      "15 dropped",
      "15 forwarded",
    ],
  );
  await assert.rejects(
    () =>
      startRelay({
        listen: LOOPBACK,
        target: { hostname: "127.0.0.1", port: 9 },
        rules: [{
          direction: "toServer",
          kind: "DATA",
          nth: 1,
          action: "drop",
          counts: "bytes" as "segments",
        }],
      }),
    (e) => e instanceof RangeError && /counts is bytes/.test(e.message),
  );
});

Deno.test("startRelay refuses a target on port 0", async () => {
  await assert.rejects(
    startRelay({ listen: LOOPBACK, target: { hostname: "127.0.0.1", port: 0 } }),
    RangeError,
    "the target's port is 0",
  );
});

Deno.test({
  name:
    "the CLI refuses --target port 0 and shows one line per fault and a trace of every datagram",
  ignore: !canRun,
  async fn() {
    const zero = await runCli(["--listen", "0", "--target", "localhost:0"]);
    assert.equal(zero.code, 2, zero.stderr);
    assert.equal(
      zero.stderr.split("\n")[0],
      'relay: --target is "localhost:0", expected HOST:PORT with PORT in 1..65535',
    );

    const server = udpLink(LOOPBACK);
    const client = udpLink(LOOPBACK);
    const free = udpLink(LOOPBACK);
    const port = free.localAddr.port;
    free.close();
    const dir = await Deno.makeTempDir();
    const traceFile = `${dir}/relay.jsonl`;
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--allow-net",
          `--allow-write=${traceFile}`,
          relayScript,
          "--listen",
          String(port),
          "--target",
          `127.0.0.1:${server.localAddr.port}`,
          "--loss",
          "1",
          "--seed",
          String(SEED),
          "--duration",
          "1",
          "--trace-file",
          traceFile,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      while (!stderr.includes("\n")) {
        const { value, done } = await within(reader.read(), "the relay's first line");
        if (done) break;
        stderr += value;
      }
      const to = { hostname: "127.0.0.1", port };
      await send(client, "1|||0|||0|||7|||", to);
      await send(client, "0|||0|||0|||9|||hola", to);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += value;
      }
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.code, 0, stderr);
      const lines = stderr.trim().split("\n");
      assert.match(lines[1], /^relay: \d+\.\d{3} s {2}to server {2}SYN seq=7 len=0 {2}dropped$/);
      assert.match(lines[2], /^relay: \d+\.\d{3} s {2}to server {2}DATA seq=9 len=4 {2}dropped$/);
      assert.match(stderr, /to server: 2 received \+ 0 duplicated = 0 forwarded \+ 2 dropped/);
      const lines2 = (await Deno.readTextFile(traceFile)).trim().split("\n");
      const all = lines2.map((line) => JSON.parse(line));
      assert.deepEqual(all.filter((r) => r.kind === "relay-map").map((r) => r.event), [
        "listen",
        "connection",
      ]);
      const records = all.filter((r) => r.kind === "relay");
      assert.deepEqual(
        records.map((r) => [r.kind, r.id, r.direction, r.flags, r.seq, r.len, r.fate]),
        [
          ["relay", 1, "toServer", "SYN", 7, 0, "dropped"],
          ["relay", 2, "toServer", "DATA", 9, 4, "dropped"],
        ],
      );
      assert.equal(records[0].client, `127.0.0.1:${client.localAddr.port}`);
      assert.equal(records[0].server, `127.0.0.1:${server.localAddr.port}`);
    } finally {
      server.close();
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the relay command echoes its faults as given, and sums up in English with separators", async () => {
  const { formatRelayStats } = await import("../relay.ts");
  const stats = {
    received: 2974,
    duplicated: 0,
    forwarded: 2380,
    dropped: 594,
    reordered: 0,
    delayed: 1200,
    held: 0,
  };
  assert.equal(
    formatRelayStats("to server", stats),
    "  to server: 2,974 received + 0 duplicated = 2,380 forwarded + 594 dropped (1,200 delayed)",
  );
  const { Script } = await import("./_cli.ts");
  await using relay = new Script("relay.ts", [
    "--listen",
    "0",
    "--target",
    "127.0.0.1:9",
    "--loss",
    "0.2",
    "--dup",
    "0.05",
    "--delay",
    "10",
    "--jitter",
    "5",
    "--seed",
    "7",
    "--duration",
    "1",
  ]);
  const [, port] = await relay.line(/^relay: 127\.0\.0\.1:(\d+) -> /);
  // One datagram from one client address, so that the summary counts it.
  const client = udpLink(LOOPBACK);
  try {
    await send(client, "hello", { hostname: "127.0.0.1", port: Number(port) });
  } finally {
    client.close();
  }
  const { code, stderr } = await relay.result();
  assert.equal(code, 0, stderr);
  const lines = stderr.split("\n");
  assert.equal(
    lines[0],
    `relay: 127.0.0.1:${port} -> 127.0.0.1:9, loss 20%, dup 5%, delay 10 ms, jitter ±5 ms each ` +
      "way, seed 7, for 1 s",
  );
  assert.ok(lines.includes("relay: stopped; 1 client address, seed 7"), stderr);
});
