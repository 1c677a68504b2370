// Pruning an archived log against a real S3 server with Object Lock (Ceph RGW in CI): locally pruned
// bundles leave the archive only once their COMPLIANCE lock has expired — no delete is ever sent
// before — and the archive keeps verifying from the bucket alone (`verify --s3`), before and after,
// accepting the pruned prefix only under the prune statement.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { verifyS3Archive } from '../cli/verify-s3.js';
import { entriesPath, tilePath } from '../core/tile.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine } from '../log/engine.js';
import { sampleEvent } from '../log/test-helpers.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { logLayout } from '../storage/s3/s3-client.js';
import { openTestS3, s3SkipReason, s3TestOptions, type TestS3 } from '../storage/s3/test-env.js';
import { openArchivedDriver } from './archived-driver.js';
import { applyPolicyUpdate, updateLogPolicy } from './log-policy.js';
import { pruneLog } from './pruner.js';

let s3: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() === undefined) s3 = await openTestS3({ hint: 'prune' });
});
after(() => s3?.client.destroy());

/** Real time plus an offset: S3 checks retain-until dates against its own (real) clock. */
const clock = { offset: 0, now: () => Date.now() + clock.offset };

describe('pruning an archive', s3TestOptions(), () => {
  test('deletes archived bundles only after their lock expired; verify --s3 passes throughout', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-prune-s3-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('prune');
    const driver = await openArchivedDriver({
      local: await createLocalDriver({ root: dir }),
      s3: { ...s3!.connection, bucket: s3!.bucket, prefix },
      client: s3!.client,
      policy: { minMs: 1000, afterMs: Number.POSITIVE_INFINITY },
      clock,
    });
    const engine = await Engine.open({
      driver,
      index: createSqliteIndex({ path: ':memory:' }),
      originPrefix: 'test.example',
      clock,
      config: { integrator: { intervalMs: 60_000 } },
    });
    const { verifierKey } = await engine.createLog('acme');
    await updateLogPolicy(engine.stateOf('acme'), (p) =>
      applyPolicyUpdate(p, { retention: { min: '5s', max: '5s' } }, 'test', new Date().toISOString()),
    );
    await engine.append(
      'acme',
      Array.from({ length: 900 }, (_, i) => sampleEvent(i, 200)),
    );
    await engine.log('acme').integrate();
    await driver.runOnce();
    const uploadedAt = Date.now();
    const verify = () =>
      verifyS3Archive({ url: `s3://${s3!.bucket}/${prefix}`, log: 'acme', verifierKey, client: s3!.client });
    assert.equal((await verify()).minimumIndex, 0);

    const store = driver.archiveOf('acme');
    const layout = logLayout(prefix, 'acme');
    const sealedDeletes = () =>
      s3!.sent.filter(
        (r) => r.command === 'DeleteObjectCommand' && String(r.input.Key).startsWith(layout.sealed),
      ).length;
    try {
      // Six seconds on, every entry is past retention.max (5 s); the archive locks (5 s + slack) hold.
      clock.offset = 6000;
      const early = await pruneLog({ engine, log: 'acme', clock, archive: store });
      assert.equal(early.minimumIndex, 768);
      assert.equal(early.deletedLocal, 3);
      // The archive does not hold the statement yet: nothing is deleted there, and it still verifies.
      assert.equal(early.archiveBehind, true);
      assert.equal(sealedDeletes(), 0);
      assert.equal((await verify()).minimumIndex, 0);
      await driver.runOnce();
      const first = await pruneLog({ engine, log: 'acme', clock, archive: store });
      assert.equal(first.archiveBehind, undefined);
      // Locked for 5 s after upload, plus the store's 5 s clock-skew slack: still locked now, unless
      // this machine took most of those 10 s to get here (then the lock cannot be observed).
      if (first.archiveLockedUntil === undefined && Date.now() - uploadedAt > 9000) {
        t.diagnostic(`the lock expired before it could be observed (${Date.now() - uploadedAt} ms)`);
      } else {
        assert.ok(first.archiveLockedUntil !== undefined, 'the archived bundles are still locked');
        assert.equal(first.deletedArchived, 0);
        assert.equal(sealedDeletes(), 0, 'no delete is sent while a lock holds');
        assert.notEqual(await store.getSealed(entriesPath(0)), undefined);
        // The archive still verifies: the prune state is published, the bundles are still there.
        assert.equal((await verify()).minimumIndex, 768);
      }
      const wait = (first.archiveLockedUntil?.getTime() ?? 0) - Date.now() + 200;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const second = await pruneLog({ engine, log: 'acme', clock, archive: store });
      assert.equal(second.archiveLockedUntil, undefined);
      assert.equal(first.deletedArchived + second.deletedArchived, 3);
      for (let b = 0; b < 3; b++) assert.equal(await store.getSealed(entriesPath(b)), undefined);
      assert.notEqual(await store.getSealed(tilePath({ level: 0, index: 0, width: 256 })), undefined);

      // From the bucket alone: the pruned prefix is accepted under the statement.
      const report = await verify();
      assert.equal(report.minimumIndex, 768);
      assert.equal(report.treeSize, engine.log('acme').treeSize);
      // Without the published prune state the missing bundles are damage.
      await s3!.client.send(new DeleteObjectCommand({ Bucket: s3!.bucket, Key: `${layout.mutable}prune` }));
      await assert.rejects(verify(), { code: 'verify.missing_object' });
    } finally {
      await engine.close();
    }
  });
});
