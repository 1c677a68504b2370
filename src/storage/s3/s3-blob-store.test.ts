// The S3 blob store against a real S3 server with Object Lock (Ceph RGW in CI): the shared
// conformance suite where S3 can honour it, then what only S3 has — COMPLIANCE locks the server
// enforces, idempotent sealed uploads, and deletes refused before any request while retained.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectLegalHoldCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { CONFORMANCE_CASE_IDS, defineStorageConformance } from '../conformance.js';
import { rejectsWith } from '../conformance-helpers.js';
import { validateLogName } from '../keys.js';
import { Gate } from '../local/serial.js';
import { createMemoryDriver, type MemoryDriver } from '../memory/memory-driver.js';
import type { LogStorage, StorageDriver } from '../types.js';
import { listArchivedLogs, S3BlobStore } from './s3-blob-store.js';
import { openTestS3, s3SkipReason, s3TestOptions, sleep, type TestS3 } from './test-env.js';

const enc = new TextEncoder();
const A = enc.encode('alpha');
const B = enc.encode('bravo');
const RETAIN_MS = 3000;
const DELETE_SLACK_MS = 1000;

let s3: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() === undefined) s3 = await openTestS3({ hint: 'blobs' });
});
after(() => s3?.client.destroy());

function store(prefix: string, log = 'acme', gate?: Gate): S3BlobStore {
  return new S3BlobStore({
    client: s3!.client,
    bucket: s3!.bucket,
    prefix,
    log,
    retainUntil: () => new Date(Date.now() + RETAIN_MS),
    deleteSlackMs: DELETE_SLACK_MS,
    ...(gate ? { gate } : {}),
  });
}

/** S3 blobs with the journal and state store of a memory driver: those stay local in every setup. */
class S3TestDriver implements StorageDriver {
  readonly #gate = new Gate('S3 test driver');
  readonly #stores = new Map<string, S3BlobStore>();
  constructor(
    readonly prefix: string,
    readonly memory: MemoryDriver,
  ) {}
  log(name: string): LogStorage {
    validateLogName(name);
    this.#gate.check();
    let blobs = this.#stores.get(name);
    if (blobs === undefined) {
      blobs = store(this.prefix, name, this.#gate);
      this.#stores.set(name, blobs);
    }
    const local = this.memory.log(name);
    return { blobs, state: local.state, openJournal: (b) => local.openJournal(b) };
  }
  listLogs(): Promise<string[]> {
    return this.#gate.run(async () => {
      const names = new Set([...(await this.memory.listLogs())]);
      for (const n of await listArchivedLogs(s3!.client, s3!.bucket, this.prefix)) names.add(n);
      return [...names].sort();
    });
  }
  async close(): Promise<void> {
    await this.#gate.close();
    await this.memory.close();
  }
}

const LOCKED_DELETE =
  'a sealed object is under Object Lock COMPLIANCE and cannot be deleted before its retain-until, not even by retention (storage.retained); the S3-specific tests below run this case up to that delete, then delete after expiry';
const LOCAL_ONLY =
  'the state store and journal stay local with S3 blobs (here: the memory driver, tested by its own suite)';
const skip: Record<string, string> = {
  'blob.immutable': LOCKED_DELETE,
  'blob.immutable-over-mutable': LOCKED_DELETE,
  'blob.concurrent-immutable': LOCKED_DELETE,
  'blob.delete': LOCKED_DELETE,
  'driver.persists': LOCKED_DELETE,
  'blob.folder-collision':
    'S3 has no folders: keys `a` and `a/b` can coexist (the engine never writes both; local and memory drivers enforce it)',
};
for (const id of CONFORMANCE_CASE_IDS) if (/^(state|journal)\./.test(id)) skip[id] = LOCAL_ONLY;
const noS3 = s3SkipReason();
if (noS3 !== undefined) for (const id of CONFORMANCE_CASE_IDS) skip[id] = noS3;

let caseNo = 0;
defineStorageConformance(
  's3',
  async () => {
    const prefix = `conformance-${++caseNo}`;
    let driver = new S3TestDriver(prefix, createMemoryDriver());
    return {
      driver,
      async reopen() {
        await driver.close();
        driver = new S3TestDriver(prefix, driver.memory.crash());
        return driver;
      },
      async dispose() {
        await driver.close();
      },
    };
  },
  { skip },
);

describe('S3 blob store: Object Lock', s3TestOptions(), () => {
  test('immutable objects: identical rewrites accepted, changes refused, deletes refused until expiry', async () => {
    const blobs = store(s3!.newPrefix('immutable'));
    await blobs.put('tile/0/000', A, { immutable: true });
    await blobs.put('tile/0/000', A, { immutable: true });
    await rejectsWith(() => blobs.put('tile/0/000', B, { immutable: true }), 'storage.immutable_conflict');
    await rejectsWith(() => blobs.put('tile/0/000', B), 'storage.immutable_conflict');
    await blobs.put('tile/0/000', A);
    assert.deepEqual(await blobs.get('tile/0/000'), A);
    await rejectsWith(() => blobs.delete('tile/0/000'), 'storage.immutable_conflict');

    // Retained: refused without a single DeleteObject request.
    const before = s3!.sent.length;
    await rejectsWith(() => blobs.delete('tile/0/000', { retention: true }), 'storage.retained');
    assert.deepEqual(
      s3!.sent.slice(before).filter((r) => r.command === 'DeleteObjectCommand'),
      [],
      'no delete is attempted before the retain-until',
    );
    assert.deepEqual(await blobs.get('tile/0/000'), A);
    // Exactly one version despite three immutable puts of the same bytes.
    const versions = await blobs.objects.listVersions(blobs.layout.sealed);
    assert.equal(versions.length, 1);

    await sleep(RETAIN_MS + 1500);
    await blobs.delete('tile/0/000', { retention: true });
    assert.equal(await blobs.get('tile/0/000'), undefined);
    assert.deepEqual(await blobs.objects.listVersions(blobs.layout.sealed), [], 'every version is gone');
  });

  test('the lock is real: the server refuses to delete a locked version or shorten its retention', async () => {
    const blobs = store(s3!.newPrefix('server-refuses'));
    await blobs.putSealed('tile/entries/000', A, new Date(Date.now() + 60_000));
    const [version] = await blobs.objects.listVersions(blobs.layout.sealed);
    assert.ok(version);
    const refused = (err: unknown) =>
      (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403;
    await assert.rejects(
      s3!.client.send(
        new DeleteObjectCommand({ Bucket: s3!.bucket, Key: version.key, VersionId: version.versionId }),
      ),
      refused,
    );
    await assert.rejects(
      s3!.client.send(
        new PutObjectRetentionCommand({
          Bucket: s3!.bucket,
          Key: version.key,
          Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 5000) },
        }),
      ),
      refused,
    );
    assert.deepEqual(await blobs.getSealed('tile/entries/000'), A);
  });

  test('an immutable put over a mutable object: other bytes refused, same bytes seal it', async () => {
    const blobs = store(s3!.newPrefix('over-mutable'));
    await blobs.put('tile/0/000', A);
    await rejectsWith(() => blobs.put('tile/0/000', B, { immutable: true }), 'storage.immutable_conflict');
    assert.deepEqual(await blobs.get('tile/0/000'), A);
    await blobs.put('tile/0/000', A, { immutable: true });
    assert.deepEqual(await blobs.listMutable(''), [], 'the mutable copy is superseded');
    assert.deepEqual(await blobs.listSealed(''), ['tile/0/000']);
    await rejectsWith(() => blobs.put('tile/0/000', B), 'storage.immutable_conflict');
    await rejectsWith(() => blobs.delete('tile/0/000'), 'storage.immutable_conflict');
  });

  test('concurrent immutable puts of different bytes: exactly one wins, one version stored', async () => {
    const blobs = store(s3!.newPrefix('concurrent'));
    const values = Array.from({ length: 6 }, (_, i) => enc.encode(`value ${i}`));
    const results = await Promise.allSettled(
      values.map((v) => blobs.put('tile/0/000', v, { immutable: true })),
    );
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1);
    for (const r of results) {
      if (r.status === 'rejected')
        assert.equal((r.reason as { code?: string }).code, 'storage.immutable_conflict');
    }
    assert.deepEqual(await blobs.get('tile/0/000'), values[winners[0]!]);
    assert.equal((await blobs.objects.listVersions(blobs.layout.sealed)).length, 1);
  });

  test('putSealed is idempotent, extends a shorter lock, and verifies what it stored', async () => {
    const blobs = store(s3!.newPrefix('put-sealed'));
    const until = new Date(Date.now() + 5000);
    assert.equal(await blobs.putSealed('checkpoints/00000000000000000001', A, until), 'uploaded');
    assert.equal(await blobs.putSealed('checkpoints/00000000000000000001', A, until), 'existed');
    const later = new Date(until.getTime() + 10_000);
    assert.equal(await blobs.putSealed('checkpoints/00000000000000000001', A, later), 'extended');
    const head = await blobs.objects.head(`${blobs.layout.sealed}checkpoints/00000000000000000001`);
    assert.equal(head?.lockMode, 'COMPLIANCE');
    assert.ok((head?.retainUntil ?? 0) >= later.getTime() - 1000);
    await rejectsWith(
      () => blobs.putSealed('checkpoints/00000000000000000001', B, later),
      'storage.immutable_conflict',
    );
    assert.equal((await blobs.objects.listVersions(blobs.layout.sealed)).length, 1);

    for (const how of ['head', 'get'] as const) {
      await blobs.verifySealed('checkpoints/00000000000000000001', A, later.getTime(), how);
      await rejectsWith(
        () => blobs.verifySealed('checkpoints/00000000000000000001', B, later.getTime(), how),
        'storage.corrupt',
      );
      await rejectsWith(
        () => blobs.verifySealed('checkpoints/00000000000000000001', A, later.getTime() + 60_000, how),
        'storage.object_lock_missing',
      );
      await rejectsWith(
        () => blobs.verifySealed('checkpoints/00000000000000000002', A, 0, how),
        'storage.corrupt',
      );
    }
  });

  test('mutable objects live outside the locked prefix and are never locked', async () => {
    const blobs = store(s3!.newPrefix('mutable'));
    await blobs.put('checkpoint', A);
    await blobs.put('checkpoint', B);
    await blobs.put('tile/0/000.p/5', A);
    assert.deepEqual(await blobs.listSealed(''), []);
    assert.deepEqual(await blobs.listMutable(''), ['checkpoint', 'tile/0/000.p/5']);
    const head = await blobs.objects.head(`${blobs.layout.mutable}checkpoint`);
    assert.equal(head?.lockMode, undefined);
    await blobs.delete('tile/0/000.p/5');
    assert.equal(await blobs.get('tile/0/000.p/5'), undefined);
    // Deleting what does not exist sends no DeleteObject (it would leave a delete marker behind).
    const before = s3!.sent.length;
    await blobs.delete('never/written');
    assert.equal(s3!.sent.slice(before).filter((r) => r.command === 'DeleteObjectCommand').length, 0);
  });

  test('deleteSealed: locked, then deleted after expiry with every version gone; never a refused delete', async () => {
    const blobs = store(s3!.newPrefix('purge'));
    const key = 'tile/entries/000';
    const until = new Date(Date.now() + RETAIN_MS);
    await blobs.putSealed(key, A, until);
    const before = s3!.sent.length;
    const locked = await blobs.deleteSealed(key);
    assert.equal(locked.status, 'locked');
    const at = locked.status === 'locked' ? locked.until.getTime() : 0;
    // RGW may store the date to the second; `until` is that date plus the slack.
    assert.ok(
      at >= until.getTime() - 1000 + DELETE_SLACK_MS && at <= until.getTime() + DELETE_SLACK_MS,
      `${at}`,
    );
    assert.deepEqual(
      s3!.sent.slice(before).filter((r) => r.command === 'DeleteObjectCommand'),
      [],
      'no delete is sent while locked',
    );
    assert.deepEqual(await blobs.getSealed(key), A);

    await sleep(at - Date.now() + 100);
    assert.deepEqual(await blobs.deleteSealed(key), { status: 'deleted' });
    assert.deepEqual(await blobs.objects.listVersions(blobs.layout.sealed + key), [], 'no version is left');
    assert.equal(await blobs.get(key), undefined);
    assert.deepEqual(await blobs.deleteSealed(key), { status: 'absent' });
    assert.deepEqual(await blobs.deleteSealed('tile/entries/001'), { status: 'absent' });
  });

  test('deleteSealed: a legal hold keeps an expired object (held), once released it is deleted', async () => {
    const blobs = store(s3!.newPrefix('purge-held'));
    const key = 'tile/entries/000';
    const full = blobs.layout.sealed + key;
    await blobs.putSealed(key, A, new Date(Date.now() + 1500), { legalHold: true });
    const legalHold = async () =>
      (await s3!.client.send(new GetObjectLegalHoldCommand({ Bucket: s3!.bucket, Key: full }))).LegalHold
        ?.Status;
    assert.equal(await legalHold(), 'ON', 'uploaded under a legal hold');
    await sleep(1500 + DELETE_SLACK_MS + 500);
    const before = s3!.sent.length;
    assert.deepEqual(await blobs.deleteSealed(key), { status: 'held' });
    assert.equal(s3!.sent.slice(before).filter((r) => r.command === 'DeleteObjectCommand').length, 0);
    await rejectsWith(() => blobs.delete(key, { retention: true }), 'storage.retained');
    assert.deepEqual(await blobs.getSealed(key), A);

    // putSealed with legalHold: false removes the hold of the existing object.
    assert.equal(
      await blobs.putSealed(key, A, new Date(Date.now() - 10_000), { legalHold: false }),
      'existed',
    );
    assert.equal(await legalHold(), 'OFF');
    assert.deepEqual(await blobs.deleteSealed(key), { status: 'deleted' });
    assert.deepEqual(await blobs.objects.listVersions(full), []);
  });
});
