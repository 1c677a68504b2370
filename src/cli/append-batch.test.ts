/**
 * `indelible append` cuts its batches at 4 MiB of UTF-8 (the server takes 10 MiB per request): a
 * file of 3-byte characters counted in UTF-16 units made 12 MiB batches that the server refused
 * with 413 on every rerun.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextEvents } from './append.js';
import type { SourceEvent } from './append-source.js';

async function* events(n: number, text: string): AsyncGenerator<SourceEvent> {
  for (let i = 0; i < n; i++) yield { text, line: i + 1 };
}

test('batches are cut by UTF-8 bytes, not characters', async () => {
  // 1,000 events of 1,500 CJK characters: 4,500 bytes (+ a newline) each, 1,500 UTF-16 units.
  const text = `{"action":"a","actor":{"id":"${'漢'.repeat(1500)}"}}`;
  const perEvent = Buffer.byteLength(text) + 1;
  const batch = await nextEvents(events(1000, text)[Symbol.asyncIterator](), 10_000);
  // The batch stops at the first event that reaches 4 MiB of bytes.
  assert.equal(batch.length, Math.ceil((4 << 20) / perEvent));
  assert.ok(batch.length * perEvent < (4 << 20) + perEvent);
  // ASCII is unchanged: the byte count is the character count.
  const ascii = `{"action":"a","actor":{"id":"${'x'.repeat(4000)}"}}`;
  const plain = await nextEvents(events(2000, ascii)[Symbol.asyncIterator](), 10_000);
  assert.equal(plain.length, Math.ceil((4 << 20) / (ascii.length + 1)));
});
