/**
 * The SQLite schema of the search index, its version and its migrations.
 *
 * Every entry is keyed by one integer `k = (log_id << 43) | index`, used as the events table's
 * rowid and the full-text rowid. So one log is one contiguous k range of both tables, and every
 * query is "this k range, in k order": FTS5 doclists are sorted by rowid, so a conjunction of
 * filters is a merge of sorted lists that can stop after `limit` matches, never a sort.
 *
 * Limits: 2^43 (8.8 trillion) entries per log, 2^20 - 1 log ids (a reset retires an id and takes a
 * new one). Values of k pass 2^53, so JavaScript never holds one: SQL computes k from (log id,
 * index) and hands back the index as `k & (2^43 - 1)`.
 */
import type Database from 'better-sqlite3';
import { IndexError } from '../types.js';

export const INDEX_BITS = 43;
/** Entries of one log have indices below this. */
export const INDEX_LIMIT = 2 ** INDEX_BITS;
/** Log ids are 1 .. MAX_LOG_ID. */
export const MAX_LOG_ID = 2 ** (63 - INDEX_BITS) - 1;
/** SQL for "the k of log id ?, index ?" (two anonymous parameters). */
export const K = `((? << ${INDEX_BITS}) | ?)`;
/** SQL for the entry index of the k in column `col`. */
export const indexOf = (col: string) => `(${col} & ${INDEX_LIMIT - 1})`;

/**
 * Migrations by starting version: MIGRATIONS[v] takes a database at version v to v + 1. Because the
 * index is derived, a migration that cannot convert data MAY instead drop and recreate tables and
 * set every log's `covered` to 0 (moving each log to a fresh log id); the engine then rebuilds the
 * index from the log.
 */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) =>
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('next_log_id', 1);

      -- One row per log name. Entries 0..covered-1 are present. received_monotonic says received_at
      -- never decreased along the log, so time bounds are found by binary search over k.
      CREATE TABLE logs (
        name TEXT PRIMARY KEY,
        log_id INTEGER NOT NULL UNIQUE,
        covered INTEGER NOT NULL,
        received_monotonic INTEGER NOT NULL,
        last_received_at TEXT
      ) WITHOUT ROWID;

      -- Log ids given up by reset whose rows are still being deleted (purge.ts). Ids are never reused.
      CREATE TABLE retired_logs (log_id INTEGER PRIMARY KEY, name TEXT NOT NULL);

      -- received_at is canonical (normalizeTimestamp); the record is the exact record text.
      CREATE TABLE events (
        k INTEGER PRIMARY KEY,
        leaf_hash BLOB NOT NULL,
        id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX events_id ON events (id);

      -- The distinct actions of each log, to expand an action prefix into exact action keys.
      CREATE TABLE actions (log_id INTEGER NOT NULL, action TEXT NOT NULL, PRIMARY KEY (log_id, action)) WITHOUT ROWID;

      -- Every filter but time is answered here. 'keys' holds one exact-match token per actor, action,
      -- outcome and target id (record-fields.ts keyToken); 'text' holds the compact free text.
      -- Contentless: the events table already holds the record, from which both columns are derived
      -- again to delete a row. columnsize=0: no per-row size table (we never rank). detail=full keeps
      -- positions, so a word such as an e-mail address matches as a phrase.
      CREATE VIRTUAL TABLE events_fts USING fts5 (
        keys, text, content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
      );
      -- Merge 8 segments of a level at a time instead of 4: about a sixth less CPU per insert for a
      -- few more segments for a query to visit.
      INSERT INTO events_fts (events_fts, rank) VALUES ('automerge', 8);
    `),
  // Retention pruning (index types: pruneBefore): entries below `first` were deleted; entries
  // first..covered-1 are present.
  (db) => db.exec('ALTER TABLE logs ADD COLUMN first INTEGER NOT NULL DEFAULT 0'),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Sets connection pragmas and brings the schema to SCHEMA_VERSION. */
export function openSchema(db: Database.Database): void {
  // The index is derived and rebuildable: WAL with synchronous=NORMAL may lose the last commits on
  // power loss (never corrupts), and the engine re-adds what coveredSize no longer claims.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('temp_store = MEMORY');
  db.pragma('cache_size = -65536');
  // Checkpoint every 32 MiB of WAL rather than 4 MiB: pages that FTS5 merges rewrite again and
  // again are copied back into the database once per checkpoint, not once per batch.
  db.pragma('wal_autocheckpoint = 8192');
  db.pragma('journal_size_limit = 67108864');
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  db.transaction(() => {
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    let version = row?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new IndexError('index.schema_too_new', 'the index was written by a newer version of Indelible', {
        details: { version, supported: SCHEMA_VERSION },
      });
    }
    if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    for (; version < SCHEMA_VERSION; version++) {
      MIGRATIONS[version]!(db);
      db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
    }
  }).immediate();
}
