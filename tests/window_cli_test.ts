/**
 * The window flags of `cliente.ts` and `servidor.ts`: parsed the same way
 * by both, bad values refused with one line naming what is accepted, and
 * the summary of a real transfer naming the mode and the congestion window.
 */
import assert from "node:assert/strict";
import { UsageError } from "../cli.ts";
import { parseClientArgs } from "../cliente.ts";
import { parseServerArgs } from "../servidor.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("window flags: --window, --arq gbn|sr, --cc none|tahoe|reno, the same in both tools", () => {
  const client = parseClientArgs([
    "localhost",
    "8000",
    "--window",
    "32",
    "--arq",
    "sr",
    "--cc",
    "reno",
  ]);
  assert.ok(client !== "help");
  assert.deepEqual(client.mode, { window: 32, arq: "selective-repeat", congestion: "reno" });
  const server = parseServerArgs(["--window", "8", "--arq", "gbn", "--cc", "tahoe"]);
  assert.ok(server !== "help");
  assert.deepEqual(server.mode, { window: 8, arq: "go-back-n", congestion: "tahoe" });
  const plain = parseClientArgs(["localhost", "8000"]);
  assert.ok(plain !== "help");
  assert.deepEqual(plain.mode, { window: 1, arq: "go-back-n", congestion: "none" });
});

Deno.test("window flags: bad values are refused with one line that says what is accepted", () => {
  const cases: [string[], string][] = [
    [["--window", "0"], '--window is "0", expected an integer in 1..4096'],
    [["--window", "many"], '--window is "many", expected an integer in 1..4096'],
    [["--arq", "gnb"], '--arq is "gnb", expected gbn or sr'],
    [["--cc", "cubic"], '--cc is "cubic", expected none, tahoe or reno'],
    [["--udp", "--window", "4"], "--window has no meaning with --udp"],
  ];
  for (const [args, message] of cases) {
    for (const parse of [parseClientArgs, parseServerArgs]) {
      const all = parse === parseClientArgs ? ["localhost", "8000", ...args] : args;
      assert.throws(() => parse(all), (e) => e instanceof UsageError && e.message === message);
    }
  }
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

Deno.test("window flags: a bad value exits 2 with the line and the usage, no stack trace", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "cliente.ts", "localhost", "8000", "--cc", "cubic"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assert.equal(result.code, 2);
  assert.equal(stderr.split("\n")[0], 'cliente: --cc is "cubic", expected none, tahoe or reno');
  assert.ok(!/\n\s+at /.test(stderr), "no stack trace");
});

Deno.test("window flags: the summaries name the mode, and the client's the final and peak cwnd", async () => {
  const file = new Uint8Array(2000).map((_, i) => i % 251);
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "servidor.ts",
      "127.0.0.1",
      "0",
      "--once",
      "--window",
      "8",
      "--arq",
      "sr",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverOut = new Response(server.stdout).bytes();
  const lines = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let serverErr = "";
  let port = 0;
  const deadline = AbortSignal.timeout(20_000);
  try {
    while (!port && !deadline.aborted) {
      const { value, done } = await lines.read();
      if (done) break;
      serverErr += value;
      port = Number(/listening on [^:\s]+:(\d+)/.exec(serverErr)?.[1] ?? 0);
    }
    assert.ok(port > 0, serverErr);
    const client = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "cliente.ts",
        "127.0.0.1",
        String(port),
        "--window",
        "8",
        "--arq",
        "sr",
        "--cc",
        "reno",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      signal: deadline,
    }).spawn();
    const writer = client.stdin.getWriter();
    await writer.write(file);
    await writer.close();
    const clientErr = await collect(client.stderr);
    assert.equal((await client.status).code, 0, clientErr);
    assert.match(
      clientErr,
      /mode: window 8, selective repeat, Reno; cwnd: [\d.]+ final, [\d.]+ peak segments/,
    );
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      serverErr += value;
    }
    assert.equal((await server.status).code, 0, serverErr);
    assert.match(serverErr, /mode: window 8, selective repeat\n/);
    assert.deepEqual(await serverOut, file, "the file, byte-exact");
  } finally {
    try {
      server.kill();
    } catch {
      // already exited
    }
    await server.status;
  }
});
