import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isIndelibleError } from '../core/errors.js';
import { createSqliteKeyStore } from './key-store.js';
import type { ApiKeyInfo, Clock } from './types.js';

// Spec: DESIGN.md §4 and the auth brief — secret `ik_` + base64url(32 random bytes), id `key_` + 12
// base32 chars, SHA-256 stored, revocation effective on the next request, last_used_at ≤ 1 write/min.
const SECRET_SHAPE = /^ik_[A-Za-z0-9_-]{43}$/;
const ID_SHAPE = /^key_[a-z2-7]{12}$/;
const INFO_FIELDS = ['createdAt', 'description', 'id', 'lastUsedAt', 'logs', 'revokedAt', 'role'];
const T0 = Date.parse('2026-11-27T07:00:00.000Z');

function manualClock(start = T0): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

function memoryStore(clock: Clock = manualClock()) {
  const db = new Database(':memory:');
  return { db, store: createSqliteKeyStore(db, clock) };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-auth-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function assertAuthCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isIndelibleError(err, code));
}

describe('key store round trip', () => {
  test('create → authenticate → get → list → revoke', () => {
    const { store } = memoryStore();
    const { info, secret } = store.create({ role: 'writer', logs: ['acme', '_audit'], description: 'ci' });
    assert.match(secret, SECRET_SHAPE);
    assert.match(info.id, ID_SHAPE);
    assert.deepEqual(
      { ...info, logs: [...(info.logs ?? [])] },
      {
        id: info.id,
        role: 'writer',
        logs: ['acme', '_audit'],
        description: 'ci',
        createdAt: '2026-11-27T07:00:00.000Z',
        lastUsedAt: null,
        revokedAt: null,
      },
    );
    const authed = store.authenticate(secret);
    assert.equal(authed?.id, info.id);
    assert.equal(authed?.lastUsedAt, '2026-11-27T07:00:00.000Z');
    assert.equal(store.get(info.id)?.role, 'writer');
    assert.deepEqual(
      store.list().map((k) => k.id),
      [info.id],
    );
    assert.equal(store.revoke(info.id), true);
    assert.equal(store.revoke(info.id), false, 'already revoked');
    assert.equal(store.authenticate(secret), undefined);
    assert.equal(store.get(info.id)?.revokedAt, '2026-11-27T07:00:00.000Z');
    assert.equal(store.list().length, 1, 'revoked keys stay listed');
  });

  test('all-logs keys store null; defaults for omitted fields', () => {
    const { store } = memoryStore();
    const { info } = store.create({ role: 'admin' });
    assert.equal(info.logs, null);
    assert.equal(info.description, null);
    assert.equal(store.get(info.id)?.logs, null);
  });

  test('list is in creation order and never contains secrets or hashes', () => {
    const { store } = memoryStore();
    const made = ['admin', 'writer', 'reader', 'auditor'].map((role) =>
      store.create({ role: role as ApiKeyInfo['role'], logs: role === 'admin' ? null : ['acme'] }),
    );
    const listed = store.list();
    assert.deepEqual(
      listed.map((k) => k.id),
      made.map((m) => m.info.id),
    );
    const text = JSON.stringify(listed);
    for (const { secret } of made) {
      const digest = createHash('sha256').update(secret).digest();
      for (const needle of [secret, secret.slice(3), digest.toString('hex'), digest.toString('base64')]) {
        assert.ok(!text.includes(needle), 'listing leaks secret material');
      }
    }
    for (const k of listed) assert.deepEqual(Object.keys(k).sort(), INFO_FIELDS);
  });

  test('returned infos are frozen, so callers cannot alter the cache', () => {
    const { store } = memoryStore();
    const { secret } = store.create({ role: 'reader', logs: ['acme'] });
    const info = store.authenticate(secret)!;
    assert.throws(() => (info.logs as string[]).push('other'), TypeError);
    assert.throws(() => Object.assign(info, { role: 'admin' }), TypeError);
    assert.deepEqual(store.authenticate(secret)?.logs, ['acme']);
  });

  test('unknown and malformed ids', () => {
    const { store } = memoryStore();
    for (const id of [
      '',
      'key_',
      'key_aaaaaaaaaaaa',
      'key_AAAAAAAAAAAA',
      'x'.repeat(10_000),
      "'; DROP TABLE",
    ]) {
      assert.equal(store.get(id), undefined);
      assert.equal(store.revoke(id), false);
    }
  });

  test('creating the store twice on one database keeps the keys', () => {
    const db = new Database(':memory:');
    const { secret } = createSqliteKeyStore(db).create({ role: 'admin' });
    assert.ok(createSqliteKeyStore(db).authenticate(secret));
  });
});

describe('secrets', () => {
  test('≥ 256 bits: 43 base64url chars decoding to 32 bytes, all distinct', () => {
    const { store } = memoryStore();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { secret, info } = store.create({ role: 'reader' });
      assert.match(secret, SECRET_SHAPE);
      assert.equal(Buffer.from(secret.slice(3), 'base64url').length, 32);
      assert.match(info.id, ID_SHAPE);
      seen.add(secret);
    }
    assert.equal(seen.size, 200);
  });

  test('malformed secrets → undefined without throwing and without touching the database', () => {
    const { db, store } = memoryStore();
    const { secret } = store.create({ role: 'admin' });
    // Closing the database makes any query throw, so these prove there is no database access.
    db.close();
    const malformed: unknown[] = [
      '',
      'ik_',
      `xk_${secret.slice(3)}`,
      `IK_${secret.slice(3)}`,
      secret.slice(0, -1),
      `${secret}A`,
      `${secret.slice(0, -1)}=`,
      `${secret.slice(0, -1)}+`,
      ` ${secret.slice(1)}`,
      `ik_${'é'.repeat(43)}`,
      `ik_${'😀'.repeat(21)}a`,
      `ik_${'\u0000'.repeat(43)}`,
      'x'.repeat(10 * 1024),
      `ik_${'A'.repeat(10 * 1024)}`,
      undefined,
      null,
      42,
      {},
      ['ik_'],
    ];
    for (const m of malformed) assert.equal(store.authenticate(m as string), undefined);
  });

  test('a well-formed but unknown secret is refused', () => {
    const { store } = memoryStore();
    store.create({ role: 'admin' });
    assert.equal(store.authenticate(`ik_${'A'.repeat(43)}`), undefined);
  });

  test('the secret is never stored: not in the file, the WAL or the journal', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'meta.sqlite'));
    db.pragma('journal_mode = WAL');
    const store = createSqliteKeyStore(db);
    const secrets = Array.from({ length: 20 }, () => store.create({ role: 'writer', logs: ['acme'] }).secret);
    for (const s of secrets) assert.ok(store.authenticate(s));
    const bytes = () => Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
    const check = (all: Buffer) => {
      for (const s of secrets) {
        assert.equal(all.indexOf(s), -1, 'secret found in database files');
        assert.equal(all.indexOf(s.slice(3)), -1, 'secret body found in database files');
        assert.equal(all.indexOf(Buffer.from(s.slice(3), 'base64url')), -1, 'secret bytes found');
      }
    };
    check(bytes());
    db.close(); // checkpoints the WAL into the main file
    const all = bytes();
    check(all);
    // Sanity: the hash itself is stored, so the search does see the rows.
    assert.notEqual(all.indexOf(createHash('sha256').update(secrets[0]!).digest()), -1);
  });
});

describe('validation', () => {
  const ok = (input: Parameters<ReturnType<typeof memoryStore>['store']['create']>[0]) => () =>
    memoryStore().store.create(input);

  const roleCases: [unknown, string | null][] = [
    ['admin', null],
    ['writer', null],
    ['reader', null],
    ['auditor', null],
    ['Admin', 'auth.invalid_role'],
    ['root', 'auth.invalid_role'],
    ['', 'auth.invalid_role'],
    [undefined, 'auth.invalid_role'],
    [1, 'auth.invalid_role'],
  ];
  for (const [role, code] of roleCases) {
    test(`role ${JSON.stringify(role)} → ${code ?? 'ok'}`, () => {
      const fn = ok({ role: role as 'admin' });
      if (code === null) fn();
      else assertAuthCode(fn, code);
    });
  }

  const scopeCases: [string, unknown, string | null][] = [
    ['omitted', undefined, null],
    ['null', null, null],
    ['one log', ['acme'], null],
    ['system log', ['_audit'], null],
    ['63-char name', ['a'.repeat(63)], null],
    ['dots, dashes, underscores', ['a.b-c_d', '0'], null],
    ['100 logs', Array.from({ length: 100 }, (_, i) => `log${i}`), null],
    ['empty array', [], 'auth.invalid_scope'],
    ['101 logs', Array.from({ length: 101 }, (_, i) => `log${i}`), 'auth.invalid_scope'],
    ['duplicate', ['acme', 'acme'], 'auth.invalid_scope'],
    ['upper case', ['Acme'], 'auth.invalid_scope'],
    ['64-char name', ['a'.repeat(64)], 'auth.invalid_scope'],
    ['64-char system name', [`_${'a'.repeat(63)}`], 'auth.invalid_scope'],
    ['leading dot', ['.acme'], 'auth.invalid_scope'],
    ['double underscore', ['__x'], 'auth.invalid_scope'],
    ['slash', ['a/b'], 'auth.invalid_scope'],
    ['empty name', [''], 'auth.invalid_scope'],
    ['trailing newline', ['acme\n'], 'auth.invalid_scope'],
    ['non-string', [1], 'auth.invalid_scope'],
    ['string instead of array', 'acme', 'auth.invalid_scope'],
    ['object', { 0: 'acme', length: 1 }, 'auth.invalid_scope'],
  ];
  for (const [name, logs, code] of scopeCases) {
    test(`scope ${name} → ${code ?? 'ok'}`, () => {
      const fn = ok({ role: 'reader', logs: logs as string[] });
      if (code === null) fn();
      else assertAuthCode(fn, code);
    });
  }

  const descriptionCases: [string, unknown, string | null][] = [
    ['null', null, null],
    ['200 chars', 'd'.repeat(200), null],
    ['200 astral chars', '😀'.repeat(200), null],
    ['201 chars', 'd'.repeat(201), 'auth.invalid_description'],
    ['201 astral chars', '😀'.repeat(201), 'auth.invalid_description'],
    ['newline', 'a\nb', 'auth.invalid_description'],
    ['lone surrogate', 'a\ud800b', 'auth.invalid_description'],
    ['number', 5, 'auth.invalid_description'],
  ];
  for (const [name, description, code] of descriptionCases) {
    test(`description ${name} → ${code ?? 'ok'}`, () => {
      const fn = ok({ role: 'reader', description: description as string });
      if (code === null) fn();
      else assertAuthCode(fn, code);
    });
  }

  test('a rejected create stores nothing', () => {
    const { store } = memoryStore();
    assertAuthCode(() => store.create({ role: 'reader', logs: ['BAD'] }), 'auth.invalid_scope');
    assert.deepEqual(store.list(), []);
  });
});

describe('cache, revocation and last use', () => {
  test('revocation takes effect on the very next call after a cached success', () => {
    const { store } = memoryStore();
    const a = store.create({ role: 'writer' });
    const b = store.create({ role: 'writer' });
    for (let i = 0; i < 3; i++) assert.ok(store.authenticate(a.secret));
    assert.ok(store.authenticate(b.secret));
    assert.equal(store.revoke(a.info.id), true);
    assert.equal(store.authenticate(a.secret), undefined);
    assert.equal(store.authenticate(b.secret)?.id, b.info.id, 'other keys unaffected');
  });

  test('a revocation through another connection is seen within syncIntervalMs', () => {
    const path = join(tempDir(), 'meta.sqlite');
    const server = new Database(path);
    server.pragma('journal_mode = WAL');
    let ms = 1_000;
    const serverStore = createSqliteKeyStore(server, undefined, { syncIntervalMs: 100, monotonic: () => ms });
    const { secret, info } = serverStore.create({ role: 'admin' });
    assert.ok(serverStore.authenticate(secret)); // now cached
    const cli = new Database(path);
    assert.equal(createSqliteKeyStore(cli).revoke(info.id), true);
    ms += 99;
    assert.ok(serverStore.authenticate(secret), 'other connections are looked at only every 100 ms');
    ms += 1;
    assert.equal(serverStore.authenticate(secret), undefined);
    cli.close();
    server.close();
  });

  test('with syncIntervalMs 0 a revocation through another connection is seen on the next call', () => {
    const path = join(tempDir(), 'meta.sqlite');
    const server = new Database(path);
    server.pragma('journal_mode = WAL');
    const serverStore = createSqliteKeyStore(server, undefined, { syncIntervalMs: 0, monotonic: () => 0 });
    const { secret, info } = serverStore.create({ role: 'admin' });
    assert.ok(serverStore.authenticate(secret)); // now cached
    const cli = new Database(path);
    assert.equal(createSqliteKeyStore(cli).revoke(info.id), true);
    assert.equal(serverStore.authenticate(secret), undefined);
    cli.close();
    server.close();
  });

  test('a revocation through the store itself is seen on the next call, whatever syncIntervalMs', () => {
    const path = join(tempDir(), 'meta.sqlite');
    const db = new Database(path);
    const store = createSqliteKeyStore(db, undefined, { syncIntervalMs: 60_000, monotonic: () => 0 });
    const { secret, info } = store.create({ role: 'writer' });
    assert.ok(store.authenticate(secret)); // now cached
    assert.equal(store.revoke(info.id), true);
    assert.equal(store.authenticate(secret), undefined);
    db.close();
  });

  test('last_used_at is written at most once a minute per key', () => {
    const clock = manualClock();
    const { db, store } = memoryStore(clock);
    const { secret, info } = store.create({ role: 'reader' });
    let writes = 0;
    db.function('count_write', () => ++writes);
    db.exec(`CREATE TEMP TRIGGER count_last_used AFTER UPDATE OF last_used_at ON main.api_keys
             BEGIN SELECT count_write(); END`);
    const stored = () => store.get(info.id)?.lastUsedAt;
    assert.equal(store.authenticate(secret)?.lastUsedAt, '2026-11-27T07:00:00.000Z');
    for (let i = 0; i < 1000; i++) store.authenticate(secret);
    clock.advance(59_999);
    store.authenticate(secret);
    assert.equal(writes, 1);
    assert.equal(stored(), '2026-11-27T07:00:00.000Z');
    clock.advance(1);
    assert.equal(store.authenticate(secret)?.lastUsedAt, '2026-11-27T07:01:00.000Z');
    assert.equal(stored(), '2026-11-27T07:01:00.000Z');
    assert.equal(writes, 2);
  });

  test('persists across reopening a file database', () => {
    const path = join(tempDir(), 'meta.sqlite');
    let db = new Database(path);
    const { secret, info } = createSqliteKeyStore(db).create({
      role: 'auditor',
      logs: ['acme'],
      description: 'x',
    });
    const revoked = createSqliteKeyStore(db).create({ role: 'writer' });
    createSqliteKeyStore(db).revoke(revoked.info.id);
    db.close();
    db = new Database(path);
    const store = createSqliteKeyStore(db);
    assert.equal(store.authenticate(secret)?.id, info.id);
    assert.deepEqual(store.get(info.id)?.logs, ['acme']);
    assert.equal(store.authenticate(revoked.secret), undefined);
    assert.equal(store.list().length, 2);
    db.close();
  });

  test('cached authentication costs microseconds', () => {
    const { store } = memoryStore();
    const { secret } = store.create({ role: 'writer' });
    store.authenticate(secret);
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) store.authenticate(secret);
    const perCallUs = Number(process.hrtime.bigint() - start) / 1000 / n;
    // Generous bound for slow CI machines; typically a few µs.
    assert.ok(perCallUs < 50, `authenticate took ${perCallUs.toFixed(1)} µs per call`);
  });
});
