/** Conformance cases for BlobStore (see conformance.ts). */
import assert from 'node:assert/strict';
import { bytes, type CaseDef, codeOf, rejectsWith } from './conformance-helpers.js';

const A = bytes('alpha');
const B = bytes('bravo');

/**
 * Keys the contract forbids (types.ts: `/`-separated `[A-Za-z0-9._-]` segments, no empty, `.` or
 * `..` segment, at most 512 characters with segments of at most 200).
 */
export const INVALID_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['', 'empty key'],
  ['/a', 'leading slash'],
  ['a/', 'trailing slash'],
  ['a//b', 'empty segment'],
  ['.', 'dot segment'],
  ['..', 'dot-dot segment'],
  ['../a', 'traversal at the start'],
  ['a/../b', 'traversal in the middle'],
  ['a/./b', 'dot segment in the middle'],
  ['a\\b', 'backslash'],
  ['..\\a', 'backslash traversal'],
  ['a\u0000b', 'NUL'],
  ['a b', 'space'],
  ['a\nb', 'newline'],
  ['caf\u00e9', 'non-ASCII'],
  ['a:b', 'colon'],
  ['x'.repeat(513), 'longer than 512 characters'],
  [`a/${'x'.repeat(201)}`, 'segment longer than 200 characters'],
];

/** Unusual keys the contract allows. */
export const VALID_EDGE_KEYS: readonly string[] = [
  '.a',
  '..a',
  'a..b',
  '-',
  '_',
  'x'.repeat(200),
  `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(110)}`, // exactly 512
];

/** Keys in ascending byte order ('-' 2d < '.' 2e < '/' 2f < '0' 30 < 'A' 41 < '_' 5f < 'a' 61). */
const SORTED_KEYS = [
  'A',
  'a-b',
  'a.b',
  'a/b',
  'a0',
  'aB',
  'a_b',
  'ab',
  'checkpoint',
  'stats',
  'tile/0/001',
  'tile/0/001.p/5',
  'tile/0/x001/234',
  'tile/1/000',
  'tile/entries/000',
  'tile/entries/000.p/5',
];

const PREFIX_TABLE: ReadonlyArray<readonly [string, string[]]> = [
  ['', SORTED_KEYS],
  ['tile/', SORTED_KEYS.slice(10)],
  ['tile/0/', ['tile/0/001', 'tile/0/001.p/5', 'tile/0/x001/234']],
  ['tile/0/00', ['tile/0/001', 'tile/0/001.p/5']],
  ['tile/0/001.p/', ['tile/0/001.p/5']],
  ['tile/entries/000', ['tile/entries/000', 'tile/entries/000.p/5']],
  ['a', ['a-b', 'a.b', 'a/b', 'a0', 'aB', 'a_b', 'ab']],
  ['a/', ['a/b']],
  ['stat', ['stats']],
  ['state', []],
  ['journal/', []],
  ['checkpoint/', []],
  ['nothing/', []],
  ['zzz', []],
];

export const blobCases: CaseDef[] = [
  {
    id: 'blob.round-trip',
    title: 'put then get returns exactly the bytes, binary and empty included',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      await blobs.put('tile/0/000', binary);
      await blobs.put('empty', new Uint8Array(0));
      assert.deepEqual(await blobs.get('tile/0/000'), binary);
      assert.deepEqual(await blobs.get('empty'), new Uint8Array(0));
    },
  },
  {
    id: 'blob.copies',
    title: 'stored bytes are independent of the caller buffers',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      const data = bytes('original');
      await blobs.put('k', data);
      data.fill(0);
      const got = await blobs.get('k');
      assert.deepEqual(got, bytes('original'));
      got!.fill(0);
      assert.deepEqual(await blobs.get('k'), bytes('original'));
    },
  },
  {
    id: 'blob.missing',
    title: 'get of a missing key or of a folder is undefined',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      assert.equal(await blobs.get('tile/0/000'), undefined);
      await blobs.put('tile/0/000', A);
      assert.equal(await blobs.get('tile/0'), undefined);
      assert.equal(await blobs.get('tile/0/000/x'), undefined);
    },
  },
  {
    id: 'blob.list',
    title: 'list returns the keys with a prefix in ascending byte order, never state or journal',
    async run(s) {
      const log = s.driver.log('acme');
      await log.state.compareAndSwap('checkpoint', undefined, A);
      const journal = await log.openJournal(0);
      await journal.append([A]);
      for (const k of [...SORTED_KEYS].reverse()) await log.blobs.put(k, bytes(k));
      for (const [prefix, expected] of PREFIX_TABLE) {
        assert.deepEqual(await log.blobs.list(prefix), expected, `prefix ${JSON.stringify(prefix)}`);
      }
      assert.deepEqual(await s.driver.log('other').blobs.list(''), []);
      await journal.close();
    },
  },
  {
    id: 'blob.list-invalid-prefix',
    title: 'list refuses prefixes that no key could start with',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      for (const p of ['/', '/tile', '../', 'a/../', 'a//', 'a\\b', 'a\u0000', 'a b', 'x'.repeat(513)]) {
        await rejectsWith(() => blobs.list(p), 'storage.invalid_key');
      }
    },
  },
  {
    id: 'blob.overwrite',
    title: 'a mutable put replaces the previous object',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      await blobs.put('checkpoint', A);
      await blobs.put('checkpoint', B);
      assert.deepEqual(await blobs.get('checkpoint'), B);
      assert.deepEqual(await blobs.list(''), ['checkpoint']);
    },
  },
  {
    id: 'blob.immutable',
    title: 'an immutable object accepts identical rewrites and refuses any change',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      await blobs.put('tile/0/000', A, { immutable: true });
      await blobs.put('tile/0/000', A, { immutable: true });
      await rejectsWith(() => blobs.put('tile/0/000', B, { immutable: true }), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('tile/0/000'), A);
      await rejectsWith(() => blobs.put('tile/0/000', B), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('tile/0/000'), A);
      await blobs.put('tile/0/000', A); // same bytes: nothing would change
      await rejectsWith(() => blobs.delete('tile/0/000'), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('tile/0/000'), A);
      await blobs.delete('tile/0/000', { retention: true });
    },
  },
  {
    id: 'blob.immutable-over-mutable',
    title: 'an immutable put over a mutable object: other bytes refused, same bytes seal it',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      await blobs.put('tile/0/000', A);
      await rejectsWith(() => blobs.put('tile/0/000', B, { immutable: true }), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('tile/0/000'), A);
      await blobs.put('tile/0/000', A, { immutable: true });
      await rejectsWith(() => blobs.put('tile/0/000', B), 'storage.immutable_conflict');
      await rejectsWith(() => blobs.delete('tile/0/000'), 'storage.immutable_conflict');
      await blobs.delete('tile/0/000', { retention: true });
    },
  },
  {
    id: 'blob.concurrent-immutable',
    title: 'concurrent immutable puts of different bytes: exactly one wins',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      const values = Array.from({ length: 6 }, (_, i) => bytes(`value ${i}`));
      const results = await Promise.allSettled(
        values.map((v) => blobs.put('tile/0/000', v, { immutable: true })),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1);
      for (const r of results)
        if (r.status === 'rejected') assert.equal(codeOf(r), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('tile/0/000'), values[winners[0]!]);
      await blobs.delete('tile/0/000', { retention: true });
    },
  },
  {
    id: 'blob.delete',
    title: 'delete removes mutable objects, is a no-op when missing, needs retention for immutable ones',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      await blobs.put('x', A);
      await blobs.delete('x');
      assert.equal(await blobs.get('x'), undefined);
      assert.deepEqual(await blobs.list(''), []);
      await blobs.delete('x');
      await blobs.delete('never/written');
      await blobs.put('y', A);
      await blobs.delete('y', { retention: true });
      assert.equal(await blobs.get('y'), undefined);
      await blobs.put('sealed', A, { immutable: true });
      await rejectsWith(() => blobs.delete('sealed'), 'storage.immutable_conflict');
      assert.deepEqual(await blobs.get('sealed'), A);
      await blobs.delete('sealed', { retention: true });
      assert.equal(await blobs.get('sealed'), undefined);
      await blobs.put('sealed', B, { immutable: true });
      assert.deepEqual(await blobs.get('sealed'), B);
      await blobs.delete('sealed', { retention: true });
    },
  },
  {
    id: 'blob.invalid-keys',
    title: 'invalid and reserved keys are refused before anything is touched',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      const reserved = ['state', 'state/checkpoint', 'journal', 'journal/x'];
      for (const [key, why] of [...INVALID_KEYS, ...reserved.map((k) => [k, 'reserved'] as const)]) {
        await rejectsWith(() => blobs.put(key, A), 'storage.invalid_key', `put: ${why}`);
        await rejectsWith(() => blobs.put(key, A, { immutable: true }), 'storage.invalid_key', `put: ${why}`);
        await rejectsWith(() => blobs.get(key), 'storage.invalid_key', `get: ${why}`);
        await rejectsWith(
          () => blobs.delete(key, { retention: true }),
          'storage.invalid_key',
          `delete: ${why}`,
        );
      }
      await rejectsWith(() => blobs.put(42 as unknown as string, A), 'storage.invalid_key');
      assert.deepEqual(await s.driver.listLogs(), []);
    },
  },
  {
    id: 'blob.valid-edge-keys',
    title: 'unusual but valid keys round-trip',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      for (const key of VALID_EDGE_KEYS) {
        await blobs.put(key, bytes(key));
        assert.deepEqual(await blobs.get(key), bytes(key));
      }
      assert.deepEqual(await blobs.list(''), [...VALID_EDGE_KEYS].sort());
    },
  },
  {
    id: 'blob.folder-collision',
    title: 'a key cannot be both an object and the folder of another',
    async run(s) {
      const blobs = s.driver.log('acme').blobs;
      await blobs.put('a/b', A);
      await rejectsWith(() => blobs.put('a', B), 'storage.invalid_key');
      await rejectsWith(() => blobs.put('a', B, { immutable: true }), 'storage.invalid_key');
      await blobs.delete('a');
      assert.deepEqual(await blobs.get('a/b'), A);
      await blobs.put('c', A);
      await rejectsWith(() => blobs.put('c/d', B), 'storage.invalid_key');
      assert.equal(await blobs.get('c/d'), undefined);
      assert.deepEqual(await blobs.get('c'), A);
      assert.deepEqual(await blobs.list(''), ['a/b', 'c']);
    },
  },
];
