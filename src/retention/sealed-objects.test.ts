// Which keys are sealed and how far each reaches. Expected values come from the tlog-tiles path
// rules (C2SP tlog-tiles: `tile/<L>/<N>` holds 256 hashes of level 8·L; `x001/234` encodes 1234)
// and, for the enumeration, from the core tile census (allTiles), not from the code under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { allTiles, entriesPath, TILE_WIDTH, tilePath } from '../core/tile.js';
import { RetentionError } from './errors.js';
import { historySize, noteSize, recordTime, sealedCoverage, sealedTileKeys } from './sealed-objects.js';

test('coverage of sealed keys; other keys are not sealed', () => {
  const table: Array<[string, number | undefined]> = [
    ['tile/entries/000', 256],
    ['tile/entries/x001/234', 1235 * 256],
    ['tile/0/000', 256],
    ['tile/0/x001/234', 1235 * 256],
    ['tile/1/000', 65_536],
    ['tile/2/001', 2 * 256 ** 3],
    ['checkpoints/00000000000000000300', 300],
    ['checkpoints/00000000000000000000', 0],
    // Not sealed: partial objects, the latest checkpoint, non-canonical spellings.
    ['tile/0/000.p/5', undefined],
    ['tile/entries/001.p/255', undefined],
    ['checkpoint', undefined],
    ['checkpoints/300', undefined],
    ['checkpoints/000000000000000000300', undefined],
    ['tile/0/x000/001', undefined],
    ['tile/0/1', undefined],
    ['other', undefined],
  ];
  for (const [key, want] of table) assert.equal(sealedCoverage(key), want, key);
  assert.equal(historySize('checkpoints/00000000000000001234'), 1234);
  assert.equal(historySize('tile/entries/000'), undefined);
});

/** Full tiles and bundles of a tree, from the core census. */
function fullObjects(size: number): Set<string> {
  const keys = new Set<string>();
  for (const ref of allTiles(size)) {
    if (ref.width !== TILE_WIDTH) continue;
    keys.add(tilePath(ref));
    if (ref.level === 0) keys.add(entriesPath(ref.index));
  }
  return keys;
}

test('sealedTileKeys lists exactly the full objects gained between two sizes (fast-check)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 0, max: 300_000 }), (x, y) => {
      const [from, to] = x <= y ? [x, y] : [y, x];
      const got = [...sealedTileKeys(from, to)];
      const before = fullObjects(from);
      const want = [...fullObjects(to)].filter((k) => !before.has(k)).sort();
      assert.deepEqual(got.map((o) => o.key).sort(), want);
      for (const o of got) assert.equal(o.coverage, sealedCoverage(o.key));
    }),
    { numRuns: 60 },
  );
  // A level-1 tile comes right after the bundle that completes it.
  const keys = [...sealedTileKeys(65_280, 65_536)].map((o) => o.key);
  assert.deepEqual(keys, ['tile/entries/255', 'tile/0/255', 'tile/1/000']);
});

test('noteSize reads the tree size line of a note; anything else is a bad local object', () => {
  assert.equal(noteSize(new TextEncoder().encode('example.com/log\n1287\nAAAA\n\n— sig\n'), 'n'), 1287);
  for (const text of ['', 'origin\n', 'origin\n01\nroot\n', 'origin\nx\n', 'origin\n99999999999999999\n']) {
    assert.throws(
      () => noteSize(new TextEncoder().encode(text), 'n'),
      (e) => e instanceof RetentionError && e.code === 'retention.bad_local_object',
      JSON.stringify(text),
    );
  }
});

test("recordTime returns a record's received_at; undatable records are refused", () => {
  const rec = (at: string) => new TextEncoder().encode(JSON.stringify({ received_at: at, v: 1 }));
  assert.equal(recordTime(rec('2026-11-27T07:00:00.123Z'), 'k'), Date.UTC(2026, 10, 27, 7, 0, 0, 123));
  assert.equal(recordTime(rec('2026-11-27T07:00:01.000Z'), 'k'), Date.UTC(2026, 10, 27, 7, 0, 1));
  for (const bad of [rec('yesterday'), new TextEncoder().encode('{'), new TextEncoder().encode('{"v":1}')]) {
    assert.throws(
      () => recordTime(bad, 'k'),
      (e) => e instanceof RetentionError && e.code === 'retention.bad_local_object',
    );
  }
});
