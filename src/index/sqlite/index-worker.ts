/**
 * Worker thread that owns the index's writes (issue: use the second core for indexing). It opens its
 * own connection to the same SQLite file; the main thread keeps a reading connection (WAL mode lets
 * both work at once), so queries and id look-ups stay synchronous while `add` runs in parallel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { IndexEntry } from '../types.js';
import { DERIVED_FIELDS } from './record-fields.js';
import { createSqliteIndex } from './sqlite-index.js';

export type WorkerRequest =
  /**
   * Entries packed for a cheap transfer (three moved buffers, consecutive indices from `first`): the
   * records' UTF-8 bytes back to back, the end offset of each, and the leaf hashes, 32 bytes each.
   */
  | {
      id: number;
      op: 'add';
      log: string;
      first: number;
      records: Uint8Array;
      ends: Uint32Array;
      leafHashes: Uint8Array;
      /**
       * The entries' derived fields (IndexEntry derived, id and receivedAt), if the sender had them
       * for every entry: DERIVED_FIELDS strings per entry (record-fields.ts), concatenated, with the
       * end offset of each.
       */
      derived?: { text: string; ends: Uint32Array };
    }
  | { id: number; op: 'reset'; log: string }
  | { id: number; op: 'pruneBefore'; log: string; minimumIndex: number }
  | { id: number; op: 'close' };

export type WorkerReply =
  | { id: number; ok: true }
  | { id: number; ok: false; error: { name: string; code?: string; message: string; details?: unknown } };

function unpack(req: Extract<WorkerRequest, { op: 'add' }>): IndexEntry[] {
  const { first, records, ends, leafHashes, derived } = req;
  const text = Buffer.from(records.buffer, records.byteOffset, records.length);
  const out = new Array<IndexEntry>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const entry: IndexEntry = {
      index: first + i,
      leafHash: leafHashes.subarray(i * 32, i * 32 + 32),
      record: text.toString('utf8', start, ends[i]!),
    };
    start = ends[i]!;
    if (derived !== undefined) {
      const at = i * DERIVED_FIELDS;
      const part = (k: number) =>
        derived.text.slice(at + k === 0 ? 0 : derived.ends[at + k - 1]!, derived.ends[at + k]!);
      // The order of DERIVED_FIELDS (threaded-index.ts packDerived).
      entry.id = part(0);
      entry.receivedAt = part(1);
      const action = part(2);
      entry.derived = { action: action === '' ? null : action, keys: part(3), text: part(4) };
    }
    out[i] = entry;
  }
  return out;
}

const port = parentPort;
if (port) {
  const index = createSqliteIndex({ path: (workerData as { path: string }).path });
  port.on('message', async (req: WorkerRequest) => {
    try {
      if (req.op === 'add') index.add(req.log, unpack(req));
      else if (req.op === 'reset') await index.reset(req.log);
      else if (req.op === 'pruneBefore') await index.pruneBefore(req.log, req.minimumIndex);
      else index.close();
      port.postMessage({ id: req.id, ok: true } satisfies WorkerReply);
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string; details?: unknown };
      port.postMessage({
        id: req.id,
        ok: false,
        error: {
          name: e.name ?? 'Error',
          code: e.code,
          message: e.message ?? String(err),
          details: e.details,
        },
      } satisfies WorkerReply);
    }
  });
}
