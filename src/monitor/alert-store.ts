/**
 * Alerts and webhook delivery cursors in `meta.sqlite` (tables `monitor_alerts`,
 * `monitor_webhook_cursors`). An alert is stored before anything else happens to it, with a
 * monotonic id (AUTOINCREMENT: never reused, even after deletes), so the webhook deliverer can send
 * alerts in id order and remember how far it got.
 */
import type Database from 'better-sqlite3';
import type { JsonObject } from '../core/event.js';
import type { Alert } from './audit-events.js';
import { RULES, type RuleName, SEVERITIES, type Severity } from './config.js';
import { MonitorError } from './errors.js';

export const DEFAULT_ALERT_LIMIT = 100;
export const MAX_ALERT_LIMIT = 1000;

/** Filters of `list`, combined with AND; results are newest first. */
export interface AlertQuery {
  rule?: string;
  severity?: string;
  subject?: string;
  acknowledged?: boolean;
  /** Raised at or after (ms since the epoch). */
  since?: number;
  /** Raised before (ms since the epoch). */
  until?: number;
  /** 1..1000, default 100. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface AlertPage {
  alerts: Alert[];
  /** Where the next (older) page starts, or null when this page reached the oldest alert. */
  nextCursor: string | null;
}

export interface NewAlert {
  rule: RuleName;
  severity: Severity;
  atMs: number;
  subject: string;
  details: JsonObject;
}

interface Row {
  id: number;
  rule: string;
  severity: string;
  at_ms: number;
  subject: string;
  details: string;
  acknowledged_at_ms: number | null;
  acknowledged_by: string | null;
  note: string | null;
}

const CURSOR = /^[1-9][0-9]{0,15}$/;

function invalid(field: string, message: string): MonitorError {
  return new MonitorError('monitor.invalid_query', message, { details: { field } });
}

function toAlert(r: Row): Alert {
  return {
    id: r.id,
    rule: r.rule as RuleName,
    severity: r.severity as Severity,
    at: new Date(r.at_ms).toISOString(),
    subject: r.subject,
    details: JSON.parse(r.details) as JsonObject,
    acknowledgedAt: r.acknowledged_at_ms === null ? null : new Date(r.acknowledged_at_ms).toISOString(),
    acknowledgedBy: r.acknowledged_by,
    note: r.note,
  };
}

export class AlertStore {
  private readonly stmts;
  private readonly listCache = new Map<string, Database.Statement<unknown[], Row>>();

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS monitor_alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        acknowledged_at_ms INTEGER,
        acknowledged_by TEXT,
        note TEXT
      );
      CREATE INDEX IF NOT EXISTS monitor_alerts_by_subject ON monitor_alerts (rule, subject, at_ms);
      CREATE TABLE IF NOT EXISTS monitor_webhook_cursors (
        webhook TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
    this.stmts = {
      insert: db.prepare<[string, string, number, string, string], Row>(
        `INSERT INTO monitor_alerts (rule, severity, at_ms, subject, details) VALUES (?, ?, ?, ?, ?)
         RETURNING *`,
      ),
      get: db.prepare<[number], Row>('SELECT * FROM monitor_alerts WHERE id = ?'),
      after: db.prepare<[number, number], Row>(
        'SELECT * FROM monitor_alerts WHERE id > ? ORDER BY id LIMIT ?',
      ),
      maxId: db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM monitor_alerts'),
      lastRaised: db.prepare<[string, string], { m: number | null }>(
        'SELECT MAX(at_ms) AS m FROM monitor_alerts WHERE rule = ? AND subject = ?',
      ),
      ack: db.prepare<[number, string, string | null, number], Row>(
        `UPDATE monitor_alerts SET acknowledged_at_ms = ?, acknowledged_by = ?, note = ?
         WHERE id = ? AND acknowledged_at_ms IS NULL RETURNING *`,
      ),
      cursor: db.prepare<[string], { last_id: number }>(
        'SELECT last_id FROM monitor_webhook_cursors WHERE webhook = ?',
      ),
      setCursor: db.prepare<[string, number, number]>(
        `INSERT INTO monitor_webhook_cursors (webhook, last_id, updated_at_ms) VALUES (?, ?, ?)
         ON CONFLICT (webhook) DO UPDATE SET last_id = MAX(last_id, excluded.last_id),
           updated_at_ms = excluded.updated_at_ms`,
      ),
    };
  }

  /** Stores an alert (durable when this returns, as durable as `meta.sqlite` is configured). */
  insert(a: NewAlert): Alert {
    const row = this.stmts.insert.get(a.rule, a.severity, a.atMs, a.subject, JSON.stringify(a.details));
    return toAlert(row!);
  }

  get(id: number): Alert | undefined {
    const row = Number.isSafeInteger(id) ? this.stmts.get.get(id) : undefined;
    return row === undefined ? undefined : toAlert(row);
  }

  /** Alerts with an id above `id`, oldest first (the deliverer's feed). */
  after(id: number, limit: number): Alert[] {
    return this.stmts.after.all(id, limit).map(toAlert);
  }

  /** The highest id so far, 0 when there is none. */
  maxId(): number {
    return this.stmts.maxId.get()?.m ?? 0;
  }

  /** When `rule` last fired for `subject` (ms), for deduplication across restarts. */
  lastRaised(rule: RuleName, subject: string): number | undefined {
    return this.stmts.lastRaised.get(rule, subject)?.m ?? undefined;
  }

  /**
   * Acknowledges an alert. Acknowledging one already acknowledged changes nothing (the first
   * acknowledgement stands) and returns it with `changed: false`.
   * @throws MonitorError `monitor.alert_not_found`; `monitor.self_ack` when `by` is the key the
   *   alert is about
   */
  acknowledge(
    id: number,
    by: string,
    note: string | null,
    atMs: number,
  ): { before: Alert; after: Alert; changed: boolean } {
    const before = this.get(id);
    if (before === undefined) {
      throw new MonitorError('monitor.alert_not_found', `no alert with id ${id}`, { details: { id } });
    }
    // The subject of an alert must not be the one to close it: a key whose export raised
    // large_export could otherwise acknowledge it away itself.
    if (before.subject === `key:${by}`) {
      throw new MonitorError(
        'monitor.self_ack',
        `alert ${id} is about key ${by}, which cannot acknowledge it; use another admin or auditor key`,
        { details: { id } },
      );
    }
    const row = this.stmts.ack.get(atMs, by, note, id);
    return row === undefined
      ? { before, after: before, changed: false }
      : { before, after: toAlert(row), changed: true };
  }

  /** Alerts matching `q`, newest first. @throws MonitorError `monitor.invalid_query` naming the field. */
  list(q: AlertQuery = {}): AlertPage {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.rule !== undefined) {
      if (!(RULES as readonly string[]).includes(q.rule))
        throw invalid('rule', `rule must be one of ${RULES.join(', ')}`);
      where.push('rule = ?');
      args.push(q.rule);
    }
    if (q.severity !== undefined) {
      if (!(SEVERITIES as readonly string[]).includes(q.severity))
        throw invalid('severity', `severity must be one of ${SEVERITIES.join(', ')}`);
      where.push('severity = ?');
      args.push(q.severity);
    }
    if (q.subject !== undefined) {
      where.push('subject = ?');
      args.push(q.subject);
    }
    if (q.acknowledged !== undefined)
      where.push(q.acknowledged ? 'acknowledged_at_ms IS NOT NULL' : 'acknowledged_at_ms IS NULL');
    for (const [field, v, op] of [
      ['since', q.since, '>='],
      ['until', q.until, '<'],
    ] as const) {
      if (v === undefined) continue;
      if (!Number.isSafeInteger(v)) throw invalid(field, `${field} must be a time`);
      where.push(`at_ms ${op} ?`);
      args.push(v);
    }
    if (q.cursor !== undefined) {
      if (!CURSOR.test(q.cursor) || !Number.isSafeInteger(Number(q.cursor)))
        throw invalid('cursor', 'cursor must be a next_cursor from a previous page');
      where.push('id < ?');
      args.push(Number(q.cursor));
    }
    const limit = q.limit ?? DEFAULT_ALERT_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ALERT_LIMIT)
      throw invalid('limit', `limit must be 1..${MAX_ALERT_LIMIT}`);
    const sql = `SELECT * FROM monitor_alerts${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    let stmt = this.listCache.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare<unknown[], Row>(sql);
      this.listCache.set(sql, stmt);
    }
    // One row more than asked tells whether an older page exists.
    const rows = stmt.all(...args, limit + 1);
    const alerts = rows.slice(0, limit).map(toAlert);
    const last = alerts[alerts.length - 1];
    return { alerts, nextCursor: rows.length > limit && last ? String(last.id) : null };
  }

  /** The last alert id a webhook acknowledged with a 2xx; undefined for a webhook never seen. */
  cursor(webhook: string): number | undefined {
    return this.stmts.cursor.get(webhook)?.last_id;
  }

  /** Moves a webhook's cursor forward (never back). */
  setCursor(webhook: string, lastId: number, atMs: number): void {
    this.stmts.setCursor.run(webhook, lastId, atMs);
  }
}
