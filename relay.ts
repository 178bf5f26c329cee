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

import { formatCount, parseArguments, parseCommandLine, UsageError } from "./cli.ts";
import {
  type FaultAction,
  type FaultConfig,
  FaultModel,
  mulberry32,
  type RelayDirection,
  type RelayRule,
  RuleMatcher,
} from "./faults.ts";
import { CASES, faultWords, relayRules } from "./conformance_cases.ts";
import { parseSegment, segmentKind } from "./segment.ts";
import {
  type Addr,
  type DatagramLink,
  formatAddr,
  localHostFor,
  resolveHost,
  sameAddr,
  udpLink,
} from "./link.ts";
import { parseTrace, type TraceEvent } from "./trace.ts";

// Defined beside the fault injector's rules (conformance cases build them too); part of the relay's API.
export type { RelayDirection, RelayRule };

/**
 * Something the relay did, reported to {@linkcode RelayOptions.onEvent}.
 *
 * @example The events of a first datagram
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.deepEqual(events.map((event) => event.type), ["listen", "connection", "datagram"]);
 * const last = events[1];
 * if (last.type === "datagram") {
 *   assert.deepEqual([last.kind, last.seq, last.action], ["DATA", 5, "deliver"]);
 * }
 * ```
 */
export type RelayEvent =
  | {
    /** The relay is listening on `listen` and forwards to `target` (the first event). */
    type: "listen";
    listen: Addr;
    target: Addr;
  }
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
    /** The fate of one datagram, decided when it reaches the relay. */
    type: "datagram";
    /** Numbers the datagrams of a relay from 1; `release` and `discard` events refer to it. */
    id: number;
    /** When it reached the relay, epoch ms (fractional, like trace events). */
    time: number;
    direction: RelayDirection;
    /** The client's own address (the client end of the conversation). */
    client: Addr;
    /** The server's address in the conversation: the listening one or a per-connection port. */
    server: Addr;
    /** Where the datagram is going. */
    to: Addr;
    /** The datagram as it came (a copy). */
    bytes: Uint8Array;
    /** The segment's kind (`SYN`, `DATA`, …), or `INVALID` when it does not parse. */
    kind: string;
    seq: number | null;
    /** Payload length in bytes (0 when it does not parse). */
    len: number;
    action: FaultAction;
    /**
     * What the relay did: `forwarded` at once, `dropped`, `duplicated` (two
     * copies), `delayed` (by a timer), `reordered` (held behind the next
     * datagram, at most `reorderHold` ms), or `held` (by a `hold` rule, until
     * its retransmission has gone by, at most `holdLimit` ms).
     */
    fate: "forwarded" | "dropped" | "duplicated" | "delayed" | "reordered" | "held";
    delays: number[];
    /** True when a rule decided, rather than the random model. */
    rule: boolean;
  }
  | {
    /** A delayed, reordered or held datagram (one copy of it) goes out now. */
    type: "release";
    id: number;
    time: number;
    direction: RelayDirection;
  }
  | {
    /** A copy still waiting when the relay closed: counted as dropped. */
    type: "discard";
    id: number;
    time: number;
    direction: RelayDirection;
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
 * import assert from "node:assert/strict";
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
 * assert.deepEqual([new TextDecoder().decode(data), relay.stats.toServer.delayed], ["hola", 1]);
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
  /** Deterministic faults, decided before the random ones. Default: none. */
  rules?: RelayRule[];
  /** Longest a `hold` rule keeps a datagram, in ms. Default: 2,000. */
  holdLimit?: number;
  /** Longest a reordered datagram waits for the next one, in ms. Default: 100. */
  reorderHold?: number;
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
 * import assert from "node:assert/strict";
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
 * assert.deepEqual([stats.received, stats.duplicated, stats.dropped], [1, 1, 0]);
 * ```
 */
export interface RelayDirectionStats {
  /** Datagrams that entered the relay in this direction. */
  received: number;
  /** Copies sent on (duplicates count twice). */
  forwarded: number;
  /**
   * Copies not sent: dropped datagrams, and copies still waiting when the
   * relay closed. Always `received + duplicated = forwarded + dropped` once
   * nothing is waiting.
   */
  dropped: number;
  /** Datagrams forwarded twice. */
  duplicated: number;
  /** Datagrams held back behind the next one. */
  reordered: number;
  /** Datagrams delayed. */
  delayed: number;
  /** Datagrams held by a `hold` rule until their retransmission. */
  held: number;
}

/**
 * Counters of a {@linkcode Relay}.
 *
 * @example After one request and its answer
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.deepEqual([stats.connections, stats.toServer.received, stats.toClient.received], [1, 1, 1]);
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
 * import assert from "node:assert/strict";
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
 * assert.deepEqual([new TextDecoder().decode(got), relay.stats.connections], ["¡Hola, relay!", 1]);
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

/** A datagram (some copies of it) that the relay has not sent yet. */
interface Waiting {
  id: number;
  direction: RelayDirection;
  copies: number;
  send: () => Promise<void>;
  timer?: ReturnType<typeof setTimeout>;
}

/** The state of one direction: its counters, random model and held datagrams. */
interface DirectionState {
  stats: RelayDirectionStats;
  model: FaultModel;
  /** The datagram held for `reorder`, released after the next one or by its timer. */
  reordered?: Waiting;
  /** Datagrams held by a `hold` rule, by their bytes (as a string key) and client. */
  held: Map<string, Waiting>;
}

const BUFFER_SIZE = 65536;
/** Decodes any bytes to a string one char per byte: the key of a held datagram. */
const LATIN1 = new TextDecoder("latin1");

function emptyStats(): RelayDirectionStats {
  return {
    received: 0,
    forwarded: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    held: 0,
  };
}

/** Epoch ms, fractional, like trace events. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Starts a relay that listens on `listen` and forwards to `target`, applying
 * `toServer` and `toClient` faults and the `rules`.
 *
 * For each client address C it opens an upstream socket U_C towards the
 * server. A datagram that U_C receives from a server address S goes back to C
 * from a client-facing socket that mirrors S: the listening socket itself when
 * S is `target`, otherwise a socket on a new port opened for (C, S). A
 * datagram that arrives on a mirror of S goes to S through the sender's
 * upstream socket. So a client that sees its SYN+ACK come from a new port
 * (whatever port it is), and talks to that port from then on, works
 * unchanged through the relay.
 *
 * Every datagram is accounted for: per direction, `received + duplicated =
 * forwarded + dropped` once nothing is waiting (a copy still waiting at
 * {@linkcode Relay.close} counts as dropped).
 *
 * @throws {RangeError} when a fault configuration or a rule is out of range,
 * or the target's port is 0.
 * @throws {Deno.errors.AddrInUse} when the listening port is taken.
 * @throws {Deno.errors.NotFound} when a host name does not resolve.
 *
 * @example A relay that loses 20 % of the datagrams to the server
 * ```ts
 * import assert from "node:assert/strict";
 * import { startRelay } from "./relay.ts";
 *
 * await using relay = await startRelay({
 *   listen: { hostname: "127.0.0.1", port: 0 },
 *   target: { hostname: "127.0.0.1", port: 8000 },
 *   toServer: { loss: 0.2 },
 *   seed: 7,
 * });
 * assert.ok(relay.addr.port > 0);
 * ```
 */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const seed = options.seed ?? 0;
  const maxClients = options.maxClients ?? 1024;
  const idleTimeout = options.idleTimeout ?? 60_000;
  const holdLimit = options.holdLimit ?? 2_000;
  const reorderHold = options.reorderHold ?? 100;
  if (!Number.isInteger(maxClients) || maxClients < 1) {
    throw new RangeError(`Cannot start relay: maxClients is ${maxClients}, expected >= 1`);
  }
  if (!(idleTimeout > 0)) {
    throw new RangeError(`Cannot start relay: idleTimeout is ${idleTimeout}, expected > 0 ms`);
  }
  for (const [name, value] of [["holdLimit", holdLimit], ["reorderHold", reorderHold]] as const) {
    if (!(value >= 0 && Number.isFinite(value))) {
      throw new RangeError(`Cannot start relay: ${name} is ${value}, expected a number of ms >= 0`);
    }
  }
  if (!Number.isInteger(options.target.port) || options.target.port < 1) {
    throw new RangeError(
      `Cannot start relay: the target's port is ${options.target.port}, expected 1..65535`,
    );
  }
  const rules = new RuleMatcher(options.rules ?? [], "relay rule");
  const onEvent = options.onEvent ?? (() => {});
  const state: Record<RelayDirection, DirectionState> = {
    toServer: {
      stats: emptyStats(),
      model: new FaultModel(mulberry32(seed >>> 0), options.toServer),
      held: new Map(),
    },
    toClient: {
      stats: emptyStats(),
      model: new FaultModel(mulberry32((seed ^ 0x85ebca6b) >>> 0), options.toClient),
      held: new Map(),
    },
  };
  const target = {
    hostname: await resolveHost(options.target.hostname),
    port: options.target.port,
  };
  const listenHost = await resolveHost(options.listen.hostname);
  const listener = udpLink({ hostname: listenHost, port: options.listen.port });

  const clients = new Map<string, ClientEntry>();
  const loops = new Set<Promise<void>>();
  /** Copies waiting for a timer, a next datagram or a retransmission. */
  const waiting = new Set<Waiting>();
  let connections = 0;
  let nextId = 0;
  let closed = false;

  /** Sends one copy; a copy that cannot be sent counts as dropped. */
  const sendCopy = async (
    direction: RelayDirection,
    link: DatagramLink,
    data: Uint8Array,
    to: Addr,
  ): Promise<void> => {
    try {
      await link.send(data, to);
      state[direction].stats.forwarded++;
    } catch (error) {
      state[direction].stats.dropped++;
      if (!closed) onEvent({ type: "error", error });
    }
  };

  /** Sends the copies of a waiting datagram now (once). */
  const release = async (item: Waiting): Promise<void> => {
    if (!waiting.delete(item)) return;
    clearTimeout(item.timer);
    for (let i = 0; i < item.copies; i++) {
      onEvent({ type: "release", id: item.id, time: now(), direction: item.direction });
    }
    await item.send();
  };

  /**
   * Decides and applies the fate of a datagram going in `direction` through
   * `link` to `to`, on the conversation between `client` and `server`.
   */
  const relayDatagram = async (
    direction: RelayDirection,
    link: DatagramLink,
    bytes: Uint8Array,
    to: Addr,
    client: Addr,
    server: Addr,
  ): Promise<void> => {
    const time = now();
    const here = state[direction];
    const id = ++nextId;
    let kind = "INVALID";
    let seq: number | null = null;
    let len = 0;
    try {
      const segment = parseSegment(bytes);
      kind = segmentKind(segment);
      seq = segment.seq;
      len = segment.data.length;
    } catch {
      // Not a segment: random faults only.
    }
    here.stats.received++;
    const data = bytes.slice();
    const key = `${formatAddr(client)} ${LATIN1.decode(data)}`;
    const ruleAction = seq === null ? undefined : rules.match(direction, kind, () => key)?.action;
    let delays: number[];
    let hold = false;
    if (ruleAction === undefined) {
      const decision = here.model.decide();
      delays = decision.deliver;
      // A datagram is held for reorder only if it has a copy to send now, and none is held yet.
      hold = decision.hold && here.reordered === undefined && delays.some((delay) => delay <= 0);
    } else {
      delays = ruleAction === "drop" ? [] : ruleAction === "duplicate" ? [0, 0] : [0];
    }
    // The retransmission of a datagram held by a `hold` rule releases it, right after itself.
    const heldOriginal = ruleAction === "hold" ? undefined : here.held.get(key);
    const previous = here.reordered;
    let fate: "forwarded" | "dropped" | "duplicated" | "delayed" | "reordered" | "held" =
      "forwarded";
    let action: FaultAction = "deliver";
    if (delays.length === 0) {
      here.stats.dropped++;
      fate = "dropped";
      action = "drop";
    } else if (ruleAction === "hold") {
      here.stats.held++;
      fate = "held";
      action = "delay";
    } else {
      if (delays.some((delay) => delay > 0)) {
        here.stats.delayed++;
        fate = "delayed";
        action = "delay";
      }
      if (hold) {
        here.stats.reordered++;
        fate = "reordered";
        action = "reorder";
      }
      if (delays.length > 1) {
        here.stats.duplicated++;
        fate = "duplicated";
        action = "duplicate";
      }
    }
    onEvent({
      type: "datagram",
      id,
      time,
      direction,
      client,
      server,
      to,
      bytes: data,
      kind,
      seq,
      len,
      action,
      fate,
      delays,
      rule: ruleAction !== undefined,
    });
    if (delays.length === 0) {
      if (previous && !hold) await release(previous);
      return;
    }
    const later = (copies: number, send: () => Promise<void>, ms: number): Waiting => {
      const item: Waiting = { id, direction, copies, send };
      waiting.add(item);
      item.timer = setTimeout(() => {
        release(item).catch((error) => onEvent({ type: "error", error }));
      }, ms);
      return item;
    };
    if (ruleAction === "hold") {
      const item = later(1, () => sendCopy(direction, link, data, to), holdLimit);
      const original = item.send;
      item.send = () => {
        here.held.delete(key);
        return original();
      };
      here.held.set(key, item);
      return;
    }
    // Copies: the ones with no delay now (unless held for reorder), the others by timers.
    const sendNow = async () => {
      for (const delay of delays) {
        if (delay > 0) {
          later(1, () => sendCopy(direction, link, data, to), delay);
        } else {
          await sendCopy(direction, link, data, to);
        }
      }
    };
    if (hold) {
      const immediate = delays.filter((delay) => delay <= 0).length;
      here.reordered = later(immediate, async () => {
        if (here.reordered?.id === id) here.reordered = undefined;
        await sendNow();
      }, reorderHold);
      return;
    }
    await sendNow();
    if (heldOriginal) await release(heldOriginal);
    if (previous) await release(previous);
  };

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
      let sending: Promise<void> = Promise.resolve();
      while (!stopped()) {
        let datagram: [Uint8Array, Addr];
        try {
          datagram = await link.receive(buffer);
        } catch (error) {
          if (stopped() || error instanceof Deno.errors.BadResource) break;
          onEvent({ type: "error", error });
          // One timer tick before reading again, so that a failing socket cannot spin.
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        // Not awaited before the next read (which takes a wake-up off every
        // hop), but chained, so that the datagrams of one socket keep their order.
        const [bytes, from] = [datagram[0].slice(), datagram[1]];
        sending = sending.then(() => handle(bytes, from)).catch((error) => {
          if (!stopped()) onEvent({ type: "error", error });
        });
      }
      await sending;
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
      const upstream = udpLink({ hostname: localHostFor(target.hostname), port: 0 });
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
        const created = udpLink({ hostname: listenHost, port: 0 });
        existing = created;
        entry.mirrors.set(key, created);
        onEvent({ type: "mirror", client: entry.client, server: from, mirror: created.localAddr });
        serve(
          created,
          () => closed || entry.closed,
          (bytes, sender) => {
            const upstream = entryFor(sender).upstream;
            return relayDatagram("toServer", upstream, bytes, from, sender, from);
          },
        );
      }
      mirror = existing;
    }
    await relayDatagram("toClient", mirror, data, entry.client, entry.client, from);
  };

  onEvent({ type: "listen", listen: listener.localAddr, target });
  serve(listener, () => closed, (data, from) => {
    const upstream = entryFor(from).upstream;
    return relayDatagram("toServer", upstream, data, target, from, target);
  });

  const sweep = setInterval(() => {
    const time = Date.now();
    for (const entry of [...clients.values()]) {
      if (time - entry.lastActive >= idleTimeout) closeEntry(entry, "idle");
    }
  }, Math.max(10, Math.min(idleTimeout / 2, 10_000)));

  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(sweep);
    for (const item of waiting) {
      clearTimeout(item.timer);
      state[item.direction].stats.dropped += item.copies;
      for (let i = 0; i < item.copies; i++) {
        onEvent({ type: "discard", id: item.id, time: now(), direction: item.direction });
      }
    }
    waiting.clear();
    for (const entry of [...clients.values()]) closeEntry(entry);
    listener.close();
    while (loops.size > 0) await Promise.all([...loops]);
  };

  return {
    addr: listener.localAddr,
    target,
    get stats(): RelayStats {
      return {
        toServer: { ...state.toServer.stats },
        toClient: { ...state.toClient.stats },
        connections,
        active: clients.size,
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * One line of a relay's trace file (`--trace-file`): a datagram as it
 * reached the relay and its fate, or a later moment in its life (`released`
 * when a held or delayed copy goes out, `discarded` when a waiting copy is
 * dropped at close). The true wire view: what each end really sent, and what
 * the other end could receive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relayTraceRecorder } from "./relay.ts";
 * const record = relayTraceRecorder();
 * const line = record({
 *   type: "datagram", id: 1, time: 1000, direction: "toServer",
 *   client: { hostname: "127.0.0.1", port: 5000 }, server: { hostname: "127.0.0.1", port: 8000 },
 *   to: { hostname: "127.0.0.1", port: 8000 }, bytes: new TextEncoder().encode("1|||0|||0|||7|||"),
 *   kind: "SYN", seq: 7, len: 0, action: "drop", fate: "dropped", delays: [], rule: true,
 * });
 * assert.ok(line?.kind === "relay");
 * assert.deepEqual([line.fate, line.flags, line.server], ["dropped", "SYN", "127.0.0.1:8000"]);
 * ```
 */
export interface RelayTraceRecord {
  /** Epoch ms, fractional. */
  time: number;
  /** Always `relay`: tells these lines from an endpoint's trace events. */
  kind: "relay";
  /** The datagram's number in this relay. */
  id: number;
  direction: RelayDirection;
  /** The client's address, `host:port`. */
  client: string;
  /** The server's address in the conversation (listening or per-connection port). */
  server: string;
  /** The segment kind, or `INVALID`. */
  flags: string;
  /** Sequence number, or -1 when the datagram does not parse. */
  seq: number;
  /** Payload length. */
  len: number;
  /** Its fate, or a later step of it. */
  fate:
    | "forwarded"
    | "dropped"
    | "duplicated"
    | "delayed"
    | "reordered"
    | "held"
    | "released"
    | "discarded";
}

/**
 * A line of a relay's trace file about its ports: where it listens, and for
 * each client the upstream port it talks to the server from (`connection`)
 * and the port that stands for each server port toward that client
 * (`mirror`). With it, the traces of a client and a server taken on the two
 * sides of the relay can be matched (`deno task diagram`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRelayMapping } from "./relay.ts";
 * const text = '{"time":1,"kind":"relay-map","event":"listen","listen":"127.0.0.1:9000",' +
 *   '"target":"127.0.0.1:8000"}\n';
 * assert.equal(parseRelayMapping(text)[0].target, "127.0.0.1:8000");
 * ```
 */
export interface RelayMappingRecord {
  /** Epoch ms. */
  time: number;
  /** Always `relay-map`. */
  kind: "relay-map";
  /** `listen`: the relay's own address; `connection`: a client's upstream; `mirror`: a server port's stand-in. */
  event: "listen" | "connection" | "mirror";
  /** For `listen`: where clients send to. */
  listen?: string;
  /** For `listen`: the server's listening address. */
  target?: string;
  /** For `connection` and `mirror`: the client's address. */
  client?: string;
  /** For `connection`: the relay's port that talks to the server for this client. */
  upstream?: string;
  /** For `mirror`: the server's address (a per-connection port). */
  server?: string;
  /** For `mirror`: the relay's port that stands for `server` toward the client. */
  mirror?: string;
}

/**
 * A converter from {@linkcode RelayEvent}s to the lines of a relay trace:
 * {@linkcode RelayTraceRecord}s for datagrams, {@linkcode RelayMappingRecord}s
 * for the relay's ports, undefined for other events. It remembers each
 * datagram, so that its `release` and `discard` lines say what it was.
 */
export function relayTraceRecorder(): (
  event: RelayEvent,
) => RelayTraceRecord | RelayMappingRecord | undefined {
  const known = new Map<number, Omit<RelayTraceRecord, "time" | "fate">>();
  const time = () => performance.timeOrigin + performance.now();
  return (event) => {
    if (event.type === "listen") {
      return {
        time: time(),
        kind: "relay-map",
        event: "listen",
        listen: formatAddr(event.listen),
        target: formatAddr(event.target),
      };
    }
    if (event.type === "connection") {
      return {
        time: time(),
        kind: "relay-map",
        event: "connection",
        client: formatAddr(event.client),
        upstream: formatAddr(event.upstream),
      };
    }
    if (event.type === "mirror") {
      return {
        time: time(),
        kind: "relay-map",
        event: "mirror",
        client: formatAddr(event.client),
        server: formatAddr(event.server),
        mirror: formatAddr(event.mirror),
      };
    }
    if (event.type === "datagram") {
      const base = {
        kind: "relay" as const,
        id: event.id,
        direction: event.direction,
        client: formatAddr(event.client),
        server: formatAddr(event.server),
        flags: event.kind,
        seq: event.seq ?? -1,
        len: event.len,
      };
      if (event.fate !== "forwarded" && event.fate !== "dropped") known.set(event.id, base);
      return { time: event.time, ...base, fate: event.fate };
    }
    if (event.type === "release" || event.type === "discard") {
      const base = known.get(event.id);
      if (!base) return undefined;
      return {
        time: event.time,
        ...base,
        fate: event.type === "release" ? "released" : "discarded",
      };
    }
    return undefined;
  };
}

/**
 * The {@linkcode RelayMappingRecord}s of a relay trace; other lines are skipped.
 */
export function parseRelayMapping(text: string): RelayMappingRecord[] {
  const records: RelayMappingRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes('"relay-map"')) continue;
    try {
      const value = JSON.parse(line);
      if (value?.kind === "relay-map") records.push(value);
    } catch {
      // not a mapping line
    }
  }
  return records;
}

/**
 * Parses a relay trace (JSON lines of {@linkcode RelayTraceRecord}); lines
 * that are not datagram records are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRelayTrace } from "./relay.ts";
 * const text = '{"time":1,"kind":"relay","id":1,"direction":"toServer","client":"127.0.0.1:5000",' +
 *   '"server":"127.0.0.1:8000","flags":"SYN","seq":7,"len":0,"fate":"dropped"}\n';
 * assert.equal(parseRelayTrace(text)[0].fate, "dropped");
 * ```
 */
export function parseRelayTrace(text: string): RelayTraceRecord[] {
  const records: RelayTraceRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.includes('"kind":"relay"')) continue;
    try {
      const value = JSON.parse(line);
      if (value?.kind === "relay" && typeof value.time === "number") records.push(value);
    } catch {
      // not a relay line
    }
  }
  return records;
}

/**
 * Trace files as the drawing tools read them (`deno task diagram`, `plot`):
 * each is an endpoint's (`--trace-file` of a client or server) or the
 * relay's (`relay.ts --trace-file`), told apart by their lines.
 */
export interface TraceFiles {
  /** The endpoints' traces, in the order given, with their events. */
  endpoints: { path: string; events: TraceEvent[] }[];
  /** The relay's traces, in the order given. */
  relays: string[];
  /** The datagram records of every relay trace. */
  relayRecords: RelayTraceRecord[];
  /** The port mapping of every relay trace (which server port served which client). */
  mapping: RelayMappingRecord[];
}

/**
 * Reads trace files and sorts them into endpoints' and the relay's.
 *
 * @throws {Error} `"PATH: reason"` when a file cannot be read, or an
 * endpoint's trace cannot be parsed (the original error as its `cause`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTraceFiles } from "./relay.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"time":1,"kind":"send","flags":"SYN","seq":7,"len":0}\n');
 * const files = await readTraceFiles([path]);
 * assert.equal(files.endpoints[0].events[0].seq, 7);
 * assert.deepEqual(files.relays, []);
 * await Deno.remove(path);
 * ```
 */
export async function readTraceFiles(paths: readonly string[]): Promise<TraceFiles> {
  const files: TraceFiles = { endpoints: [], relays: [], relayRecords: [], mapping: [] };
  for (const path of paths) {
    try {
      const text = await Deno.readTextFile(path);
      const records = parseRelayTrace(text);
      const mapping = parseRelayMapping(text);
      if (records.length > 0 || mapping.length > 0) {
        files.relays.push(path);
        files.relayRecords.push(...records);
        files.mapping.push(...mapping);
      } else {
        files.endpoints.push({ path, events: parseTrace(text) });
      }
    } catch (error) {
      throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
    }
  }
  return files;
}

const USAGE =
  `Usage: deno run --allow-net relay.ts --listen [HOST:]PORT --target HOST:PORT [options]

A lossy UDP relay for socket-tcp: clients send to --listen, the relay forwards
to the server at --target, and drops, duplicates, reorders and delays
datagrams in both directions. It follows the server's new port for each
connection, whatever it is.

Options:
  --listen [HOST:]PORT   where clients send to (default host 127.0.0.1)
  --target HOST:PORT     the server's listening address (localhost = 127.0.0.1)
  --loss P               probability of dropping a datagram, 0..1 (default 0)
  --dup P                probability of duplicating a datagram, 0..1 (default 0)
  --reorder P            probability of holding a datagram behind the next, 0..1
                         (default 0; held at most 100 ms if nothing comes next)
  --delay MS             delay added to every datagram (default 0)
  --jitter MS            the delay varies by +/- MS (default 0)
  --seed N               seed of the random faults (default: random, printed)
  --rule ACTION:KIND:N:TO
                         a deterministic fault, repeatable: ACTION drop,
                         duplicate or hold (until its resend has gone by), the
                         Nth segment of KIND (SYN, SYN+ACK, ACK, DATA, FIN,
                         FIN+ACK, any) going TO server or client; resends are
                         not counted. Example: drop:DATA:2:server
  --case ID              the faults of a conformance case (deno task conformance
                         --list), to reproduce it by hand with your own client
                         and server; not with --loss, --dup, --reorder, --seed
                         or --rule
  --duration SECONDS     stop after this long (default: until Ctrl+C)
  --trace-file FILE      every datagram, both ways, with its fate, as JSON lines
                         (needs --allow-write=FILE; draw it with deno task diagram)
  --quiet                print nothing but errors (no line per fault, no summary)
  --help                 print this help

Examples:
  deno run --allow-net relay.ts --listen 9000 --target localhost:8000 --loss 0.2 --seed 7
  deno run --allow-net relay.ts --listen 9000 --target localhost:8000 --case lost-data`;

const RULE_ACTIONS = ["drop", "duplicate", "hold"] as const;
const RULE_KINDS = ["SYN", "SYN+ACK", "ACK", "DATA", "FIN", "FIN+ACK", "any"];

/**
 * Parses `--rule ACTION:KIND:N:TO` (`drop:DATA:2:server`) into a rule that
 * counts segments, as the conformance checker's do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRuleOption } from "./relay.ts";
 * assert.deepEqual(parseRuleOption("hold:DATA:2:server"), {
 *   direction: "toServer", kind: "DATA", nth: 2, action: "hold", counts: "segments",
 * });
 * assert.throws(() => parseRuleOption("drop:DATA:0:server"), /N is "0"/);
 * ```
 */
export function parseRuleOption(text: string): RelayRule {
  const parts = text.split(":");
  const fail = (why: string) =>
    new UsageError(`--rule is "${text}", ${why} (ACTION:KIND:N:TO, such as drop:DATA:2:server)`);
  if (parts.length !== 4) throw fail("expected 4 parts separated by ':'");
  const [action, kindText, nthText, to] = parts;
  if (!(RULE_ACTIONS as readonly string[]).includes(action)) {
    throw fail(`ACTION "${action}" is not one of ${RULE_ACTIONS.join(", ")}`);
  }
  const kind = RULE_KINDS.find((k) => k.toLowerCase() === kindText.toLowerCase());
  if (kind === undefined) throw fail(`KIND "${kindText}" is not one of ${RULE_KINDS.join(", ")}`);
  const nth = Number(nthText);
  if (!/^\d+$/.test(nthText) || nth < 1) throw fail(`N is "${nthText}", expected an integer >= 1`);
  if (to !== "server" && to !== "client") throw fail(`TO "${to}" is not server or client`);
  return {
    direction: to === "server" ? "toServer" : "toClient",
    kind,
    nth,
    action: action as RelayRule["action"],
    counts: "segments",
  };
}

/** Parses `[HOST:]PORT` or `[IPV6]:PORT`; `minPort` 1 refuses port 0. */
function parseAddr(text: string, option: string, minPort: number, defaultHost?: string): Addr {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d+)$/.exec(text);
  const hostname = match?.[1] ?? defaultHost;
  const port = Number(match?.[2]);
  if (!match || hostname === undefined || hostname === "" || port > 65535 || port < minPort) {
    const expected = defaultHost ? "[HOST:]PORT" : "HOST:PORT";
    throw new UsageError(
      `--${option} is "${text}", expected ${expected} with PORT in ${minPort}..65535`,
    );
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

/**
 * The summary line of one direction: `received + duplicated = forwarded + dropped`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRelayStats } from "./relay.ts";
 * const stats = { received: 20, duplicated: 1, forwarded: 12, dropped: 9, reordered: 1, delayed: 0, held: 0 };
 * assert.equal(
 *   formatRelayStats("to server", stats),
 *   "  to server: 20 received + 1 duplicated = 12 forwarded + 9 dropped (1 reordered)",
 * );
 * ```
 */
export function formatRelayStats(name: string, stats: RelayDirectionStats): string {
  const n = formatCount;
  const extra = [
    stats.reordered ? `${n(stats.reordered)} reordered` : "",
    stats.delayed ? `${n(stats.delayed)} delayed` : "",
    stats.held ? `${n(stats.held)} held` : "",
  ].filter((part) => part !== "");
  return `  ${name}: ${n(stats.received)} received + ${n(stats.duplicated)} duplicated = ` +
    `${n(stats.forwarded)} forwarded + ${n(stats.dropped)} dropped` +
    (extra.length ? ` (${extra.join(", ")})` : "");
}

/**
 * The random faults as the start-up line echoes them, in soak's words:
 * `loss 20%, dup 5%, delay 10 ms, jitter ±5 ms each way`; only those given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFaults } from "./relay.ts";
 * assert.equal(describeFaults({ loss: 0.2, reorder: 0.05 }), "loss 20%, reorder 5% each way");
 * assert.equal(describeFaults({}), "no random faults");
 * ```
 */
export function describeFaults(faults: FaultConfig): string {
  const percent = (p: number) => `${Math.round(p * 1000) / 10}%`;
  const parts = [
    faults.loss === undefined ? "" : `loss ${percent(faults.loss)}`,
    faults.duplicate === undefined ? "" : `dup ${percent(faults.duplicate)}`,
    faults.reorder === undefined ? "" : `reorder ${percent(faults.reorder)}`,
    faults.delay === undefined ? "" : `delay ${faults.delay} ms`,
    faults.jitter === undefined ? "" : `jitter ±${faults.jitter} ms`,
  ].filter((part) => part !== "");
  return parts.length > 0 ? `${parts.join(", ")} each way` : "no random faults";
}

function parseRelayArgs(args: string[]) {
  const { values } = parseArguments(args, {
    listen: { type: "string" },
    target: { type: "string" },
    loss: { type: "string" },
    dup: { type: "string" },
    reorder: { type: "string" },
    delay: { type: "string" },
    jitter: { type: "string" },
    seed: { type: "string" },
    rule: { type: "string", multiple: true },
    case: { type: "string" },
    duration: { type: "string" },
    "trace-file": { type: "string" },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  });
  if (values.help) return "help" as const;
  if (values.listen === undefined) throw new UsageError("--listen is required");
  if (values.target === undefined) throw new UsageError("--target is required");
  if (values["trace-file"] === "") throw new UsageError("--trace-file is empty, expected a file");
  const faults: FaultConfig = {
    loss: parseNumber(values.loss, "loss", isProbability, "a probability in 0..1"),
    duplicate: parseNumber(values.dup, "dup", isProbability, "a probability in 0..1"),
    reorder: parseNumber(values.reorder, "reorder", isProbability, "a probability in 0..1"),
    delay: parseNumber(values.delay, "delay", isDuration, "a number of ms >= 0"),
    jitter: parseNumber(values.jitter, "jitter", isDuration, "a number of ms >= 0"),
  };
  let rules = (values.rule ?? []).map(parseRuleOption);
  let seedText = values.seed;
  let caseText: string | undefined;
  if (values.case !== undefined) {
    const definition = CASES.find((c) => c.id === values.case);
    if (!definition) {
      throw new UsageError(
        `--case is "${values.case}", expected a case id: ${CASES.map((c) => c.id).join(", ")}`,
      );
    }
    const conflicts = ["loss", "dup", "reorder", "seed", "rule"] as const;
    const conflict = conflicts.find((name) => values[name] !== undefined);
    if (conflict) throw new UsageError(`--case sets the faults itself: leave out --${conflict}`);
    rules = relayRules(definition.faults);
    Object.assign(faults, definition.random ?? {});
    seedText = String(definition.random?.seed ?? 0);
    caseText = `${definition.id}: ${definition.en}`;
  }
  return {
    rules,
    caseText,
    listen: parseAddr(values.listen, "listen", 0, "127.0.0.1"),
    target: parseAddr(values.target, "target", 1),
    faults,
    seed: parseNumber(
      seedText,
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
    traceFile: values["trace-file"],
    quiet: values.quiet,
  };
}

/** The command line; returns the exit code. */
async function main(args: string[]): Promise<number> {
  const options = parseCommandLine("relay", USAGE, () => parseRelayArgs(args));
  if (typeof options === "number") return options;

  let trace: Deno.FsFile | undefined;
  if (options.traceFile !== undefined) {
    try {
      trace = Deno.openSync(options.traceFile, { write: true, create: true, truncate: true });
    } catch (error) {
      const reason = error instanceof Deno.errors.NotCapable
        ? `add --allow-write=${options.traceFile}`
        : (error as Error).message;
      console.error(`relay: cannot write --trace-file ${options.traceFile}: ${reason}`);
      return 1;
    }
  }
  const encoder = new TextEncoder();
  const record = relayTraceRecorder();
  const start = performance.timeOrigin + performance.now();
  const onEvent = (event: RelayEvent) => {
    const line = record(event);
    if (!line) return;
    trace?.writeSync(encoder.encode(JSON.stringify(line) + "\n"));
    if (line.kind === "relay-map") return;
    if (!options.quiet && line.fate !== "forwarded" && line.fate !== "released") {
      const seconds = ((line.time - start) / 1000).toFixed(3);
      const where = line.direction === "toServer" ? "to server" : "to client";
      const seq = line.seq >= 0 ? ` seq=${line.seq} len=${line.len}` : "";
      console.error(`relay: ${seconds} s  ${where}  ${line.flags}${seq}  ${line.fate}`);
    }
  };

  let relay: Relay;
  try {
    relay = await startRelay({
      listen: options.listen,
      target: options.target,
      toServer: options.faults,
      toClient: options.faults,
      seed: options.seed,
      rules: options.rules,
      onEvent,
    });
  } catch (error) {
    trace?.close();
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
      `relay: ${formatAddr(relay.addr)} -> ${formatAddr(relay.target)}, ` +
        `${describeFaults(options.faults)}, seed ${options.seed}, ` +
        `${options.duration ? `for ${options.duration} s` : "Ctrl+C to stop"}`,
    );
    if (options.caseText) console.error(`relay: case ${options.caseText}`);
    for (const rule of options.rules) {
      console.error(`relay: rule: ${faultWords(rule, "en")} (resends not counted)`);
    }
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
  trace?.close();

  if (!options.quiet) {
    const { stats } = relay;
    console.error(
      `relay: stopped; ${
        formatCount(stats.connections, "client address", "client addresses")
      }, seed ${options.seed}\n` +
        `${formatRelayStats("to server", stats.toServer)}\n` +
        `${formatRelayStats("to client", stats.toClient)}`,
    );
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
