/**
 * Test fixtures for the S3 tests: they talk to a real S3 server with Object Lock (CI starts Ceph RGW
 * with scripts/start-s3.sh and sets INDELIBLE_REQUIRE_S3=1). Without S3_ENDPOINT they skip with a
 * stated reason, unless INDELIBLE_REQUIRE_S3=1, in which case they run and fail.
 *
 * Every run creates its own bucket (`indelible-test-…`, Object Lock enabled); tests lock objects for
 * seconds only, so these buckets can be emptied and removed shortly after a run.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from './s3-blob-store.js';
import { createS3Client, resolveS3Config, type S3Config, s3ConnectionFromEnv } from './s3-client.js';

/** The skip reason for S3 tests, or undefined when they must run. */
export function s3SkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.S3_ENDPOINT) return undefined;
  if (env.INDELIBLE_REQUIRE_S3 === '1') return undefined; // run, and fail in openTestS3
  return 'no S3 server: set S3_ENDPOINT etc. (eval "$(bash scripts/start-s3.sh)") to run the S3 tests';
}

/** node:test options for an S3 test. */
export function s3TestOptions(): { skip?: string } {
  const reason = s3SkipReason();
  return reason === undefined ? {} : { skip: reason };
}

export interface TestS3 {
  client: S3Client;
  bucket: string;
  /** Connection settings without bucket/prefix (for code that builds its own client). */
  connection: Omit<S3Config, 'bucket' | 'prefix'>;
  /** A fresh prefix for one test inside the run's bucket. */
  newPrefix(hint: string): string;
  /** Every request the client sent: command name and input (for "never attempted" assertions). */
  sent: Array<{ command: string; input: Record<string, unknown> }>;
  /** A store over `log`'s archive under `prefix` in the run's bucket, for reading what was archived. */
  archiveOf(prefix: string, log: string): S3BlobStore;
}

/** A client and a new Object Lock bucket; `lock: false` makes an ordinary bucket (refusal tests). */
export async function openTestS3(options: { lock?: boolean; hint?: string } = {}): Promise<TestS3> {
  if (!process.env.S3_ENDPOINT) {
    throw new Error('INDELIBLE_REQUIRE_S3=1 but S3_ENDPOINT is unset: start S3 with scripts/start-s3.sh');
  }
  const connection = {
    ...s3ConnectionFromEnv(),
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE !== 'false',
  };
  const bucket = `indelible-test-${options.hint ?? 'run'}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const client = createS3Client(resolveS3Config({ ...connection, bucket }));
  const sent: TestS3['sent'] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ command: String(context.commandName), input: { ...(args.input as object) } });
      return next(args);
    },
    { step: 'initialize', name: 'indelibleTestRecorder' },
  );
  await client.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ...(options.lock === false ? {} : { ObjectLockEnabledForBucket: true }),
    }),
  );
  let n = 0;
  return {
    client,
    bucket,
    connection,
    newPrefix: (hint) => `t${++n}-${hint.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}`,
    sent,
    archiveOf: (prefix, log) =>
      new S3BlobStore({ client, bucket, prefix, log, retainUntil: () => new Date() }),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
