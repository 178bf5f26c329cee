/**
 * The listening side of {@linkcode SocketTCP}: one UDP socket that hears
 * SYNs, remembers them (a repeated SYN reaches the connection it opened, a
 * late copy of an old one opens nothing), bounds the handshakes in progress
 * (the backlog: a handshake that timed out twice gives its place to a new
 * SYN; a fresher one does not, and the new SYN waits for its client to send
 * it again), and opens a new UDP socket and {@linkcode Endpoint} for each
 * new client. Internal to {@linkcode SocketTCP}.
 *
 * @module
 */
import { Connection, type ConnectionOptions } from "./connection.ts";
import { Endpoint, failWith, now, parseCounting, Tracer } from "./endpoint.ts";
import {
  type Addr,
  type DatagramLink,
  formatAddr,
  type LinkWrapper,
  readDatagrams,
  udpLink,
} from "./link.ts";
import { type Segment, segmentKind } from "./segment.ts";
import { WaitQueue } from "./wait_queue.ts";

/** Timeouts of its SYN+ACK after which a pending handshake gives its place in a full backlog to a new SYN. */
const STALE_TIMEOUTS = 2;

/** How long a listener remembers a finished handshake, so that a late copy of its SYN opens nothing. */
const SYN_MEMORY_MS = 30_000;

/** Counters of a listener. */
export interface ListenerCounters {
  /** SYNs received. */
  segmentsReceived: number;
  /** Repeated SYNs (passed to the connection they opened). */
  duplicates: number;
  /** Datagrams that were not segments. */
  malformed: number;
  /** Segments other than a SYN. */
  foreign: number;
  /** SYNs refused or pending handshakes pushed out because the backlog was full, or SYNs for which no socket could be opened. */
  backlogDrops: number;
  /** Handshakes given up: the client never sent the handshake's last ACK (nor data, nor FIN). */
  handshakesGivenUp: number;
}

interface RememberedSyn {
  child: Endpoint | null;
  since: number;
}

/** What a listener needs to open connections. */
export interface ListenerSettings {
  backlog: number;
  link: LinkWrapper | undefined;
  tracer: Tracer;
  /** The options of each new connection, for a client at `peer`. */
  connectionOptions(peer: Addr): ConnectionOptions;
}

/** A bound UDP socket that turns SYNs into connected endpoints. */
export class Listener {
  /** What the listener counted. */
  readonly counters: ListenerCounters = {
    segmentsReceived: 0,
    duplicates: 0,
    malformed: 0,
    foreign: 0,
    backlogDrops: 0,
    handshakesGivenUp: 0,
  };
  readonly #link: DatagramLink;
  readonly #settings: ListenerSettings;
  readonly #localName: string;
  readonly #syns = new Map<string, RememberedSyn>();
  /** Endpoints whose handshake is done, waiting for `accept`. */
  #ready: Endpoint[] = [];
  readonly #waiters = new WaitQueue();
  readonly #reader: Promise<void>;
  #released = false;

  /** Listens on `link`. */
  constructor(link: DatagramLink, settings: ListenerSettings) {
    this.#link = link;
    this.#settings = settings;
    this.#localName = formatAddr(link.localAddr);
    this.#reader = readDatagrams(
      link,
      (bytes, from) => this.#onDatagram(bytes, from),
      () => this.#released,
    ).catch((error) => failWith(error, this.#waiters, this));
  }

  /** The address listened on. */
  get localAddr(): Addr {
    return { ...this.#link.localAddr };
  }

  /** Waits for the next endpoint whose handshake is done. */
  async accept(signal?: AbortSignal): Promise<Endpoint> {
    for (;;) {
      const child = this.#ready.shift();
      if (child) return child;
      await this.#waiters.wait(Infinity, signal);
    }
  }

  #onDatagram(bytes: Uint8Array, from: Addr): void {
    const segment = parseCounting(bytes, this.counters);
    if (!segment) return;
    if (segment.syn && !segment.ack && !segment.fin) {
      this.#onSyn(segment, from);
      return;
    }
    this.counters.foreign++;
    this.#trace(segment, from, { reason: "not a SYN: a listener only opens connections" });
  }

  #trace(segment: Segment, from: Addr, extra: { duplicate?: true; reason?: string }): void {
    if (!this.#settings.tracer.on) return;
    this.#settings.tracer.emit({
      time: performance.timeOrigin + now(),
      kind: "recv",
      local: this.#localName,
      peer: formatAddr(from),
      flags: segmentKind(segment),
      seq: segment.seq,
      len: segment.data.length,
      ...extra,
    });
  }

  #onSyn(segment: Segment, from: Addr): void {
    const key = `${formatAddr(from)}#${segment.seq}`;
    const known = this.#syns.get(key);
    this.counters.segmentsReceived++;
    this.#trace(segment, from, known?.child ? { duplicate: true } : {});
    if (known?.child) {
      // A repeated SYN: the same new socket answers again; nothing new opens.
      this.counters.duplicates++;
      known.child.deliver(segment);
      return;
    }
    // A SYN whose handshake was dropped (backlog full) or gave up starts afresh.
    if (known) this.#syns.delete(key);
    this.#forgetOldSyns();
    const pending = [...this.#syns.values()].filter((p) =>
      p.child && !p.child.connection.established
    );
    if (pending.length + this.#ready.length >= this.#settings.backlog) {
      this.counters.backlogDrops++;
      // Only a handshake whose SYN+ACK timed out twice makes room (the one
      // that timed out most): its client did not answer in two timeouts (a
      // flood's, or one that gave up). A fresher one is most likely a client
      // about to answer, which may have taken the SYN+ACK already and believe
      // itself connected: pushing it out would leave that client talking to
      // a closed port (a loaded machine stretches a round trip past one
      // timeout, not easily past two). So in a burst of more clients than the
      // backlog, the newest SYNs wait instead (dropped unanswered: their
      // clients send them again, and get in once the first are accepted).
      let stale: RememberedSyn | undefined;
      let most = STALE_TIMEOUTS - 1;
      for (const p of pending) {
        const timeouts = p.child!.connection.stats.timeouts;
        if (timeouts > most) [stale, most] = [p, timeouts];
      }
      if (!stale) return;
      const victim = stale.child!;
      stale.child = null; // its client may SYN again and start afresh
      victim.onHandshake = undefined;
      void victim.release();
    }
    let link: DatagramLink;
    const raw = (() => {
      try {
        return udpLink({ hostname: this.#link.localAddr.hostname, port: 0 });
      } catch {
        return null;
      }
    })();
    if (!raw) {
      // No socket for it (out of file descriptors, in a flood): drop this SYN,
      // keep listening. Its client will send it again.
      this.counters.backlogDrops++;
      return;
    }
    try {
      link = this.#settings.link ? this.#settings.link(raw) : raw;
    } catch {
      raw.close();
      this.counters.backlogDrops++;
      return;
    }
    const connection = Connection.server(
      segment.seq,
      now(),
      this.#settings.connectionOptions(from),
    );
    const child = new Endpoint(link, connection, from, {
      peerKnown: true,
      tracer: this.#settings.tracer,
    });
    const entry: RememberedSyn = { child, since: now() };
    this.#syns.set(key, entry);
    child.onHandshake = (ok) => {
      if (ok && !this.#released) {
        this.#ready.push(child);
        this.#waiters.notify();
        return;
      }
      if (!ok && connection.error !== undefined) this.counters.handshakesGivenUp++;
      entry.child = null;
      void child.release();
    };
  }

  #forgetOldSyns(): void {
    const limit = now() - SYN_MEMORY_MS;
    for (const [key, entry] of this.#syns) {
      if (entry.since >= limit && this.#syns.size < 4 * this.#settings.backlog + 1024) break;
      if (entry.child && !entry.child.released) continue;
      this.#syns.delete(key);
    }
  }

  /** Closes the socket; handshakes in progress and endpoints never accepted end too. */
  async release(): Promise<void> {
    if (this.#released) {
      await this.#reader;
      return;
    }
    this.#released = true;
    this.#link.close();
    this.#waiters.close(new Deno.errors.BadResource("The socket was closed"));
    const children = [...this.#syns.values()].map((entry) => entry.child).filter((c) => c !== null);
    const unclaimed = children.filter((c) => !c.connection.established || this.#ready.includes(c));
    for (const child of unclaimed) child.onHandshake = undefined;
    await Promise.all([this.#reader, ...unclaimed.map((c) => c.release())]);
    this.#ready = [];
  }
}
