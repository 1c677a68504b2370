/**
 * The start-up check of an archive bucket: it must exist and have Object Lock enabled, or every
 * "locked" upload would be an ordinary, deletable object. Refusing here, with the command that fixes
 * it, is better than discovering an unlocked archive during an audit.
 *
 * Object Lock can only be enabled when a bucket is created (AWS later allowed enabling it on an
 * existing versioned bucket; RGW and MinIO do not), so the message says how to create one.
 */
import {
  GetObjectLockConfigurationCommand,
  type GetObjectLockConfigurationCommandOutput,
  type ObjectLockRetentionMode,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError, toStorageError } from '../errors.js';

export interface BucketLockStatus {
  bucket: string;
  /**
   * The bucket's default retention, if one is configured. It also locks every version of our
   * mutable objects (latest checkpoint, partial tiles), which then pile up until it expires; the
   * archiver logs a warning (docs/ARCHIVE.md recommends no default rule).
   */
  defaultRetention?: { mode: ObjectLockRetentionMode | string; days?: number; years?: number };
}

/** S3 error names and the HTTP status of a failed SDK call, without trusting their shape. */
export function s3ErrorInfo(err: unknown): { name: string; status: number | undefined } {
  const e = err as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const name = typeof e?.Code === 'string' ? e.Code : typeof e?.name === 'string' ? e.name : '';
  const status = e?.$metadata?.httpStatusCode;
  return { name, status: typeof status === 'number' ? status : undefined };
}

function lockMissing(bucket: string, why: string): StorageError {
  return new StorageError(
    'storage.object_lock_missing',
    `S3 bucket ${bucket} ${why}; Indelible archives only to buckets with Object Lock enabled. ` +
      `Create one with Object Lock, e.g. \`aws s3api create-bucket --bucket ${bucket} ` +
      '--object-lock-enabled-for-bucket` (see docs/ARCHIVE.md for RGW and MinIO)',
    { details: { bucket, reason: why } },
  );
}

/**
 * Resolves with the bucket's lock status when Object Lock is enabled; otherwise rejects with
 * `storage.object_lock_missing` (no lock configuration) or `storage.io` (no such bucket, no access,
 * network), each with a message naming the bucket.
 */
export async function checkBucketObjectLock(client: S3Client, bucket: string): Promise<BucketLockStatus> {
  let config: GetObjectLockConfigurationCommandOutput;
  try {
    config = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
  } catch (err) {
    const { name, status } = s3ErrorInfo(err);
    if (name === 'ObjectLockConfigurationNotFoundError') {
      throw lockMissing(bucket, 'has no Object Lock configuration');
    }
    if (name === 'NoSuchBucket') {
      throw new StorageError('storage.io', `S3 bucket ${bucket} does not exist`, {
        cause: err,
        details: { bucket, reason: name },
      });
    }
    throw toStorageError(err, `reading the Object Lock configuration of S3 bucket ${bucket}`, {
      bucket,
      status,
    });
  }
  const lock = config.ObjectLockConfiguration;
  if (lock?.ObjectLockEnabled !== 'Enabled') throw lockMissing(bucket, 'does not have Object Lock enabled');
  const rule = lock.Rule?.DefaultRetention;
  const status: BucketLockStatus = { bucket };
  if (rule?.Mode !== undefined) {
    status.defaultRetention = {
      mode: rule.Mode,
      ...(rule.Days === undefined ? {} : { days: rule.Days }),
      ...(rule.Years === undefined ? {} : { years: rule.Years }),
    };
  }
  return status;
}
