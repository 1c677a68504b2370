/** Conformance cases for StateStore, log listing and the driver lifecycle (see conformance.ts). */
import assert from 'node:assert/strict';
import { INVALID_KEYS } from './conformance-blobs.js';
import { bytes, type CaseDef, codeOf, rejectsWith, throwsWith } from './conformance-helpers.js';

const A = bytes('alpha');
const B = bytes('bravo');
const C = bytes('charlie');

/** Concurrent swaps from one expected version: exactly one wins, the rest conflict, the winner is stored. */
async function oneWinner(
  swap: (value: Uint8Array) => Promise<string>,
  read: () => Promise<{ value: Uint8Array; version: string } | undefined>,
): Promise<string> {
  const values = Array.from({ length: 8 }, (_, i) => bytes(`writer ${i}`));
  const results = await Promise.allSettled(values.map((v) => swap(v)));
  const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  assert.equal(winners.length, 1, 'exactly one compare-and-swap wins');
  for (const r of results) if (r.status === 'rejected') assert.equal(codeOf(r), 'storage.cas_conflict');
  const won = results[winners[0]!] as PromiseFulfilledResult<string>;
  assert.deepEqual(await read(), { value: values[winners[0]!], version: won.value });
  return won.value;
}

export const stateCases: CaseDef[] = [
  {
    id: 'state.create',
    title: 'read of a missing key is undefined; create-if-absent succeeds once',
    async run(s) {
      const state = s.driver.log('acme').state;
      assert.equal(await state.read('checkpoint'), undefined);
      const v1 = await state.compareAndSwap('checkpoint', undefined, A);
      assert.equal(typeof v1, 'string');
      assert.deepEqual(await state.read('checkpoint'), { value: A, version: v1 });
      await rejectsWith(() => state.compareAndSwap('checkpoint', undefined, B), 'storage.cas_conflict');
      assert.deepEqual(await state.read('checkpoint'), { value: A, version: v1 });
    },
  },
  {
    id: 'state.swap',
    title: 'a swap needs the current version; a stale or made-up one changes nothing',
    async run(s) {
      const state = s.driver.log('acme').state;
      const v1 = await state.compareAndSwap('integration/progress', undefined, A);
      const v2 = await state.compareAndSwap('integration/progress', v1, B);
      assert.notEqual(v2, v1);
      assert.deepEqual(await state.read('integration/progress'), { value: B, version: v2 });
      for (const stale of [v1, 'not-a-version', '', `${v2}0`]) {
        await rejectsWith(
          () => state.compareAndSwap('integration/progress', stale, C),
          'storage.cas_conflict',
        );
      }
      assert.deepEqual(await state.read('integration/progress'), { value: B, version: v2 });
      await rejectsWith(() => state.compareAndSwap('other', v2, C), 'storage.cas_conflict');
      assert.equal(await state.read('other'), undefined);
      const v3 = await state.compareAndSwap('integration/progress', v2, new Uint8Array(0));
      assert.deepEqual(await state.read('integration/progress'), { value: new Uint8Array(0), version: v3 });
      assert.ok(v3 !== v1 && v3 !== v2, 'versions never repeat');
    },
  },
  {
    id: 'state.concurrent',
    title: 'concurrent compare-and-swaps: exactly one winner, both for create and for update',
    async run(s) {
      const state = s.driver.log('acme').state;
      const read = () => state.read('checkpoint');
      const v = await oneWinner((value) => state.compareAndSwap('checkpoint', undefined, value), read);
      await oneWinner((value) => state.compareAndSwap('checkpoint', v, value), read);
    },
  },
  {
    id: 'state.separate',
    title: 'state keys are a namespace of their own, per log',
    async run(s) {
      const acme = s.driver.log('acme');
      await acme.blobs.put('checkpoint', A);
      await acme.state.compareAndSwap('checkpoint', undefined, B);
      await s.driver.log('other').state.compareAndSwap('checkpoint', undefined, C);
      assert.deepEqual(await acme.blobs.get('checkpoint'), A);
      assert.deepEqual((await acme.state.read('checkpoint'))?.value, B);
      assert.deepEqual(await acme.blobs.list(''), ['checkpoint']);
      // Reserved only for blobs: `state` is a fine state key.
      await acme.state.compareAndSwap('state', undefined, A);
    },
  },
  {
    id: 'state.invalid-keys',
    title: 'invalid state keys are refused before anything is touched',
    async run(s) {
      const state = s.driver.log('acme').state;
      for (const [key, why] of INVALID_KEYS) {
        await rejectsWith(() => state.read(key), 'storage.invalid_key', `read: ${why}`);
        await rejectsWith(
          () => state.compareAndSwap(key, undefined, A),
          'storage.invalid_key',
          `swap: ${why}`,
        );
      }
      assert.deepEqual(await s.driver.listLogs(), []);
    },
  },
];

export const driverCases: CaseDef[] = [
  {
    id: 'logs.list',
    title: 'listLogs names the logs that stored something, sorted',
    async run(s) {
      const d = s.driver;
      assert.deepEqual(await d.listLogs(), []);
      d.log('named-only');
      await d.log('beta').blobs.put('x', A);
      await d.log('alpha').state.compareAndSwap('k', undefined, A);
      await (await d.log('gamma').openJournal(0)).close();
      await d.log('_audit').blobs.put('x', A);
      assert.deepEqual(await d.listLogs(), ['_audit', 'alpha', 'beta', 'gamma']);
    },
  },
  {
    id: 'logs.names',
    title: 'log names follow DESIGN.md §1 (plus a leading _ for system logs)',
    async run(s) {
      for (const bad of [
        '',
        'A',
        'Acme',
        '-a',
        '.a',
        'a/b',
        'a b',
        '..',
        'a\\b',
        'a'.repeat(64),
        'caf\u00e9',
        '_',
        '__a',
        '_-a',
        `_${'a'.repeat(63)}`,
      ]) {
        throwsWith(() => s.driver.log(bad), 'storage.invalid_key');
      }
      for (const good of ['a'.repeat(63), '0', 'a.b-c_d', '_audit']) {
        await s.driver.log(good).blobs.put('x', A);
      }
      assert.deepEqual(await s.driver.listLogs(), ['0', '_audit', 'a.b-c_d', 'a'.repeat(63)]); // '.' 2e < 'a' 61
    },
  },
  {
    id: 'driver.persists',
    title: 'everything survives closing and reopening the storage',
    async run(s) {
      const log = s.driver.log('acme');
      await log.blobs.put('checkpoint', A);
      await log.blobs.put('tile/0/000', B, { immutable: true });
      const version = await log.state.compareAndSwap('checkpoint', undefined, C);
      const journal = await log.openJournal(0);
      await journal.append([A, B]);
      await s.driver.close();

      const d2 = await s.reopen();
      const again = d2.log('acme');
      assert.deepEqual(await again.blobs.get('checkpoint'), A);
      assert.deepEqual(await again.blobs.get('tile/0/000'), B);
      await rejectsWith(
        () => again.blobs.put('tile/0/000', A, { immutable: true }),
        'storage.immutable_conflict',
      );
      assert.deepEqual(await again.state.read('checkpoint'), { value: C, version });
      await again.state.compareAndSwap('checkpoint', version, A);
      const j2 = await again.openJournal(0);
      assert.equal(j2.start, 0);
      assert.equal(j2.end, 2);
      assert.deepEqual(await j2.read(0, 2), [A, B]);
      assert.deepEqual(await d2.listLogs(), ['acme']);
      await again.blobs.delete('tile/0/000', { retention: true });
    },
  },
  {
    id: 'driver.close',
    title: 'after close every call fails with storage.closed; closing twice is fine',
    async run(s) {
      const d = s.driver;
      const log = d.log('acme');
      await log.blobs.put('x', A);
      const journal = await log.openJournal(0);
      await journal.append([A]);
      await d.close();
      await rejectsWith(() => log.blobs.put('y', A), 'storage.closed');
      await rejectsWith(() => log.blobs.get('x'), 'storage.closed');
      await rejectsWith(() => log.blobs.list(''), 'storage.closed');
      await rejectsWith(() => log.blobs.delete('x'), 'storage.closed');
      await rejectsWith(() => log.state.read('k'), 'storage.closed');
      await rejectsWith(() => log.state.compareAndSwap('k', undefined, A), 'storage.closed');
      await rejectsWith(() => log.openJournal(0), 'storage.closed');
      await rejectsWith(() => journal.append([B]), 'storage.closed');
      await rejectsWith(() => journal.read(0, 1), 'storage.closed');
      await rejectsWith(() => journal.truncateBefore(1), 'storage.closed');
      await rejectsWith(() => d.listLogs(), 'storage.closed');
      throwsWith(() => d.log('acme'), 'storage.closed');
      await d.close();
      await journal.close();
    },
  },
];
