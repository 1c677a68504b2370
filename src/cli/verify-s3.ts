/**
 * `indelible verify --s3 s3://bucket/prefix --log NAME --key VKEY`: verifies a log's archive from
 * the bucket alone, for an auditor who has read access to the bucket and the log's verifier key and
 * nothing else (no server, no data directory, no trust in the operator).
 *
 * It runs the same offline verification as `verify --data` (src/log/verify.ts: every record, the
 * `prev` chain, every entry bundle and hash tile recomputed, every archived checkpoint's signature
 * and root) over a read-only view of the archive, and in addition checks that every sealed object
 * it reads is under Object Lock COMPLIANCE and that no sealed key has a second version: a sealed
 * object outside the lock, or shadowed by a newer version, could have been replaced, which is
 * exactly what the archive exists to rule out. The auditor needs s3:GetObject, s3:ListBucket and
 * s3:ListBucketVersions on the prefix (docs/ARCHIVE.md).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import { isIndelibleError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import { type LogReport, type VerifyProgress, verifyLog } from '../log/verify.js';
import { PRUNE_STATE_KEY } from '../retention/prune-state.js';
import { sealedCoverage } from '../retention/sealed-objects.js';
import { StorageError } from '../storage/errors.js';
import { validateBlobKey } from '../storage/keys.js';
import { listArchivedLogs, S3BlobStore } from '../storage/s3/s3-blob-store.js';
import {
  createS3Client,
  parseS3Url,
  resolveS3Config,
  type S3Config,
  s3ConnectionFromEnv,
} from '../storage/s3/s3-client.js';
import type { BlobStore, LogStorage } from '../storage/types.js';
import { printable } from '../util/printable.js';
import { UsageError } from './options.js';
import { logReportJson } from './verify-report.js';

export interface VerifyS3ArchiveOptions {
  /** `s3://bucket[/prefix]`: the archive prefix the server was configured with. */
  url: string;
  log: string;
  /** The log's verifier key (`GET /v1/logs/{log}/key`). */
  verifierKey: string;
  /** The log's origin; default the verifier key's name (Indelible names keys after origins). */
  origin?: string;
  /** Endpoint, region, credentials, path style; bucket and prefix come from `url`. */
  connection?: Omit<S3Config, 'bucket' | 'prefix'>;
  /** Use this client instead of creating one (tests). */
  client?: S3Client;
  onProgress?: (p: VerifyProgress) => void;
}

export interface S3ArchiveReport extends LogReport {
  /** Sealed objects read, each confirmed under Object Lock COMPLIANCE. */
  lockedObjects: number;
}

const READ_ONLY = 'the archive is opened read-only for verification';

/**
 * Read-only view of one log's archive. Sealed keys are read from the locked prefix only, and must
 * carry a COMPLIANCE lock; other keys (partial tiles, the latest checkpoint) from the mutable one.
 */
class ArchiveReader implements BlobStore {
  lockedObjects = 0;
  constructor(private readonly store: S3BlobStore) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    validateBlobKey(key);
    const { layout, objects } = this.store;
    if (sealedCoverage(key) === undefined) return objects.get(layout.mutable + key);
    const found = await objects.read(layout.sealed + key);
    if (found === undefined) return undefined;
    if (found.head.lockMode !== 'COMPLIANCE' || found.head.retainUntil === undefined) {
      throw new StorageError(
        'storage.object_lock_missing',
        `log ${this.store.log}: sealed object ${key} is not under Object Lock COMPLIANCE`,
        { details: { log: this.store.log, object: key, lockMode: found.head.lockMode } },
      );
    }
    this.lockedObjects++;
    return found.data;
  }

  list(prefix: string): Promise<string[]> {
    return this.store.list(prefix);
  }

  async put(): Promise<void> {
    throw new Error(READ_ONLY);
  }

  async delete(): Promise<void> {
    throw new Error(READ_ONLY);
  }
}

/**
 * Object Lock protects versions, not keys: anyone allowed to PUT can still add a NEW current
 * version over a locked object, and readers of the key would get it. Indelible writes each sealed
 * key exactly once, so a second version (or a delete marker) under the locked prefix is evidence of
 * tampering, refused with `storage.immutable_conflict` naming the object.
 */
async function checkSingleVersions(store: S3BlobStore): Promise<void> {
  const seen = new Set<string>();
  for (const v of await store.objects.listVersions(store.layout.sealed)) {
    const key = v.key.slice(store.layout.sealed.length);
    if (v.deleteMarker || seen.has(key)) {
      throw new StorageError(
        'storage.immutable_conflict',
        `log ${store.log}: sealed object ${key} has ${v.deleteMarker ? 'a delete marker' : 'more than one version'}`,
        { details: { log: store.log, object: key } },
      );
    }
    seen.add(key);
  }
}

/** Verifies one log's archive; resolves with its report or rejects with the first failure. */
export async function verifyS3Archive(o: VerifyS3ArchiveOptions): Promise<S3ArchiveReport> {
  const { bucket, prefix } = parseS3Url(o.url);
  const config = resolveS3Config({ ...o.connection, bucket, prefix });
  const verifier = parseVerifierKey(o.verifierKey);
  const client = o.client ?? createS3Client(config);
  const store = new S3BlobStore({
    client,
    bucket,
    prefix,
    log: o.log,
    retainUntil: () => {
      throw new Error(READ_ONLY);
    },
  });
  const reader = new ArchiveReader(store);
  const storage: LogStorage = {
    blobs: reader,
    state: {
      // Only the prune state, which the server publishes to the archive before deleting a pruned
      // bundle there: verifyLog trusts it only under the signed statement it names (archived, locked).
      read: async (key) => {
        if (key !== PRUNE_STATE_KEY) return undefined;
        const value = await store.get(PRUNE_STATE_KEY);
        return value === undefined ? undefined : { value, version: 'archive' };
      },
      compareAndSwap: async () => {
        throw new Error(READ_ONLY);
      },
    },
    openJournal: async () => {
      throw new Error(READ_ONLY);
    },
  };
  try {
    await checkSingleVersions(store);
    const report = await verifyLog(o.log, storage, verifier, o.origin ?? verifier.name, o.onProgress);
    return { ...report, lockedObjects: reader.lockedObjects };
  } finally {
    if (o.client === undefined) client.destroy();
  }
}

/** Options `verify` gains for archives (`--key` is shared with `verify --data`). */
export function addVerifyS3Options(command: Command): Command {
  return command
    .option('--s3 <url>', 'verify an S3 archive (s3://bucket/prefix) instead of a data directory')
    .option('--log <name>', 'with --s3: the log to verify (default: every log in the archive)')
    .option('--endpoint <url>', 'with --s3: S3-compatible endpoint (env S3_ENDPOINT; omit for AWS)')
    .option('--region <region>', 'with --s3: region (env S3_REGION; default us-east-1)')
    .option('--path-style', 'with --s3: path-style bucket addressing (env S3_FORCE_PATH_STYLE=true)');
}

export interface VerifyS3CliOptions {
  s3: string;
  log?: string;
  /** `VKEY` (one log) or `LOG=VKEY` pins, as given to `--key`. */
  key?: string[];
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  json?: boolean;
}

const LOG_NAME = /^_?[a-z0-9][a-z0-9._-]{0,62}$/;

/** Splits `--key` values into per-log pins and at most one unnamed key. */
function keysByLog(values: readonly string[]): { pins: Map<string, string>; plain?: string } {
  const pins = new Map<string, string>();
  let plain: string | undefined;
  for (const v of values) {
    const eq = v.indexOf('=');
    // A verifier key has `+` before any `=` (base64 padding), so it never looks like LOG=….
    if (eq > 0 && LOG_NAME.test(v.slice(0, eq))) pins.set(v.slice(0, eq), v.slice(eq + 1));
    else if (plain === undefined) plain = v;
    else throw new UsageError('--key: give one VKEY, or LOG=VKEY for each log');
  }
  return { pins, ...(plain === undefined ? {} : { plain }) };
}

/** Where the action writes (tests capture it). */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** The `verify --s3` action: exit code 0 when every log verifies, 1 at the first failure. */
export async function runVerifyS3(
  opts: VerifyS3CliOptions,
  env: NodeJS.ProcessEnv = process.env,
  io: CliOutput = stdio,
): Promise<void> {
  const json = (value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);
  const connection = s3ConnectionFromEnv(env);
  if (opts.endpoint !== undefined) connection.endpoint = opts.endpoint;
  if (opts.region !== undefined) connection.region = opts.region;
  if (opts.pathStyle === true) connection.forcePathStyle = true;
  let target: ReturnType<typeof parseS3Url>;
  try {
    target = parseS3Url(opts.s3);
    resolveS3Config({ ...connection, ...target });
  } catch (err) {
    throw new UsageError(`--s3: ${(err as Error).message}`);
  }
  const { pins, plain } = keysByLog(opts.key ?? []);
  const client = createS3Client(resolveS3Config({ ...connection, ...target }));
  const reports: S3ArchiveReport[] = [];
  try {
    const logs =
      opts.log !== undefined ? [opts.log] : await listArchivedLogs(client, target.bucket, target.prefix);
    if (logs.length === 0) throw new UsageError(`no logs found in ${opts.s3}`);
    for (const log of logs) {
      const key = pins.get(log) ?? (logs.length === 1 ? plain : undefined);
      if (key === undefined)
        throw new UsageError(`--key: no verifier key for log ${log} (use --key ${log}=VKEY)`);
      reports.push(await verifyS3Archive({ url: opts.s3, log, verifierKey: key, connection, client }));
    }
  } catch (err) {
    if (!isIndelibleError(err)) throw err;
    io.err(`verification FAILED: ${printable(err.message)} [${printable(err.code)}]\n`);
    if (opts.json) json({ ok: false, code: err.code, message: err.message, details: err.details });
    process.exitCode = 1;
    return;
  } finally {
    client.destroy();
  }
  if (opts.json) json({ ok: true, logs: reports.map(logReportJson) });
  for (const r of opts.json ? [] : reports) {
    io.out(
      `${r.log}: OK, ${r.treeSize} entries, ${r.checkpoints} checkpoints, root ${r.rootHash}, ` +
        `${r.lockedObjects} sealed objects under Object Lock\n`,
    );
  }
}
