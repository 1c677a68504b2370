/**
 * The `memory` storage driver: every log in maps; "durable" means "in the maps". It exists for the
 * engine's crash tests. A fault injector can fail any mutating call before or after it takes
 * effect, `crash()` returns a new driver over only what was persisted (open journals and the old
 * driver die), and `snapshot()` / `createMemoryDriver({ state })` copy state between drivers.
 *
 * Stored and returned bytes are copies, so a caller mutating its buffers cannot reach stored data.
 * Each call runs to completion without yielding, so compare-and-swap is trivially atomic.
 */

import { StorageError } from '../errors.js';
import { parsePrefix, validateBlobKey, validateKey, validateLogName } from '../keys.js';
import type {
  BlobStore,
  Journal,
  JournalSegmentScan,
  LogStorage,
  StateStore,
  StorageDriver,
  Versioned,
} from '../types.js';
import { type FaultCall, type FaultDecision, type FaultInjector, injectedFault } from './faults.js';
import { MemoryJournal, openJournalState } from './memory-journal.js';
import {
  cloneState,
  emptyLogState,
  emptyState,
  type MemoryLogState,
  type MemoryStorageState,
} from './memory-state.js';

export interface MemoryDriverOptions {
  /** Consulted before every mutating call that passed validation (see faults.ts). */
  faults?: FaultInjector;
  /** Start from a copy of this state (from `snapshot()`); default empty. */
  state?: MemoryStorageState;
}

export function createMemoryDriver(options: MemoryDriverOptions = {}): MemoryDriver {
  return new MemoryDriver(
    options.state === undefined ? emptyState() : cloneState(options.state),
    options.faults,
  );
}

function immutableConflict(key: string, why: string): StorageError {
  return new StorageError('storage.immutable_conflict', `object ${key} ${why}`, { details: { key } });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export class MemoryDriver implements StorageDriver {
  readonly #state: MemoryStorageState;
  readonly #faults: FaultInjector | undefined;
  readonly #journals = new Map<string, MemoryJournal>();
  #seq = 0;
  #closed: 'open' | 'closed' | 'crashed' = 'open';

  constructor(state: MemoryStorageState, faults: FaultInjector | undefined) {
    this.#state = state;
    this.#faults = faults;
  }

  /** How many mutating calls reached the fault injector so far (the `seq` of the latest). */
  get calls(): number {
    return this.#seq;
  }

  /** A deep copy of everything persisted so far. */
  snapshot(): MemoryStorageState {
    return cloneState(this.#state);
  }

  /**
   * Simulates a crash and restart: this driver and its journals reject every further call with
   * `storage.closed`, and the returned driver sees exactly what was persisted (a `fail-after`
   * call's effect included, a `fail-before` call's not). Works on a closed driver too (a reopen).
   */
  crash(options: { faults?: FaultInjector } = {}): MemoryDriver {
    if (this.#closed === 'open') this.#closed = 'crashed';
    return new MemoryDriver(cloneState(this.#state), options.faults);
  }

  #check(): void {
    if (this.#closed !== 'open') {
      throw new StorageError('storage.closed', `memory storage driver is ${this.#closed}`);
    }
  }

  #fault(call: Omit<FaultCall, 'seq'>): { call: FaultCall; decision: FaultDecision } {
    const numbered: FaultCall = { seq: ++this.#seq, ...call };
    return { call: numbered, decision: this.#faults?.(numbered) ?? 'proceed' };
  }

  /** Runs `effect` between the two fault points of one mutating call. */
  #mutate<T>(call: Omit<FaultCall, 'seq'>, effect: () => T): T {
    const { call: numbered, decision } = this.#fault(call);
    if (decision === 'fail-before') throw injectedFault(numbered, decision);
    const result = effect();
    if (decision === 'fail-after') throw injectedFault(numbered, decision);
    return result;
  }

  #logState(name: string): MemoryLogState | undefined {
    return this.#state.logs.get(name);
  }

  #ensureLog(name: string): MemoryLogState {
    let log = this.#state.logs.get(name);
    if (log === undefined) {
      log = emptyLogState();
      this.#state.logs.set(name, log);
    }
    return log;
  }

  log(name: string): LogStorage {
    validateLogName(name);
    this.#check();
    return {
      blobs: this.#blobs(name),
      state: this.#stateStore(name),
      openJournal: (b) => this.#openJournal(name, b),
      scanJournal: () => this.#scanJournal(name),
    };
  }

  #blobs(log: string): BlobStore {
    return {
      put: async (key, data, options) => {
        validateBlobKey(key);
        this.#check();
        const immutable = options?.immutable === true;
        this.#mutate({ op: 'put', log, key, immutable }, () => {
          const space = this.#ensureLog(log).blobs;
          const existing = space.get(key);
          if (existing === undefined) space.checkPlace(key);
          else if (existing.immutable || immutable) {
            if (!bytesEqual(existing.data, data)) throw immutableConflict(key, 'exists with other bytes');
            if (immutable) existing.immutable = true;
            return;
          }
          space.set(key, { data: data.slice(), immutable });
        });
      },
      get: async (key) => {
        validateBlobKey(key);
        this.#check();
        return this.#logState(log)?.blobs.get(key)?.data.slice();
      },
      list: async (prefix) => {
        const { reserved } = parsePrefix(prefix);
        this.#check();
        return reserved ? [] : (this.#logState(log)?.blobs.list(prefix) ?? []);
      },
      delete: async (key, options) => {
        validateBlobKey(key);
        this.#check();
        const retention = options?.retention === true;
        this.#mutate({ op: 'delete', log, key, retention }, () => {
          const space = this.#logState(log)?.blobs;
          const existing = space?.get(key);
          if (existing === undefined) return;
          if (existing.immutable && !retention) throw immutableConflict(key, 'is immutable');
          space!.delete(key);
        });
      },
    };
  }

  #stateStore(log: string): StateStore {
    return {
      read: async (key): Promise<Versioned | undefined> => {
        validateKey(key);
        this.#check();
        const v = this.#logState(log)?.state.get(key);
        return v && { value: v.value.slice(), version: String(v.counter) };
      },
      compareAndSwap: async (key, expected, value) => {
        validateKey(key);
        this.#check();
        return this.#mutate({ op: 'compareAndSwap', log, key }, () => {
          const space = this.#ensureLog(log).state;
          const current = space.get(key);
          const version = current && String(current.counter);
          if (version !== expected) {
            throw new StorageError('storage.cas_conflict', `state ${key} is not at the expected version`, {
              details: { key, expected, actual: version },
            });
          }
          if (current === undefined) space.checkPlace(key);
          const counter = (current?.counter ?? 0) + 1;
          space.set(key, { value: value.slice(), counter });
          return String(counter);
        });
      },
    };
  }

  /** The persisted journal as one segment (nothing in memory is ever torn). */
  async *#scanJournal(log: string): AsyncGenerator<JournalSegmentScan> {
    this.#check();
    const journal = this.#logState(log)?.journal;
    if (journal === undefined) return;
    yield {
      name: 'journal',
      base: journal.start,
      records: journal.records.map((r) => r.slice()),
      tornBytes: 0,
    };
  }

  /** Opening a journal closes the one this driver opened before for the same log. */
  async #openJournal(log: string, base: number): Promise<Journal> {
    this.#check();
    const state = openJournalState(this.#logState(log)?.journal, base);
    await this.#journals.get(log)?.close();
    this.#ensureLog(log).journal = state;
    const host = { check: () => this.#check(), fault: (c: Omit<FaultCall, 'seq'>) => this.#fault(c) };
    const journal = new MemoryJournal(host, log, state);
    this.#journals.set(log, journal);
    return journal;
  }

  async listLogs(): Promise<string[]> {
    this.#check();
    return [...this.#state.logs.keys()].sort();
  }

  async close(): Promise<void> {
    if (this.#closed === 'open') this.#closed = 'closed';
    for (const j of this.#journals.values()) await j.close();
    this.#journals.clear();
  }
}
