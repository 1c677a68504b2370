/**
 * Deletes the rows of retired log ids (left by `reset`) in small transactions, yielding the event
 * loop between them, so resetting a log of any size never blocks the server for long.
 *
 * Contentless FTS5 rows are deleted by repeating the exact column values they were inserted with,
 * which record-fields.ts derives again from the stored record. A record that no longer parses
 * leaves its full-text row behind: harmless, since no query reaches a retired id's k range.
 */
import type Database from 'better-sqlite3';
import { extractRecordFields } from './record-fields.js';
import { INDEX_LIMIT, indexOf, K } from './schema.js';

const CHUNK = 2048;

/** Purges every retired log id, oldest first; stops early (leaving the rest for later) once `stop()` is true. */
export async function purgeRetiredLogs(db: Database.Database, stop: () => boolean): Promise<void> {
  const nextRetired = db.prepare<[], { log_id: number; name: string }>(
    'SELECT log_id, name FROM retired_logs ORDER BY log_id LIMIT 1',
  );
  const rowsOf = db.prepare<[number, number, number, number], { idx: number; record: string }>(
    `SELECT ${indexOf('k')} AS idx, record FROM events WHERE k BETWEEN ${K} AND ${K} ORDER BY k LIMIT ${CHUNK}`,
  );
  const deleteText = db.prepare(
    `INSERT INTO events_fts (events_fts, rowid, keys, text) VALUES ('delete', ${K}, ?, ?)`,
  );
  const deleteEvents = db.prepare(`DELETE FROM events WHERE k BETWEEN ${K} AND ${K}`);
  const deleteActions = db.prepare('DELETE FROM actions WHERE log_id = ?');
  const unretire = db.prepare('DELETE FROM retired_logs WHERE log_id = ?');

  /** Deletes up to CHUNK entries of the retired log; true when it has none left. */
  const purgeChunk = db.transaction((logId: number, name: string): boolean => {
    const rows = rowsOf.all(logId, 0, logId, INDEX_LIMIT - 1);
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
    if (rows.length === CHUNK) return false;
    deleteActions.run(logId);
    unretire.run(logId);
    return true;
  });

  while (!stop()) {
    const retired = nextRetired.get();
    if (retired === undefined) return;
    while (!stop() && !purgeChunk.immediate(retired.log_id, retired.name)) await yieldEventLoop();
    await yieldEventLoop();
  }
}

function yieldEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
