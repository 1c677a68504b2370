/**
 * `Idempotency-Key` for ingest (draft-ietf-httpapi-idempotency-key-header): per API key, a key names
 * one request for `ttlMs`. A retry with the same key and the same body gets the first attempt's
 * entries and appends nothing; the same key with a different body is `idempotency.mismatch` (409). A
 * retry arriving while the first attempt is in flight waits for it rather than racing it.
 *
 * Crash safety comes from a write-ahead intent. Before the first attempt runs, its intent (for ingest:
 * the ids the server gives the events that carry none) is committed to SQLite (`idempotency_keys`,
 * in the caller's `meta` database, which is `synchronous = FULL`); only then does the append start.
 * So a key whose append may have become durable is always on disk with the ids it used. Intents
 * written in one event-loop turn share one transaction (one fsync), committed on a worker thread
 * for a database file (idempotency-writer.ts) so the fsync does not stall the event loop.
 *
 * Results are not stored. A retry runs `fn` again with the first attempt's intent, and for ingest the
 * engine finds those ids in the log and returns the original entries instead of appending twice
 * (engine.ts, `append(…, assigned)`), whether the first attempt answered, is still being appended,
 * or was cut short by a crash. The price: a retry reads its records back from the log, may meet
 * `log.pushback` like any append, and after retention pruned the entries (`retention.max` under
 * `ttlMs`) it appends them anew, as a retried event id would. Rows written before intents existed hold a result, which
 * is replayed as is.
 *
 * A first attempt refused as the client's fault (a 4xx problem) has its intent removed (with the
 * next write, at the end of the event-loop turn, before the 4xx is answered, so that not even a
 * crash right after the answer keeps the key), so the key may be used again, perhaps with a
 * corrected body; any other failure keeps it, since the attempt may have appended before it failed.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { IndelibleError } from '../core/errors.js';
import { connectionWriter, type WriteOp, type Writer, workerWriter } from './idempotency-writer.js';
import { HttpError, PROBLEMS } from './problem.js';

export interface IdempotencyStore {
  /**
   * Runs one request per (`scope`, `key`) within the TTL. The first commits `makeIntent()` durably
   * and then calls `fn(intent, false)` (or fails with `idempotency.unavailable` without calling it).
   * A retry with the same `fingerprint` calls `fn(intent, true)` with the first attempt's intent,
   * once that attempt is no longer in flight: `fn` must then return the first attempt's result,
   * doing nothing twice (for ingest, the engine's id deduplication does). Another fingerprint is
   * `idempotency.mismatch`. `replayed` is true only for a result stored by an older version. The
   * intent must survive a JSON round trip.
   */
  run<I, T>(
    scope: string,
    key: string,
    fingerprint: string,
    makeIntent: () => I,
    fn: (intent: I, retry: boolean) => Promise<T>,
  ): Promise<{ value: T; replayed: boolean }>;
  /** Writes pending records, stops the writer thread and the timers (does not close the database). */
  close(): Promise<void>;
}

export interface IdempotencyOptions {
  ttlMs: number;
  /**
   * Commit on a worker thread when the database is a file in WAL mode (default true; see
   * idempotency-writer.ts, which also gives `db` a busy timeout if it has none).
   */
  worker?: boolean;
  /** Tests: commits through this writer instead (a dead one is replaced by `db`'s own, as usual). */
  writer?: Writer;
  /** Milliseconds since the epoch. */
  clock?: { now(): number };
}

interface StoredRecord {
  fingerprint: string;
  /** JSON of the intent. */
  intent: string;
  /** JSON of the result, in rows written before intents existed; undefined otherwise. */
  response: string | undefined;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key_id      TEXT NOT NULL,    -- the API key's public id (the scope)
  idem_key    TEXT NOT NULL,    -- the client's Idempotency-Key header value
  fingerprint TEXT NOT NULL,    -- SHA-256 of log name and request body
  response    TEXT NOT NULL,    -- '' (rows written before intents existed: JSON of the result)
  created_at  INTEGER NOT NULL, -- ms since the epoch
  PRIMARY KEY (key_id, idem_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
`;

const PURGE_INTERVAL_MS = 10 * 60 * 1000;
/** After a failed write, what is pending is tried again this much later. */
const RETRY_WRITE_MS = 1000;

/** Header values accepted as keys: 1..255 visible ASCII characters (spaces inside allowed). */
const KEY_SYNTAX = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

function isClientError(err: unknown): boolean {
  if (!(err instanceof IndelibleError) || !Object.hasOwn(PROBLEMS, err.code)) return false;
  const { status } = PROBLEMS[err.code as keyof typeof PROBLEMS];
  return status >= 400 && status < 500;
}

/** The 409 for a key already used with another request. */
export function idempotencyMismatch(): HttpError {
  return new HttpError(
    'idempotency.mismatch',
    'this Idempotency-Key was already used for a different request (another body, or another log); use a new key for a new request',
    { details: { field: 'Idempotency-Key' } },
  );
}

export function isValidIdempotencyKey(value: string): boolean {
  return KEY_SYNTAX.test(value) && !value.endsWith(' ');
}

export function createSqliteIdempotencyStore(
  db: BetterSqlite3.Database,
  options: IdempotencyOptions,
): IdempotencyStore {
  db.exec(SCHEMA);
  // Databases made before intents existed get the column (their rows all hold results).
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(idempotency_keys)').all();
  if (!columns.some((c) => c.name === 'intent')) {
    db.exec("ALTER TABLE idempotency_keys ADD COLUMN intent TEXT NOT NULL DEFAULT ''");
  }
  const clock = options.clock ?? { now: () => Date.now() };
  const ttl = options.ttlMs;
  const select = db.prepare<
    [string, string],
    { fingerprint: string; intent: string; response: string; created_at: number }
  >(
    'SELECT fingerprint, intent, response, created_at FROM idempotency_keys WHERE key_id = ? AND idem_key = ?',
  );
  const purge = db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?');
  const direct = connectionWriter(db);
  let writer: Writer = options.writer ?? ((options.worker !== false && workerWriter(db)) || direct);

  const inflight = new Map<string, Promise<unknown>>();
  type Op = { scope: string; key: string; record: StoredRecord | null };
  // Changes not yet sent to the writer, by `scope \0 key` (null = delete), and those being written;
  // a look-up reads them, in that order, before the database.
  let pending = new Map<string, Op>();
  let writing: Map<string, Op> | undefined;
  let written: Promise<void> | undefined;
  // Intents waiting for the next batch to commit.
  let waiters: Array<{ resolve: () => void; reject: (err: unknown) => void; id: string }> = [];
  let flushScheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const toWriteOp = ({ scope, key, record }: Op): WriteOp =>
    record === null
      ? { scope, key }
      : { scope, key, fingerprint: record.fingerprint, intent: record.intent, createdAt: record.createdAt };
  /** Sends everything pending as one batch; one batch is written at a time. */
  const flush = () => {
    flushScheduled = false;
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    if (writing !== undefined) return; // the batch in flight sends the rest when it is done
    const committing = waiters;
    waiters = [];
    if (pending.size === 0) {
      for (const w of committing) w.resolve();
      return;
    }
    const batch = pending;
    pending = new Map();
    writing = batch;
    written = writer.write([...batch.values()].map(toWriteOp)).then(
      () => {
        writing = undefined;
        written = undefined;
        for (const w of committing) w.resolve();
        if (pending.size > 0 || waiters.length > 0) flush();
      },
      (err: unknown) => {
        // Nothing of the batch was written. Attempts waiting for their intent fail, and their keys
        // become deletions (an older row of the same key, from a refused attempt whose removal was
        // in the batch, must go too); the rest is tried again a little later.
        writing = undefined;
        written = undefined;
        // A writer thread that died (out of memory, say) is replaced by this connection's writer.
        if (writer.dead && writer !== direct) writer = direct;
        for (const [id, op] of batch) if (!pending.has(id)) pending.set(id, op);
        for (const w of committing) {
          const op = pending.get(w.id);
          if (op !== undefined) pending.set(w.id, { ...op, record: null });
          w.reject(err);
        }
        if (waiters.length > 0) {
          flush(); // intents that came meanwhile get their answer now, not after the retry delay
        } else if (!closed) {
          retryTimer = setTimeout(flush, RETRY_WRITE_MS);
          retryTimer.unref();
        }
      },
    );
  };
  /** Writes everything pending at the end of this event-loop turn (at once after `close()`). */
  const scheduleFlush = () => {
    if (closed) {
      flush();
    } else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  /** Resolves once everything pending now (the intent of `id` included) is committed. */
  const commitIntent = (id: string) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ resolve, reject, id });
      scheduleFlush();
    });
  const purgeTimer = setInterval(() => {
    try {
      purge.run(clock.now() - ttl);
    } catch {
      // A busy or closed database: the next interval tries again.
    }
  }, PURGE_INTERVAL_MS);
  purgeTimer.unref();

  function lookup(id: string, scope: string, key: string): StoredRecord | undefined {
    const now = clock.now();
    let rec: StoredRecord | undefined | null = (pending.get(id) ?? writing?.get(id))?.record;
    if (rec === undefined) {
      const row = select.get(scope, key);
      rec = row && {
        fingerprint: row.fingerprint,
        intent: row.intent,
        response: row.response === '' ? undefined : row.response,
        createdAt: row.created_at,
      };
    }
    return rec && rec.createdAt + ttl > now ? rec : undefined;
  }

  return {
    async run<I, T>(
      scope: string,
      key: string,
      fingerprint: string,
      makeIntent: () => I,
      fn: (intent: I, retry: boolean) => Promise<T>,
    ) {
      const id = `${scope}\u0000${key}`;
      for (;;) {
        const running = inflight.get(id);
        if (running !== undefined) {
          await running.catch(() => undefined);
          continue;
        }
        const stored = lookup(id, scope, key);
        if (stored !== undefined && stored.fingerprint !== fingerprint) {
          throw idempotencyMismatch();
        }
        if (stored?.response !== undefined) {
          return { value: JSON.parse(stored.response) as T, replayed: true };
        }
        // A first attempt, or the retry of one that was interrupted (its intent, no result).
        const attempt = (async () => {
          let record = stored;
          if (record === undefined) {
            if (closed)
              throw new HttpError('server.shutting_down', 'the server is shutting down; retry shortly');
            record = {
              fingerprint,
              intent: JSON.stringify(makeIntent()),
              response: undefined,
              createdAt: clock.now(),
            };
            pending.set(id, { scope, key, record });
            try {
              await commitIntent(id);
            } catch (cause) {
              throw new HttpError(
                'idempotency.unavailable',
                'the Idempotency-Key could not be recorded, so nothing was appended; retry shortly',
                { cause },
              );
            }
          }
          try {
            return await fn(JSON.parse(record.intent) as I, stored !== undefined);
          } catch (err) {
            // A first attempt refused as the client's fault (a 4xx problem: invalid event, id
            // conflict, …) appended nothing, so the key may be used again, perhaps with a corrected
            // body. Any other failure keeps the intent: the attempt may have appended before failing,
            // and a retry must then find those entries under the same ids. So does a refused re-run of
            // an earlier attempt: that attempt may have appended (before a crash, say) even though
            // the re-run was refused (a limit lowered since).
            if (stored === undefined && isClientError(err)) {
              pending.set(id, { scope, key, record: null });
              // Answered only once the removal is durable: a crash right after the 4xx must not
              // leave the key taken by an intent whose request was refused (the corrected retry
              // would get idempotency.mismatch). A failed removal is not the request's error.
              await commitIntent(id).catch(() => {});
            }
            throw err;
          }
        })();
        inflight.set(id, attempt);
        try {
          return { value: await attempt, replayed: false };
        } finally {
          inflight.delete(id);
        }
      }
    },
    async close() {
      clearInterval(purgeTimer);
      closed = true;
      flush(); // with this connection's writer this writes at once, before the first await
      while (written !== undefined) await written;
      if (writer !== direct) {
        const w = writer;
        writer = direct; // attempts ending after close() still remove their intents
        await w.close();
        flush();
      }
      if (retryTimer !== undefined) clearTimeout(retryTimer);
    },
  };
}
