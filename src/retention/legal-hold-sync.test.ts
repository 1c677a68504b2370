// S3 legal holds follow the log's legal hold, against a real S3 server with Object Lock (Ceph RGW
// in CI): setting the hold through the policy puts every archived sealed object version under an
// S3 legal hold (also those uploaded while it is set), the server then refuses to delete a version
// even after its COMPLIANCE retention passed, releasing the hold removes the S3 holds; the sweep
// resumes after a failure from its saved position.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectLegalHoldCommand } from '@aws-sdk/client-s3';
import { entriesPath } from '../core/tile.js';
import type { Engine } from '../log/engine.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { silentLogger } from '../log/types.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import { openTestS3, s3SkipReason, s3TestOptions, sleep, type TestS3 } from '../storage/s3/test-env.js';
import { openArchivedDriver } from './archived-driver.js';
import type { ArchiveEvent } from './archiver.js';
import { LEGAL_HOLD_CURSOR_KEY, parseLegalHoldCursor, syncLegalHold } from './legal-hold-sync.js';
import { readLogPolicy, updateLogPolicy, withLegalHold, withoutLegalHold } from './log-policy.js';

const RETENTION_MS = 2000;

let s3: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() === undefined) s3 = await openTestS3({ hint: 'legalhold' });
});
after(() => s3?.client.destroy());

/** The S3 legal hold status of the current version of a full key (`OFF` when never held). */
async function legalHoldOf(key: string): Promise<string> {
  try {
    const r = await s3!.client.send(new GetObjectLegalHoldCommand({ Bucket: s3!.bucket, Key: key }));
    return r.LegalHold?.Status ?? 'OFF';
  } catch (err) {
    // Ceph RGW answers 404 ObjectLockConfigurationNotFoundError for a version never held.
    if ((err as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') return 'OFF';
    throw err;
  }
}

async function holds(archive: S3BlobStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await archive.listSealed('')) out[key] = await legalHoldOf(archive.layout.sealed + key);
  return out;
}

async function append(engine: Engine, count: number, from: number): Promise<void> {
  await engine.append(
    'acme',
    Array.from({ length: count }, (_, i) => sampleEvent(from + i, 300)),
  );
  await engine.log('acme').integrate();
}

describe('S3 legal hold', s3TestOptions(), () => {
  test('hold → every archived object held (new uploads too), deletes refused; release → holds removed', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-legalhold-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('legal-hold');
    const events: ArchiveEvent[] = [];
    const local = await createLocalDriver({ root: dir });
    const driver = await openArchivedDriver({
      local,
      s3: { ...s3!.connection, bucket: s3!.bucket, prefix },
      client: s3!.client,
      policy: { minMs: RETENTION_MS, afterMs: Number.POSITIVE_INFINITY },
      onEvent: (_log, e) => events.push(e),
    });
    const engine = await openTestEngine(driver);
    t.after(() => engine.close());
    await engine.createLog('acme');
    await append(engine, 300, 0);
    await append(engine, 300, 300);
    assert.equal((await driver.runOnce())[0]?.legalHold?.swept, false, 'never held: nothing to sweep');
    const archive = s3!.archiveOf(prefix, 'acme');
    const before = await holds(archive);
    assert.ok(Object.keys(before).length >= 6);
    assert.ok(Object.values(before).every((s) => s === 'OFF'));

    // Set the hold as the API does; the write itself starts the sync in the background.
    const at = new Date().toISOString();
    await updateLogPolicy(engine.stateOf('acme'), (p) => withLegalHold(p, 'case 17', 'key_admin', at));
    const { policy } = await readLogPolicy(engine.stateOf('acme'));
    assert.equal(policy.retentionMinMs, RETENTION_MS, 'the hold keeps the server default retention.min');
    const archiver = await driver.archiver('acme');
    // Queued behind the background sync: finding nothing left to do proves that one did the work.
    assert.equal((await archiver.syncLegalHold()).swept, false);
    assert.deepEqual(
      new Set(
        events.filter((e) => e.kind === 'legal-hold').map((e) => e.key.slice(archive.layout.sealed.length)),
      ),
      new Set(Object.keys(before)),
    );
    const held = await holds(archive);
    assert.deepEqual(Object.keys(held), Object.keys(before));
    assert.ok(
      Object.values(held).every((s) => s === 'ON'),
      JSON.stringify(held),
    );

    // Objects uploaded while the hold is set carry it from their upload on.
    await append(engine, 300, 600);
    const [run] = await driver.runOnce();
    assert.equal(run?.error, undefined);
    assert.equal(run?.archive?.archivedSize, 900);
    const afterUpload = await holds(archive);
    assert.ok(afterUpload[entriesPath(2)] === 'ON' && afterUpload['tile/0/002'] === 'ON');
    assert.ok(
      Object.values(afterUpload).every((s) => s === 'ON'),
      JSON.stringify(afterUpload),
    );
    const bundlePuts = s3!.sent.filter(
      (r) => r.command === 'PutObjectCommand' && r.input.Key === archive.layout.sealed + entriesPath(2),
    );
    assert.deepEqual(
      bundlePuts.map((r) => r.input.ObjectLockLegalHoldStatus),
      ['ON'],
      'uploaded with the legal-hold header',
    );

    // Once the COMPLIANCE retention has passed, the server still refuses to delete a held version.
    const key = archive.layout.sealed + entriesPath(0);
    const head = await archive.objects.head(key);
    await sleep(Math.max(0, (head?.retainUntil ?? 0) - Date.now()) + 1500);
    await assert.rejects(
      s3!.client.send(new DeleteObjectCommand({ Bucket: s3!.bucket, Key: key, VersionId: head?.versionId })),
      (err) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403,
    );
    assert.deepEqual(await archive.deleteSealed(entriesPath(0)), { status: 'held' });

    // Release (the audited admin action): every S3 legal hold is removed.
    await updateLogPolicy(engine.stateOf('acme'), (p) => withoutLegalHold(p, 'key_admin', at));
    assert.equal((await archiver.syncLegalHold()).swept, false, 'the release sync ran in the background');
    const released = await holds(archive);
    assert.deepEqual(Object.keys(released), Object.keys(afterUpload));
    assert.ok(
      Object.values(released).every((s) => s === 'OFF'),
      JSON.stringify(released),
    );
    const cursor = parseLegalHoldCursor((await local.log('acme').state.read(LEGAL_HOLD_CURSOR_KEY))!.value);
    assert.deepEqual([cursor.hold, cursor.next], [false, null]);
  });

  test('a sweep that fails halfway resumes from its saved page and finishes', async () => {
    const prefix = s3!.newPrefix('sweep-resume');
    const archive = s3!.archiveOf(prefix, 'acme');
    const keys = Array.from({ length: 10 }, (_, i) => entriesPath(i));
    for (const k of keys)
      await archive.putSealed(k, new TextEncoder().encode(k), new Date(Date.now() + 60_000));
    const state = createMemoryDriver().log('acme').state;
    let calls = 0;
    const options = {
      log: 'acme',
      state,
      archive,
      hold: true,
      logger: silentLogger,
      concurrency: 1,
      pageSize: 3,
    };
    await assert.rejects(
      syncLegalHold({
        ...options,
        onObject: () => {
          if (++calls === 5) throw new Error('crash');
        },
      }),
      /crash/,
    );
    const saved = parseLegalHoldCursor((await state.read(LEGAL_HOLD_CURSOR_KEY))!.value);
    assert.equal(saved.applied, 3, 'the first page of 3 was saved, the second was not');
    assert.notEqual(saved.next, null);

    const before = s3!.sent.length;
    const report = await syncLegalHold(options);
    assert.deepEqual([report.swept, report.applied], [true, 7], 'resumes at the unsaved page');
    const requests = s3!.sent.slice(before).filter((r) => r.command === 'PutObjectLegalHoldCommand');
    assert.equal(requests.length, 7);
    for (const k of keys) assert.equal(await legalHoldOf(archive.layout.sealed + k), 'ON', k);
    assert.equal((await syncLegalHold(options)).swept, false, 'converged: nothing more to do');
  });
});
