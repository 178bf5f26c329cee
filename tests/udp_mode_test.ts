/**
 * The plain-UDP framing (`--udp`) without a network: what a receiver makes
 * of a sender's datagrams when their `--mss` differ, and when the digest
 * comes after the data.
 */

import assert from "node:assert/strict";
import { Sha256 } from "../cli.ts";
import { randomBytes } from "../faults.ts";
import { udpDatagrams, UdpReception } from "../udp_mode.ts";

function digestOf(file: Uint8Array): Uint8Array {
  const hash = new Sha256();
  hash.update(file);
  return hash.bytes();
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

for (const [sender, receiver] of [[16, 100], [100, 16], [17, 16], [16, 34], [1400, 16]]) {
  Deno.test(`--udp: a sender with --mss ${sender} and a receiver with --mss ${receiver} agree on the digest`, () => {
    const file = randomBytes(20_000, 7);
    const digest = digestOf(file);
    const reception = new UdpReception(receiver);
    for (const datagram of udpDatagrams(file, digest, sender)) reception.onDatagram(datagram);
    assert.equal(reception.expectedSha256, hex(digest));
    assert.deepEqual(reception.finish(), {
      sha256: hex(digest),
      intact: true,
      verdict: "received 20,000 of 20,000 bytes; SHA-256 matches the sender's",
    });
  });
}

Deno.test("--udp: a missing digest slice leaves the digest lost, not made up", () => {
  const file = randomBytes(100, 7);
  const datagrams = udpDatagrams(file, digestOf(file), 16);
  const reception = new UdpReception(16);
  // Datagram 2 is the digest's slice 1 (bytes 14..27).
  for (const [i, datagram] of datagrams.entries()) if (i !== 2) reception.onDatagram(datagram);
  assert.equal(reception.expectedSha256, undefined);
  assert.equal(reception.complete, true);
  assert.equal(reception.settled, false);
  assert.match(reception.finish().verdict, /the sender's SHA-256 was lost/);
});

Deno.test("--udp: the digest reordered after the last data still settles the transfer intact", () => {
  const file = randomBytes(45, 7);
  const [length, ...rest] = udpDatagrams(file, digestOf(file), 16);
  const digest = rest.slice(0, 3);
  const data = rest.slice(3);
  const reception = new UdpReception(16);
  for (const datagram of [length, digest[0], digest[1], ...data]) reception.onDatagram(datagram);
  assert.deepEqual([reception.complete, reception.settled], [true, false]);
  reception.onDatagram(digest[2]);
  assert.equal(reception.settled, true);
  assert.equal(reception.finish().intact, true);
});
