/**
 * `deno task demo`: the whole project in one command. Starts a `servidor.ts`
 * and a faulty relay on free ports, sends a generated sample file through
 * them with `cliente.ts`, checks that the SHA-256 of what arrived matches
 * what was sent; then sends the same file as plain UDP (`--udp`) through the
 * same relay, and shows that it arrives damaged.
 *
 * Exits 0 unless the SocketTCP transfer is not byte-exact. Every wait is
 * bounded: a process that hangs is killed and the demo fails.
 *
 * ```sh
 * deno run --allow-net --allow-run demo.ts [--seed N] [--loss P] [--size BYTES]
 * ```
 *
 * @module
 */

import {
  formatCount,
  paint,
  parseArguments,
  parseCommandLine,
  parseInteger,
  parseProbability,
  Sha256,
} from "./cli.ts";
import { mulberry32 } from "./faults.ts";
import { formatAddr } from "./link.ts";
import { describeFaults, type RelayDirectionStats, startRelay } from "./relay.ts";
import { concatBytes } from "./segment.ts";

/** The prefix of each process's stderr lines, and of the demo's own. */
const PREFIX = {
  server: "  servidor │ ",
  client: "  cliente  │ ",
  relay: "  relay    │ ",
  demo: "  demo     │ ",
} as const;

const USAGE = `Usage: deno run --allow-net --allow-run demo.ts [options]

Runs a servidor.ts, a faulty relay and a cliente.ts on free ports: a sample
file crosses the relay over SocketTCP and arrives byte-exact; the same file
sent as plain UDP through the same relay arrives damaged.

Options:
  --seed N      seed of the sample text and of the relay's faults (default 7)
  --loss P      probability that the relay drops a datagram (default 0.2)
  --size BYTES  size of the sample file (default 6000)
  --help        print this help

Example:
  deno task demo`;

/** How long any one step may take before the demo gives up. */
const STEP_DEADLINE_MS = 60_000;

const WORDS = (
  "el la los las un una que de en y a por para con sin sobre entre hacia desde " +
  "segmento paquete conexión señal número secuencia pérdida retransmisión acuse " +
  "recibo emisor receptor servidor cliente mensaje archivo tiempo espera red " +
  "datagrama orden duplicado confiable protocolo puerto dirección niño año " +
  "corazón pingüino ñandú canción camión búsqueda envío"
).split(" ");

/**
 * A deterministic sample file: Spanish-looking UTF-8 text with numbered lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleText } from "./demo.ts";
 * const text = sampleText(100, 7);
 * assert.equal(text.length, 100);
 * assert.match(new TextDecoder("utf-8", { fatal: true }).decode(text), /^0001: /);
 * ```
 */
export function sampleText(size: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let line = 1; length < size; line++) {
    const words: string[] = [];
    const count = 6 + Math.floor(random() * 8);
    for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(random() * WORDS.length)]);
    const text = `${String(line).padStart(4, "0")}: ${words.join(" ")}.\n`;
    const bytes = encoder.encode(text[0].toUpperCase() + text.slice(1));
    parts.push(bytes);
    length += bytes.length;
  }
  const out = concatBytes(parts);
  // Cut at `size` bytes, backing off to a character boundary so the text stays valid UTF-8.
  let end = Math.min(size, out.length);
  while (end > 0 && end < out.length && (out[end] & 0xc0) === 0x80) end--;
  const cut = out.slice(0, end);
  if (cut.length === size) return cut;
  const padded = new Uint8Array(size).fill(0x0a);
  padded.set(cut);
  return padded;
}

/** A child process whose stderr is copied to ours, line by line, with a prefix. */
interface Child {
  process: Deno.ChildProcess;
  /** The first stderr line that says "listening on HOST:PORT", as the port. */
  port: Promise<number>;
  /** What the child wrote on stdout: its length and SHA-256. */
  stdout: Promise<{ bytes: number; sha256: string }>;
  /** All stderr lines (resolves when stderr closes). */
  stderr: Promise<string[]>;
}

function script(name: string): string {
  return `${import.meta.dirname}/${name}`;
}

/**
 * Copies a child's stderr to ours line by line, each with `prefix`; `onLine`
 * sees each line. Resolves with all the lines once the stream ends.
 */
async function copyLines(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  onLine: (line: string) => void = () => {},
): Promise<string[]> {
  const lines: string[] = [];
  let rest = "";
  const take = (line: string) => {
    lines.push(line);
    console.error(`${prefix}${line}`);
    onLine(line);
  };
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let newline;
    while ((newline = rest.indexOf("\n")) >= 0) {
      take(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
  }
  if (rest) take(rest);
  return lines;
}

function startServer(args: string[]): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", script("servidor.ts"), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const port = Promise.withResolvers<number>();
  const stderr = copyLines(process.stderr, PREFIX.server, (line) => {
    const match = /listening on .*:(\d+)/.exec(line);
    if (match) port.resolve(Number(match[1]));
  }).then((lines) => {
    port.reject(new Error(`the server exited before listening:\n${lines.join("\n")}`));
    return lines;
  });
  const stdout = (async () => {
    const hash = new Sha256();
    let bytes = 0;
    for await (const chunk of process.stdout) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    return { bytes, sha256: hash.hex() };
  })();
  // Avoid unhandled rejections if nobody awaits the port.
  port.promise.catch(() => {});
  return { process, port: port.promise, stdout, stderr };
}

async function runClient(args: string[], input: Uint8Array): Promise<number> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", script("cliente.ts"), ...args],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = copyLines(process.stderr, PREFIX.client);
  const writer = process.stdin.getWriter();
  await writer.write(input).catch(() => {});
  await writer.close().catch(() => {});
  const { code } = await within(process.status, process, "cliente.ts");
  await stderr;
  return code;
}

/** Waits for `promise`; after the deadline, kills `process` and throws. */
async function within<T>(
  promise: Promise<T>,
  process: Deno.ChildProcess,
  name: string,
  ms: number = STEP_DEADLINE_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        process.kill("SIGKILL");
      } catch {
        // already gone
      }
      reject(new Error(`${name} did not finish within ${ms / 1000} s`));
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The two digests the demo compares, one above the other. */
function digestLines(sent: string, written: string): string {
  return `${PREFIX.demo}SHA-256 of the file sent:         ${sent}\n` +
    `${PREFIX.demo}SHA-256 of what the server wrote: ${written}`;
}

function title(text: string): void {
  console.error(`\n${paint("bold", `== ${text}`)}`);
}

function describe(name: string, stats: RelayDirectionStats): string {
  return `${PREFIX.relay}  ${name}: ${formatCount(stats.received, "datagram")}, ${
    formatCount(stats.dropped)
  } dropped, ${formatCount(stats.duplicated)} duplicated, ${
    formatCount(stats.reordered)
  } reordered`;
}

/**
 * The one line saying which permission the demo lacks, or `undefined` when it
 * has both it needs: `--allow-net` for its relay, `--allow-run` to start
 * `servidor.ts` and `cliente.ts` (with this same `deno`). Never prompts.
 */
function missingPermissions(): string | undefined {
  const needs: string[] = [];
  if (Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state !== "granted") {
    needs.push("--allow-net to run the relay on 127.0.0.1");
  }
  if (
    Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state !== "granted"
  ) {
    needs.push("--allow-run to start the server and client processes");
  }
  if (needs.length === 0) return undefined;
  return `demo: needs ${needs.join(" and ")} (deno task demo grants ${
    needs.length === 1 ? "it" : "them"
  })`;
}

/** Runs the demo; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("demo", USAGE, () => {
    const { values } = parseArguments(args, {
      seed: { type: "string" },
      loss: { type: "string" },
      size: { type: "string" },
      help: { type: "boolean", default: false },
    });
    if (values.help) return "help";
    const seed = parseInteger(values.seed, "seed", 0, 2 ** 32 - 1) ?? 7;
    const size = parseInteger(values.size, "size", 0, 10_000_000) ?? 6000;
    const loss = parseProbability(values.loss, "loss", true) ?? 0.2;
    return { seed, loss, size };
  });
  if (typeof options === "number") return options;
  const { seed, loss, size } = options;
  const missing = missingPermissions();
  if (missing !== undefined) {
    console.error(missing);
    return 1;
  }

  const sample = sampleText(size, seed);
  const sent = Sha256.of(sample);
  const faults = { loss, duplicate: 0.05, reorder: 0.05 };

  title(
    `1. servidor.ts, and a relay that ${
      loss > 0 ? "loses, " : ""
    }duplicates and reorders datagrams between it and the client`,
  );
  const server = startServer(["127.0.0.1", "0"]);
  const serverPort = await within(server.port, server.process, "servidor.ts");
  await using relay = await startRelay({
    listen: { hostname: "127.0.0.1", port: 0 },
    target: { hostname: "127.0.0.1", port: serverPort },
    toServer: faults,
    toClient: faults,
    seed,
  });
  console.error(
    `${PREFIX.relay}${formatAddr(relay.addr)} -> 127.0.0.1:${serverPort}: ${
      describeFaults(faults)
    }, seed ${seed}`,
  );

  title(`2. cliente.ts sends a ${formatCount(size)}-byte sample through the relay (SocketTCP)`);
  const clientCode = await runClient(["127.0.0.1", String(relay.addr.port)], sample);
  // A client that failed leaves the server waiting for a connection: stop it (Ctrl+C).
  if (clientCode !== 0) server.process.kill("SIGINT");
  const serverCode = (await within(server.process.status, server.process, "servidor.ts")).code;
  const received = await server.stdout;
  await server.stderr;
  const exact = clientCode === 0 && serverCode === 0 && received.sha256 === sent &&
    received.bytes === sample.length;
  console.error(digestLines(sent, received.sha256));
  console.error(
    exact
      ? `${PREFIX.demo}${paint("green", "OK")}: ${
        formatCount(received.bytes, "byte")
      } arrived byte-exact`
      : `${PREFIX.demo}${
        paint("red", "FAILED")
      }: cliente exit ${clientCode}, servidor exit ${serverCode}, ` +
        `${formatCount(received.bytes)} of ${formatCount(sample.length, "byte")}`,
  );
  const afterTcp = relay.stats;

  title("3. the same file as plain UDP (--udp) through the same relay: no ACKs, no retransmission");
  const udpServer = startServer(
    ["127.0.0.1", String(serverPort), "--udp", "--idle-timeout", "1000"],
  );
  await within(udpServer.port, udpServer.process, "servidor.ts --udp");
  await runClient(["127.0.0.1", String(relay.addr.port), "--udp"], sample);
  // The server ends the transfer 1 s after the last datagram; if none arrived at all, give up.
  await within(udpServer.process.status, udpServer.process, "servidor.ts --udp", 15_000);
  const udpReceived = await udpServer.stdout;
  await udpServer.stderr;
  const udpExact = udpReceived.sha256 === sent;
  // The demo knows the file it sent, even when the server lost the sender's digest.
  console.error(digestLines(sent, udpReceived.sha256));
  console.error(
    udpExact
      ? `${PREFIX.demo}this time it arrived intact (${formatCount(udpReceived.bytes, "byte")}): ${
        loss > 0 ? "lucky seed" : "with --loss 0 the relay drops nothing"
      }`
      : `${PREFIX.demo}${paint("yellow", "damaged")}: ${formatCount(udpReceived.bytes)} of ${
        formatCount(sample.length, "byte")
      } arrived, and they differ from the file sent`,
  );

  title("Relay");
  const total = relay.stats;
  console.error(
    `${PREFIX.relay}SocketTCP transfer:\n${describe("to server", afterTcp.toServer)}\n${
      describe("to client", afterTcp.toClient)
    }`,
  );
  console.error(
    `${PREFIX.relay}whole demo:\n${describe("to server", total.toServer)}\n${
      describe("to client", total.toClient)
    }`,
  );
  console.error(
    exact
      ? `\n${
        paint(
          "green",
          `demo: SocketTCP delivered the file byte-exact over a network that ${
            loss > 0 ? "loses, " : ""
          }duplicates and reorders datagrams`,
        )
      }`
      : `\n${paint("red", "demo: the SocketTCP transfer was NOT byte-exact")}`,
  );
  return exact ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
