/** The local driver's closable gate (per-key serialization is util/keyed-mutex.ts). */
import { StorageError } from '../errors.js';

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
