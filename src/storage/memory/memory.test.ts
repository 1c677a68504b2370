// The memory driver: the shared conformance suite, then fault injection and crash views.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defineStorageConformance } from '../conformance.js';
import { StorageError } from '../errors.js';
import type { LogStorage } from '../types.js';
import { type FaultCall, type FaultOp, failAt, recordCalls } from './faults.js';
import { createMemoryDriver, type MemoryDriver } from './memory-driver.js';

defineStorageConformance('memory', async () => {
  let driver: MemoryDriver = createMemoryDriver();
  return {
    driver,
    async reopen() {
      await driver.close();
      driver = driver.crash();
      return driver;
    },
    async dispose() {
      await driver.close();
    },
  };
});

const enc = new TextEncoder();
const A = enc.encode('alpha');
const B = enc.encode('bravo');

function isInjected(decision: string) {
  return (err: unknown) =>
    err instanceof StorageError &&
    err.code === 'storage.io' &&
    err.details?.injected === true &&
    err.details.decision === decision;
}

/** One mutating call per op, on a log prepared so that the call would change something. */
const OPS: ReadonlyArray<{
  op: FaultOp;
  prepare(log: LogStorage): Promise<void>;
  act(log: LogStorage): Promise<unknown>;
  /** What a restart finds: true when the effect was persisted. */
  persisted(log: LogStorage): Promise<boolean>;
}> = [
  {
    op: 'put',
    prepare: async () => {},
    act: (log) => log.blobs.put('tile/0/000', A, { immutable: true }),
    persisted: async (log) => (await log.blobs.get('tile/0/000')) !== undefined,
  },
  {
    op: 'delete',
    prepare: (log) => log.blobs.put('checkpoint', A),
    act: (log) => log.blobs.delete('checkpoint'),
    persisted: async (log) => (await log.blobs.get('checkpoint')) === undefined,
  },
  {
    op: 'compareAndSwap',
    prepare: async () => {},
    act: (log) => log.state.compareAndSwap('checkpoint', undefined, B),
    persisted: async (log) => (await log.state.read('checkpoint')) !== undefined,
  },
  {
    op: 'append',
    prepare: async () => {},
    act: async (log) => (await log.openJournal(0)).append([A, B]),
    persisted: async (log) => (await log.openJournal(0)).end === 2,
  },
  {
    op: 'truncateBefore',
    prepare: async (log) => (await log.openJournal(0)).append([A, B]),
    act: async (log) => (await log.openJournal(0)).truncateBefore(2),
    persisted: async (log) => (await log.openJournal(0)).start === 2,
  },
];

describe('memory driver fault injection', () => {
  for (const { op, prepare, act, persisted } of OPS) {
    for (const decision of ['fail-before', 'fail-after'] as const) {
      test(`${op}: ${decision} rejects, and a crash view ${decision === 'fail-after' ? 'has' : 'lacks'} the effect`, async () => {
        const d = createMemoryDriver({
          faults: (c) => (c.op === op && c.log === 'acme' ? decision : 'proceed'),
        });
        const log = d.log('acme');
        await prepare(log);
        await assert.rejects(act(log), isInjected(decision));
        const after = d.crash().log('acme');
        assert.equal(await persisted(after), decision === 'fail-after');
      });
    }
  }

  test('the hook sees every validated mutating call, numbered, with its details', async () => {
    const calls: FaultCall[] = [];
    const d = createMemoryDriver({ faults: recordCalls(calls) });
    const log = d.log('acme');
    await log.blobs.put('tile/0/000', A, { immutable: true });
    await assert.rejects(log.blobs.put('../x', A), { code: 'storage.invalid_key' });
    await log.blobs.get('tile/0/000');
    await log.state.compareAndSwap('checkpoint', undefined, A);
    const j = await log.openJournal(5);
    await j.append([A, B]);
    await j.truncateBefore(6);
    await log.blobs.delete('tile/0/000', { retention: true });
    assert.deepEqual(calls, [
      { seq: 1, op: 'put', log: 'acme', key: 'tile/0/000', immutable: true },
      { seq: 2, op: 'compareAndSwap', log: 'acme', key: 'checkpoint' },
      { seq: 3, op: 'append', log: 'acme', index: 5, records: 2 },
      { seq: 4, op: 'truncateBefore', log: 'acme', index: 6 },
      { seq: 5, op: 'delete', log: 'acme', key: 'tile/0/000', retention: true },
    ]);
    assert.equal(d.calls, 5);
  });

  test('after a failed append the journal refuses calls until reopened', async () => {
    for (const decision of ['fail-before', 'fail-after'] as const) {
      const d = createMemoryDriver({ faults: failAt(2, decision) });
      const j = await d.log('acme').openJournal(0);
      await j.append([A]);
      await assert.rejects(j.append([B]), isInjected(decision));
      await assert.rejects(j.append([B]), { code: 'storage.closed' });
      await assert.rejects(j.read(0, 1), { code: 'storage.closed' });
      const reopened = await d.log('acme').openJournal(0);
      assert.equal(reopened.end, decision === 'fail-after' ? 2 : 1);
    }
  });

  test('crash(): the old driver and its journals are dead, the new one sees what was persisted', async () => {
    const d = createMemoryDriver();
    const log = d.log('acme');
    const j = await log.openJournal(0);
    await j.append([A]);
    await log.blobs.put('checkpoint', A);
    const d2 = d.crash();
    await assert.rejects(log.blobs.get('checkpoint'), { code: 'storage.closed' });
    await assert.rejects(j.append([B]), { code: 'storage.closed' });
    assert.throws(() => d.log('acme'), { code: 'storage.closed' });
    assert.deepEqual(await d2.log('acme').blobs.get('checkpoint'), A);
    assert.deepEqual(await (await d2.log('acme').openJournal(0)).read(0, 1), [A]);
  });

  test('snapshots are deep copies and seed new drivers', async () => {
    const d = createMemoryDriver();
    await d.log('acme').blobs.put('k', A);
    const snap = d.snapshot();
    await d.log('acme').blobs.put('k', B);
    await d.log('acme').blobs.put('k2', B);
    const fromSnap = createMemoryDriver({ state: snap });
    assert.deepEqual(await fromSnap.log('acme').blobs.get('k'), A);
    assert.equal(await fromSnap.log('acme').blobs.get('k2'), undefined);
    await fromSnap.log('acme').blobs.put('k', enc.encode('charlie'));
    assert.deepEqual(await createMemoryDriver({ state: snap }).log('acme').blobs.get('k'), A);
  });

  test('crash at every call of a small workload leaves a consistent state', async () => {
    // The engine's crash tests do this at scale: count the calls, then fail each one in turn.
    async function workload(d: MemoryDriver): Promise<void> {
      const log = d.log('acme');
      const j = await log.openJournal(0);
      await j.append([A, B]);
      await log.blobs.put('tile/entries/000.p/2', A);
      const v = await log.state.compareAndSwap('checkpoint', undefined, A);
      await log.state.compareAndSwap('checkpoint', v, B);
      await j.truncateBefore(2);
    }
    const counter = createMemoryDriver();
    await workload(counter);
    assert.equal(counter.calls, 5);
    for (let seq = 1; seq <= counter.calls; seq++) {
      for (const decision of ['fail-before', 'fail-after'] as const) {
        const d = createMemoryDriver({ faults: failAt(seq, decision) });
        await assert.rejects(workload(d), isInjected(decision));
        const log = d.crash().log('acme');
        const j = await log.openJournal(0);
        // Each effect is present exactly when its call persisted (before the failing one, or it with fail-after).
        const done = decision === 'fail-after' ? seq : seq - 1;
        assert.equal(j.end, done >= 1 ? 2 : 0, `seq ${seq} ${decision}`);
        assert.equal((await log.blobs.get('tile/entries/000.p/2')) !== undefined, done >= 2);
        assert.deepEqual(
          (await log.state.read('checkpoint'))?.value,
          done >= 4 ? B : done >= 3 ? A : undefined,
        );
        assert.equal(j.start, done >= 5 ? 2 : 0);
      }
    }
  });
});
