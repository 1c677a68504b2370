/**
 * Worker thread that owns the index's writes (issue: use the second core for indexing). It opens its
 * own connection to the same SQLite file; the main thread keeps a reading connection (WAL mode lets
 * both work at once), so queries and id look-ups stay synchronous while `add` runs in parallel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { IndexEntry } from '../types.js';
import { createSqliteIndex } from './sqlite-index.js';

export type WorkerRequest =
  /**
   * Entries packed for a cheap transfer: record texts joined by '\n' (a JCS record never contains a
   * raw newline), their leaf hashes concatenated in one transferred buffer, consecutive indices.
   */
  | { id: number; op: 'add'; log: string; first: number; records: string; leafHashes: Uint8Array }
  | { id: number; op: 'reset'; log: string }
  | { id: number; op: 'close' };

export type WorkerReply =
  | { id: number; ok: true }
  | { id: number; ok: false; error: { name: string; code?: string; message: string; details?: unknown } };

function unpack(first: number, records: string, leafHashes: Uint8Array): IndexEntry[] {
  const texts = records.split('\n');
  return texts.map((record, i) => ({
    index: first + i,
    leafHash: leafHashes.subarray(i * 32, i * 32 + 32),
    record,
  }));
}

const port = parentPort;
if (port) {
  const index = createSqliteIndex({ path: (workerData as { path: string }).path });
  port.on('message', async (req: WorkerRequest) => {
    try {
      if (req.op === 'add') index.add(req.log, unpack(req.first, req.records, req.leafHashes));
      else if (req.op === 'reset') await index.reset(req.log);
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
