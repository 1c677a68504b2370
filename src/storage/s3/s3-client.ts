/**
 * Construction of the S3 client from one typed, validated config, and the object layout every S3
 * component shares.
 *
 * Works with AWS S3, Ceph RADOS Gateway and MinIO (docs/ARCHIVE.md). Differences are options, not
 * code paths: `endpoint` for anything but AWS, `forcePathStyle` for servers without virtual-host
 * bucket DNS (RGW and MinIO usually), and `checksums: 'when_required'` (the default) because Ceph RGW
 * before Reef answers 411 to the SDK's default aws-chunked CRC32 uploads. Integrity of uploads never
 * depends on that setting: every PUT carries its own Content-MD5, which every server checks.
 *
 * Layout under `s3://<bucket>/<prefix>/`:
 *   sealed/<log>/<key>    write-once objects (full tiles, full entry bundles, checkpoint history),
 *                         each version under Object Lock COMPLIANCE until its retain-until
 *   mutable/<log>/<key>   replaceable objects (latest checkpoint, partial tiles and bundles), never
 *                         locked by us; a lifecycle rule may expire their noncurrent versions
 * The split is at the top so that one bucket lifecycle rule (prefix filters only) covers all logs.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { isKeySegment } from '../keys.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3Config {
  /** Bucket name; the bucket must exist and have Object Lock enabled (lock-check.ts). */
  bucket: string;
  /** Key prefix inside the bucket, `a/b` form (no leading or trailing `/`); '' for the bucket root. */
  prefix?: string;
  /** Region (any value for RGW and MinIO; default `us-east-1`). */
  region?: string;
  /** `http(s)://host:port` of an S3-compatible server; omit for AWS S3. */
  endpoint?: string;
  /** Static credentials; omit to use the SDK's default chain (env, profile, instance role). */
  credentials?: S3Credentials;
  /** `bucket` in the path instead of the host name (needed by RGW and MinIO without wildcard DNS). */
  forcePathStyle?: boolean;
  /**
   * SDK flexible checksums: `when_required` (default; works everywhere, Content-MD5 still protects
   * every upload) or `when_supported` (the SDK's CRC32 on every request; AWS, MinIO, Ceph ≥ Reef).
   */
  checksums?: 'when_required' | 'when_supported';
  /** Attempts per request including the first (SDK standard retry; default 3). */
  maxAttempts?: number;
}

export type ResolvedS3Config = Required<Omit<S3Config, 'credentials' | 'endpoint'>> &
  Pick<S3Config, 'credentials' | 'endpoint'>;

// DNS-compatible bucket names (AWS rules; RGW and MinIO accept a superset).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

// Configuration mistakes are RangeErrors, as in the engine's config (src/log/config.ts): they are
// fixed by the operator at start, never caught.
function invalid(message: string): RangeError {
  return new RangeError(message);
}

/** Validates a config and fills defaults; a wrong field fails with a sentence naming it. */
export function resolveS3Config(config: S3Config): ResolvedS3Config {
  if (typeof config.bucket !== 'string' || !BUCKET.test(config.bucket)) {
    throw invalid(`s3 bucket ${JSON.stringify(config.bucket)} is not a valid bucket name`);
  }
  const prefix = config.prefix ?? '';
  if (typeof prefix !== 'string' || (prefix !== '' && !prefix.split('/').every(isKeySegment))) {
    throw invalid(`s3 prefix ${JSON.stringify(prefix)} must be '' or segments of [A-Za-z0-9._-] joined by /`);
  }
  if (config.endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(config.endpoint)) {
    throw invalid(`s3 endpoint ${JSON.stringify(config.endpoint)} must be http(s)://host[:port]`);
  }
  const maxAttempts = config.maxAttempts ?? 3;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20) {
    throw invalid('s3 maxAttempts must be an integer from 1 to 20');
  }
  const checksums = config.checksums ?? 'when_required';
  if (checksums !== 'when_required' && checksums !== 'when_supported') {
    throw invalid("s3 checksums must be 'when_required' or 'when_supported'");
  }
  const c = config.credentials;
  if (c !== undefined && (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string')) {
    throw invalid('s3 credentials need accessKeyId and secretAccessKey');
  }
  return {
    bucket: config.bucket,
    prefix,
    region: config.region ?? 'us-east-1',
    endpoint: config.endpoint,
    credentials: c,
    forcePathStyle: config.forcePathStyle ?? false,
    checksums,
    maxAttempts,
  };
}

/** An SDK client for a resolved config. The caller owns it (`client.destroy()` when done). */
export function createS3Client(config: ResolvedS3Config): S3Client {
  const mode = config.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  return new S3Client({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
    forcePathStyle: config.forcePathStyle,
    requestChecksumCalculation: mode,
    responseChecksumValidation: mode,
    maxAttempts: config.maxAttempts,
  });
}

/** `s3://bucket[/prefix]` → bucket and prefix (validated by `resolveS3Config` later). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (m === null) throw invalid(`${JSON.stringify(url)} is not an s3://bucket/prefix URL`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/\/+$/, '') };
}

/**
 * Connection settings from the conventional environment variables (the ones
 * `scripts/start-s3.sh` prints): S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY,
 * S3_FORCE_PATH_STYLE. Absent variables are left out so the SDK defaults apply.
 */
export function s3ConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): Omit<S3Config, 'bucket'> {
  const out: Omit<S3Config, 'bucket'> = {};
  if (env.S3_ENDPOINT) out.endpoint = env.S3_ENDPOINT;
  if (env.S3_REGION) out.region = env.S3_REGION;
  if (env.S3_ACCESS_KEY && env.S3_SECRET_KEY) {
    out.credentials = { accessKeyId: env.S3_ACCESS_KEY, secretAccessKey: env.S3_SECRET_KEY };
  }
  if (env.S3_FORCE_PATH_STYLE !== undefined) out.forcePathStyle = env.S3_FORCE_PATH_STYLE === 'true';
  return out;
}

/** Object key prefixes of one log: `sealed` objects are locked, `mutable` ones never are. */
export interface LogLayout {
  readonly sealed: string;
  readonly mutable: string;
}

function root(prefix: string): string {
  return prefix === '' ? '' : `${prefix}/`;
}

/** The prefixes under which every log's folder sits (for listing logs). */
export function archiveRoots(prefix: string): LogLayout {
  return { sealed: `${root(prefix)}sealed/`, mutable: `${root(prefix)}mutable/` };
}

/** The prefixes of one log (its name is validated by the caller). */
export function logLayout(prefix: string, log: string): LogLayout {
  const r = archiveRoots(prefix);
  return { sealed: `${r.sealed}${log}/`, mutable: `${r.mutable}${log}/` };
}
