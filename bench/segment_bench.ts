/**
 * Benchmarks of the segment codec: `deno bench bench/segment_bench.ts`.
 *
 * Not part of the test suite.
 */
import { createSegment, parseSegment, type Segment } from "../segment.ts";

/** A data segment of `size` payload bytes (bytes 0..255 repeated). */
function dataSegment(size: number): Segment {
  const data = Uint8Array.from({ length: size }, (_, i) => i % 256);
  return { syn: false, ack: false, fin: false, seq: 4_000_000_000, data };
}

for (const size of [16, 1400]) {
  const segment = dataSegment(size);
  const wire = createSegment(segment);

  Deno.bench({
    name: `createSegment, ${size}-byte data`,
    group: `${size} bytes`,
    fn() {
      createSegment(segment);
    },
  });

  Deno.bench({
    name: `parseSegment, ${size}-byte data`,
    group: `${size} bytes`,
    fn() {
      parseSegment(wire);
    },
  });

  Deno.bench({
    name: `createSegment + parseSegment, ${size}-byte data`,
    group: `${size} bytes`,
    fn() {
      parseSegment(createSegment(segment));
    },
  });
}
