/**
 * Child process of the archive crash test (archive-crash.test.ts): archives log `acme` of a data
 * directory to S3 (connection from the S3_* environment) until it is SIGKILLed. After each object
 * and each cursor save it prints one line `<kind> <key>`, so the parent can kill it at a chosen
 * moment; `done` at the end.
 *
 * Usage: archive-crash-child DATA_DIR BUCKET PREFIX
 */
import { writeSync } from 'node:fs';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import { createS3Client, resolveS3Config, s3ConnectionFromEnv } from '../storage/s3/s3-client.js';
import { Archiver } from './archiver.js';

const [dir, bucket, prefix] = process.argv.slice(2);
if (!dir || !bucket || prefix === undefined)
  throw new Error('usage: archive-crash-child DATA_DIR BUCKET PREFIX');
const say = (line: string) => writeSync(1, `${line}\n`);
const config = resolveS3Config({ ...s3ConnectionFromEnv(), bucket, prefix });
const client = createS3Client(config);
const local = await createLocalDriver({ root: dir });
const log = local.log('acme');
const archive = new S3BlobStore({ client, bucket, prefix, log: 'acme', retainUntil: () => new Date() });
const archiver = await Archiver.open({
  log: 'acme',
  local: log.blobs,
  state: log.state,
  archive,
  policy: { minMs: Number(process.env.ARCHIVE_RETENTION_MS ?? 5000), afterMs: Number.POSITIVE_INFINITY },
  concurrency: 4,
  chunkBundles: 2,
  onEvent: (e) => say(`${e.kind} ${e.key}`),
});
say(`open ${archiver.cursor.sealed} ${archiver.cursor.archived}`);
await archiver.archive();
say('done');
client.destroy();
await local.close();
