/**
 * In-process tests of every route's happy path and documented answers (DESIGN §4 and the HTTP
 * issue): admin, ingest, search, entries, operations and the OpenAPI document. Expected shapes and
 * hashes come from the contract (leaf hash = SHA-256(0x00 ‖ record), computed here with node:crypto).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { fromHex } from '../core/encoding.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyReceipt } from '../core/receipt.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { type Harness, leafHashOf, sampleEvent, startHarness } from './test-harness.js';

const HEX64 = /^[0-9a-f]{64}$/;

describe('admin routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('creates a log: 201 {name, origin, verifier_key}; a second time is 409 log.exists', async () => {
    const res = await h.req({ method: 'POST', url: '/v1/logs', key: h.admin, payload: { name: 'acme' } });
    assert.equal(res.statusCode, 201);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['name', 'origin', 'verifier_key']);
    assert.equal(body.name, 'acme');
    assert.ok(body.origin.endsWith('/acme'));
    assert.equal(parseVerifierKey(body.verifier_key).name, body.origin);
    const again = await h.req({ method: 'POST', url: '/v1/logs', key: h.admin, payload: { name: 'acme' } });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'log.exists');
  });

  const badNames: Array<[string, unknown, string, string]> = [
    ['reserved _ prefix', { name: '_audit' }, 'log.invalid_name', 'name'],
    ['upper case', { name: 'Acme' }, 'log.invalid_name', 'name'],
    ['too long', { name: 'a'.repeat(64) }, 'log.invalid_name', 'name'],
    ['missing name', {}, 'request.invalid', 'name'],
    ['wrong type', { name: 7 }, 'request.invalid', 'name'],
    ['unknown field', { name: 'ok', color: 'red' }, 'request.invalid', 'color'],
  ];
  for (const [what, payload, code, field] of badNames) {
    it(`refuses a log ${what} with 400 ${code} naming ${field}`, async () => {
      const res = await h.req({ method: 'POST', url: '/v1/logs', key: h.admin, payload: payload as object });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().code, code);
      assert.equal(res.json().field, field);
    });
  }

  it('lists logs and shows one log', async () => {
    await h.createLog('beta');
    const list = await h.req({ method: 'GET', url: '/v1/logs', key: h.admin });
    assert.equal(list.statusCode, 200);
    const names = list.json().logs.map((l: { name: string }) => l.name);
    assert.ok(names.includes('acme') && names.includes('beta'));
    const one = await h.req({ method: 'GET', url: '/v1/logs/beta', key: h.admin });
    assert.equal(one.statusCode, 200);
    assert.equal(one.json().name, 'beta');
    assert.equal(one.json().tree_size, 0);
    const missing = await h.req({ method: 'GET', url: '/v1/logs/nope', key: h.admin });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'log.not_found');
  });

  it("lists only the logs in a scoped key's scope", async () => {
    const reader = h.key('reader', ['beta']);
    const list = await h.req({ method: 'GET', url: '/v1/logs', key: reader });
    assert.deepEqual(
      list.json().logs.map((l: { name: string }) => l.name),
      ['beta'],
    );
    const other = await h.req({ method: 'GET', url: '/v1/logs/acme', key: reader });
    assert.equal(other.statusCode, 403);
  });

  it('creates, lists (never secrets) and revokes keys; revocation is effective on the next request', async () => {
    const created = await h.req({
      method: 'POST',
      url: '/v1/keys',
      key: h.admin,
      payload: { role: 'reader', logs: ['acme'], description: 'dashboards' },
    });
    assert.equal(created.statusCode, 201);
    const { id, key, role, logs } = created.json();
    assert.equal(role, 'reader');
    assert.deepEqual(logs, ['acme']);
    assert.equal(typeof key, 'string');
    assert.equal((await h.req({ method: 'GET', url: '/v1/logs/acme/events', key })).statusCode, 200);

    const list = await h.req({ method: 'GET', url: '/v1/keys', key: h.admin });
    assert.equal(list.statusCode, 200);
    assert.ok(!list.body.includes(key), 'a key listing must not contain a secret');
    assert.ok(!list.body.includes(h.admin), 'a key listing must not contain a secret');
    const listed = list.json().keys.find((k: { id: string }) => k.id === id);
    assert.equal(listed.description, 'dashboards');
    assert.equal(listed.revoked_at, null);
    assert.equal(listed.key, undefined);

    // Some clients label a DELETE's empty body as JSON: that is no reason to refuse it.
    const revoked = await h.req({
      method: 'DELETE',
      url: `/v1/keys/${id}`,
      key: h.admin,
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(revoked.statusCode, 204);
    assert.equal(revoked.body, '');
    const seen = h.accesses.length;
    const after = await h.req({ method: 'GET', url: '/v1/logs/acme/events', key });
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().code, 'auth.unauthenticated');
    // The refusal is audited under the revoked key (its secret is still out there); an unknown key
    // stays anonymous.
    const refused = h.accesses.slice(seen).find((a) => a.kind === 'auth_failure');
    assert.deepEqual([refused?.keyId, refused?.filter], [id, { reason: 'revoked_key' }]);
    await h.req({ method: 'GET', url: '/v1/logs/acme/events', key: `ik_${'A'.repeat(43)}` });
    assert.equal(h.accesses.at(-1)?.keyId, null);
    const twice = await h.req({ method: 'DELETE', url: `/v1/keys/${id}`, key: h.admin });
    assert.equal(twice.statusCode, 404);
    assert.equal(twice.json().code, 'auth.key_not_found');
  });

  it('what a key tried and failed is recorded with its status; appends to _audit as auth failures', async () => {
    const reader = h.key('reader', ['acme']);
    const tries: Array<[Parameters<Harness['req']>[0], number, string]> = [
      [{ method: 'DELETE', url: '/v1/keys/key_nonexistent0000000000', key: h.admin }, 404, 'admin'],
      [{ method: 'POST', url: '/v1/logs', key: h.admin, payload: { name: 'acme' } }, 409, 'admin'],
      [{ method: 'GET', url: '/v1/logs/acme/entries/999999', key: reader }, 404, 'read'],
      [{ method: 'GET', url: '/v1/logs/acme/events?cursor=zzz', key: reader }, 400, 'read'],
      [
        { method: 'POST', url: '/v1/logs/_audit/events', key: h.admin, payload: sampleEvent(1) },
        403,
        'auth_failure',
      ],
    ];
    for (const [req, status, kind] of tries) {
      const before = h.accesses.length;
      const res = await h.req(req);
      assert.equal(res.statusCode, status, `${req.method} ${req.url}: ${res.body}`);
      assert.deepEqual(
        h.accesses.slice(before).map((a) => [a.kind, a.status]),
        [[kind, status]],
        `${req.method} ${req.url}`,
      );
    }
    // Not recorded: a refused append to a tenant log (appends are not audited), public reads.
    const before = h.accesses.length;
    await h.req({ method: 'POST', url: '/v1/logs/acme/events', key: h.admin, payload: { nope: 1 } });
    await h.req({ method: 'GET', url: '/v1/logs/acme/tile/0/999' });
    assert.equal(h.accesses.length, before);
  });

  it('requests refused by the rate limit are not recorded one by one', async () => {
    const g = await startHarness({ config: { rateLimit: { ratePerSecond: 0.001, burst: 1 } } });
    try {
      await g.createLog('acme');
      const reader = g.key('reader', ['acme']);
      const before = g.accesses.length;
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        statuses.push((await g.req({ method: 'GET', url: '/v1/logs/acme/events', key: reader })).statusCode);
      }
      assert.deepEqual([statuses[0], statuses[19]], [200, 429]);
      assert.deepEqual(
        g.accesses.slice(before).map((a) => a.status),
        [200],
        'one record (the read), not one per 429',
      );
    } finally {
      await g.close();
    }
  });

  it('the last active all-logs admin key cannot be revoked over the API (409 auth.last_admin)', async () => {
    const g = await startHarness();
    try {
      const adminId = (await g.req({ method: 'GET', url: '/v1/keys', key: g.admin })).json().keys[0].id;
      const self = await g.req({ method: 'DELETE', url: `/v1/keys/${adminId}`, key: g.admin });
      assert.equal(self.statusCode, 409, self.body);
      assert.equal(self.json().code, 'auth.last_admin');
      // A scoped admin is no successor: it cannot manage keys.
      g.key('admin', ['acme']);
      assert.equal(
        (await g.req({ method: 'DELETE', url: `/v1/keys/${adminId}`, key: g.admin })).statusCode,
        409,
      );
      const next = await g.req({ method: 'POST', url: '/v1/keys', key: g.admin, payload: { role: 'admin' } });
      assert.equal(next.statusCode, 201, next.body);
      const { id: nextId, key: secret } = next.json() as { id: string; key: string };
      assert.equal(
        (await g.req({ method: 'DELETE', url: `/v1/keys/${adminId}`, key: g.admin })).statusCode,
        204,
      );
      const last = await g.req({ method: 'DELETE', url: `/v1/keys/${nextId}`, key: secret });
      assert.equal(last.statusCode, 409, 'now the successor is the last one');
      assert.equal((await g.req({ method: 'GET', url: '/v1/keys', key: secret })).statusCode, 200);
    } finally {
      await g.close();
    }
  });

  it('creates an all-logs key when logs is omitted, and refuses bad roles naming the field', async () => {
    const res = await h.req({ method: 'POST', url: '/v1/keys', key: h.admin, payload: { role: 'writer' } });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().logs, null);
    const bad = await h.req({ method: 'POST', url: '/v1/keys', key: h.admin, payload: { role: 'root' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().field, 'role');
  });

  it('hands every admin action to onAccess', async () => {
    const kinds = h.accesses.filter((a) => a.kind === 'admin').map((a) => `${a.method} ${a.route}`);
    for (const r of ['POST /v1/logs', 'POST /v1/keys', 'GET /v1/keys', 'DELETE /v1/keys/:id']) {
      assert.ok(kinds.includes(r), `missing admin access event for ${r}`);
    }
  });
});

describe('ingest and reads', () => {
  let h: Harness;
  let writer: string;
  let reader: string;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    writer = h.key('writer', ['acme']);
    reader = h.key('reader', ['acme']);
  });
  after(() => h.close());

  const post = (
    payload: unknown,
    opts: { url?: string; type?: string; headers?: Record<string, string> } = {},
  ) =>
    h.req({
      method: 'POST',
      url: opts.url ?? '/v1/logs/acme/events',
      key: writer,
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: { 'content-type': opts.type ?? 'application/json', ...opts.headers },
    });

  it('appends one event: 201 with one entry', async () => {
    const res = await post(sampleEvent(0));
    assert.equal(res.statusCode, 201);
    const { entries } = res.json();
    assert.equal(entries.length, 1);
    assert.deepEqual(Object.keys(entries[0]).sort(), ['id', 'index', 'leaf_hash', 'received_at']);
    assert.equal(entries[0].index, 0);
    assert.match(entries[0].leaf_hash, HEX64);
    assert.ok(!Number.isNaN(Date.parse(entries[0].received_at)));
  });

  it('appends a batch and NDJSON in order, with consecutive indices', async () => {
    const batch = await post({ events: [sampleEvent(1), sampleEvent(2, { id: 'client-2' })] });
    assert.equal(batch.statusCode, 201);
    assert.deepEqual(
      batch.json().entries.map((e: { index: number }) => e.index),
      [1, 2],
    );
    assert.equal(batch.json().entries[1].id, 'client-2');
    const nd = `${JSON.stringify(sampleEvent(3))}\n${JSON.stringify(sampleEvent(4))}\n`;
    const res = await post(nd, { type: 'application/x-ndjson' });
    assert.equal(res.statusCode, 201);
    assert.deepEqual(
      res.json().entries.map((e: { index: number }) => e.index),
      [3, 4],
    );
  });

  it('serves each entry as its exact record text, hashing to the acknowledged leaf hash', async () => {
    const ack = (await post(sampleEvent(5, { metadata: { note: 'Zoë 🦀', n: 1.5 } }))).json().entries[0];
    const res = await h.req({ method: 'GET', url: `/v1/logs/acme/entries/${ack.index}`, key: reader });
    assert.equal(res.statusCode, 200);
    const { index, leaf_hash, record } = res.json();
    assert.equal(index, ack.index);
    assert.equal(leaf_hash, ack.leaf_hash);
    assert.equal(leafHashOf(record), ack.leaf_hash);
    const parsed = JSON.parse(record);
    assert.equal(parsed.log, 'acme');
    assert.equal(parsed.index, ack.index);
    assert.equal(parsed.id, ack.id);
    assert.deepEqual(parsed.event.metadata, { note: 'Zoë 🦀', n: 1.5 });
    const beyond = await h.req({ method: 'GET', url: '/v1/logs/acme/entries/1000', key: reader });
    assert.equal(beyond.statusCode, 404);
    assert.equal(beyond.json().code, 'log.out_of_range');
  });

  it('wait=checkpoint returns a covering checkpoint and receipts that verify offline', async () => {
    const res = await post(
      { events: [sampleEvent(6), sampleEvent(7), sampleEvent(8)] },
      {
        url: '/v1/logs/acme/events?wait=checkpoint',
      },
    );
    assert.equal(res.statusCode, 201);
    const { entries, checkpoint } = res.json();
    const info = (await h.req({ method: 'GET', url: '/v1/logs/acme/key' })).json();
    const verifier = parseVerifierKey(info.verifier_key);
    const cp = openCheckpoint(checkpoint, verifier, info.origin);
    for (const e of entries) {
      assert.ok(e.index < cp.size);
      const v = verifyReceipt(e.receipt, verifier, fromHex(e.leaf_hash)!, info.origin);
      assert.equal(v.index, e.index);
    }
  });

  it('searches with filters and pages with a cursor that stays stable while appends continue', async () => {
    for (let i = 0; i < 30; i++) await post(sampleEvent(100 + i, { actor: { id: 'pager' } }));
    await h.indexed('acme');
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `actor=pager&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await h.req({ method: 'GET', url: `/v1/logs/acme/events?${qs}`, key: reader });
      assert.equal(res.statusCode, 200);
      const page = res.json();
      for (const e of page.events) {
        assert.equal(e.event.actor.id, 'pager');
        assert.match(e.leaf_hash, HEX64);
        seen.push(e.index);
      }
      cursor = page.next_cursor;
      // Appends between pages must neither shift nor repeat what the cursor already passed.
      if (pages++ === 1)
        for (let i = 0; i < 5; i++) await post(sampleEvent(200 + i, { actor: { id: 'pager' } }));
    } while (cursor !== null && pages < 50);
    assert.equal(new Set(seen).size, seen.length, 'no entry twice');
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    assert.ok(seen.length >= 30, `saw ${seen.length} of at least 30`);
  });

  it('filters by action prefix, outcome and target', async () => {
    await h.indexed('acme');
    const byTarget = await h.req({ method: 'GET', url: '/v1/logs/acme/events?target=doc-3', key: reader });
    assert.deepEqual(
      byTarget.json().events.map((e: { index: number }) => e.index),
      [3],
    );
    const failures = await h.req({
      method: 'GET',
      url: '/v1/logs/acme/events?outcome=failure&limit=1000',
      key: reader,
    });
    assert.ok(failures.json().events.length > 0);
    for (const e of failures.json().events) assert.equal(e.event.outcome, 'failure');
    const prefix = await h.req({
      method: 'GET',
      url: '/v1/logs/acme/events?action=document.update.1*',
      key: reader,
    });
    for (const e of prefix.json().events) assert.ok(e.event.action.startsWith('document.update.1'));
  });

  it('records reads of event data with their filter and count', async () => {
    const reads = h.accesses.filter((a) => a.kind === 'read' && a.route === '/v1/logs/:log/events');
    assert.ok(reads.length > 0);
    const r = reads.find((a) => a.filter?.target === 'doc-3');
    assert.equal(r?.count, 1);
    assert.equal(r?.log, 'acme');
    assert.equal(typeof r?.keyId, 'string');
  });

  it('has no HEAD for the export, which would run it and audit an export of 0 entries', async () => {
    const before = h.accesses.length;
    const res = await h.req({ method: 'HEAD', url: '/v1/logs/acme/export', key: h.admin });
    assert.equal(res.statusCode, 404);
    assert.ok(!h.accesses.slice(before).some((a) => a.kind === 'export'), 'no export audited');
  });

  it('never lets a key append to a system log, whatever its scope', async () => {
    await h.engine.createLog('_audit', { system: true });
    for (const key of [h.admin, h.key('writer')]) {
      const res = await post(sampleEvent(1), {
        url: '/v1/logs/_audit/events',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'auth.forbidden');
    }
    assert.equal(h.engine.log('_audit').size, 0);
    // Reading it is an ordinary read for keys whose scope covers it.
    const read = await h.req({ method: 'GET', url: '/v1/logs/_audit/events', key: h.key('auditor') });
    assert.equal(read.statusCode, 200);
  });

  it('accepts JSON and NDJSON content types with parameters, and nothing else', async () => {
    const table: Array<[string, number]> = [
      ['application/json; charset=utf-8', 201],
      ['APPLICATION/JSON', 201],
      ['application/x-ndjson; charset=utf-8', 201],
      ['application/jsonx', 415],
      ['application/json-patch+json', 415],
      ['text/json', 415],
    ];
    for (const [type, status] of table) {
      const res = await post(sampleEvent(9), { type });
      assert.equal(res.statusCode, status, type);
    }
  });

  it('answers 503 log.pushback with Retry-After when the log pushes back', async () => {
    const slow = await startHarness({
      engine: { sequencer: { maxBatchEvents: 10, maxQueuedEvents: 10, maxBatchAgeMs: 200 } },
    });
    try {
      await slow.createLog('acme');
      const first = slow.req({
        method: 'POST',
        url: '/v1/logs/acme/events',
        key: slow.admin,
        payload: sampleEvent(0),
      });
      await new Promise((r) => setTimeout(r, 20));
      const before = slow.engine.log('acme').size;
      const res = await slow.req({
        method: 'POST',
        url: '/v1/logs/acme/events',
        key: slow.admin,
        payload: { events: Array.from({ length: 10 }, (_, i) => sampleEvent(i)) },
      });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'log.pushback');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal((await first).statusCode, 201);
      assert.equal(slow.engine.log('acme').size, before + 1);
    } finally {
      await slow.close();
    }
  });
});

describe('operations', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('healthz and readyz are 200 without a key', async () => {
    assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const ready = await h.req({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().status, 'ready');
  });

  it('wait=checkpoint when no checkpoint can be signed: 201 with the durable entries, no checkpoint', async () => {
    let failTiles = false;
    const g = await startHarness({
      driver: createMemoryDriver({
        faults: (c) => (failTiles && c.op === 'put' && c.log === 'acme' ? 'fail-before' : 'proceed'),
      }),
      engine: { integrator: { intervalMs: 60_000 } },
    });
    try {
      await g.createLog('acme');
      failTiles = true;
      const res = await g.req({
        method: 'POST',
        url: '/v1/logs/acme/events?wait=checkpoint',
        key: g.admin,
        payload: sampleEvent(1),
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['indelible-checkpoint'], 'unavailable');
      const body = res.json() as { entries: Array<{ index: number; receipt?: string }>; checkpoint?: string };
      assert.equal(body.checkpoint, undefined);
      assert.deepEqual(
        body.entries.map((e) => [e.index, e.receipt]),
        [[0, undefined]],
      );
      assert.equal(g.engine.log('acme').size, 1, 'durable, so a 5xx would have invited a duplicate');
      failTiles = false;
      const receipt = await g.req({ method: 'GET', url: '/v1/logs/acme/receipts/0', key: g.admin });
      assert.equal(receipt.statusCode, 200, 'the receipt, once signing works again');
    } finally {
      await g.close();
    }
  });

  it('a log failed in storage turns healthz and readyz to 503 (a restart recovers it), naming no log', async () => {
    let fail = false;
    const g = await startHarness({
      driver: createMemoryDriver({ faults: (c) => (fail && c.op === 'append' ? 'fail-before' : 'proceed') }),
    });
    try {
      await g.createLog('tenant-secret-name');
      fail = true;
      const append = await g.req({
        method: 'POST',
        url: '/v1/logs/tenant-secret-name/events',
        key: g.admin,
        payload: sampleEvent(1),
      });
      assert.equal(append.statusCode, 500, append.body);
      assert.equal(append.json().code, 'storage.io');
      for (const [url, code] of [
        ['/healthz', 'server.failed'],
        ['/readyz', 'server.not_ready'],
      ] as const) {
        const res = await g.req({ method: 'GET', url });
        assert.equal(res.statusCode, 503, url);
        assert.equal(res.json().code, code);
        assert.ok(!res.body.includes('tenant-secret-name'), `${url} names no log`);
      }
    } finally {
      await g.close();
    }
  });

  it('metrics need an admin key for all logs and are Prometheus text', async () => {
    assert.equal((await h.req({ method: 'GET', url: '/metrics' })).statusCode, 401);
    assert.equal((await h.req({ method: 'GET', url: '/metrics', key: h.key('reader') })).statusCode, 403);
    assert.equal(
      (await h.req({ method: 'GET', url: '/metrics', key: h.key('admin', ['x']) })).statusCode,
      403,
    );
    const res = await h.req({ method: 'GET', url: '/metrics', key: h.admin });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.body, /^# HELP indelible_http_requests_total /m);
    assert.match(res.body, /indelible_http_request_duration_seconds_bucket/);
  });

  it('metrics can be made public, and count ingest and tree sizes', async () => {
    const pub = await startHarness({ config: { publicMetrics: true } });
    try {
      await pub.createLog('acme');
      await pub.req({
        method: 'POST',
        url: '/v1/logs/acme/events?wait=checkpoint',
        key: pub.admin,
        payload: sampleEvent(1),
      });
      const res = await pub.req({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /indelible_ingest_events_total\{log="acme"\} 1/);
      assert.match(res.body, /indelible_log_tree_size\{log="acme"\} 1/);
      assert.match(res.body, /indelible_ingest_batch_events_count 1/);
    } finally {
      await pub.close();
    }
  });

  it('answers unknown routes with a 404 problem and echoes a request id', async () => {
    const res = await h.req({ method: 'GET', url: '/v2/nothing', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const p = res.json();
    assert.equal(p.code, 'request.not_found');
    assert.equal(p.status, 404);
    assert.equal(p.instance, '/v2/nothing');
    assert.equal(p.request_id, 'abc-123');
    assert.equal(res.headers['x-request-id'], 'abc-123');
    assert.equal(p.type, 'urn:indelible:problem:request.not_found');
  });

  it('serves an OpenAPI document listing every public route with its error responses', async () => {
    const res = await h.req({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.match(doc.openapi, /^3\./);
    const expected: Array<[string, string, string[]]> = [
      ['post', '/v1/logs', ['201', '400', '401', '403', '409']],
      ['get', '/v1/logs', ['200', '401']],
      ['get', '/v1/logs/{log}', ['200', '401', '403', '404']],
      ['post', '/v1/keys', ['201', '400', '401', '403']],
      ['get', '/v1/keys', ['200', '401', '403']],
      ['delete', '/v1/keys/{id}', ['204', '401', '403', '404']],
      [
        'post',
        '/v1/logs/{log}/events',
        ['201', '400', '401', '403', '404', '409', '413', '415', '429', '503'],
      ],
      ['get', '/v1/logs/{log}/events', ['200', '400', '401', '403', '404']],
      ['get', '/v1/logs/{log}/entries/{index}', ['200', '400', '404']],
      ['get', '/v1/logs/{log}/checkpoint', ['200', '404']],
      ['get', '/v1/logs/{log}/tile/{path}', ['200', '400', '404']],
      ['get', '/v1/logs/{log}/key', ['200', '404']],
      ['get', '/v1/logs/{log}/proofs/inclusion', ['200', '400', '404', '422']],
      ['get', '/v1/logs/{log}/proofs/consistency', ['200', '400', '404', '422']],
      ['get', '/v1/logs/{log}/receipts/{index}', ['200', '400', '404']],
      ['get', '/v1/logs/{log}/export', ['200', '400', '401', '403', '404']],
      ['get', '/healthz', ['200']],
      ['get', '/readyz', ['200', '503']],
      ['get', '/metrics', ['200', '401', '403']],
    ];
    for (const [method, path, statuses] of expected) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
      for (const s of statuses) assert.ok(op.responses[s], `${method.toUpperCase()} ${path} documents ${s}`);
      for (const s of statuses.filter((x) => Number(x) >= 400)) {
        assert.ok(op.responses[s].content['application/problem+json'], `${path} ${s} is problem+json`);
      }
    }
    assert.deepEqual(doc.paths['/healthz'].get.security, [], 'no key needed');
    assert.deepEqual(
      doc.paths['/v1/logs/{log}/checkpoint'].get.security,
      [{}, { bearer: [] }],
      'key optional',
    );
    assert.deepEqual(
      doc.paths['/v1/logs/{log}/tile/{path}'].get.security,
      [{}, { bearer: [] }],
      'hash tiles are public reads (entry bundles need a key, as the summary says)',
    );
    assert.equal(doc.paths['/v1/logs/{log}/events'].get.security, undefined, 'the global bearer requirement');
    // OpenAPI has no wildcard: the tile route's rest-of-path is a named parameter tools can fill in.
    const tileParams = doc.paths['/v1/logs/{log}/tile/{path}'].get.parameters.map(
      (p: { name: string }) => p.name,
    );
    assert.deepEqual(tileParams.sort(), ['log', 'path']);
    // Descriptions the conversion would drop: the ingest body's forms, the export's line format.
    assert.match(doc.paths['/v1/logs/{log}/events'].post.description, /\{"events":\[…\]\}.*NDJSON/);
    assert.match(doc.paths['/v1/logs/{log}/export'].get.description, /"checkpoint":"<signed note>"/);
    assert.equal(doc.paths['/v1/logs/{log}/export'].head, undefined, 'no HEAD for the export');
    const ingest = doc.paths['/v1/logs/{log}/events'].post;
    assert.ok(ingest.requestBody.content['application/json']);
    assert.ok(ingest.requestBody.content['application/x-ndjson']);
  });

  it('serves the docs UI', async () => {
    const res = await h.req({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /swagger/i);
  });

  it("answers the docs files' client errors as 4xx problems, not 500 (errors without a code)", async () => {
    const cases: Array<[string, Record<string, string>, number]> = [
      ['/docs/static/..%5c..%5cpackage.json', {}, 403],
      ['/docs/static/a%00b', {}, 400],
      ['/docs/static/swagger-ui.css', { range: 'bytes=99999999-' }, 416],
      ['/docs/static/swagger-ui.css', { 'if-match': '"nope"' }, 412],
    ];
    for (const [url, headers, status] of cases) {
      const res = await h.req({ method: 'GET', url, headers });
      assert.equal(res.statusCode, status, `${url} ${JSON.stringify(headers)}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json().code, 'request.rejected');
    }
  });
});

describe('graceful shutdown', () => {
  it('drains (readyz 503, still serving), finishes in-flight appends, then stops listening', async () => {
    const h = await startHarness({ config: { drainMs: 300 }, engine: { sequencer: { maxBatchAgeMs: 100 } } });
    await h.createLog('acme');
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const post = (n: number) =>
      fetch(`${base}/v1/logs/acme/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(sampleEvent(n)),
      });
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const inflight = post(1);
    await new Promise((r) => setTimeout(r, 20));
    const closing = h.app.close();
    await new Promise((r) => setTimeout(r, 50));
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { code: string }).code, 'server.shutting_down');
    assert.ok(Number(ready.headers.get('retry-after')) >= 1);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await post(2)).status, 201, 'still serving while draining');
    assert.equal((await inflight).status, 201);
    await closing;
    await assert.rejects(fetch(`${base}/healthz`));
    assert.equal(h.engine.log('acme').size, 2);
    await h.engine.close();
    h.meta.close();
  });
});

describe('request timeouts', () => {
  it('requestTimeoutMs reaches the HTTP server; 0 turns it off but keeps the 60 s header limit', async () => {
    for (const [limit, request, headers] of [
      [120_000, 120_000, 60_000],
      [400, 400, 400],
      [0, 0, 60_000],
    ] as const) {
      const h = await startHarness({ config: { requestTimeoutMs: limit } });
      try {
        assert.equal(h.app.server.requestTimeout, request, `requestTimeoutMs ${limit}`);
        assert.equal(h.app.server.headersTimeout, headers, `requestTimeoutMs ${limit}`);
      } finally {
        await h.close();
      }
    }
  });
});
