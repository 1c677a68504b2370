// An admin action is answered only once its `_audit` record is durable (review I: a SIGKILL right
// after the answer lost the records of key revocations, log creations and legal-hold releases that
// had happened). The recorder here flushes once a minute, so only the wait makes the record appear.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { buildServer } from '../http/server.js';
import { createMonitor } from './monitor.js';

test('an admin action is answered after its _audit record is in the log; a read is not held', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-admin-durable-'));
  const init = await initDataDir(dir);
  const dd = await openDataDir(dir);
  const monitor = createMonitor({
    engine: dd.engine,
    meta: dd.meta,
    background: false,
    config: { audit: { flushIntervalMs: 60_000 } },
  });
  const app = await buildServer({
    engine: dd.engine,
    keys: dd.keys,
    meta: dd.meta,
    monitor,
    defaultMetrics: false,
    config: { accessLog: false },
  });
  try {
    const audit = dd.engine.log('_audit');
    const actions = async () =>
      (await audit.readRecords(0, audit.size)).map(
        (r) => (JSON.parse(Buffer.from(r).toString('utf8')) as { event: { action: string } }).event.action,
      );
    const auth = { authorization: `Bearer ${init.adminKey}` };
    const created = await app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: auth,
      payload: { name: 'acme' },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.ok((await actions()).includes('audit.admin.log.create'), 'durable before the answer');

    const read = await app.inject({ method: 'GET', url: '/v1/logs/acme/events', headers: auth });
    assert.equal(read.statusCode, 200);
    assert.ok(!(await actions()).includes('audit.read'), 'reads are batched as before');
  } finally {
    await app.close();
    await monitor.close();
    await dd.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
