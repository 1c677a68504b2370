/** Small concurrency helpers of the local driver: per-key serialization and a closable gate. */
import { StorageError } from '../errors.js';

/**
 * Runs tasks one after another per key (a promise chain per key). The local driver assumes ONE
 * process per data directory (enforced by the LOCK file), so this is what makes check-then-write
 * sequences such as compare-and-swap and immutable puts atomic.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

/** Admits operations until closed; `close` waits for those already admitted. */
export class Gate {
  readonly #what: string;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(what: string) {
    this.#what = what;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Throws `storage.closed` once closed. */
  check(): void {
    if (this.#closed) throw new StorageError('storage.closed', `${this.#what} is closed`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    this.check();
    const p = task();
    this.#inFlight.add(p);
    try {
      return await p;
    } finally {
      this.#inFlight.delete(p);
    }
  }

  /** Refuses new operations and resolves when the admitted ones have settled. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }
}
