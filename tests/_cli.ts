/**
 * Running the real command-line scripts in tests: each as a child process
 * with exactly the permissions its usage names, its stderr read line by line
 * as it comes, and a deadline after which it is killed and the test fails.
 */

import assert from "node:assert/strict";

export const ROOT = `${import.meta.dirname}/..`;
/**
 * The longest any one process may run before the test kills it and fails: a
 * hang guard. A lossy transfer beside the browser test on 2 cores has taken
 * 18 s (its round trips, and so its timeouts, grow while Chromium runs).
 */
export const DEADLINE_MS = 60_000;

/** A running script: its stdout bytes, its stderr lines as they come, and its exit. */
export class Script {
  readonly child: Deno.ChildProcess;
  readonly stdout: Promise<Uint8Array>;
  readonly #lines: string[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #stderrDone: Promise<void>;
  #ended = false;
  readonly #timer: ReturnType<typeof setTimeout>;
  #killed = false;

  constructor(
    script: string,
    args: string[],
    options: { permissions?: string[]; stdin?: boolean } = {},
  ) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        ...(options.permissions ?? ["--allow-net"]),
        `${ROOT}/${script}`,
        ...args,
      ],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#timer = setTimeout(() => {
      this.#killed = true;
      this.kill("SIGKILL");
    }, DEADLINE_MS);
    this.stdout = new Response(child.stdout).bytes();
    this.#stderrDone = (async () => {
      let rest = "";
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        this.#lines.push(...parts);
        this.#wake();
      }
      if (rest) this.#lines.push(rest);
      this.#ended = true;
      this.#wake();
    })();
  }

  /** Set by {@linkcode startServer}: the port the server listens on. */
  port = 0;

  /** Kills the process if it still runs, and waits for it: for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await Promise.allSettled([this.child.status, this.stdout, this.#stderrDone]);
    clearTimeout(this.#timer);
  }

  /** Kills the process (harmless once it exited). */
  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** The stderr lines so far. */
  get lines(): string[] {
    return [...this.#lines];
  }

  /** Waits for a stderr line that matches; fails when stderr ends or at the deadline. */
  async line(pattern: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      for (const line of this.#lines) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      if (this.#ended) {
        throw new Error(`no stderr line matched ${pattern}:\n${this.#lines.join("\n")}`);
      }
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
    this.#waiters.clear();
  }

  /** Writes `bytes` to stdin and closes it. */
  async feed(bytes: Uint8Array): Promise<void> {
    const writer = this.child.stdin.getWriter();
    await writer.write(bytes).catch(() => {});
    await writer.close().catch(() => {});
  }

  /** Waits for the exit; returns the code, the stdout bytes and the stderr text. */
  async result(): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
    const [status, stdout] = await Promise.all([this.child.status, this.stdout, this.#stderrDone]);
    clearTimeout(this.#timer);
    assert.ok(
      !this.#killed,
      `the process was killed after ${DEADLINE_MS} ms:\n${this.lines.join("\n")}`,
    );
    return { code: status.code, stdout, stderr: this.#lines.join("\n") };
  }
}

/** Starts a server on a free port; resolves once it logs "listening on HOST:PORT". */
export async function startServer(args: string[], permissions?: string[]): Promise<Script> {
  const server = new Script("servidor.ts", ["127.0.0.1", "0", ...args], { permissions });
  try {
    const match = await server.line(/^servidor: listening on 127\.0\.0\.1:(\d+)/);
    server.port = Number(match[1]);
    return server;
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

export async function runClient(
  args: string[],
  input: Uint8Array,
  permissions?: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const client = new Script("cliente.ts", args, { permissions, stdin: true });
  await client.feed(input);
  return await client.result();
}
