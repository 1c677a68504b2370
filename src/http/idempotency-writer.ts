/**
 * The writes of the idempotency store (idempotency.ts): one transaction per batch of changes, on
 * the caller's connection or, for a database file, on a worker thread's own connection. Every batch
 * is committed with `synchronous = FULL`, so an intent is durable once its batch resolves. On a worker
 * thread that fsync no longer stalls the event loop that answers requests (with it on the main
 * thread, requests with an `Idempotency-Key` ran at about 0.64× the rate of those without).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** One change: an intent row to write, or (`intent` undefined) the row to delete. */
export interface WriteOp {
  scope: string;
  key: string;
  fingerprint?: string;
  intent?: string;
  createdAt?: number;
}

/** Commits `ops` in one transaction; resolves once durable. */
export interface Writer {
  write(ops: readonly WriteOp[]): Promise<void>;
  /** True once the writer can take no more writes (its thread died); the caller should use another. */
  readonly dead: boolean;
  close(): Promise<void>;
}

/** Prepares the statements on `db` and returns the transaction that applies a batch. */
export function batchWriter(db: Database.Database): (ops: readonly WriteOp[]) => void {
  const upsert = db.prepare(
    "INSERT OR REPLACE INTO idempotency_keys (key_id, idem_key, fingerprint, intent, response, created_at) VALUES (?, ?, ?, ?, '', ?)",
  );
  const remove = db.prepare('DELETE FROM idempotency_keys WHERE key_id = ? AND idem_key = ?');
  return db.transaction((ops: readonly WriteOp[]) => {
    for (const op of ops) {
      if (op.intent === undefined) remove.run(op.scope, op.key);
      else upsert.run(op.scope, op.key, op.fingerprint, op.intent, op.createdAt);
    }
  });
}

/** Writes on `db` itself, synchronously (in-memory databases, and after the worker is closed). */
export function connectionWriter(db: Database.Database): Writer {
  const apply = batchWriter(db);
  return {
    write: async (ops) => apply(ops),
    dead: false,
    close: async () => undefined,
  };
}

const WORKER = new URL('./idempotency-writer.js', import.meta.url);

/**
 * A worker-thread writer for the database `db` (a file in WAL mode, so two connections can work at
 * once), or undefined where none can run. The thread starts with the first write and holds the
 * process open only while a write is outstanding.
 */
export function workerWriter(db: Database.Database): Writer | undefined {
  if (db.memory || !existsSync(fileURLToPath(WORKER))) return undefined;
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') return undefined;
  // The caller's connection now shares the file with the thread's: its writes (API keys, the purge)
  // wait for the thread's transaction instead of failing with SQLITE_BUSY.
  if (db.pragma('busy_timeout', { simple: true }) === 0) db.pragma('busy_timeout = 5000');
  const path = db.name;
  let worker: Worker | undefined;
  let nextId = 1;
  const calls = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let failed: Error | undefined;
  const fail = (err: unknown) => {
    const why = (err as { message?: unknown })?.message ?? err;
    failed ??= err instanceof Error ? err : new Error(`the idempotency writer failed: ${String(why)}`);
    for (const c of calls.values()) c.reject(failed);
    calls.clear();
  };
  const start = () => {
    const w = new Worker(WORKER, { workerData: { idempotencyDb: path } });
    w.on('message', (reply: { id: number; error?: string }) => {
      const c = calls.get(reply.id);
      calls.delete(reply.id);
      if (calls.size === 0) w.unref();
      if (reply.error === undefined) c?.resolve();
      else c?.reject(new Error(reply.error));
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the idempotency writer exited with code ${code}`)));
    return w;
  };
  return {
    write(ops) {
      if (failed) return Promise.reject(failed);
      worker ??= start();
      worker.ref();
      const id = nextId++;
      const w = worker;
      return new Promise((resolve, reject) => {
        calls.set(id, { resolve, reject });
        w.postMessage({ id, ops });
      });
    },
    get dead() {
      return failed !== undefined;
    },
    async close() {
      failed ??= new Error('the idempotency writer is closed');
      await worker?.terminate();
    },
  };
}

const port = parentPort;
const path = (workerData as { idempotencyDb?: string } | null)?.idempotencyDb;
if (port && path !== undefined) {
  const db = new Database(path);
  // The main thread's connection writes too (API keys, the purge of expired keys): wait for it.
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = FULL');
  const apply = batchWriter(db);
  port.on('message', ({ id, ops }: { id: number; ops: WriteOp[] }) => {
    try {
      apply(ops);
      port.postMessage({ id });
    } catch (err) {
      port.postMessage({ id, error: (err as Error).message ?? String(err) });
    }
  });
}
