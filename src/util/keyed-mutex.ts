/**
 * Runs tasks one after another per key (a promise chain per key), within one process. The local
 * driver assumes ONE process per data directory (enforced by the LOCK file), so this is what makes
 * its check-then-write sequences (compare-and-swap, immutable puts) atomic; the policy routes use it
 * so that concurrent changes of one log's policy queue instead of losing compare-and-swap races.
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
