/**
 * Deletes index rows in small transactions, yielding the event loop between them, so neither
 * resetting a log (its retired log id) nor pruning a prefix of any size blocks the server for long.
 *
 * Contentless FTS5 rows are deleted by repeating the exact column values they were inserted with,
 * which record-fields.ts derives again from the stored record. A record that no longer parses
 * leaves its full-text row behind: harmless, since no query reaches a retired id's k range or the
 * pruned range below a log's `first`.
 */
import type Database from 'better-sqlite3';
import { extractRecordFields } from './record-fields.js';
import { INDEX_LIMIT, indexOf, K } from './schema.js';

const CHUNK = 2048;

/** Deletes up to CHUNK rows of log id `logId` in [from, to); returns true when none are left there. */
function chunkDeleter(
  db: Database.Database,
): (logId: number, name: string, from: number, to: number) => boolean {
  const rowsOf = db.prepare<[number, number, number, number], { idx: number; record: string }>(
    `SELECT ${indexOf('k')} AS idx, record FROM events WHERE k BETWEEN ${K} AND ${K} ORDER BY k LIMIT ${CHUNK}`,
  );
  const deleteText = db.prepare(
    `INSERT INTO events_fts (events_fts, rowid, keys, text) VALUES ('delete', ${K}, ?, ?)`,
  );
  const deleteEvents = db.prepare(`DELETE FROM events WHERE k BETWEEN ${K} AND ${K}`);
  return db.transaction((logId: number, name: string, from: number, to: number): boolean => {
    if (to <= from) return true;
    const rows = rowsOf.all(logId, from, logId, to - 1);
    for (const { idx, record } of rows) {
      let fields: { keys: string; text: string } | undefined;
      try {
        fields = extractRecordFields(name, idx, record);
      } catch {
        fields = undefined;
      }
      if (fields !== undefined) deleteText.run(logId, idx, fields.keys, fields.text);
    }
    if (rows.length > 0) deleteEvents.run(logId, rows[0]!.idx, logId, rows[rows.length - 1]!.idx);
    return rows.length < CHUNK;
  }).immediate;
}

/** Purges every retired log id, oldest first; stops early (leaving the rest for later) once `stop()` is true. */
export async function purgeRetiredLogs(db: Database.Database, stop: () => boolean): Promise<void> {
  const nextRetired = db.prepare<[], { log_id: number; name: string }>(
    'SELECT log_id, name FROM retired_logs ORDER BY log_id LIMIT 1',
  );
  const deleteChunk = chunkDeleter(db);
  const finish = db.transaction((logId: number) => {
    db.prepare('DELETE FROM actions WHERE log_id = ?').run(logId);
    db.prepare('DELETE FROM retired_logs WHERE log_id = ?').run(logId);
  });
  while (!stop()) {
    const retired = nextRetired.get();
    if (retired === undefined) return;
    for (;;) {
      if (stop()) return;
      if (deleteChunk(retired.log_id, retired.name, 0, INDEX_LIMIT)) break;
      await yieldEventLoop();
    }
    finish.immediate(retired.log_id);
    await yieldEventLoop();
  }
}

/**
 * Deletes the rows of `log` (id `logId`) in [from, to): a pruned prefix. Rows below the log's `first`
 * are unreachable before this starts, so stopping early (`stop()`, at close) leaves only invisible
 * rows: they take space until a reset of the log retires its id.
 */
export async function purgeRange(
  db: Database.Database,
  logId: number,
  log: string,
  from: number,
  to: number,
  stop: () => boolean,
): Promise<void> {
  const deleteChunk = chunkDeleter(db);
  // Pruned data must not linger in the file: deleted cells are overwritten, and the WAL (which holds
  // copies of the old pages) is truncated once the range is gone.
  db.pragma('secure_delete = ON');
  try {
    while (!stop() && !deleteChunk(logId, log, from, to)) await yieldEventLoop();
  } finally {
    db.pragma('secure_delete = OFF');
  }
  if (!stop()) db.pragma('wal_checkpoint(TRUNCATE)');
}

function yieldEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
