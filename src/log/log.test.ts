import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyConsistency, verifyInclusion } from '../core/proof.js';
import { verifyReceipt } from '../core/receipt.js';
import { decodeBundle, encodeBundle, fullTileRoot, TileHashCache } from '../core/tile.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { cloneState } from '../storage/memory/memory-state.js';
import { Engine } from './engine.js';
import { LogError } from './errors.js';
import { breakableIndex, openTestEngine, sampleEvent } from './test-helpers.js';
import { verifyStorage } from './verify.js';

test('append, integrate, prove: every entry is included and checkpoints are consistent', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  const sizes: number[] = [];
  const roots: Uint8Array[] = [];
  let n = 0;
  for (const batch of [1, 2, 253, 1, 300, 700, 5]) {
    const events = Array.from({ length: batch }, () => sampleEvent(n++));
    // Concurrent halves exercise group commit.
    const half = Math.ceil(batch / 2);
    const [a, b] = await Promise.all([
      engine.append('acme', events.slice(0, half)),
      engine.append('acme', events.slice(half)),
    ]);
    const entries = [...a.entries, ...b.entries];
    assert.equal(new Set(entries.map((e) => e.index)).size, batch);
    const cp = await log.checkpointCovering(log.size);
    sizes.push(cp.size);
    roots.push(cp.rootHash);
  }
  assert.equal(log.size, n);
  const cp = log.latestCheckpoint();
  for (let i = 0; i < n; i += 7) {
    const leaf = hashLeaf(await log.readRecord(i));
    verifyInclusion(i, cp.size, leaf, await log.inclusionProof(i, cp.size), cp.rootHash);
  }
  for (let k = 0; k < sizes.length; k++) {
    verifyConsistency(
      sizes[k]!,
      cp.size,
      await log.consistencyProof(sizes[k]!, cp.size),
      roots[k]!,
      cp.rootHash,
    );
  }
  const vkey = parseVerifierKey(engine.info('acme').verifierKey);
  const r = verifyReceipt(await log.receipt(300), vkey, { record: await log.readRecord(300) });
  assert.equal(r.index, 300);
  const reports = await verifyStorage(driver);
  assert.deepEqual(
    reports.map((x) => [x.log, x.treeSize]),
    [['acme', n]],
  );
  await engine.close();
});

test('records chain by prev and carry log, index, id and received_at', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const { entries } = await engine.append('acme', [sampleEvent(1), { ...sampleEvent(2), id: 'evt-2' }]);
  const r0 = JSON.parse(new TextDecoder().decode(await engine.log('acme').readRecord(0)));
  const r1 = JSON.parse(new TextDecoder().decode(await engine.log('acme').readRecord(1)));
  assert.equal(r0.prev, '0'.repeat(64));
  assert.equal(r1.prev, entries[0]!.leafHash);
  assert.equal(r1.id, 'evt-2');
  assert.equal(r1.event.id, 'evt-2');
  assert.equal(r0.id, entries[0]!.id);
  assert.match(r0.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(r0.log, 'acme');
  assert.equal(r1.index, 1);
  assert.equal(r0.received_at, entries[0]!.receivedAt);
  await engine.close();
});

test('event ids make retries idempotent; a different event under a used id is a conflict', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const ev = { ...sampleEvent(1), id: 'order-1' };
  const first = await engine.append('acme', [ev]);
  assert.equal(first.entries[0]!.index, 0);
  // Once indexed, the id is found through the index (index 0 must count as found).
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual((await engine.append('acme', [ev])).entries, first.entries);
  const [again, concurrent] = await Promise.all([engine.append('acme', [ev]), engine.append('acme', [ev])]);
  assert.deepEqual(again.entries, first.entries);
  assert.deepEqual(concurrent.entries, first.entries);
  assert.deepEqual(again.duplicates, [true]);
  const batch = await engine.append('acme', [
    { ...sampleEvent(2), id: 'o-2' },
    { ...sampleEvent(2), id: 'o-2' },
  ]);
  assert.equal(batch.entries[0]!.index, batch.entries[1]!.index);
  assert.deepEqual(batch.duplicates, [false, true]);
  await assert.rejects(engine.append('acme', [{ ...ev, action: 'other.action' }]), {
    code: 'log.id_conflict',
  });
  assert.equal(engine.log('acme').size, 2);
  await engine.close();
});

test('invalid events are refused with the field named and nothing is appended', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  await assert.rejects(
    engine.append('acme', [sampleEvent(1), { action: 'x', actor: {} }]),
    (err: unknown) => {
      const e = err as { code: string; details: { field: string } };
      assert.equal(e.code, 'event.missing_field');
      assert.equal(e.details.field, 'events[1].actor.id');
      return true;
    },
  );
  assert.equal(engine.log('acme').size, 0);
  await engine.close();
});

test('log names are validated; reserved names only for system logs; duplicates refused', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  for (const bad of ['', 'Acme', '-x', '_audit', 'a/b', 'x'.repeat(64), '..']) {
    await assert.rejects(engine.createLog(bad), { code: 'log.invalid_name' }, bad);
  }
  await engine.createLog('_audit', { system: true });
  await engine.createLog('acme');
  await assert.rejects(engine.createLog('acme'), { code: 'log.exists' });
  assert.throws(() => engine.log('nope'), { code: 'log.not_found' });
  await engine.close();
});

test("configured event limits apply to clients' logs; the server's own (_audit) keeps the defaults", async () => {
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'test.example',
    eventLimits: { maxFieldLength: 32 },
  });
  try {
    await engine.createLog('_audit', { system: true });
    await engine.createLog('acme');
    // What every request-driven self-audit record carries: a 36-character request id.
    const event = { action: 'audit.read', actor: { id: 'k1' }, source: { request_id: crypto.randomUUID() } };
    await assert.rejects(engine.append('acme', [event]), { code: 'event.invalid_value' });
    const { entries } = await engine.append('_audit', [event]);
    assert.equal(entries.length, 1);
  } finally {
    await engine.close();
  }
});

test('back-pressure: over the queue limit, add fails fast with log.pushback', async () => {
  const engine = await openTestEngine(createMemoryDriver(), {
    sequencer: { maxQueuedEvents: 10, maxBatchEvents: 10 },
  });
  await engine.createLog('acme');
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => engine.append('acme', [sampleEvent(i), sampleEvent(i + 100)])),
  );
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.ok(rejected.length > 0, 'some appends were pushed back');
  for (const r of rejected) assert.equal((r as PromiseRejectedResult).reason.code, 'log.pushback');
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  assert.equal(engine.log('acme').size, ok * 2);
  await engine.close();
});

test('reads and proofs outside the log are coded errors', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const log = engine.log('acme');
  await engine.append('acme', [sampleEvent(0), sampleEvent(1)]);
  await log.checkpointCovering(2);
  await assert.rejects(log.readRecord(2), { code: 'log.out_of_range' });
  await assert.rejects(log.readRecord(-1), { code: 'log.out_of_range' });
  await assert.rejects(log.inclusionProof(2, 2), { code: 'log.out_of_range' });
  await assert.rejects(log.inclusionProof(0, 3), { code: 'log.out_of_range' });
  await assert.rejects(log.consistencyProof(3, 2), { code: 'log.out_of_range' });
  await assert.rejects(log.checkpointCovering(5), LogError);
  await engine.close();
});

test('reopen after close keeps everything and verifies', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const { entries } = await engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => sampleEvent(i)),
  );
  await engine.close();
  const again = await openTestEngine(createMemoryDriver({ state: driver.snapshot() }));
  const log = again.log('acme');
  assert.equal(log.size, 600);
  assert.equal(log.treeSize, 600, 'close integrates everything');
  for (const e of [entries[0]!, entries[599]!]) {
    assert.deepEqual(hashLeaf(await log.readRecord(e.index)), fromHex(e.leafHash));
  }
  const q = await again.index.query('acme', { actor: 'user-3', limit: 1000 });
  assert.equal(q.events.length, entries.filter((_, i) => i % 17 === 3).length);
  await again.close();
});

test('entries acknowledged but not integrated before a crash are replayed and reported', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const commits: number[] = [];
  engine.observeCommits((_log, events) => commits.push(events));
  await engine.append(
    'acme',
    Array.from({ length: 40 }, (_, i) => sampleEvent(i)),
  );
  assert.equal(
    commits.reduce((a, b) => a + b, 0),
    40,
  );
  assert.equal(engine.log('acme').treeSize, 0, 'nothing integrated yet (interval is long in tests)');
  const after = await openTestEngine(driver.crash());
  assert.deepEqual(after.recoveries(), [{ log: 'acme', from: 0, to: 40 }]);
  assert.equal(after.log('acme').treeSize, 40);
  await after.close();
});

/** An in-memory SQLite index whose `add` waits until `release()`: an index that has fallen behind. */
function gatedIndex() {
  const stalled = createSqliteIndex({ path: ':memory:' });
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const index = Object.assign(Object.create(stalled) as typeof stalled, {
    add: async (log: string, entries: Parameters<typeof stalled.add>[1]) => {
      await gate;
      return stalled.add(log, entries);
    },
  });
  return { index, release };
}

test('a search index that falls behind pushes appends back instead of growing memory', async () => {
  const { index, release } = gatedIndex();
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index,
    originPrefix: 'x',
    maxIndexLag: 100,
  });
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 150 }, (_, i) => sampleEvent(i)),
  );
  await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(engine.append('acme', [sampleEvent(1)]), { code: 'log.pushback' });
  release();
  await new Promise((r) => setTimeout(r, 50));
  await engine.append('acme', [sampleEvent(2)]);
  assert.equal(engine.log('acme').size, 151);
  await engine.close();
});

test('appends are pushed back once the index feed can no longer hold the records, well before maxIndexLag; a quiet log, a system log and a pure retry are not', async () => {
  const { index, release } = gatedIndex();
  // Room in memory for 10 waiting records; the lag limit alone would allow 1,000.
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index,
    originPrefix: 'x',
    maxIndexLag: 1000,
    indexMemory: { entries: 10 },
  });
  await engine.createLog('acme');
  await engine.createLog('quiet');
  await engine.createLog('_sys', { system: true });
  // 8 fit in memory: still accepted.
  const first = await engine.append(
    'acme',
    Array.from({ length: 8 }, (_, i) => ({ ...sampleEvent(i), id: `e-${i}` })),
  );
  await engine.append('acme', [sampleEvent(8), sampleEvent(9)]);
  // These 5 no longer fit: accepted (checked before they are queued), kept as ids to be read back.
  await engine.append(
    'acme',
    Array.from({ length: 5 }, (_, i) => sampleEvent(10 + i)),
  );
  assert.equal(engine.indexLag('acme'), 15);
  await assert.rejects(engine.append('acme', [sampleEvent(20)]), (err: unknown) => {
    const e = err as { code?: string; details?: Record<string, unknown> };
    assert.equal(e.code, 'log.pushback');
    assert.deepEqual(e.details, { log: 'acme', indexLag: 15, limit: 1000, readBack: 5 });
    return true;
  });
  assert.equal(engine.log('acme').size, 15, 'the refused append added nothing');
  // A retry of events the log already holds adds nothing, so it gets its entries, not a pushback…
  const retry = await engine.append('acme', [{ ...sampleEvent(3), id: 'e-3' }]);
  assert.deepEqual(retry.entries, [first.entries[3]]);
  assert.deepEqual(retry.duplicates, [true]);
  // …but a batch with anything new in it is refused whole.
  await assert.rejects(engine.append('acme', [{ ...sampleEvent(3), id: 'e-3' }, sampleEvent(22)]), {
    code: 'log.pushback',
  });
  // A system log (`_audit`) is only held to maxIndexLag: 12 waiting, all of them read back.
  await engine.append(
    '_sys',
    Array.from({ length: 12 }, (_, i) => sampleEvent(40 + i)),
  );
  await engine.append('_sys', [sampleEvent(52)]);
  assert.equal(engine.indexLag('_sys'), 13);
  // Another log finds the shared memory full too, but has only its own few entries waiting: its
  // appends go on (a busy log must not stop the others, `_audit` among them).
  await engine.append('quiet', [sampleEvent(30)]);
  await engine.append('quiet', [sampleEvent(31)]);
  assert.equal(engine.indexLag('quiet'), 2);
  release();
  const logs = ['acme', 'quiet', '_sys'];
  for (let i = 0; i < 500 && logs.some((l) => engine.indexLag(l) > 0); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(engine.indexLag('acme'), 0);
  await engine.append('acme', [sampleEvent(21)]);
  assert.equal(engine.log('acme').size, 16);
  assert.equal(engine.log('quiet').size, 2);
  assert.equal(engine.log('_sys').size, 13);
  await engine.close();
});

test('a batch with a conflicting retried id is refused whole, and nothing is left unhandled', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const ev = { ...sampleEvent(1), id: 'x-1' };
  await engine.append('acme', [ev]);
  await new Promise((r) => setTimeout(r, 20)); // indexed: the check now reads the record back
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(engine.append('acme', [{ ...ev, action: 'changed' }, sampleEvent(2)]), {
      code: 'log.id_conflict',
    });
    await assert.rejects(engine.append('acme', [{ ...ev, action: 'changed' }, { action: 'no.actor' }]), {
      code: 'event.missing_field',
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
    assert.equal(engine.log('acme').size, 1, 'nothing of a refused batch was appended');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await engine.close();
  }
});

test("an id claimed by a concurrent batch that is then refused is appended, not refused with that batch's error", async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const taken = { ...sampleEvent(1), id: 'taken' };
  await engine.append('acme', [taken]);
  const shared = { ...sampleEvent(2), id: 'shared' };
  // The first batch claims `shared`, then is refused for its other event (a conflict on `taken`);
  // the second, sent meanwhile, holds only `shared` and is a valid append of it.
  const refused = engine.append('acme', [shared, { ...taken, action: 'changed' }]);
  const alone = engine.append('acme', [shared]);
  await assert.rejects(refused, { code: 'log.id_conflict' });
  const { entries, duplicates } = await alone;
  assert.deepEqual(duplicates, [false]);
  assert.deepEqual([entries[0]!.id, entries[0]!.index], ['shared', 1]);
  assert.equal(engine.log('acme').size, 2);
  // And it is the entry a later retry of the same event finds.
  assert.deepEqual((await engine.append('acme', [shared])).entries, entries);
  await engine.close();
});

test('a server-assigned id sent back by a client is recognised, indexed or not', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const ev = sampleEvent(1);
  const [first] = (await engine.append('acme', [ev])).entries;
  const again = await engine.append('acme', [{ ...ev, id: first!.id }]);
  assert.deepEqual(again.entries, [first]);
  assert.equal(engine.log('acme').size, 1);
  await engine.close();
});

test('assigned ids: used for events without their own, and a re-run with them appends nothing', async () => {
  const driver = createMemoryDriver();
  let engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const own = { ...sampleEvent(2), id: 'client-2' };
  const ids = ['0193a4b2-0000-7000-8000-000000000001', undefined, '0193a4b2-0000-7000-8000-000000000003'];
  const events = [sampleEvent(1), own, sampleEvent(3)];
  const first = await engine.append('acme', events, undefined, { ids, fresh: true });
  assert.deepEqual(
    first.entries.map((e) => e.id),
    [ids[0], 'client-2', ids[2]],
  );
  assert.deepEqual(first.duplicates, [false, false, false]);
  // The record carries the assigned id at top level; the event itself stays without one.
  const record = JSON.parse(new TextDecoder().decode(await engine.log('acme').readRecord(0)));
  assert.equal(record.id, ids[0]);
  assert.equal(record.event.id, undefined);

  // Re-run before the index caught up (claims), and after a crash (a copy of storage taken while
  // the entries are acknowledged but not integrated: the new engine has only the journal).
  const again = await engine.append('acme', events, undefined, { ids, fresh: false });
  assert.deepEqual(again.entries, first.entries);
  assert.deepEqual(again.duplicates, [true, true, true]);
  const crashed = driver.snapshot();
  await engine.close();
  engine = await openTestEngine(createMemoryDriver({ state: crashed }));
  assert.deepEqual(engine.log('acme').recovered, { from: 0, to: 3 }, 'replayed from the journal');
  const afterRestart = await engine.append('acme', events, undefined, { ids, fresh: false });
  assert.deepEqual(afterRestart.entries, first.entries);
  assert.equal(engine.log('acme').size, 3);

  // The same assigned id for different content is a conflict, and nothing is appended.
  await assert.rejects(engine.append('acme', [sampleEvent(9)], undefined, { ids: [ids[0]], fresh: false }), {
    code: 'log.id_conflict',
  });
  // Ids made for the call (`fresh`) are used as they are, without a look-up.
  const fresh = ['0193a4b2-0000-7000-8000-000000000004'];
  const made = await engine.append('acme', [sampleEvent(1)], undefined, { ids: fresh, fresh: true });
  assert.deepEqual([made.entries[0]!.id, made.entries[0]!.index], [fresh[0], 3]);
  // Malformed ones are a programming error.
  await assert.rejects(
    engine.append('acme', [sampleEvent(1)], undefined, { ids: ['not an id!'], fresh: true }),
    RangeError,
  );
  await assert.rejects(
    engine.append('acme', [sampleEvent(1)], undefined, { ids: [], fresh: true }),
    RangeError,
  );
  await engine.close();
});

test('a state store rolled back behind the published checkpoint refuses to open', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append('acme', [sampleEvent(1)]);
  await engine.log('acme').integrate();
  const before = driver.snapshot();
  await engine.append('acme', [sampleEvent(2)]);
  await engine.log('acme').integrate();
  await engine.close();
  // Restore the state store and journal from the earlier snapshot (a partial restore from backup):
  // opening at the older size would sign a different entry 1 over the published one, a fork.
  const after = driver.snapshot();
  const mixed = cloneState(after);
  const old = cloneState(before).logs.get('acme')!;
  mixed.logs.get('acme')!.state = old.state;
  mixed.logs.get('acme')!.journal = old.journal; // state and journal agree; only the blobs are newer
  await assert.rejects(openTestEngine(createMemoryDriver({ state: mixed })), { code: 'log.storage_behind' });
});

test('state, journal and checkpoints restored from before a full tile was sealed refuse to open', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 100 }, (_, i) => sampleEvent(i)),
  );
  await engine.log('acme').integrate();
  const before = driver.snapshot();
  await engine.append(
    'acme',
    Array.from({ length: 200 }, (_, i) => sampleEvent(100 + i)),
  );
  await engine.log('acme').integrate(); // seals tile/0/000 and tile/entries/000 (entries 0..255)
  await engine.close();
  // Everything but the tiles and bundles from the older copy: state, journal (empty at 100) and every
  // checkpoint agree, so only the sealed objects past 100 tell. Resuming would acknowledge entries
  // 100..255 anew, which can never be sealed over the different ones already there.
  const mixed = cloneState(driver.snapshot());
  const old = cloneState(before).logs.get('acme')!;
  const log = mixed.logs.get('acme')!;
  log.state = old.state;
  log.journal = old.journal;
  for (const key of log.blobs.list('checkpoint')) log.blobs.delete(key);
  for (const key of old.blobs.list('checkpoint')) log.blobs.set(key, old.blobs.get(key)!);
  await assert.rejects(openTestEngine(createMemoryDriver({ state: mixed })), (err: LogError) => {
    assert.equal(err.code, 'log.storage_behind');
    assert.match(err.message, /tile\/0\/000 is sealed past the last signed checkpoint \(100 entries\)/);
    return true;
  });
  // A crash between sealing and committing the checkpoint leaves such objects with the journal still
  // holding their entries: recovery.test.ts's failure-point table covers that case opening.
});

test('a log that cannot open is named in the error, whatever failed (here: a damaged state checkpoint)', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append('acme', [sampleEvent(1)]);
  await engine.log('acme').integrate();
  await engine.close();
  const state = cloneState(driver.snapshot());
  const cp = state.logs.get('acme')!.state.get('checkpoint')!;
  cp.value[cp.value.length - 2]! ^= 1; // inside the signature line
  await assert.rejects(openTestEngine(createMemoryDriver({ state })), (err: Error) => {
    assert.match(err.message, /^log acme: /);
    return true;
  });
});

test('a failed journal write marks the log failed (readiness reports it) instead of hiding it', async () => {
  let fail = false;
  const driver = createMemoryDriver({
    faults: (c) => (fail && c.op === 'append' ? 'fail-before' : 'proceed'),
  });
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append('acme', [sampleEvent(1)]);
  assert.deepEqual(engine.failedLogs(), []);
  fail = true;
  await assert.rejects(engine.append('acme', [sampleEvent(2)]), { code: 'storage.io' });
  assert.deepEqual(engine.failedLogs(), ['acme']);
  await assert.rejects(engine.append('acme', [sampleEvent(3)]), { code: 'log.failed' });
});

test('a damaged partial entry bundle is refused at open, never sealed into a full one', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append('acme', [sampleEvent(1), sampleEvent(2), sampleEvent(3)]);
  await engine.close();
  const state = driver.snapshot();
  const key = 'tile/entries/000.p/3';
  const good = await createMemoryDriver({ state }).log('acme').blobs.get(key);
  const entries = decodeBundle(good!);
  entries[1] = new TextEncoder().encode(
    new TextDecoder().decode(entries[1]).replace('user.login', 'user.logim'),
  );
  const tampered = createMemoryDriver({ state });
  await tampered
    .log('acme')
    .blobs.delete(key, { retention: true })
    .catch(() => undefined);
  await tampered.log('acme').blobs.put(key, encodeBundle(entries));
  await assert.rejects(openTestEngine(createMemoryDriver({ state: tampered.snapshot() })), {
    code: 'log.inconsistent',
  });
});

test('a full hash tile damaged behind the edge is refused for proofs and the read path, naming it', async (t) => {
  const open = keptIndex(t);
  const driver = await sixHundredEntries(open);
  // tile/0/000 (leaves 0..255) is full; its parent tile/1/000.p/2 and the edge tile/0/002.p/88 are partial.
  const key = 'tile/0/000';
  const bytes = (await objectOf(driver, key)).slice();
  bytes[5 * 32] = (bytes[5 * 32]! ^ 1) & 0xff;

  const reopened = await open(await withObject(driver, key, bytes));
  try {
    const log = reopened.log('acme');
    const cp = log.latestCheckpoint();
    const damaged = {
      code: 'log.inconsistent',
      message: /tile\/0\/000 does not match entry 0 of its parent tile\/1\/000\.p\/2/,
    };
    await assert.rejects(log.inclusionProof(7, cp.size), damaged);
    await assert.rejects(log.readTileBytes({ kind: 'hash', level: 0, index: 0, width: 256 }), damaged);
    await assert.rejects(log.consistencyProof(100, cp.size), damaged);
    // Proofs that never read the damaged tile still verify (its hash comes from the parent).
    const leaf = hashLeaf(await log.readRecord(590));
    verifyInclusion(590, cp.size, leaf, await log.inclusionProof(590, cp.size), cp.rootHash);
  } finally {
    await reopened.close();
  }
  // The untouched directory serves the same proof, and it verifies.
  const intact = await open(createMemoryDriver({ state: driver.snapshot() }));
  try {
    const log = intact.log('acme');
    const cp = log.latestCheckpoint();
    const leaf = hashLeaf(await log.readRecord(7));
    verifyInclusion(7, cp.size, leaf, await log.inclusionProof(7, cp.size), cp.rootHash);
  } finally {
    await intact.close();
  }
  // A full tile cut short is refused for its length.
  const short = await open(await withObject(driver, key, (await objectOf(driver, key)).slice(0, 255 * 32)));
  try {
    await assert.rejects(short.log('acme').inclusionProof(7, 600), {
      code: 'log.inconsistent',
      message: /tile\/0\/000 holds 8160 bytes/,
    });
  } finally {
    await short.close();
  }
});

test('a full entry bundle damaged behind the edge is refused for reads, naming it', async (t) => {
  const open = keptIndex(t);
  const driver = await sixHundredEntries(open);
  const key = 'tile/entries/000';
  const original = await objectOf(driver, key);
  /** A copy of the data directory with `key` replaced by `bytes`, opened. */
  const withBundle = async (bytes: Uint8Array) => open(await withObject(driver, key, bytes));

  // One byte of record 1 changed (inside its text, so the bundle still decodes).
  const flipped = original.slice();
  const at = original.indexOf(0x7b, 2 + (original[0]! << 8) + original[1]!) + 10; // into record 1
  flipped[at] = flipped[at]! ^ 0x01;
  const damaged = await withBundle(flipped);
  try {
    const log = damaged.log('acme');
    const refused = {
      code: 'log.inconsistent',
      message: /entry bundle tile\/entries\/000 holds a record at index 1 /,
    };
    await assert.rejects(log.readRecord(200), refused);
    await assert.rejects(log.readRecords(0, 3), refused);
    await assert.rejects(log.readTileBytes({ kind: 'entries', level: 0, index: 0, width: 256 }), refused);
    // Records of other bundles (full or at the edge) are still served, and still prove.
    const cp = log.latestCheckpoint();
    const leaf = hashLeaf(await log.readRecord(300));
    verifyInclusion(300, cp.size, leaf, await log.inclusionProof(300, cp.size), cp.rootHash);
  } finally {
    await damaged.close();
  }
  // An index that must catch up over the damaged bundle (a new or reset one) refuses to index it:
  // the log does not open, naming the bundle.
  await assert.rejects(openTestEngine(await withObject(driver, key, flipped)), {
    code: 'log.inconsistent',
    message: /entry bundle tile\/entries\/000 holds a record at index 1 /,
  });

  // A bundle that does not decode (cut inside a record) is refused the same way.
  const cut = await withBundle(original.slice(0, original.length - 3));
  try {
    await assert.rejects(cut.log('acme').readRecord(7), {
      code: 'log.inconsistent',
      message: /entry bundle tile\/entries\/000 cannot be read/,
    });
  } finally {
    await cut.close();
  }

  // The untouched bundle is served as stored.
  const intact = await open(createMemoryDriver({ state: driver.snapshot() }));
  try {
    const log = intact.log('acme');
    const cp = log.latestCheckpoint();
    const rec = await log.readRecord(1);
    verifyInclusion(1, cp.size, hashLeaf(rec), await log.inclusionProof(1, cp.size), cp.rootHash);
    assert.deepEqual(await log.readTileBytes({ kind: 'entries', level: 0, index: 0, width: 256 }), original);
  } finally {
    await intact.close();
  }
});

/** A closed data directory (memory driver) whose log `acme` holds 600 integrated entries. */
async function sixHundredEntries(open: ReturnType<typeof keptIndex>) {
  const driver = createMemoryDriver();
  const engine = await open(driver);
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => sampleEvent(i)),
  );
  await engine.close();
  return driver;
}

/** The stored object `key` of log `acme` in (a copy of) `driver`'s data. */
async function objectOf(driver: ReturnType<typeof createMemoryDriver>, key: string) {
  return (await createMemoryDriver({ state: driver.snapshot() }).log('acme').blobs.get(key))!;
}

/** A copy of `driver`'s data with log `acme`'s object `key` replaced by `bytes`, as tampering does. */
async function withObject(driver: ReturnType<typeof createMemoryDriver>, key: string, bytes: Uint8Array) {
  const copy = createMemoryDriver({ state: driver.snapshot() });
  await copy.log('acme').blobs.delete(key, { retention: true });
  await copy.log('acme').blobs.put(key, bytes);
  return createMemoryDriver({ state: copy.snapshot() });
}

/**
 * Opens engines whose search index is one file kept across opens (deleted after the test): reopening
 * a copy of the data then reads no bundle to catch the index up, so a test sees what reads do.
 */
function keptIndex(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-log-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return (driver: ReturnType<typeof createMemoryDriver>) =>
    Engine.open({
      driver,
      index: createSqliteIndex({ path: join(dir, 'index.sqlite') }),
      originPrefix: 'test.example',
      config: { integrator: { intervalMs: 60_000 } },
    });
}

/** An in-memory index that records whether it was closed. */
function closeTrackingIndex() {
  const inner = createSqliteIndex({ path: ':memory:' });
  let closed = false;
  const index = Object.assign(Object.create(inner) as typeof inner, {
    close: () => {
      closed = true;
      inner.close();
    },
  });
  return { index, closed: () => closed };
}

test('a log that refuses to open releases what the engine opened (logs, index, storage)', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('alpha');
  await engine.createLog('beta');
  await engine.append('alpha', [sampleEvent(1)]);
  await engine.append('beta', [sampleEvent(2)]);
  await engine.close();
  const state = driver.snapshot();
  state.logs.get('beta')!.state.delete('config'); // signed checkpoints but no configuration
  const reopened = createMemoryDriver({ state });
  const { index, closed } = closeTrackingIndex();
  await assert.rejects(Engine.open({ driver: reopened, index, originPrefix: 'test.example' }), {
    code: 'log.inconsistent',
  });
  assert.ok(closed(), 'the index (a worker thread in a server) was closed');
  await assert.rejects(reopened.listLogs(), { code: 'storage.closed' });
});

test('invalid engine options release the index and the storage the engine was given', async () => {
  const driver = createMemoryDriver();
  const { index, closed } = closeTrackingIndex();
  await assert.rejects(
    Engine.open({
      driver,
      index,
      originPrefix: 'test.example',
      config: { sequencer: { maxBatchEvents: 100, maxQueuedEvents: 10 } },
    }),
    RangeError,
  );
  assert.ok(closed(), 'the index (a worker thread in a server) was closed');
  await assert.rejects(driver.listLogs(), { code: 'storage.closed' });
});

test('enough pending entries start an integration before the interval is up', async () => {
  const engine = await openTestEngine(createMemoryDriver(), { integrator: { maxPending: 100 } });
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 50 }, (_, i) => sampleEvent(i)),
  );
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(engine.log('acme').treeSize, 0, 'below the threshold, the interval (60 s in tests) decides');
  await engine.append(
    'acme',
    Array.from({ length: 60 }, (_, i) => sampleEvent(i)),
  );
  for (let i = 0; i < 100 && engine.log('acme').treeSize < 110; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(engine.log('acme').treeSize, 110);
  await engine.close();
});

/** A memory driver whose entry-bundle reads are counted, and can be held until `release()`. */
function bundleWatchingDriver() {
  const inner = createMemoryDriver();
  const bundleGets: string[] = [];
  const tileGets: string[] = [];
  let held: Promise<void> | undefined;
  let release = () => {};
  const driver = {
    ...inner,
    listLogs: () => inner.listLogs(),
    close: () => inner.close(),
    log(name: string) {
      const storage = inner.log(name);
      const blobs = new Proxy(storage.blobs, {
        get(target, prop, receiver) {
          if (prop !== 'get') return Reflect.get(target, prop, receiver);
          // Only reads that find an object count: a miss (the open-time look for sealed objects past
          // the signed tree) reads nothing.
          return async (key: string) => {
            if (key.startsWith('tile/entries/')) {
              if ((await target.get(key)) === undefined) return undefined;
              bundleGets.push(key);
              if (held) await held;
            } else if (key.startsWith('tile/')) {
              const data = await target.get(key);
              if (data !== undefined) tileGets.push(key);
              return data;
            }
            return target.get(key);
          };
        },
      });
      return { ...storage, blobs };
    },
  };
  return {
    driver,
    bundleGets,
    tileGets,
    hold() {
      held = new Promise((r) => {
        release = r;
      });
    },
    release() {
      held = undefined;
      release();
    },
  };
}

test('a bulk read with cache: false leaves the bundles that point reads share in the bundle cache', async () => {
  const { driver, bundleGets } = bundleWatchingDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  // 66 full bundles: more than the 64 the cache holds.
  const events = Array.from({ length: 66 * 256 }, (_, i) => sampleEvent(i, 100));
  for (let i = 0; i < events.length; i += 1000) await engine.append('acme', events.slice(i, i + 1000));
  await log.integrate();
  await log.readRecord(0);
  const first = bundleGets.length;
  assert.equal(first, 1, 'bundle 0 read once');
  await log.readRecords(256, 66 * 256, { cache: false });
  assert.equal(bundleGets.length, first + 65, 'every other bundle read once');
  await log.readRecord(1);
  assert.equal(bundleGets.length, first + 65, 'bundle 0 is still cached');
  // The same scan with the cache on pushes bundle 0 out (the behaviour the option avoids).
  await log.readRecords(256, 66 * 256);
  await log.readRecord(2);
  assert.equal(bundleGets.at(-1), bundleGets[0], 'bundle 0 read again');
  await engine.close();
});

test('a read that integration overtakes never takes records from an older partial bundle file', async () => {
  // Found by review: the read waits on bundle 0 while integration grows bundle 1 past width 100;
  // the stale file tile/entries/001.p/100, rewritten on disk, must not be what it serves.
  const watch = bundleWatchingDriver();
  const engine = await openTestEngine(watch.driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  await engine.append(
    'acme',
    Array.from({ length: 356 }, (_, i) => sampleEvent(i, 100)),
  );
  await log.integrate();
  const truth = await log.readRecord(266);
  const blobs = watch.driver.log('acme').blobs;
  const partial = decodeBundle((await blobs.get('tile/entries/001.p/100'))!);
  partial[10] = new TextEncoder().encode(new TextDecoder().decode(partial[10]).replace('"n":', '"N":'));
  await blobs.put('tile/entries/001.p/100', encodeBundle(partial));
  watch.hold();
  const reading = log.readRecords(0, 356, { cache: false });
  await new Promise((r) => setTimeout(r, 20));
  await engine.append(
    'acme',
    Array.from({ length: 50 }, (_, i) => sampleEvent(356 + i, 100)),
  );
  await log.integrate();
  watch.release();
  const records = await reading;
  assert.equal(records.length, 356);
  assert.deepEqual(records[266], truth);
  await engine.close();
});

test('partial hash tiles come from the log itself, not from storage a running server does not check', async () => {
  // Found by review: rewriting bundle 002, tile/0/002 and the partial tile/1/000.p/3 consistently
  // while the server runs made the checks pass; the partial tile is now the one checked at open.
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  await engine.append(
    'acme',
    Array.from({ length: 900 }, (_, i) => sampleEvent(i)),
  );
  await log.integrate();
  const blobs = driver.log('acme').blobs;
  const records = decodeBundle((await blobs.get('tile/entries/002'))!);
  records[88] = new TextEncoder().encode(new TextDecoder().decode(records[88]).replace('"n":', '"N":'));
  const leaves = new Uint8Array(256 * 32);
  records.forEach((r, i) => {
    leaves.set(hashLeaf(r), i * 32);
  });
  const level1 = (await blobs.get('tile/1/000.p/3'))!.slice();
  level1.set(fullTileRoot(leaves, new TileHashCache()), 2 * 32);
  for (const [key, bytes] of [
    ['tile/entries/002', encodeBundle(records)],
    ['tile/0/002', leaves],
  ] as const) {
    await blobs.delete(key, { retention: true });
    await blobs.put(key, bytes);
  }
  await blobs.put('tile/1/000.p/3', level1);
  await assert.rejects(log.readRecord(600), {
    code: 'log.inconsistent',
    message: /hash tile tile\/0\/002 does not match entry 2 of its parent tile\/1\/000\.p\/3/,
  });
  // The partial tile served on the read path is the log's own, not the rewritten file.
  assert.notDeepEqual(await log.readTileBytes({ kind: 'hash', level: 1, index: 0, width: 3 }), level1);
  await engine.close();
});

test('the hash tiles a bulk read checks its bundles against are not kept in the tile cache', async () => {
  const { driver, tileGets } = bundleWatchingDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  await engine.append(
    'acme',
    Array.from({ length: 4 * 256 }, (_, i) => sampleEvent(i, 100)),
  );
  await log.integrate();
  const level0 = () => tileGets.filter((k) => k.startsWith('tile/0/')).length;
  await log.readRecords(0, 4 * 256, { cache: false });
  assert.equal(level0(), 4, 'each bundle checked against its level-0 tile');
  await log.readRecords(0, 4 * 256, { cache: false });
  assert.equal(level0(), 8, 'a bulk read kept none of them');
  await log.readRecords(0, 4 * 256);
  await log.inclusionProof(5, log.treeSize);
  assert.equal(level0(), 12, 'a cached read keeps them, and proofs use them');
  await engine.close();
});

test('a read that integration overtakes reads the rest bundle by bundle, not entry by entry', async () => {
  // Found by review: 256 entries integrated, 512 pending; the read waits on bundle 0 while the
  // pending ones are integrated, and must then read bundles 1 and 2 once each, cache or not.
  for (const cache of [false, true]) {
    const watch = bundleWatchingDriver();
    const engine = await openTestEngine(watch.driver);
    await engine.createLog('acme');
    const log = engine.log('acme');
    await engine.append(
      'acme',
      Array.from({ length: 256 }, (_, i) => sampleEvent(i, 100)),
    );
    await log.integrate();
    await engine.append(
      'acme',
      Array.from({ length: 512 }, (_, i) => sampleEvent(256 + i, 100)),
    );
    watch.hold();
    const reading = log.readRecords(0, 768, { cache });
    await new Promise((r) => setImmediate(r));
    assert.equal(watch.bundleGets.length, 1, 'the read waits on bundle 0');
    await log.integrate();
    assert.equal(log.treeSize, 768, 'integrated while the read waited');
    watch.release();
    const records = await reading;
    assert.equal(records.length, 768);
    for (let i = 0; i < 768; i++) assert.equal(JSON.parse(Buffer.from(records[i]!).toString()).index, i);
    assert.deepEqual(
      watch.bundleGets.slice(1),
      ['tile/entries/001', 'tile/entries/002'],
      `cache ${cache}: one read per bundle after the overtake`,
    );
    await engine.close();
  }
});

test('appends succeed while the search index refuses writes; work that needs it fails with index.unavailable', {
  timeout: 20_000,
}, async () => {
  const { index, state } = breakableIndex(
    createSqliteIndex({ path: ':memory:' }),
    'database or disk is full',
  );
  state.broken = false;
  const engine = await Engine.open({ driver: createMemoryDriver(), index, originPrefix: 'test.example' });
  await engine.createLog('acme');
  state.broken = true;
  const r = await engine.append('acme', [sampleEvent(0), sampleEvent(1)]);
  assert.equal(r.entries.length, 2, 'acknowledged: the log does not wait for its index');
  await assert.rejects(engine.checkIndex('acme'), (err: Error & { code?: string; cause?: Error }) => {
    assert.equal(err.code, 'index.unavailable');
    assert.match(String(err.cause?.message), /disk is full/);
    return true;
  });
  assert.equal(engine.indexLag('acme'), 2);
  state.broken = false;
  assert.equal(await engine.checkIndex('acme'), undefined, 'caught up once the index takes writes');
  assert.equal(engine.indexLag('acme'), 0);
  await engine.close();
});

test('search fields are taken from the event as validated, not as its object is changed afterwards', async () => {
  // The engine derives the index's fields in the same synchronous step as validation; a caller
  // that changes the object while the append is in flight changes neither the record nor the index.
  const engine = await openTestEngine(createMemoryDriver());
  await engine.createLog('acme');
  const event = { action: 'doc.read', actor: { id: 'u1' }, metadata: { note: 'firstword', list: ['a1'] } };
  const pending = engine.append('acme', [event]);
  event.metadata.note = 'laterword';
  event.metadata.list.push('a2');
  event.actor.id = 'u2';
  const { entries } = await pending;
  assert.equal(await engine.checkIndex('acme'), undefined, 'the index agrees with the log');
  const record = JSON.parse(new TextDecoder().decode(await engine.log('acme').readRecord(entries[0]!.index)));
  assert.deepEqual(record.event.metadata, { list: ['a1'], note: 'firstword' });
  const found = async (q: Record<string, string>) =>
    (await engine.index.query('acme', q)).events.map((e) => e.index);
  assert.deepEqual(await found({ q: 'firstword' }), [0]);
  assert.deepEqual(await found({ q: 'laterword' }), []);
  assert.deepEqual(await found({ q: 'a2' }), []);
  assert.deepEqual(await found({ actor: 'u1' }), [0]);
  assert.deepEqual(await found({ actor: 'u2' }), []);
  await engine.close();
});

test('a bundle the pruner deleted while a read was on its way is log.pruned, not a damaged log', async () => {
  const engine = await openTestEngine(createMemoryDriver());
  try {
    await engine.createLog('acme');
    await engine.append(
      'acme',
      Array.from({ length: 600 }, (_, i) => sampleEvent(i, 120)),
    );
    const log = engine.log('acme');
    await log.integrate();
    const blobs = (log as unknown as { opts: { storage: { blobs: { get(key: string): Promise<unknown> } } } })
      .opts.storage.blobs;
    const get = blobs.get.bind(blobs);
    // The read passed the minimum-index check; the pruner moves it and deletes the bundle meanwhile.
    blobs.get = async (key: string) => {
      if (key !== 'tile/entries/000') return get(key);
      log.advanceMinimumIndex(256);
      return undefined;
    };
    await assert.rejects(log.readRecords(10, 11), (err: LogError) => {
      assert.equal(err.code, 'log.pruned');
      return true;
    });
    // A bundle missing above the minimum index is still a damaged log.
    blobs.get = async (key: string) => (key === 'tile/entries/001' ? undefined : get(key));
    await assert.rejects(log.readRecords(300, 301), (err: LogError) => {
      assert.equal(err.code, 'log.inconsistent');
      return true;
    });
  } finally {
    await engine.close();
  }
});

test('idle logs hold no timers: integration is timed only while entries wait for it', async (t) => {
  // Timers the engine starts from here on, and whether each is still live (not cleared, not fired).
  const live = new Set<unknown>();
  const { setTimeout: st, setInterval: si, clearTimeout: ct, clearInterval: ci } = globalThis;
  const spy = globalThis as unknown as Record<string, unknown>;
  spy.setTimeout = (fn: () => void, ms?: number) => {
    const handle: unknown = st(() => {
      live.delete(handle);
      fn();
    }, ms);
    live.add(handle);
    return handle;
  };
  spy.setInterval = (fn: () => void, ms?: number) => {
    const handle = si(fn, ms);
    live.add(handle);
    return handle;
  };
  spy.clearTimeout = (h: Parameters<typeof ct>[0]) => {
    live.delete(h);
    ct(h);
  };
  spy.clearInterval = (h: Parameters<typeof ci>[0]) => {
    live.delete(h);
    ci(h);
  };
  t.after(() =>
    Object.assign(globalThis, { setTimeout: st, setInterval: si, clearTimeout: ct, clearInterval: ci }),
  );
  const engine = await openTestEngine(createMemoryDriver(), { integrator: { intervalMs: 20 } });
  const logs = 200;
  for (let i = 0; i < logs; i++) {
    await engine.createLog(`t${i}`);
    await engine.append(`t${i}`, [sampleEvent(i)]);
  }
  // The timer integrates what waits, as the interval did.
  const deadline = Date.now() + 5000;
  while ([...Array(logs).keys()].some((i) => engine.log(`t${i}`).treeSize < 1)) {
    assert.ok(Date.now() < deadline, 'every log was integrated by its timer');
    await new Promise((r) => st(r, 10));
  }
  await new Promise((r) => st(r, 60));
  assert.ok(live.size < 10, `${live.size} timers live for ${logs} idle logs`);
  // An entry appended later is integrated in turn.
  await engine.append('t0', [sampleEvent(1000)]);
  while (engine.log('t0').treeSize < 2) {
    assert.ok(Date.now() < deadline, 'the later entry was integrated');
    await new Promise((r) => st(r, 10));
  }
  await engine.close();
});

test('Engine.open opens a few logs at a time, not one after another', async () => {
  const driver = createMemoryDriver();
  const first = await openTestEngine(driver);
  for (let i = 0; i < 40; i++) await first.createLog(`t${i}`);
  await first.close();
  const reopened = createMemoryDriver({ state: driver.snapshot() });
  // Each log's open waits on storage; count how many wait at once.
  let inFlight = 0;
  let most = 0;
  const slow = new Proxy(reopened, {
    get(target, prop, receiver) {
      if (prop !== 'log') {
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (name: string) => {
        const storage = target.log(name);
        const state = new Proxy(storage.state, {
          get(s, p, r) {
            if (p !== 'read') {
              const value = Reflect.get(s, p, r);
              return typeof value === 'function' ? value.bind(s) : value;
            }
            return async (key: string) => {
              inFlight++;
              most = Math.max(most, inFlight);
              await new Promise((res) => setTimeout(res, 5));
              inFlight--;
              return s.read(key);
            };
          },
        });
        return { ...storage, state };
      };
    },
  });
  const engine = await openTestEngine(slow);
  assert.equal(engine.listLogs().length, 40);
  assert.ok(most > 1 && most <= 8, `${most} logs opened at once`);
  await engine.close();
});
