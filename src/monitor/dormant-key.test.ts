/**
 * `dormant_key` for a key's first use, against the real key store and HTTP server: authentication
 * sets the key's last_used_at before the monitor sees the request, so the monitor measures a key it
 * has never seen from the key's creation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteKeyStore } from '../auth/key-store.js';
import { buildServer } from '../http/server.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine } from '../log/engine.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { AUDIT_LOG, createMonitor } from './monitor.js';
import { ManualClock } from './test-helpers.js';

const DAY = 24 * 60 * 60 * 1000;

async function setup() {
  const clock = new ManualClock();
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'test.indelible.example',
  });
  await engine.createLog(AUDIT_LOG, { system: true });
  await engine.createLog('acme');
  await engine.append('acme', [{ action: 'document.read', actor: { id: 'alice' } }]);
  const meta = new Database(':memory:');
  const keys = createSqliteKeyStore(meta, clock);
  const monitor = createMonitor({
    engine,
    meta,
    clock,
    background: false,
    config: { rules: { dormant_key: { dormantMs: 30 * DAY } } },
  });
  const app = await buildServer({ engine, keys, meta, monitor, clock, defaultMetrics: false });
  await app.ready();
  const read = (key: string) =>
    app.inject({ url: '/v1/logs/acme/entries/0', headers: { authorization: `Bearer ${key}` } });
  return {
    clock,
    keys,
    monitor,
    read,
    async close() {
      await app.close();
      await monitor.close();
      await engine.close();
      meta.close();
    },
  };
}

test('the first use of a key created at least dormantMs ago raises dormant_key; a fresh one does not', async () => {
  const s = await setup();
  const old = s.keys.create({ role: 'reader', logs: null });
  s.clock.advance(30 * DAY);
  const fresh = s.keys.create({ role: 'reader', logs: null });
  s.clock.advance(DAY - 1);

  assert.equal((await s.read(fresh.secret)).statusCode, 200);
  assert.deepEqual(s.monitor.alerts.list({ rule: 'dormant_key' }).alerts, [], 'a fresh key is no news');

  assert.equal((await s.read(old.secret)).statusCode, 200);
  const alerts = s.monitor.alerts.list({ rule: 'dormant_key' }).alerts;
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]!.subject, `key:${old.info.id}`);
  assert.equal(alerts[0]!.details.last_seen, old.info.createdAt);
  assert.equal(alerts[0]!.details.first_use, true);
  // The key store did record the use (before the monitor saw it): it cannot be the baseline.
  assert.ok(s.keys.get(old.info.id)!.lastUsedAt! > old.info.createdAt);

  // The first use is now the baseline: the next use is no news.
  s.clock.advance(60_000);
  await s.read(old.secret);
  assert.equal(s.monitor.alerts.list({ rule: 'dormant_key' }).alerts.length, 1);
  await s.close();
});

test('a key created just under dormantMs ago does not raise dormant_key on its first use', async () => {
  const s = await setup();
  const key = s.keys.create({ role: 'reader', logs: null });
  s.clock.advance(30 * DAY - 1);
  assert.equal((await s.read(key.secret)).statusCode, 200);
  assert.deepEqual(s.monitor.alerts.list({ rule: 'dormant_key' }).alerts, []);
  await s.close();
});
