/**
 * What the memory driver has "persisted": plain maps that survive a simulated crash. Anything a
 * driver instance holds besides this (open journals, the closed flag) is lost by `crash()`.
 */
import { StorageError } from '../errors.js';

/** Objects under `/`-separated keys, with the folder bookkeeping that makes `a` and `a/b` exclusive. */
export class ObjectSpace<V> {
  readonly #objects = new Map<string, V>();
  /** How many objects lie under each folder prefix (`a` for `a/b`, `a/b` for `a/b/c`). */
  readonly #folders = new Map<string, number>();

  get(key: string): V | undefined {
    return this.#objects.get(key);
  }

  /** Throws `storage.invalid_key` when `key` would be both an object and a folder (as on a file system). */
  checkPlace(key: string): void {
    let collides = this.#folders.has(key);
    for (let i = key.indexOf('/'); i >= 0 && !collides; i = key.indexOf('/', i + 1)) {
      collides = this.#objects.has(key.slice(0, i));
    }
    if (collides) {
      throw new StorageError('storage.invalid_key', `key ${key} collides with an existing object or folder`, {
        details: { reason: 'object/folder collision' },
      });
    }
  }

  set(key: string, value: V): void {
    if (!this.#objects.has(key)) this.#count(key, 1);
    this.#objects.set(key, value);
  }

  delete(key: string): void {
    if (this.#objects.delete(key)) this.#count(key, -1);
  }

  #count(key: string, delta: number): void {
    for (let i = key.indexOf('/'); i >= 0; i = key.indexOf('/', i + 1)) {
      const folder = key.slice(0, i);
      const n = (this.#folders.get(folder) ?? 0) + delta;
      if (n === 0) this.#folders.delete(folder);
      else this.#folders.set(folder, n);
    }
  }

  /** Keys starting with `prefix`, ascending (keys are ASCII: code-unit order is byte order). */
  list(prefix: string): string[] {
    const out: string[] = [];
    for (const k of this.#objects.keys()) if (k.startsWith(prefix)) out.push(k);
    return out.sort();
  }

  clone(copy: (v: V) => V): ObjectSpace<V> {
    const c = new ObjectSpace<V>();
    for (const [k, v] of this.#objects) c.set(k, copy(v));
    return c;
  }
}

export interface MemoryBlob {
  data: Uint8Array;
  immutable: boolean;
}

export interface MemoryStateValue {
  value: Uint8Array;
  /** Version counter: 1 for the first write, +1 per swap; the token is its decimal form. */
  counter: number;
}

export interface MemoryJournalState {
  start: number;
  /** Record `start + i` is `records[i]`. */
  records: Uint8Array[];
}

export interface MemoryLogState {
  blobs: ObjectSpace<MemoryBlob>;
  state: ObjectSpace<MemoryStateValue>;
  journal: MemoryJournalState | undefined;
}

/** Everything a memory driver persisted; `snapshot()` and `crash()` hand out deep copies. */
export interface MemoryStorageState {
  logs: Map<string, MemoryLogState>;
}

export function emptyState(): MemoryStorageState {
  return { logs: new Map() };
}

export function emptyLogState(): MemoryLogState {
  return { blobs: new ObjectSpace(), state: new ObjectSpace(), journal: undefined };
}

/** A deep copy: no byte array or map is shared with `s`. */
export function cloneState(s: MemoryStorageState): MemoryStorageState {
  const logs = new Map<string, MemoryLogState>();
  for (const [name, log] of s.logs) {
    logs.set(name, {
      blobs: log.blobs.clone((b) => ({ data: b.data.slice(), immutable: b.immutable })),
      state: log.state.clone((v) => ({ value: v.value.slice(), counter: v.counter })),
      journal: log.journal && {
        start: log.journal.start,
        records: log.journal.records.map((r) => r.slice()),
      },
    });
  }
  return { logs };
}
