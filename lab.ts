/**
 * The web lab: `deno task lab` serves a page where a student picks a case
 * (or custom faults), runs a real transfer between two {@linkcode SocketTCP}
 * on loopback through the fault injector, and watches it live: the sequence
 * diagram, the time-sequence graph, the counters and the verdict. It also
 * replays `--trace-file` traces.
 *
 * The page's files live in `lab/` and are served from memory; nothing comes
 * from the Internet. Routes:
 * - `GET /` and the files of `lab/`;
 * - `GET /api/config`: the cases, the limits, the sample message, the fault fields;
 * - `POST /api/run?PARAMS` (body: the file, with `msg=file`): runs one
 *   transfer and streams its events as Server-Sent Events; closing the
 *   stream stops the transfer;
 * - `POST /api/trace` (body: `{"files":[{"name","text"}]}`): the records of a replay.
 *
 * A refused request gets `{ error, errorEs, param? }`: the reason in English
 * and in Spanish (the page shows the one of its language), and the parameter
 * it names.
 *
 * @example Start the lab on any free port, fetch its cases, stop it
 * ```ts
 * import assert from "node:assert/strict";
 * import { startLab } from "./lab.ts";
 *
 * await using lab = await startLab({ port: 0 });
 * const config = await (await fetch(new URL("/api/config", lab.url))).json();
 * assert.equal(config.cases[0].id, "normal");
 * ```
 *
 * @module
 */
import {
  describeFileError,
  formatCount,
  parseArguments,
  parseCommandLine,
  parsePort,
  refusedPermission,
  UsageError,
} from "./cli.ts";
import {
  DIRECTIONS,
  FAULT_FIELDS,
  LAB_CASES,
  LIMITS,
  PARAM_NAMES,
  ParamError,
  parseRunParams,
  runMessage,
} from "./lab_params.ts";
import { type LabEnd, type LabMessage, LabTransfer } from "./lab_run.ts";
import { MAX_TRACE_BYTES, parseReplay, TraceError } from "./lab_trace.ts";
import { CLIENT_TIMEOUT, SCENARIO_MESSAGE, SERVER_TIMEOUT } from "./scenarios.ts";
import { concatBytes } from "./segment.ts";

/** Options of {@linkcode startLab}. */
export interface LabOptions {
  /** Address to serve the page on. Default `127.0.0.1`. */
  hostname?: string;
  /** Port; 0 for any free port. Default 8080. */
  port?: number;
  /** Transfers running at once (one per page); more are refused with 503. Default 4. */
  maxTransfers?: number;
  /** Milliseconds between two batches of events on a stream. Default 40 (25 per second). */
  flushInterval?: number;
  /** Called with the end of every transfer (for logs and tests). */
  onTransferEnd?: (end: LabEnd) => void;
}

/** Counters of a running lab. */
export interface LabCounters {
  /** Transfers started. */
  started: number;
  /** Transfers running now. */
  active: number;
  /** Requests refused: bad parameters, too large, or too many transfers. */
  refused: number;
  /** Transfers that did not finish: stopped (Stop, a closed tab, the time limit) or failed (a peer gave up). */
  stopped: number;
}

/** A running lab. */
export interface LabServer extends AsyncDisposable {
  /** The page's address, `http://host:port/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** What it has done. */
  readonly counters: LabCounters;
  /** Resolves when no transfer is running. */
  idle(): Promise<void>;
  /** Stops every transfer and the server. */
  shutdown(): Promise<void>;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'",
};

/** While a transfer's counters do not change, its stream sends them this often, ms. */
const IDLE_STATS_MS = 1000;

/** Reads the page's files (`lab/`) into memory. */
async function loadStatic(): Promise<Map<string, { body: Uint8Array; type: string }>> {
  const dir = new URL("./lab/", import.meta.url);
  const files = new Map<string, { body: Uint8Array; type: string }>();
  for await (const entry of Deno.readDir(dir)) {
    const type = TYPES[entry.name.split(".").pop() ?? ""];
    if (!entry.isFile || !type) continue;
    files.set(`/${entry.name}`, { body: await Deno.readFile(new URL(entry.name, dir)), type });
  }
  files.set("/", files.get("/index.html")!);
  return files;
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...SECURITY_HEADERS },
  });
}

/** Reads a request body, refusing it beyond `limit` bytes (returns `null`). */
async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body) {
    total += chunk.length;
    if (total > limit) return null;
    chunks.push(chunk);
  }
  return concatBytes(chunks);
}

/** Whether `hostname` (from a URL) is an IP address rather than a name. */
function isAddress(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith("[");
}

/** The configuration the page loads first. */
export function labConfig(): Record<string, unknown> {
  return {
    cases: LAB_CASES,
    limits: LIMITS,
    sample: SCENARIO_MESSAGE,
    directions: DIRECTIONS,
    faultFields: FAULT_FIELDS,
    params: PARAM_NAMES,
    caseTimeouts: { client: CLIENT_TIMEOUT, server: SERVER_TIMEOUT },
  };
}

/**
 * Starts the lab.
 *
 * @throws {Deno.errors.AddrInUse} when the port is taken (and other errors of `Deno.serve`).
 */
export async function startLab(options: LabOptions = {}): Promise<LabServer> {
  const files = await loadStatic();
  const maxTransfers = options.maxTransfers ?? 4;
  const flushInterval = options.flushInterval ?? 40;
  const counters: LabCounters = { started: 0, active: 0, refused: 0, stopped: 0 };
  const transfers = new Set<LabTransfer>();
  const running = new Set<Promise<unknown>>();
  const encoder = new TextEncoder();

  // Every refusal says why in English (`error`) and in Spanish (`errorEs`): the page shows
  // the one of its language.
  const refuse = (
    status: number,
    error: string,
    errorEs: string,
    param?: string,
    allow?: string,
  ): Response => {
    counters.refused++;
    const response = json({ error, errorEs, ...(param ? { param } : {}) }, status);
    if (allow) response.headers.set("allow", allow);
    return response;
  };

  const run = async (request: Request, url: URL): Promise<Response> => {
    let params, message;
    try {
      params = parseRunParams(url.searchParams);
      const body = await readBody(request, LIMITS.maxBytes);
      if (body === null) {
        return refuse(
          413,
          `the message is larger than ${LIMITS.maxBytes} bytes`,
          `el mensaje tiene más de ${LIMITS.maxBytes} bytes`,
          "msg",
        );
      }
      message = runMessage(params, body);
    } catch (error) {
      if (error instanceof ParamError) {
        return refuse(400, error.message, error.messageEs, error.param);
      }
      throw error;
    }
    if (counters.active >= maxTransfers) {
      return refuse(
        503,
        `the lab is running ${formatCount(counters.active, "transfer")} already: try again`,
        `el laboratorio ya está ejecutando ${
          formatCount(counters.active, "transferencia")
        }: intente de nuevo`,
      );
    }
    counters.started++;
    counters.active++;
    let transfer!: LabTransfer;
    let timer: ReturnType<typeof setInterval> | undefined;
    let queue: LabMessage[] = [];
    let open = true;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        // The counters go with every batch that has events; while nothing happens, only when
        // they changed, or once a second, so that an idle stream stays quiet but alive.
        let lastStats = "";
        let lastSent = 0;
        const flush = () => {
          if (!open) return;
          const batch = queue;
          queue = [];
          const ended = batch.some((m) => m.t === "end");
          if (!ended) {
            const stats = transfer.stats();
            const text = JSON.stringify(stats);
            const now = performance.now();
            if (batch.length === 0 && text === lastStats && now - lastSent < IDLE_STATS_MS) return;
            lastStats = text;
            batch.push({ t: "stats", stats });
          }
          lastSent = performance.now();
          try {
            controller.enqueue(encoder.encode(`data: ${JSON.stringify(batch)}\n\n`));
          } catch {
            open = false; // the page went away
          }
        };
        transfer = new LabTransfer(params, message, (m) => {
          queue.push(m);
          if (m.t === "start") flush();
        });
        transfers.add(transfer);
        timer = setInterval(flush, flushInterval);
        const done = transfer.done.then((end) => {
          clearInterval(timer);
          flush();
          if (end.error) counters.stopped++;
          options.onTransferEnd?.(end);
          if (open) controller.close();
          open = false;
          transfers.delete(transfer);
          counters.active--;
        });
        running.add(done);
        done.finally(() => running.delete(done));
      },
      // A closed tab, a fetch the page aborts, a client gone before the answer: Deno.serve
      // cancels the stream at once for each, and that stops the transfer. (Not request.signal:
      // reading it makes Deno warn about its legacy abort on every successful response.)
      cancel() {
        open = false;
        transfer.stop("the page closed its stream", "la página cerró su flujo");
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "x-accel-buffering": "no",
        ...SECURITY_HEADERS,
      },
    });
  };

  const replay = async (request: Request): Promise<Response> => {
    const body = await readBody(request, MAX_TRACE_BYTES);
    if (body === null) {
      return refuse(
        413,
        `the traces are larger than ${MAX_TRACE_BYTES} bytes`,
        `las trazas tienen más de ${MAX_TRACE_BYTES} bytes`,
      );
    }
    let files: { name: string; text: string }[];
    try {
      const parsed = JSON.parse(new TextDecoder().decode(body));
      files = parsed.files;
      if (
        !Array.isArray(files) ||
        !files.every((f) => typeof f?.name === "string" && typeof f?.text === "string")
      ) throw new TypeError();
    } catch {
      return refuse(
        400,
        'expected a JSON body {"files":[{"name","text"}]}',
        'se espera un cuerpo JSON {"files":[{"name","text"}]}',
      );
    }
    try {
      return json(parseReplay(files));
    } catch (error) {
      if (error instanceof SyntaxError) {
        const es = error instanceof TraceError ? error.messageEs : error.message;
        return refuse(400, error.message, es);
      }
      throw error;
    }
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    // Only the lab's own pages may start transfers: another site open in the same browser
    // cannot (Origin), nor can a name that resolves to this machine (DNS rebinding: Host).
    const origin = request.headers.get("origin");
    if (url.pathname.startsWith("/api/") && origin !== null && origin !== url.origin) {
      return refuse(
        403,
        `requests from ${origin} are refused: open the lab's own page`,
        `se rechazan las peticiones desde ${origin}: abra la página del propio laboratorio`,
      );
    }
    if (!isAddress(url.hostname) && url.hostname !== "localhost") {
      return refuse(
        403,
        `the lab answers to its address, not to the name ${url.hostname}`,
        `el laboratorio responde en su dirección, no al nombre ${url.hostname}`,
      );
    }
    const read = request.method === "GET" || request.method === "HEAD";
    if (url.pathname === "/api/run") {
      if (request.method !== "POST") {
        return refuse(405, "use POST /api/run", "solo se acepta POST /api/run", undefined, "POST");
      }
      return await run(request, url);
    }
    if (url.pathname === "/api/trace") {
      if (request.method !== "POST") {
        return refuse(
          405,
          "use POST /api/trace",
          "solo se acepta POST /api/trace",
          undefined,
          "POST",
        );
      }
      return await replay(request);
    }
    if (url.pathname === "/api/config") {
      if (!read) {
        return refuse(
          405,
          "use GET /api/config",
          "solo se acepta GET /api/config",
          undefined,
          "GET, HEAD",
        );
      }
      return json(labConfig());
    }
    const file = files.get(url.pathname);
    if (!file) return new Response("Not found", { status: 404, headers: SECURITY_HEADERS });
    if (!read) {
      return new Response(`use GET ${url.pathname}`, {
        status: 405,
        headers: { allow: "GET, HEAD", ...SECURITY_HEADERS },
      });
    }
    return new Response(file.body as BodyInit, {
      headers: { "content-type": file.type, ...SECURITY_HEADERS },
    });
  };

  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8080,
    onListen: () => {},
  }, handler);
  const { hostname, port } = server.addr;
  const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
  let closing: Promise<void> | undefined;
  const shutdown = () =>
    closing ??= (async () => {
      for (const transfer of transfers) {
        transfer.stop(
          "the lab is shutting down",
          "el laboratorio se está cerrando",
        );
      }
      await Promise.all(running);
      await server.shutdown();
    })();
  return {
    url: `http://${shown === "0.0.0.0" ? "127.0.0.1" : shown}:${port}/`,
    port,
    counters,
    idle: async () => {
      while (running.size > 0) await Promise.all(running);
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

const USAGE = `Usage: deno task lab [--port N] [--host H]

Serves the web lab: pick a case or custom faults, run a real transfer over
loopback and watch it live (sequence diagram, time-sequence graph, counters,
verdict), or replay a --trace-file (client, server, or relay). Stop with Ctrl+C.

Options:
  --port N     port to serve on, 0 for any free port (default 8080)
  --host H     address to serve on (default 127.0.0.1; the transfers
               themselves always stay on loopback)
  -h, --help   show this help

Example:
  deno task lab --port 0
  then open the URL it prints, e.g. http://127.0.0.1:8080/?case=handshake-ack-lost&run`;

/** The command line: returns the exit code once the lab has stopped. */
export async function main(args: string[], signal?: AbortSignal): Promise<number> {
  const parsed = parseCommandLine("lab", USAGE, () => {
    const { values } = parseArguments(args, {
      port: { type: "string" },
      host: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return "help";
    const host = values.host ?? "127.0.0.1";
    if (host.trim() === "") throw new UsageError("--host is empty: expected an address");
    return { port: values.port === undefined ? 8080 : parsePort(values.port, "--port"), host };
  });
  if (typeof parsed === "number") return parsed;
  let lab: LabServer;
  try {
    lab = await startLab({ hostname: parsed.host, port: parsed.port });
  } catch (error) {
    const where = `${parsed.host}:${parsed.port}`;
    // A permission missing is named as such: Deno's own message ("Requires read access to
    // …/lab") made it look like a failure to listen.
    const purpose = { read: "to serve its page", net: `to listen on ${where}` };
    const kind = refusedPermission(error)?.kind;
    if (kind === "read" || kind === "net") {
      console.error(`lab: needs --allow-${kind} ${purpose[kind]} (deno task lab grants it)`);
      return 1;
    }
    const reason = error instanceof Deno.errors.AddrInUse
      ? "the port is in use (try --port 0)"
      : describeFileError(error);
    console.error(`lab: cannot listen on ${where}: ${reason}`);
    return 1;
  }
  console.log(lab.url);
  const loopback = /^(127\.|::1$|\[::1\]$|localhost$)/.test(parsed.host);
  console.error(
    loopback
      ? "lab: serving the web lab; Ctrl+C stops it"
      : `lab: serving the web lab on ${parsed.host}, reachable from other machines; Ctrl+C stops it`,
  );
  const stopped = Promise.withResolvers<void>();
  const onSignal = () => stopped.resolve();
  if (signal) signal.addEventListener("abort", onSignal, { once: true });
  else Deno.addSignalListener("SIGINT", onSignal);
  await stopped.promise;
  if (!signal) Deno.removeSignalListener("SIGINT", onSignal);
  await lab.shutdown();
  console.error(`lab: stopped after ${formatCount(lab.counters.started, "transfer")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
