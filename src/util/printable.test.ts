// printable(): text from elsewhere is shown with its control and bidi characters escaped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from './printable.js';

test('C0, DEL, C1, line separators and bidi controls are escaped; the rest is kept', () => {
  assert.equal(printable('a\x1b[2K\r\n\x7f\x9bz'), 'a\\x1b[2K\\x0d\\x0a\\x7f\\x9bz');
  assert.equal(
    printable('x\u202ey\u2066\u2069\u200f\u061c\u2028'),
    'x\\u{202e}y\\u{2066}\\u{2069}\\u{200f}\\u{61c}\\u{2028}',
  );
  assert.equal(printable('Grüße, 日本, emoji 🙂, tab-free'), 'Grüße, 日本, emoji 🙂, tab-free');
});
