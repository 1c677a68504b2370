/**
 * The SQLite search index with its writes on a worker thread (see index-worker.ts). Reads (`query`,
 * `findById`, `coveredSize`, `verifyAgainst`) use a connection on the calling thread and see every
 * `add` that has resolved. Needs a database file (`:memory:` cannot be shared between threads) and
 * the compiled worker next to this module; `createSearchIndex` falls back to the single-threaded
 * index where either is missing.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type EventQuery,
  type IndexEntry,
  IndexError,
  type QueryResult,
  type SearchIndex,
} from '../types.js';
import type { WorkerReply, WorkerRequest } from './index-worker.js';
import { DERIVED_FIELDS, isEventFields } from './record-fields.js';
import { createSqliteIndex, type SqliteIndex } from './sqlite-index.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** An entry that may also carry its record's UTF-8 bytes (the engine's sequenced records do). */
type EntryWithBytes = IndexEntry & { readonly bytes?: Uint8Array };

const encoder = new TextEncoder();

/** Entries packed for one transfer to the worker (see WorkerRequest 'add'). */
interface Packed {
  records: Uint8Array;
  ends: Uint32Array;
  leafHashes: Uint8Array;
  derived?: { text: string; ends: Uint32Array };
}

/**
 * Packs entries for one transfer to the worker: the record bytes back to back (copied from the
 * entries' own bytes where they carry them, else encoded from the text), each record's end offset,
 * and the leaf hashes, 32 bytes each: three buffers moved, nothing cloned per entry. When every
 * entry carries its derived fields, they go too, as one string and the end offset of each field
 * (else the worker parses every record of the call).
 * Undefined when the indices are not consecutive.
 */
function packEntries(entries: readonly EntryWithBytes[]): Packed | undefined {
  const n = entries.length;
  const first = entries[0]!.index;
  let size = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (e.index !== first + i) return undefined;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    size += e.bytes !== undefined ? e.bytes.length : e.record.length * 3;
  }
  let records = new Uint8Array(size);
  const ends = new Uint32Array(n);
  const leafHashes = new Uint8Array(n * 32);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (e.bytes !== undefined) {
      records.set(e.bytes, at);
      at += e.bytes.length;
    } else {
      at += encoder.encodeInto(e.record, new Uint8Array(records.buffer, at)).written;
    }
    ends[i] = at;
    leafHashes.set(e.leafHash, i * 32);
  }
  if (at < size) records = records.slice(0, at);
  return { records, ends, leafHashes, derived: packDerived(entries) };
}

/**
 * The derived fields of every entry as one string, `DERIVED_FIELDS` per entry, with the end offset
 * of each; undefined unless every entry has them (an empty action stands for a null one, so an
 * entry with a real empty action is not packed either).
 */
function packDerived(entries: readonly IndexEntry[]): Packed['derived'] {
  const ends = new Uint32Array(entries.length * DERIVED_FIELDS);
  const parts: string[] = [];
  let length = 0;
  let j = 0;
  for (const e of entries) {
    const f = e.derived;
    if (
      !isEventFields(f) ||
      f.action === '' ||
      typeof e.id !== 'string' ||
      typeof e.receivedAt !== 'string'
    ) {
      return undefined;
    }
    // The order of DERIVED_FIELDS, which unpack (index-worker.ts) reads back.
    for (const part of [e.id, e.receivedAt, f.action ?? '', f.keys, f.text]) {
      parts.push(part);
      length += part.length;
      ends[j++] = length;
    }
  }
  return { text: parts.join(''), ends };
}

const WORKER = new URL('./index-worker.js', import.meta.url);

/** A threaded index when possible, else the plain one (same behaviour, indexing on this thread). */
export function createSearchIndex(options: { path: string; threaded?: boolean }): SearchIndex {
  const canThread =
    options.threaded !== false && options.path !== ':memory:' && existsSync(fileURLToPath(WORKER));
  return canThread ? new ThreadedSqliteIndex(options.path) : createSqliteIndex({ path: options.path });
}

export class ThreadedSqliteIndex implements SearchIndex {
  private readonly reader: SqliteIndex;
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private failed: Error | undefined;

  constructor(path: string) {
    // The reader is opened first so that it creates or migrates the schema before the worker opens.
    this.reader = createSqliteIndex({ path });
    try {
      this.worker = new Worker(WORKER, { workerData: { path } });
    } catch (err) {
      this.reader.close();
      throw err;
    }
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve();
      else {
        const { code, message, details } = reply.error;
        p.reject(
          code?.startsWith('index.')
            ? new IndexError(
                code as IndexError['code'],
                message,
                details ? { details: details as Record<string, unknown> } : undefined,
              )
            : Object.assign(new Error(message), { code }),
        );
      }
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0) fail(new Error(`index worker exited with code ${code}`));
    });
  }

  private call(req: WithoutId<WorkerRequest>, transfer: ArrayBuffer[] = []): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as WorkerRequest, transfer);
    });
  }

  add(log: string, entries: readonly IndexEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const packed = packEntries(entries);
    if (packed === undefined) {
      return Promise.reject(new IndexError('index.not_contiguous', 'entries must have consecutive indices'));
    }
    const { records, ends, leafHashes, derived } = packed;
    const transfer = [records.buffer, ends.buffer, leafHashes.buffer] as ArrayBuffer[];
    if (derived) transfer.push(derived.ends.buffer as ArrayBuffer);
    const first = entries[0]!.index;
    return this.call({ op: 'add', log, first, records, ends, leafHashes, derived }, transfer);
  }

  deriveEvent(event: Readonly<Record<string, unknown>>): unknown {
    return this.reader.deriveEvent(event);
  }

  query(log: string, q: EventQuery): QueryResult {
    return this.reader.query(log, q);
  }

  coveredSize(log: string): number {
    return this.reader.coveredSize(log);
  }

  findById(log: string, id: string) {
    return this.reader.findById(log, id);
  }

  reset(log: string): Promise<void> {
    return this.call({ op: 'reset', log });
  }

  pruneBefore(log: string, minimumIndex: number): Promise<void> {
    return this.call({ op: 'pruneBefore', log, minimumIndex });
  }

  verifyAgainst(log: string, leafHashAt: (from: number, to: number) => Promise<Uint8Array[]>) {
    return this.reader.verifyAgainst(log, leafHashAt);
  }

  async close(): Promise<void> {
    try {
      if (!this.failed) await this.call({ op: 'close' });
    } finally {
      await this.worker.terminate();
      this.reader.close();
    }
  }
}
