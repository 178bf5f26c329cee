/**
 * The conformance checker: judges anyone's client or server of the
 * assignment, case by case. Each case runs a fresh process of the
 * implementation under test against socket-tcp's own server
 * (`servidor.ts --once`) or client (`cliente.ts`), with socket-tcp's relay
 * between them applying the case's faults deterministically and recording
 * every datagram both ways (the wire view). The verdict of a case says
 * whether the file arrived byte-exact, both processes ended by themselves,
 * and the wire followed the assignment's rules, each checked by name.
 *
 * ```sh
 * deno task conformance --server 'python3 servidor.py {port}' --cwd ~/tarea
 * deno task conformance --client 'python3 cliente.py {host} {port}' --cwd ~/tarea
 * ```
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import {
  CliError,
  formatCount as count,
  onStopSignals,
  parseArguments,
  parseCommandLine,
  STOP_SIGNALS,
  type StopSignal,
  UsageError,
} from "./cli.ts";
import { type CaseDefinition, CASES, payloadOf, relayRules } from "./conformance_cases.ts";
import {
  checkWire,
  quote,
  type Role,
  type RuleResult,
  RULES,
  SEGMENT_NAMES,
} from "./conformance_rules.ts";
import { relayTraceToMermaid } from "./diagram.ts";
import { freePort } from "./link.ts";
import { concatBytes } from "./segment.ts";
import { type RelayEvent, type RelayTraceRecord, relayTraceRecorder, startRelay } from "./relay.ts";

export { CASES, checkWire, type Role, type RuleResult, RULES };

/** The verdict of one case. */
export type Verdict = "pass" | "deviation" | "fail" | "hang" | "crash";

/** The result of one case. */
export interface CaseResult {
  /** The case's id. */
  id: string;
  /** Its verdict. */
  verdict: Verdict;
  /** One sentence a student understands, with the numbers. */
  reason: string;
  /** Wall time of the case, in seconds. */
  seconds: number;
  /** Datagrams that reached the relay, both ways. */
  datagrams: number;
  /** Every rule checked, broken ones first. */
  rules: RuleResult[];
  /** The wire view, for the diagram (not in the JSON report). */
  wire?: RelayTraceRecord[];
  /** When the case ended, epoch ms (not in the JSON report). */
  endedAt?: number;
}

// ------------------------------------------------------------- processes

/**
 * Fills a command template: `{host}`, `{port}`, `{file}` and `{dir}`; other braces stay.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fillTemplate } from "./conformance.ts";
 * assert.equal(
 *   fillTemplate("python3 s.py {host} {port} {x}", { host: "127.0.0.1", port: "9000" }),
 *   "python3 s.py 127.0.0.1 9000 {x}",
 * );
 * ```
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{(host|port|file|dir)\}/g, (all, name) => values[name] ?? all);
}

/** Quotes a value for `sh`. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

interface Running {
  name: string;
  child: Deno.ChildProcess;
  stdout: Promise<Uint8Array>;
  stderr: Promise<Uint8Array>;
  status: Promise<Deno.CommandStatus>;
  exited: boolean;
  killed: boolean;
}

async function collect(stream: ReadableStream<Uint8Array>, onChunk?: (text: string) => void) {
  const parts: Uint8Array[] = [];
  let size = 0;
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    // At most 16 MB is kept: a hostile process cannot fill the memory.
    if (size < 16 << 20) {
      parts.push(chunk);
      size += chunk.length;
    }
    onChunk?.(decoder.decode(chunk, { stream: true }));
  }
  return concatBytes(parts);
}

let setsid: boolean | undefined;

/** Whether the `setsid` command exists (asked once). */
function hasSetsid(): boolean {
  if (setsid === undefined) {
    try {
      setsid = new Deno.Command("sh", {
        args: ["-c", "command -v setsid"],
        stdout: "null",
        stderr: "null",
      }).outputSync().success;
    } catch {
      setsid = false;
    }
  }
  return setsid;
}

/** Every process started and not yet ended, so that Ctrl+C can stop them all. */
const live = new Set<Running>();

/** Set when a signal stops the checker: from then on no process starts and no report is written. */
let stopping = false;

/** Starts `args` in its own process group (so that a stop reaches its children). */
function spawn(
  name: string,
  args: string[],
  options: { cwd?: string; stdin?: Uint8Array; onStderr?: (text: string) => void },
): Running {
  if (stopping) throw new Error("the checker is stopping");
  // In a process group of its own where `setsid` exists (Linux), so that a stop reaches its
  // children; elsewhere (macOS) the process alone.
  const [command, ...rest] = hasSetsid() ? ["setsid", ...args] : args;
  const child = new Deno.Command(command, {
    args: rest,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    writer.write(options.stdin).then(() => writer.close()).catch(() => {});
  }
  const running: Running = {
    name,
    child,
    stdout: collect(child.stdout),
    stderr: collect(child.stderr, options.onStderr),
    status: child.status,
    exited: false,
    killed: false,
  };
  live.add(running);
  running.status.then(() => {
    running.exited = true;
    live.delete(running);
  });
  return running;
}

/** Stops a process and everything it started. */
async function stop(running: Running): Promise<void> {
  if (running.exited) return;
  running.killed = true;
  try {
    if (!hasSetsid()) throw new Error("no process group");
    await new Deno.Command("kill", {
      args: ["-KILL", "--", `-${running.child.pid}`],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // already gone
  }
  try {
    running.child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await running.status;
}

/** Tells whether some process has a UDP socket bound to `port` (Linux: /proc/net/udp). */
function udpPortBound(port: number): boolean | undefined {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  let known = false;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    try {
      const text = Deno.readTextFileSync(file);
      known = true;
      for (const line of text.split("\n").slice(1)) {
        const local = line.trim().split(/\s+/)[1];
        if (local && `${local} `.endsWith(hex)) return true;
      }
    } catch {
      // not Linux
    }
  }
  return known ? false : undefined;
}

/** A promise that never settles (a race's branch that does not apply). */
const never = new Promise<never>(() => {});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Races `promise` against `ms`; the timer is cleared either way. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function lastLine(bytes: Uint8Array): string {
  const lines = new TextDecoder().decode(bytes).split("\n").map((l) => l.trim()).filter((l) =>
    l !== ""
  );
  return lines.at(-1) ?? "";
}

function isCrash(stderr: Uint8Array, status: Deno.CommandStatus): boolean {
  const text = new TextDecoder().decode(stderr);
  return status.signal !== null && status.signal !== "SIGKILL" ||
    /Traceback \(most recent call last\)|^\s+at .+:\d+:\d+\)?$|panicked at|Exception in thread/m
      .test(text);
}

/** Where socket-tcp's own tools are. */
const HERE = new URL(".", import.meta.url);

/**
 * How long socket-tcp's end may still run after the implementation exited with
 * success: its close waits at most 3 timeouts of at most 500 ms (the adaptive
 * timeout's ceiling), so much more than that means the implementation left the
 * transfer or the close unfinished.
 */
const AFTER_EXIT_MS = 8_000;

/**
 * In a case where the close loses everything one end waits for
 * ({@linkcode CaseDefinition.givesUp}): how long the implementation may still
 * run once socket-tcp's end has ended with success. Step 8 gives up after 3
 * timeouts; 12 s leaves room for a fixed timeout of 3 s, and a program that
 * waits forever is judged then, not at the bound.
 */
const GIVE_UP_MS = 12_000;

/** How a case is run. */
export interface RunOptions {
  /** Which end the implementation under test plays. */
  role: Role;
  /** The command template (`{host}`, `{port}`, `{file}`, `{dir}`). */
  template: string;
  /** Working directory of the command. */
  cwd: string;
  /** Longest a process may run, in ms. Default 60,000. */
  bound?: number;
  /** Data bytes per segment. Default 16. */
  mss?: number;
  /** Filled into `{dir}`. Default: `cwd`. */
  dir?: string;
}

function deno(script: string, args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    "--unstable-net",
    "--allow-net",
    `--allow-read`,
    new URL(script, HERE).pathname,
    ...args,
  ];
}

/** Runs one case; never throws for what the implementation does. */
export async function runCase(
  definition: CaseDefinition,
  options: RunOptions,
): Promise<CaseResult> {
  const started = performance.now();
  const bound = options.bound ?? 60_000;
  const mss = options.mss ?? 16;
  const payload = payloadOf(definition);
  const tmp = await Deno.makeTempDir({ prefix: `conformance-${definition.id}-` });
  tempDirs.add(tmp);
  const file = `${tmp}/input.bin`;
  await Deno.writeFile(file, payload);
  const datagrams: { record: RelayTraceRecord; bytes: Uint8Array }[] = [];
  const wire: RelayTraceRecord[] = [];
  const record = relayTraceRecorder();
  const onEvent = (event: RelayEvent) => {
    const line = record(event);
    if (!line || line.kind !== "relay") return;
    wire.push(line);
    if (event.type === "datagram") datagrams.push({ record: line, bytes: event.bytes });
  };
  const processes: Running[] = [];
  let relay: Awaited<ReturnType<typeof startRelay>> | undefined;
  const elapsed = () => (performance.now() - started) / 1000;
  const result = (verdict: Verdict, reason: string, rules: RuleResult[] = []): CaseResult => ({
    id: definition.id,
    verdict,
    reason,
    seconds: Math.round(elapsed() * 100) / 100,
    datagrams: datagrams.length,
    rules,
    wire,
    endedAt: performance.timeOrigin + performance.now(),
  });
  const implName = options.role === "server" ? "the server" : "the client";
  const fill = (port: number) =>
    fillTemplate(options.template, {
      host: "127.0.0.1",
      port: String(port),
      file: shellQuote(file),
      dir: shellQuote(options.dir ?? options.cwd),
    });
  const relayFor = (target: number) =>
    startRelay({
      listen: { hostname: "127.0.0.1", port: 0 },
      target: { hostname: "127.0.0.1", port: target },
      rules: relayRules(definition.faults),
      toServer: definition.random,
      toClient: definition.random,
      seed: definition.random?.seed ?? 0,
      onEvent,
    });
  try {
    let impl: Running, ours: Running, output: () => Promise<Uint8Array>;
    let listening: string;
    if (options.role === "server") {
      const port = freePort();
      listening = `127.0.0.1:${port}`;
      impl = spawn("implementation", ["sh", "-c", fill(port)], { cwd: options.cwd });
      processes.push(impl);
      // Wait until it listens (Linux), or half a second.
      const deadline = performance.now() + Math.min(bound, 10_000);
      for (let known = true;;) {
        const listens = udpPortBound(port);
        if (listens === undefined && known) {
          // No /proc/net/udp (not Linux, or Deno's permissions): half a second, then
          // the same check whether it already exited.
          await sleep(500);
          known = false;
        } else if (listens !== false) break;
        if (impl.exited) {
          const status = await impl.status;
          const line = lastLine(await impl.stderr);
          const crash = isCrash(await impl.stderr, status);
          const when = known
            ? `before listening on port ${port}`
            : `within 0.5 s, before socket-tcp's client started (port ${port})`;
          return result(
            crash ? "crash" : "fail",
            `the server exited with code ${status.code} ${when}` + (line ? `: "${line}"` : ""),
          );
        }
        if (performance.now() > deadline) {
          return result(
            "hang",
            `the server did not listen on UDP port ${port} within ${
              Math.round(Math.min(bound, 10_000) / 1000)
            } s (is {port} where it binds?)`,
          );
        }
        await sleep(20);
      }
      relay = await relayFor(port);
      ours = spawn(
        "cliente.ts",
        deno("cliente.ts", ["127.0.0.1", String(relay.addr.port), "--quiet", "--mss", `${mss}`]),
        { stdin: payload, cwd: HERE.pathname },
      );
      processes.push(ours);
      output = () => impl.stdout;
    } else {
      const ready = Promise.withResolvers<number>();
      let seen = "";
      ours = spawn(
        "servidor.ts",
        deno("servidor.ts", ["127.0.0.1", "0", "--once", "--mss", `${mss}`]),
        {
          cwd: HERE.pathname,
          onStderr: (text) => {
            seen += text;
            const match = /listening on [^\s]*:(\d+)/.exec(seen);
            if (match) ready.resolve(Number(match[1]));
          },
        },
      );
      processes.push(ours);
      ours.status.then(() => ready.reject(new Error("socket-tcp's server exited")));
      const port = await within(ready.promise, 30_000);
      if (port === "timeout") throw new Error("socket-tcp's server did not start in 30 s");
      listening = `127.0.0.1:${port}`;
      relay = await relayFor(port);
      impl = spawn("implementation", ["sh", "-c", fill(relay.addr.port)], {
        cwd: options.cwd,
        stdin: payload,
      });
      processes.push(impl);
      output = () => ours.stdout;
    }
    // Both end by themselves, or are stopped at the bound; but when the implementation fails
    // (exits with an error) while socket-tcp's end still runs, the case ends then: socket-tcp's
    // end would only wait for it until the bound, and be blamed for it. When it exits with
    // success, socket-tcp's end gets AFTER_EXIT_MS to finish what the protocol asks of it.
    // In a case where the implementation must give up by itself, it gets GIVE_UP_MS once
    // socket-tcp's end ended with success.
    const ended = Promise.all(processes.map((p) => p.status)).then(() => "ended" as const);
    const oursDone = ours.status.then((status) =>
      definition.givesUp && status.success ? within(ended, GIVE_UP_MS) : never
    );
    await within(
      Promise.race([
        impl.status.then((status) =>
          ours.exited ? ended : status.success ? within(ended, AFTER_EXIT_MS) : "failed" as const
        ),
        oursDone,
      ]),
      Math.max(0, bound - (performance.now() - started)),
    );
    const stoppedAt = performance.timeOrigin + performance.now();
    for (const p of processes) await stop(p);
    // Stopped (not ended by itself) after the implementation ended: it left first.
    const exitedFirst = !impl.killed && ours.killed;
    await relay.close();
    relay = undefined;
    const seconds = elapsed();
    const implStatus = await impl.status;
    const oursStatus = await ours.status;
    const rules = checkWire({
      role: options.role,
      definition,
      datagrams,
      listening,
      mss,
      seconds,
      stoppedWaiting: impl.killed && !ours.killed && oursStatus.success ? stoppedAt : undefined,
    });
    const broken = rules.filter((r) => !r.ok);
    const implErr = await impl.stderr;
    const received = await output();
    const retransmit = broken.find((r) => r.rule === "retransmit");
    // A segment it never answered (a SYN, the length…) is the cause of whatever followed.
    const silent = broken.find((r) => r.rule === "unanswered");
    const explain = (text: string) => {
      if (silent) return ruleFirst(text);
      const first = retransmit ?? broken[0];
      return first ? `${text}; ${first.detail}` : text;
    };
    /**
     * When the implementation exited with an error: the rule it broke first (the cause, such
     * as a segment it never resent or never answered), then its exit (the consequence, in its
     * own words).
     */
    const ruleFirst = (text: string) => {
      const first = silent ?? retransmit ?? broken[0];
      return first ? `${first.detail}; then ${text}` : text;
    };
    if (!impl.killed && implStatus.code !== 0 && isCrash(implErr, implStatus)) {
      return result("crash", ruleFirst(`${implName} crashed: "${lastLine(implErr)}"`), rules);
    }
    /** `the client exited with code 2 …: "its last line on stderr"`. */
    const implExit = (when = "") => {
      const line = lastLine(implErr);
      return `${implName} exited with code ${implStatus.code}${when}${line ? `: "${line}"` : ""}`;
    };
    if (exitedFirst) {
      const other = `socket-tcp's ${options.role === "server" ? "client" : "server"}`;
      // The rule it broke (if any), then its own failure.
      if (implStatus.code !== 0) {
        return result("fail", ruleFirst(implExit(" before the transfer ended")), rules);
      }
      // A segment it never resent is the reason (a hang, below), as when the bound stops the case.
      if (!retransmit) {
        return result(
          "fail",
          explain(
            `${implExit(" before the transfer ended")}: ${other} still waited ` +
              `${AFTER_EXIT_MS / 1000} s later and had to be stopped`,
          ),
          rules,
        );
      }
    }
    if (impl.killed || ours.killed) {
      const stuck = [
        impl.killed ? implName : "",
        ours.killed ? `socket-tcp's ${options.role === "server" ? "client" : "server"}` : "",
      ].filter((s) => s).join(" and ");
      if (retransmit && !silent) return result("hang", `${retransmit.detail}`, rules);
      const givesUp = broken.find((r) => r.rule === "close-gives-up");
      if (givesUp) {
        const more = broken.length > 1 ? ` (and ${broken.length - 1} more rule(s) broken)` : "";
        return result("hang", `${givesUp.detail}${more}`, rules);
      }
      if (impl.killed && !ours.killed && oursStatus.code === 0 && sameBytes(received, payload)) {
        return result(
          "hang",
          explain(
            `the file arrived byte-exact and socket-tcp's ${
              options.role === "server" ? "client" : "server"
            } closed, but ${implName} still ran after ${Math.round(bound / 1000)} s` +
              (options.role === "server" ? " (a server under test must exit after one file)" : ""),
          ),
          rules,
        );
      }
      return result(
        "hang",
        explain(`${stuck} still ran after ${Math.round(bound / 1000)} s and had to be stopped`),
        rules,
      );
    }
    if (!sameBytes(received, payload)) {
      const damage = describeDamage(received, payload);
      return result(
        "fail",
        explain(implStatus.code !== 0 ? `${damage}; ${implExit()}` : damage),
        rules,
      );
    }
    if (implStatus.code !== 0) return result("fail", ruleFirst(implExit()), rules);
    if (oursStatus.code !== 0) {
      const line = lastLine(await ours.stderr);
      return result(
        "fail",
        explain(
          `socket-tcp's ${options.role === "server" ? "client" : "server"} exited with ` +
            `code ${oursStatus.code}${line ? `: "${line}"` : ""}`,
        ),
        rules,
      );
    }
    if (broken.length > 0) {
      const more = broken.length > 1 ? ` (and ${broken.length - 1} more rule(s) broken)` : "";
      return result("deviation", `${broken[0].detail}${more}`, rules);
    }
    return result("pass", "the file arrived byte-exact and both ends closed by themselves", rules);
  } catch (error) {
    return result("fail", `the case could not run: ${(error as Error).message}`);
  } finally {
    for (const p of processes) await stop(p);
    await Promise.all(processes.flatMap((p) => [p.stdout, p.stderr]));
    await relay?.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    tempDirs.delete(tmp);
  }
}

/** The temporary folders of the cases running. */
const tempDirs = new Set<string>();

/** Stops every process the checker started, starts no other, and removes its temporary folders. */
async function cleanUp(): Promise<void> {
  stopping = true;
  while (live.size > 0) await Promise.all([...live].map(stop));
  for (const dir of tempDirs) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // its case removed it first
    }
  }
  tempDirs.clear();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * What is wrong with the bytes the server wrote, quoting where they first differ from the
 * file; more bytes than the file are often a message printed to stdout.
 *
 * @example A message printed before the file
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeDamage } from "./conformance.ts";
 * const enc = (text: string) => new TextEncoder().encode(text);
 * assert.equal(
 *   describeDamage(enc("Conexion aceptada\nhola"), enc("hola")),
 *   'the server wrote 22 bytes, the file has 4; from byte 0, it wrote "Conexion aceptada\\x0ahola" ' +
 *     'where the file has "hola" (the standard output must hold only the file: write ' +
 *     "messages to stderr)",
 * );
 * ```
 */
export function describeDamage(received: Uint8Array, payload: Uint8Array): string {
  if (received.length === 0 && payload.length > 0) {
    return `the file did not arrive: the server wrote 0 of ${count(payload.length)} bytes`;
  }
  let i = 0;
  while (i < received.length && i < payload.length && received[i] === payload[i]) i++;
  const got = quote(received.subarray(i));
  const want = i < payload.length ? `the file has ${quote(payload.subarray(i))}` : "the file ended";
  const where = `from byte ${count(i)}, it wrote ${got} where ${want}`;
  if (received.length !== payload.length) {
    const extra = received.length > payload.length
      ? " (the standard output must hold only the file: write messages to stderr)"
      : "";
    return `the server wrote ${count(received.length)} bytes, the file has ${
      count(payload.length)
    }` + (i < received.length ? `; ${where}` : "") + extra;
  }
  return `the server wrote ${count(received.length)} bytes, but they differ: ${where}`;
}

/** Runs `tasks` with at most `limit` at once, in order of start; results in input order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ------------------------------------------------------------- reports

/** The JSON report of one implementation. */
export interface Report {
  /** The role of the implementation under test. */
  role: Role;
  /** The command template. */
  command: string;
  /** One result per case. */
  cases: Omit<CaseResult, "wire" | "endedAt">[];
  /** Cases that passed. */
  passed: number;
  /** Cases that did not (deviations included). */
  failed: number;
  /** Of those, the deviations: delivered and ended, but a rule was broken. */
  deviations: number;
}

/** Builds the JSON report. */
export function toReport(role: Role, command: string, results: CaseResult[]): Report {
  const cases = results.map(({ wire: _, endedAt: __, ...rest }) => rest);
  const passed = results.filter((r) => r.verdict === "pass").length;
  const deviations = results.filter((r) => r.verdict === "deviation").length;
  return { role, command, cases, passed, failed: results.length - passed, deviations };
}

/**
 * `N passed, N failed`, or with deviations `N passed, N with deviations, N failed` (the
 * failed are then the fails, hangs and crashes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summaryLine } from "./conformance.ts";
 * const verdicts = (...list: string[]) => list.map((verdict) => ({ verdict }));
 * assert.equal(summaryLine(verdicts("pass", "hang")), "1 passed, 1 failed");
 * assert.equal(summaryLine(verdicts("deviation", "deviation")), "0 passed, 2 with deviations, 0 failed");
 * ```
 */
export function summaryLine(results: readonly { verdict: string }[]): string {
  const passed = results.filter((r) => r.verdict === "pass").length;
  const deviations = results.filter((r) => r.verdict === "deviation").length;
  const failed = results.length - passed - deviations;
  return deviations === 0
    ? `${passed} passed, ${failed} failed`
    : `${passed} passed, ${deviations} with deviations, ${failed} failed`;
}

/**
 * The terminal table, ending with `N passed, N failed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTable } from "./conformance.ts";
 * const table = formatTable([
 *   { id: "ascii", verdict: "pass", reason: "ok", seconds: 0.5, datagrams: 26, rules: [] },
 *   { id: "lost-fin", verdict: "hang", reason: "no FIN again", seconds: 60, datagrams: 22, rules: [] },
 * ]);
 * assert.equal(table.split("\n").at(-1), "1 passed, 1 failed");
 * assert.match(table, /lost-fin +hang +60\.0 s +22 +no FIN again/);
 * ```
 */
export function formatTable(results: CaseResult[]): string {
  const idWidth = Math.max(4, ...results.map((r) => r.id.length));
  const lines = [
    `${"case".padEnd(idWidth)}  ${"verdict".padEnd(9)}  ${"time".padStart(7)}  ${
      "datagrams".padStart(9)
    }  reason`,
  ];
  for (const r of results) {
    lines.push(
      `${r.id.padEnd(idWidth)}  ${r.verdict.padEnd(9)}  ${
        `${r.seconds.toFixed(1)} s`.padStart(7)
      }  ${count(r.datagrams).padStart(9)}  ${r.reason}`,
    );
  }
  lines.push("", summaryLine(results));
  return lines.join("\n");
}

/** What the case expects, for the Markdown report. */
function expectation(definition: CaseDefinition): string {
  if (definition.givesUp) {
    return "the end that waits in the close gives up after 3 timeouts (step 8), the file " +
      "arrives byte-exact, and both ends close by themselves";
  }
  const lost = definition.faults.find((f) => f.action === "drop");
  if (lost) {
    return `the ${SEGMENT_NAMES[lost.kind] ?? lost.kind} is sent again after a timeout, the file ` +
      `arrives byte-exact, and both ends close by themselves`;
  }
  return "the file arrives byte-exact, both ends close by themselves, and every segment " +
    "follows the assignment's rules";
}

/** The Markdown report for the student: for every case not passed, its diagram. */
export function formatMarkdown(report: Report, results: CaseResult[]): string {
  const out = [
    `# Conformance of \`${report.command}\` (${report.role})`,
    "",
    `${summaryLine(results)}.`,
    "",
    "| case | verdict | time | datagrams | reason |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const r of results) {
    out.push(
      `| ${r.id} | ${r.verdict} | ${r.seconds.toFixed(1)} s | ${r.datagrams} | ${
        r.reason.replaceAll("|", "\\|")
      } |`,
    );
  }
  for (const r of results) {
    if (r.verdict === "pass") continue;
    const definition = CASES.find((c) => c.id === r.id)!;
    out.push(
      "",
      `## ${r.id}: ${r.verdict}`,
      "",
      `**Case:** ${definition.en}.`,
      "",
      `**Expected:** ${expectation(definition)}.`,
      "",
      `**What happened:** ${r.reason}.`,
    );
    const broken = r.rules.filter((rule) => !rule.ok);
    if (broken.length > 0) {
      out.push("", "**Rules broken:**", "");
      for (const rule of broken) {
        out.push(`- \`${rule.rule}\` (${RULES[rule.rule]}): ${rule.detail}`);
      }
    }
    if (r.wire && r.wire.length > 0) {
      out.push(
        "",
        "The exchange as the relay saw it (a lost datagram is drawn `-x` where it was dropped):",
        "",
        relayTraceToMermaid(r.wire, { until: r.endedAt }).trimEnd(),
      );
    }
    out.push(
      "",
      "To replay it by hand, put the relay with this case's faults between your " +
        `${report.role} and socket-tcp's (or your own) ${
          report.role === "server" ? "client" : "server"
        }:`,
      "",
      "```sh",
      `deno run --allow-net relay.ts --listen 9000 --target localhost:8000 --case ${r.id}`,
      "```",
    );
  }
  return out.join("\n") + "\n";
}

// ------------------------------------------------------------- batch

/** One row of a batch summary. */
export interface BatchRow {
  /** The submission (the subfolder's name). */
  submission: string;
  /** The report, or the reason it has none. */
  report?: Report;
  error?: string;
}

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The batch summary: submission × case, as Markdown and CSV. */
export function formatBatch(rows: BatchRow[], ids: string[]): { markdown: string; csv: string } {
  const md = [
    `| submission | passed | ${ids.join(" | ")} |`,
    `| --- | --- | ${ids.map(() => "---").join(" | ")} |`,
  ];
  const csv = [["submission", "passed", "failed", ...ids].join(",")];
  for (const row of rows) {
    const verdicts = ids.map((id) => row.report?.cases.find((c) => c.id === id)?.verdict ?? "");
    const passed = row.report ? `${row.report.passed}/${row.report.cases.length}` : "error";
    md.push(`| ${row.submission} | ${passed} | ${verdicts.join(" | ")} |`);
    csv.push(
      [
        csvCell(row.submission),
        row.report ? String(row.report.passed) : "",
        row.report ? String(row.report.failed) : csvCell(row.error ?? ""),
        ...verdicts,
      ].join(","),
    );
  }
  return { markdown: md.join("\n") + "\n", csv: csv.join("\n") + "\n" };
}

// ------------------------------------------------------------- command line

const USAGE = `Usage: deno task conformance (--server TEMPLATE | --client TEMPLATE) [options]

Judges an implementation of the assignment (Stop & Wait over UDP) case by
case: each case runs the command against socket-tcp's own client or server,
through a relay that applies the case's faults and records the wire.

The command TEMPLATE runs with sh -c in --cwd, with these filled in:
  {host} {port}   where to listen (server) or send (client)
  {file}          the path of the file to send (a client may read stdin instead)
  {dir}           the submission's folder (with --batch)
A server under test writes what it received to its standard output.

Options:
  --server TEMPLATE   the implementation is a server
  --client TEMPLATE   the implementation is a client
  --cwd DIR           where the command runs (default: the folder you ran
                      deno task from, $INIT_CWD, else the current directory)
  --cases A,B         run only these cases (default: all)
  --list              list the cases, one line each, and exit
  --bound SECONDS     stop a process still running after this long (default 60)
  --mss N             data bytes per segment (default 16)
  --parallel N        cases run at once (default 4)
  --json FILE         write the results as JSON
  --markdown FILE     write a report with a sequence diagram of every case not passed
  --batch DIR         judge every subfolder of DIR as one submission ({dir})
  --jobs N            submissions judged at once with --batch (default 1)
  --force             with --batch, judge again the submissions already judged
  --quiet             no table, only the last line
  --help              print this help

A relative DIR or FILE is taken from the folder you ran deno task from
($INIT_CWD; deno task itself runs in socket-tcp's folder), else from the
current directory. The files to write are checked before any case runs.
Ctrl+C, SIGTERM and SIGHUP stop every process the checker started.

Exit status: 0 every case passed, 1 some did not (or a file cannot be
written), 2 bad usage, 130 Ctrl+C, 143 SIGTERM, 129 SIGHUP.

Example:
  deno task conformance --server 'python3 servidor.py {host} {port}' --cwd ~/tarea`;

interface Options {
  role: Role;
  template: string;
  /** Absolute, like every path below. */
  cwd: string;
  cases: CaseDefinition[];
  bound: number;
  mss: number;
  parallel: number;
  json?: string;
  markdown?: string;
  batch?: string;
  jobs: number;
  force: boolean;
  quiet: boolean;
  list: boolean;
}

function positiveNumber(text: string | undefined, option: string, fallback: number, int = false) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (
    text.trim() === "" || !(value > 0) || !Number.isFinite(value) || int && !Number.isInteger(value)
  ) {
    throw new UsageError(
      `--${option} is "${text}", expected ${int ? "an integer >= 1" : "a number > 0"}`,
    );
  }
  return value;
}

/**
 * The folder the user ran the checker from: `deno task` runs a task in the project's folder and
 * says where it was run from in `INIT_CWD` (when `--allow-env` lets it be read); without it, the
 * current directory.
 */
function invocationDir(): string {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: "INIT_CWD" }).state === "granted";
  return (granted ? Deno.env.get("INIT_CWD") : undefined) || Deno.cwd();
}

/** Refuses a `path` (given as `given` to `option`) that is not a folder the checker may read. */
function requireDirectory(option: string, given: string, path: string): void {
  // Asked first: without the permission, stat would say "not found" (or prompt).
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new CliError(`conformance: cannot read ${option} "${given}": add --allow-read`);
  }
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(path);
  } catch {
    // below
  }
  if (!info?.isDirectory) throw new UsageError(`${option} "${given}" is not a directory`);
}

/**
 * Refuses, before any case runs, a file (`path`, given as `given` to `option`) that could not
 * be written once they all ran. A file that is not there is created and removed again; one
 * that is there is opened for writing and left as it was.
 */
function requireWritable(option: string, given: string, path: string): void {
  const cannot = (why: string) =>
    new CliError(`conformance: cannot write ${option} "${given}": ${why}`);
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw cannot(`add --allow-write=${path}`);
  }
  try {
    try {
      Deno.openSync(path, { write: true, createNew: true }).close();
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      Deno.openSync(path, { write: true }).close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw cannot(`no directory "${dirname(path)}"`);
    if (error instanceof Deno.errors.NotADirectory) {
      throw cannot(`"${dirname(path)}" is not a directory`);
    }
    if (error instanceof Deno.errors.IsADirectory) throw cannot("it is a directory");
    if (error instanceof Deno.errors.PermissionDenied) throw cannot("permission denied");
    throw cannot((error as Error).message.split("\n")[0]);
  }
}

function parseOptions(args: string[]): Options | "help" {
  const { values, positionals } = parseArguments(args, {
    server: { type: "string" },
    client: { type: "string" },
    cwd: { type: "string" },
    cases: { type: "string" },
    list: { type: "boolean", default: false },
    bound: { type: "string" },
    mss: { type: "string" },
    parallel: { type: "string" },
    json: { type: "string" },
    markdown: { type: "string" },
    batch: { type: "string" },
    jobs: { type: "string" },
    force: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  }, Infinity);
  if (values.help) return "help";
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}" (quote the command template)`);
  }
  let cases = [...CASES];
  if (values.cases !== undefined) {
    const ids = values.cases.split(",").map((id) => id.trim()).filter((id) => id !== "");
    const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
    if (ids.length === 0 || unknown.length > 0) {
      throw new UsageError(
        `--cases has unknown case "${unknown[0] ?? ""}"; see --list for the case ids`,
      );
    }
    cases = CASES.filter((c) => ids.includes(c.id));
  }
  // Under deno task the current directory is socket-tcp's folder, not the user's.
  const from = invocationDir();
  const absolute = (path: string | undefined) =>
    path === undefined ? undefined : resolve(from, path);
  const base = {
    cases,
    bound: positiveNumber(values.bound, "bound", 60) * 1000,
    mss: positiveNumber(values.mss, "mss", 16, true),
    parallel: positiveNumber(values.parallel, "parallel", 4, true),
    jobs: positiveNumber(values.jobs, "jobs", 1, true),
    json: absolute(values.json),
    markdown: absolute(values.markdown),
    batch: absolute(values.batch),
    force: values.force,
    quiet: values.quiet,
    list: values.list,
    cwd: absolute(values.cwd) ?? from,
  };
  if (values.list) return { ...base, role: "server", template: "" };
  if ((values.server === undefined) === (values.client === undefined)) {
    throw new UsageError("give one of --server TEMPLATE or --client TEMPLATE");
  }
  const role: Role = values.server !== undefined ? "server" : "client";
  const template = (values.server ?? values.client)!;
  if (template.trim() === "") throw new UsageError(`--${role} is empty, expected a command`);
  if (!template.includes("{port}")) {
    throw new UsageError(
      `--${role} "${template}" has no {port}: the command must take the port to ${
        role === "server" ? "listen on" : "send to"
      }`,
    );
  }
  if (values.batch === undefined && template.includes("{dir}") && values.cwd === undefined) {
    throw new UsageError("the template uses {dir}, which only --batch fills in");
  }
  if (base.batch === undefined) {
    requireDirectory(
      values.cwd === undefined ? "the default --cwd" : "--cwd",
      values.cwd ?? base.cwd,
      base.cwd,
    );
    // What is written at the end is checked now, not after every case ran.
    if (base.json) requireWritable("--json", values.json!, base.json);
    if (base.markdown) requireWritable("--markdown", values.markdown!, base.markdown);
  } else {
    requireDirectory("--batch", values.batch!, base.batch);
    requireWritable("--batch", values.batch!, `${base.batch}/conformance-summary.md`);
  }
  return { ...base, role, template };
}

/** Judges one implementation: every case, `parallel` at a time. */
export async function judge(
  options: RunOptions & { cases: readonly CaseDefinition[]; parallel?: number },
  onResult?: (result: CaseResult) => void,
): Promise<CaseResult[]> {
  return await pool(options.cases, options.parallel ?? 4, async (definition) => {
    if (stopping) throw new Error("the checker is stopping");
    const result = await runCase(definition, options);
    // A case whose processes a signal stopped is no verdict, and not counted as done.
    if (stopping) throw new Error("the checker is stopping");
    onResult?.(result);
    return result;
  });
}

/** How far the checker got, for the line it says when stopped. */
interface Progress {
  done: number;
  total: number;
  unit: string;
}

async function runBatch(options: Options, progress: Progress): Promise<number> {
  const root = options.batch!;
  const folders: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isDirectory && !entry.name.startsWith(".")) folders.push(entry.name);
  }
  folders.sort();
  Object.assign(progress, { total: folders.length, unit: "submission(s)" });
  const rows = await pool(folders, options.jobs, async (name): Promise<BatchRow> => {
    const dir = `${root}/${name}`;
    const saved = `${dir}/conformance.json`;
    if (!options.force) {
      try {
        const report = JSON.parse(await Deno.readTextFile(saved)) as Report;
        if (!options.quiet) console.error(`conformance: ${name}: already judged (--force to redo)`);
        progress.done++;
        return { submission: name, report };
      } catch {
        // not judged yet
      }
    }
    try {
      const results = await judge({
        role: options.role,
        template: options.template,
        cwd: dir,
        dir,
        bound: options.bound,
        mss: options.mss,
        cases: options.cases,
        parallel: options.parallel,
      });
      // Cases cut short by a signal are no verdict: saved, they would be taken as judged.
      if (stopping) throw new Error("the checker is stopping");
      const report = toReport(options.role, options.template, results);
      await Deno.writeTextFile(saved, JSON.stringify(report, null, 2) + "\n");
      await Deno.writeTextFile(`${dir}/conformance.md`, formatMarkdown(report, results));
      if (!options.quiet) {
        console.error(`conformance: ${name}: ${summaryLine(results)}`);
      }
      progress.done++;
      return { submission: name, report };
    } catch (error) {
      return { submission: name, error: (error as Error).message };
    }
  });
  if (stopping) return 1;
  const ids = options.cases.map((c) => c.id);
  const { markdown, csv } = formatBatch(rows, ids);
  await Deno.writeTextFile(`${root}/conformance-summary.md`, markdown);
  await Deno.writeTextFile(`${root}/conformance-summary.csv`, csv);
  const allPass = rows.every((r) => r.report && r.report.failed === 0);
  console.error(
    `conformance: ${rows.length} submission(s); summary in ${root}/conformance-summary.md and .csv`,
  );
  return allPass ? 0 : 1;
}

/** Judges one implementation from the command line: the table, and the files asked for. */
async function runOne(options: Options, progress: Progress): Promise<number> {
  // A command that does not start at all is bad input, said once.
  const probe = fillTemplate(options.template, {
    host: "127.0.0.1",
    port: "1",
    file: "x",
    dir: options.cwd,
  }).trim().split(/\s+/)[0];
  if (probe && !probe.includes("/") && !/[=$`;&|(]/.test(probe)) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${shellQuote(probe)}`],
      cwd: options.cwd,
      stdout: "null",
      stderr: "null",
    }).output();
    if (!found.success) {
      throw new CliError(`conformance: cannot start "${probe}": command not found`);
    }
  }
  const tty = Deno.stderr.isTerminal();
  const results = await judge({
    role: options.role,
    template: options.template,
    cwd: options.cwd,
    bound: options.bound,
    mss: options.mss,
    cases: options.cases,
    parallel: options.parallel,
  }, (result) => {
    progress.done++;
    if (tty && !options.quiet) {
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `\r\x1b[2K${progress.done}/${options.cases.length} ${result.id}: ${result.verdict}`,
        ),
      );
    }
  });
  // Cases cut short by a signal are no verdict: main says what was done instead.
  if (stopping) return 1;
  if (tty && !options.quiet) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  // The same failure to start in every case is said once, as the problem it is.
  const same = (reason: string) => reason.replace(/port \d+/g, "port N");
  const first = results[0]?.reason;
  if (
    first && results.every((r) => same(r.reason) === same(first)) &&
    /before listening|did not listen|exited with code \d+ (before|within)/.test(first)
  ) {
    console.error(`conformance: ${first}`);
  }
  const report = toReport(options.role, options.template, results);
  const table = formatTable(results);
  if (options.quiet) console.log(table.split("\n").at(-1));
  else console.log(table);
  if (options.json) {
    await Deno.writeTextFile(options.json, JSON.stringify(report, null, 2) + "\n");
  }
  if (options.markdown) {
    await Deno.writeTextFile(options.markdown, formatMarkdown(report, results));
  }
  return report.failed === 0 ? 0 : 1;
}

/** Listens to the stop signals this system has, until disposed. */
function listenForStop(): { signal: Promise<StopSignal> } & Disposable {
  const { promise, resolve } = Promise.withResolvers<StopSignal>();
  const listening = onStopSignals((signal) => {
    stopping = true; // at once: no process starts and no report is written from now on
    resolve(signal);
  });
  return { signal: promise, [Symbol.dispose]: () => listening[Symbol.dispose]() };
}

/** The command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed: Options | number;
  try {
    parsed = parseCommandLine("conformance", USAGE, () => parseOptions(args));
  } catch (error) {
    // A folder that cannot be read or a file that cannot be written: one line, before any case.
    if (!(error instanceof CliError)) throw error;
    console.error(error.message);
    return 1;
  }
  if (typeof parsed === "number") return parsed;
  const options = parsed;
  if (!options.list && typeof Deno.listenDatagram !== "function") {
    console.error("conformance: UDP needs --unstable-net (deno task conformance passes it)");
    return 1;
  }
  if (options.list) {
    const width = Math.max(...CASES.map((c) => c.id.length));
    for (const c of CASES) console.log(`${c.id.padEnd(width)}  ${c.en}`);
    return 0;
  }
  using stop = listenForStop();
  const progress: Progress = { done: 0, total: options.cases.length, unit: "case(s)" };
  try {
    const outcome = await Promise.race([
      options.batch !== undefined ? runBatch(options, progress) : runOne(options, progress),
      stop.signal,
    ]);
    if (typeof outcome === "number") return outcome;
    await cleanUp();
    if (Deno.stderr.isTerminal() && !options.quiet) {
      Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    }
    const what = `${progress.done} of ${progress.total} ${progress.unit}`;
    console.error(
      outcome === "SIGINT"
        ? `conformance: interrupted after ${what}`
        : `conformance: stopped by ${outcome} after ${what}`,
    );
    return STOP_SIGNALS[outcome];
  } catch (error) {
    if (error instanceof CliError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
