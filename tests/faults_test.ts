import assert from "node:assert/strict";
import { FaultInjector, FaultModel, mulberry32 } from "../faults.ts";
import { type DatagramLink, udpLink } from "../link.ts";
import { createSegment, parseSegment } from "../segment.ts";
import { seededDeadline } from "./_wait.ts";

const SEED = 20240611;
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rejects with a message naming `what` and the seed if `promise` takes longer than `ms`. */
const within = seededDeadline(SEED);

/** Receives `count` datagrams from `link` and returns them as text. */
async function receiveTexts(link: DatagramLink, count: number): Promise<string[]> {
  const buffer = new Uint8Array(2048);
  const texts: string[] = [];
  while (texts.length < count) {
    const [bytes] = await within(link.receive(buffer), `datagram ${texts.length + 1}/${count}`);
    texts.push(decoder.decode(bytes));
  }
  return texts;
}

function segment(kind: "SYN" | "SYN+ACK" | "ACK" | "DATA", seq: number, text = ""): Uint8Array {
  return createSegment({
    syn: kind.startsWith("SYN"),
    ack: kind.endsWith("ACK"),
    fin: false,
    seq,
    data: encoder.encode(text),
  });
}

/** Sends `texts` in order from `from` to `to`. */
async function sendTexts(from: DatagramLink, to: DatagramLink, texts: string[]): Promise<void> {
  for (const text of texts) await from.send(encoder.encode(text), to.localAddr);
}

Deno.test("mulberry32 repeats its sequence for a seed and stays in [0, 1)", () => {
  const a = mulberry32(SEED);
  const b = mulberry32(SEED);
  const c = mulberry32(SEED + 1);
  const first = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(first, Array.from({ length: 1000 }, () => b()), `seed ${SEED}`);
  assert.notDeepEqual(first, Array.from({ length: 1000 }, () => c()), `seed ${SEED}`);
  assert.ok(first.every((x) => x >= 0 && x < 1), `seed ${SEED}`);
});

Deno.test("FaultModel with loss 0.2 drops 1,800 to 2,200 of 10,000 datagrams", () => {
  const model = new FaultModel(mulberry32(SEED), { loss: 0.2 });
  let dropped = 0;
  for (let i = 0; i < 10_000; i++) {
    const { deliver, hold } = model.decide();
    if (deliver.length === 0) dropped++;
    else assert.deepEqual(deliver, [0], `seed ${SEED}`);
    assert.equal(hold, false, `seed ${SEED}`);
  }
  assert.ok(dropped >= 1800 && dropped <= 2200, `dropped ${dropped}, seed ${SEED}`);
});

Deno.test("FaultModel duplicates and reorders at the configured rates", () => {
  const model = new FaultModel(mulberry32(SEED), { duplicate: 0.1, reorder: 0.05 });
  let duplicated = 0;
  let held = 0;
  for (let i = 0; i < 10_000; i++) {
    const { deliver, hold } = model.decide();
    if (deliver.length === 2) duplicated++;
    if (hold) held++;
  }
  assert.ok(duplicated >= 850 && duplicated <= 1150, `duplicated ${duplicated}, seed ${SEED}`);
  assert.ok(held >= 400 && held <= 600, `held ${held}, seed ${SEED}`);
});

Deno.test("FaultModel delays every copy by delay plus or minus jitter", () => {
  const model = new FaultModel(mulberry32(SEED), { delay: 20, jitter: 5, duplicate: 0.5 });
  const delays = Array.from({ length: 10_000 }, () => model.decide().deliver).flat();
  assert.ok(delays.every((d) => d >= 15 && d <= 25), `seed ${SEED}`);
  const mean = delays.reduce((sum, d) => sum + d, 0) / delays.length;
  assert.ok(Math.abs(mean - 20) < 0.2, `mean ${mean}, seed ${SEED}`);
  assert.ok(new Set(delays).size === 11, `seed ${SEED}`);
  const clamped = new FaultModel(mulberry32(SEED), { delay: 1, jitter: 10 });
  for (let i = 0; i < 1000; i++) assert.ok(clamped.decide().deliver[0] >= 0, `seed ${SEED}`);
});

Deno.test("FaultModel gives the same decisions for the same seed", () => {
  const config = { loss: 0.3, duplicate: 0.2, reorder: 0.1, delay: 5, jitter: 3 };
  const run = (seed: number) => {
    const model = new FaultModel(mulberry32(seed), config);
    return Array.from({ length: 500 }, () => model.decide());
  };
  assert.deepEqual(run(SEED), run(SEED), `seed ${SEED}`);
  assert.notDeepEqual(run(SEED), run(SEED + 1), `seed ${SEED}`);
});

Deno.test("FaultModel rejects out-of-range configurations", () => {
  const random = mulberry32(SEED);
  assert.throws(() => new FaultModel(random, { loss: 1.5 }), RangeError);
  assert.throws(() => new FaultModel(random, { duplicate: -0.1 }), RangeError);
  assert.throws(() => new FaultModel(random, { reorder: NaN }), RangeError);
  assert.throws(() => new FaultModel(random, { delay: -1 }), RangeError);
  assert.throws(() => new FaultModel(random, { jitter: Infinity }), RangeError);
  assert.throws(
    () =>
      new FaultInjector({
        seed: SEED,
        rules: [{ direction: "out", kind: "SYN", nth: 0, action: "drop" }],
      }),
    RangeError,
  );
});

Deno.test("a rule drops exactly the nth SYN+ACK counted across all wrapped links", async () => {
  const faults = new FaultInjector({
    seed: SEED,
    rules: [{ direction: "out", kind: "SYN+ACK", nth: 2, action: "drop" }],
  });
  const first = faults.wrap(udpLink(LOOPBACK));
  const second = faults.wrap(udpLink(LOOPBACK));
  const receiver = udpLink(LOOPBACK);
  try {
    await first.send(segment("SYN+ACK", 1), receiver.localAddr);
    await second.send(segment("SYN+ACK", 2), receiver.localAddr);
    await first.send(segment("ACK", 3), receiver.localAddr);
    await second.send(segment("SYN+ACK", 4), receiver.localAddr);
    await first.send(segment("SYN+ACK", 5), receiver.localAddr);
    const seqs = (await receiveTexts(receiver, 4)).map((text) =>
      parseSegment(encoder.encode(text)).seq
    );
    assert.deepEqual(seqs.sort(), [1, 3, 4, 5], `seed ${SEED}`);
    assert.deepEqual(
      faults.log.map(({ kind, seq, action, rule }) => [kind, seq, action, rule]),
      [
        ["SYN+ACK", 1, "deliver", false],
        ["SYN+ACK", 2, "drop", true],
        ["ACK", 3, "deliver", false],
        ["SYN+ACK", 4, "deliver", false],
        ["SYN+ACK", 5, "deliver", false],
      ],
      `seed ${SEED}`,
    );
    assert.deepEqual(faults.stats.out, {
      datagrams: 5,
      delivered: 4,
      dropped: 1,
      duplicated: 0,
      reordered: 0,
      delayed: 0,
    });
  } finally {
    first.close();
    second.close();
    receiver.close();
  }
});

Deno.test("a rule that counts segments skips resends: the same bytes to the same peer", async () => {
  const faults = new FaultInjector({
    seed: SEED,
    rules: [
      { direction: "out", kind: "DATA", nth: 2, action: "drop", counts: "segments" },
      { direction: "out", kind: "DATA", nth: 3, action: "duplicate", counts: "segments" },
    ],
  });
  const sender = faults.wrap(udpLink(LOOPBACK));
  const one = udpLink(LOOPBACK);
  const two = udpLink(LOOPBACK);
  try {
    await sender.send(segment("DATA", 5, "a"), one.localAddr);
    await sender.send(segment("DATA", 5, "a"), one.localAddr); // a resend: not counted
    await sender.send(segment("DATA", 5, "a"), two.localAddr); // another peer: the 2nd segment
    await sender.send(segment("DATA", 6, "b"), one.localAddr); // the 3rd
    await sender.send(segment("DATA", 6, "b"), one.localAddr); // its resend
    assert.deepEqual(
      faults.log.map(({ seq, action, rule }) => `${seq} ${action}${rule ? " (rule)" : ""}`),
      ["5 deliver", "5 deliver", "5 drop (rule)", "6 duplicate (rule)", "6 deliver"],
      `seed ${SEED}`,
    );
    assert.equal((await receiveTexts(one, 5)).length, 5);
  } finally {
    sender.close();
    one.close();
    two.close();
  }
  assert.throws(
    () =>
      new FaultInjector({
        seed: SEED,
        rules: [{
          direction: "out",
          kind: "FIN",
          nth: 1,
          action: "drop",
          counts: "all" as "segments",
        }],
      }),
    /Cannot create fault rule: counts is all, expected "datagrams" or "segments"/,
  );
});

Deno.test("datagrams that are not segments never match a rule", async () => {
  const faults = new FaultInjector({
    seed: SEED,
    rules: [{ direction: "out", kind: "any", nth: 1, action: "drop" }],
  });
  const sender = faults.wrap(udpLink(LOOPBACK));
  const receiver = udpLink(LOOPBACK);
  try {
    await sender.send(encoder.encode("not a segment"), receiver.localAddr);
    await sender.send(segment("DATA", 7, "dropped"), receiver.localAddr);
    await sender.send(segment("DATA", 8, "kept"), receiver.localAddr);
    assert.deepEqual(
      await receiveTexts(receiver, 2),
      ["not a segment", "0|||0|||0|||8|||kept"],
      `seed ${SEED}`,
    );
    assert.deepEqual(faults.log.map((entry) => entry.kind), ["INVALID", "DATA", "DATA"]);
  } finally {
    sender.close();
    receiver.close();
  }
});

Deno.test("wrap duplicates and reorders outgoing datagrams byte for byte", async () => {
  const receiver = udpLink(LOOPBACK);
  const duplicating = new FaultInjector({ seed: SEED, out: { duplicate: 1 } });
  const reordering = new FaultInjector({ seed: SEED, out: { reorder: 1 } });
  const doubler = duplicating.wrap(udpLink(LOOPBACK));
  const shuffler = reordering.wrap(udpLink(LOOPBACK));
  try {
    await sendTexts(doubler, receiver, ["A", "B"]);
    assert.deepEqual(await receiveTexts(receiver, 4), ["A", "A", "B", "B"], `seed ${SEED}`);
    assert.equal(duplicating.stats.out.duplicated, 2);
    assert.equal(duplicating.stats.out.delivered, 4);

    await sendTexts(shuffler, receiver, ["A", "B", "C", "D", "E"]);
    assert.deepEqual(await receiveTexts(receiver, 4), ["B", "A", "D", "C"], `seed ${SEED}`);
    assert.equal(reordering.stats.out.reordered, 3, "E is held");
    await sendTexts(shuffler, receiver, ["F"]);
    assert.deepEqual(await receiveTexts(receiver, 2), ["F", "E"], `seed ${SEED}`);
  } finally {
    doubler.close();
    shuffler.close();
    receiver.close();
  }
});

Deno.test("wrap drops, duplicates and reorders incoming datagrams", async () => {
  const faults = new FaultInjector({
    seed: SEED,
    in: { reorder: 1 },
    rules: [
      { direction: "in", kind: "DATA", nth: 2, action: "drop" },
      { direction: "in", kind: "DATA", nth: 3, action: "duplicate" },
    ],
  });
  const receiver = faults.wrap(udpLink(LOOPBACK));
  const sender = udpLink(LOOPBACK);
  try {
    for (let seq = 1; seq <= 5; seq++) {
      await sender.send(segment("DATA", seq, `d${seq}`), receiver.localAddr);
    }
    // 1 is held; 2 is dropped by a rule, which releases 1; 3 is duplicated by a
    // rule; 4 is held and released after 5.
    const buffer = new Uint8Array(100);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [bytes, from] = await within(receiver.receive(buffer), `datagram ${i + 1}`);
      assert.equal(bytes.buffer, buffer.buffer, "receive fills the caller's buffer");
      assert.equal(from.port, sender.localAddr.port);
      seqs.push(parseSegment(bytes).seq);
    }
    assert.deepEqual(seqs, [1, 3, 3, 5, 4], `seed ${SEED}`);
    assert.deepEqual(faults.stats.in, {
      datagrams: 5,
      delivered: 5,
      dropped: 1,
      duplicated: 1,
      reordered: 2,
      delayed: 0,
    });
  } finally {
    receiver.close();
    sender.close();
  }
});

Deno.test("a delayed datagram arrives once its timer fires", async () => {
  const faults = new FaultInjector({ seed: SEED, out: { delay: 20 }, in: { delay: 20 } });
  const sender = faults.wrap(udpLink(LOOPBACK));
  const receiver = faults.wrap(udpLink(LOOPBACK));
  try {
    const start = performance.now();
    await sendTexts(sender, receiver, ["late"]);
    assert.equal(faults.stats.out.delivered, 0, "not sent yet");
    assert.deepEqual(await receiveTexts(receiver, 1), ["late"], `seed ${SEED}`);
    assert.ok(performance.now() - start >= 35, `seed ${SEED}`);
    assert.equal(faults.stats.out.delayed, 1);
    assert.equal(faults.stats.in.delayed, 1);
  } finally {
    sender.close();
    receiver.close();
  }
});

Deno.test("closing a wrapped link discards delayed and held datagrams and leaks nothing", async () => {
  const heldRead = Promise.withResolvers<void>();
  const faults = new FaultInjector({
    seed: SEED,
    out: { delay: 60_000 },
    in: { reorder: 1 },
    onDecision: (entry) => entry.direction === "in" && heldRead.resolve(),
  });
  const sender = faults.wrap(udpLink(LOOPBACK));
  const receiver = faults.wrap(udpLink(LOOPBACK));
  const plain = udpLink(LOOPBACK);
  try {
    await sendTexts(sender, receiver, ["never"]);
    await sendTexts(plain, receiver, ["held"]);
    const pending = receiver.receive(new Uint8Array(100));
    await within(heldRead.promise, "the held datagram");
    receiver.close();
    await assert.rejects(pending, Deno.errors.BadResource);
    await assert.rejects(receiver.receive(new Uint8Array(1)), Deno.errors.BadResource);
  } finally {
    sender.close();
    receiver.close();
    plain.close();
  }
  assert.equal(faults.stats.out.delivered, 0);
  assert.equal(faults.stats.in.delivered, 0);
  assert.equal(faults.stats.in.reordered, 1);
  await assert.rejects(sender.send(new Uint8Array(1), LOOPBACK), Deno.errors.BadResource);
});
