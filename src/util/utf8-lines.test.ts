import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidUtf8Error, Utf8Lines } from './utf8-lines.js';

/** Every line of `bytes` read in chunks of `size` bytes (the last one unterminated, if any). */
function read(bytes: Uint8Array, size: number): string[] {
  const lines = new Utf8Lines();
  const out: string[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...lines.push(bytes.subarray(at, at + size)));
  const last = lines.end();
  if (last !== undefined) out.push(last);
  return out;
}

test('lines come out the same however the bytes are cut, multi-byte characters and a BOM included', () => {
  const text = '\uFEFFa漢\n\nb€😀c\r\n漢漢\nend';
  const bytes = new TextEncoder().encode(text);
  for (const size of [1, 2, 3, 5, 7, 64]) {
    assert.deepEqual(read(bytes, size), ['a漢', '', 'b€😀c\r', '漢漢', 'end'], `chunks of ${size}`);
  }
  assert.deepEqual(read(new TextEncoder().encode('x\n'), 1), ['x']);
});

test('invalid UTF-8 names its line, whichever chunk it is in', () => {
  const good = new TextEncoder().encode('one\ntwo\nthree\n');
  const bytes = new Uint8Array([...good, 0x66, 0xc3, 0x28, 0x0a, ...good]);
  for (const size of [1, 3, 4, 1000]) {
    assert.throws(
      () => read(bytes, size),
      (err: unknown) => err instanceof InvalidUtf8Error && err.line === 4,
      `chunks of ${size}`,
    );
  }
  // A character cut off by the end of the input.
  assert.throws(
    () => read(new Uint8Array([...good, 0xe6, 0xbc]), 2),
    (err: unknown) => err instanceof InvalidUtf8Error && err.line === 4,
  );
});
