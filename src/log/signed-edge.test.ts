/**
 * loadSignedEdge (signed-edge.ts) checks the right edge of a signed tree: read errors pass through
 * as they are (they say nothing about the tree), each tile is read once so the edge kept is the
 * edge that made the root, and the last leaf is tied to the root even when a full tile holds it.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { StorageError } from '../storage/errors.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { BlobStore } from '../storage/types.js';
import { loadSignedEdge } from './signed-edge.js';
import { openTestEngine, sampleEvent } from './test-helpers.js';

/** The blobs of log `acme` holding `size` entries, and its signed root. */
async function tree(t: TestContext, size: number): Promise<{ blobs: BlobStore; rootHash: Uint8Array }> {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: size }, (_, i) => sampleEvent(i, 120)),
  );
  const cp = await engine.log('acme').integrate();
  assert.equal(cp.size, size);
  // Closing the engine closes the driver; the checks read its blobs first.
  t.after(() => engine.close());
  return { blobs: driver.log('acme').blobs, rootHash: cp.rootHash };
}

test('a read error is thrown as it is, not as missing or damaged data', async (t) => {
  const { blobs, rootHash } = await tree(t, 300);
  const failing = {
    get: async (key: string) => {
      if (key.startsWith('tile/1/')) throw new StorageError('storage.io', `EIO reading ${key}`);
      return blobs.get(key);
    },
  };
  await assert.rejects(loadSignedEdge('acme', failing, 300, rootHash), (err: StorageError) => {
    assert.equal(err.code, 'storage.io');
    return true;
  });
  // A tile that is absent is still `log.storage_behind`, naming it.
  const absent = { get: async (key: string) => (key.startsWith('tile/1/') ? undefined : blobs.get(key)) };
  await assert.rejects(loadSignedEdge('acme', absent, 300, rootHash), (err: StorageError) => {
    assert.equal(err.code, 'log.storage_behind');
    assert.match(err.message, /tile\/1\/000\.p\/1/);
    return true;
  });
});

test('each edge tile is read once: the tiles kept are the ones that made the root', async (t) => {
  const { blobs, rootHash } = await tree(t, 300);
  const reads = new Map<string, number>();
  const changing = {
    get: async (key: string) => {
      const n = (reads.get(key) ?? 0) + 1;
      reads.set(key, n);
      const bytes = await blobs.get(key);
      // A second read of a tile would see other bytes (a concurrent writer, a flaky disk).
      if (n > 1 && bytes !== undefined && key.startsWith('tile/') && !key.startsWith('tile/entries/')) {
        const other = Uint8Array.from(bytes);
        other[0]! ^= 1;
        return other;
      }
      return bytes;
    },
  };
  const edge = await loadSignedEdge('acme', changing, 300, rootHash);
  for (const [key, n] of reads) assert.equal(n, 1, `${key} read ${n} times`);
  const level0 = await blobs.get('tile/0/001.p/44');
  assert.deepEqual(edge.tiles.get(0), level0);
});

test('a last leaf in a full tile that does not lead to the signed root is refused', async (t) => {
  const { blobs, rootHash } = await tree(t, 512);
  const good = await loadSignedEdge('acme', blobs, 512, rootHash);
  assert.equal(good.tiles.size, 1); // level 1, two hashes; level 0 has no partial tile
  const damaged = {
    get: async (key: string) => {
      const bytes = await blobs.get(key);
      if (key !== 'tile/0/001' || bytes === undefined) return bytes;
      const other = Uint8Array.from(bytes);
      other[other.length - 1]! ^= 1; // the last leaf hash
      return other;
    },
  };
  await assert.rejects(loadSignedEdge('acme', damaged, 512, rootHash), (err: StorageError) => {
    assert.equal(err.code, 'log.inconsistent');
    // The operator learns which objects to look at.
    assert.match(err.message, /tile\/0\/001\b/);
    return true;
  });
});
