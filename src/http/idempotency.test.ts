/**
 * Idempotent ingest (DESIGN §4): an `Idempotency-Key` retry returns the original entries and appends
 * nothing; the same key with another body is 409 `idempotency.mismatch`; event `id`s deduplicate
 * across keys and requests; and the SQLite store's expiry and persistence.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isIndelibleError } from '../core/errors.js';
import { createSqliteIdempotencyStore, isValidIdempotencyKey } from './idempotency.js';
import { type Harness, sampleEvent, startHarness } from './test-harness.js';

describe('Idempotency-Key on ingest', () => {
  let h: Harness;
  let writer: string;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    writer = h.key('writer', ['acme']);
  });
  after(() => h.close());

  const post = (body: unknown, key: string | undefined, apiKey = writer, query = '') =>
    h.req({
      method: 'POST',
      url: `/v1/logs/acme/events${query}`,
      key: apiKey,
      payload: JSON.stringify(body),
      headers: {
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
    });
  const size = () => h.engine.log('acme').size;

  it('same key, same body → the original entries, nothing appended', async () => {
    const body = { events: [sampleEvent(1), sampleEvent(2)] };
    const first = await post(body, 'req-1');
    assert.equal(first.statusCode, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const n = size();
    const again = await post(body, 'req-1');
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), first.json());
    assert.equal(size(), n);
  });

  it('same key, different body → 409 idempotency.mismatch, nothing appended', async () => {
    await post(sampleEvent(3), 'req-2');
    const n = size();
    const res = await post(sampleEvent(4), 'req-2');
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'idempotency.mismatch');
    assert.equal(size(), n);
  });

  it('keys are per API key: another key with the same Idempotency-Key appends anew', async () => {
    const other = h.key('writer', ['acme']);
    const a = await post(sampleEvent(5), 'shared');
    const b = await post(sampleEvent(5), 'shared', other);
    assert.notEqual(a.json().entries[0].index, b.json().entries[0].index);
  });

  it('concurrent retries with one key append once', async () => {
    const n = size();
    const body = { events: [sampleEvent(6), sampleEvent(7)] };
    const results = await Promise.all(Array.from({ length: 8 }, () => post(body, 'burst')));
    for (const r of results) assert.equal(r.statusCode, 201);
    for (const r of results) assert.deepEqual(r.json(), results[0]!.json());
    assert.equal(size(), n + 2);
  });

  it('a replay with wait=checkpoint still carries a checkpoint and receipts', async () => {
    const first = await post(sampleEvent(8), 'req-wait');
    const again = await post(sampleEvent(8), 'req-wait', writer, '?wait=checkpoint');
    assert.equal(again.statusCode, 201);
    assert.equal(again.json().entries[0].index, first.json().entries[0].index);
    assert.equal(typeof again.json().checkpoint, 'string');
    assert.equal(typeof again.json().entries[0].receipt, 'string');
  });

  it('a failed request is not remembered: the same key can be retried after fixing it', async () => {
    const bad = await post({ action: 'x' }, 'req-fix');
    assert.equal(bad.statusCode, 400);
    const good = await post(sampleEvent(9), 'req-fix');
    assert.equal(good.statusCode, 201);
  });
});

describe('event ids', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    await h.createLog('zero');
    await h.req({ method: 'POST', url: '/v1/logs/acme/events', key: h.admin, payload: sampleEvent(0) });
  });
  after(() => h.close());

  it('an event id at index 0 is found again on retry', async () => {
    const body = sampleEvent(1, { id: 'first' });
    const a = await h.req({ method: 'POST', url: '/v1/logs/zero/events', key: h.admin, payload: body });
    assert.equal(a.json().entries[0].index, 0);
    await new Promise((r) => setTimeout(r, 20));
    const b = await h.req({ method: 'POST', url: '/v1/logs/zero/events', key: h.admin, payload: body });
    assert.deepEqual(b.json(), a.json());
  });

  it('a retry with the same event ids returns the original entries, marked replayed', async () => {
    const body = { events: [sampleEvent(1, { id: 'evt-1' }), sampleEvent(2, { id: 'evt-2' })] };
    const first = await h.req({ method: 'POST', url: '/v1/logs/acme/events', key: h.admin, payload: body });
    const n = h.engine.log('acme').size;
    const again = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.key('writer'),
      payload: body,
    });
    assert.equal(again.statusCode, 201);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(h.engine.log('acme').size, n);
  });

  it('a batch mixing new and known ids appends only the new ones', async () => {
    const n = h.engine.log('acme').size;
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.admin,
      payload: { events: [sampleEvent(1, { id: 'evt-1' }), sampleEvent(3, { id: 'evt-3' })] },
    });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['idempotent-replayed'], undefined);
    assert.equal(res.json().entries[1].index, n);
    assert.equal(h.engine.log('acme').size, n + 1);
  });

  it('an id reused for a different event is 409 log.id_conflict', async () => {
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.admin,
      payload: sampleEvent(99, { id: 'evt-1' }),
    });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'log.id_conflict');
  });
});

describe('SQLite idempotency store', () => {
  const store = (db: Database.Database, clock: { now(): number }) =>
    createSqliteIdempotencyStore(db, { ttlMs: 1000, clock });

  it('replays within the TTL and forgets after it', async () => {
    const db = new Database(':memory:');
    let now = 1_000_000;
    const s = store(db, { now: () => now });
    let runs = 0;
    const fn = async () => ({ n: ++runs });
    assert.deepEqual(await s.run('key_a', 'k', 'fp1', fn), { value: { n: 1 }, replayed: false });
    assert.deepEqual(await s.run('key_a', 'k', 'fp1', fn), { value: { n: 1 }, replayed: true });
    await assert.rejects(s.run('key_a', 'k', 'fp2', fn), (e) => isIndelibleError(e, 'idempotency.mismatch'));
    now += 1001;
    assert.deepEqual(await s.run('key_a', 'k', 'fp2', fn), { value: { n: 2 }, replayed: false });
    s.close();
    db.close();
  });

  it('persists records across store instances on one database', async () => {
    const db = new Database(':memory:');
    const clock = { now: () => 5000 };
    const s1 = store(db, clock);
    await s1.run('key_a', 'k', 'fp', async () => [1, 2, 3]);
    await new Promise((r) => setImmediate(r));
    s1.close();
    const s2 = store(db, clock);
    assert.deepEqual(await s2.run('key_a', 'k', 'fp', async () => [9]), { value: [1, 2, 3], replayed: true });
    s2.close();
    db.close();
  });

  it('does not remember failures', async () => {
    const db = new Database(':memory:');
    const s = store(db, { now: () => 0 });
    await assert.rejects(s.run('key_a', 'k', 'fp', async () => Promise.reject(new Error('boom'))));
    assert.deepEqual(await s.run('key_a', 'k', 'fp', async () => 'ok'), { value: 'ok', replayed: false });
    s.close();
    db.close();
  });

  it('accepts 1-255 visible ASCII characters as keys', () => {
    for (const ok of ['a', 'req-1', '"8e03978e-40d5-43e8-bc93-6894a57f9324"', 'a b', 'x'.repeat(255)]) {
      assert.ok(isValidIdempotencyKey(ok), ok);
    }
    for (const bad of ['', ' a', 'a ', 'x'.repeat(256), 'é', 'a\tb', 'a\nb']) {
      assert.ok(!isValidIdempotencyKey(bad), JSON.stringify(bad));
    }
  });
});
