/**
 * A newcomer's audit of the command-line tools' errors: each failure is one
 * line saying why, prefixed with the tool, exit 1, never a stack trace nor
 * Deno's advice to "run again with the --allow-all flag"; the lab prints
 * nothing but its own lines; counts read as English ("1 byte"). The scripts
 * run as child processes; every wait has a deadline and nothing sleeps.
 */

import assert from "node:assert/strict";
import { asClause, describeFileError, formatCount, Progress } from "../cli.ts";
import { startLab } from "../lab.ts";
import type { LabEnd } from "../lab_run.ts";
import { udpLink } from "../link.ts";
import { createSegment, parseSegment, type Segment } from "../segment.ts";
import { DEADLINE_MS, ROOT, runClient, Script, startServer } from "./_cli.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Waits for `promise`, failing the test after `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts one line on stderr, exactly `line`, exit 1, nothing on stdout. */
function assertOneLine(
  result: { code: number; stdout: Uint8Array; stderr: string },
  line: string | RegExp,
  what: string,
): void {
  assert.equal(result.code, 1, `${what}: ${result.stderr}`);
  if (typeof line === "string") assert.equal(result.stderr, line, what);
  else assert.match(result.stderr, line, what);
  assert.ok(!result.stderr.includes("\n"), `${what}: more than one line: ${result.stderr}`);
  assert.ok(!/--allow-all|Uncaught|\bat /.test(result.stderr), `${what}: ${result.stderr}`);
  assert.equal(result.stdout.length, 0, what);
}

// ------------------------------------------------------------ permissions

Deno.test("the demo without --allow-run or --allow-net names the flag it needs, in one line, exit 1", async () => {
  const cases: [string[], string][] = [
    [
      ["--allow-net"],
      "demo: needs --allow-run to start the server and client processes (deno task demo grants it)",
    ],
    [
      ["--allow-run"],
      "demo: needs --allow-net to run the relay on 127.0.0.1 (deno task demo grants it)",
    ],
    [
      [],
      "demo: needs --allow-net to run the relay on 127.0.0.1 and --allow-run to start the server " +
      "and client processes (deno task demo grants them)",
    ],
  ];
  const results = await Promise.all(
    cases.map(([permissions]) =>
      new Script("demo.ts", ["--size", "100"], { permissions }).result()
    ),
  );
  results.forEach((result, i) => {
    const [permissions, line] = cases[i];
    assertOneLine(result, line, `demo.ts with ${permissions.join(" ") || "no permission"}`);
  });
});

Deno.test("the lab without --allow-read or --allow-net names the flag it needs, not a failure to listen", async () => {
  const [noRead, noNet] = await Promise.all([
    new Script("lab.ts", ["--port", "0"], { permissions: ["--allow-net"] }).result(),
    new Script("lab.ts", ["--port", "0"], { permissions: ["--allow-read"] }).result(),
  ]);
  assertOneLine(
    noRead,
    "lab: needs --allow-read to serve its page (deno task lab grants it)",
    "lab.ts --allow-net",
  );
  assertOneLine(
    noNet,
    "lab: needs --allow-net to listen on 127.0.0.1:0 (deno task lab grants it)",
    "lab.ts --allow-read",
  );
});

Deno.test({
  name: "--out and --trace-file in a system path say why they cannot be used, without --allow-all",
  // Deno keeps /dev (and on Linux /proc) out of reach of --allow-read and --allow-write.
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const system = (path: string) =>
      `"${path}" is a system path, which Deno keeps out of reach of --allow-read and ` +
      "--allow-write: choose another path";
    const grant = (
      path: string,
    ) => ["--allow-net", `--allow-read=${path}`, `--allow-write=${path}`];
    const [proc, dev, trace] = await Promise.all([
      new Script("servidor.ts", ["0", "--out", "/proc/x"], { permissions: grant("/proc/x") })
        .result(),
      new Script("servidor.ts", ["0", "--out", "/dev/x"], { permissions: grant("/dev/x") })
        .result(),
      new Script("servidor.ts", ["0", "--trace-file", "/dev/x"], { permissions: grant("/dev/x") })
        .result(),
    ]);
    assertOneLine(
      proc,
      `servidor: cannot use --out /proc/x: cannot create it (${system("/proc/x")})`,
      "--out /proc/x",
    );
    assertOneLine(
      dev,
      `servidor: cannot use --out /dev/x: cannot create it (${system("/dev/x")})`,
      "--out /dev/x",
    );
    assertOneLine(
      trace,
      `servidor: cannot write the trace file /dev/x: ${system("/dev/x")}`,
      "--trace-file /dev/x",
    );
  },
});

Deno.test("a refused permission is named with its flag; an error of the system keeps its reason", () => {
  const refused = new Deno.errors.NotCapable(
    'Requires write access to "in", run again with the --allow-write flag',
  );
  assert.equal(
    describeFileError(refused, "--allow-read=in --allow-write=in"),
    'no write access to "in": run it with --allow-read=in --allow-write=in',
  );
  const all = new Deno.errors.NotCapable(
    'Requires all access to "/sys/x", run again with the --allow-all flag',
  );
  assert.ok(!describeFileError(all).includes("--allow-all"));
  assert.equal(
    describeFileError(new Deno.errors.PermissionDenied("Permission denied (os error 13)")),
    "Permission denied (os error 13)",
  );
});

// ------------------------------------------------------------ standard input

/**
 * Runs the client with `path` as its standard input, opened as `redirect`
 * says: `<` as `cliente.ts … < PATH` does, `0>` for a descriptor that can
 * only be written.
 */
async function clientReading(
  redirect: "<" | "0>",
  path: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const output = await new Deno.Command("sh", {
    args: [
      "-c",
      `input="$1"; shift; exec "$@" ${redirect} "$input"`,
      "sh",
      path,
      Deno.execPath(),
      "run",
      "--no-prompt",
      "--allow-net",
      `${ROOT}/cliente.ts`,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(DEADLINE_MS),
  }).output();
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: decoder.decode(output.stderr).trimEnd(),
  };
}

Deno.test({
  name: "standard input that cannot be read is said in one line, before the client sends anything",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    // Where the client would send its SYN (or its datagrams): nothing may arrive.
    const watch = udpLink({ hostname: "127.0.0.1", port: 0 });
    let arrived = 0;
    const watching = (async () => {
      try {
        for (;;) {
          await watch.receive(new Uint8Array(1500));
          arrived++;
        }
      } catch {
        // closed
      }
    })();
    const dir = await Deno.makeTempDir();
    try {
      const port = String(watch.localAddr.port);
      const tcp = ["127.0.0.1", port, "--timeout", "50", "--retries", "1"];
      const udp = ["127.0.0.1", port, "--udp"];
      const [tcpDir, udpDir, writeOnly] = await Promise.all([
        clientReading("<", dir, tcp),
        clientReading("<", dir, udp),
        clientReading("0>", "/dev/null", tcp),
      ]);
      const line = "cliente: cannot read standard input: it is a directory";
      assertOneLine(tcpDir, line, "cliente.ts < DIR");
      assertOneLine(udpDir, line, "cliente.ts --udp < DIR");
      assertOneLine(
        writeOnly,
        /^cliente: cannot read standard input: Bad file descriptor/,
        "cliente.ts 0> /dev/null",
      );
      assert.equal(arrived, 0, "the client sent something before reading its input");
    } finally {
      watch.close();
      await watching;
      await Deno.remove(dir);
    }
  },
});

// ------------------------------------------------------------ the lab's output

/** Starts `lab.ts --port 0` as `deno task lab` does; resolves with its URL once it prints it. */
async function startLabProcess() {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-net", "--allow-read", `${ROOT}/lab.ts`, "--port", "0"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const rest = (async () => {
    while (!(await reader.read()).done) {
      // the lab prints only its URL on stdout
    }
  })();
  return {
    url: out.trim(),
    async stop(): Promise<{ code: number; stderr: string }> {
      child.kill("SIGINT");
      const [status, text] = await Promise.all([child.status, stderr, rest]);
      clearTimeout(timer);
      return { code: status.code, stderr: text };
    },
  };
}

Deno.test("the lab prints only its own lines: no Deno warning after a page load and transfers", async () => {
  const lab = await startLabProcess();
  let stopped = false;
  try {
    assert.match(lab.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await within(fetch(lab.url), "GET /");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/);
    const config = await within(fetch(new URL("/api/config", lab.url)), "GET /api/config");
    assert.equal((await config.json()).cases[0].id, "normal");
    // A transfer to its end, as the page runs one.
    const run = await within(
      fetch(new URL("/api/run?case=normal", lab.url), { method: "POST" }),
      "POST /api/run",
    );
    assert.equal(run.status, 200);
    assert.match(await within(run.text(), "the event stream"), /"t":"end"/);
    // A transfer the page stops (Stop, or a closed tab): the stream is cancelled.
    const slow = await within(
      fetch(new URL("/api/run?msg=size&size=2000&slow=200", lab.url), { method: "POST" }),
      "POST /api/run, slow",
    );
    const reader = slow.body!.getReader();
    await within(reader.read(), "the first events");
    await reader.cancel();
    const { code, stderr } = await within(lab.stop(), "the lab's exit");
    stopped = true;
    assert.equal(code, 0, stderr);
    assert.deepEqual(stderr.trimEnd().split("\n"), [
      "lab: serving the web lab; Ctrl+C stops it",
      "lab: stopped after 2 transfers",
    ]);
  } finally {
    if (!stopped) await lab.stop();
  }
});

Deno.test("lab: a client that disconnects mid-stream stops its transfer at once", async () => {
  const ends: LabEnd[] = [];
  await using lab = await startLab({ port: 0, onTransferEnd: (end) => ends.push(end) });
  // 100 exchanges, 100 ms on the wire each way: about 20 s if nothing stopped it.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: lab.port });
  try {
    await conn.write(encoder.encode(
      "POST /api/run?msg=size&size=1600&slow=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Content-Length: 0\r\n\r\n",
    ));
    let text = "";
    const buffer = new Uint8Array(65536);
    while (!text.includes('"t":"seg"')) {
      const n = await within(conn.read(buffer), "the first segment's event");
      assert.ok(n !== null, "the stream ended before the first segment");
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    conn.close(); // as a browser does when its tab closes: no request.signal is read
  }
  await within(lab.idle(), "the transfer's end", 5000);
  assert.equal(ends.length, 1);
  assert.equal(ends[0].error, "the page closed its stream");
  assert.ok(ends[0].records.length < 20, `${ends[0].records.length} segments were sent`);
  assert.equal(lab.counters.active, 0);
});

// ------------------------------------------------------------ wording

Deno.test("counts read as English: 1 byte, 2 bytes, with thousands separators", () => {
  assert.equal(formatCount(1, "byte"), "1 byte");
  assert.equal(formatCount(0, "byte"), "0 bytes");
  assert.equal(formatCount(772768, "byte"), "772,768 bytes");
  assert.equal(formatCount(1, "try", "tries"), "1 try");
  assert.equal(
    asClause("Peer 127.0.0.1:8000 closed the connection", "the client"),
    "the client closed the connection",
  );
});

Deno.test("a 1-byte file: the client delivered 1 byte, the server received 1 byte", async () => {
  await using server = await startServer([]);
  const sent = await runClient(["127.0.0.1", String(server.port)], encoder.encode("x"));
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stderr, /^cliente: delivered to 127\.0\.0\.1:\d+: 1 byte in /m);
  const served = await server.result();
  assert.equal(served.code, 0, served.stderr);
  assert.match(served.stderr, /^servidor: #1 127\.0\.0\.1:\d+: received 1 byte in /m);
  assert.ok(!/\b1 bytes\b/.test(sent.stderr + served.stderr), sent.stderr + served.stderr);
});

Deno.test("a client that breaks the protocol: the server's line reads on after the colon", async () => {
  await using server = await startServer(["--idle-timeout", "5000"]);
  const client = udpLink({ hostname: "127.0.0.1", port: 0 });
  try {
    const segment = (flags: Partial<Segment>, seq: number, data = "") =>
      createSegment({
        syn: false,
        ack: false,
        fin: false,
        ...flags,
        seq,
        data: encoder.encode(data),
      });
    // The handshake by hand (SYN seq=0, SYN+ACK seq=1, ACK seq=2), then a length that is no number.
    await client.send(segment({ syn: true }, 0), { hostname: "127.0.0.1", port: server.port });
    const [reply, from] = await within(client.receive(new Uint8Array(1500)), "the SYN+ACK");
    const synAck = parseSegment(reply);
    assert.ok(synAck.syn && synAck.ack, `not a SYN+ACK: ${decoder.decode(reply)}`);
    await client.send(segment({ ack: true }, 2), from);
    await client.send(segment({}, 2, "hola"), from);
    const served = await server.result();
    assert.equal(served.code, 1, served.stderr);
    assert.match(
      served.stderr,
      /^servidor: #1 127\.0\.0\.1:\d+: failed: the client broke the protocol: it announced message length "hola", expected a decimal number, after 0 bytes; nothing was written$/m,
    );
  } finally {
    client.close();
  }
});

// ------------------------------------------------- flags that cannot work

Deno.test("an empty path or host, and flags --udp cannot honour, are bad usage: one line, exit 2", async () => {
  const { parseClientArgs } = await import("../cliente.ts");
  const { parseServerArgs } = await import("../servidor.ts");
  const { MAX_MSS } = await import("../socket_tcp.ts");
  const refused: [(args: string[]) => unknown, string[], string][] = [
    [
      parseClientArgs,
      ["localhost", "8000", "--trace-file", ""],
      "--trace-file is empty, expected a file",
    ],
    [parseServerArgs, ["8000", "--trace-file="], "--trace-file is empty, expected a file"],
    [parseClientArgs, ["", "8000"], 'HOST is "", expected a host name or an IP address'],
    [
      parseClientArgs,
      ["localhost", "8000", "--udp", "--trace"],
      "--trace has no meaning with --udp",
    ],
    [
      parseClientArgs,
      ["localhost", "8000", "--udp", "--trace-file", "t.jsonl"],
      "--trace-file has no meaning with --udp",
    ],
    [parseServerArgs, ["8000", "--udp", "--trace"], "--trace has no meaning with --udp"],
    [
      parseClientArgs,
      ["localhost", "8000", "--mss", String(MAX_MSS + 1)],
      `--mss is "${MAX_MSS + 1}", expected an integer in 1..${MAX_MSS}`,
    ],
  ];
  for (const [parse, args, message] of refused) {
    assert.throws(() => parse(args), { name: "UsageError", message }, args.join(" "));
  }
  // The largest mss SocketTCP takes is the largest the command line takes.
  const options = parseClientArgs(["localhost", "8000", "--mss", String(MAX_MSS)]);
  assert.equal(typeof options === "object" && options.mss, MAX_MSS);
  // As run: one line and the pointer to --help, exit 2, no stack trace.
  const runs = await Promise.all([
    new Script("cliente.ts", ["localhost", "8000", "--trace-file", ""]).result(),
    new Script("servidor.ts", ["0", "--trace-file", ""]).result(),
    new Script("plot.ts", ["-o", "", "x.jsonl"], { permissions: ["--allow-read"] }).result(),
  ]);
  const expected = [
    "cliente: --trace-file is empty, expected a file\n" +
    'cliente: run "deno run --allow-net cliente.ts --help" for usage',
    "servidor: --trace-file is empty, expected a file\n" +
    'servidor: run "deno run --allow-net servidor.ts --help" for usage',
    "plot: --output is empty, expected a file (leave -o out to write to stdout)\n" +
    'plot: run "deno task plot --help" for usage',
  ];
  runs.forEach((run, i) => {
    assert.deepEqual([run.code, run.stderr, run.stdout.length], [2, expected[i], 0]);
  });
});

// ------------------------------------------------------------ progress

/** A terminal that keeps what is drawn on it. */
function fakeTerminal(): {
  isTerminal(): boolean;
  writeSync(bytes: Uint8Array): number;
  text(): string;
} {
  let written = "";
  return {
    isTerminal: () => true,
    writeSync: (bytes) => {
      written += decoder.decode(bytes);
      return bytes.length;
    },
    text: () => written,
  };
}

/** Waits, a tick at a time and at most `ms`, until `ready()`. */
async function until(ready: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ready()) {
    if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("the progress bar follows the acknowledged count on a timer, and stops with the transfer", async () => {
  const terminal = fakeTerminal();
  const progress = new Progress(true, { output: terminal, everyMs: 20 });
  // What the server acknowledged, moved by the transfer and not by the reading of the input.
  let acknowledged = 0;
  progress.follow(() => ({ done: acknowledged, total: 20_000, retransmissions: 0 }));
  assert.ok(terminal.text().includes("]   0%  0 B / 19.5 KiB"), terminal.text());
  acknowledged = 10_000;
  await until(() => terminal.text().includes(" 50%  9.8 KiB / 19.5 KiB"), "the bar at 50%");
  acknowledged = 20_000;
  await until(() => terminal.text().includes("100%  19.5 KiB / 19.5 KiB"), "the bar at 100%");
  progress.done(); // the timer is cleared: the sanitizer fails the test otherwise
  const drawn = terminal.text().length;
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(terminal.text().length, drawn, "nothing drawn after done()");
  assert.ok(terminal.text().endsWith("\r\x1b[2K"), "done() clears the line");
  // Not a terminal (or --quiet): nothing drawn, no timer.
  const pipe = { ...fakeTerminal(), isTerminal: () => false };
  const silent = new Progress(true, { output: pipe });
  silent.follow(() => ({ done: 1, total: 2, retransmissions: 0 }));
  assert.equal(pipe.text(), "");
  silent.done();
});

Deno.test("a pipe longer than --max-size is refused in one line naming the limit, before anything is sent", async () => {
  const { parseClientArgs } = await import("../cliente.ts");
  const options = parseClientArgs(["localhost", "8000"]);
  assert.equal(typeof options === "object" && options.maxSize, 2 ** 30, "1 GiB by default");
  const sized = parseClientArgs(["localhost", "8000", "--max-size", "4M"]);
  assert.equal(typeof sized === "object" && sized.maxSize, 4 * 2 ** 20);
  assert.throws(() => parseClientArgs(["localhost", "8000", "--max-size", "lots"]), {
    message: '--max-size is "lots", expected a number of bytes, such as 1000000 or 4M (K, M, G: ' +
      "KiB, MiB, GiB)",
  });
  // Nothing listens on port 9: the refusal comes before any connection is tried.
  const runs = await Promise.all(
    [[], ["--udp"]].map(async (extra) => {
      const client = new Script("cliente.ts", ["127.0.0.1", "9", "--max-size", "1000", ...extra], {
        stdin: true,
      });
      await client.feed(new Uint8Array(5000));
      return await client.result();
    }),
  );
  assertOneLine(
    runs[0],
    "cliente: standard input is longer than --max-size (1,000 bytes): a pipe is read whole " +
      "before anything is sent, since its length goes first; raise --max-size, or redirect a " +
      "file (< FILE), which is streamed",
    "a pipe over the limit",
  );
  assertOneLine(
    runs[1],
    "cliente: standard input is longer than --max-size (1,000 bytes): --udp reads it whole " +
      "before sending; raise --max-size",
    "--udp over the limit",
  );
});

/**
 * A server by hand on 127.0.0.1: the handshake, then an ACK for each DATA
 * until `upTo` bytes of the file are acknowledged; then it stops answering
 * (`silent`) or closes with a FIN (`fin`). Resolves with its port; `done`
 * ends it.
 */
function handServer(upTo: number, then: "silent" | "fin"): { port: number; done: () => void } {
  const link = udpLink({ hostname: "127.0.0.1", port: 0 });
  const segment = (flags: Partial<Segment>, seq: number) =>
    createSegment({ syn: false, ack: false, fin: false, ...flags, seq, data: new Uint8Array() });
  let stopped = false;
  (async () => {
    let acked = 0; // bytes of the file acknowledged (the length announcement is not counted)
    // The seq expected next: a copy the client resent (its ACK was late, on a loaded machine)
    // is acknowledged again, not counted again.
    let next: number | null = null;
    while (!stopped) {
      const [bytes, from] = await link.receive(new Uint8Array(2048)).catch(() => [null, null]);
      if (!bytes || !from) return;
      const got = parseSegment(bytes);
      if (got.syn) {
        await link.send(segment({ syn: true, ack: true }, got.seq + 1), from);
      } else if (got.data.length > 0) {
        const fresh = next === null || got.seq === next;
        if (fresh && acked >= upTo) {
          if (then === "fin") await link.send(segment({ fin: true }, got.seq), from);
          continue;
        }
        if (fresh) {
          if (next !== null) acked += got.data.length;
          next = got.seq + got.data.length;
        }
        await link.send(segment({ ack: true }, got.seq + got.data.length), from);
      }
    }
  })();
  return {
    port: link.localAddr.port,
    done: () => {
      stopped = true;
      link.close();
    },
  };
}

/** One line on stderr matching `line`, exit 1, no stack trace (a line may say "the server at"). */
function assertFailureLine(
  result: { code: number; stdout: Uint8Array; stderr: string },
  line: RegExp,
  what: string,
): void {
  assert.equal(result.code, 1, what);
  assert.match(result.stderr, line, what);
  assert.ok(!/Uncaught|\n\s+at /.test(result.stderr), what);
}

Deno.test("a transfer that fails part-way says how much was delivered, of how much", async () => {
  const file = new Uint8Array(3000);
  const silent = handServer(1000, "silent");
  const closing = handServer(1000, "fin");
  try {
    const [timedOut, closed] = await Promise.all(
      [silent, closing].map((server) =>
        runClient(["127.0.0.1", String(server.port), "--timeout", "20", "--retries", "2"], file)
      ),
    );
    assertFailureLine(
      timedOut,
      /^cliente: the server at 127\.0\.0\.1:\d+ stopped answering after 1,008 of 3,000 bytes \(33%\): no ACK seq=\d+ after 3 tries$/,
      `a server that stopped answering: ${timedOut.stderr}`,
    );
    assertFailureLine(
      closed,
      /^cliente: the server at 127\.0\.0\.1:\d+ closed the connection after 1,008 of 3,000 bytes \(33%\), before the file was delivered$/,
      `a server that closed: ${closed.stderr}`,
    );
  } finally {
    silent.done();
    closing.done();
  }
});

Deno.test("the client writes an IPv6 server as the server does: [::1]:PORT", async () => {
  const runs = await Promise.all(
    ["::1", "[::1]"].map((host) =>
      runClient([host, "9", "--retries", "0", "--timeout", "20"], encoder.encode("hi"))
    ),
  );
  for (const run of runs) {
    assertFailureLine(
      run,
      /^cliente: no server answered at \[::1\]:9 after 1 SYN \(is servidor\.ts running there, and not busy with another client\? is the other end in --udp mode\?\)$/,
      run.stderr,
    );
  }
});
