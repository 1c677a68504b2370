// The search index is derived: a tampered or stale row is detected against the log's own leaf
// hashes, and `reindex` rebuilds it from the log.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { Engine } from './engine.js';
import { sampleEvent } from './test-helpers.js';

test('a tampered index row is found by checkIndex and repaired by reindex', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-index-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'index.sqlite');
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index: createSqliteIndex({ path }),
    originPrefix: 'test.example',
  });
  try {
    await engine.createLog('acme');
    await engine.append(
      'acme',
      Array.from({ length: 50 }, (_, i) => sampleEvent(i)),
    );
    assert.equal(await engine.checkIndex('acme'), undefined);

    const db = new Database(path);
    const changed = db
      .prepare("UPDATE events SET leaf_hash = zeroblob(32) WHERE json_extract(record, '$.index') = 17")
      .run().changes;
    db.close();
    assert.equal(changed, 1);
    assert.equal(await engine.checkIndex('acme'), 17);

    assert.equal(await engine.reindex('acme'), 50);
    assert.equal(await engine.checkIndex('acme'), undefined);
    const q = await engine.index.query('acme', { actor: 'user-1', limit: 100 });
    assert.deepEqual(
      q.events.map((e) => e.index),
      [1, 18, 35],
    );
  } finally {
    await engine.close();
  }
});
