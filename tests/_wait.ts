/**
 * Bounded waits of the tests over live sockets: a deadline whose message
 * names what was awaited (and the seed, to rerun it), and waiters that
 * re-check a condition each time something happens. Nothing sleeps.
 */

/** Awaits `promise`, rejecting when it takes more than `ms` (the maker's default when omitted). */
export type Within = <T>(promise: Promise<T>, what: string, ms?: number) => Promise<T>;

/**
 * Makes a {@linkcode Within} that rejects with `new Error(message(what, ms))`
 * when the promise takes more than `ms`, by default `defaultMs`.
 */
export function deadline(
  message: (what: string, ms: number) => string,
  defaultMs: number,
): Within {
  return async <T>(promise: Promise<T>, what: string, ms = defaultMs): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message(what, ms))), ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * A {@linkcode deadline} whose message says what was waited for and the
 * seed: `Timed out after MS ms waiting for WHAT (seed SEED)`.
 */
export function seededDeadline(seed: number, defaultMs = 2000): Within {
  return deadline(
    (what, ms) => `Timed out after ${ms} ms waiting for ${what} (seed ${seed})`,
    defaultMs,
  );
}

/** Callers of {@linkcode Waiters.until}, woken by {@linkcode Waiters.wake} to re-check their condition. */
export class Waiters {
  readonly #waiters = new Set<() => void>();
  readonly #within: Within;

  /** Creates the set; `within` bounds each {@linkcode Waiters.until}. */
  constructor(within: Within) {
    this.#within = within;
  }

  /** Wakes every waiter: call it after each event a condition may depend on. */
  wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves once `condition()` holds, re-checked after each {@linkcode Waiters.wake}. */
  async until(condition: () => boolean, what: string, ms: number): Promise<void> {
    const wait = async () => {
      while (!condition()) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.#waiters.delete(wake);
            resolve();
          };
          this.#waiters.add(wake);
        });
      }
    };
    try {
      await this.#within(wait(), what, ms);
    } finally {
      this.wake();
    }
  }
}
