// The tiered store over two in-memory stores (the archive side stands in for S3; its S3 behaviour
// is tested against the real server in archiver.test.ts): local first, the archive only for sealed
// keys at or below the eviction watermark, and the blob contract across both tiers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rejectsWith } from '../storage/conformance-helpers.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { TieredBlobStore } from './tiered-blob-store.js';

const enc = new TextEncoder();
const A = enc.encode('alpha');
const B = enc.encode('bravo');

function setup(evicted: number) {
  const local = createMemoryDriver().log('acme').blobs;
  const remote = createMemoryDriver().log('acme').blobs;
  const asked: string[] = [];
  const archive = {
    getSealed: async (key: string) => {
      asked.push(key);
      return remote.get(key);
    },
    listSealed: (prefix: string) => remote.list(prefix),
  };
  const state = { evicted };
  const tiered = new TieredBlobStore({ local, archive, evictedSize: () => state.evicted });
  return { local, remote, tiered, asked, state };
}

test('reads: local first; the archive only for evicted sealed keys', async () => {
  const { local, remote, tiered, asked } = setup(512);
  await remote.put('tile/entries/000', A, { immutable: true }); // evicted (coverage 256)
  await remote.put('tile/entries/002', B, { immutable: true }); // coverage 768: above the watermark
  await remote.put('tile/0/000.p/5', B); // partial: never evicted
  await local.put('tile/entries/001', B, { immutable: true });
  assert.deepEqual(await tiered.get('tile/entries/000'), A);
  assert.deepEqual(await tiered.get('tile/entries/001'), B);
  assert.equal(await tiered.get('tile/entries/002'), undefined);
  assert.equal(await tiered.get('tile/0/000.p/5'), undefined);
  assert.equal(await tiered.get('checkpoint'), undefined);
  assert.deepEqual(asked, ['tile/entries/000'], 'the archive is asked only about the evicted key');
});

test('writes: an evicted object stays immutable (same bytes a no-op, others refused)', async () => {
  const { local, remote, tiered } = setup(256);
  await remote.put('checkpoints/00000000000000000200', A, { immutable: true });
  await tiered.put('checkpoints/00000000000000000200', A, { immutable: true });
  assert.equal(await local.get('checkpoints/00000000000000000200'), undefined, 'not written back locally');
  await rejectsWith(
    () => tiered.put('checkpoints/00000000000000000200', B, { immutable: true }),
    'storage.immutable_conflict',
  );
  await rejectsWith(() => tiered.put('checkpoints/00000000000000000200', B), 'storage.immutable_conflict');
  // Above the watermark writes go straight to the local store.
  await tiered.put('tile/entries/001', B, { immutable: true });
  assert.deepEqual(await local.get('tile/entries/001'), B);
  assert.equal(await remote.get('tile/entries/001'), undefined);
});

test('deletes: an evicted object needs retention; a retention delete touches the local tier only', async () => {
  const { remote, tiered } = setup(256);
  await remote.put('tile/0/000', A, { immutable: true });
  await rejectsWith(() => tiered.delete('tile/0/000'), 'storage.immutable_conflict');
  await tiered.delete('tile/0/000', { retention: true });
  assert.deepEqual(await remote.get('tile/0/000'), A, 'archived copies leave only by Object Lock expiry');
  await tiered.put('x', A);
  await tiered.delete('x');
  assert.equal(await tiered.get('x'), undefined);
});

test('list: the union of local keys and evicted archived keys, in byte order', async () => {
  const { local, remote, tiered, state } = setup(0);
  await remote.put('checkpoints/00000000000000000100', A, { immutable: true });
  await remote.put('checkpoints/00000000000000000300', A, { immutable: true });
  await local.put('checkpoints/00000000000000000300', A, { immutable: true });
  await local.put('checkpoints/00000000000000000400', A, { immutable: true });
  assert.deepEqual(await tiered.list('checkpoints/'), [
    'checkpoints/00000000000000000300',
    'checkpoints/00000000000000000400',
  ]);
  state.evicted = 300;
  assert.deepEqual(await tiered.list('checkpoints/'), [
    'checkpoints/00000000000000000100',
    'checkpoints/00000000000000000300',
    'checkpoints/00000000000000000400',
  ]);
  assert.deepEqual(await tiered.list('state/'), []);
  await rejectsWith(() => tiered.list('../'), 'storage.invalid_key');
});
