/**
 * Shared set-up of the socket tests: a listener and a client on loopback,
 * each side under its own seeded fault injector, with traces kept.
 */
import { FaultInjector, type FaultInjectorOptions, mulberry32 } from "../faults.ts";
import type { DatagramLink, LinkWrapper } from "../link.ts";
import { SocketTCP, type SocketTCPOptions } from "../socket_tcp.ts";
import type { TraceEvent } from "../trace.ts";

/** One side of a test connection: its sockets' options and what they traced. */
export interface Side {
  faults: FaultInjector;
  trace: TraceEvent[];
  options: SocketTCPOptions;
}

/** Options of {@linkcode open}. */
export interface PairOptions {
  /** Faults under the client's socket. */
  client?: Omit<FaultInjectorOptions, "seed">;
  /** Faults under the listener and the sockets it accepts. */
  server?: Omit<FaultInjectorOptions, "seed">;
  /** Seed of both injectors and of the ISN. */
  seed?: number;
  /** Options of both ends' sockets. */
  socket?: SocketTCPOptions;
  /** Options of the server's sockets only, over `socket`. */
  serverSocket?: SocketTCPOptions;
  /** Wraps the server's links under its injector (see {@linkcode cuttable}). */
  serverWrap?: LinkWrapper;
}

/** A listener, a client connected to it, and the server's accepted socket. */
export interface Pair extends AsyncDisposable {
  listener: SocketTCP;
  client: SocketTCP;
  server: SocketTCP;
  clientSide: Side;
  serverSide: Side;
}

function side(
  seed: number,
  faults: PairOptions["client"],
  socket: SocketTCPOptions,
  wrap: LinkWrapper = (link) => link,
): Side {
  const injector = new FaultInjector({ seed, ...faults });
  const trace: TraceEvent[] = [];
  const random = mulberry32(seed ^ 0x5bd1e995);
  return {
    faults: injector,
    trace,
    options: {
      timeout: 20,
      ...socket,
      link: (link) => injector.wrap(wrap(link)),
      onTrace: (e) => trace.push(e),
      random,
    },
  };
}

/** Opens a listener on 127.0.0.1, connects a client to it, and accepts. */
export async function open(options: PairOptions = {}): Promise<Pair> {
  const seed = options.seed ?? 1;
  const clientSide = side(seed, options.client, options.socket ?? {});
  const serverSide = side(
    seed + 1,
    options.server,
    { ...options.socket, ...options.serverSocket },
    options.serverWrap,
  );
  const listener = new SocketTCP(serverSide.options);
  listener.bind({ hostname: "127.0.0.1", port: 0 });
  const client = new SocketTCP(clientSide.options);
  // Bounded: a test that cannot connect fails instead of hanging.
  const signal = AbortSignal.timeout(10_000);
  const [[server]] = await Promise.all([
    listener.accept({ signal }),
    client.connect(listener.localAddr, { signal }),
  ]);
  return {
    listener,
    client,
    server,
    clientSide,
    serverSide,
    async [Symbol.asyncDispose]() {
      await Promise.allSettled([client.close(), server.close()]);
      await listener.close();
    },
  };
}

export { randomBytes } from "../faults.ts";

/** Receives one whole message of `length` bytes with `recv(buffSize)` calls, checking each call's size. */
export async function recvMessage(
  socket: SocketTCP,
  length: number,
  buffSize: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  do {
    const piece = await socket.recv(buffSize);
    const expected = Math.min(length - filled, buffSize);
    if (piece.length !== expected) {
      throw new Error(`recv(${buffSize}) returned ${piece.length} bytes, expected ${expected}`);
    }
    out.set(piece, filled);
    filled += piece.length;
  } while (filled < length);
  return out;
}

/** The events of a trace of one kind and flags. */
export function events(trace: TraceEvent[], kind: TraceEvent["kind"], flags: string): TraceEvent[] {
  return trace.filter((e) => e.kind === kind && e.flags === flags);
}

/** A link wrapper that can cut the link (both ways) at any moment: a peer that vanished. */
export function cuttable(): { wrap: LinkWrapper; cut(): void } {
  let cut = false;
  return {
    cut: () => void (cut = true),
    wrap: (link: DatagramLink): DatagramLink => ({
      get localAddr() {
        return link.localAddr;
      },
      send: (data, to) => cut ? Promise.resolve() : link.send(data, to),
      async receive(buffer) {
        for (;;) {
          const got = await link.receive(buffer);
          if (!cut) return got;
        }
      },
      close: () => link.close(),
    }),
  };
}
