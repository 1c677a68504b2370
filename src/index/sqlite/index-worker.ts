/**
 * Worker thread that owns the index's writes (issue: use the second core for indexing). It opens its
 * own connection to the same SQLite file; the main thread keeps a reading connection (WAL mode lets
 * both work at once), so queries and id look-ups stay synchronous while `add` runs in parallel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { IndexEntry } from '../types.js';
import { createSqliteIndex } from './sqlite-index.js';

export type WorkerRequest =
  | { id: number; op: 'add'; log: string; entries: IndexEntry[] }
  | { id: number; op: 'reset'; log: string }
  | { id: number; op: 'close' };

export type WorkerReply =
  | { id: number; ok: true }
  | { id: number; ok: false; error: { name: string; code?: string; message: string; details?: unknown } };

const port = parentPort;
if (port) {
  const index = createSqliteIndex({ path: (workerData as { path: string }).path });
  port.on('message', async (req: WorkerRequest) => {
    try {
      if (req.op === 'add') index.add(req.log, req.entries);
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
