/**
 * Helpers shared by the command-line tools: option parsing and the one way
 * every tool reports bad usage (`cliente.ts`, `servidor.ts`, `demo.ts`,
 * `soak.ts`, `diagram.ts`, `plot.ts`, `relay.ts`), permission checks, the
 * progress bar, summaries, trace output and an incremental SHA-256. The
 * plain-UDP mode (`--udp`) is in `udp_mode.ts`.
 *
 * Nothing here needs a permission of its own: colour is used only when
 * `--allow-env` happens to be granted, and terminal detection needs none.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs, type ParseArgsOptionsConfig, styleText } from "node:util";
import type { Arq } from "./connection.ts";
import { CONGESTION_CONTROLS, type CongestionControl } from "./congestion.ts";
import { editDistance } from "./errors.ts";
import { MAX_MSS } from "./socket_tcp.ts";
import { formatTraceLine, type TraceEvent, type TraceKind, type TraceSink } from "./trace.ts";

export type { TraceEvent, TraceKind, TraceSink };

// ------------------------------------------------------------------ usage

/** Bad command-line usage: the tools print the message and a pointer to `--help`, and exit 2. */
export class UsageError extends Error {
  /** Creates the error; the message says which argument is wrong and what was expected. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An expected failure: the tools print its message as one line and exit 1. */
export class CliError extends Error {
  /** Creates the error; the message is the whole line shown to the user. */
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * Tells whether `error` is bad usage: a {@linkcode UsageError} or an error
 * of `parseArgs` from `node:util` (unknown option, missing value…).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isUsageError, UsageError } from "./cli.ts";
 * assert.equal(isUsageError(new UsageError("expected HOST and PORT")), true);
 * assert.equal(isUsageError(new RangeError("a bug")), false);
 * ```
 */
export function isUsageError(error: unknown): error is Error {
  return error instanceof UsageError ||
    (error instanceof TypeError && "code" in error &&
      String(error.code).startsWith("ERR_PARSE_ARGS"));
}

/** What {@linkcode parseArguments} returns: the options' values and the positional arguments. */
export type ParsedArguments<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>
>;

/**
 * Parses a command line with `parseArgs` from `node:util`, so that every
 * spelling of a mistake gets the same one-line message:
 *
 * - `--name VALUE`, `--name=VALUE`, `-n VALUE` and `-nVALUE` are the same,
 *   also when VALUE is a negative number (`--timeout -1`): the tool's own
 *   check of the value then names it, whatever the spelling;
 * - an unknown option (with the closest known one, if any), a missing
 *   value, a value given to a flag, or more than `maxPositionals`
 *   positional arguments throws a {@linkcode UsageError} of one line.
 *
 * Run it inside {@linkcode parseCommandLine}, which prints the error.
 *
 * @throws {UsageError} on bad usage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArguments } from "./cli.ts";
 * const options = { timeout: { type: "string" }, quiet: { type: "boolean" } } as const;
 * const { values, positionals } = parseArguments(["8000", "--timeout", "-1"], options, 1);
 * assert.deepEqual([values.timeout, positionals], ["-1", ["8000"]]);
 * assert.throws(() => parseArguments(["--timout", "5"], options), {
 *   message: "unknown option --timout (did you mean --timeout?)",
 * });
 * assert.throws(() => parseArguments(["--timeout"], options), {
 *   message: "--timeout needs a value",
 * });
 * assert.throws(() => parseArguments(["a.txt"], options), { message: 'unexpected argument "a.txt"' });
 * ```
 */
export function parseArguments<const O extends ParseArgsOptionsConfig>(
  args: readonly string[],
  options: O,
  maxPositionals = 0,
): ParsedArguments<O> {
  const longs = new Map(Object.entries(options));
  const shorts = new Map<string, string>();
  for (const [name, option] of longs) if (option.short) shorts.set(option.short, name);
  const normal: string[] = [];
  const positionals: string[] = [];
  const value = (flag: string, next: string | undefined): string => {
    // A value may begin with "-" only when it is a number (or "-" alone): anything
    // else that looks like an option means the value was forgotten.
    if (next === undefined || (/^-./.test(next) && !/^-\.?\d/.test(next))) {
      throw new UsageError(`${flag} needs a value`);
    }
    return next;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const option = longs.get(name);
      if (!option) throw new UsageError(unknownOption(`--${name}`, [...longs.keys()]));
      if (option.type === "boolean") {
        if (eq >= 0) throw new UsageError(`--${name} takes no value`);
        normal.push(`--${name}`);
      } else {
        normal.push(eq >= 0 ? arg : `--${name}=${value(arg, args[++i])}`);
      }
    } else if (/^-[^\d.]/.test(arg)) {
      // Short options: -h, -o FILE, -oFILE, -qh.
      for (let k = 1; k < arg.length; k++) {
        const name = shorts.get(arg[k]);
        if (name === undefined) throw new UsageError(unknownOption(`-${arg[k]}`, []));
        if (longs.get(name)!.type === "boolean") {
          normal.push(`--${name}`);
          continue;
        }
        const rest = arg.slice(k + 1);
        normal.push(`--${name}=${rest !== "" ? rest : value(`-${arg[k]}`, args[++i])}`);
        break;
      }
    } else {
      positionals.push(arg);
    }
  }
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${positionals[maxPositionals]}"`);
  }
  let values: ParsedArguments<O>["values"];
  try {
    values = parseArgs({ args: normal, options, strict: true, allowPositionals: true }).values;
  } catch (error) {
    // Not expected after the normalisation above; still bad usage, in one line.
    if (isUsageError(error)) throw new UsageError(firstLine(error.message));
    throw error;
  }
  return { values, positionals } as ParsedArguments<O>;
}

/** `unknown option --timout (did you mean --timeout?)`. */
function unknownOption(flag: string, known: string[]): string {
  const name = flag.replace(/^-+/, "");
  const close = known.find((candidate) =>
    name.length > 1 && (candidate.startsWith(name) || editDistance(name, candidate) <= 2)
  );
  return close === undefined
    ? `unknown option ${flag}`
    : `unknown option ${flag} (did you mean --${close}?)`;
}

function firstLine(text: string): string {
  return text.split(/\n|\. /)[0].replace(/\.$/, "");
}

/**
 * The command that prints a tool's help, read from the first line of its
 * usage (`Usage: deno task soak …` gives `deno task soak --help`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpCommand } from "./cli.ts";
 * const usage = "Usage: deno run --allow-net cliente.ts HOST PORT [options] < FILE";
 * assert.equal(helpCommand("cliente", usage), "deno run --allow-net cliente.ts --help");
 * assert.equal(helpCommand("soak", "Usage: deno task soak [options]"), "deno task soak --help");
 * ```
 */
export function helpCommand(tool: string, usage: string): string {
  const match = /^Usage: (deno task \S+|.*?\S+\.ts)\b/.exec(usage);
  return `${match ? match[1] : tool} --help`;
}

/** The language of a drawing's words (`--lang`): Spanish, the report's, or English. */
export type Lang = "es" | "en";

/**
 * Reads a drawing tool's `--lang`: `es` when absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLang } from "./cli.ts";
 * assert.equal(parseLang(undefined), "es");
 * assert.equal(parseLang("en"), "en");
 * assert.throws(() => parseLang("fr"), /--lang is "fr", expected es or en/);
 * ```
 *
 * @throws {UsageError} for any other value.
 */
export function parseLang(value: string | undefined): Lang {
  const lang = value ?? "es";
  if (lang !== "es" && lang !== "en") {
    throw new UsageError(`--lang is "${lang}", expected es or en`);
  }
  return lang;
}

/**
 * Prints bad usage the one way every tool does: `TOOL: what is wrong`, then
 * `TOOL: run "… --help" for usage`, on stderr. Returns 2, the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportUsageError, UsageError } from "./cli.ts";
 * const usage = "Usage: deno run --allow-net relay.ts --listen [HOST:]PORT --target HOST:PORT";
 * const code = reportUsageError("relay", usage, new UsageError("--listen is required"));
 * assert.equal(code, 2); // stderr: relay: --listen is required
 * //                                relay: run "deno run --allow-net relay.ts --help" for usage
 * ```
 */
export function reportUsageError(tool: string, usage: string, error: Error): number {
  const message = error instanceof UsageError ? error.message : firstLine(error.message);
  console.error(`${tool}: ${message}\n${tool}: run "${helpCommand(tool, usage)}" for usage`);
  return 2;
}

/**
 * Runs `parse` over a tool's command line. Returns an exit code instead when
 * there is nothing to run: 0 after printing `usage` on stdout when `parse`
 * returns `"help"`; 2 after printing what is wrong and where the help is
 * (see {@linkcode reportUsageError}) on bad usage (see
 * {@linkcode isUsageError}). Other errors are thrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArguments, parseCommandLine } from "./cli.ts";
 * const code = parseCommandLine("demo", "Usage: deno task demo [options]", () => {
 *   parseArguments(["--bogus"], { help: { type: "boolean" } });
 *   return {};
 * });
 * assert.equal(code, 2); // stderr: "demo: unknown option --bogus" and where the help is
 * ```
 */
export function parseCommandLine<T extends object>(
  tool: string,
  usage: string,
  parse: () => T | "help",
): T | number {
  try {
    const parsed = parse();
    if (parsed === "help") {
      console.log(usage);
      return 0;
    }
    return parsed;
  } catch (error) {
    if (!isUsageError(error)) throw error;
    return reportUsageError(tool, usage, error);
  }
}

/**
 * Parses an integer option in `[min, max]`; `undefined` stays `undefined`.
 *
 * @throws {UsageError} naming the option and the expected range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseInteger } from "./cli.ts";
 * assert.equal(parseInteger("16", "mss", 1, 60000), 16);
 * assert.throws(() => parseInteger("-1", "timeout", 1, 600000), {
 *   message: '--timeout is "-1", expected an integer in 1..600000',
 * });
 * ```
 */
export function parseInteger(
  text: string | undefined,
  option: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new UsageError(`--${option} is "${text}", expected an integer ${range}`);
  }
  return value;
}

/**
 * Parses a probability option in `[0, 1]` (`[0, 1)` when `below1`);
 * `undefined` stays `undefined`.
 *
 * @throws {UsageError} naming the option and the expected range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProbability } from "./cli.ts";
 * assert.equal(parseProbability("0.2", "loss"), 0.2);
 * assert.throws(() => parseProbability("2", "loss"), {
 *   message: '--loss is "2", expected a probability in 0..1',
 * });
 * ```
 */
export function parseProbability(
  text: string | undefined,
  option: string,
  below1 = false,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0 && (below1 ? value < 1 : value <= 1))) {
    throw new UsageError(
      `--${option} is "${text}", expected a probability in 0..1${below1 ? " (below 1)" : ""}`,
    );
  }
  return value;
}

/**
 * The `parseArgs` options that `cliente.ts` and `servidor.ts` share, with
 * the same meaning and defaults in both.
 */
export const TRANSFER_OPTIONS = {
  timeout: { type: "string" },
  mss: { type: "string" },
  window: { type: "string" },
  arq: { type: "string" },
  cc: { type: "string" },
  trace: { type: "boolean", default: false },
  "trace-file": { type: "string" },
  udp: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const;

/**
 * Parses `--mss`: 1..{@linkcode MAX_MSS} (65,482, the most `SocketTCP`
 * takes), 16 by default, and at least 16 with `--udp`.
 *
 * @throws {UsageError} naming the option and the expected range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMss } from "./cli.ts";
 * assert.equal(parseMss("65482", false), 65_482);
 * assert.throws(() => parseMss("65483", false), {
 *   message: '--mss is "65483", expected an integer in 1..65482',
 * });
 * ```
 */
export function parseMss(text: string | undefined, udp: boolean): number {
  const mss = parseInteger(text, "mss", 1, MAX_MSS) ?? 16;
  if (udp && mss < 16) throw new UsageError(`--mss is ${mss}, expected >= 16 with --udp`);
  return mss;
}

/** The sliding window's options of the command line: `--window`, `--arq`, `--cc`. */
export interface WindowOptions {
  /** Segments in flight (1: Stop & Wait). */
  window: number;
  /** Loss recovery. */
  arq: Arq;
  /** Congestion control. */
  congestion: CongestionControl;
}

/** `--arq` names: short and long. */
const ARQ_NAMES: Record<string, Arq> = {
  gbn: "go-back-n",
  "go-back-n": "go-back-n",
  sr: "selective-repeat",
  "selective-repeat": "selective-repeat",
};

/** The flags of {@linkcode TRANSFER_OPTIONS} that {@linkcode checkTransferFlags} checks. */
export interface TransferFlags {
  /** `--window`. */
  window?: string;
  /** `--arq`. */
  arq?: string;
  /** `--cc`. */
  cc?: string;
  /** `--trace`. */
  trace?: boolean;
  /** `--trace-file`. */
  "trace-file"?: string;
  /** `--udp`. */
  udp?: boolean;
}

/**
 * Refuses the flags of {@linkcode TRANSFER_OPTIONS} that cannot work: an
 * empty `--trace-file` (Deno would refuse it with a stack trace later), and
 * with `--udp`, which has no segments, no window and no trace, any of
 * `--window`, `--arq`, `--cc`, `--trace` and `--trace-file`.
 * {@linkcode parseWindowOptions} calls it, so every tool that parses the
 * window's flags gets these checks too.
 *
 * @throws {UsageError} naming the flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTransferFlags } from "./cli.ts";
 * assert.throws(() => checkTransferFlags({ udp: true, trace: true }), {
 *   message: "--trace has no meaning with --udp",
 * });
 * assert.throws(() => checkTransferFlags({ "trace-file": "" }), {
 *   message: "--trace-file is empty, expected a file",
 * });
 * checkTransferFlags({ trace: true, "trace-file": "t.jsonl" }); // fine without --udp
 * ```
 */
export function checkTransferFlags(values: TransferFlags): void {
  if (values["trace-file"] === "") throw new UsageError("--trace-file is empty, expected a file");
  if (!values.udp) return;
  for (const name of ["window", "arq", "cc", "trace-file"] as const) {
    if (values[name] !== undefined) throw new UsageError(`--${name} has no meaning with --udp`);
  }
  if (values.trace) throw new UsageError("--trace has no meaning with --udp");
}

/**
 * Parses `--window N` (1..4096, default 1), `--arq gbn|sr` (default gbn) and
 * `--cc none|tahoe|reno` (default none); `--udp` takes none of them. Checks
 * the other flags of a transfer first, with {@linkcode checkTransferFlags}.
 *
 * @throws {UsageError} naming the option and what it accepts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseWindowOptions } from "./cli.ts";
 * assert.deepEqual(parseWindowOptions({ window: "32", arq: "sr", cc: "reno" }), {
 *   window: 32, arq: "selective-repeat", congestion: "reno",
 * });
 * assert.throws(() => parseWindowOptions({ arq: "gnb" }), /--arq is "gnb", expected gbn or sr/);
 * ```
 */
export function parseWindowOptions(values: TransferFlags): WindowOptions {
  checkTransferFlags(values);
  const window = parseInteger(values.window, "window", 1, 4096) ?? 1;
  const arq = values.arq === undefined ? "go-back-n" : ARQ_NAMES[values.arq];
  if (arq === undefined) throw new UsageError(`--arq is "${values.arq}", expected gbn or sr`);
  const congestion = (values.cc ?? "none") as CongestionControl;
  if (!CONGESTION_CONTROLS.includes(congestion)) {
    throw new UsageError(`--cc is "${values.cc}", expected none, tahoe or reno`);
  }
  return { window, arq, congestion };
}

/**
 * The mode of a transfer in words, for summaries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeMode } from "./cli.ts";
 * assert.equal(describeMode({ window: 1, arq: "go-back-n", congestion: "none" }), "Stop & Wait");
 * assert.equal(
 *   describeMode({ window: 32, arq: "selective-repeat", congestion: "reno" }),
 *   "window 32, selective repeat, Reno",
 * );
 * ```
 */
export function describeMode(mode: WindowOptions): string {
  const parts = mode.window === 1
    ? ["Stop & Wait"]
    : [`window ${mode.window}`, mode.arq === "go-back-n" ? "Go-Back-N" : "selective repeat"];
  if (mode.congestion !== "none") {
    parts.push(mode.congestion === "reno" ? "Reno" : "Tahoe");
  }
  return parts.join(", ");
}

/**
 * Parses a port argument in `min..65535`: 0 picks a free port where a port
 * is listened on, so a client asks for `min` 1.
 *
 * @throws {UsageError} when it is not a port number in range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePort } from "./cli.ts";
 * assert.equal(parsePort("8000"), 8000);
 * assert.throws(() => parsePort("0", "PORT", 1), {
 *   message: 'PORT is "0", expected a port number in 1..65535',
 * });
 * ```
 */
export function parsePort(text: string, what = "PORT", min = 0): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > 65535) {
    throw new UsageError(`${what} is "${text}", expected a port number in ${min}..65535`);
  }
  return value;
}

/** What {@linkcode parseFileArgs} returns. */
export type ParsedFileArgs<O extends ParseArgsOptionsConfig> = ParsedArguments<O>;

/**
 * Parses the command line of a tool that reads the files named as arguments
 * (`diagram.ts`, `plot.ts`); `options` must hold a boolean `help`. Returns an
 * exit code instead when there is nothing to run: 0 after printing `usage` on
 * stdout for `--help`; 2 on bad usage or when no file is named, after
 * printing what is wrong and where the help is (see
 * {@linkcode reportUsageError}). `tool` is the prefix of those lines, by
 * default the task named in `usage` (`Usage: deno task diagram …`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFileArgs } from "./cli.ts";
 * const parsed = parseFileArgs(["a.jsonl"], { help: { type: "boolean" } }, "Usage: …");
 * assert.deepEqual(typeof parsed === "number" ? parsed : parsed.positionals, ["a.jsonl"]);
 * ```
 */
export function parseFileArgs<
  const O extends ParseArgsOptionsConfig & { help: { type: "boolean" } },
>(
  args: string[],
  options: O,
  usage: string,
  tool: string = /^Usage: deno task (\S+)/.exec(usage)?.[1] ?? "usage",
): ParsedFileArgs<O> | number {
  return parseCommandLine(tool, usage, () => {
    const parsed = parseArguments(args, options, Infinity);
    if ((parsed.values as { help?: boolean }).help) return "help";
    if (parsed.positionals.length === 0) throw new UsageError("expected a trace file to read");
    return parsed;
  });
}

// ------------------------------------------------------------ permissions

/**
 * Checks that a permission is granted, without ever prompting.
 *
 * @throws {CliError} naming the Deno flag to add, e.g. `--allow-write=out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CliError, requirePermission } from "./cli.ts";
 * const check = () => requirePermission("servidor", { name: "run" }, "--allow-run", "to run");
 * if (Deno.permissions.querySync({ name: "run" }).state === "granted") check();
 * else assert.throws(check, CliError);
 * ```
 */
export function requirePermission(
  tool: string,
  descriptor: Deno.PermissionDescriptor,
  flag: string,
  purpose: string,
): void {
  if (Deno.permissions.querySync(descriptor).state !== "granted") {
    throw new CliError(`${tool}: missing permission ${purpose}: run it with ${flag}`);
  }
}

/**
 * Checks the permission to write the trace file of `--trace-file`, if any.
 *
 * @throws {CliError} naming the flag to add, `--allow-write=FILE`.
 */
export function requireTraceFilePermission(tool: string, traceFile: string | undefined): void {
  if (traceFile === undefined) return;
  requirePermission(
    tool,
    { name: "write", path: traceFile },
    `--allow-write=${traceFile}`,
    "to write the trace file",
  );
}

/**
 * The permission Deno refused, read from a `Deno.errors.NotCapable`
 * ("Requires read access to …"): its kind (`read`, `write`, `net`, `run`,
 * …, or `all`) and what it was asked for; `undefined` for any other error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusedPermission } from "./cli.ts";
 * const error = new Deno.errors.NotCapable(
 *   'Requires read access to "/srv/lab", run again with the --allow-read flag',
 * );
 * assert.deepEqual(refusedPermission(error), { kind: "read", what: "/srv/lab" });
 * assert.equal(refusedPermission(new Error("Requires read access to x")), undefined);
 * ```
 */
export function refusedPermission(error: unknown): { kind: string; what?: string } | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  const match = /Requires (\w+) access(?: to "([^"]*)")?/.exec(error.message);
  if (!match) return undefined;
  return match[2] === undefined ? { kind: match[1] } : { kind: match[1], what: match[2] };
}

/**
 * Why a file operation failed, as the end of a one-line error: the
 * operating system's reason as Deno gives it (`Not a directory (os error
 * 20): mkdir 'a/b'`), or for a permission Deno refused, the flag that grants
 * it (`flags` when given, else `--allow-KIND=PATH`). Never Deno's own advice
 * to "run again with the --allow-all flag": Deno keeps system paths (under
 * `/dev`, `/proc` or `/sys`) out of reach of `--allow-read` and
 * `--allow-write`, and no tool here should get every permission to write one
 * file, so the reason says to choose another path instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFileError } from "./cli.ts";
 * const special = new Deno.errors.NotCapable(
 *   'Requires all access to "/proc/x", run again with the --allow-all flag',
 * );
 * assert.equal(
 *   describeFileError(special),
 *   '"/proc/x" is a system path, which Deno keeps out of reach of --allow-read and ' +
 *     "--allow-write: choose another path",
 * );
 * const denied = new Deno.errors.NotCapable(
 *   'Requires write access to "out", run again with the --allow-write flag',
 * );
 * assert.equal(describeFileError(denied), 'no write access to "out": run it with --allow-write=out');
 * assert.equal(
 *   describeFileError(new Deno.errors.NotFound("No such file or directory (os error 2)")),
 *   "No such file or directory (os error 2)",
 * );
 * ```
 */
export function describeFileError(error: unknown, flags?: string): string {
  const refused = refusedPermission(error);
  if (refused?.kind === "all") {
    const path = refused.what === undefined ? "it" : JSON.stringify(refused.what);
    return `${path} is a system path, which Deno keeps out of reach of --allow-read and ` +
      "--allow-write: choose another path";
  }
  if (refused !== undefined) {
    const flag = refused.what === undefined
      ? `--allow-${refused.kind}`
      : `--allow-${refused.kind}=${refused.what}`;
    const what = refused.what === undefined ? "" : ` to ${JSON.stringify(refused.what)}`;
    return `no ${refused.kind} access${what}: run it with ${flags ?? flag}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Deno's advice, on an error this function does not know, is not ours to repeat.
  return message.replace(/, run again with the --allow-\w+ flag$/, "");
}

// ------------------------------------------------------------- formatting

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

/**
 * Formats a count with thousands separators: `12,345`; given a `unit`, with
 * the unit after it, singular for exactly 1 (`1 byte`, `2 bytes`), and
 * `plural` for the others when adding "s" will not do (`3 tries`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./cli.ts";
 * assert.equal(formatCount(12345), "12,345");
 * assert.equal(formatCount(1, "byte"), "1 byte");
 * assert.equal(formatCount(0, "byte"), "0 bytes");
 * assert.equal(formatCount(772768, "byte"), "772,768 bytes");
 * assert.equal(formatCount(3, "try", "tries"), "3 tries");
 * ```
 */
export function formatCount(value: number, unit?: string, plural = `${unit}s`): string {
  const count = integer.format(value);
  if (unit === undefined) return count;
  return `${count} ${value === 1 ? unit : plural}`;
}

/**
 * An error message of the protocol, written as a sentence of its own
 * ("Peer 127.0.0.1:8000 closed the connection", "Peer announced …"), made
 * the clause that follows a colon in a tool's line: the peer named as `who`
 * ("the client"), and no capital letter after the colon.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { asClause } from "./cli.ts";
 * assert.equal(
 *   asClause("Peer 127.0.0.1:8000 closed the connection", "the client"),
 *   "the client closed the connection",
 * );
 * assert.equal(
 *   asClause('Peer announced message length "hola", expected a decimal number', "it"),
 *   'it announced message length "hola", expected a decimal number',
 * );
 * assert.equal(asClause("Both ends sent at seq 5 at once", "it"), "both ends sent at seq 5 at once");
 * assert.equal(asClause("SYN+ACK never came", "it"), "SYN+ACK never came");
 * ```
 */
export function asClause(message: string, who: string): string {
  const peer = /^Peer (?:\S+:\d+ )?(?=[a-z])/.exec(message);
  if (peer) return `${who} ${message.slice(peer[0].length)}`;
  // A capital that starts a word in lower case ("Both"), not an acronym ("SYN").
  return /^[A-Z][a-z]/.test(message) ? message[0].toLowerCase() + message.slice(1) : message;
}

/**
 * Formats a byte count in binary units: `512 B`, `12.3 KiB`, `4.0 MiB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./cli.ts";
 * assert.equal(formatBytes(12600), "12.3 KiB");
 * assert.equal(formatBytes(512), "512 B");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${integer.format(bytes)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${decimal.format(value)} ${units[unit]}`;
}

/** Formats a duration in ms as `850 ms` or `12.3 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${integer.format(ms)} ms` : `${decimal.format(ms / 1000)} s`;
}

/** Formats a rate from bytes and ms: `3.2 KiB/s`. */
export function formatRate(bytes: number, ms: number): string {
  return `${formatBytes(ms > 0 ? (bytes * 1000) / ms : 0)}/s`;
}

/** Whether colour may be used on stderr: a terminal, and `--allow-env` already granted (never asked for). */
function colourAllowed(): boolean {
  return Deno.stderr.isTerminal() &&
    Deno.permissions.querySync({ name: "env" }).state === "granted";
}

/**
 * Styles text for stderr with `styleText` (which respects `NO_COLOR`), only
 * when stderr is a terminal and env access is already granted; otherwise
 * returns the text as it is. Never prompts for a permission.
 */
export function paint(format: Parameters<typeof styleText>[0], text: string): string {
  if (!colourAllowed()) return text;
  try {
    return styleText(format, text, { validateStream: false });
  } catch {
    return text;
  }
}

// -------------------------------------------------------------- SHA-256

/** An incremental SHA-256 (from `node:crypto`), so that files are hashed as they stream. */
export class Sha256 {
  readonly #hash = createHash("sha256");

  /** Adds bytes to the hash. */
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }

  /** The digest in lowercase hex; call it once, at the end. */
  hex(): string {
    return this.#hash.digest("hex");
  }

  /** The digest as 32 bytes; call it once, at the end (instead of `hex`). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
  }

  /** The SHA-256 of `bytes` in hex, at once. */
  static of(bytes: Uint8Array): string {
    const hash = new Sha256();
    hash.update(bytes);
    return hash.hex();
  }
}

// --------------------------------------------------------------- stderr

const encoder = new TextEncoder();

/** Writes all of `bytes` to a writer such as `Deno.stdout`. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await writer.write(bytes.subarray(written));
}

/** What a progress bar shows. */
export interface ProgressState {
  /** Bytes done so far. */
  done: number;
  /** Bytes in all, when known. */
  total?: number;
  /** Retransmissions so far. */
  retransmissions: number;
  /** When given, the line is `LABEL: DONE` (say, `reading stdin: 12.0 MiB`) instead of a bar. */
  label?: string;
}

/** Where a {@linkcode Progress} draws: stderr, or a stand-in in tests. */
export interface ProgressOutput {
  /** Whether it is a terminal: a bar is drawn only on one. */
  isTerminal(): boolean;
  /** Writes bytes at once. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * A one-line progress bar on stderr, drawn only while stderr is a terminal,
 * redrawn at most 10 times a second. Other stderr lines go through
 * {@linkcode Progress.log} so that they do not mix with the bar.
 *
 * {@linkcode Progress.follow} redraws on a timer, from where the progress is
 * read (a socket's acknowledged count), so that the bar moves with the
 * transfer, not with the reading of its input; {@linkcode Progress.done}
 * stops that timer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Progress } from "./cli.ts";
 * let text = "";
 * const output = {
 *   isTerminal: () => true,
 *   writeSync: (bytes: Uint8Array) => (text += new TextDecoder().decode(bytes), bytes.length),
 * };
 * const progress = new Progress(true, { output });
 * progress.follow(() => ({ done: 512, total: 1024, retransmissions: 0 }));
 * assert.ok(text.includes(" 50%  512 B / 1.0 KiB"));
 * progress.done(); // clears the line and the timer
 * ```
 */
export class Progress {
  readonly #enabled: boolean;
  readonly #output: ProgressOutput;
  readonly #every: number;
  readonly #start = performance.now();
  #lastDraw = -Infinity;
  #shown = false;
  #finished = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #state: () => ProgressState = () => ({ done: 0, retransmissions: 0 });

  /**
   * Creates a bar; it draws nothing when `enabled` is false or `output`
   * (default stderr) is not a terminal. `everyMs` (default 150) is the
   * period of {@linkcode Progress.follow}'s redraws.
   */
  constructor(
    enabled: boolean,
    options: { output?: ProgressOutput; everyMs?: number } = {},
  ) {
    this.#output = options.output ?? Deno.stderr;
    this.#every = options.everyMs ?? 150;
    this.#enabled = enabled && this.#output.isTerminal();
  }

  /**
   * Records where the progress is read from, and redraws if the last redraw
   * is 100 ms old: `state` runs only then, not on every update of a transfer
   * that updates once per segment.
   */
  update(state: () => ProgressState): void {
    this.#state = state;
    if (!this.#enabled || this.#finished) return;
    const now = performance.now();
    if (now - this.#lastDraw < 100) return;
    this.#draw();
  }

  /**
   * Draws from `state` now, then every `everyMs` until {@linkcode Progress.hide}
   * or {@linkcode Progress.done}, whether or not anything calls
   * {@linkcode Progress.update}. Nothing runs when the bar is not drawn.
   */
  follow(state: () => ProgressState): void {
    this.#state = state;
    if (!this.#enabled || this.#finished) return;
    this.#timer ??= setInterval(() => this.#draw(), this.#every);
    this.#draw();
  }

  /** Prints a line on stderr above the bar. */
  log(line: string): void {
    if (this.#shown) this.#clear();
    this.#output.writeSync(encoder.encode(`${line}\n`));
    if (this.#shown) this.#draw();
  }

  /** Removes the bar and stops its timer until the next update or follow. */
  hide(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) this.#clear();
    this.#shown = false;
  }

  /** Removes the bar for good: later updates draw nothing. */
  done(): void {
    this.hide();
    this.#finished = true;
  }

  #clear(): void {
    this.#output.writeSync(encoder.encode("\r\x1b[2K"));
  }

  #draw(): void {
    this.#lastDraw = performance.now();
    const { done, total, retransmissions, label } = this.#state();
    const elapsed = performance.now() - this.#start;
    const width = 24;
    let bar = "";
    if (label !== undefined) {
      this.#output.writeSync(encoder.encode(`\r\x1b[2K${label}: ${formatBytes(done)}`));
      this.#shown = true;
      return;
    }
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, done / total);
      const filled = Math.round(fraction * width);
      bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
        Math.floor(fraction * 100).toString().padStart(3)
      }%  ${formatBytes(done)} / ${formatBytes(total)}`;
    } else {
      bar = formatBytes(done);
    }
    const line = `${bar}  ${formatRate(done, elapsed)}  retransmissions ${
      formatCount(retransmissions)
    }`;
    this.#output.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    this.#shown = true;
  }
}

// ---------------------------------------------------------------- traces

/** Where trace events go: text lines on stderr (`--trace`) and/or JSON lines in a file (`--trace-file`). */
export class TraceOutput {
  readonly #file: Deno.FsFile | null;
  readonly #text: boolean;
  readonly #origin = performance.timeOrigin + performance.now();
  readonly #print: (line: string) => void;
  readonly #prefix: (event: TraceEvent) => string;
  #buffer = "";

  /**
   * Opens the trace outputs. `print` writes a text line (through the
   * progress bar); `prefix` may add, say, the peer to each text line.
   *
   * @throws {CliError} when the trace file cannot be created.
   */
  constructor(options: {
    tool: string;
    text: boolean;
    file?: string;
    print: (line: string) => void;
    prefix?: (event: TraceEvent) => string;
  }) {
    this.#text = options.text;
    this.#print = options.print;
    this.#prefix = options.prefix ?? (() => "");
    if (options.file === undefined) {
      this.#file = null;
    } else {
      try {
        this.#file = Deno.openSync(options.file, { write: true, create: true, truncate: true });
      } catch (error) {
        throw new CliError(
          `${options.tool}: cannot write the trace file ${options.file}: ${
            describeFileError(error, `--allow-write=${options.file}`)
          }`,
        );
      }
    }
  }

  /** Whether any trace output is on. */
  get enabled(): boolean {
    return this.#text || this.#file !== null;
  }

  /** The sink to pass as `onTrace`, or `undefined` when tracing is off. */
  get sink(): TraceSink | undefined {
    return this.enabled ? (event) => this.write(event) : undefined;
  }

  /** Writes one event. */
  write(event: TraceEvent): void {
    if (this.#text) this.#print(this.#prefix(event) + formatTraceLine(event, this.#origin));
    if (this.#file) {
      this.#buffer += JSON.stringify(event) + "\n";
      if (this.#buffer.length >= 65536) this.flush();
    }
  }

  /** Writes the buffered JSON lines to the file. */
  flush(): void {
    if (!this.#file || this.#buffer === "") return;
    const bytes = encoder.encode(this.#buffer);
    this.#buffer = "";
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }

  /** Flushes and closes the file. */
  close(): void {
    this.flush();
    this.#file?.close();
  }
}

// -------------------------------------------------------------- summary

/** What a summary reports. */
export interface Summary {
  /** Bytes of the file. */
  bytes: number;
  /** Segments (or datagrams) sent and received. */
  segmentsSent: number;
  /** Segments received. */
  segmentsReceived: number;
  /** Retransmissions (the spurious ones included). */
  retransmissions: number;
  /** Retransmissions that were not needed (the first copy's ACK came after all). */
  spurious?: number;
  /** Duplicates received. */
  duplicates: number;
  /** The server's segments received but not taken (out of order, or no room), when any. */
  refused?: number;
  /** The assignment's extra copies of the last ACK (2 when the close went as it should). */
  lastAckCopies?: number;
  /** Time until every byte was delivered, ms: the goodput's time. */
  elapsed: number;
  /** Time the close took after the delivery, ms, when it is part of the run. */
  closeElapsed?: number;
  /** SHA-256 in hex. */
  sha256: string;
  /** The mode (see {@linkcode describeMode}), when the summary names it. */
  mode?: string;
  /** With congestion control: the final and the peak congestion window, in segments. */
  cwnd?: { final: number; peak: number };
}

/**
 * Formats a summary as indented lines under a title line. The time is the
 * delivery's; the close, whose deliberate waits are the assignment's, is
 * given apart, as are its copies of the last ACK.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSummary } from "./cli.ts";
 * const text = formatSummary("cliente: sent", {
 *   bytes: 2048, segmentsSent: 140, segmentsReceived: 135, retransmissions: 7,
 *   spurious: 1, duplicates: 1, lastAckCopies: 2, elapsed: 1000, closeElapsed: 204,
 *   sha256: "ab",
 * });
 * assert.equal(text, [
 *   "cliente: sent 2,048 bytes in 1.0 s; closed in 204 ms",
 *   "  segments: 140 sent, 135 received; retransmissions: 7 (1 spurious); duplicates: 1",
 *   "  last ACK sent 3 times, as the assignment asks",
 *   "  goodput: 2.0 KiB/s",
 *   "  SHA-256: ab",
 * ].join("\n"));
 * ```
 */
export function formatSummary(title: string, summary: Summary): string {
  const close = summary.closeElapsed === undefined
    ? ""
    : `; closed in ${formatDuration(summary.closeElapsed)}`;
  const spurious = summary.spurious ? ` (${formatCount(summary.spurious)} spurious)` : "";
  const copies = summary.lastAckCopies
    ? [`  last ACK sent ${summary.lastAckCopies + 1} times, as the assignment asks`]
    : [];
  return [
    `${title} ${formatCount(summary.bytes, "byte")} in ${formatDuration(summary.elapsed)}${close}`,
    `  segments: ${formatCount(summary.segmentsSent)} sent, ${
      formatCount(summary.segmentsReceived)
    } received; retransmissions: ${formatCount(summary.retransmissions)}${spurious}; duplicates: ${
      formatCount(summary.duplicates)
    }`,
    ...(summary.refused
      ? [
        `  refused: ${
          formatCount(summary.refused, "segment")
        } (out of order, or no room: the server had not read what came before)`,
      ]
      : []),
    ...copies,
    `  goodput: ${formatRate(summary.bytes, summary.elapsed)}`,
    ...(summary.mode === undefined
      ? []
      : [`  mode: ${summary.mode}${
        summary.cwnd
          ? `; cwnd: ${round2(summary.cwnd.final)} final, ${
            round2(summary.cwnd.peak)
          } peak segments`
          : ""
      }`]),
    `  SHA-256: ${summary.sha256}`,
  ].join("\n");
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The signals that stop a tool, each with its exit code (128 + its number). */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
/** One of {@linkcode STOP_SIGNALS}. */
export type StopSignal = keyof typeof STOP_SIGNALS;

/**
 * Calls `onStop` with the signal's name on each of the
 * {@linkcode STOP_SIGNALS} this system has (Windows has SIGINT only), until
 * disposed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onStopSignals, STOP_SIGNALS } from "./cli.ts";
 * using listening = onStopSignals(() => {});
 * assert.ok(listening.signals.includes("SIGINT"));
 * assert.equal(STOP_SIGNALS.SIGTERM, 143);
 * ```
 */
export function onStopSignals(
  onStop: (signal: StopSignal) => void,
): { signals: StopSignal[] } & Disposable {
  const listening: [StopSignal, () => void][] = [];
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    const listener = () => onStop(signal);
    try {
      Deno.addSignalListener(signal, listener);
      listening.push([signal, listener]);
    } catch {
      // not on this system
    }
  }
  return {
    signals: listening.map(([signal]) => signal),
    [Symbol.dispose]() {
      for (const [signal, listener] of listening) Deno.removeSignalListener(signal, listener);
    },
  };
}
