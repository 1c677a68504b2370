// A log's own archive target (policy `archive.target`, issue 7), end to end against a real S3 server
// with Object Lock (Ceph RGW in CI): two logs, one on the server's bucket and one on a second
// bucket, are archived each to its own; each archive verifies from its own bucket URL; evicted data
// reads back from the log's own target; the target is set and refused through the HTTP API (a bucket
// without Object Lock, a change after archiving: 409), and an archive run to a bucket without
// Object Lock fails for that log only.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteKeyStore } from '../auth/key-store.js';
import { verifyS3Archive } from '../cli/verify-s3.js';
import { entriesPath } from '../core/tile.js';
import { buildServer } from '../http/server.js';
import type { Engine } from '../log/engine.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { rejectsWith } from '../storage/conformance-helpers.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { openTestS3, s3SkipReason, s3TestOptions, type TestS3 } from '../storage/s3/test-env.js';
import { CURSOR_KEY, parseCursor } from './archive-cursor.js';
import { type ArchivedDriver, openArchivedDriver } from './archived-driver.js';
import { defaultLogPolicy, POLICY_STATE_KEY, policyToWire, readLogPolicy } from './log-policy.js';

const RETENTION_MS = 2000;
const AFTER_MS = 60_000;

let main: TestS3 | undefined;
let second: TestS3 | undefined;
let plain: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() !== undefined) return;
  main = await openTestS3({ hint: 'target-main' });
  second = await openTestS3({ hint: 'target-own' });
  plain = await openTestS3({ hint: 'target-nolock', lock: false });
});
after(() => {
  for (const s of [main, second, plain]) s?.client.destroy();
});

/** Real time plus an offset the test moves forward (S3 needs retain-until dates in its future). */
const clock = { offset: 0, now: () => Date.now() + clock.offset };

async function openAll(dir: string, prefix: string) {
  const local = await createLocalDriver({ root: dir });
  const driver = await openArchivedDriver({
    local,
    s3: { ...main!.connection, bucket: main!.bucket, prefix },
    client: main!.client,
    policy: { minMs: RETENTION_MS, afterMs: AFTER_MS },
    clock,
    concurrency: 4,
  });
  const engine = await openTestEngine(driver);
  const meta = new Database(':memory:');
  const keys = createSqliteKeyStore(meta);
  const admin = keys.create({ role: 'admin', logs: null }).secret;
  const app = await buildServer({ engine, keys, meta, config: {}, defaultMetrics: false });
  await app.ready();
  const put = (log: string, payload: unknown) =>
    app.inject({
      method: 'PUT',
      url: `/v1/logs/${log}/policy`,
      headers: { authorization: `Bearer ${admin}` },
      payload: payload as object,
    });
  const close = async () => {
    await app.close();
    await engine.close();
    meta.close();
  };
  return { driver, engine, local, put, close };
}

async function append(engine: Engine, log: string, n: number): Promise<void> {
  await engine.append(
    log,
    Array.from({ length: n }, (_, i) => sampleEvent(i, 300)),
  );
  await engine.log(log).integrate();
}

async function runAll(driver: ArchivedDriver) {
  const results = await driver.runOnce();
  return new Map(results.map((r) => [r.log, r]));
}

describe('per-log archive target', s3TestOptions(), () => {
  test('two logs archive to their own buckets, verify from them, and read back after eviction', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-target-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = main!.newPrefix('default');
    const ownPrefix = second!.newPrefix('own/sub');
    clock.offset = 0;
    const { driver, engine, local, put, close } = await openAll(dir, prefix);
    t.after(close);
    await engine.createLog('acme');
    await engine.createLog('beta');

    // A target on a bucket without Object Lock, or a missing bucket, is refused up front.
    const nolock = await put('beta', { archive: { target: { bucket: plain!.bucket } } });
    assert.equal(nolock.statusCode, 400, nolock.body);
    assert.equal(nolock.json().code, 'retention.invalid_policy');
    assert.match(nolock.json().detail, /archive\.target/);
    assert.match(nolock.json().detail, /Object Lock/);
    const missing = await put('beta', { archive: { target: { bucket: `${second!.bucket}-missing` } } });
    assert.equal(missing.statusCode, 400, missing.body);

    const set = await put('beta', { archive: { target: { bucket: second!.bucket, prefix: ownPrefix } } });
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json().archive.target, { bucket: second!.bucket, prefix: ownPrefix });

    await append(engine, 'acme', 300);
    await append(engine, 'beta', 260);
    const byLog = await runAll(driver);
    assert.equal(byLog.get('acme')?.error, undefined);
    assert.equal(byLog.get('beta')?.error, undefined);
    assert.equal(byLog.get('beta')?.archive?.archivedSize, 260);

    // Each log's objects are in its own bucket and prefix, and only there.
    assert.ok((await main!.archiveOf(prefix, 'acme').listSealed('')).includes(entriesPath(0)));
    assert.deepEqual(await main!.archiveOf(prefix, 'beta').listSealed(''), []);
    assert.deepEqual(await main!.archiveOf(prefix, 'beta').listMutable(''), []);
    const own = second!.archiveOf(ownPrefix, 'beta');
    assert.ok((await own.listSealed('')).includes(entriesPath(0)));
    assert.ok((await own.listMutable('')).includes('checkpoint'));
    const cursor = parseCursor((await engine.stateOf('beta').read(CURSOR_KEY))!.value);
    assert.equal(cursor.bucket, second!.bucket);
    assert.equal(cursor.prefix, ownPrefix);

    for (const [log, s3, p, size] of [
      ['acme', main!, prefix, 300],
      ['beta', second!, ownPrefix, 260],
    ] as const) {
      const report = await verifyS3Archive({
        url: `s3://${s3.bucket}/${p}`,
        log,
        verifierKey: engine.info(log).verifierKey,
        connection: s3.connection,
        client: s3.client,
      });
      assert.equal(report.treeSize, size, log);
    }

    // Changing the target (or resetting it to the server's) after archiving is refused, audited or not.
    const moved = await put('beta', { archive: { target: null } });
    assert.equal(moved.statusCode, 409, moved.body);
    assert.equal(moved.json().code, 'retention.archive_moved');
    const movedAcme = await put('acme', { archive: { target: { bucket: second!.bucket, prefix: 'x' } } });
    assert.equal(movedAcme.statusCode, 409, movedAcme.body);
    // Other settings of such a log still change (its target is untouched).
    const other = await put('beta', { archive: { after: '1d' } });
    assert.equal(other.statusCode, 200, other.body);
    assert.deepEqual(other.json().archive.target, { bucket: second!.bucket, prefix: ownPrefix });

    // Evict beta's first bundle (archive.after 1d elapsed), then read it back through the engine:
    // the local copy is gone, the read comes from the second bucket.
    const records = await engine.log('beta').readRecords(0, 260);
    clock.offset = 2 * 86_400_000;
    const evicted = await runAll(driver);
    assert.equal(evicted.get('beta')?.error, undefined);
    assert.ok((evicted.get('beta')?.evict?.evictedSize ?? 0) >= 256, 'bundle 0 evicted');
    assert.equal(await local.log('beta').blobs.get(entriesPath(0)), undefined, 'no local copy left');
    assert.deepEqual(await engine.log('beta').readRecords(0, 260), records);
  });

  test('a target may change before anything is archived; an unlocked target fails that log’s run', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-target-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = main!.newPrefix('change');
    clock.offset = 0;
    const { driver, engine, local, put, close } = await openAll(dir, prefix);
    let closed = false;
    t.after(() => (closed ? undefined : close()));
    await engine.createLog('gamma');
    await engine.createLog('delta');
    const p1 = second!.newPrefix('first');
    const p2 = second!.newPrefix('second');
    assert.equal(
      (await put('gamma', { archive: { target: { bucket: second!.bucket, prefix: p1 } } })).statusCode,
      200,
    );
    const changed = await put('gamma', { archive: { target: { bucket: second!.bucket, prefix: p2 } } });
    assert.equal(changed.statusCode, 200, changed.body);
    await append(engine, 'gamma', 10);

    // A stored policy naming an unlocked bucket (written behind the API's back, e.g. restored from
    // a backup): the run of that log fails with the Object Lock message; the other log archives.
    const bad = {
      ...defaultLogPolicy(),
      archiveTarget: { bucket: plain!.bucket, prefix: '' },
    };
    await local
      .log('delta')
      .state.compareAndSwap(
        POLICY_STATE_KEY,
        undefined,
        new TextEncoder().encode(JSON.stringify({ v: 1, ...policyToWire(bad) })),
      );
    assert.deepEqual((await readLogPolicy(engine.stateOf('delta'))).policy.archiveTarget, bad.archiveTarget);
    await append(engine, 'delta', 5);

    const byLog = await runAll(driver);
    assert.equal(byLog.get('gamma')?.error, undefined);
    assert.equal(byLog.get('gamma')?.archive?.archivedSize, 10);
    assert.deepEqual(await second!.archiveOf(p1, 'gamma').listMutable(''), [], 'nothing at the first target');
    assert.ok((await second!.archiveOf(p2, 'gamma').listMutable('')).includes('checkpoint'));
    const error = byLog.get('delta')?.error as { code?: string; message?: string } | undefined;
    assert.equal(error?.code, 'storage.object_lock_missing');
    assert.match(error?.message ?? '', new RegExp(plain!.bucket));

    // At start every log's target is checked, as the server's bucket is.
    await close();
    closed = true;
    const again = await createLocalDriver({ root: dir });
    t.after(() => again.close());
    await rejectsWith(
      () =>
        openArchivedDriver({
          local: again,
          s3: { ...main!.connection, bucket: main!.bucket, prefix },
          client: main!.client,
          policy: { minMs: RETENTION_MS, afterMs: AFTER_MS },
        }),
      'storage.object_lock_missing',
    );
  });
});
