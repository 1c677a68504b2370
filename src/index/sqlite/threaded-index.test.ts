// The threaded index (writes on a worker, reads here) behaves like the plain one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AuditEvent } from '../../core/event.js';
import { hashLeaf } from '../../core/merkle.js';
import { buildRecord, formatTimestamp, ZERO_HASH } from '../../core/record.js';
import { extractRecordFields } from './record-fields.js';
import { createSearchIndex, ThreadedSqliteIndex } from './threaded-index.js';

function entries(from: number, n: number) {
  let prev = ZERO_HASH;
  const out = [];
  for (let i = 0; i < from + n; i++) {
    const event = { action: 'doc.read', actor: { id: `u${i % 3}` } } as AuditEvent;
    const r = buildRecord({
      log: 'acme',
      index: i,
      id: `e-${i}`,
      receivedAt: formatTimestamp(1_800_000_000_000 + i),
      prev,
      event,
    });
    prev = r.leafHash;
    if (i >= from) out.push({ index: i, leafHash: hashLeaf(r.bytes), record: r.text });
  }
  return out;
}

test('threaded index: adds on the worker are visible to synchronous reads once resolved', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-threaded-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const index = createSearchIndex({ path: join(dir, 'index.sqlite') });
  assert.ok(
    index instanceof ThreadedSqliteIndex,
    'a file path and the compiled worker give the threaded index',
  );
  try {
    await index.add('acme', entries(0, 10));
    assert.equal(index.coveredSize('acme'), 10);
    assert.equal(index.findById('acme', 'e-7')?.index, 7);
    const q = await index.query('acme', { actor: 'u1', limit: 10 });
    assert.deepEqual(
      q.events.map((e) => e.index),
      [1, 4, 7],
    );
    // Errors from the worker keep their codes.
    const other = entries(0, 11);
    other[5] = { ...other[5]!, leafHash: new Uint8Array(32) };
    await assert.rejects(index.add('acme', other), { code: 'index.conflict' });
    await assert.rejects(index.add('acme', [other[10]!, other[10]!]), { code: 'index.not_contiguous' });
    await index.reset('acme');
    assert.equal(index.coveredSize('acme'), 0);
  } finally {
    await index.close();
  }
});

test('an in-memory path falls back to the single-threaded index', async () => {
  const index = createSearchIndex({ path: ':memory:' });
  assert.ok(!(index instanceof ThreadedSqliteIndex));
  await index.close();
});

test('threaded index: derived fields travel to the worker and are used instead of parsing the record', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-threaded-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const index = createSearchIndex({ path: join(dir, 'index.sqlite') });
  assert.ok(index instanceof ThreadedSqliteIndex);
  try {
    const withDerived = (e: ReturnType<typeof entries>[number], word?: string) => {
      const i = e.index;
      const receivedAt = formatTimestamp(1_800_000_000_000 + i);
      const derived = index.deriveEvent({ action: 'doc.read', actor: { id: `u${i % 3}` } }) as {
        text: string;
      };
      // What the record itself gives, so the rows are right whichever path the worker takes...
      const { id: _id, receivedAt: _at, ...fromRecord } = extractRecordFields('acme', i, e.record);
      assert.deepEqual(derived, fromRecord);
      // ...except, if asked, one word only the derived fields carry: finding it proves they were used.
      const text = word ? `${derived.text} ${word}` : derived.text;
      return { ...e, id: `e-${i}`, receivedAt, derived: { ...derived, text } };
    };
    await index.add(
      'acme',
      entries(0, 4).map((e) => withDerived(e, e.index === 2 ? 'onlyderived' : undefined)),
    );
    assert.deepEqual(
      (await index.query('acme', { q: 'onlyderived' })).events.map((e) => e.index),
      [2],
    );
    assert.equal(index.findById('acme', 'e-3')?.index, 3);
    // A call where one entry lacks derived fields sends none: the worker parses every record, so
    // the word only the derived fields carry is not indexed, and every entry is (actor u1: 1, 4).
    const more = entries(4, 3);
    await index.add('acme', [more[0]!, withDerived(more[1]!, 'mixedword'), withDerived(more[2]!)]);
    assert.deepEqual((await index.query('acme', { q: 'mixedword' })).events, []);
    assert.deepEqual(
      (await index.query('acme', { actor: 'u1' })).events.map((e) => e.index),
      [1, 4],
    );
    assert.equal(index.findById('acme', 'e-4')?.index, 4);
  } finally {
    await index.close();
  }
});
