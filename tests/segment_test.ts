import assert from "node:assert/strict";
import fc from "fast-check";
import {
  concatBytes,
  createSegment,
  parseSegment,
  type Segment,
  SegmentError,
  segmentKind,
  SEQ_MODULUS,
  seqAdd,
  seqBefore,
} from "../segment.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a string as UTF-8 bytes. */
function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A segment with the given fields, no flags and no data unless given. */
function segment(fields: Partial<Segment>): Segment {
  return { syn: false, ack: false, fin: false, seq: 0, data: new Uint8Array(), ...fields };
}

/** Asserts that parsing `input` throws a SegmentError whose message contains `substring`. */
function assertRejects(input: Uint8Array | string, substring: string): SegmentError {
  const raw = typeof input === "string" ? bytes(input) : input;
  let caught: unknown;
  try {
    parseSegment(raw);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected parseSegment to throw for ${JSON.stringify(input)}`);
  assert.ok(caught instanceof SegmentError, `expected a SegmentError, got ${caught}`);
  assert.ok(
    caught.message.startsWith("Cannot parse segment: "),
    `message does not start with "Cannot parse segment: ": ${caught.message}`,
  );
  assert.ok(
    caught.message.includes(substring),
    `message ${JSON.stringify(caught.message)} does not contain ${JSON.stringify(substring)}`,
  );
  return caught;
}

/**
 * The seed of the property tests: fixed, so that every run tests the same
 * cases; $SEED tries others (and replays a failure, which names its seed).
 */
const SEED = (() => {
  const fromEnv = Deno.env.get("SEED");
  if (fromEnv === undefined || fromEnv === "") return 20261201;
  const seed = Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`SEED is "${fromEnv}", expected an integer`);
  return seed | 0;
})();

/** Runs a fast-check property with SEED and 1000 runs, naming the seed in any failure. */
function checkProperty(property: fc.IProperty<unknown>): void {
  try {
    fc.assert(property, { seed: SEED, numRuns: 1000 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`property failed with seed=${SEED} (replay with SEED=${SEED}): ${message}`, {
      cause: error,
    });
  }
}

// --- The assignment's examples ---------------------------------------------------------------

Deno.test('"1|||1|||0|||8|||" parses as a SYN+ACK with sequence number 8', () => {
  const parsed = parseSegment(bytes("1|||1|||0|||8|||"));
  assert.deepEqual(parsed, segment({ syn: true, ack: true, seq: 8 }));
  assert.equal(segmentKind(parsed), "SYN+ACK");
});

Deno.test('"0|||0|||0|||98|||" parses as a data segment with sequence number 98', () => {
  const parsed = parseSegment(bytes("0|||0|||0|||98|||Mensaje de prueba"));
  assert.deepEqual(parsed, segment({ seq: 98, data: bytes("Mensaje de prueba") }));
  assert.equal(segmentKind(parsed), "DATA");
  assert.deepEqual(parseSegment(bytes("0|||0|||0|||98|||")), segment({ seq: 98 }));
});

Deno.test('"0|||1|||0|||115|||" parses as an ACK with sequence number 115', () => {
  const parsed = parseSegment(bytes("0|||1|||0|||115|||"));
  assert.deepEqual(parsed, segment({ ack: true, seq: 115 }));
  assert.equal(segmentKind(parsed), "ACK");
});

Deno.test("createSegment writes exactly the bytes of the assignment's examples", () => {
  assert.deepEqual(
    createSegment(segment({ syn: true, ack: true, seq: 8 })),
    bytes("1|||1|||0|||8|||"),
  );
  assert.deepEqual(createSegment(segment({ seq: 98 })), bytes("0|||0|||0|||98|||"));
  assert.deepEqual(
    createSegment(segment({ seq: 98, data: bytes("Mensaje de prueba") })),
    bytes("0|||0|||0|||98|||Mensaje de prueba"),
  );
  assert.deepEqual(createSegment(segment({ ack: true, seq: 115 })), bytes("0|||1|||0|||115|||"));
  assert.deepEqual(createSegment(segment({ fin: true, seq: 3 })), bytes("0|||0|||1|||3|||"));
});

// --- DATA is raw bytes -----------------------------------------------------------------------

Deno.test("DATA holding every byte value 0..255 round-trips exactly", () => {
  const data = Uint8Array.from({ length: 256 }, (_, i) => i);
  const parsed = parseSegment(createSegment(segment({ seq: 42, data })));
  assert.deepEqual(parsed.data, data);
});

Deno.test("DATA holding UTF-8 cut in the middle of a character round-trips exactly", () => {
  const utf8 = bytes("ñandú €"); // "ñ" is c3 b1, "ú" is c3 ba, "€" is e2 82 ac
  const payloads = [
    utf8.subarray(0, 1), // only the first byte of "ñ"
    utf8.subarray(1), // starts with the second byte of "ñ"
    utf8.subarray(0, utf8.length - 1), // "€" without its last byte
    utf8.subarray(utf8.length - 2), // the last two bytes of "€"
  ];
  for (const data of payloads) {
    const wire = createSegment(segment({ seq: 7, data }));
    assert.deepEqual(wire.subarray(wire.length - data.length), data);
    assert.deepEqual(parseSegment(wire).data, data);
  }
});

Deno.test('DATA that contains "|||" and "0|||1|||" round-trips exactly', () => {
  for (const text of ["|||", "0|||1|||", "a|||b", "||||||", "|", "||", "1|||1|||1|||9|||x"]) {
    const data = bytes(text);
    const wire = createSegment(segment({ ack: true, seq: 5, data }));
    const parsed = parseSegment(wire);
    assert.deepEqual(parsed, segment({ ack: true, seq: 5, data }), `data ${JSON.stringify(text)}`);
  }
});

Deno.test("parseSegment returns a copy of DATA: later changes to the input do not show", () => {
  const wire = bytes("0|||0|||0|||1|||hello");
  const parsed = parseSegment(wire);
  wire.fill(0x21);
  assert.equal(decoder.decode(parsed.data), "hello");
  assert.notEqual(parsed.data.buffer, wire.buffer);
});

Deno.test("createSegment copies DATA: later changes to the segment do not show", () => {
  const data = bytes("abc");
  const wire = createSegment(segment({ seq: 1, data }));
  data.fill(0x21);
  assert.equal(decoder.decode(wire), "0|||0|||0|||1|||abc");
});

Deno.test("parseSegment reads a Uint8Array view at a non-zero offset", () => {
  const buffer = bytes("junk0|||1|||0|||9|||okjunk");
  const parsed = parseSegment(buffer.subarray(4, buffer.length - 4));
  assert.deepEqual(parsed, segment({ ack: true, seq: 9, data: bytes("ok") }));
});

// --- SEQ -------------------------------------------------------------------------------------

Deno.test("leading zeros in SEQ are accepted on input", () => {
  assert.equal(parseSegment(bytes("0|||1|||0|||007|||")).seq, 7);
  assert.equal(parseSegment(bytes("0|||1|||0|||0000|||")).seq, 0);
  assert.equal(parseSegment(bytes(`0|||1|||0|||${"0".repeat(50)}4294967295|||`)).seq, 2 ** 32 - 1);
});

Deno.test("leading zeros in SEQ are never written", () => {
  assert.deepEqual(
    createSegment(parseSegment(bytes("0|||1|||0|||007|||"))),
    bytes("0|||1|||0|||7|||"),
  );
  assert.deepEqual(createSegment(segment({ seq: 0 })), bytes("0|||0|||0|||0|||"));
});

Deno.test("SEQ 0 and 2^32-1 are accepted both ways", () => {
  for (const seq of [0, 2 ** 32 - 1]) {
    const wire = createSegment(segment({ seq }));
    assert.equal(decoder.decode(wire), `0|||0|||0|||${seq}|||`);
    assert.equal(parseSegment(wire).seq, seq);
  }
});

Deno.test("SEQ 2^32 is rejected on input", () => {
  assertRejects("0|||0|||0|||4294967296|||", `expected a number below ${SEQ_MODULUS}`);
  assertRejects("0|||0|||0|||99999999999|||", `expected a number below ${SEQ_MODULUS}`);
});

Deno.test("createSegment throws a RangeError for SEQ -1, 1.5, 2^32 and NaN", () => {
  for (const seq of [-1, 1.5, 2 ** 32, NaN, Infinity]) {
    assert.throws(
      () => createSegment(segment({ seq })),
      (error: unknown) =>
        error instanceof RangeError && error.message.includes(`SEQ is ${seq}`) &&
        error.message.includes("expected an integer in 0..4294967295"),
      `seq ${seq}`,
    );
  }
});

// --- Malformed input -------------------------------------------------------------------------

Deno.test("empty input is rejected for its missing separator", () => {
  assertRejects("", 'missing separator "|||" after the SYN flag');
});

Deno.test("input with missing separators is rejected, naming the field after which", () => {
  assertRejects("hello", 'missing separator "|||" after the SYN flag');
  assertRejects("0||1||0||1||", 'missing separator "|||" after the SYN flag');
  assertRejects("0|||1", 'missing separator "|||" after the ACK flag');
  assertRejects("0|||1|||0", 'missing separator "|||" after the FIN flag');
  assertRejects("0|||1|||0|||", 'missing separator "|||" after SEQ');
});

Deno.test('a flag other than "0" or "1" is rejected, naming the flag and its value', () => {
  assertRejects("2|||0|||0|||1|||", 'flag SYN is "2", expected "0" or "1"');
  assertRejects("|||0|||0|||1|||", 'flag SYN is "", expected "0" or "1"');
  assertRejects("0|||00|||0|||1|||", 'flag ACK is "00", expected "0" or "1"');
  assertRejects("0|||0|||a|||1|||", 'flag FIN is "a", expected "0" or "1"');
  assertRejects("0|||0||||0|||1|||", 'flag FIN is "|0", expected "0" or "1"');
  assertRejects(" 1|||0|||0|||1|||", 'flag SYN is " 1", expected "0" or "1"');
});

Deno.test("a flag with unprintable bytes is shown escaped in the message", () => {
  assertRejects(new Uint8Array([0xff, 0x7c, 0x7c, 0x7c]), 'flag SYN is "\\xff"');
  assertRejects(bytes('"|||0|||0|||1|||'), 'flag SYN is "\\x22"');
});

Deno.test("an empty SEQ is rejected", () => {
  assertRejects("0|||0|||0||||||", "SEQ is empty, expected a decimal number");
});

Deno.test('SEQ "-1", "1e3", " 1" and "12a" are rejected as not decimal numbers', () => {
  for (const seq of ["-1", "1e3", " 1", "12a", "+1", "1.0", "0x10", "1 "]) {
    assertRejects(`0|||0|||0|||${seq}|||`, `SEQ is "${seq}", expected a decimal number`);
  }
});

Deno.test("a SEQ of 10,000 digits is rejected quickly, with a shortened value", () => {
  const started = performance.now();
  const error = assertRejects(
    `0|||0|||0|||${"9".repeat(10_000)}|||`,
    `SEQ is "${"9".repeat(20)}…", expected a number below ${SEQ_MODULUS}`,
  );
  assertRejects(`0|||0|||0|||${"1".repeat(10_000)}x|||`, "expected a number below");
  assertRejects(`0|||0|||0|||${"0".repeat(10_000)}x|||`, "expected a decimal number");
  assert.equal(parseSegment(bytes(`0|||0|||0|||${"0".repeat(10_000)}12|||`)).seq, 12);
  const elapsed = performance.now() - started;
  assert.ok(error.message.length < 200, `message is ${error.message.length} characters long`);
  assert.ok(elapsed < 100, `took ${elapsed.toFixed(1)} ms`);
});

Deno.test("a missing fourth separator is rejected", () => {
  assertRejects("0|||1|||0|||115", 'missing separator "|||" after SEQ');
  assertRejects("0|||1|||0|||115||", 'missing separator "|||" after SEQ');
});

// --- Sequence arithmetic ---------------------------------------------------------------------

Deno.test("seqAdd adds modulo 2^32", () => {
  assert.equal(seqAdd(0, 1), 1);
  assert.equal(seqAdd(98, 17), 115);
  assert.equal(seqAdd(2 ** 32 - 1, 1), 0);
  assert.equal(seqAdd(2 ** 32 - 1, 2), 1);
  assert.equal(seqAdd(2 ** 32 - 10, 1400), 1390);
  assert.equal(seqAdd(5, 0), 5);
});

Deno.test("seqBefore compares sequence numbers in circular order", () => {
  assert.equal(seqBefore(1, 2), true);
  assert.equal(seqBefore(2, 1), false);
  assert.equal(seqBefore(0, 2 ** 31 - 1), true);
  assert.equal(seqBefore(0, 2 ** 31), false);
  assert.equal(seqBefore(2 ** 31, 0), false);
});

Deno.test("seqBefore holds across the wrap of 2^32", () => {
  assert.equal(seqBefore(2 ** 32 - 1, 0), true);
  assert.equal(seqBefore(2 ** 32 - 1, 3), true);
  assert.equal(seqBefore(3, 2 ** 32 - 1), false);
  assert.equal(seqBefore(2 ** 32 - 100, 100), true);
  assert.equal(seqBefore(100, 2 ** 32 - 100), false);
});

Deno.test("seqBefore of equal values is false", () => {
  for (const seq of [0, 1, 2 ** 31, 2 ** 32 - 1]) assert.equal(seqBefore(seq, seq), false);
});

// --- segmentKind -----------------------------------------------------------------------------

Deno.test("segmentKind names SYN, SYN+ACK, ACK, DATA, FIN and FIN+ACK", () => {
  const kinds: [Partial<Segment>, string][] = [
    [{ syn: true }, "SYN"],
    [{ syn: true, ack: true }, "SYN+ACK"],
    [{ ack: true }, "ACK"],
    [{}, "DATA"],
    [{ fin: true }, "FIN"],
    [{ ack: true, fin: true }, "FIN+ACK"],
    [{ syn: true, ack: true, fin: true }, "SYN+FIN+ACK"],
  ];
  for (const [flags, kind] of kinds) assert.equal(segmentKind(segment(flags)), kind);
});

// --- Properties ------------------------------------------------------------------------------

const arbitrarySegment: fc.Arbitrary<Segment> = fc.record({
  syn: fc.boolean(),
  ack: fc.boolean(),
  fin: fc.boolean(),
  seq: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  data: fc.uint8Array({ maxLength: 100 }),
});

Deno.test(`property: every segment round-trips through createSegment and parseSegment (seed ${SEED})`, () => {
  checkProperty(fc.property(arbitrarySegment, (original) => {
    const wire = createSegment(original);
    const parsed = parseSegment(wire);
    assert.deepEqual(parsed, { ...original }); // fc.record builds objects without a prototype
    assert.deepEqual(createSegment(parsed), wire);
  }));
});

/** Asserts that parsing `input` returns a Segment or throws a SegmentError, nothing else. */
function parsesOrThrowsSegmentError(input: Uint8Array): void {
  let parsed: Segment;
  try {
    parsed = parseSegment(input);
  } catch (error) {
    if (error instanceof SegmentError) return;
    throw error;
  }
  assert.equal(typeof parsed.syn, "boolean");
  assert.equal(typeof parsed.ack, "boolean");
  assert.equal(typeof parsed.fin, "boolean");
  assert.ok(Number.isInteger(parsed.seq) && parsed.seq >= 0 && parsed.seq < SEQ_MODULUS);
  assert.ok(parsed.data instanceof Uint8Array);
}

Deno.test(`property: arbitrary bytes parse or throw a SegmentError, nothing else (seed ${SEED})`, () => {
  checkProperty(fc.property(fc.uint8Array({ maxLength: 200 }), parsesOrThrowsSegmentError));
});

const fragment: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom("|||", "||", "|", "0", "1", "0|||", "1|||", "4294967295", "4294967296", "-", "")
    .map(bytes),
  fc.stringMatching(/^[0-9]{1,12}$/).map(bytes),
  fc.uint8Array({ minLength: 1, maxLength: 4 }),
);

/** Free concatenations of fragments: mostly broken before the second field. */
const fragmentBytes: fc.Arbitrary<Uint8Array> = fc.array(fragment, { maxLength: 12 }).map((parts) =>
  concatBytes(parts)
);

/** A field that is usually valid: `valid`, or now and then any fragment. */
function mostly(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: fragment, weight: 1 });
}

const separator: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.constant(bytes("|||")), weight: 12 },
  { arbitrary: fc.constantFrom("", "|", "||", "||||").map(bytes), weight: 1 },
);

/** Headers close to well-formed, so that every field's check gets exercised. */
const nearHeaderBytes: fc.Arbitrary<Uint8Array> = fc.tuple(
  mostly(fc.constantFrom("0", "1").map(bytes)),
  separator,
  mostly(fc.constantFrom("0", "1").map(bytes)),
  separator,
  mostly(fc.constantFrom("0", "1").map(bytes)),
  separator,
  mostly(fc.oneof(fc.nat().map(String), fc.stringMatching(/^[0-9]{0,12}$/)).map(bytes)),
  separator,
  fc.oneof(fc.uint8Array({ maxLength: 8 }), fragmentBytes),
).map((parts) => concatBytes(parts));

Deno.test(`property: byte arrays built from header fragments parse or throw a SegmentError, nothing else (seed ${SEED})`, () => {
  checkProperty(
    fc.property(fc.oneof(fragmentBytes, nearHeaderBytes), parsesOrThrowsSegmentError),
  );
});

Deno.test("a failing property reports its seed", () => {
  assert.throws(
    () => checkProperty(fc.property(fc.integer(), (n) => n !== 0 && n < 0)),
    (error: unknown) =>
      error instanceof Error && error.message.includes(`seed=${SEED}`) &&
      error.message.includes(`seed: ${SEED}`),
  );
});

/**
 * The assignment's definition, as plainly as it can be written: split on the
 * first four "|||", flags "0"/"1", SEQ decimal below 2^32; null when not a
 * segment. parseSegment's fast path and its general path must both agree.
 */
function referenceParse(input: Uint8Array): Segment | null {
  const text = Array.from(input, (byte) => String.fromCharCode(byte)).join("");
  const fields: string[] = [];
  let rest = text;
  for (let i = 0; i < 4; i++) {
    const at = rest.indexOf("|||");
    if (at === -1) return null;
    fields.push(rest.slice(0, at));
    rest = rest.slice(at + 3);
  }
  const [syn, ack, fin, seq] = fields;
  if (![syn, ack, fin].every((flag) => flag === "0" || flag === "1")) return null;
  if (!/^[0-9]+$/.test(seq) || Number(seq) >= SEQ_MODULUS) return null;
  const data = input.slice(input.length - rest.length);
  return { syn: syn === "1", ack: ack === "1", fin: fin === "1", seq: Number(seq), data };
}

Deno.test(`property: parseSegment agrees with the plain definition of the header (seed ${SEED})`, () => {
  checkProperty(
    fc.property(fc.oneof(fragmentBytes, nearHeaderBytes), (input) => {
      const expected = referenceParse(input);
      if (expected === null) {
        assert.throws(() => parseSegment(input), SegmentError);
        return;
      }
      assert.deepEqual({ ...parseSegment(input) }, expected);
    }),
  );
});

Deno.test("SEQ with leading zeros past 10 digits, and DATA that starts with '|', parse as defined", () => {
  const long = parseSegment(bytes("0|||1|||0|||000000000042|||"));
  assert.equal(long.seq, 42);
  const piped = parseSegment(bytes("0|||0|||0|||7||||x"));
  assert.equal(piped.seq, 7);
  assert.equal(decoder.decode(piped.data), "|x");
});

Deno.test("segments created in a row share no bytes: 20,000 of them each keep their own", () => {
  const made: Uint8Array[] = [];
  for (let i = 0; i < 20_000; i++) {
    made.push(createSegment(segment({ seq: i, data: new Uint8Array([i & 255, i >> 8 & 255]) })));
  }
  for (const bytes of made) bytes.fill(0x7c, 0, 1); // scribble on each one's first byte
  for (let i = 0; i < made.length; i++) {
    const parsed = parseSegment(made[i].with(0, 0x30));
    assert.equal(parsed.seq, i);
    assert.deepEqual(parsed.data, new Uint8Array([i & 255, i >> 8 & 255]));
    assert.equal(made[i].length, 12 + String(i).length + 3 + 2);
  }
});
