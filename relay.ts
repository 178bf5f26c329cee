/**
 * A lossy UDP relay in user space, a portable replacement for `tc netem`: it
 * sits between clients and a socket-tcp server and drops, duplicates, reorders
 * and delays datagrams in each direction, from a seed.
 *
 * It understands the server's new-port-per-connection accept: for each server
 * address a client's traffic comes back from (the listening port, then each
 * connection's new port), the client sees the answer come from a matching
 * relay port, so a client behaves exactly as it would without the relay.
 *
 * Command line:
 *
 * ```sh
 * deno run --allow-net relay.ts --listen 9000 --target localhost:8000 --loss 0.2 --seed 7
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type FaultAction,
  type FaultConfig,
  FaultInjector,
  type FaultLogEntry,
  type FaultStats,
} from "./faults.ts";
import {
  type Addr,
  type DatagramLink,
  formatAddr,
  resolveHost,
  sameAddr,
  udpLink,
} from "./link.ts";

/**
 * The two directions through the relay.
 *
 * @example A request and its answer cross the relay
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { type RelayDirection, startRelay } from "./relay.ts";
 *
 * const directions: RelayDirection[] = [];
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   onEvent: (event) => event.type === "datagram" && directions.push(event.direction),
 * });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("ping"), relay.addr);
 * const [, from] = await server.receive(new Uint8Array(64));
 * await server.send(new TextEncoder().encode("pong"), from);
 * await client.receive(new Uint8Array(64));
 * client.close();
 * server.close();
 * console.log(directions); // [ "toServer", "toClient" ]
 * ```
 */
export type RelayDirection = "toServer" | "toClient";

/**
 * Something the relay did, reported to {@linkcode RelayOptions.onEvent}.
 *
 * @example The events of a first datagram
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { type RelayEvent, startRelay } from "./relay.ts";
 *
 * const events: RelayEvent[] = [];
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   onEvent: (event) => events.push(event),
 * });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("0|||0|||0|||5|||hola"), relay.addr);
 * await server.receive(new Uint8Array(64));
 * client.close();
 * server.close();
 * console.log(events.map((event) => event.type)); // [ "connection", "datagram" ]
 * const last = events[1];
 * if (last.type === "datagram") {
 *   console.log(last.kind, last.seq, last.action); // "DATA" 5 "deliver"
 * }
 * ```
 */
export type RelayEvent =
  | {
    /** A datagram from a new client address: the relay opened an upstream socket for it. */
    type: "connection";
    client: Addr;
    upstream: Addr;
  }
  | {
    /** The server answered a client from a new address: the relay opened a mirror port. */
    type: "mirror";
    client: Addr;
    server: Addr;
    mirror: Addr;
  }
  | {
    /** A client entry was closed, idle for too long or evicted as the oldest. */
    type: "expire";
    client: Addr;
    reason: "idle" | "evicted";
  }
  | {
    /** The fate of one datagram. */
    type: "datagram";
    direction: RelayDirection;
    /** Where the datagram is going. */
    to: Addr;
    kind: string;
    seq: number | null;
    action: FaultAction;
    delays: number[];
  }
  | {
    /** An unexpected error while receiving or sending; the relay carries on. */
    type: "error";
    error: unknown;
  };

/**
 * Options of {@linkcode startRelay}.
 *
 * @example Delay every datagram to the server by 5 ms
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { type RelayOptions, startRelay } from "./relay.ts";
 *
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * const options: RelayOptions = {
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   toServer: { delay: 5 },
 *   seed: 7,
 * };
 * await using relay = await startRelay(options);
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("hola"), relay.addr);
 * const [data] = await server.receive(new Uint8Array(64));
 * client.close();
 * server.close();
 * console.log(new TextDecoder().decode(data), relay.stats.toServer.delayed); // "hola" 1
 * ```
 */
export interface RelayOptions {
  /** Where clients send to. The hostname may be a name (`localhost` means 127.0.0.1). */
  listen: Addr;
  /** The server's listening address. */
  target: Addr;
  /** Faults on datagrams from clients to the server. Default: none. */
  toServer?: FaultConfig;
  /** Faults on datagrams from the server to clients. Default: none. */
  toClient?: FaultConfig;
  /** Seed of the random faults. Default: 0. */
  seed?: number;
  /** Called synchronously for every event; it must not throw. */
  onEvent?: (event: RelayEvent) => void;
  /** Most client addresses tracked at once; the least recently active is evicted. Default: 1024. */
  maxClients?: number;
  /** A client entry with no traffic for this many ms is closed. Default: 60,000. */
  idleTimeout?: number;
}

/**
 * Counters of one direction of a {@linkcode Relay}.
 *
 * @example Every datagram to the server sent twice
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { type RelayDirectionStats, startRelay } from "./relay.ts";
 *
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 *   toServer: { duplicate: 1 },
 * });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("hola"), relay.addr);
 * await server.receive(new Uint8Array(64));
 * await server.receive(new Uint8Array(64)); // the copy
 * client.close();
 * server.close();
 * const stats: RelayDirectionStats = relay.stats.toServer;
 * console.log(stats.received, stats.duplicated, stats.dropped); // 1 1 0
 * ```
 */
export interface RelayDirectionStats {
  /** Datagrams that entered the relay in this direction. */
  received: number;
  /** Copies sent on (duplicates count twice). */
  forwarded: number;
  /** Datagrams dropped. */
  dropped: number;
  /** Datagrams forwarded twice. */
  duplicated: number;
  /** Datagrams held back behind the next one. */
  reordered: number;
  /** Datagrams delayed. */
  delayed: number;
}

/**
 * Counters of a {@linkcode Relay}.
 *
 * @example After one request and its answer
 * ```ts
 * import { udpLink } from "./link.ts";
 * import { type RelayStats, startRelay } from "./relay.ts";
 *
 * const server = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: server.localAddr,
 * });
 * const client = udpLink({ hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("ping"), relay.addr);
 * const [, from] = await server.receive(new Uint8Array(64));
 * await server.send(new TextEncoder().encode("pong"), from);
 * await client.receive(new Uint8Array(64));
 * client.close();
 * server.close();
 * const stats: RelayStats = relay.stats;
 * console.log(stats.connections, stats.toServer.received, stats.toClient.received); // 1 1 1
 * ```
 */
export interface RelayStats {
  /** From clients to the server. */
  toServer: RelayDirectionStats;
  /** From the server to clients. */
  toClient: RelayDirectionStats;
  /** Client addresses seen since the start. */
  connections: number;
  /** Client addresses tracked now. */
  active: number;
}

/**
 * A running relay, from {@linkcode startRelay}.
 *
 * @example A message over a relay that loses 30 % of the datagrams to the server
 * ```ts
 * import { type Relay, startRelay } from "./relay.ts";
 * import { SocketTCP } from "./socket_tcp.ts";
 *
 * await using listener = new SocketTCP({ timeout: 20 });
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * await using relay: Relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: listener.localAddr,
 *   toServer: { loss: 0.3 },
 *   seed: 1,
 * });
 * const client = new SocketTCP({ timeout: 20 });
 * const [[server]] = await Promise.all([listener.accept(), client.connect(relay.addr)]);
 * const [, got] = await Promise.all([
 *   client.send(new TextEncoder().encode("¡Hola, relay!")),
 *   server.recv(1024),
 * ]);
 * await Promise.all([client.close(), server.recvClose()]);
 * console.log(new TextDecoder().decode(got), relay.stats.connections); // "¡Hola, relay!" 1
 * ```
 */
export interface Relay extends AsyncDisposable {
  /** The address clients send to (with the port actually bound). */
  readonly addr: Addr;
  /** The server's address, resolved. */
  readonly target: Addr;
  /** A snapshot of the counters. */
  readonly stats: RelayStats;
  /** Closes every socket and timer of the relay; calling it twice is harmless. */
  close(): Promise<void>;
}

/** One client address and the sockets that serve it. */
interface ClientEntry {
  client: Addr;
  /** Talks to the server on the client's behalf. */
  upstream: DatagramLink;
  /** Client-facing sockets by server address (formatAddr), except the listening one. */
  mirrors: Map<string, DatagramLink>;
  lastActive: number;
  closed: boolean;
}

const BUFFER_SIZE = 65536;

/** The address to bind an upstream socket to, in the target's family. */
function upstreamHost(target: string): string {
  if (target === "127.0.0.1" || target === "::1") return target;
  return target.includes(":") ? "::" : "0.0.0.0";
}

function directionStats(stats: FaultStats): RelayDirectionStats {
  return {
    received: stats.datagrams,
    forwarded: stats.delivered,
    dropped: stats.dropped,
    duplicated: stats.duplicated,
    reordered: stats.reordered,
    delayed: stats.delayed,
  };
}

/**
 * Starts a relay that listens on `listen` and forwards to `target`, applying
 * `toServer` and `toClient` faults.
 *
 * For each client address C it opens an upstream socket U_C towards the
 * server. A datagram that U_C receives from a server address S goes back to C
 * from a client-facing socket that mirrors S: the listening socket itself when
 * S is `target`, otherwise a socket on a new port opened for (C, S). A
 * datagram that arrives on a mirror of S goes to S through the sender's
 * upstream socket. So a client that sees its SYN+ACK come from a new port,
 * and talks to that port from then on, works unchanged through the relay.
 *
 * @throws {RangeError} when a fault configuration is out of range.
 * @throws {Deno.errors.AddrInUse} when the listening port is taken.
 * @throws {Deno.errors.NotFound} when a host name does not resolve.
 *
 * @example A relay that loses 20 % of the datagrams to the server
 * ```ts
 * import { startRelay } from "./relay.ts";
 *
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: { hostname: "127.0.0.1", port: 8000 },
 *   toServer: { loss: 0.2 },
 *   seed: 7,
 * });
 * console.log(relay.addr.port > 0); // true
 * ```
 */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const seed = options.seed ?? 0;
  const maxClients = options.maxClients ?? 1024;
  const idleTimeout = options.idleTimeout ?? 60_000;
  if (!Number.isInteger(maxClients) || maxClients < 1) {
    throw new RangeError(`Cannot start relay: maxClients is ${maxClients}, expected >= 1`);
  }
  if (!(idleTimeout > 0)) {
    throw new RangeError(`Cannot start relay: idleTimeout is ${idleTimeout}, expected > 0 ms`);
  }
  const onEvent = options.onEvent ?? (() => {});
  // Faults are applied on send only: the receive side of every socket is clean.
  const report = (direction: RelayDirection) => (entry: FaultLogEntry) =>
    entry.direction === "out" && onEvent({
      type: "datagram",
      direction,
      to: entry.peer,
      kind: entry.kind,
      seq: entry.seq,
      action: entry.action,
      delays: entry.delays,
    });
  // Upstream sockets send toward the server; client-facing sockets toward clients.
  const toServer = new FaultInjector({
    seed,
    out: options.toServer,
    log: false,
    onDecision: report("toServer"),
  });
  const toClient = new FaultInjector({
    seed: (seed ^ 0x85ebca6b) >>> 0,
    out: options.toClient,
    log: false,
    onDecision: report("toClient"),
  });
  const target = {
    hostname: await resolveHost(options.target.hostname),
    port: options.target.port,
  };
  const listenHost = await resolveHost(options.listen.hostname);
  const listener = toClient.wrap(udpLink({ hostname: listenHost, port: options.listen.port }));

  const clients = new Map<string, ClientEntry>();
  const loops = new Set<Promise<void>>();
  let connections = 0;
  let closed = false;

  const closeEntry = (entry: ClientEntry, reason?: "idle" | "evicted") => {
    if (entry.closed) return;
    entry.closed = true;
    clients.delete(formatAddr(entry.client));
    entry.upstream.close();
    for (const mirror of entry.mirrors.values()) mirror.close();
    if (reason) onEvent({ type: "expire", client: entry.client, reason });
  };

  /** Runs `handle` for every datagram `link` receives, until `stopped()`. */
  const serve = (
    link: DatagramLink,
    stopped: () => boolean,
    handle: (data: Uint8Array, from: Addr) => Promise<void>,
  ) => {
    const loop = (async () => {
      const buffer = new Uint8Array(BUFFER_SIZE);
      while (!stopped()) {
        let datagram: [Uint8Array, Addr];
        try {
          datagram = await link.receive(buffer);
        } catch (error) {
          if (stopped() || error instanceof Deno.errors.BadResource) return;
          onEvent({ type: "error", error });
          // One timer tick before reading again, so that a failing socket cannot spin.
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        // Not awaited: the next datagram is read while this one is sent (sends
        // still go out in order), which takes a wake-up off every hop.
        handle(...datagram).catch((error) => {
          if (!stopped()) onEvent({ type: "error", error });
        });
      }
    })();
    loops.add(loop);
    loop.finally(() => loops.delete(loop));
  };

  /** The entry of `client`, created (and the oldest evicted) if needed; marks it active. */
  const entryFor = (client: Addr): ClientEntry => {
    const key = formatAddr(client);
    let entry = clients.get(key);
    if (entry) {
      clients.delete(key); // re-inserted below: the Map stays in activity order
    } else {
      if (clients.size >= maxClients) {
        const oldest = clients.values().next().value;
        if (oldest) closeEntry(oldest, "evicted");
      }
      const upstream = toServer.wrap(udpLink({ hostname: upstreamHost(target.hostname), port: 0 }));
      const created: ClientEntry = {
        client,
        upstream,
        mirrors: new Map(),
        lastActive: 0,
        closed: false,
      };
      entry = created;
      connections++;
      onEvent({ type: "connection", client, upstream: upstream.localAddr });
      serve(
        upstream,
        () => closed || created.closed,
        (data, from) => backToClient(created, data, from),
      );
    }
    entry.lastActive = Date.now();
    clients.set(key, entry);
    return entry;
  };

  /** Forwards a datagram from the server address `from` to the entry's client. */
  const backToClient = async (entry: ClientEntry, data: Uint8Array, from: Addr) => {
    entry.lastActive = Date.now();
    let mirror: DatagramLink = listener;
    if (!sameAddr(from, target)) {
      const key = formatAddr(from);
      let existing = entry.mirrors.get(key);
      if (!existing) {
        const created = toClient.wrap(udpLink({ hostname: listenHost, port: 0 }));
        existing = created;
        entry.mirrors.set(key, created);
        onEvent({ type: "mirror", client: entry.client, server: from, mirror: created.localAddr });
        serve(
          created,
          () => closed || entry.closed,
          (bytes, sender) => entryFor(sender).upstream.send(bytes, from),
        );
      }
      mirror = existing;
    }
    await mirror.send(data, entry.client);
  };

  serve(listener, () => closed, (data, from) => entryFor(from).upstream.send(data, target));

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const entry of [...clients.values()]) {
      if (now - entry.lastActive >= idleTimeout) closeEntry(entry, "idle");
    }
  }, Math.max(10, Math.min(idleTimeout / 2, 10_000)));

  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(sweep);
    for (const entry of [...clients.values()]) closeEntry(entry);
    listener.close();
    while (loops.size > 0) await Promise.all([...loops]);
  };

  return {
    addr: listener.localAddr,
    target,
    get stats(): RelayStats {
      return {
        toServer: directionStats(toServer.stats.out),
        toClient: directionStats(toClient.stats.out),
        connections,
        active: clients.size,
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

const USAGE =
  `Usage: deno run --allow-net relay.ts --listen [HOST:]PORT --target HOST:PORT [options]

A lossy UDP relay for socket-tcp: clients send to --listen, the relay forwards
to the server at --target, and drops, duplicates, reorders and delays
datagrams in both directions.

Options:
  --listen [HOST:]PORT   where clients send to (default host 127.0.0.1)
  --target HOST:PORT     the server's listening address (localhost = 127.0.0.1)
  --loss P               probability of dropping a datagram, 0..1 (default 0)
  --dup P                probability of duplicating a datagram, 0..1 (default 0)
  --reorder P            probability of holding a datagram behind the next, 0..1 (default 0)
  --delay MS             delay added to every datagram (default 0)
  --jitter MS            the delay varies by +/- MS (default 0)
  --seed N               seed of the random faults (default: random, printed)
  --duration SECONDS     stop after this long (default: until Ctrl+C)
  --quiet                print nothing but errors
  --help                 print this help

Example:
  deno run --allow-net relay.ts --listen 9000 --target localhost:8000 --loss 0.2 --seed 7`;

/** Thrown for bad command-line usage: the CLI prints the usage and exits 2. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses `[HOST:]PORT` or `[IPV6]:PORT`. */
function parseAddr(text: string, option: string, defaultHost?: string): Addr {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d+)$/.exec(text);
  const hostname = match?.[1] ?? defaultHost;
  const port = Number(match?.[2]);
  if (!match || hostname === undefined || hostname === "" || port > 65535) {
    const expected = defaultHost ? "[HOST:]PORT" : "HOST:PORT";
    throw new UsageError(`--${option} is "${text}", expected ${expected} with PORT in 0..65535`);
  }
  return { hostname: hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

function parseNumber(
  text: string | undefined,
  option: string,
  check: (value: number) => boolean,
  expected: string,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !check(value)) {
    throw new UsageError(`--${option} is "${text}", expected ${expected}`);
  }
  return value;
}

const isProbability = (value: number) => value >= 0 && value <= 1;
const isDuration = (value: number) => value >= 0 && Number.isFinite(value);

function formatStats(name: string, stats: RelayDirectionStats): string {
  return `  ${name}: ${stats.received} received, ${stats.forwarded} forwarded, ` +
    `${stats.dropped} dropped, ${stats.duplicated} duplicated, ${stats.reordered} reordered, ` +
    `${stats.delayed} delayed`;
}

/** The command line; returns the exit code. */
async function main(args: string[]): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: "string" },
        target: { type: "string" },
        loss: { type: "string" },
        dup: { type: "string" },
        reorder: { type: "string" },
        delay: { type: "string" },
        jitter: { type: "string" },
        seed: { type: "string" },
        duration: { type: "string" },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.listen === undefined) throw new UsageError("--listen is required");
    if (values.target === undefined) throw new UsageError("--target is required");
    const faults: FaultConfig = {
      loss: parseNumber(values.loss, "loss", isProbability, "a probability in 0..1"),
      duplicate: parseNumber(values.dup, "dup", isProbability, "a probability in 0..1"),
      reorder: parseNumber(values.reorder, "reorder", isProbability, "a probability in 0..1"),
      delay: parseNumber(values.delay, "delay", isDuration, "a number of ms >= 0"),
      jitter: parseNumber(values.jitter, "jitter", isDuration, "a number of ms >= 0"),
    };
    options = {
      listen: parseAddr(values.listen, "listen", "127.0.0.1"),
      target: parseAddr(values.target, "target"),
      faults,
      seed: parseNumber(
        values.seed,
        "seed",
        (value) => Number.isInteger(value) && value >= 0 && value < 2 ** 32,
        "an integer in 0..4294967295",
      ) ?? Math.floor(Math.random() * 2 ** 32),
      duration: parseNumber(
        values.duration,
        "duration",
        (value) => value > 0 && Number.isFinite(value),
        "a number of seconds > 0",
      ),
      quiet: values.quiet,
    };
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error instanceof TypeError && "code" in error &&
        String(error.code).startsWith("ERR_PARSE_ARGS"));
    if (!usage) throw error;
    console.error(`relay: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  let relay: Relay;
  try {
    relay = await startRelay({
      listen: options.listen,
      target: options.target,
      toServer: options.faults,
      toClient: options.faults,
      seed: options.seed,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`relay: cannot listen on ${formatAddr(options.listen)}: address in use`);
      return 1;
    }
    if (error instanceof Error && error.name in Deno.errors) {
      console.error(`relay: cannot start: ${error.message}`);
      return 1;
    }
    throw error;
  }
  if (!options.quiet) {
    console.error(
      `relay: ${formatAddr(relay.addr)} -> ${formatAddr(relay.target)}, seed ${options.seed}, ` +
        `${options.duration ? `for ${options.duration} s` : "Ctrl+C to stop"}`,
    );
  }

  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  const timer = options.duration === undefined
    ? undefined
    : setTimeout(onSignal, options.duration * 1000);
  await stop.promise;
  clearTimeout(timer);
  Deno.removeSignalListener("SIGINT", onSignal);
  await relay.close();

  if (!options.quiet) {
    const { stats } = relay;
    console.error(
      `relay: stopped; ${stats.connections} client address(es), seed ${options.seed}\n` +
        `${formatStats("to server", stats.toServer)}\n${formatStats("to client", stats.toClient)}`,
    );
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
