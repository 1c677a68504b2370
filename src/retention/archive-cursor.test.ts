// The persisted archive cursor: round trip with compare-and-swap, and defensive parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rejectsWith } from '../storage/conformance-helpers.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { type ArchiveCursor, CURSOR_KEY, CursorStore, parseCursor } from './archive-cursor.js';
import { RetentionError } from './errors.js';

const cursor: ArchiveCursor = {
  v: 1,
  bucket: 'b',
  prefix: 'p',
  sealed: 512,
  archived: 600,
  evicted: 256,
  clean: 0,
};

test('a cursor survives a reload; a second writer conflicts', async () => {
  const state = createMemoryDriver().log('acme').state;
  const one = new CursorStore(state);
  assert.equal(await one.load(), undefined);
  await one.save(cursor);
  const two = new CursorStore(state);
  assert.deepEqual(await two.load(), cursor);
  await one.save({ ...cursor, clean: 256 });
  await rejectsWith(() => two.save({ ...cursor, sealed: 768 }), 'storage.cas_conflict');
  assert.equal((await new CursorStore(state).load())?.clean, 256);
  assert.equal(CURSOR_KEY, 'archive/cursor');
});

test('a damaged cursor is refused, never trusted', () => {
  const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
  const bad: unknown[] = [
    '{',
    '\u00ff',
    null,
    [],
    { ...cursor, v: 2 },
    { ...cursor, bucket: 7 },
    { ...cursor, sealed: -1 },
    { ...cursor, archived: 1.5 },
    { ...cursor, evicted: 2 ** 53 },
    { ...cursor, clean: 300 }, // clean beyond evicted
    { ...cursor, evicted: 768 }, // evicted beyond sealed
  ];
  for (const value of bad) {
    assert.throws(
      () => parseCursor(enc(value)),
      (e) => e instanceof RetentionError && e.code === 'retention.bad_local_object',
      JSON.stringify(value),
    );
  }
  assert.deepEqual(parseCursor(enc(cursor)), cursor);
});
