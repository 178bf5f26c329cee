/**
 * A CPU hog: spins for `--ms` milliseconds (at most 120 s), then exits.
 * Internal peer of `bench/run.ts` (section 8), which runs one per core
 * beside a transfer to load the machine as a busy 2-core host is loaded.
 *
 * ```sh
 * deno run bench/_hog.ts --ms 5000
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { ms: { type: "string", default: "1000" } },
});
const ms = Math.min(120_000, Number(values.ms));
const end = performance.now() + ms;
let spins = 0;
while (performance.now() < end) spins++;
console.log(JSON.stringify({ spins }));
