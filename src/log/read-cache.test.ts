/**
 * The read caches of an engine's logs share one bound (read-cache.ts): CacheBudget alone, and an
 * engine with two logs whose tiles and bundles together never exceed it while proofs and reads
 * stay correct.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashLeaf } from '../core/merkle.js';
import { verifyInclusion } from '../core/proof.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { Engine } from './engine.js';
import { CacheBudget } from './read-cache.js';
import { sampleEvent } from './test-helpers.js';

test('a budget evicts the oldest insertions of any map under it', () => {
  const budget = new CacheBudget(3);
  const a = new Map<string, number>();
  const b = new Map<number, string>();
  budget.set(a, 'x', 1);
  budget.set(b, 1, 'one');
  budget.set(a, 'y', 2);
  assert.deepEqual([a.size, b.size], [2, 1]);
  // A fourth insertion pushes out the oldest, whichever map holds it.
  budget.set(b, 2, 'two');
  assert.deepEqual([...a.keys()], ['y']);
  assert.deepEqual([...b.keys()], [1, 2]);
  // A replaced value takes a new slot; its old slot, when evicted, leaves the new value alone.
  budget.set(a, 'y', 20);
  assert.deepEqual([...b.keys()], [2]);
  budget.set(b, 3, 'three');
  assert.equal(a.get('y'), 20);
  assert.deepEqual([...b.keys()], [2, 3]);
  // A key the map dropped itself and set again is not removed through its stale slot.
  const c = new Map<string, number>();
  const small = new CacheBudget(2);
  small.set(c, 'A', 1);
  small.set(c, 'B', 2);
  c.delete('A'); // as the pruner drops a pruned bundle
  small.set(c, 'A', 3);
  assert.equal(c.get('A'), 3, 'the stale slot of A evicted the new A');
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new CacheBudget(bad), RangeError);
});

test('maps under one budget never hold more than its limit together (random operations)', () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const budget = new CacheBudget(50);
  const maps = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()];
  for (let i = 0; i < 20_000; i++) {
    const m = maps[rnd(3)]!;
    const op = rnd(10);
    if (op === 0) m.delete(rnd(200));
    else if (op === 1 && rnd(50) === 0) m.clear();
    else budget.set(m, rnd(200), i);
    const held = maps.reduce((n, x) => n + x.size, 0);
    assert.ok(held <= 50, `held ${held} entries at step ${i}`);
  }
  // The bound is reached, not merely respected by caching nothing.
  for (let k = 1000; k < 1100; k++) budget.set(maps[0]!, k, k);
  assert.equal(
    maps.reduce((n, x) => n + x.size, 0),
    50,
  );
});

test("an engine's logs share one read-cache bound; proofs and reads stay correct", async () => {
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'test.example',
    config: { integrator: { intervalMs: 60_000 } },
    readCache: { tiles: 12, bundles: 3 },
  });
  try {
    const names = ['alpha', 'beta'];
    const size = 10 * 256 + 17; // ten full level-0 tiles and bundles each, and an edge
    for (const name of names) {
      await engine.createLog(name);
      for (let i = 0; i < size; i += 500) {
        const n = Math.min(500, size - i);
        await engine.append(
          name,
          Array.from({ length: n }, (_, j) => sampleEvent(i + j, 200)),
        );
      }
      await engine.log(name).integrate();
    }
    const held = () => {
      let tiles = 0;
      let bundles = 0;
      for (const name of names) {
        const log = engine.log(name) as unknown as {
          proofs: { tileCache: Map<unknown, unknown>; proofTiles: Map<unknown, unknown> };
          bundleCache: Map<unknown, unknown>;
        };
        tiles += log.proofs.tileCache.size + log.proofs.proofTiles.size;
        bundles += log.bundleCache.size;
      }
      return { tiles, bundles };
    };
    let peak = { tiles: 0, bundles: 0 };
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const log = engine.log(name);
        const cp = log.latestCheckpoint();
        assert.equal(cp.size, size);
        for (let k = 0; k < 10; k++) {
          const index = ((k * 7 + round * 3) % 10) * 256 + k * 13;
          const [record] = await log.readRecords(index, index + 1);
          const proof = await log.inclusionProof(index, cp.size);
          verifyInclusion(index, cp.size, hashLeaf(record!), proof, cp.rootHash);
          const now = held();
          peak = { tiles: Math.max(peak.tiles, now.tiles), bundles: Math.max(peak.bundles, now.bundles) };
        }
      }
    }
    assert.ok(peak.tiles <= 12, `tile entries held ${peak.tiles} > 12`);
    assert.ok(peak.bundles <= 3, `bundles held ${peak.bundles} > 3`);
    // Both logs were read, so a per-log bound would have let them hold twice as much.
    assert.equal(peak.tiles, 12);
    assert.equal(peak.bundles, 3);
  } finally {
    await engine.close();
  }
});
