/**
 * The memory driver's journal: records in an array, durable as soon as they are in it. Semantics
 * mirror the local journal: the same index checks and `openJournal(base)` rule, and an append
 * that rejects (an injected fault) leaves the journal unusable until reopened.
 */

import { StorageError } from '../errors.js';
import type { Journal } from '../types.js';
import { type FaultCall, type FaultDecision, injectedFault } from './faults.js';
import type { MemoryJournalState } from './memory-state.js';

/** What a journal needs from its driver. */
export interface MemoryJournalHost {
  /** Throws `storage.closed` once the driver is closed or crashed. */
  check(): void;
  /** Consults the fault injector; returns the numbered call and the decision. */
  fault(call: Omit<FaultCall, 'seq'>): { call: FaultCall; decision: FaultDecision };
}

function outOfRange(message: string, details: Record<string, unknown>): StorageError {
  return new StorageError('storage.out_of_range', message, { details });
}

/** The persisted journal as `openJournal(base)` finds it: as stored, or created empty at `base`. */
export function openJournalState(existing: MemoryJournalState | undefined, base: number): MemoryJournalState {
  if (!Number.isSafeInteger(base) || base < 0)
    throw outOfRange('journal base must be a non-negative integer', { base });
  return existing ?? { start: base, records: [] };
}

export class MemoryJournal implements Journal {
  readonly #host: MemoryJournalHost;
  readonly #log: string;
  readonly #state: MemoryJournalState;
  #status: 'open' | 'failed' | 'closed' = 'open';

  constructor(host: MemoryJournalHost, log: string, state: MemoryJournalState) {
    this.#host = host;
    this.#log = log;
    this.#state = state;
  }

  get start(): number {
    return this.#state.start;
  }

  get end(): number {
    return this.#state.start + this.#state.records.length;
  }

  #check(): void {
    this.#host.check();
    if (this.#status !== 'open') {
      const why = this.#status === 'failed' ? 'an append failed; reopen it' : 'it is closed';
      throw new StorageError('storage.closed', `journal unusable: ${why}`, {
        details: { state: this.#status },
      });
    }
  }

  async append(records: readonly Uint8Array[]): Promise<void> {
    this.#check();
    const { call, decision } = this.#host.fault({
      op: 'append',
      log: this.#log,
      index: this.end,
      records: records.length,
    });
    if (decision === 'fail-before') {
      this.#status = 'failed';
      throw injectedFault(call, decision);
    }
    for (const r of records) this.#state.records.push(r.slice());
    if (decision === 'fail-after') {
      this.#status = 'failed';
      throw injectedFault(call, decision);
    }
  }

  async read(from: number, to: number): Promise<Uint8Array[]> {
    this.#check();
    const { start, end } = this;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < start || from > to || to > end) {
      throw outOfRange(`journal read [${from}, ${to}) outside [${start}, ${end})`, { from, to, start, end });
    }
    return this.#state.records.slice(from - start, to - start).map((r) => r.slice());
  }

  async truncateBefore(index: number): Promise<void> {
    this.#check();
    if (!Number.isSafeInteger(index) || index < 0 || index > this.end) {
      throw outOfRange(`journal truncate at ${index} beyond end ${this.end}`, { index, end: this.end });
    }
    const { call, decision } = this.#host.fault({ op: 'truncateBefore', log: this.#log, index });
    if (decision === 'fail-before') throw injectedFault(call, decision);
    if (index > this.#state.start) {
      this.#state.records.splice(0, index - this.#state.start);
      this.#state.start = index;
    }
    if (decision === 'fail-after') throw injectedFault(call, decision);
  }

  async close(): Promise<void> {
    this.#status = 'closed';
  }
}
