/**
 * Idempotent ingest (DESIGN §4): an `Idempotency-Key` retry returns the original entries and appends
 * nothing; the same key with another body is 409 `idempotency.mismatch`; event `id`s deduplicate
 * across keys and requests; and the SQLite store's expiry and persistence.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { isIndelibleError } from '../core/errors.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { createSqliteIdempotencyStore, isValidIdempotencyKey } from './idempotency.js';
import type { Writer } from './idempotency-writer.js';
import { HttpError } from './problem.js';
import { type Harness, type HarnessOptions, sampleEvent, startHarness } from './test-harness.js';

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

  it('the same bytes under one key, sent as JSON and then as NDJSON, are another request: 409', async () => {
    const body = JSON.stringify({ events: [sampleEvent(20), sampleEvent(21)] });
    const send = (type: string) =>
      h.req({
        method: 'POST',
        url: '/v1/logs/acme/events',
        key: writer,
        payload: body,
        headers: { 'content-type': type, 'idempotency-key': 'as-ndjson' },
      });
    assert.equal((await send('application/json')).statusCode, 201);
    const n = size();
    const res = await send('application/x-ndjson');
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'idempotency.mismatch');
    assert.equal(size(), n);
  });

  it('a failed request is not remembered: the same key can be retried after fixing it', async () => {
    const bad = await post({ action: 'x' }, 'req-fix');
    assert.equal(bad.statusCode, 400);
    const good = await post(sampleEvent(9), 'req-fix');
    assert.equal(good.statusCode, 201);
  });
});

describe('Idempotency-Key across a crash', () => {
  /**
   * A server whose storage and metadata database are copied the moment its first append to `acme`
   * becomes durable: `restart()` starts a server on that copy, which is what a server finds after
   * losing power (or being killed) before it could answer. `post` sends with a writer key stored in
   * that database and the given Idempotency-Key.
   */
  async function crashAfterFirstAppend(idempotencyKey: string) {
    const driver = createMemoryDriver();
    const h1 = await startHarness({ driver });
    await h1.createLog('acme');
    const writerKey = h1.key('writer', ['acme']);
    let crash: { storage: ReturnType<typeof driver.snapshot>; meta: Buffer } | undefined;
    h1.engine.observeCommits((log) => {
      if (log === 'acme' && crash === undefined)
        crash = { storage: driver.snapshot(), meta: h1.meta.serialize() };
    });
    const post = (h: Harness, payload: string) =>
      h.req({
        method: 'POST',
        url: '/v1/logs/acme/events',
        key: writerKey,
        payload,
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      });
    return {
      h1,
      post,
      async restart(options: { eventLimits?: HarnessOptions['eventLimits'] } = {}) {
        await h1.close();
        assert.ok(crash, 'the append was committed');
        return startHarness({
          driver: createMemoryDriver({ state: crash.storage }),
          meta: new Database(crash.meta),
          ...options,
        });
      },
    };
  }

  it('a retry after a crash right after the durable append returns the original entries', async () => {
    const { h1, post, restart } = await crashAfterFirstAppend('crash-1');
    const body = JSON.stringify({
      events: [sampleEvent(1), sampleEvent(2, { id: 'own-2' }), sampleEvent(3)],
    });
    const first = await post(h1, body);
    assert.equal(first.statusCode, 201);
    const h2 = await restart();
    try {
      assert.equal(h2.engine.log('acme').size, 3, 'the append survived the crash');
      const mismatch = await post(h2, JSON.stringify(sampleEvent(4)));
      assert.equal(mismatch.statusCode, 409);
      assert.equal(mismatch.json().code, 'idempotency.mismatch');
      const again = await post(h2, body);
      assert.equal(again.statusCode, 201);
      assert.deepEqual(again.json(), first.json());
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(h2.engine.log('acme').size, 3, 'nothing appended twice');
    } finally {
      await h2.close();
    }
  });

  it('a retry refused after the crash (a limit lowered) keeps the key: a corrected body is 409, not a second append', async () => {
    const { h1, post, restart } = await crashAfterFirstAppend('lowered');
    const long = sampleEvent(1, { action: `document.${'x'.repeat(80)}` });
    const batch = (...events: unknown[]) => JSON.stringify({ events });
    assert.equal((await post(h1, batch(long, sampleEvent(2)))).statusCode, 201);
    const h2 = await restart({ eventLimits: { maxActionLength: 64 } });
    try {
      assert.equal((await post(h2, batch(long, sampleEvent(2)))).statusCode, 400);
      await new Promise((r) => setTimeout(r, 20));
      const corrected = await post(h2, batch(sampleEvent(1), sampleEvent(2)));
      assert.equal(corrected.statusCode, 409);
      assert.equal(corrected.json().code, 'idempotency.mismatch');
      assert.equal(h2.engine.log('acme').size, 2);
    } finally {
      await h2.close();
    }
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

/**
 * Attempts for the store's `run` that record, in `seen`, `key:intent:ids` with the intent as the
 * connection `reader` sees it while the attempt runs (so a committed intent shows). The key
 * `refused` is then refused as the client's fault.
 */
function attemptSeenBy(reader: Database.Database, seen: string[]) {
  return (key: string) => async (ids: string[]) => {
    const row = reader.prepare('SELECT intent FROM idempotency_keys WHERE idem_key = ?').get(key) as
      | { intent: string }
      | undefined;
    seen.push(`${key}:${row?.intent}:${ids.join()}`);
    if (key === 'refused') throw new HttpError('request.invalid', 'bad');
    return 'ok';
  };
}

/** Makes `db` refuse every new idempotency row, as a full disk would, until `free()`. */
function fullDisk(db: Database.Database): { free(): void } {
  db.exec(
    "CREATE TEMP TRIGGER full_disk BEFORE INSERT ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'disk full'); END",
  );
  return { free: () => db.exec('DROP TRIGGER full_disk') };
}

describe('SQLite idempotency store', () => {
  const store = (db: Database.Database, clock: { now(): number }) =>
    createSqliteIdempotencyStore(db, { ttlMs: 1000, clock });
  const intent = () => ['id-1'];
  // Intents made so far, so each call of `makeIntent` is told apart.
  const counter = () => {
    let n = 0;
    return () => [`id-${++n}`];
  };
  const echo = async (ids: string[]) => ids.join();

  it('a retry within the TTL runs with the first intent; after the TTL the key is new', async () => {
    const db = new Database(':memory:');
    let now = 1_000_000;
    const s = store(db, { now: () => now });
    const make = counter();
    assert.deepEqual(await s.run('key_a', 'k', 'fp1', make, echo), { value: 'id-1', replayed: false });
    assert.deepEqual(await s.run('key_a', 'k', 'fp1', make, echo), { value: 'id-1', replayed: false });
    assert.deepEqual(
      await s.run('key_b', 'k', 'fp1', make, echo),
      { value: 'id-2', replayed: false },
      'per scope',
    );
    await assert.rejects(s.run('key_a', 'k', 'fp2', make, echo), (e) =>
      isIndelibleError(e, 'idempotency.mismatch'),
    );
    now += 1001;
    assert.deepEqual(await s.run('key_a', 'k', 'fp2', make, echo), { value: 'id-3', replayed: false });
    s.close();
    db.close();
  });

  it('persists intents across store instances on one database', async () => {
    const db = new Database(':memory:');
    const clock = { now: () => 5000 };
    const s1 = store(db, clock);
    await s1.run('key_a', 'k', 'fp', () => ['first'], echo);
    s1.close();
    const s2 = store(db, clock);
    assert.deepEqual(await s2.run('key_a', 'k', 'fp', () => ['second'], echo), {
      value: 'first',
      replayed: false,
    });
    s2.close();
    db.close();
  });

  it('a retry arriving while the first attempt runs waits for it, then runs with its intent', async () => {
    const db = new Database(':memory:');
    const s = store(db, { now: () => 0 });
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = s.run(
      'key_a',
      'k',
      'fp',
      () => ['a'],
      async (ids) => {
        order.push(`first ${ids}`);
        await gate;
        order.push('first done');
        return 1;
      },
    );
    const second = s.run(
      'key_a',
      'k',
      'fp',
      () => ['b'],
      async (ids) => {
        order.push(`second ${ids}`);
        return 2;
      },
    );
    await new Promise((r) => setTimeout(r, 10));
    release();
    assert.deepEqual([(await first).value, (await second).value], [1, 2]);
    assert.deepEqual(order, ['first a', 'first done', 'second a']);
    s.close();
    db.close();
  });

  it('commits the intent before the attempt runs, in one transaction for a burst', async () => {
    // A file database in WAL mode, so a second connection sees only committed rows.
    const dir = mkdtempSync(join(tmpdir(), 'indelible-idem-'));
    const db = new Database(join(dir, 'meta.sqlite'));
    db.pragma('journal_mode = WAL');
    const s = createSqliteIdempotencyStore(db, { ttlMs: 1000, clock: { now: () => 0 }, worker: false });
    const reader = new Database(join(dir, 'meta.sqlite'), { readonly: true });
    // Rows the reader sees while each row is inserted: all zero when the burst is one transaction.
    const visible: number[] = [];
    db.function('committed_rows', () => {
      visible.push((reader.prepare('SELECT count(*) AS n FROM idempotency_keys').get() as { n: number }).n);
      return null;
    });
    db.exec(
      'CREATE TEMP TRIGGER watch_insert AFTER INSERT ON idempotency_keys BEGIN SELECT committed_rows(); END',
    );
    const seen: string[] = [];
    const fn = attemptSeenBy(reader, seen);
    await Promise.all(['a', 'b', 'c'].map((k) => s.run('key_a', k, 'fp', () => [`id-${k}`], fn(k))));
    assert.deepEqual(seen.sort(), ['a:["id-a"]:id-a', 'b:["id-b"]:id-b', 'c:["id-c"]:id-c']);
    assert.deepEqual(visible, [0, 0, 0], 'three intents, one commit');
    await s.close();
    reader.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const workerSkip = existsSync(new URL('./idempotency-writer.js', import.meta.url))
    ? false
    : 'the writer thread runs from the compiled code (npm test runs dist/)';
  it('on a database file, intents are committed on a worker thread before the attempt runs', {
    skip: workerSkip,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-idem-'));
    const file = join(dir, 'meta.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const s = store(db, { now: () => 0 });
    // This connection refuses inserts and deletes (temporary triggers are its own): only the worker
    // can write.
    db.exec(
      "CREATE TEMP TRIGGER not_here BEFORE INSERT ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'main thread'); END",
    );
    db.exec(
      "CREATE TEMP TRIGGER nor_here BEFORE DELETE ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'main thread'); END",
    );
    const reader = new Database(file, { readonly: true });
    const seen: string[] = [];
    const fn = attemptSeenBy(reader, seen);
    await Promise.all(['a', 'b'].map((k) => s.run('key_a', k, 'fp', () => [`id-${k}`], fn(k))));
    await assert.rejects(s.run('key_a', 'refused', 'fp', () => ['id-r'], fn('refused')));
    assert.deepEqual(seen.sort(), ['a:["id-a"]:id-a', 'b:["id-b"]:id-b', 'refused:["id-r"]:id-r']);
    await s.close();
    const rows = reader.prepare('SELECT idem_key FROM idempotency_keys ORDER BY idem_key').pluck().all();
    assert.deepEqual(
      rows,
      ['a', 'b'],
      'the refused attempt was removed by the worker before close() returned',
    );
    reader.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a writer thread that dies is replaced by the connection itself: one batch fails, later ones commit', async () => {
    const db = new Database(':memory:');
    let calls = 0;
    const dying: Writer = {
      dead: false,
      async write() {
        calls++;
        (this as { dead: boolean }).dead = true;
        throw new Error('the idempotency writer exited with code 1');
      },
      async close() {},
    };
    const s = createSqliteIdempotencyStore(db, { ttlMs: 1000, clock: { now: () => 0 }, writer: dying });
    await assert.rejects(s.run('key_a', 'k', 'fp', intent, echo), (e) =>
      isIndelibleError(e, 'idempotency.unavailable'),
    );
    assert.deepEqual(await s.run('key_a', 'k', 'fp', () => ['after'], echo), {
      value: 'after',
      replayed: false,
    });
    assert.equal(calls, 1, 'the dead writer was not used again');
    assert.equal(
      (db.prepare('SELECT intent FROM idempotency_keys').get() as { intent: string }).intent,
      '["after"]',
    );
    await s.close();
    db.close();
  });

  it('a refused first attempt is forgotten on disk before it is answered, also when it ends after close()', async () => {
    const db = new Database(':memory:');
    const rows = () => (db.prepare('SELECT count(*) AS n FROM idempotency_keys').get() as { n: number }).n;
    const s = store(db, { now: () => 0 });
    await assert.rejects(
      s.run('key_a', 'k', 'fp', intent, async () => Promise.reject(new HttpError('request.invalid', 'bad'))),
    );
    // Removed before the refusal is answered: a crash right after it keeps no key.
    assert.equal(rows(), 0, 'removed before the 4xx was answered');
    // In flight while the server closes: refused afterwards, still removed.
    let refuse!: () => void;
    const late = s.run(
      'key_a',
      'late',
      'fp',
      intent,
      () =>
        new Promise((_, reject) => {
          refuse = () => reject(new HttpError('request.invalid', 'bad'));
        }),
    );
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(rows(), 1);
    s.close();
    refuse();
    await assert.rejects(late);
    assert.equal(rows(), 0);
    db.close();
  });

  it('an intent write that fails also removes an older refused attempt of the same key', async () => {
    const db = new Database(':memory:');
    const s = store(db, { now: () => 0 });
    await assert.rejects(
      s.run('key_a', 'k', 'fp1', intent, async () => Promise.reject(new HttpError('request.invalid', 'bad'))),
    );
    // The corrected body comes in the same turn as the removal, and the write fails (disk full).
    const disk = fullDisk(db);
    await assert.rejects(s.run('key_a', 'k', 'fp2', intent, echo), (e) =>
      isIndelibleError(e, 'idempotency.unavailable'),
    );
    disk.free();
    assert.deepEqual(await s.run('key_a', 'k', 'fp2', () => ['fixed'], echo), {
      value: 'fixed',
      replayed: false,
    });
    s.close();
    db.close();
  });

  it("a retry after an interrupted attempt runs again with that attempt's intent", async () => {
    const db = new Database(':memory:');
    const clock = { now: () => 0 };
    const s1 = store(db, clock);
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    // The first attempt never finishes: the server stops (or loses power) with the append durable.
    void s1.run(
      'key_a',
      'k',
      'fp',
      () => ['id-first'],
      async () => {
        started();
        return new Promise<never>(() => undefined);
      },
    );
    await running;
    const s2 = store(db, clock); // what the restarted server sees: the committed intent alone
    let given: string[] | undefined;
    const r = await s2.run(
      'key_a',
      'k',
      'fp',
      () => ['id-new'],
      async (ids) => {
        given = ids;
        return 'entries';
      },
    );
    assert.deepEqual(given, ['id-first']);
    assert.deepEqual(r, { value: 'entries', replayed: false });
    await assert.rejects(
      s2.run('key_a', 'k', 'fp-other', intent, async () => 'x'),
      (e) => isIndelibleError(e, 'idempotency.mismatch'),
    );
    s2.close();
    db.close();
  });

  it('an intent that cannot be committed fails the request before it runs, and is not kept', async () => {
    const db = new Database(':memory:');
    const s = store(db, { now: () => 0 });
    const disk = fullDisk(db);
    let runs = 0;
    await assert.rejects(
      s.run('key_a', 'k', 'fp', intent, async () => ++runs),
      (e) => isIndelibleError(e, 'idempotency.unavailable'),
    );
    assert.equal(runs, 0);
    disk.free();
    assert.deepEqual(await s.run('key_a', 'k', 'fp2', intent, async () => ++runs), {
      value: 1,
      replayed: false,
    });
    s.close();
    db.close();
  });

  it("forgets an attempt refused as the client's fault, on disk too; keeps one that failed otherwise", async () => {
    const db = new Database(':memory:');
    const s = store(db, { now: () => 0 });
    const refused = new HttpError('request.invalid', 'bad body');
    await assert.rejects(s.run('key_a', 'k', 'fp', intent, async () => Promise.reject(refused)));
    s.close();
    assert.equal((db.prepare('SELECT count(*) AS n FROM idempotency_keys').get() as { n: number }).n, 0);
    const s2 = store(db, { now: () => 0 });
    assert.deepEqual(await s2.run('key_a', 'k', 'fp2', () => ['fixed'], echo), {
      value: 'fixed',
      replayed: false,
    });
    // A server-side failure (the append may have happened before it) keeps the intent and its body.
    await assert.rejects(
      s2.run(
        'key_a',
        'k5',
        'fp',
        () => ['kept'],
        async () => Promise.reject(new Error('io')),
      ),
    );
    await assert.rejects(s2.run('key_a', 'k5', 'fp-other', intent, echo), (e) =>
      isIndelibleError(e, 'idempotency.mismatch'),
    );
    assert.deepEqual(await s2.run('key_a', 'k5', 'fp', intent, echo), { value: 'kept', replayed: false });
    s2.close();
    db.close();
  });

  it('upgrades a table made before intents existed, keeping its results', async () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE idempotency_keys (key_id TEXT NOT NULL, idem_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
      response TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (key_id, idem_key)) STRICT, WITHOUT ROWID;
      INSERT INTO idempotency_keys VALUES ('key_a', 'old', 'fp', '"kept"', 0);`);
    const s = store(db, { now: () => 0 });
    assert.deepEqual(await s.run('key_a', 'old', 'fp', intent, async () => 'new'), {
      value: 'kept',
      replayed: true,
    });
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
