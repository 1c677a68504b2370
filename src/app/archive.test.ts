// The server's data directory with an S3 Object Lock archive configured (config `archive`): sealed
// data is archived, evicted from local disk, and still read transparently, also after a restart.
// Runs against the real S3 (CI starts Ceph RGW); skips with a reason when none is configured.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashLeaf } from '../core/merkle.js';
import { verifyInclusion } from '../core/proof.js';
import { sampleEvent } from '../log/test-helpers.js';
import { openTestS3, s3TestOptions } from '../storage/s3/test-env.js';
import { initDataDir, openDataDir } from './data-dir.js';

test(
  'archive configured: sealed bundles are archived, evicted, and read back from S3',
  s3TestOptions(),
  async (t) => {
    const s3 = await openTestS3({ hint: 'app' });
    // The server takes credentials from the AWS SDK's default chain, as documented.
    process.env.AWS_ACCESS_KEY_ID = process.env.S3_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = process.env.S3_SECRET_KEY;
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-app-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    await initDataDir(dir);
    const archive = {
      bucket: s3.bucket,
      prefix: s3.newPrefix('app'),
      region: s3.connection.region ?? 'us-east-1',
      ...(s3.connection.endpoint ? { endpoint: s3.connection.endpoint } : {}),
      forcePathStyle: true,
      retentionMin: '2s',
      archiveAfter: 0,
      intervalMs: 3_600_000,
    };
    const records: Uint8Array[] = [];
    {
      const dd = await openDataDir(dir, { archive });
      await dd.engine.createLog('acme');
      await dd.engine.append(
        'acme',
        Array.from({ length: 600 }, (_, i) => sampleEvent(i, 300)),
      );
      await dd.engine.log('acme').integrate();
      const results = await dd.archive!.runOnce();
      const acme = results.find((r) => r.log === 'acme');
      assert.equal(acme?.error, undefined);
      assert.ok((acme?.evict?.evicted ?? 0) > 0, 'something was evicted');
      assert.equal(
        existsSync(join(dir, 'logs', 'acme', 'tile', 'entries', '000')),
        false,
        'bundle 000 left local disk',
      );
      const log = dd.engine.log('acme');
      for (const i of [0, 255, 256, 599]) records[i] = await log.readRecord(i);
      await dd.close();
    }
    const dd = await openDataDir(dir, { archive });
    try {
      const log = dd.engine.log('acme');
      const cp = log.latestCheckpoint();
      for (const i of [0, 255, 256, 599]) {
        const rec = await log.readRecord(i);
        assert.deepEqual(rec, records[i]);
        verifyInclusion(i, cp.size, hashLeaf(rec), await log.inclusionProof(i, cp.size), cp.rootHash);
      }
    } finally {
      await dd.close();
    }
  },
);
