/**
 * The alert rules' windows in `meta.sqlite` (`monitor_windows`), so that a restart does not reset
 * them: without this, 19 failures before a restart and 19 after stayed under a threshold of 20, and
 * anyone who could restart the server (or waited for a deploy) had fresh windows.
 *
 * The monitor writes the subjects changed since the last write, in one transaction, off the request
 * path (every `checkIntervalMs` and at close), so a crash loses at most that interval. Rows are
 * bounded like the memory they mirror: rows older than the window go, and each window keeps its
 * `keep` most recently active subjects. Reading them back at start is bounded by the same numbers.
 */
import type Database from 'better-sqlite3';
import type { WindowChange } from './windows.js';

export class WindowStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS monitor_windows (
        window_name TEXT NOT NULL,
        subject TEXT NOT NULL,
        last_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (window_name, subject)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS monitor_windows_by_age ON monitor_windows (window_name, last_ms);
    `);
    this.stmts = {
      load: db.prepare<[string, number, number], { subject: string; state: string }>(
        `SELECT subject, state FROM monitor_windows WHERE window_name = ? AND last_ms >= ?
         ORDER BY last_ms DESC LIMIT ?`,
      ),
      upsert: db.prepare<[string, string, number, string]>(
        `INSERT INTO monitor_windows (window_name, subject, last_ms, state) VALUES (?, ?, ?, ?)
         ON CONFLICT (window_name, subject) DO UPDATE SET last_ms = excluded.last_ms, state = excluded.state`,
      ),
      delete: db.prepare<[string, string]>(
        'DELETE FROM monitor_windows WHERE window_name = ? AND subject = ?',
      ),
      expire: db.prepare<[string, number]>(
        'DELETE FROM monitor_windows WHERE window_name = ? AND last_ms < ?',
      ),
      trim: db.prepare<[string, string, number]>(
        `DELETE FROM monitor_windows WHERE window_name = ? AND last_ms < (
           SELECT last_ms FROM monitor_windows WHERE window_name = ? ORDER BY last_ms DESC LIMIT 1 OFFSET ?)`,
      ),
    };
  }

  /** The `limit` most recently active subjects of `window` active since `since`, least recent first. */
  load(window: string, since: number, limit: number): Array<{ subject: string; state: string }> {
    return this.stmts.load.all(window, since, limit).reverse();
  }

  /** Writes `changes`, then forgets rows last active before `expiredBefore` and beyond the `keep` newest. */
  save(window: string, changes: readonly WindowChange[], expiredBefore: number, keep: number): void {
    if (changes.length === 0) return;
    this.db.transaction(() => {
      for (const c of changes) {
        if (c.state === null) this.stmts.delete.run(window, c.subject);
        else this.stmts.upsert.run(window, c.subject, c.lastMs, c.state);
      }
      this.stmts.expire.run(window, expiredBefore);
      this.stmts.trim.run(window, window, keep);
    })();
  }
}
