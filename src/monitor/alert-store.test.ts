/** The alert store: monotonic ids, listing filters and their coded errors, cursors that never go back. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type AlertQuery, AlertStore } from './alert-store.js';

function store() {
  const s = new AlertStore(new Database(':memory:'));
  const add = (subject: string, atMs = 1000) =>
    s.insert({ rule: 'bulk_read', severity: 'warning', atMs, subject, details: { n: 1 } });
  return { s, add };
}

test('ids are monotonic and never reused, even after the newest row is deleted', () => {
  const db = new Database(':memory:');
  const s = new AlertStore(db);
  const a = s.insert({ rule: 'bulk_read', severity: 'warning', atMs: 1, subject: 'key:a', details: {} });
  const b = s.insert({ rule: 'bulk_read', severity: 'warning', atMs: 2, subject: 'key:a', details: {} });
  db.prepare('DELETE FROM monitor_alerts WHERE id = ?').run(b.id);
  const c = s.insert({ rule: 'bulk_read', severity: 'warning', atMs: 3, subject: 'key:a', details: {} });
  assert.ok(b.id > a.id && c.id > b.id);
  assert.equal(s.lastRaised('bulk_read', 'key:a'), 3);
  assert.equal(s.lastRaised('bulk_read', 'key:b'), undefined);
});

test('time filters are half-open [since, until)', () => {
  const { s, add } = store();
  add('key:a', 1000);
  add('key:b', 2000);
  add('key:c', 3000);
  assert.deepEqual(
    s.list({ since: 2000, until: 3000 }).alerts.map((a) => a.subject),
    ['key:b'],
  );
});

test('malformed queries are monitor.invalid_query naming the field', () => {
  const { s } = store();
  const cases: Array<[AlertQuery, string]> = [
    [{ rule: 'nope' }, 'rule'],
    [{ severity: 'loud' }, 'severity'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 1001 }, 'limit'],
    [{ limit: 1.5 }, 'limit'],
    [{ cursor: '0' }, 'cursor'],
    [{ cursor: '99999999999999999' }, 'cursor'],
    [{ since: Number.NaN }, 'since'],
  ];
  for (const [q, field] of cases) {
    assert.throws(
      () => s.list(q),
      (err: { code?: string; details?: { field?: string } }) =>
        err.code === 'monitor.invalid_query' && err.details?.field === field,
      JSON.stringify(q),
    );
  }
});

test('acknowledge: unknown id is monitor.alert_not_found; the first acknowledgement stands', () => {
  const { s, add } = store();
  const a = add('key:a');
  assert.throws(
    () => s.acknowledge(a.id + 1, 'key_x', null, 5),
    (e: { code?: string }) => e.code === 'monitor.alert_not_found',
  );
  const first = s.acknowledge(a.id, 'key_x', 'fine', 5);
  assert.equal(first.changed, true);
  assert.equal(first.before.acknowledgedAt, null);
  assert.equal(first.after.acknowledgedAt, new Date(5).toISOString());
  const second = s.acknowledge(a.id, 'key_y', 'other', 6);
  assert.equal(second.changed, false);
  assert.equal(second.after.acknowledgedBy, 'key_x');
});

test('webhook cursors only move forward', () => {
  const { s } = store();
  assert.equal(s.cursor('ops'), undefined);
  s.setCursor('ops', 5, 1);
  s.setCursor('ops', 3, 2);
  assert.equal(s.cursor('ops'), 5);
});
