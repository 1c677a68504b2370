/**
 * The few S3 calls the blob store and the archiver make, each turning "not found" into `undefined`
 * and every other failure into a `storage.io` StorageError naming the object.
 *
 * Every upload is a single PutObject (objects here are at most a few MiB; bundles ≤ 16 MiB) with a
 * Content-MD5 header, so the server rejects a body damaged in transit (400 BadDigest) and applies the
 * Object Lock headers itself; multipart uploads are avoided because Ceph RGW ignores lock headers on
 * them.
 */
import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { toStorageError } from '../errors.js';
import { s3ErrorInfo } from './lock-check.js';

/** What HEAD tells about one object (the current version unless a version was asked for). */
export interface ObjectHead {
  size: number;
  /** The ETag without quotes; for a single-part upload without SSE-KMS, the hex MD5 of the bytes. */
  etag: string;
  versionId: string | undefined;
  lockMode: string | undefined;
  /** Milliseconds since the epoch, or undefined when the version has no retention. */
  retainUntil: number | undefined;
  legalHold: boolean;
}

export interface ObjectVersion {
  key: string;
  versionId: string;
  deleteMarker: boolean;
}

/** Where a paged version listing continues (S3's own markers); both undefined = from the start. */
export interface VersionMarker {
  keyMarker: string | undefined;
  versionIdMarker: string | undefined;
}

/** One page of `listVersionsPage`; `next` is undefined after the last page. */
export interface VersionPage {
  versions: ObjectVersion[];
  next: VersionMarker | undefined;
}

interface HeadFields {
  ContentLength?: number;
  ETag?: string;
  VersionId?: string;
  ObjectLockMode?: string;
  ObjectLockRetainUntilDate?: Date;
  ObjectLockLegalHoldStatus?: string;
}

function toHead(h: HeadFields): ObjectHead {
  return {
    size: h.ContentLength ?? -1,
    etag: (h.ETag ?? '').replace(/"/g, ''),
    versionId: h.VersionId,
    lockMode: h.ObjectLockMode,
    retainUntil: h.ObjectLockRetainUntilDate?.getTime(),
    legalHold: h.ObjectLockLegalHoldStatus === 'ON',
  };
}

function isNotFound(err: unknown): boolean {
  const { name, status } = s3ErrorInfo(err);
  return status === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

/** Hex and base64 MD5 of `data` (Content-MD5 wants base64; single-part ETags are hex). */
export function md5Of(data: Uint8Array): { hex: string; base64: string } {
  const digest = createHash('md5').update(data).digest();
  return { hex: digest.toString('hex'), base64: digest.toString('base64') };
}

/** A small facade over one bucket; keys are full object keys (prefix included). */
export class S3Objects {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async head(key: string, versionId?: string): Promise<ObjectHead | undefined> {
    try {
      const h = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
      return toHead(h);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toStorageError(err, 'S3 HEAD', { key });
    }
  }

  /** The bytes of the current version, or undefined when there is none. */
  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.read(key))?.data;
  }

  /** The bytes of the current version with what its headers say, or undefined when there is none. */
  async read(key: string): Promise<{ data: Uint8Array; head: ObjectHead } | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const data = r.Body === undefined ? new Uint8Array(0) : await r.Body.transformToByteArray();
      return { data, head: toHead(r) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toStorageError(err, 'S3 GET', { key });
    }
  }

  /**
   * One PutObject with Content-MD5; with `retainUntil`, under Object Lock COMPLIANCE until then,
   * and with `legalHold`, also under an Object Lock legal hold. `If-None-Match: *` makes servers that support conditional writes (AWS, MinIO) refuse to add a
   * second version; a refusal resolves `false` (the caller compares bytes). Servers that ignore it
   * (Ceph RGW 16) rely on the caller's HEAD before the PUT.
   */
  async put(key: string, data: Uint8Array, retainUntil?: Date, legalHold = false): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: data,
          ContentLength: data.length,
          ContentMD5: md5Of(data).base64,
          ContentType: 'application/octet-stream',
          ...(retainUntil === undefined
            ? {}
            : { IfNoneMatch: '*', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: retainUntil }),
          ...(legalHold ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
        }),
      );
      return true;
    } catch (err) {
      const { status } = s3ErrorInfo(err);
      // 412: the object exists; 409: a concurrent conditional write to the same key is in flight.
      if (retainUntil !== undefined && (status === 412 || status === 409)) return false;
      throw toStorageError(err, 'S3 PUT', { key });
    }
  }

  /** Extends (never shortens: COMPLIANCE forbids it) the retention of the current version. */
  async extendRetention(key: string, retainUntil: Date): Promise<void> {
    try {
      await this.client.send(
        new PutObjectRetentionCommand({
          Bucket: this.bucket,
          Key: key,
          Retention: { Mode: 'COMPLIANCE', RetainUntilDate: retainUntil },
        }),
      );
    } catch (err) {
      throw toStorageError(err, 'S3 PutObjectRetention', { key });
    }
  }

  /**
   * Sets (`on`) or removes the Object Lock legal hold of one version (the current one when
   * `versionId` is undefined). Idempotent: removing an absent hold succeeds.
   */
  async setLegalHold(key: string, versionId: string | undefined, on: boolean): Promise<void> {
    try {
      await this.client.send(
        new PutObjectLegalHoldCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          LegalHold: { Status: on ? 'ON' : 'OFF' },
        }),
      );
    } catch (err) {
      throw toStorageError(err, 'S3 PutObjectLegalHold', { key, versionId });
    }
  }

  /**
   * DeleteObject. Without a version id (versioned bucket) this only adds a delete marker; with one
   * it removes that version, which the server refuses while the version is locked.
   */
  async delete(key: string, versionId?: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }),
      );
    } catch (err) {
      throw toStorageError(err, 'S3 DELETE', { key, versionId });
    }
  }

  /** Every key starting with `prefix`, in S3's (byte) order. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of r.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw toStorageError(err, 'S3 LIST', { prefix });
    }
    return keys;
  }

  /** The next path segment of every key under `prefix` (ListObjectsV2 with delimiter `/`). */
  async listFolders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        );
        for (const p of r.CommonPrefixes ?? []) {
          if (p.Prefix !== undefined) out.push(p.Prefix.slice(prefix.length, -1));
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw toStorageError(err, 'S3 LIST', { prefix });
    }
    return out;
  }

  /** Every version and delete marker of keys starting with `prefix`. */
  async listVersions(prefix: string): Promise<ObjectVersion[]> {
    const out: ObjectVersion[] = [];
    let marker: VersionMarker | undefined = { keyMarker: undefined, versionIdMarker: undefined };
    while (marker !== undefined) {
      const page = await this.listVersionsPage(prefix, marker);
      out.push(...page.versions);
      marker = page.next;
    }
    return out;
  }

  /**
   * One page (at most `maxKeys`, S3 caps it at 1000) of the versions and delete markers of keys
   * starting with `prefix`, from `marker` on; resumable from the returned `next`.
   */
  async listVersionsPage(prefix: string, marker: VersionMarker, maxKeys?: number): Promise<VersionPage> {
    try {
      const r = await this.client.send(
        new ListObjectVersionsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: marker.keyMarker,
          VersionIdMarker: marker.versionIdMarker,
          MaxKeys: maxKeys,
        }),
      );
      const versions: ObjectVersion[] = [];
      for (const v of r.Versions ?? []) {
        if (v.Key && v.VersionId) versions.push({ key: v.Key, versionId: v.VersionId, deleteMarker: false });
      }
      for (const m of r.DeleteMarkers ?? []) {
        if (m.Key && m.VersionId) versions.push({ key: m.Key, versionId: m.VersionId, deleteMarker: true });
      }
      const next = r.IsTruncated
        ? { keyMarker: r.NextKeyMarker, versionIdMarker: r.NextVersionIdMarker }
        : undefined;
      return { versions, next };
    } catch (err) {
      throw toStorageError(err, 'S3 ListObjectVersions', { prefix });
    }
  }
}
