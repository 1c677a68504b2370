/**
 * Damaged or altered data found while the server works raises `verification_failure`: the monitor's
 * `reportIntegrityError` tells integrity failures (INTEGRITY_CODES) from other errors, and the HTTP
 * server reports the one a request hit (a hash tile changed on disk, answered with a 500).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { IndelibleError } from '../core/errors.js';
import { buildServer } from '../http/server.js';
import { LogError } from '../log/errors.js';
import { RetentionError } from '../retention/errors.js';
import { createMonitor } from './monitor.js';
import { testMonitor } from './test-helpers.js';

test('reportIntegrityError raises verification_failure for damaged data only', () => {
  const { monitor } = testMonitor();
  const damaged = new LogError('log.inconsistent', 'log acme: hash tile tile/0/000 does not match', {
    details: { log: 'acme', tile: 'tile/0/000' },
  });
  assert.equal(monitor.reportIntegrityError(damaged, { source: 'request' }), true);
  const refused = new RetentionError('retention.bad_local_object', 'log b: tile/entries/001 does not match', {
    details: { log: 'b', object: 'tile/entries/001' },
  });
  assert.equal(monitor.reportIntegrityError(refused, { source: 'archive', log: 'b' }), true);
  // Not integrity failures: I/O, a busy log, anything without a code.
  for (const other of [
    new IndelibleError('storage.io', 'EIO'),
    new LogError('log.pushback', 'busy'),
    new Error('boom'),
    undefined,
  ]) {
    assert.equal(monitor.reportIntegrityError(other, { source: 'request', log: 'acme' }), false);
  }
  // The archive's own copy gone bad counts when an archive run meets it, not elsewhere.
  const conflict = new IndelibleError(
    'storage.immutable_conflict',
    'object tile/0/000 is archived with other bytes',
  );
  assert.equal(monitor.reportIntegrityError(conflict, { source: 'request', log: 'c' }), false);
  assert.equal(monitor.reportIntegrityError(conflict, { source: 'archive', log: 'c' }), true);
  const corrupt = new IndelibleError('storage.corrupt', 'archived object tile/entries/000 is missing');
  assert.equal(monitor.reportIntegrityError(corrupt, { source: 'archive', log: 'd' }), true);
  const alerts = monitor.alerts.list().alerts;
  assert.deepEqual(alerts.map((a) => [a.rule, a.subject, a.severity]).sort(), [
    ['verification_failure', 'log:acme', 'critical'],
    ['verification_failure', 'log:b', 'critical'],
    ['verification_failure', 'log:c', 'critical'],
    ['verification_failure', 'log:d', 'critical'],
  ]);
  const acme = alerts.find((a) => a.subject === 'log:acme')!;
  assert.equal(acme.details.source, 'request');
  assert.equal(acme.details.code, 'log.inconsistent');
  assert.match(String(acme.details.message), /tile\/0\/000/);
  assert.deepEqual(acme.details.details, { log: 'acme', tile: 'tile/0/000' });
});

/**
 * A data directory whose log `acme` holds 600 entries, with one bit flipped at `at` in the sealed
 * file `object` (a path under the log's directory), served with a monitor; closed after the test.
 */
async function serveDamaged(t: TestContext, object: string, at: number) {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-integrity-'));
  const { adminKey } = await initDataDir(dir);
  let dd = await openDataDir(dir);
  await dd.engine.createLog('acme');
  await dd.engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => ({ action: 'doc.read', actor: { id: `u${i}` } })),
  );
  await dd.close();
  const file = join(dir, 'logs', 'acme', ...object.split('/'));
  chmodSync(file, 0o644);
  const bytes = readFileSync(file);
  bytes[at] = bytes[at]! ^ 1;
  writeFileSync(file, bytes);

  dd = await openDataDir(dir);
  const monitor = createMonitor({ engine: dd.engine, meta: dd.meta, background: false });
  const app = await buildServer({
    engine: dd.engine,
    keys: dd.keys,
    meta: dd.meta,
    monitor,
    defaultMetrics: false,
    config: { accessLog: false },
  });
  t.after(async () => {
    await app.close();
    await monitor.close();
    await dd.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, monitor, adminKey };
}

test('a request that finds a damaged hash tile raises verification_failure for its log', async (t) => {
  const { app, monitor, adminKey } = await serveDamaged(t, 'tile/0/000', 40);
  const proof = (index: number) =>
    app.inject({
      url: `/v1/logs/acme/proofs/inclusion?index=${index}&tree_size=600`,
      headers: { authorization: `Bearer ${adminKey}` },
    });
  // A proof that never reads the damaged tile is served, and raises nothing.
  assert.equal((await proof(599)).statusCode, 200);
  assert.deepEqual(monitor.alerts.list().alerts, []);
  const res = await proof(5);
  assert.equal(res.statusCode, 500);
  assert.equal(res.json().code, 'log.inconsistent');
  const [alert, ...more] = monitor.alerts.list().alerts;
  assert.equal(more.length, 0);
  assert.equal(alert?.rule, 'verification_failure');
  assert.equal(alert?.subject, 'log:acme');
  assert.equal(alert?.details.source, 'request');
  assert.match(String(alert?.details.message), /hash tile tile\/0\/000 does not match/);
});

test('an export that meets a damaged entry bundle mid-stream raises verification_failure', async (t) => {
  const { app, monitor, adminKey } = await serveDamaged(t, 'tile/entries/001', 100);
  const res = await app.inject({
    url: '/v1/logs/acme/export',
    headers: { authorization: `Bearer ${adminKey}` },
  });
  // The 200 was sent before the damaged bundle was reached: the stream stops there with an error
  // line instead of the checkpoint, so it cannot verify.
  assert.equal(res.statusCode, 200);
  const lines = res.body.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 257);
  assert.equal(JSON.parse(lines[256]!).error.code, 'log.inconsistent');
  const alerts = monitor.alerts.list().alerts.filter((a) => a.rule === 'verification_failure');
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]!.subject, 'log:acme');
  assert.equal(alerts[0]!.details.source, 'request');
  assert.match(String(alerts[0]!.details.message), /entry bundle tile\/entries\/001/);
});
