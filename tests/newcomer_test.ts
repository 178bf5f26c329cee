/**
 * The rough edges a newcomer met with the real scripts (issue 12, items 1,
 * 2, 3, 6, 7, 8, 9 and 18), each checked by running the scripts as child
 * processes. Processes that do not depend on each other run in parallel;
 * every wait has a deadline and nothing sleeps.
 */

import assert from "node:assert/strict";
import { randomBytes } from "../faults.ts";
import { udpLink } from "../link.ts";
import { runClient, Script, startServer } from "./_cli.ts";

const SEED = 20261201;
const encoder = new TextEncoder();
const FILE = encoder.encode(
  Array.from({ length: 30 }, (_, i) => `Línea ${i}: ¿llegó entera? Sí, byte a byte. 🐧\n`).join(""),
);

/** Runs `jobs` with at most `limit` at once (each spawns a `deno run`). */
async function pool<T>(limit: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await jobs[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

// ------------------------------------------------------------ items 1, 7

Deno.test("bad usage, whatever its spelling and whichever the script: one line, a pointer to --help, exit 2", async () => {
  const help = (tool: string, command: string) => `${tool}: run "${command} --help" for usage`;
  const CLIENT = "deno run --allow-net cliente.ts";
  const SERVER = "deno run --allow-net servidor.ts";
  // [script, args, the first line, the command in the pointer line]
  const cases: [string, string[], string, string][] = [
    [
      "cliente.ts",
      ["localhost", "0"],
      'cliente: PORT is "0", expected a port number in 1..65535',
      CLIENT,
    ],
    [
      "cliente.ts",
      ["localhost", "8000", "--timeout", "-1"],
      'cliente: --timeout is "-1", expected an integer in 1..600000',
      CLIENT,
    ],
    [
      "cliente.ts",
      ["localhost", "8000", "--timeout=-1"],
      'cliente: --timeout is "-1", expected an integer in 1..600000',
      CLIENT,
    ],
    [
      "cliente.ts",
      ["--timeout", "-1", "localhost", "8000"],
      'cliente: --timeout is "-1", expected an integer in 1..600000',
      CLIENT,
    ],
    ["cliente.ts", ["localhost", "8000", "--timeout"], "cliente: --timeout needs a value", CLIENT],
    [
      "cliente.ts",
      ["localhost", "8000", "--trace-file", "--quiet"],
      "cliente: --trace-file needs a value",
      CLIENT,
    ],
    ["cliente.ts", ["localhost", "8000", "--bogus"], "cliente: unknown option --bogus", CLIENT],
    [
      "cliente.ts",
      ["localhost", "8000", "--timout", "5"],
      "cliente: unknown option --timout (did you mean --timeout?)",
      CLIENT,
    ],
    ["cliente.ts", ["localhost", "8000", "-x"], "cliente: unknown option -x", CLIENT],
    ["cliente.ts", ["localhost", "8000", "--quiet=yes"], "cliente: --quiet takes no value", CLIENT],
    [
      "cliente.ts",
      ["localhost", "8000", "a.txt"],
      'cliente: unexpected argument "a.txt" (the file comes from standard input: < FILE)',
      CLIENT,
    ],
    [
      "servidor.ts",
      ["8000", "--timeout", "-1"],
      'servidor: --timeout is "-1", expected an integer in 1..600000',
      SERVER,
    ],
    [
      "servidor.ts",
      ["8000", "--timeout=-1"],
      'servidor: --timeout is "-1", expected an integer in 1..600000',
      SERVER,
    ],
    ["servidor.ts", ["--out"], "servidor: --out needs a value", SERVER],
    ["servidor.ts", ["--bogus"], "servidor: unknown option --bogus", SERVER],
    [
      "servidor.ts",
      ["localhost", "8000", "extra"],
      'servidor: unexpected argument "extra"',
      SERVER,
    ],
    [
      "demo.ts",
      ["--loss", "-1"],
      'demo: --loss is "-1", expected a probability in 0..1 (below 1)',
      "deno run --allow-net --allow-run demo.ts",
    ],
    [
      "demo.ts",
      ["--bogus"],
      "demo: unknown option --bogus",
      "deno run --allow-net --allow-run demo.ts",
    ],
    [
      "soak.ts",
      ["--count", "-1"],
      'soak: --count is "-1", expected an integer >= 1',
      "deno task soak",
    ],
    ["soak.ts", ["extra"], 'soak: unexpected argument "extra"', "deno task soak"],
    ["diagram.ts", ["--bogus", "a.jsonl"], "diagram: unknown option --bogus", "deno task diagram"],
    ["plot.ts", [], "plot: expected a trace file to read", "deno task plot"],
  ];
  const results = await pool(
    6,
    cases.map(([script, args]) => () =>
      new Script(script, args, { permissions: ["--allow-net", "--allow-run"] }).result()
    ),
  );
  results.forEach((result, i) => {
    const [script, args, line, command] = cases[i];
    const tool = script.replace(/\.ts$/, "");
    const what = `${script} ${args.join(" ")}`;
    assert.equal(result.code, 2, `${what}: ${result.stderr}`);
    assert.equal(result.stderr, `${line}\n${help(tool, command)}`, what);
    assert.equal(result.stdout.length, 0, what);
  });
});

// ------------------------------------------------------------ items 2, 3

Deno.test("in stdout mode the server receives one file and exits: 0 byte-exact, 1 when the client vanished", async () => {
  const good = new Script("servidor.ts", ["127.0.0.1", "0", "--idle-timeout", "300"]);
  const bad = new Script("servidor.ts", ["127.0.0.1", "0", "--idle-timeout", "300"]);
  await using _good = good;
  await using _bad = bad;
  const [goodPort, badPort] = await Promise.all(
    [good, bad].map(async (server) =>
      Number((await server.line(/^servidor: listening on 127\.0\.0\.1:(\d+)$/))[1])
    ),
  );
  const sent = await runClient(["localhost", String(goodPort), "--quiet"], FILE);
  assert.equal(sent.code, 0, sent.stderr);
  // The server exits by itself: no Ctrl+C, no --once.
  const served = await good.result();
  assert.equal(served.code, 0, served.stderr);
  assert.deepEqual(served.stdout, FILE);

  // A client killed part-way: the one transfer failed, the server says so and exits 1.
  const doomed = new Script("cliente.ts", ["127.0.0.1", String(badPort), "--quiet"], {
    stdin: true,
  });
  await using _doomed = doomed;
  await doomed.feed(randomBytes(400_000, SEED));
  await bad.line(/#1 .*: connected/);
  doomed.kill("SIGKILL");
  await doomed.result().catch(() => {});
  const failed = await bad.result();
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /#1 .*: failed: the client went silent/);

  // The help and the README say so.
  const help = new TextDecoder().decode(
    (await new Script("servidor.ts", ["--help"]).result()).stdout,
  );
  assert.match(help, /Receives ONE file/);
  assert.match(help, /--once +with --out, exit after one transfer/);
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.match(readme, /receives one file, writes it to standard\s+output and exits/);
});

Deno.test("the server takes a lone port, and host names as the client does: the same line for a name that does not resolve", async () => {
  // A lone number is the port: "servidor.ts 0" listens on localhost, any free port.
  const lonePort = new Script("servidor.ts", ["0"]);
  await using _lonePort = lonePort;
  await lonePort.line(/^servidor: listening on 127\.0\.0\.1:\d+$/);
  const [server, client] = await Promise.all([
    new Script("servidor.ts", ["no-such-host.invalid", "0"]).result(),
    runClient(["no-such-host.invalid", "8000"], FILE),
  ]);
  assert.equal(server.code, 1, server.stderr);
  assert.equal(server.stderr, 'servidor: cannot resolve host "no-such-host.invalid"');
  assert.equal(client.code, 1, client.stderr);
  assert.equal(client.stderr, 'cliente: cannot resolve host "no-such-host.invalid"');
});

// ----------------------------------------------------------------- item 6

Deno.test(
  "Ctrl+C on the client: says how much was delivered, sends FIN, the server ends at once; exit 130",
  { ignore: Deno.build.os === "windows" },
  async () => {
    // The server waits 30 s for a silent client: ending sooner proves the FIN arrived.
    await using server = await startServer(["--trace"]);
    const size = 400_000;
    await using client = new Script("cliente.ts", ["127.0.0.1", String(server.port)], {
      stdin: true,
    });
    await client.feed(randomBytes(size, SEED));
    await server.line(/← {2}DATA +seq=\d+ len=16\b/); // under way: file data arrives
    client.kill("SIGINT");
    const [interrupted, served] = await Promise.all([client.result(), server.result()]);
    assert.equal(interrupted.code, 130, interrupted.stderr);
    const match =
      /^cliente: interrupted: ([\d,]+) of 400,000 bytes \(\d+%\) delivered to 127\.0\.0\.1:\d+; sent FIN, (the server confirmed|no answer within \d+ ms)$/
        .exec(interrupted.stderr);
    assert.ok(match, interrupted.stderr);
    const delivered = Number(match[1].replaceAll(",", ""));
    assert.equal(served.code, 1, served.stderr);
    // One sentence after "failed:", both counts written alike (thousands separators).
    const failure =
      /: failed: the client closed the connection ([\d,]+) bytes before the end of the file, after ([\d,]+) bytes; stdout holds the partial file$/m
        .exec(served.stderr);
    assert.ok(failure, served.stderr);
    const [missing, received] = [failure[1], failure[2]].map((n) => Number(n.replaceAll(",", "")));
    assert.equal(failure[1], missing.toLocaleString("en-US"));
    assert.equal(failure[2], received.toLocaleString("en-US"));
    assert.equal(missing + received, size);
    // The server holds every byte the client counts as delivered, and at most one segment more.
    assert.ok(received >= delivered && received <= delivered + 16, `${received} vs ${delivered}`);
    assert.equal(served.stdout.length, received);
  },
);

// ----------------------------------------------------------------- item 8

Deno.test("--out DIR: a missing directory is created; one that cannot be made fails at start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const permissions = ["--allow-net", `--allow-read=${dir}`, `--allow-write=${dir}`];
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    const refused = await new Script("servidor.ts", ["0", "--out", `${dir}/file/sub`], {
      permissions,
    }).result();
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`^servidor: cannot use --out ${dir}/file/sub: cannot create it \\(.*\\)$`),
    );

    await using server = await startServer(["--out", `${dir}/a/b`, "--once"], permissions);
    assert.ok((await Deno.stat(`${dir}/a/b`)).isDirectory);
    const sent = await runClient(["127.0.0.1", String(server.port), "--quiet"], FILE);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal((await server.result()).code, 0);
    const files = [...Deno.readDirSync(`${dir}/a/b`)].map((entry) => entry.name);
    assert.equal(files.length, 1, `${files}`);
    assert.deepEqual(await Deno.readFile(`${dir}/a/b/${files[0]}`), FILE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether mode bits keep this process out of a directory (not for root, not on Windows). */
async function modeBitsApply(): Promise<boolean> {
  if (Deno.build.os === "windows") return false;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.chmod(dir, 0o500);
    await Deno.writeTextFile(`${dir}/probe`, "");
    return false;
  } catch {
    return true;
  } finally {
    await Deno.chmod(dir, 0o700);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "--out DIR: a directory that cannot be written is refused at start",
  // root writes anywhere: the mode bits cannot make a directory unwritable for it.
  ignore: !(await modeBitsApply()),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o500);
      const permissions = ["--allow-net", `--allow-read=${dir}`, `--allow-write=${dir}`];
      const refused = await new Script("servidor.ts", ["0", "--out", dir], { permissions })
        .result();
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^servidor: cannot use --out .*: cannot write in it/);
    } finally {
      await Deno.chmod(dir, 0o700);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ----------------------------------------------------------------- item 9

Deno.test("mismatched modes are named: is the other end in --udp mode?", async () => {
  const hint = "is the other end in --udp mode?";
  // A --udp client at a normal server; a normal client at a --udp server.
  const [tcpServer, udpServer] = await Promise.all([
    startServer([]),
    startServer(["--udp"]),
  ]);
  await using _tcp = tcpServer;
  await using _udp = udpServer;
  // Something that answers every datagram with a plain-UDP one.
  const plain = udpLink({ hostname: "127.0.0.1", port: 0 });
  const answering = (async () => {
    try {
      const [, from] = await plain.receive(new Uint8Array(1500));
      await plain.send(encoder.encode("L5"), from);
    } catch {
      // closed
    }
  })();
  try {
    const [udpClient, tcpClient, answered] = await Promise.all([
      runClient(["127.0.0.1", String(tcpServer.port), "--udp"], FILE),
      runClient(["127.0.0.1", String(udpServer.port), "--timeout", "10", "--retries", "3"], FILE),
      runClient(["127.0.0.1", String(plain.localAddr.port), "--timeout", "2000"], FILE),
    ]);
    const [atTcp, atUdp] = await Promise.all([tcpServer.result(), udpServer.result()]);

    assert.equal(udpClient.code, 0, udpClient.stderr);
    assert.equal(atTcp.code, 1, atTcp.stderr);
    assert.match(
      atTcp.stderr,
      new RegExp(
        `^servidor: 127\\.0\\.0\\.1:\\d+ sends plain UDP datagrams, not SocketTCP segments: ${
          hint.replace(/[?-]/g, "\\$&")
        }$`,
        "m",
      ),
    );

    assert.equal(atUdp.code, 1, atUdp.stderr);
    assert.match(
      atUdp.stderr,
      /sends SocketTCP segments \(SYN seq=\d+\), not plain UDP datagrams: run it with --udp too, or run this server without --udp$/m,
    );
    assert.equal(atUdp.stdout.length, 0);
    assert.equal(tcpClient.code, 1);
    assert.ok(tcpClient.stderr.includes(hint), tcpClient.stderr);

    // Told at the first answer, long before the 2 s timeout's retries would end.
    assert.equal(answered.code, 1);
    assert.match(
      answered.stderr,
      /^cliente: 127\.0\.0\.1:\d+ answers with plain UDP datagrams, not SocketTCP segments: is the other end in --udp mode\?$/,
    );
  } finally {
    plain.close();
    await answering;
  }
});

// ---------------------------------------------------------------- item 18

Deno.test("the demo: every line says whose it is, and no digest line contradicts another", async () => {
  const demo = await new Script("demo.ts", ["--size", "1500", "--seed", "3"], {
    permissions: ["--allow-net", "--allow-run"],
  }).result();
  assert.equal(demo.code, 0, demo.stderr);
  const lines = demo.stderr.split("\n").filter((line) => line !== "");
  const owned = /^ {2}(servidor|cliente |relay {3}|demo {4}) │ |^== |^demo: /;
  for (const line of lines) assert.match(line, owned);
  assert.ok(lines.some((line) => line.startsWith("  cliente  │ cliente: delivered")));
  assert.ok(!/SHA-256 unknown/.test(demo.stderr), demo.stderr);
  // Each digest the demo prints is labelled with whose it is.
  for (const line of lines.filter((line) => /[0-9a-f]{64}/.test(line))) {
    assert.match(
      line,
      /SHA-256(:| of the file sent| of what the server wrote| of what arrived| the sender sent)/,
    );
  }
});

/** Runs the client on a terminal (a pseudo-terminal, by Python's `pty`), Ctrl+C once its progress bar shows. */
const ON_A_TERMINAL = `
import json, os, pty, signal, sys
deno, script, host, port, path = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.dup2(os.open(path, os.O_RDONLY), 0)
    os.execv(deno, [deno, "run", "--allow-net", script, host, port])
out = b""
interrupted = False
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not interrupted and b"retransmissions" in out:
        os.kill(pid, signal.SIGINT)
        interrupted = True
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "output": out.decode("utf-8", "replace")}))
`;

Deno.test(
  "Ctrl+C on a terminal: the progress bar is cleared before the line that says what was delivered",
  { ignore: Deno.build.os === "windows" },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const input = `${dir}/input.bin`;
      await Deno.writeFile(input, randomBytes(400_000, SEED));
      await using server = await startServer([]);
      const python = await new Deno.Command("python3", {
        args: [
          "-c",
          ON_A_TERMINAL,
          Deno.execPath(),
          new URL("../cliente.ts", import.meta.url)
            .pathname,
          "127.0.0.1",
          String(server.port),
          input,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(20_000),
      }).output();
      const stderr = new TextDecoder().decode(python.stderr);
      assert.equal(python.code, 0, stderr);
      const { code, output } = JSON.parse(new TextDecoder().decode(python.stdout));
      assert.equal(code, 130, output);
      // The terminal turns "\n" into "\r\n".
      const at = output.indexOf("cliente: interrupted: ");
      assert.ok(at > 0, JSON.stringify(output));
      const before = output.slice(0, at);
      assert.ok(
        before.endsWith("\r\x1b[2K"),
        `the bar is cleared: ${JSON.stringify(before.slice(-120))}`,
      );
      const after = output.slice(at);
      assert.match(
        after,
        /^cliente: interrupted: [\d,]+ of 400,000 bytes \(\d+%\) delivered to 127\.0\.0\.1:\d+; sent FIN, .*\r\n$/,
      );
      assert.equal((await server.result()).code, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
