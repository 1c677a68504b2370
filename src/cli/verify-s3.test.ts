// `verify --s3` against a real S3 server with Object Lock (Ceph RGW in CI): an archive verifies
// from the bucket alone with the verifier key, and the ways someone with write access to the bucket
// could still change what readers see (a new version over a locked key, an unlocked object under
// the locked prefix) or a wrong key are each caught with their code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { generateSignerKey } from '../core/note.js';
import { entriesPath } from '../core/tile.js';
import { checkpointHistoryKey } from '../log/log.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { openArchivedDriver } from '../retention/archived-driver.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { logLayout } from '../storage/s3/s3-client.js';
import { openTestS3, s3SkipReason, s3TestOptions, type TestS3 } from '../storage/s3/test-env.js';
import { runVerifyS3, verifyS3Archive } from './verify-s3.js';

let s3: TestS3 | undefined;
let dir = '';
let prefix = '';
let verifierKey = '';
let treeSize = 0;

before(async () => {
  if (s3SkipReason() !== undefined) return;
  s3 = await openTestS3({ hint: 'verify' });
  dir = mkdtempSync(join(tmpdir(), 'indelible-verify-s3-'));
  prefix = s3.newPrefix('verify');
  const driver = await openArchivedDriver({
    local: await createLocalDriver({ root: dir }),
    s3: { ...s3.connection, bucket: s3.bucket, prefix },
    client: s3.client,
    policy: { minMs: 2000, afterMs: Number.POSITIVE_INFINITY },
  });
  const engine = await openTestEngine(driver);
  ({ verifierKey } = await engine.createLog('acme'));
  for (const size of [300, 5, 250]) {
    await engine.append(
      'acme',
      Array.from({ length: size }, (_, i) => sampleEvent(i, 250)),
    );
    await engine.log('acme').integrate();
  }
  treeSize = engine.log('acme').treeSize;
  await driver.runOnce();
  await engine.close();
});
after(() => {
  s3?.client.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const verify = (key = verifierKey) =>
  verifyS3Archive({
    url: `s3://${s3!.bucket}/${prefix}`,
    log: 'acme',
    verifierKey: key,
    connection: s3!.connection,
    client: s3!.client,
  });

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err) => (err as { code?: string }).code === code);
}

/** PUTs an unlocked object (as an intruder with s3:PutObject could) and returns a remover. */
async function intrude(key: string, body: Uint8Array): Promise<() => Promise<void>> {
  const full = logLayout(prefix, 'acme').sealed + key;
  const r = await s3!.client.send(new PutObjectCommand({ Bucket: s3!.bucket, Key: full, Body: body }));
  return async () => {
    await s3!.client.send(new DeleteObjectCommand({ Bucket: s3!.bucket, Key: full, VersionId: r.VersionId }));
  };
}

describe('verify --s3', s3TestOptions(), () => {
  test('an archive verifies from the bucket alone, every sealed object locked', async () => {
    const report = await verify();
    assert.equal(report.treeSize, treeSize);
    assert.equal(report.checkpoints, 3);
    // Bundles 0-1, tiles 0-1, three checkpoints: all read and all under COMPLIANCE.
    assert.equal(report.lockedObjects, 7);
  });

  test('another key fails: the checkpoints are not signed by it', async () => {
    const other = generateSignerKey('test.example/acme').verifierKey;
    await rejectsCode(verify(other), 'verify.bad_checkpoint');
  });

  test('a second version over a locked key is tampering, even with the same bytes', async () => {
    const bundle = await s3!.client
      .send(
        new GetObjectCommand({
          Bucket: s3!.bucket,
          Key: logLayout(prefix, 'acme').sealed + entriesPath(0),
        }),
      )
      .then((r) => r.Body!.transformToByteArray());
    const remove = await intrude(entriesPath(0), bundle);
    try {
      await rejectsCode(verify(), 'storage.immutable_conflict');
    } finally {
      await remove();
    }
    assert.equal((await verify()).treeSize, treeSize);
  });

  test('an unlocked object under the locked prefix is refused', async () => {
    const remove = await intrude(checkpointHistoryKey(treeSize + 1), new TextEncoder().encode('forged\n'));
    try {
      await rejectsCode(verify(), 'storage.object_lock_missing');
    } finally {
      await remove();
    }
  });

  test('the CLI action: exit 0 and a JSON report, or exit 1 naming the failure', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    const env = {
      S3_ENDPOINT: process.env.S3_ENDPOINT,
      S3_REGION: process.env.S3_REGION,
      S3_ACCESS_KEY: process.env.S3_ACCESS_KEY,
      S3_SECRET_KEY: process.env.S3_SECRET_KEY,
      S3_FORCE_PATH_STYLE: process.env.S3_FORCE_PATH_STYLE,
    };
    try {
      // No --log: every log in the archive, keys pinned per log.
      await runVerifyS3(
        { s3: `s3://${s3!.bucket}/${prefix}`, key: [`acme=${verifierKey}`], json: true },
        env,
        io,
      );
      assert.equal(process.exitCode, undefined);
      const ok = JSON.parse(out.join('')) as {
        ok: boolean;
        logs: Array<{ log: string; tree_size: number; locked_objects: number }>;
      };
      assert.equal(ok.ok, true);
      assert.deepEqual(
        ok.logs.map((l) => [l.log, l.tree_size, l.locked_objects > 0]),
        [['acme', treeSize, true]],
      );
      out.length = 0;
      const other = generateSignerKey('test.example/acme').verifierKey;
      await runVerifyS3({ s3: `s3://${s3!.bucket}/${prefix}`, log: 'acme', key: [other] }, env, io);
      assert.equal(process.exitCode, 1);
      assert.match(out.join(''), /verification FAILED: .*\[verify\.bad_checkpoint\]/);
    } finally {
      process.exitCode = undefined;
    }
  });
});
