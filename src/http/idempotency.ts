/**
 * `Idempotency-Key` for ingest (draft-ietf-httpapi-idempotency-key-header): per API key, a key names
 * one request. The first request with a key runs and its result (the appended entries) is kept for
 * `ttlMs`; a retry with the same key and the same body gets that result back without appending
 * anything; the same key with a different body is `idempotency.mismatch` (409). A retry arriving
 * while the first is still in flight waits for it rather than racing it.
 *
 * Records live in SQLite (`idempotency_keys`, in the caller's `meta` database). They are written in
 * one transaction per event-loop turn, after the append is durable, so this never adds an fsync to
 * the ingest path; the price is that a crash between an ack and that write forgets the key. Events
 * with client `id`s are idempotent across crashes too (the engine deduplicates them from the log).
 * Only successful results are remembered: a failed request may be retried with the same key.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { HttpError } from './problem.js';

export interface IdempotencyStore {
  /**
   * Runs `fn` once per (`scope`, `key`) within the TTL: returns its value, or the remembered value
   * (`replayed: true`) when `fingerprint` matches the first request's. Throws `idempotency.mismatch`
   * when it does not. `fn`'s value must survive a JSON round trip.
   */
  run<T>(
    scope: string,
    key: string,
    fingerprint: string,
    fn: () => Promise<T>,
  ): Promise<{ value: T; replayed: boolean }>;
  /** Writes pending records and stops the purge timer (does not close the database). */
  close(): void;
}

export interface IdempotencyOptions {
  ttlMs: number;
  /** Milliseconds since the epoch. */
  clock?: { now(): number };
}

interface StoredRecord {
  fingerprint: string;
  response: string;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key_id      TEXT NOT NULL,    -- the API key's public id (the scope)
  idem_key    TEXT NOT NULL,    -- the client's Idempotency-Key header value
  fingerprint TEXT NOT NULL,    -- SHA-256 of log name and request body
  response    TEXT NOT NULL,    -- JSON of the remembered result
  created_at  INTEGER NOT NULL, -- ms since the epoch
  PRIMARY KEY (key_id, idem_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
`;

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

/** Header values accepted as keys: 1..255 visible ASCII characters (spaces inside allowed). */
const KEY_SYNTAX = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

export function isValidIdempotencyKey(value: string): boolean {
  return KEY_SYNTAX.test(value) && !value.endsWith(' ');
}

export function createSqliteIdempotencyStore(
  db: BetterSqlite3.Database,
  options: IdempotencyOptions,
): IdempotencyStore {
  db.exec(SCHEMA);
  const clock = options.clock ?? { now: () => Date.now() };
  const ttl = options.ttlMs;
  const select = db.prepare<[string, string], { fingerprint: string; response: string; created_at: number }>(
    'SELECT fingerprint, response, created_at FROM idempotency_keys WHERE key_id = ? AND idem_key = ?',
  );
  const upsert = db.prepare(
    'INSERT OR REPLACE INTO idempotency_keys (key_id, idem_key, fingerprint, response, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const purge = db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?');

  const inflight = new Map<string, Promise<unknown>>();
  // Records not yet written, by `scope \0 key`; read before the database so a retry sees them.
  const unwritten = new Map<string, StoredRecord & { scope: string; key: string }>();
  let flushScheduled = false;
  let closed = false;

  const writeAll = db.transaction(() => {
    for (const r of unwritten.values()) upsert.run(r.scope, r.key, r.fingerprint, r.response, r.createdAt);
  });
  const flush = () => {
    flushScheduled = false;
    if (unwritten.size === 0) return;
    try {
      writeAll();
      unwritten.clear();
    } catch {
      // Kept in memory and retried on the next write; idempotency is best effort across crashes.
    }
  };
  const timer = setInterval(() => {
    try {
      purge.run(clock.now() - ttl);
    } catch {
      // A busy or closed database: the next interval tries again.
    }
  }, PURGE_INTERVAL_MS);
  timer.unref();

  function lookup(scope: string, key: string): StoredRecord | undefined {
    const now = clock.now();
    const pending = unwritten.get(`${scope}\u0000${key}`);
    const rec =
      pending ??
      (() => {
        const row = select.get(scope, key);
        return row && { fingerprint: row.fingerprint, response: row.response, createdAt: row.created_at };
      })();
    return rec !== undefined && rec.createdAt + ttl > now ? rec : undefined;
  }

  return {
    async run<T>(scope: string, key: string, fingerprint: string, fn: () => Promise<T>) {
      const id = `${scope}\u0000${key}`;
      for (;;) {
        const running = inflight.get(id);
        if (running !== undefined) {
          await running.catch(() => undefined);
          continue;
        }
        const stored = lookup(scope, key);
        if (stored !== undefined) {
          if (stored.fingerprint !== fingerprint) {
            throw new HttpError(
              'idempotency.mismatch',
              'this Idempotency-Key was already used with a different request body; use a new key for a new request',
              { details: { field: 'Idempotency-Key' } },
            );
          }
          return { value: JSON.parse(stored.response) as T, replayed: true };
        }
        const p = fn();
        inflight.set(id, p);
        try {
          const value = await p;
          if (!closed) {
            unwritten.set(id, {
              scope,
              key,
              fingerprint,
              response: JSON.stringify(value),
              createdAt: clock.now(),
            });
            if (!flushScheduled) {
              flushScheduled = true;
              setImmediate(flush);
            }
          }
          return { value, replayed: false };
        } finally {
          inflight.delete(id);
        }
      }
    },
    close() {
      clearInterval(timer);
      flush();
      closed = true;
    },
  };
}
