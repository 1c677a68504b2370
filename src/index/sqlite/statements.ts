/**
 * The prepared statements of the SQLite index (prepared once per connection, reused for every call).
 * Every k is computed in SQL from (log id, index) by `K`; see schema.ts for why.
 */
import type Database from 'better-sqlite3';
import type { StoredEntry } from './record-fields.js';
import { indexOf, K } from './schema.js';

export interface LogRow {
  log_id: number;
  covered: number;
  /** Entries below this were pruned (deleted); 0 for a log never pruned. */
  first: number;
  received_monotonic: number;
  last_received_at: string | null;
}

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

export interface Statements {
  getLog: Stmt<[string], LogRow>;
  insertLog: Stmt<[string, number]>;
  takeLogId: Stmt<[], number>;
  updateLog: Stmt<[number, number, string | null, string]>;
  retireLog: Stmt<[number, string]>;
  insertEvent: Stmt<[number, number, Uint8Array, string, string, string]>;
  insertText: Stmt<[number, number, string, string]>;
  insertAction: Stmt<[number, string]>;
  getLeaf: Stmt<[number, number], Buffer>;
  getEntry: Stmt<[number, number], { leaf_hash: Buffer; record: string }>;
  getReceivedAt: Stmt<[number, number], string>;
  getById: Stmt<[string, number, number, number, number], { idx: number; leaf_hash: Buffer }>;
  getRange: Stmt<[number, number, number, number], StoredEntry>;
  actionsFrom: Stmt<[number, string], string>;
}

export function prepareStatements(db: Database.Database): Statements {
  return {
    getLog: db.prepare<[string], LogRow>(
      'SELECT log_id, covered, first, received_monotonic, last_received_at FROM logs WHERE name = ?',
    ),
    insertLog: db.prepare<[string, number]>(
      'INSERT INTO logs (name, log_id, covered, received_monotonic) VALUES (?, ?, 0, 1) ' +
        'ON CONFLICT (name) DO UPDATE SET log_id = excluded.log_id, covered = 0, first = 0, received_monotonic = 1, ' +
        'last_received_at = NULL',
    ),
    takeLogId: db
      .prepare<[], number>("UPDATE meta SET value = value + 1 WHERE key = 'next_log_id' RETURNING value - 1")
      .pluck(),
    updateLog: db.prepare<[number, number, string | null, string]>(
      'UPDATE logs SET covered = ?, received_monotonic = ?, last_received_at = ? WHERE name = ?',
    ),
    retireLog: db.prepare<[number, string]>('INSERT INTO retired_logs (log_id, name) VALUES (?, ?)'),
    insertEvent: db.prepare<[number, number, Uint8Array, string, string, string]>(
      `INSERT INTO events (k, leaf_hash, id, received_at, record) VALUES (${K}, ?, ?, ?, ?)`,
    ),
    insertText: db.prepare<[number, number, string, string]>(
      `INSERT INTO events_fts (rowid, keys, text) VALUES (${K}, ?, ?)`,
    ),
    insertAction: db.prepare<[number, string]>(
      'INSERT OR IGNORE INTO actions (log_id, action) VALUES (?, ?)',
    ),
    getLeaf: db.prepare<[number, number], Buffer>(`SELECT leaf_hash FROM events WHERE k = ${K}`).pluck(),
    getEntry: db.prepare<[number, number], { leaf_hash: Buffer; record: string }>(
      `SELECT leaf_hash, record FROM events WHERE k = ${K}`,
    ),
    getReceivedAt: db
      .prepare<[number, number], string>(`SELECT received_at FROM events WHERE k = ${K}`)
      .pluck(),
    getById: db.prepare<[string, number, number, number, number], { idx: number; leaf_hash: Buffer }>(
      `SELECT ${indexOf('k')} AS idx, leaf_hash FROM events INDEXED BY events_id ` +
        `WHERE id = ? AND k BETWEEN ${K} AND ${K} ORDER BY k LIMIT 1`,
    ),
    getRange: db.prepare<[number, number, number, number], StoredEntry>(
      `SELECT ${indexOf('k')} AS idx, leaf_hash, id, received_at, record FROM events ` +
        `WHERE k BETWEEN ${K} AND ${K} ORDER BY k`,
    ),
    actionsFrom: db
      .prepare<[number, string], string>(
        'SELECT action FROM actions WHERE log_id = ? AND action >= ? ORDER BY action',
      )
      .pluck(),
  };
}
