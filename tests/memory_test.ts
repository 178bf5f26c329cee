/**
 * What a sender keeps in memory: only its send buffer, not the part of a
 * long message already sent and acknowledged (a 256 MiB stream through the
 * CLI once held 480 MB). The measure runs in a child process with V8's gc()
 * exposed (`tests/fixtures/retention.ts`), on the pure connection: no
 * network, a 16 MiB message in 64 KiB writes to a peer that acknowledges at
 * once.
 */
import assert from "node:assert/strict";

Deno.test("a sender streaming 16 MiB holds its 256 KiB send buffer halfway, not the 8 MiB it sent", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      new URL("./fixtures/retention.ts", import.meta.url).pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const { before, halfway, written } = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(written, 16 * 1024 * 1024);
  const held = halfway - before;
  assert.ok(held < 1024 * 1024, `ArrayBuffers grew by ${held} bytes by the middle of the message`);
});
