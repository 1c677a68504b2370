// The start-up check of an archive bucket, against a real S3 server: Object Lock on, off, a
// missing bucket, and a default retention rule (reported, since it would lock mutable objects too).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PutObjectLockConfigurationCommand } from '@aws-sdk/client-s3';
import { rejectsWith } from '../conformance-helpers.js';
import { checkBucketObjectLock } from './lock-check.js';
import { openTestS3, s3TestOptions } from './test-env.js';

test('Object Lock check: enabled, default rule, disabled, missing bucket', s3TestOptions(), async (t) => {
  const locked = await openTestS3({ hint: 'lockcheck' });
  t.after(() => locked.client.destroy());
  assert.deepEqual(await checkBucketObjectLock(locked.client, locked.bucket), { bucket: locked.bucket });

  await locked.client.send(
    new PutObjectLockConfigurationCommand({
      Bucket: locked.bucket,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } },
      },
    }),
  );
  assert.deepEqual(await checkBucketObjectLock(locked.client, locked.bucket), {
    bucket: locked.bucket,
    defaultRetention: { mode: 'GOVERNANCE', days: 1 },
  });

  const plain = await openTestS3({ lock: false, hint: 'lockcheck-off' });
  t.after(() => plain.client.destroy());
  await rejectsWith(() => checkBucketObjectLock(plain.client, plain.bucket), 'storage.object_lock_missing');
  await rejectsWith(() => checkBucketObjectLock(plain.client, `${plain.bucket}-none`), 'storage.io');
});
