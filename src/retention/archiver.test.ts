// The archiver end to end against a real S3 server with Object Lock (Ceph RGW in CI): a log written
// by the engine through the archived driver is copied to the bucket under COMPLIANCE locks, local
// copies are evicted only after archive.after and a verified upload, the engine keeps reading
// everything (entries, proofs, receipts, a restart's recovery) through the tiered store, the
// archive verifies from the bucket alone, and no delete of a sealed object is ever attempted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { verifyS3Archive } from '../cli/verify-s3.js';
import { hashLeaf } from '../core/merkle.js';
import { verifyReceipt } from '../core/receipt.js';
import { decodeBundle, encodeBundle, entriesPath, TILE_WIDTH } from '../core/tile.js';
import type { Engine } from '../log/engine.js';
import { checkpointHistoryKey } from '../log/log.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { verifyStorage } from '../log/verify.js';
import { rejectsWith } from '../storage/conformance-helpers.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { openTestS3, s3SkipReason, s3TestOptions, type TestS3 } from '../storage/s3/test-env.js';
import { registerArchiveMetrics } from './archive-metrics.js';
import { openArchivedDriver } from './archived-driver.js';
import { type ArchiveEvent, Archiver, edgeKeys, readRunPolicy } from './archiver.js';
import { RetentionError } from './errors.js';
import {
  applyPolicyUpdate,
  policyLock,
  readLogPolicy,
  updateLogPolicy,
  withLegalHold,
} from './log-policy.js';
import { retainUntilFor } from './policy.js';
import { encodePruneState, PRUNE_STATE_KEY } from './prune-state.js';
import { pruneLog } from './pruner.js';
import { sealedCoverage } from './sealed-objects.js';

const RETENTION_MS = 2000;
const AFTER_MS = 60_000;

let s3: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() === undefined) s3 = await openTestS3({ hint: 'archiver' });
});
after(() => s3?.client.destroy());

/** Real time plus an offset the test moves forward (S3 needs retain-until dates in its future). */
const clock = { offset: 0, now: () => Date.now() + clock.offset };

async function openAll(
  dir: string,
  prefix: string,
  events: ArchiveEvent[] = [],
  opts: { afterMs?: number; concurrency?: number } = {},
) {
  const local = await createLocalDriver({ root: dir });
  const driver = await openArchivedDriver({
    local,
    s3: { ...s3!.connection, bucket: s3!.bucket, prefix },
    client: s3!.client,
    policy: { minMs: RETENTION_MS, afterMs: opts.afterMs ?? AFTER_MS },
    clock,
    concurrency: opts.concurrency ?? 4,
    onEvent: (_log, e) => events.push(e),
  });
  const engine = await openTestEngine(driver);
  return { driver, engine, local };
}

async function appendBatches(engine: Engine, batches: number[], log = 'acme'): Promise<void> {
  let n = 0;
  for (const size of batches) {
    await engine.append(
      log,
      Array.from({ length: size }, () => sampleEvent(n++, 300)),
    );
    await engine.log(log).integrate();
  }
}

/** `received_at` (ms) of entry `index` of a log. */
async function receivedAt(engine: Engine, log: string, index: number): Promise<number> {
  const [record] = await engine.log(log).readRecords(index, index + 1);
  return Date.parse(JSON.parse(new TextDecoder().decode(record)).received_at);
}

describe('archiver', s3TestOptions(), () => {
  test('archives under COMPLIANCE, evicts after archive.after, reads transparently, verifies from S3', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('archiver');
    clock.offset = 0;
    const events: ArchiveEvent[] = [];
    let { driver, engine, local } = await openAll(dir, prefix, events);
    await engine.createLog('acme');
    // 5 full bundles and a partial one, over 14 checkpoints of uneven sizes.
    await appendBatches(engine, [1, 100, 155, 256, 300, 7, 200, 193, 1, 1, 20, 37, 2, 14]);
    const log = engine.log('acme');
    const size = log.treeSize;
    assert.equal(size, 1287);
    const records = await log.readRecords(0, size);
    const { verifierKey, origin } = engine.info('acme');

    // Archive run: nothing is old enough to evict yet.
    const [first] = await driver.runOnce();
    assert.equal(first?.error, undefined);
    assert.equal(first?.archive?.archivedSize, size);
    assert.equal(first?.evict?.evictedSize, 0);
    const archive = s3!.archiveOf(prefix, 'acme');
    const sealed = await archive.listSealed('');
    for (const b of [0, 1, 2, 3, 4]) {
      assert.ok(
        sealed.includes(entriesPath(b)) && sealed.includes(`tile/0/00${b}`),
        `bundle ${b} and its tile`,
      );
    }
    assert.ok(sealed.includes(checkpointHistoryKey(size)) && sealed.includes(checkpointHistoryKey(1)));
    assert.equal(sealed.filter((k) => k.startsWith('checkpoints/')).length, 14);
    assert.deepEqual(await archive.listMutable(''), ['checkpoint', ...edgeKeys(size)].sort());

    // Every sealed object: one version, COMPLIANCE until at least its newest entry + retention.min.
    const versions = await archive.objects.listVersions(archive.layout.sealed);
    assert.equal(versions.length, sealed.length, 'no sealed object has a second version');
    for (const key of sealed) {
      const head = await archive.objects.head(archive.layout.sealed + key);
      const coverage = sealedCoverage(key)!;
      const newest = Date.parse(JSON.parse(new TextDecoder().decode(records[coverage - 1]!)).received_at);
      assert.equal(head?.lockMode, 'COMPLIANCE', key);
      assert.ok((head?.retainUntil ?? 0) >= newest + RETENTION_MS, `${key} is locked long enough`);
    }

    // archive.after passes: full bundles, their tiles and the history up to 1280 are evicted locally.
    clock.offset = AFTER_MS + 1000;
    const [second] = await driver.runOnce();
    assert.equal(second?.evict?.evictedSize, 1280);
    const localBlobs = local.log('acme').blobs;
    assert.equal(await localBlobs.get(entriesPath(0)), undefined, 'bundle 0 left the local disk');
    assert.equal(await localBlobs.get(checkpointHistoryKey(1)), undefined);
    assert.notEqual(await localBlobs.get(entriesPath(5, size - 5 * TILE_WIDTH)), undefined, 'partials stay');
    assert.ok(events.some((e) => e.kind === 'evicted' && e.key === 'tile/0/003'));

    // Transparent reads: records, proofs and receipts from evicted bundles and tiles.
    assert.deepEqual(await log.readRecords(0, size), records);
    const receipt = await log.receipt(3);
    verifyReceipt(receipt, log.verifier, hashLeaf(records[3]!), origin);
    await log.inclusionProof(700, size);
    assert.equal((await verifyStorage(driver))[0]?.treeSize, size, 'local + archive verify together');

    // A restart recovers from evicted tiles and republishes an evicted checkpoint without conflict.
    await engine.close();
    ({ driver, engine, local } = await openAll(dir, prefix, events));
    assert.equal(engine.log('acme').treeSize, size);
    assert.deepEqual(await engine.log('acme').readRecords(0, size), records);
    await appendBatches(engine, [300]);
    const [third] = await driver.runOnce();
    assert.equal(third?.archive?.archivedSize, size + 300);
    await appendBatches(engine, [50]);
    const [fourth] = await driver.runOnce();
    assert.equal(fourth?.archive?.archivedSize, size + 350);
    const partials = (sizes: number[]) =>
      [...new Set(sizes.flatMap(edgeKeys))].filter((k) => k.startsWith('tile/')).sort();
    assert.deepEqual(
      (await archive.listMutable('tile/')).filter((k) => k.includes('.p/')),
      partials([size + 300, size + 350]),
      'partials of older sizes are deleted, those of the previous size kept one more round',
    );

    // From the bucket alone, with the verifier key.
    const report = await verifyS3Archive({
      url: `s3://${s3!.bucket}/${prefix}`,
      log: 'acme',
      verifierKey,
      connection: s3!.connection,
      client: s3!.client,
    });
    assert.equal(report.treeSize, size + 350);
    assert.equal(report.checkpoints, 16);
    assert.ok(report.lockedObjects > 20);

    // The service never attempted to delete a sealed object or any object version.
    const deletes = s3!.sent.filter((r) => r.command === 'DeleteObjectCommand');
    assert.ok(deletes.length > 0, 'superseded partials were deleted');
    for (const d of deletes) {
      assert.equal(d.input.VersionId, undefined);
      assert.ok(String(d.input.Key).startsWith(`${prefix}/mutable/`), `${String(d.input.Key)} is mutable`);
    }
    await engine.close();
  });

  test('a bucket without Object Lock is refused at start', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const plain = await openTestS3({ lock: false, hint: 'nolock' });
    t.after(() => plain.client.destroy());
    const local = await createLocalDriver({ root: dir });
    t.after(() => local.close());
    await rejectsWith(
      () =>
        openArchivedDriver({
          local,
          s3: { ...plain.connection, bucket: plain.bucket },
          client: plain.client,
          policy: { minMs: RETENTION_MS, afterMs: AFTER_MS },
        }),
      'storage.object_lock_missing',
    );
    await rejectsWith(
      () =>
        openArchivedDriver({
          local,
          s3: { ...plain.connection, bucket: `${plain.bucket}-missing` },
          client: plain.client,
          policy: { minMs: RETENTION_MS, afterMs: AFTER_MS },
        }),
      'storage.io',
    );
  });

  test('after eviction, archiving to another bucket or prefix is refused', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('moved');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix);
    await engine.createLog('acme');
    await appendBatches(engine, [600]);
    clock.offset = AFTER_MS + 1000;
    const [run] = await driver.runOnce();
    assert.equal(run?.evict?.evictedSize, 512);
    const moved = s3!.archiveOf(`${prefix}-elsewhere`, 'acme');
    await assert.rejects(
      Archiver.open({
        log: 'acme',
        local: local.log('acme').blobs,
        state: local.log('acme').state,
        archive: moved,
        policy: { minMs: RETENTION_MS, afterMs: 0 },
      }),
      (err) => err instanceof RetentionError && err.code === 'retention.archive_moved',
    );
    await engine.close();
  });

  test('an object that does not match the signed tree is never archived; the run goes on once it is restored', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('damaged');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix);
    const blobsOf = (log: string) => local.log(log).blobs;
    t.after(() => engine.close());
    // One log per kind of damage, 600 entries each over two checkpoints (300 and 600).
    interface Damage {
      object: string;
      /** What the error names, when not the object (damage at the edge fails the signed root). */
      named?: string;
      reason: RegExp;
      damaged: (bytes: Uint8Array) => Uint8Array;
    }
    const damage: Record<string, Damage> = {
      // A record of bundle 1 back-dated on disk (it would also have dated its lock and eviction).
      backdated: {
        object: entriesPath(1),
        reason: /holds a record at index 263 that is not the logged one/,
        damaged: (bytes) => {
          const records = decodeBundle(bytes);
          const text = new TextDecoder().decode(records[7]);
          const earlier = text.replace(/"received_at":"[^"]+"/, '"received_at":"2001-01-01T00:00:00Z"');
          assert.notEqual(earlier, text);
          records[7] = new TextEncoder().encode(earlier);
          return encodeBundle(records);
        },
      },
      // A hash tile with one bit flipped.
      flipped: {
        object: 'tile/0/001',
        reason: /does not match entry 1 of its parent/,
        damaged: (bytes) => bytes.map((b, i) => (i === 40 ? b ^ 1 : b)),
      },
      // The partial level-0 tile at the edge: the tree no longer makes the signed root.
      edge: {
        object: 'tile/0/002.p/88',
        named: 'checkpoint',
        reason: /stored tiles do not reproduce the root of the last signed checkpoint \(size 600\)/,
        damaged: (bytes) => bytes.map((b, i) => (i === 0 ? b ^ 1 : b)),
      },
      // A history checkpoint swapped for another one the log signed (of size 600).
      swapped: {
        object: checkpointHistoryKey(300),
        reason: /is a checkpoint of size 600/,
        damaged: () => new Uint8Array(0), // replaced below
      },
    };
    const originals = new Map<string, Uint8Array>();
    for (const [log, d] of Object.entries(damage)) {
      await engine.createLog(log);
      await appendBatches(engine, [300, 300], log);
      const blobs = blobsOf(log);
      const bytes = (await blobs.get(d.object))!;
      originals.set(log, bytes);
      const damaged = log === 'swapped' ? (await blobs.get(checkpointHistoryKey(600)))! : d.damaged(bytes);
      await blobs.delete(d.object, { retention: true });
      await blobs.put(d.object, damaged);
    }

    const failed: Array<[string, unknown]> = [];
    driver.observeFailures((log, err) => failed.push([log, err]));
    const registry = new Registry();
    registerArchiveMetrics(registry, driver, clock.now);
    const metric = async (name: string, labels: string) =>
      (await registry.getSingleMetricAsString(name))
        .split('\n')
        .find((line) => line.startsWith(`${name}{${labels}}`))
        ?.split(' ')[1];
    const results = await driver.runOnce();
    // The server's monitor hears of each (serve.ts: a verification_failure alert per log).
    assert.deepEqual(failed.map(([log]) => log).sort(), Object.keys(damage).sort());
    for (const [log, d] of Object.entries(damage)) {
      const run = results.find((r) => r.log === log);
      assert.ok(run?.error instanceof RetentionError, `${log}: the run fails`);
      assert.equal(run.error.code, 'retention.bad_local_object');
      const named = d.named ?? d.object;
      assert.ok(run.error.message.includes(named), `${log}: ${run.error.message} names ${named}`);
      assert.match(run.error.message, d.reason);
      const archive = s3!.archiveOf(prefix, log);
      assert.ok(!(await archive.listSealed('')).includes(d.object), `${log}: ${d.object} is not archived`);
      assert.ok(!(await archive.listMutable('')).includes(d.object), `${log}: ${d.object} is not archived`);
      assert.ok(
        !(await archive.listMutable('')).includes('checkpoint'),
        `${log}: no checkpoint was published`,
      );
    }

    // Metrics show the failing archive: a failed run, no success yet, failing since this run.
    assert.equal(await metric('indelible_archive_runs_total', 'log="backdated",result="failure"'), '1');
    assert.equal(await metric('indelible_archive_runs_total', 'log="backdated",result="success"'), '0');
    assert.equal(
      await metric('indelible_archive_last_success_timestamp_seconds', 'log="backdated"'),
      undefined,
    );
    clock.offset += 5000;
    assert.ok(Number(await metric('indelible_archive_failing_seconds', 'log="backdated"')) >= 5);
    assert.ok(Number(await metric('indelible_archive_seconds_since_success', 'log="backdated"')) >= 5);

    // Restored: each log archives everything, and its archive verifies from the bucket alone.
    const restoredAt = clock.now();
    for (const [log, d] of Object.entries(damage)) {
      await blobsOf(log).delete(d.object, { retention: true });
      await blobsOf(log).put(d.object, originals.get(log)!);
    }
    for (const run of await driver.runOnce()) {
      if (!(run.log in damage)) continue;
      assert.equal(run.error, undefined, run.log);
      assert.equal(run.archive?.archivedSize, 600);
      const report = await verifyS3Archive({
        url: `s3://${s3!.bucket}/${prefix}`,
        log: run.log,
        verifierKey: engine.info(run.log).verifierKey,
        connection: s3!.connection,
        client: s3!.client,
      });
      assert.equal(report.treeSize, 600, run.log);
    }
    assert.equal(await metric('indelible_archive_runs_total', 'log="backdated",result="success"'), '1');
    assert.equal(await metric('indelible_archive_failing_seconds', 'log="backdated"'), '0');
    // The success came during the runs above (their verification may take seconds on a busy machine).
    const sinceSuccess = Number(await metric('indelible_archive_seconds_since_success', 'log="backdated"'));
    assert.ok(sinceSuccess <= (clock.now() - restoredAt) / 1000 + 1, `${sinceSuccess} s since the success`);
    assert.equal(await metric('indelible_archive_archived_entries', 'log="backdated"'), '600');
    const last = Number(await metric('indelible_archive_last_success_timestamp_seconds', 'log="backdated"'));
    assert.ok(Math.abs(last * 1000 - clock.now()) < 60_000);
  });

  test('each log archives and evicts with its own policy; logs without one use the server defaults', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('per-log');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix);
    t.after(() => engine.close());
    const policies: Record<string, object | undefined> = {
      long: { retention: { min: '40s' }, archive: { after: 'never' } },
      short: { retention: { min: '5s' }, archive: { after: 0 } },
      plain: undefined, // server defaults: RETENTION_MS, AFTER_MS
    };
    for (const [log, update] of Object.entries(policies)) {
      await engine.createLog(log);
      if (update) {
        await updateLogPolicy(engine.stateOf(log), (p) => applyPolicyUpdate(p, update, 'test', 'now'));
      }
      await appendBatches(engine, [300], log);
    }
    // The API's view of a log without a stored policy is the server defaults.
    const { policy: plain } = await readLogPolicy(engine.stateOf('plain'));
    assert.deepEqual(
      [plain.retentionMinMs, plain.archiveAfterMs, plain.updatedAt],
      [RETENTION_MS, AFTER_MS, null],
    );

    const started = clock.now();
    const runs = await driver.runOnce();
    const finished = clock.now();
    assert.deepEqual(
      runs.map((r) => [r.log, r.error, r.archive?.archivedSize, r.evict?.evictedSize]),
      [
        ['long', undefined, 300, 0],
        ['plain', undefined, 300, 0],
        ['short', undefined, 300, 256],
      ],
      'only the log with archive.after 0 evicted at once',
    );
    const minMs = { long: 40_000, short: 5000, plain: RETENTION_MS };
    for (const [log, min] of Object.entries(minMs)) {
      const archive = s3!.archiveOf(prefix, log);
      const newest = await receivedAt(engine, log, 255);
      const head = await archive.objects.head(`${archive.layout.sealed}${entriesPath(0)}`);
      const until = head?.retainUntil ?? 0;
      // max(upload time, newest entry) + the log's retention.min (RGW may keep whole seconds).
      assert.ok(until >= Math.max(started, newest) + min - 1000, `${log}: locked for its retention.min`);
      assert.ok(until <= finished + min, `${log}: not longer than its retention.min`);
    }
    assert.equal(await local.log('short').blobs.get(entriesPath(0)), undefined, 'short: evicted');
    assert.notEqual(await local.log('plain').blobs.get(entriesPath(0)), undefined, 'plain: kept');

    // Past the default archive.after: the log on defaults evicts too, the one with `never` does not.
    // Its retention.min was raised meanwhile: the lock is extended before the local copy goes.
    await updateLogPolicy(engine.stateOf('plain'), (p) =>
      applyPolicyUpdate(p, { retention: { min: '20s' } }, 'test', 'now'),
    );
    clock.offset = AFTER_MS + 1000;
    const later = await driver.runOnce();
    assert.deepEqual(
      later.map((r) => [r.log, r.evict?.evictedSize]),
      [
        ['long', 0],
        ['plain', 256],
        ['short', 256],
      ],
    );
    assert.notEqual(await local.log('long').blobs.get(entriesPath(0)), undefined, 'long: never evicted');
    const plainArchive = s3!.archiveOf(prefix, 'plain');
    const extended = await plainArchive.objects.head(`${plainArchive.layout.sealed}${entriesPath(0)}`);
    assert.ok(
      (extended?.retainUntil ?? 0) >= (await receivedAt(engine, 'plain', 255)) + 20_000 - 1000,
      'plain: lock extended to the raised retention.min before eviction',
    );
  });

  test('a legal hold set while an eviction runs stops it before the next local deletion', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('hold-mid-evict');
    clock.offset = 0;
    let engine: Engine | undefined;
    let holds = 0;
    const local = await createLocalDriver({ root: dir });
    const driver = await openArchivedDriver({
      local,
      s3: { ...s3!.connection, bucket: s3!.bucket, prefix },
      client: s3!.client,
      policy: { minMs: RETENTION_MS, afterMs: 0 },
      clock,
      concurrency: 1,
      onEvent: (_log, e) => {
        // The first local deletion: an inquiry starts.
        if (e.kind === 'evicted' && holds++ === 0) {
          void updateLogPolicy(engine!.stateOf('acme'), (p) => withLegalHold(p, 'inquiry', 'test', 'now'));
        }
      },
    });
    engine = await openTestEngine(driver);
    t.after(() => engine!.close());
    await engine.createLog('acme');
    await appendBatches(engine, [300, 300]);
    const [run] = await driver.runOnce();
    assert.equal(run!.error, undefined);
    // The watermark had moved (readers look in S3 on a miss), but deletions stopped at the hold:
    // most local copies of the evicted range are still there.
    assert.equal(run!.evict?.evictedSize, 512);
    const kept = (await local.log('acme').blobs.list('tile/')).filter((k) => sealedCoverage(k) !== undefined);
    assert.ok(run!.evict!.evicted <= 2, `evicted ${run!.evict!.evicted} after the hold`);
    assert.ok(kept.length > 0, 'local copies kept while held');
    // And no later run deletes anything while the hold stands.
    const [again] = await driver.runOnce();
    assert.equal(again!.evict?.evicted, 0);
  });

  test('a legal hold answered while an eviction deletes: that deletion finishes first, none follows', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('hold-in-flight');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix, [], { afterMs: 0, concurrency: 1 });
    t.after(() => engine.close());
    await engine.createLog('acme');
    await appendBatches(engine, [300, 300]);
    // The first local deletion meets an admin setting a hold, through the lock every policy
    // change takes (routes-policy.ts).
    const blobs = local.log('acme').blobs;
    const deleteLocal = blobs.delete.bind(blobs);
    let hold: Promise<unknown> | undefined;
    let holdAnswered = false;
    const afterAnswer: string[] = [];
    blobs.delete = async (key, options) => {
      hold ??= policyLock
        .run('acme', () =>
          updateLogPolicy(engine.stateOf('acme'), (p) => withLegalHold(p, 'inquiry', 'test', 'now')),
        )
        .then(() => {
          holdAnswered = true;
        });
      await Promise.race([hold, new Promise((r) => setTimeout(r, 200))]);
      await deleteLocal(key, options);
      if (holdAnswered) afterAnswer.push(key);
    };
    const [run] = await driver.runOnce();
    await hold;
    assert.equal(run!.error, undefined);
    assert.deepEqual(afterAnswer, [], 'no local copy was deleted after the hold was answered');
    assert.equal(run!.evict!.evicted, 1, 'the deletion in flight finished, the next one saw the hold');
  });

  test('bundles pruned while an archive run is under way are skipped, not reported as damaged', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('pruned-mid-run');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix);
    t.after(() => engine.close());
    await engine.createLog('acme');
    await appendBatches(engine, [600, 300]);
    await updateLogPolicy(engine.stateOf('acme'), (p) =>
      applyPolicyUpdate(p, { retention: { min: '1s', max: '1s' } }, 'test', new Date().toISOString()),
    );
    // The run has read the minimum index (0) when it asks for its first bundle; the retention
    // service prunes bundles 0..2 (M = 768) just then, deleting their local copies.
    const blobs = local.log('acme').blobs;
    const get = blobs.get.bind(blobs);
    let pruning: Promise<unknown> | undefined;
    blobs.get = async (key) => {
      if (key === entriesPath(0) && pruning === undefined) {
        pruning = pruneLog({ engine, log: 'acme', clock: { now: () => Date.now() + 10_000 } });
        assert.equal(((await pruning) as { minimumIndex: number }).minimumIndex, 768);
      }
      return get(key);
    };
    const [run] = await driver.runOnce();
    assert.ok(pruning !== undefined);
    assert.equal(run?.error, undefined, `${(run?.error as Error | undefined)?.message}`);
    assert.equal(run?.archive?.archivedSize, 900);
    // Bundle 0 is gone everywhere (those read before it was pruned may have been uploaded: harmless).
    const sealed = await s3!.archiveOf(prefix, 'acme').listSealed('tile/entries/');
    assert.ok(!sealed.includes(entriesPath(0)), 'the bundle pruned before its upload is skipped');
  });

  test('entry bundles below the minimum index are neither uploaded nor needed; hash tiles still are', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const prefix = s3!.newPrefix('pruned');
    clock.offset = 0;
    const { driver, engine, local } = await openAll(dir, prefix);
    t.after(() => engine.close());
    await engine.createLog('acme');
    await appendBatches(engine, [100, 500, 300]);
    // As pruning leaves it: minimum index 512, bundles 0 and 1 gone locally (never archived).
    const state = local.log('acme').state;
    const prune = { minimumIndex: 512, statementIndex: 899, prunedAt: new Date().toISOString() };
    await state.compareAndSwap(PRUNE_STATE_KEY, undefined, encodePruneState(prune));
    const blobs = local.log('acme').blobs;
    await blobs.delete(entriesPath(0), { retention: true });
    await blobs.delete(entriesPath(1), { retention: true });

    const [run] = await driver.runOnce();
    assert.equal(run?.error, undefined);
    assert.equal(run?.archive?.archivedSize, 900);
    const archive = s3!.archiveOf(prefix, 'acme');
    const sealed = await archive.listSealed('');
    assert.deepEqual(
      sealed.filter((k) => k.startsWith('tile/entries/')),
      [entriesPath(2)],
      'pruned bundles 0 and 1 are not uploaded',
    );
    for (const k of ['tile/0/000', 'tile/0/001', 'tile/0/002'])
      assert.ok(sealed.includes(k), `${k} archived`);
    assert.ok(sealed.includes(checkpointHistoryKey(100)), 'a checkpoint inside the pruned range is archived');

    // Eviction passes over the pruned range too.
    clock.offset = AFTER_MS + 1000;
    const [evict] = await driver.runOnce();
    assert.equal(evict?.error, undefined);
    assert.equal(evict?.evict?.evictedSize, 768);
    assert.equal(await blobs.get('tile/0/000'), undefined, 'the hash tile of a pruned bundle is evicted');
    assert.equal(await blobs.get(entriesPath(2)), undefined);
  });
});

test("a run's policy carries the floors of a lowered retention.min, so old entries keep their lock", async () => {
  const state = createMemoryDriver().log('acme').state;
  const at = (ms: number) => new Date(ms).toISOString();
  await updateLogPolicy(state, (p) => applyPolicyUpdate(p, { retention: { min: '1h' } }, 'test', at(1000)));
  await updateLogPolicy(state, (p) => applyPolicyUpdate(p, { retention: { min: '1s' } }, 'test', at(5000)));
  const policy = await readRunPolicy(state, { minMs: 86_400_000, afterMs: 0 });
  assert.equal(policy.minMs, 1000);
  // The default 365 days lowered at 1 s, then 1 h lowered at 5 s.
  assert.deepEqual(policy.minFloors, [
    { minMs: 365 * 86_400_000, before: at(1000) },
    { minMs: 3_600_000, before: at(5000) },
  ]);
  // Entries received from 2 s to 3 s, archived at 10 s: locked for the hour (received before 5 s),
  // not the second, and not the year (none received before 1 s).
  assert.equal(retainUntilFor(policy, 10_000, 3000, 2000).getTime(), 3000 + 3_600_000);
  // Entries from 6 s on: the current second.
  assert.equal(retainUntilFor(policy, 10_000, 9000, 6000).getTime(), 11_000);
});
