/** The persisted alert windows stay bounded, and a damaged row is skipped rather than fatal. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { WindowStore } from './window-store.js';
import { WindowSum } from './windows.js';

test('the store keeps the most recently active subjects and forgets expired ones', () => {
  const store = new WindowStore(new Database(':memory:'));
  const w = new WindowSum(64_000, 3);
  for (let i = 0; i < 5; i++) w.add(`s${i}`, 1, 100_000 + i * 1000);
  store.save('w', w.takeChanges(105_000), 0, 3);
  assert.deepEqual(
    store.load('w', 0, 10).map((r) => r.subject),
    ['s2', 's3', 's4'],
    'in memory and on disk: the three most recent, least recent first',
  );
  store.save('w', [{ subject: 's9', lastMs: 200_000, state: '[[200000,1]]' }], 104_000, 3);
  assert.deepEqual(
    store.load('w', 0, 10).map((r) => r.subject),
    ['s4', 's9'],
  );
});

test('a damaged or expired stored window restores as empty', () => {
  const w = new WindowSum(64_000);
  w.restore('bad', '{not json', 100_000);
  w.restore('odd', '[["x",1],[1]]', 100_000);
  w.restore('old', '[[1000,50]]', 100_000);
  for (const s of ['bad', 'odd', 'old']) assert.equal(w.add(s, 1, 100_000), 1);
  w.restore('ok', '[[99000,7]]', 100_000);
  assert.equal(w.add('ok', 1, 100_000), 8);
});
