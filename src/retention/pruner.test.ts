// Retention pruning (issue 7): with durations of seconds on an injected clock, pruning happens when
// retention.max allows, never under legal hold or before it; proofs and `verify` keep passing after,
// and verify accepts the missing prefix only under the log's own valid prune statement.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initDataDir, type OpenedDataDir, openDataDir } from '../app/data-dir.js';
import { openCheckpoint } from '../core/checkpoint.js';
import { hashLeaf } from '../core/merkle.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyConsistency, verifyInclusion } from '../core/proof.js';
import { openPruneStatement } from '../core/prune-statement.js';
import { sampleEvent } from '../log/test-helpers.js';
import { verifyStorage } from '../log/verify.js';
import { findChattr } from '../storage/local/immutable-flag.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import {
  applyPolicyUpdate,
  policyLock,
  readLogPolicy,
  updateLogPolicy,
  withLegalHold,
  withoutLegalHold,
} from './log-policy.js';
import { PRUNE_STATE_KEY, readPruneState } from './prune-state.js';
import { type PruneDecision, pruneLog } from './pruner.js';
import { RetentionService } from './retention-service.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const dirs: string[] = [];
after(() => {
  const chattr = spawnSync('which', ['chattr']).stdout?.toString().trim();
  for (const d of dirs) {
    if (chattr) spawnSync(chattr, ['-R', '-i', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

/** A new initialised data directory (removed after the tests) and a clock the test moves. */
async function freshDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-prune-'));
  dirs.push(dir);
  const clock = {
    t: T0,
    now() {
      return this.t;
    },
  };
  await initDataDir(dir, { clock });
  return { dir, clock };
}

/** A data dir with log `acme`: entries 0..599 received at T0, 600..899 at T0 + 10 s, all integrated. */
async function setup(options: { immutableFlag?: boolean } = {}) {
  const { dir, clock } = await freshDataDir();
  const dd = await openDataDir(dir, { clock, ...options });
  await dd.engine.createLog('acme');
  await dd.engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => sampleEvent(i, 200)),
  );
  const early = await dd.engine.log('acme').integrate();
  clock.t = T0 + 10_000;
  await dd.engine.append(
    'acme',
    Array.from({ length: 300 }, (_, i) => sampleEvent(600 + i, 200)),
  );
  await dd.engine.log('acme').integrate();
  return { dir, dd, clock, early };
}

async function setPolicy(dd: OpenedDataDir, update: unknown) {
  await updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
    applyPolicyUpdate(p, update, 'test', new Date(T0).toISOString()),
  );
}

test('prunes whole expired bundles, keeps proofs and verify passing, and survives a restart', async () => {
  const { dir, dd, clock, early } = await setup();
  const audited: PruneDecision[] = [];
  const run = () => pruneLog({ engine: dd.engine, log: 'acme', clock, audit: (_l, d) => audited.push(d) });
  const blobs = dd.engine.blobsOf('acme');
  try {
    // No retention.max: nothing is ever due.
    assert.equal((await run()).status, 'no_max');
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    // T0 + 10 s: entries of T0 are 10 s old, but a bundle also holding T0 + 10 s entries is not.
    clock.t = T0 + 4_000;
    assert.equal((await run()).status, 'nothing_due', 'nothing is older than retention.max yet');

    clock.t = T0 + 12_000;
    const sizeBefore = dd.engine.log('acme').treeSize;
    const report = await run();
    assert.equal(report.status, 'pruned');
    // Entries 0..599 are due; bundle 2 (512..767) holds entries of T0 + 10 s: M stops at 512.
    assert.equal(report.minimumIndex, 512);
    assert.equal(report.deletedLocal, 2);
    assert.equal(audited.length, 1);
    const d = report.decision!;
    assert.equal(d.statementIndex, 900, 'the statement is the next record of the log itself');
    assert.equal(d.treeSize, sizeBefore);

    // The statement verifies with the log's public key alone and names the decision.
    const info = dd.engine.info('acme');
    const vkey = parseVerifierKey(info.verifierKey);
    const st = openPruneStatement(d.statement, vkey, info.origin);
    assert.equal(st.minimumIndex, 512);
    assert.equal(st.receivedBefore, new Date(T0 + 12_000 - 5_000).toISOString());
    const stmtRecord = JSON.parse(Buffer.from(await dd.engine.log('acme').readRecord(900)).toString());
    assert.equal(stmtRecord.event.action, 'indelible.retention.prune');
    assert.equal(stmtRecord.event.metadata.statement, d.statement);

    // Bundles below M are gone, hash tiles stay; reads below M are refused, at or above M work.
    assert.equal(await blobs.get('tile/entries/000'), undefined);
    assert.equal(await blobs.get('tile/entries/001'), undefined);
    assert.notEqual(await blobs.get('tile/entries/002'), undefined);
    assert.notEqual(await blobs.get('tile/0/000'), undefined);
    const log = dd.engine.log('acme');
    await assert.rejects(log.readRecord(511), code('log.pruned'));
    await assert.rejects(
      log.readTileBytes({ kind: 'entries', level: 0, index: 1, width: 256 }),
      code('log.pruned'),
    );
    assert.equal(JSON.parse(Buffer.from(await log.readRecord(512)).toString()).index, 512);

    // Proofs: inclusion of a remaining entry, and consistency from a tree older than the prune.
    const cp = openCheckpoint(log.latestCheckpoint().note, vkey, info.origin);
    const leaf = hashLeaf(await log.readRecord(700));
    verifyInclusion(700, cp.size, leaf, await log.inclusionProof(700, cp.size), cp.rootHash);
    const old = openCheckpoint(early.note, vkey, info.origin);
    verifyConsistency(
      old.size,
      cp.size,
      await log.consistencyProof(old.size, cp.size),
      old.rootHash,
      cp.rootHash,
    );

    // The search index forgot the pruned entries.
    const q = await dd.engine.index.query('acme', { limit: 1000 });
    assert.equal(q.events[0]?.index, 512);

    // A legal hold blocks everything: neither a new decision nor deletion.
    clock.t = T0 + 60_000;
    await updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
      withLegalHold(p, 'inquiry', 'test', new Date(clock.t).toISOString()),
    );
    const held = await run();
    assert.equal(held.status, 'held');
    assert.equal(held.minimumIndex, 512);
    assert.notEqual(await blobs.get('tile/entries/002'), undefined);
    await updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
      withoutLegalHold(p, 'test', new Date(clock.t).toISOString()),
    );
  } finally {
    await dd.close();
  }

  // Offline verification accepts the pruned prefix (statement valid), and the restart keeps M.
  const driver = await createLocalDriver({ root: dir });
  try {
    const reports = await verifyStorage(driver);
    assert.equal(reports.find((r) => r.log === 'acme')?.treeSize, 901);
  } finally {
    await driver.close();
  }
  const again = await openDataDir(dir, { clock });
  try {
    assert.equal(again.engine.log('acme').minimumIndex, 512);
    await assert.rejects(again.engine.log('acme').readRecord(0), code('log.pruned'));
    assert.equal(await again.engine.reindex('acme'), 901);
    assert.equal(await again.engine.checkIndex('acme'), undefined);
    // After the hold is released, the rest becomes due: everything before the statement's bundle.
    const later = await pruneLog({ engine: again.engine, log: 'acme', clock });
    assert.equal(later.status, 'pruned');
    assert.equal(later.minimumIndex, 768);
  } finally {
    await again.close();
  }
});

test('verify refuses a pruned prefix without a valid statement, and missing bundles above it', async () => {
  const { dir, dd, clock } = await setup();
  try {
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    clock.t = T0 + 12_000;
    assert.equal((await pruneLog({ engine: dd.engine, log: 'acme', clock })).minimumIndex, 512);
  } finally {
    await dd.close();
  }
  const verifyDir = async () => {
    const driver = await createLocalDriver({ root: dir });
    try {
      return await verifyStorage(driver);
    } finally {
      await driver.close();
    }
  };
  const driver = await createLocalDriver({ root: dir });
  const { prune } = await readPruneState(driver.log('acme').state);
  await driver.close();
  assert.equal(prune?.minimumIndex, 512);

  // A prune state that claims more than the statement says.
  const stateStore = async (value: object | undefined) => {
    const dd2 = await createLocalDriver({ root: dir });
    try {
      const state = dd2.log('acme').state;
      const cur = await state.read(PRUNE_STATE_KEY);
      if (value)
        await state.compareAndSwap(PRUNE_STATE_KEY, cur?.version, Buffer.from(JSON.stringify(value)));
    } finally {
      await dd2.close();
    }
  };
  await stateStore({ ...prune, minimumIndex: 768 });
  await assert.rejects(verifyDir(), code('verify.bad_prune_statement'));
  // Naming a record that is not a prune statement.
  await stateStore({ ...prune, statementIndex: 899 });
  await assert.rejects(verifyDir(), code('verify.bad_prune_statement'));
  await stateStore(prune!);
  await verifyDir();
  // A bundle at or above the minimum index is still required.
  rmSync(join(dir, 'logs', 'acme', 'tile', 'entries', '002'), { force: true });
  await assert.rejects(verifyDir(), code('verify.missing_object'));
});

const chattr = await findChattr();
const flagSkip =
  process.getuid?.() !== 0
    ? 'needs root (CAP_LINUX_IMMUTABLE) to set the immutable flag'
    : chattr === undefined
      ? 'chattr is not installed'
      : false;

test('pruning removes the immutable flag of the bundles it deletes', { skip: flagSkip }, async () => {
  const { dir, dd, clock } = await setup({ immutableFlag: true });
  try {
    const path = join(dir, 'logs', 'acme', 'tile', 'entries', '000');
    assert.match(spawnSync('lsattr', ['-d', path]).stdout.toString(), /^\S*i/);
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    clock.t = T0 + 12_000;
    const report = await pruneLog({ engine: dd.engine, log: 'acme', clock });
    assert.equal(report.deletedLocal, 2);
    assert.equal(existsSync(path), false);
    assert.match(
      spawnSync('lsattr', ['-d', join(dir, 'logs', 'acme', 'tile', '0', '000')]).stdout.toString(),
      /^\S*i/,
    );
  } finally {
    await dd.close();
  }
});

test('a lowered retention.min binds only entries received after the change', async () => {
  const { dd, clock } = await setup();
  try {
    // The log ran on the default 365 days until now (T0 + 20 s): its entries keep them.
    clock.t = T0 + 20_000;
    await updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
      applyPolicyUpdate(p, { retention: { min: '1s', max: '5s' } }, 'test', new Date(clock.t).toISOString()),
    );
    clock.t = T0 + 60_000;
    assert.equal((await pruneLog({ engine: dd.engine, log: 'acme', clock })).status, 'nothing_due');
    // Once the old retention.min has passed for them, they go.
    clock.t = T0 + 366 * 86_400_000;
    assert.equal((await pruneLog({ engine: dd.engine, log: 'acme', clock })).minimumIndex, 768);
  } finally {
    await dd.close();
  }
});

/**
 * Runs `meanwhile` while a prune run waits for the checkpoint covering its statement (after its
 * decision, before its commit); returns the restore of the log's own `checkpointCovering`.
 */
function whileDeciding(dd: OpenedDataDir, meanwhile: () => Promise<unknown>): () => void {
  const log = dd.engine.log('acme');
  const covering = log.checkpointCovering.bind(log);
  log.checkpointCovering = async (size: number) => {
    await meanwhile();
    return covering(size);
  };
  return () => {
    log.checkpointCovering = covering;
  };
}

test('a legal hold set while a run is in progress stops it before anything is deleted', async () => {
  const { dd, clock } = await setup();
  try {
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    clock.t = T0 + 12_000;
    // The hold arrives while the run waits for the checkpoint covering its statement.
    whileDeciding(dd, () =>
      updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
        withLegalHold(p, 'inquiry', 'test', new Date(clock.t).toISOString()),
      ),
    );
    const report = await pruneLog({ engine: dd.engine, log: 'acme', clock });
    assert.equal(report.status, 'held');
    assert.equal(report.minimumIndex, 0);
    assert.notEqual(await dd.engine.blobsOf('acme').get('tile/entries/000'), undefined);
    assert.equal((await readPruneState(dd.engine.stateOf('acme'))).prune, null);
  } finally {
    await dd.close();
  }
});

test('a legal hold set between the last policy check and the commit waits for the commit (policy lock)', async () => {
  const { dd, clock } = await setup();
  try {
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    clock.t = T0 + 12_000;
    let holdSet: Promise<unknown> | undefined;
    let heldBeforeCommit: boolean | undefined;
    const report = await pruneLog({
      engine: dd.engine,
      log: 'acme',
      clock,
      beforeCommit: async () => {
        // An admin sets a hold now, through the lock every policy change takes.
        holdSet = policyLock.run('acme', () =>
          updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
            withLegalHold(p, 'inquiry', 'test', new Date(clock.t).toISOString()),
          ),
        );
        await new Promise((r) => setTimeout(r, 50));
        heldBeforeCommit = (await readLogPolicy(dd.engine.stateOf('acme'))).policy.legalHold !== null;
      },
    });
    await holdSet;
    assert.equal(heldBeforeCommit, false, 'the hold waited: the commit was not made under a hold');
    assert.equal(report.status, 'pruned');
    // Set right after the commit, the hold stops what is left: the deletions.
    assert.notEqual((await readLogPolicy(dd.engine.stateOf('acme'))).policy.legalHold, null);
    const next = await pruneLog({ engine: dd.engine, log: 'acme', clock });
    assert.equal(next.status, 'held');
  } finally {
    await dd.close();
  }
});

test('a legal hold answered while a deletion is in flight: that deletion finishes first, none follows', async () => {
  const { dd, clock } = await setup();
  try {
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    clock.t = T0 + 12_000;
    // Local deletions first (M = 512: two bundles), then the archive's: the first deletion of each
    // kind meets an admin setting a hold, through the lock every policy change takes.
    const blobs = dd.engine.blobsOf('acme');
    const deleteLocal = blobs.delete.bind(blobs);
    let holdAnswered = false;
    let afterAnswer: string[] = [];
    let hold: Promise<unknown> | undefined;
    const inquiry = async <T>(key: string, deletion: () => Promise<T>): Promise<T> => {
      hold ??= policyLock
        .run('acme', () =>
          updateLogPolicy(dd.engine.stateOf('acme'), (p) =>
            withLegalHold(p, 'inquiry', 'test', new Date(clock.t).toISOString()),
          ),
        )
        .then(() => {
          holdAnswered = true;
        });
      // Give the hold every chance to be answered before this deletion completes.
      await Promise.race([hold, new Promise((r) => setTimeout(r, 200))]);
      const result = await deletion();
      if (holdAnswered) afterAnswer.push(key);
      return result;
    };
    blobs.delete = (key, options) => inquiry(key, () => deleteLocal(key, options));
    const report = await pruneLog({ engine: dd.engine, log: 'acme', clock });
    await hold;
    assert.equal(report.status, 'pruned');
    assert.deepEqual(afterAnswer, [], 'no local deletion completed after the hold was answered');
    assert.equal(report.deletedLocal, 1, 'the deletion in flight finished, the next one saw the hold');

    // The same for the archive: release, delete locally, and meet the hold at the first archived bundle.
    blobs.delete = deleteLocal;
    await updateLogPolicy(dd.engine.stateOf('acme'), (p) => withoutLegalHold(p, 'test', 'now'));
    assert.equal((await pruneLog({ engine: dd.engine, log: 'acme', clock })).deletedLocal, 1);
    const checkpoint = (await blobs.get('checkpoint'))!;
    hold = undefined;
    holdAnswered = false;
    afterAnswer = [];
    const archive = {
      get: async (key: string) => (key === 'checkpoint' ? checkpoint : undefined),
      put: async () => {},
      deleteSealed: (key: string) => inquiry(key, async () => ({ status: 'deleted' as const })),
    };
    const second = await pruneLog({ engine: dd.engine, log: 'acme', clock, archive });
    await hold;
    assert.deepEqual(afterAnswer, [], 'no archived bundle was deleted after the hold was answered');
    assert.equal(second.deletedArchived, 1);
  } finally {
    await dd.close();
  }
});

test('a retention change made while a run is in progress stops it before the commit', async () => {
  for (const update of [{ retention: { max: null } }, { retention: { min: '1y', max: '2y' } }]) {
    const { dd, clock } = await setup();
    try {
      await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
      clock.t = T0 + 12_000;
      // The change arrives while the run waits for the checkpoint covering its statement.
      const restore = whileDeciding(dd, () => setPolicy(dd, update));
      const report = await pruneLog({ engine: dd.engine, log: 'acme', clock });
      assert.equal(report.status, 'policy_changed', JSON.stringify(update));
      assert.equal(report.minimumIndex, 0);
      assert.notEqual(await dd.engine.blobsOf('acme').get('tile/entries/000'), undefined);
      assert.equal((await readPruneState(dd.engine.stateOf('acme'))).prune, null);
      // The next run decides under the new policy: nothing is due under either.
      restore();
      assert.notEqual((await pruneLog({ engine: dd.engine, log: 'acme', clock })).status, 'pruned');
    } finally {
      await dd.close();
    }
  }
});

test('a bundle whose received_at times were back-dated on disk is refused, never pruned or signed for', async () => {
  const { dir, dd, clock } = await setup();
  await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
  await dd.close();
  // Bundle 2 (entries 512..767) holds entries of T0 + 10 s, which stop pruning at 512. Back-date them
  // to T0 in place, as someone with write access to the disk could, to have more pruned.
  const file = join(dir, 'logs', 'acme', 'tile', 'entries', '002');
  const text = readFileSync(file, 'latin1');
  const later = new Date(T0 + 10_000).toISOString();
  assert.ok(text.includes(later));
  chmodSync(file, 0o644);
  writeFileSync(file, text.replaceAll(later, new Date(T0).toISOString()), 'latin1');

  clock.t = T0 + 12_000;
  const reopened = await openDataDir(dir, { clock });
  try {
    await assert.rejects(pruneLog({ engine: reopened.engine, log: 'acme', clock }), {
      code: 'log.inconsistent',
      message: /entry bundle tile\/entries\/002 holds a record at index 600 that is not the logged one/,
    });
    // Run by the service (as the server does), the failure reaches its observer: the monitor's
    // verification_failure alert in serve.ts.
    const failures: Array<[string, unknown]> = [];
    const service = new RetentionService({
      engine: reopened.engine,
      clock,
      onFailure: (log, err) => failures.push([log, err]),
    });
    const results = await service.runOnce();
    await service.close();
    assert.deepEqual(
      failures.map(([log, err]) => [log, (err as { code?: string }).code]),
      [['acme', 'log.inconsistent']],
    );
    assert.equal(results.filter((r) => 'error' in r).length, 1);
    // Nothing was decided, signed, appended or deleted.
    assert.equal((await readPruneState(reopened.engine.stateOf('acme'))).prune, null);
    assert.equal(reopened.engine.log('acme').size, 900);
    assert.notEqual(await reopened.engine.blobsOf('acme').get('tile/entries/000'), undefined);
  } finally {
    await reopened.close();
  }
});

test('partial bundles an integration left below the minimum index are deleted too', async () => {
  const { dir, clock } = await freshDataDir();
  const dd = await openDataDir(dir, { clock });
  try {
    await dd.engine.createLog('acme');
    await setPolicy(dd, { retention: { min: '1s', max: '5s' } });
    // Integrations at 100, 300 and 600 leave tile/entries/000.p/100, 001.p/44 behind.
    for (const n of [100, 200, 300]) {
      await dd.engine.append(
        'acme',
        Array.from({ length: n }, (_, i) => sampleEvent(i, 100)),
      );
      await dd.engine.log('acme').integrate();
    }
    const blobs = dd.engine.blobsOf('acme');
    assert.ok((await blobs.list('tile/entries/000.p/')).length > 0, 'the test needs a partial bundle');
    clock.t = T0 + 12_000;
    assert.equal((await pruneLog({ engine: dd.engine, log: 'acme', clock })).minimumIndex, 512);
    const left = await blobs.list('tile/entries/');
    assert.deepEqual(
      left.filter((k) => k.startsWith('tile/entries/000') || k.startsWith('tile/entries/001')),
      [],
    );
  } finally {
    await dd.close();
  }
});
