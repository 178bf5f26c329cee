/**
 * socket-tcp's testing tools, apart from the main API: a seeded fault
 * injector to slip under a socket (`link` option), and a lossy UDP relay to
 * put between two processes. Import them from `@socket-tcp/socket-tcp/testing`.
 *
 * @example Drop the first SYN+ACK a server sends
 * ```ts
 * import assert from "node:assert/strict";
 * import { SocketTCP } from "./mod.ts";
 * import { FaultInjector } from "./testing.ts";
 *
 * const faults = new FaultInjector({
 *   seed: 1,
 *   rules: [{ direction: "out", kind: "SYN+ACK", nth: 1, action: "drop" }],
 * });
 * await using listener = new SocketTCP({ timeout: 20, link: faults.wrap });
 * listener.bind({ hostname: "127.0.0.1", port: 0 });
 * const client = new SocketTCP({ timeout: 20 });
 * const [[server]] = await Promise.all([listener.accept(), client.connect(listener.localAddr)]);
 * await Promise.all([client.close(), server.recvClose()]);
 * assert.equal(faults.stats.out.dropped, 1);
 * ```
 *
 * @module
 */
export {
  type FaultAction,
  type FaultConfig,
  type FaultDecision,
  type FaultDirection,
  FaultInjector,
  type FaultInjectorOptions,
  type FaultLogEntry,
  FaultModel,
  type FaultRule,
  type FaultStats,
  mulberry32,
} from "./faults.ts";
export {
  type Relay,
  type RelayDirection,
  type RelayDirectionStats,
  type RelayEvent,
  type RelayOptions,
  type RelayRule,
  type RelayStats,
  startRelay,
} from "./relay.ts";
