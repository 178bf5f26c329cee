/**
 * The performance benchmark of issues 6 and 11: `deno task bench` (or
 * `deno run -A bench/run.ts [--quick] [--sections 1,2]`; `-A` because reading
 * another process's /proc/PID/status needs it). Not part of the test suite.
 *
 * Measures, in one run, the UDP floor and SocketTCP against it: no loss (in
 * one process, `_local.ts`, beside the one-process floor, and between two
 * processes), loss through the relay, many clients at once, several MSS, and
 * a large file through the real CLI, and the sliding window of issue 13
 * beside its own floors. `--sections` runs some of them (1 the floor, 2 no
 * loss, 3 loss, 4 clients, 5 MSS, 6 large file, 7 window, 8 a loaded
 * machine, with the endpoint's stall guard off and on); the floor runs
 * whenever 1 or 2 does. `deno task bench --sections 7` runs the window's
 * section alone (a few minutes; `--quick` for a smoke run). Elsewhere client and server run in separate
 * processes (`_client.ts`, `_server.ts`); the relay runs in this process.
 * Every child has a hard time limit and every loop a bounded count. Prints a
 * table and writes it as Markdown to `bench/RESULTS.md`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parseArguments, parseCommandLine, UsageError } from "../cli.ts";
import { startRelay } from "../relay.ts";
import { median, RTO_BUCKETS, rtoBucketLabel } from "./_common.ts";

const USAGE = `Usage: deno task bench [--sections 1,2,...] [--quick] [--out FILE]

Measures socket-tcp against the UDP floor measured in the same run, and writes
the table to bench/RESULTS.md (a partial or quick run: to a temporary file,
unless --out says where). About 10 minutes for the whole run; run it on an
idle machine.

Sections: 1 the UDP floor, 2 no loss (one and two processes), 3 loss through
the relay, 4 clients at once, 5 MSS, 6 a large file through the CLI, 7 the
sliding window beside its floors, 8 spurious retransmissions on a loaded
machine (stall guard off and on).

Options:
  --sections LIST  the sections to run, comma-separated (default: all)
  --quick          small sizes and few repetitions: a smoke run
  --out FILE       where to write the Markdown table
  -h, --help       show this help

Example:
  deno task bench --sections 2,3`;

const parsed = parseCommandLine("bench", USAGE, () => {
  const { values } = parseArguments(Deno.args, {
    quick: { type: "boolean" },
    out: { type: "string" },
    sections: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  const sections = (values.sections ?? "1,2,3,4,5,6,7,8").split(",").map(Number);
  for (const section of sections) {
    if (!Number.isInteger(section) || section < 1 || section > 8) {
      throw new UsageError(`--sections is "${values.sections}", expected numbers 1..8`);
    }
  }
  return { quick: values.quick ?? false, out: values.out, sections };
});
if (typeof parsed === "number") Deno.exit(parsed);
const flags = parsed;
/** Which numbered sections to run (`--sections 1,2,4`): the others are skipped. */
const RUN = new Set(flags.sections);
const QUICK = flags.quick;
const ROOT = new URL("..", import.meta.url).pathname;
// A quick or partial run never overwrites bench/RESULTS.md (nor leaves an unformatted file in the tree).
const PARTIAL = RUN.size < 8;
const OUT = flags.out ??
  (QUICK || PARTIAL
    ? await Deno.makeTempFile({ prefix: "socket_tcp_bench_", suffix: ".md" })
    : `${ROOT}bench/RESULTS.md`);
const KIB = 1024;
const MIB = 1024 * KIB;

/** Sizes and repetitions of the full and of the quick (`--quick`) run. */
const PLAN = QUICK
  ? {
    reps: 2,
    floorReps: 5,
    floorCount: 2000,
    file: 16 * KIB,
    lossSizes: [4 * KIB],
    lossReps: 2,
    fixedTimeout: 20,
    fixedSizes: [4 * KIB],
    fixedReps: 1,
    clients: [1, 10, 50],
    clientSize: 2 * KIB,
    mssFile: 64 * KIB,
    large: 8 * MIB,
    windowBurst: 8 * MIB,
    windowSmall: 64 * KIB,
    windowLoss: 4 * KIB,
    windowReps: 2,
    loadSize: 32 * KIB,
    loadReps: 1,
  }
  : {
    reps: 5,
    // Pairs of floor and transfer: the two-process ratio moves by ±0.15 between runs.
    floorReps: 9,
    floorCount: 5000,
    file: 64 * KIB,
    lossSizes: [16 * KIB, 256 * KIB],
    // 16 KiB is short enough for 9: its cost per drop moved 2.1-4.3 ms between runs of 5.
    lossReps: 9,
    fixedTimeout: 20,
    fixedSizes: [16 * KIB],
    fixedReps: 3,
    clients: [1, 10, 50],
    clientSize: 16 * KIB,
    mssFile: 1 * MIB,
    large: 256 * MIB,
    windowBurst: 32 * MIB,
    windowSmall: 256 * KIB,
    windowLoss: 16 * KIB,
    windowReps: 3,
    loadSize: 256 * KIB,
    loadReps: 6,
  };
const LOSS_RATES = [0.1, 0.2];

// ------------------------------------------------------------ processes

/** A child Deno process whose stdout is read as JSON lines. */
class Peer {
  readonly child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;

  constructor(script: string, args: string[], limitMs: number) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-read", `${ROOT}bench/${script}`, ...args],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      signal: AbortSignal.timeout(limitMs),
    }).spawn();
    this.#lines = lines(this.child.stdout)[Symbol.asyncIterator]();
  }

  /** The next JSON line of stdout. @throws {Error} when the process ended without one. */
  async next<T>(): Promise<T> {
    const { value, done } = await this.#lines.next();
    if (done) {
      const status = await this.child.status;
      throw new Error(`peer exited (code ${status.code}, signal ${status.signal}) without output`);
    }
    return JSON.parse(value) as T;
  }

  /** Closes stdin and waits for the exit. */
  async end(): Promise<Deno.CommandStatus> {
    await this.child.stdin.close().catch(() => {});
    return await this.child.status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, at).trim();
      rest = rest.slice(at + 1);
      if (line) yield line;
    }
  }
  if (rest.trim()) yield rest.trim();
}

// ------------------------------------------------------------ the floor

/** The two-process floor once: an echo process and a ping process, `count` round trips after 500 warm-up ones. */
async function floorTwo(count: number): Promise<number> {
  const echo = new Peer("_udp.ts", ["echo"], 120_000);
  try {
    const { port } = await echo.next<{ port: number }>();
    const args = ["ping", "--port", String(port), "--count", String(count), "--reps", "1"];
    const ping = new Peer("_udp.ts", args, 60_000);
    const [us] = (await ping.next<{ usPerRoundTrip: number[] }>()).usPerRoundTrip;
    await ping.end();
    return us;
  } finally {
    await echo.end();
  }
}

// ------------------------------------------------------------ transfers

interface ClientOutput {
  ms: number;
  perConnectionMs: number[];
  bytes: number;
  dataSegments: number;
  sha256: string[];
  stats: {
    segmentsSent: number;
    retransmissions: number;
    spuriousRetransmissions?: number;
    timeouts: number;
  };
  finalRto: number;
  srtt?: number;
  rtoHistogram?: number[];
  peakRss: number;
}

interface ServerOutput {
  connections: { bytes: number; sha256: string; error?: string }[];
  peakRss: number;
  sampledRss: number;
}

interface TransferSpec {
  size: number;
  mss?: number;
  timeout?: number;
  clients?: number;
  loss?: number;
  seed?: number;
  histogram?: boolean;
  limitMs?: number;
  /** More flags for both peers (the window's: `--window 32 --arq sr`). */
  extra?: string[];
  /** Bytes of an unmeasured warm-up transfer first, on a connection of its own. */
  warmup?: number;
}

interface TransferResult {
  client: ClientOutput;
  server: ServerOutput;
  exact: boolean;
  /** Datagrams the relay dropped, all of them and those of the data phase (DATA to the server, ACK to the client). */
  drops?: { total: number; data: number; forwarded: number };
}

async function transfer(spec: TransferSpec): Promise<TransferResult> {
  const mss = spec.mss ?? 16;
  const clients = spec.clients ?? 1;
  const limitMs = spec.limitMs ?? 120_000;
  const common = ["--mss", String(mss), ...(spec.extra ?? [])];
  if (spec.timeout !== undefined) common.push("--timeout", String(spec.timeout));
  const warm = spec.warmup ? ["--warmup"] : [];
  const server = new Peer(
    "_server.ts",
    [...common, "--connections", String(clients), ...warm],
    limitMs,
  );
  const relay = spec.loss === undefined ? null : { total: 0, data: 0 };
  try {
    const { port } = await server.next<{ port: number }>();
    let target = port;
    let stopRelay = async () => {};
    let forwarded = () => 0;
    if (relay) {
      const loss = spec.loss ?? 0;
      let warmPort: number | null = null;
      const running = await startRelay({
        listen: { hostname: "127.0.0.1", port: 0 },
        target: { hostname: "127.0.0.1", port },
        toServer: { loss },
        toClient: { loss },
        seed: spec.seed ?? 1,
        onEvent(event) {
          if (event.type !== "datagram") return;
          // The warm-up connection comes first: its drops are not the measured transfer's.
          if (spec.warmup && warmPort === null) warmPort = event.client.port;
          if (event.action !== "drop" || event.client.port === warmPort) return;
          relay.total++;
          if (
            (event.direction === "toServer" && event.kind === "DATA") ||
            (event.direction === "toClient" && event.kind === "ACK")
          ) relay.data++;
        },
      });
      target = running.addr.port;
      stopRelay = () => running.close();
      forwarded = () => running.stats.toServer.forwarded + running.stats.toClient.forwarded;
    }
    const args = [...common, "--port", String(target), "--size", String(spec.size)];
    args.push("--clients", String(clients), "--seed", String(spec.seed ?? 1));
    if (spec.warmup) args.push("--warmup", String(spec.warmup));
    if (spec.histogram) args.push("--rto-histogram");
    const client = new Peer("_client.ts", args, limitMs);
    const clientOut = await client.next<ClientOutput>();
    await client.end();
    const serverOut = await server.next<ServerOutput>();
    const sent = [...clientOut.sha256].sort().join();
    const received = serverOut.connections.map((c) => c.sha256).sort().join();
    const exact = sent === received &&
      serverOut.connections.every((c) => c.bytes === spec.size && !c.error);
    const drops = relay ? { ...relay, forwarded: forwarded() } : undefined;
    await stopRelay();
    return { client: clientOut, server: serverOut, exact, drops };
  } finally {
    await server.end();
  }
}

/** Runs `spec` `reps` times (seeds 1..reps), skipping the rest once `budgetMs` is spent. */
async function repeat(
  spec: TransferSpec,
  reps: number,
  budgetMs: number,
): Promise<TransferResult[]> {
  const results: TransferResult[] = [];
  const start = performance.now();
  for (let rep = 0; rep < reps; rep++) {
    if (rep > 0 && performance.now() - start > budgetMs) {
      note(`  (budget of ${budgetMs / 1000} s spent after ${rep} repetitions)`);
      break;
    }
    try {
      results.push(await transfer({ ...spec, seed: rep + 1 }));
    } catch (error) {
      note(`  repetition ${rep + 1} failed: ${error}`);
    }
  }
  return results;
}

function note(line: string): void {
  console.error(line);
}

// ------------------------------------------------------------ large file (CLI)

interface LargeResult {
  ok: boolean;
  how: string;
  ms: number;
  clientPeak: number;
  serverPeak: number;
  detail: string;
}

/** VmHWM (peak) and VmRSS of a process, in bytes, or 0 once it is gone. */
function procMemory(pid: number): { hwm: number; rss: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { hwm: kb("VmHWM") * 1024, rss: kb("VmRSS") * 1024 };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

async function largeFile(size: number, extra: string[] = []): Promise<LargeResult> {
  const dir = await Deno.makeTempDir({ prefix: "socket_tcp_bench_" });
  const path = `${dir}/large.bin`;
  try {
    const hash = createHash("sha256");
    {
      using file = await Deno.open(path, { write: true, create: true });
      const chunk = new Uint8Array(MIB);
      for (let at = 0; at < size; at += chunk.length) {
        for (let i = 0; i < chunk.length; i += 65536) {
          crypto.getRandomValues(chunk.subarray(i, i + 65536));
        }
        const piece = chunk.subarray(0, Math.min(chunk.length, size - at));
        hash.update(piece);
        let written = 0;
        while (written < piece.length) written += await file.write(piece.subarray(written));
      }
    }
    const sha = hash.digest("hex");
    const limit = AbortSignal.timeout(300_000);
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "servidor.ts",
        "127.0.0.1",
        "0",
        "--mss",
        "1400",
        "--once",
        ...extra,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: limit,
    }).spawn();
    const stderr = lines(server.stderr)[Symbol.asyncIterator]();
    const first = await stderr.next();
    const port = /listening on .*:(\d+)/.exec(first.value ?? "")?.[1];
    if (!port) {
      server.kill();
      return {
        ok: false,
        how: "CLI",
        ms: 0,
        clientPeak: 0,
        serverPeak: 0,
        detail: `servidor did not say where it listens: ${first.value}`,
      };
    }
    const started = performance.now();
    const deno = Deno.execPath().replaceAll("'", "'\\''");
    const client = new Deno.Command("sh", {
      args: [
        "-c",
        `exec '${deno}' run --allow-net cliente.ts 127.0.0.1 ${port} --mss 1400 --quiet ${
          extra.join(" ")
        } < '${path}'`,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: limit,
    }).spawn();
    const peaks = { client: 0, server: 0 };
    const sample = () => {
      const c = procMemory(client.pid);
      const s = procMemory(server.pid);
      peaks.client = Math.max(peaks.client, c.hwm, c.rss);
      peaks.server = Math.max(peaks.server, s.hwm, s.rss);
    };
    const sampler = setInterval(sample, 100);
    const clientErr = new Response(client.stderr).text();
    const serverLog: string[] = [];
    const serverDone = (async () => {
      for (let line = await stderr.next(); !line.done; line = await stderr.next()) {
        serverLog.push(line.value);
      }
    })();
    const [clientStatus, serverStatus] = await Promise.all([client.status, server.status]);
    const ms = performance.now() - started;
    clearInterval(sampler);
    await serverDone;
    const log = serverLog.join("\n");
    const exact = log.includes(sha);
    const ok = clientStatus.success && serverStatus.success && exact;
    return {
      ok,
      how: "CLI (cliente.ts < file, servidor.ts --once > /dev/null)",
      ms,
      clientPeak: peaks.client,
      serverPeak: peaks.server,
      detail: ok ? `SHA-256 matches` : `client exit ${clientStatus.code} ${await clientErr}; ` +
        `server exit ${serverStatus.code}; sha ${exact ? "matches" : "MISSING"}: ${
          log.slice(-400)
        }`,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ------------------------------------------------------------ formatting

const fmt = (n: number, digits = 1) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—";
const mb = (bytes: number) => `${fmt(bytes / 1e6, 1)} MB`;
const verdict = (ok: boolean) => (ok ? "**met**" : "**not met**");

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

async function machine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const cores = navigator.hardwareConcurrency;
  const mem = /MemTotal:\s+(\d+) kB/.exec(await Deno.readTextFile("/proc/meminfo").catch(() => ""));
  return `${model}, ${cores} cores, ${mem ? fmt(Number(mem[1]) / MIB, 1) + " GiB RAM" : ""}, ` +
    `${Deno.build.os} ${Deno.build.arch}, Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ` +
    `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

// ------------------------------------------------------------ main

const sections: string[] = [];
const targets: string[][] = [];
const section = (title: string, body: string) => {
  sections.push(`## ${title}\n\n${body}`);
  console.log(`\n## ${title}\n\n${body}`);
};
const began = performance.now();
const description = await machine();
console.log(`socket-tcp benchmark${QUICK ? " (--quick)" : ""}: ${description}`);

// 1 and 2. Each measured transfer comes a moment after a floor of its own,
// and the ratio is taken pair by pair: the machine's speed drifts between
// minutes (the floor itself varies ±30% on a shared host), not within a pair.
note(`1-2. ${PLAN.file / KIB} KiB, no loss, one process, each beside its floor`);
interface LocalOutput {
  ms: number[];
  floorUs?: number[];
  dataSegments: number;
  stats: { retransmissions: number; spuriousRetransmissions: number; timeouts: number };
}
const local: LocalOutput = RUN.has(1) || RUN.has(2)
  ? await (async () => {
    const peer = new Peer("_local.ts", [
      "--size",
      String(PLAN.file),
      "--reps",
      String(PLAN.floorReps),
      "--floor",
      String(PLAN.floorCount),
    ], 120_000);
    try {
      return await peer.next<LocalOutput>();
    } finally {
      await peer.end();
    }
  })()
  : {
    ms: [],
    floorUs: [],
    dataSegments: NaN,
    stats: { retransmissions: 0, spuriousRetransmissions: 0, timeouts: 0 },
  };
const localPerSegment = local.ms.map((ms) => ms * 1000 / local.dataSegments);
const localFloors = local.floorUs ?? [];
const localRatios = localPerSegment.map((us, i) => us / localFloors[i]);
note(`1-2. ${PLAN.file / KIB} KiB, no loss, two processes, each beside its floor`);
const floorsTwo: number[] = [];
const clean: TransferResult[] = [];
for (let rep = 0; rep < (RUN.has(1) || RUN.has(2) ? PLAN.floorReps : 0); rep++) {
  floorsTwo.push(await floorTwo(PLAN.floorCount));
  const [run] = await repeat({ size: PLAN.file, warmup: PLAN.file, seed: rep + 1 }, 1, 60_000);
  if (run) clean.push(run);
}
const cleanPerSegment = clean.map((r) => r.client.ms * 1000 / r.client.dataSegments);
const cleanRatios = cleanPerSegment.map((us, i) => us / floorsTwo[i]);
const floor1 = median(localFloors);
const floor2 = median(floorsTwo);
section(
  "1. The floor: UDP ping-pong over loopback",
  table(["setup", "µs per round trip (median)", "repetitions (µs)"], [
    ["one process", fmt(floor1), localFloors.map((v) => fmt(v)).join(", ")],
    ["two processes", fmt(floor2), floorsTwo.map((v) => fmt(v)).join(", ")],
  ]) + `\n\n${PLAN.floorCount} round trips per repetition of a ` +
    "41-byte datagram (a 16-byte DATA segment), received into a reused buffer, after warm-up " +
    "ones; each repetition is measured right before one transfer of section 2.",
);

const cleanMs = median(clean.map((r) => r.client.ms));
const segments = clean[0]?.client.dataSegments ?? NaN;
const usPerSegment = median(cleanPerSegment);
const localUs = median(localPerSegment);
const ratio2 = median(cleanRatios);
const ratio1 = median(localRatios);
section(
  `2. ${PLAN.file / KIB} KiB through SocketTCP, no loss, each transfer beside its own floor`,
  table(
    [
      "setup",
      "µs per data segment (median)",
      "÷ its floor (median of the pairs)",
      "pairs: µs per segment ÷ floor",
      "timeouts (median)",
      "byte-exact",
    ],
    [
      [
        "two processes (client and server)",
        fmt(usPerSegment),
        fmt(ratio2, 2),
        cleanPerSegment.map((us, i) => `${fmt(us)}÷${fmt(floorsTwo[i])}`).join(", "),
        fmt(median(clean.map((r) => r.client.stats.timeouts)), 0),
        clean.every((r) => r.exact) && clean.length > 0 ? "yes" : "NO",
      ],
      [
        "one process (`bench/_local.ts`)",
        fmt(localUs),
        fmt(ratio1, 2),
        localPerSegment.map((us, i) => `${fmt(us)}÷${fmt(localFloors[i])}`).join(", "),
        `${local.stats.timeouts} in all (${local.stats.spuriousRetransmissions} spurious resends)`,
        local.ms.length > 0 ? "yes" : "—",
      ],
    ],
  ) +
    `\n\n${segments} data segments (the length announcement and ${PLAN.file / 16} of 16 bytes); ` +
    "time measured by the sender from the first `send` to the last ACK. Two processes: each " +
    `transfer (${fmt(cleanMs)} ms median) is preceded by an unmeasured one of the same size, as ` +
    "the floor's ping-pong is by 500 round trips; server peak RSS " +
    `${mb(Math.max(...clean.map((r) => r.server.peakRss)))}.`,
);
targets.push([
  "No loss, two processes: µs per data segment ≤ 1.25 × the two-process floor",
  `${fmt(usPerSegment)} µs; ${fmt(ratio2, 2)} × its floor (median of ${clean.length} pairs)`,
  verdict(ratio2 <= 1.25),
]);
targets.push([
  "No loss, one process: µs per data segment ≤ 1.25 × the one-process floor",
  `${fmt(localUs)} µs; ${fmt(ratio1, 2)} × its floor (median of ${local.ms.length} pairs)`,
  verdict(ratio1 <= 1.25),
]);

// 3. Loss through the relay.
interface LossRow {
  mode: string;
  size: number;
  loss: number;
  ms: number;
  ratio: number;
  drops: number;
  dataDrops: number;
  perDrop: number;
  retransmissions: number;
  spurious: number;
  exact: boolean;
  reps: number;
}
const lossRows: LossRow[] = [];
const histograms = new Map<string, number[]>();
const lossModes: { mode: string; timeout?: number; sizes: number[]; reps: number }[] = [
  { mode: "adaptive", sizes: PLAN.lossSizes, reps: PLAN.lossReps },
  {
    mode: `fixed ${PLAN.fixedTimeout} ms`,
    timeout: PLAN.fixedTimeout,
    sizes: PLAN.fixedSizes,
    reps: PLAN.fixedReps,
  },
];
for (const { mode, timeout, sizes, reps } of RUN.has(3) ? lossModes : []) {
  for (const size of sizes) {
    // The adaptive rows measure recovery, not the JIT's first passes: each
    // transfer follows an unmeasured one on a connection of its own, through
    // the same relay (as in 7b and 7c), whose drops are not counted. The fixed
    // timeout's rows are its timeout, warm or cold.
    const warmup = timeout === undefined ? Math.min(size, PLAN.lossSizes[0]) : undefined;
    const spec = { size, timeout, histogram: true, limitMs: 240_000, warmup };
    note(`3. relay, ${mode}, ${size / KIB} KiB, no loss`);
    const sizeReps = size > 64 * KIB ? Math.min(reps, 3) : reps;
    const base = await repeat({ ...spec, loss: 0 }, sizeReps, 60_000);
    const baseMs = median(base.map((r) => r.client.ms));
    lossRows.push({
      mode,
      size,
      loss: 0,
      ms: baseMs,
      ratio: 1,
      drops: 0,
      dataDrops: 0,
      perDrop: NaN,
      retransmissions: median(base.map((r) => r.client.stats.retransmissions)),
      spurious: median(base.map((r) => r.client.stats.spuriousRetransmissions ?? 0)),
      exact: base.length > 0 && base.every((r) => r.exact),
      reps: base.length,
    });
    for (const loss of LOSS_RATES) {
      note(`3. relay, ${mode}, ${size / KIB} KiB, ${loss * 100}% loss each way`);
      const runs = await repeat({ ...spec, loss }, sizeReps, 150_000);
      const ms = median(runs.map((r) => r.client.ms));
      // Cost per drop: each repetition's extra time over its drops, then the median.
      const perDrop = median(runs.map((r) => (r.client.ms - baseMs) / (r.drops?.data || NaN)));
      lossRows.push({
        mode,
        size,
        loss,
        ms,
        ratio: ms / baseMs,
        drops: median(runs.map((r) => r.drops?.total ?? 0)),
        dataDrops: median(runs.map((r) => r.drops?.data ?? 0)),
        perDrop,
        retransmissions: median(runs.map((r) => r.client.stats.retransmissions)),
        spurious: median(runs.map((r) => r.client.stats.spuriousRetransmissions ?? 0)),
        exact: runs.length > 0 && runs.every((r) => r.exact),
        reps: runs.length,
      });
      const key = `${mode}, ${loss * 100}% loss`;
      const sum = histograms.get(key) ?? new Array(RTO_BUCKETS.length + 1).fill(0);
      for (const r of runs) r.client.rtoHistogram?.forEach((n, i) => (sum[i] += n));
      histograms.set(key, sum);
    }
  }
}
section(
  "3. Through the relay, with loss each way (fixed seeds 1..n)",
  table(
    [
      "timeout",
      "size",
      "loss each way",
      "time (median)",
      "÷ no-loss time",
      "drops (all / data phase)",
      "ms per drop",
      "retransmissions (spurious)",
      "byte-exact",
      "reps",
    ],
    lossRows.map((r) => [
      r.mode,
      `${r.size / KIB} KiB`,
      `${r.loss * 100}%`,
      `${fmt(r.ms)} ms`,
      fmt(r.ratio, 2),
      r.loss === 0 ? "—" : `${fmt(r.drops, 0)} / ${fmt(r.dataDrops, 0)}`,
      r.loss === 0 ? "—" : fmt(r.perDrop, 2),
      `${fmt(r.retransmissions, 0)} (${fmt(r.spurious, 0)})`,
      r.exact ? "yes" : "NO",
      String(r.reps),
    ]),
  ) +
    "\n\nms per drop = (time at loss − time without loss, both through the relay) ÷ datagrams " +
    "the relay dropped during the data phase (DATA toward the server, ACK toward the client; " +
    "drops of handshake and close segments fall outside the timed interval). Adaptive rows: " +
    `each transfer follows an unmeasured one of ${
      PLAN.lossSizes[0] / KIB
    } KiB (at most its own size) ` +
    "through the same relay, on a connection of its own, whose drops are not counted.\n\n" +
    "Histogram of the RTO in force on each DATA send (client trace), summed over repetitions:\n\n" +
    table(
      [
        "run",
        ...Array.from({ length: RTO_BUCKETS.length + 1 }, (_, i) => `${rtoBucketLabel(i)} ms`),
      ],
      [...histograms].map(([key, counts]) => [key, ...counts.map(String)]),
    ),
);
for (const size of PLAN.lossSizes) {
  const rows = lossRows.filter((r) => r.mode === "adaptive" && r.size === size && r.loss > 0);
  targets.push([
    `Loss, adaptive, ${size / KIB} KiB: ≤ 3 ms per drop at 10% and 20%`,
    rows.map((r) => `${r.loss * 100}%: ${fmt(r.perDrop, 2)} ms (×${fmt(r.ratio, 1)} time)`).join(
      "; ",
    ),
    verdict(rows.length === LOSS_RATES.length && rows.every((r) => r.perDrop <= 3 && r.exact)),
  ]);
}

// 4. Many clients.
const clientRows: string[][] = [];
let oneRate = NaN;
let fiftyOk = false;
let fiftyRate = NaN;
let fiftyPeak = NaN;
for (const clients of RUN.has(4) ? PLAN.clients : []) {
  note(`4. ${clients} clients at once`);
  const runs = await repeat({ size: PLAN.clientSize, clients }, PLAN.reps, 90_000);
  const rate = median(runs.map((r) => r.client.dataSegments / (r.client.ms / 1000)));
  if (clients === 1) oneRate = rate;
  const exact = runs.length > 0 && runs.every((r) => r.exact);
  const peak = Math.max(...runs.map((r) => r.server.peakRss));
  if (clients === 50) {
    fiftyOk = exact;
    fiftyRate = rate;
    fiftyPeak = peak;
  }
  clientRows.push([
    String(clients),
    `${fmt(median(runs.map((r) => r.client.ms)))} ms`,
    fmt(rate, 0),
    fmt(rate / oneRate, 2),
    `${fmt(median(runs.map((r) => median(r.client.perConnectionMs))))} ms`,
    fmt(median(runs.map((r) => r.client.stats.timeouts)), 0),
    exact ? `yes (${runs.length}×${clients} SHA-256)` : "NO",
    mb(peak),
  ]);
}
section(
  `4. Clients at once against one server process (${PLAN.clientSize / KIB} KiB each)`,
  table(
    [
      "clients",
      "time to last ACK (median)",
      "aggregate segments/s",
      "÷ one client",
      "per-connection time (median)",
      "timeouts",
      "byte-exact",
      "server peak RSS",
    ],
    clientRows,
  ) + "\n\nAll clients run in one client process (connected first, then sending at once).",
);
targets.push([
  "50 clients: every byte arrives",
  fiftyOk ? "all SHA-256 match" : "mismatch or failure",
  verdict(fiftyOk),
]);
targets.push([
  "50 clients: aggregate segments/s ≥ 1.5 × one client",
  `${fmt(fiftyRate / oneRate, 2)} × (${fmt(fiftyRate, 0)} vs ${fmt(oneRate, 0)} segments/s)`,
  verdict(fiftyRate >= 1.5 * oneRate),
]);
targets.push([
  "50 clients: server peak RSS < 200 MB",
  mb(fiftyPeak),
  verdict(fiftyPeak > 0 && fiftyPeak < 200e6),
]);

// 5. MSS.
const mssRows: string[][] = [];
const perSegment = new Map<number, number>();
for (const mss of RUN.has(5) ? [16, 256, 1400] : []) {
  note(`5. mss ${mss}`);
  const runs = await repeat({ size: PLAN.mssFile, mss }, QUICK ? 2 : 3, 60_000);
  const ms = median(runs.map((r) => r.client.ms));
  const segs = runs[0]?.client.dataSegments ?? NaN;
  perSegment.set(mss, ms * 1000 / segs);
  mssRows.push([
    String(mss),
    String(segs),
    `${fmt(ms)} ms`,
    fmt(ms * 1000 / segs),
    `${fmt(PLAN.mssFile / (ms / 1000) / MIB, 2)} MiB/s`,
    runs.length > 0 && runs.every((r) => r.exact) ? "yes" : "NO",
  ]);
}
section(
  `5. Goodput by MSS (${
    PLAN.mssFile / MIB >= 1 ? PLAN.mssFile / MIB + " MiB" : PLAN.mssFile / KIB + " KiB"
  } file)`,
  table(
    ["mss", "segments", "time (median)", "µs per segment", "goodput", "byte-exact"],
    mssRows,
  ),
);
const scale = (perSegment.get(1400) ?? NaN) / (perSegment.get(16) ?? NaN);
targets.push([
  "--mss scales goodput (criterion: µs per segment at 1400 ≤ 1.3 × at 16)",
  `µs per segment at 1400 = ${fmt(scale, 2)} × at 16`,
  verdict(scale <= 1.3),
]);

/** The large file through the CLI with `extra` flags, or why it did not run, as a section. */
async function largeSection(
  title: string,
  run: boolean,
  extra: string[] = [],
  footer = "",
): Promise<LargeResult> {
  let large: LargeResult;
  try {
    if (!run) throw new Error("skipped (--sections)");
    large = await largeFile(PLAN.large, extra);
  } catch (error) {
    large = {
      ok: false,
      how: "CLI",
      ms: NaN,
      clientPeak: NaN,
      serverPeak: NaN,
      detail: String(error),
    };
  }
  section(
    title,
    table(
      ["how", "time", "goodput", "cliente peak RSS", "servidor peak RSS", "result"],
      [[
        large.how,
        `${fmt(large.ms / 1000, 2)} s`,
        `${fmt(PLAN.large / (large.ms / 1000) / MIB, 2)} MiB/s`,
        mb(large.clientPeak),
        mb(large.serverPeak),
        large.detail,
      ]],
    ) + footer,
  );
  return large;
}

// 6. Large file through the CLI.
note(`6. ${PLAN.large / MIB} MiB through the CLI`);
const large = await largeSection(
  `6. ${PLAN.large / MIB} MiB, --mss 1400, through the CLI`,
  RUN.has(6),
  [],
  "\n\nPeak RSS: the larger of VmHWM and VmRSS in /proc/PID/status, sampled every 100 ms.",
);
targets.push([
  `${PLAN.large / MIB} MiB with --mss 1400: both processes < 100 MB`,
  `cliente ${mb(large.clientPeak)}, servidor ${mb(large.serverPeak)}${large.ok ? "" : " (FAILED)"}`,
  verdict(
    large.ok && large.clientPeak > 0 && large.serverPeak > 0 && large.clientPeak < 100e6 &&
      large.serverPeak < 100e6,
  ),
]);

// 7. The sliding window (issue 13), beside its floors, in the same run.
const windowTargets: string[][] = [];
if (RUN.has(7)) {
  const rate = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000); // MB/s
  /** One-process transfers (`_local.ts`) with these flags. */
  const local = async (
    size: number,
    flags: string[],
  ): Promise<LocalOutput & { mbPerS: number }> => {
    const peer = new Peer("_local.ts", [
      "--size",
      String(size),
      "--reps",
      String(PLAN.windowReps),
      ...flags,
    ], 300_000);
    try {
      const out = await peer.next<LocalOutput>();
      return { ...out, mbPerS: rate(size, median(out.ms)) };
    } finally {
      await peer.end();
    }
  };
  const row = (what: string, out: LocalOutput & { mbPerS: number }, ratio: string) => [
    what,
    `${fmt(median(out.ms))} ms`,
    `${fmt(out.mbPerS, 2)} MB/s`,
    ratio,
    `${out.stats.retransmissions} / ${out.stats.timeouts}`,
    out.ms.map((v) => fmt(v)).join(", "),
  ];
  const header = [
    "setup",
    "time (median)",
    "goodput",
    "ratio",
    "retransmissions / timeouts",
    "repetitions (ms)",
  ];

  note("7a. raw one-way UDP burst floor, and window 64 at mss 1400, one process");
  const burstPeer = new Peer("_burst.ts", [
    "--bytes",
    String(PLAN.windowBurst),
    "--reps",
    String(PLAN.windowReps),
  ], 120_000);
  const burst = await burstPeer.next<{ mbPerS: number[]; lost: number }>();
  await burstPeer.end();
  const burstRate = median(burst.mbPerS);
  const sr64 = await local(PLAN.windowBurst, ["--mss", "1400", "--window", "64", "--arq", "sr"]);
  const sw1400 = await local(PLAN.windowSmall * 4, ["--mss", "1400"]);
  section(
    `7a. Window 64, mss 1400, selective repeat, no loss, one process (${
      PLAN.windowBurst / MIB
    } MiB) beside a raw UDP stream`,
    table(header, [
      [
        "raw UDP: bursts of 32 × 1400 B, one answer per burst",
        "—",
        `${fmt(burstRate, 2)} MB/s`,
        "1.00",
        `${burst.lost} lost`,
        burst.mbPerS.map((v) => fmt(v, 1)).join(", ") + " MB/s",
      ],
      row("SocketTCP window 64, selective repeat", sr64, fmt(sr64.mbPerS / burstRate, 2)),
      row(
        `SocketTCP Stop & Wait (${PLAN.windowSmall * 4 / KIB} KiB)`,
        sw1400,
        fmt(sw1400.mbPerS / burstRate, 2),
      ),
    ]) + "\n\nratio: goodput ÷ the raw stream's payload rate, measured in the same run.",
  );
  windowTargets.push([
    "No loss, one process, mss 1400, window 64, SR: goodput ≥ 0.5 × raw one-way UDP stream",
    `${fmt(sr64.mbPerS, 2)} MB/s = ${fmt(sr64.mbPerS / burstRate, 2)} × ${fmt(burstRate, 2)} MB/s`,
    verdict(sr64.mbPerS >= 0.5 * burstRate),
  ]);

  note("7b. mss 16: window 32 vs Stop & Wait, one process and two processes");
  const sw16 = await local(PLAN.windowSmall, ["--mss", "16"]);
  const w16 = await local(PLAN.windowSmall, ["--mss", "16", "--window", "32", "--arq", "sr"]);
  const two = async (extra: string[]) => {
    const runs = await repeat(
      { size: PLAN.windowSmall, extra, warmup: 64 * KIB },
      PLAN.windowReps,
      120_000,
    );
    const ms = median(runs.map((r) => r.client.ms));
    return {
      ms: runs.map((r) => r.client.ms),
      dataSegments: runs[0]?.client.dataSegments ?? NaN,
      stats: {
        retransmissions: median(runs.map((r) => r.client.stats.retransmissions)),
        spuriousRetransmissions: 0,
        timeouts: median(runs.map((r) => r.client.stats.timeouts)),
      },
      mbPerS: rate(PLAN.windowSmall, ms),
      exact: runs.length > 0 && runs.every((r) => r.exact),
    };
  };
  const sw16two = await two([]);
  const w16two = await two(["--window", "32", "--arq", "sr"]);
  // The ceiling: a raw pipelined window of the same datagrams, no protocol.
  const streamReceiver = new Peer("_stream.ts", ["receive"], 120_000);
  let stream = NaN;
  try {
    const { port } = await streamReceiver.next<{ port: number }>();
    const sender = new Peer("_stream.ts", [
      "send",
      "--port",
      String(port),
      "--count",
      String(PLAN.windowSmall / 16),
      "--reps",
      String(PLAN.windowReps),
    ], 120_000);
    stream = median((await sender.next<{ usPerDatagram: number[] }>()).usPerDatagram);
    await sender.end();
  } finally {
    await streamReceiver.end();
  }
  const swUs = median(sw16two.ms) * 1000 / sw16two.dataSegments;
  const ceiling = swUs / stream;
  section(
    `7b. ${
      PLAN.windowSmall / KIB
    } KiB with 16-byte segments: window 32 (selective repeat) vs Stop & Wait`,
    table(header, [
      row("Stop & Wait, one process", sw16, "1.00"),
      row("window 32, one process", w16, fmt(w16.mbPerS / sw16.mbPerS, 2)),
      row("Stop & Wait, two processes", sw16two, "1.00"),
      row(
        `window 32, two processes${w16two.exact && sw16two.exact ? "" : " (NOT byte-exact)"}`,
        w16two,
        fmt(w16two.mbPerS / sw16two.mbPerS, 2),
      ),
    ]) + "\n\nratio: goodput ÷ Stop & Wait's in the same setup and run. The ceiling, two " +
      `processes: a raw pipelined window of 41-byte datagrams (\`bench/_stream.ts\`, 32 in ` +
      `flight, one answer per 8) moves one datagram per ${fmt(stream)} µs; Stop & Wait here ` +
      `takes ${fmt(swUs)} µs per segment, so no window over Deno's UDP can pass ` +
      `${fmt(ceiling, 2)} × Stop & Wait on this machine in this run.`,
  );
  const ratio16 = Math.max(w16.mbPerS / sw16.mbPerS, w16two.mbPerS / sw16two.mbPerS);
  windowTargets.push([
    "mss 16: window 32 ≥ 8 × Stop & Wait's bytes per second",
    `one process ${fmt(w16.mbPerS / sw16.mbPerS, 2)}×, two processes ${
      fmt(w16two.mbPerS / sw16two.mbPerS, 2)
    }× (ceiling of a raw window of datagrams: ${fmt(ceiling, 2)}×)`,
    verdict(ratio16 >= 8),
  ]);

  note("7c. 10% loss each way through the relay: Stop & Wait, SR, GBN, Reno");
  const lossModes: [string, string[]][] = [
    ["Stop & Wait", []],
    ["window 32, selective repeat", ["--window", "32", "--arq", "sr"]],
    ["window 32, Go-Back-N", ["--window", "32", "--arq", "gbn"]],
    ["window 32, selective repeat, Reno", ["--window", "32", "--arq", "sr", "--cc", "reno"]],
    ["window 32, selective repeat, Tahoe", ["--window", "32", "--arq", "sr", "--cc", "tahoe"]],
  ];
  const lossResults: { name: string; mbPerS: number; row: string[] }[] = [];
  for (const [name, extra] of lossModes) {
    note(`7c. ${name}`);
    const runs = await repeat(
      { size: PLAN.windowLoss, extra, loss: 0.1, limitMs: 240_000, warmup: PLAN.windowLoss },
      PLAN.windowReps,
      150_000,
    );
    const ms = median(runs.map((r) => r.client.ms));
    const mbPerS = rate(PLAN.windowLoss, ms);
    lossResults.push({
      name,
      mbPerS,
      row: [
        name,
        `${fmt(ms)} ms`,
        `${fmt(mbPerS * 1000, 1)} kB/s`,
        fmt(mbPerS / (lossResults[0]?.mbPerS ?? mbPerS), 2),
        `${fmt(median(runs.map((r) => r.client.stats.retransmissions)), 0)} / ${
          fmt(median(runs.map((r) => r.client.stats.timeouts)), 0)
        }`,
        `${fmt(median(runs.map((r) => r.drops?.total ?? 0)), 0)}`,
        runs.length > 0 && runs.every((r) => r.exact) ? `yes (${runs.length})` : "NO",
      ],
    });
  }
  section(
    `7c. ${
      PLAN.windowLoss / KIB
    } KiB, mss 16, 10% loss each way through the relay (seeds 1..${PLAN.windowReps}, two processes)`,
    table(
      [
        "mode",
        "time (median)",
        "goodput",
        "÷ Stop & Wait",
        "retransmissions / timeouts",
        "drops",
        "byte-exact (reps)",
      ],
      lossResults.map((r) => r.row),
    ) +
      "\n\nEach transfer is preceded by an unmeasured one of the same size, through the same " +
      "relay, on a connection of its own (as in 7b): the JIT's first passes are not the protocol.",
  );
  const srLoss = lossResults[1].mbPerS / lossResults[0].mbPerS;
  windowTargets.push([
    "10% loss each way, window 32, SR, no congestion control: ≥ 5 × Stop & Wait's goodput",
    `${fmt(srLoss, 2)}× (GBN ${fmt(lossResults[2].mbPerS / lossResults[0].mbPerS, 2)}×, Reno ${
      fmt(lossResults[3].mbPerS / lossResults[0].mbPerS, 2)
    }×)`,
    verdict(srLoss >= 5),
  ]);

  note(`7d. ${PLAN.large / MIB} MiB, mss 1400, window 64 through the CLI`);
  const big = await largeSection(
    `7d. ${PLAN.large / MIB} MiB, --mss 1400 --window 64 --arq sr, through the CLI`,
    true,
    ["--window", "64", "--arq", "sr"],
  );
  windowTargets.push([
    `${PLAN.large / MIB} MiB, mss 1400, window 64: both ends < 120 MB resident`,
    `cliente ${mb(big.clientPeak)}, servidor ${mb(big.serverPeak)}${big.ok ? "" : " (FAILED)"}`,
    verdict(big.ok && big.clientPeak > 0 && big.clientPeak < 120e6 && big.serverPeak < 120e6),
  ]);
  section(
    "Targets of issue 13 (the sliding window)",
    table(["target", "measured", "verdict"], windowTargets),
  );
}

// 8. Spurious retransmissions on a loaded machine (issue 12, item 5).
if (RUN.has(8)) {
  note(`8. ${PLAN.loadSize / KIB} KiB beside two CPU hogs, stall guard off and on`);
  /** One transfer beside one spinning process per core, with the endpoint's stall guard `guard`. */
  const loaded = async (guard: "on" | "off", seed: number) => {
    const hogs = [0, 1].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", `${ROOT}bench/_hog.ts`, "--ms", "60000"],
        stdout: "null",
        stderr: "null",
      }).spawn()
    );
    try {
      const extra = ["--stall-guard", guard];
      return (await repeat({ size: PLAN.loadSize, extra, seed }, 1, 60_000))[0];
    } finally {
      for (const hog of hogs) {
        try {
          hog.kill();
        } catch { /* already gone */ }
        await hog.status;
      }
    }
  };
  const runs: Record<"off" | "on", TransferResult[]> = { off: [], on: [] };
  for (let rep = 0; rep < PLAN.loadReps; rep++) {
    for (const guard of ["off", "on"] as const) {
      const run = await loaded(guard, rep + 1);
      if (run) runs[guard].push(run);
    }
  }
  const row = (guard: "off" | "on") => {
    const list = runs[guard];
    const stat = (key: "retransmissions" | "spuriousRetransmissions" | "timeouts") =>
      median(list.map((r) => r.client.stats[key] ?? 0));
    return {
      ms: median(list.map((r) => r.client.ms)),
      retransmissions: stat("retransmissions"),
      spurious: stat("spuriousRetransmissions"),
      cells: [
        guard === "off" ? "off (as before)" : "on (the default)",
        `${fmt(median(list.map((r) => r.client.ms)))} ms`,
        fmt(stat("retransmissions"), 0),
        fmt(stat("spuriousRetransmissions"), 0),
        list.map((r) => `${r.client.stats.retransmissions}`).join(", "),
        list.length > 0 && list.every((r) => r.exact) ? `yes (${list.length})` : "NO",
      ],
    };
  };
  const off = row("off");
  const on = row("on");
  section(
    `8. Spurious retransmissions on a loaded machine: ${
      PLAN.loadSize / KIB
    } KiB, Stop & Wait, two processes, beside one CPU hog per core`,
    table(
      [
        "stall guard",
        "time (median)",
        "retransmissions (median)",
        "of them found spurious",
        "retransmissions per repetition",
        "byte-exact",
      ],
      [off.cells, on.cells],
    ) +
      "\n\nNo datagram is lost: every retransmission is caused by the load, and how much a " +
      "CPU hog delays these processes varies from minute to minute (from 12 to 700 resends per " +
      "repetition of the same run has been seen, with the guard off). Repetitions alternate " +
      "off and on. The guard: a retransmission timer that fires more than 1 ms late " +
      "(the process was not scheduled) waits one more timer tick, because Deno runs a timer " +
      "that fell due during a stall before the receives that completed in it, and the ACK it " +
      "would resend for is often already there. What remains is the peer's own stalls: its ACK " +
      "really is late, which the adaptive timeout learns from (spurious resends raise its floor).",
  );
  const segments = PLAN.loadSize / 16 + 1;
  targets.push([
    "Loaded machine (issue 12, item 5): load-caused resends rare (≤ 1% of the segments) with the stall guard",
    `${fmt(on.retransmissions, 0)} of ${segments} segments resent (${
      fmt(100 * on.retransmissions / segments, 2)
    }%); ${fmt(off.retransmissions, 0)} without the guard (medians of ${runs.on.length})`,
    verdict(runs.on.length > 0 && on.retransmissions <= 0.01 * segments),
  ]);
}

// A partial run (--sections) has no numbers for the sections it skipped: no verdict either.
const judged = targets.map(([target, measured, verdict]) =>
  PARTIAL && (measured.trim() === "" || measured.includes("—"))
    ? [target, "not measured in this run", "—"]
    : [target, measured, verdict]
);
section("Targets of issues 6, 11 and 12", table(["target", "measured", "verdict"], judged));
const markdown =
  `# Benchmark results${QUICK ? " (--quick smoke run: small sizes, few repetitions)" : ""}

Machine: ${description}. Command: \`deno task bench${QUICK ? " --quick" : ""}${
    PARTIAL ? ` --sections ${flags.sections}` : ""
  }\`, ` +
  `${fmt((performance.now() - began) / 1000, 0)} s.

${sections.join("\n\n")}
`;
await Deno.writeTextFile(OUT, markdown);
console.log(`\nwritten to ${OUT}`);
