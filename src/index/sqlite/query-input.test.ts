// Query validation, cursors and timestamp normalization of the search index. Expected values are
// worked out by hand from RFC 3339 §5.6 (date-time grammar, §5.7 leap seconds) and from the
// documented contract in src/index/types.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isIndelibleError } from '../../core/errors.js';
import type { EventQuery } from '../types.js';
import {
  checkLogName,
  decodeCursor,
  encodeCursor,
  normalizeQuery,
  normalizeTimestamp,
} from './query-input.js';

test('normalizeTimestamp: RFC 3339 date-times to UTC with nine fraction digits', () => {
  const cases: Array<[string, string | undefined]> = [
    ['2026-11-27T07:00:00.123Z', '2026-11-27T07:00:00.123000000Z'],
    ['2026-11-27T07:00:00Z', '2026-11-27T07:00:00.000000000Z'],
    ['2026-11-27t07:00:00z', '2026-11-27T07:00:00.000000000Z'],
    ['2026-11-27T07:00:00.123456789Z', '2026-11-27T07:00:00.123456789Z'],
    ['2026-11-27T08:30:00.5+01:30', '2026-11-27T07:00:00.500000000Z'],
    ['2026-11-27T02:00:00-05:00', '2026-11-27T07:00:00.000000000Z'],
    ['2026-12-31T23:30:00-01:00', '2027-01-01T00:30:00.000000000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000000000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000000000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000000000Z'],
    ['0050-06-01T00:00:00+00:00', '0050-06-01T00:00:00.000000000Z'],
    // RFC 3339 §5.7: a leap second is the instant before the next minute; we count it as that minute.
    ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000000000Z'],
    ['2026-02-29T00:00:00Z', undefined],
    ['1900-02-29T00:00:00Z', undefined],
    ['2026-04-31T00:00:00Z', undefined],
    ['2026-13-01T00:00:00Z', undefined],
    ['2026-00-01T00:00:00Z', undefined],
    ['2026-11-27T24:00:00Z', undefined],
    ['2026-11-27T07:60:00Z', undefined],
    ['2026-11-27T07:00:61Z', undefined],
    ['2026-11-27T07:00:00+24:00', undefined],
    ['2026-11-27T07:00:00', undefined],
    ['2026-11-27 07:00:00Z', undefined],
    ['2026-11-27', undefined],
    ['2026-11-27T07:00:00.Z', undefined],
    ['2026-11-27T07:00:00.1234567890Z', undefined],
    ['0000-01-01T00:30:00+01:00', undefined],
    ['9999-12-31T23:30:00-01:00', undefined],
    ['yesterday', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) assert.equal(normalizeTimestamp(input), expected, input);
});

test('normalizeTimestamp preserves time order as string order', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 253402300799999 }),
      fc.integer({ min: 0, max: 253402300799999 }),
      (a, b) => {
        const ta = normalizeTimestamp(new Date(a).toISOString())!;
        const tb = normalizeTimestamp(new Date(b).toISOString())!;
        assert.equal(Math.sign(a - b), ta < tb ? -1 : ta > tb ? 1 : 0);
      },
    ),
  );
});

test('normalizeQuery: defaults and normalized fields', () => {
  const q = normalizeQuery({});
  assert.equal(q.limit, 100);
  assert.equal(q.order, 'asc');
  assert.equal(q.after, undefined);
  const r = normalizeQuery({
    actor: 'alice',
    action: 'document.*',
    target: 'doc-1',
    outcome: 'denied',
    since: '2026-11-27T08:00:00+01:00',
    until: '2026-11-27T08:00:00Z',
    q: '  alice@example.com   "plan ',
    limit: 1000,
    order: 'desc',
  });
  assert.deepEqual(r.action, { prefix: 'document.' });
  assert.equal(r.since, '2026-11-27T07:00:00.000000000Z');
  assert.equal(r.until, '2026-11-27T08:00:00.000000000Z');
  assert.deepEqual(r.words, ['alice@example.com', '"plan']);
  assert.deepEqual(normalizeQuery({ action: 'user.login' }).action, { exact: 'user.login' });
  // A bare '*' is every action: no filter at all.
  assert.equal(normalizeQuery({ action: '*' }).action, undefined);
  // Lengths count characters (code points) as event validation does: an actor id of 1024 emoji
  // (2048 UTF-16 code units) is a valid event's, so it must be searchable.
  const emoji = '\u{1F600}'.repeat(1024);
  assert.equal(normalizeQuery({ actor: emoji, target: emoji }).actor, emoji);
  const script = '\u{1D49C}'.repeat(1024); // a letter outside the BMP, so a word of q
  assert.deepEqual(normalizeQuery({ q: script }).words, [script]);
});

test('normalizeQuery rejects malformed fields with index.invalid_query naming the field', () => {
  const cases: Array<[string, unknown, string]> = [
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 1001', { limit: 1001 }, 'limit'],
    ['limit 1.5', { limit: 1.5 }, 'limit'],
    ['limit as a string', { limit: '10' }, 'limit'],
    ['limit NaN', { limit: Number.NaN }, 'limit'],
    ['since not a date-time', { since: 'yesterday' }, 'since'],
    ['since without offset', { since: '2026-11-27T07:00:00' }, 'since'],
    ['until on Feb 30', { until: '2026-02-30T00:00:00Z' }, 'until'],
    ['until as a number', { until: 1764226800000 }, 'until'],
    ['until before since', { since: '2026-11-27T07:00:01Z', until: '2026-11-27T07:00:00Z' }, 'until'],
    ['unknown outcome', { outcome: 'ok' }, 'outcome'],
    ['empty actor', { actor: '' }, 'actor'],
    ['actor as a number', { actor: 5 }, 'actor'],
    ['actor with a lone surrogate', { actor: 'a\ud800' }, 'actor'],
    ['target too long', { target: 'x'.repeat(1025) }, 'target'],
    ['actor of 1025 emoji', { actor: '\u{1F600}'.repeat(1025) }, 'actor'],
    ['action as an array', { action: ['a'] }, 'action'],
    ['q of punctuation only', { q: ' -- ** ' }, 'q'],
    ['q of 17 words', { q: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ') }, 'q'],
    ['q too long', { q: 'a'.repeat(1025) }, 'q'],
    ['order sideways', { order: 'up' }, 'order'],
    ['query not an object', null, 'query'],
  ];
  for (const [name, input, field] of cases) {
    assert.throws(
      () => normalizeQuery(input as EventQuery),
      (err: unknown) => isIndelibleError(err, 'index.invalid_query') && err.details?.field === field,
      name,
    );
  }
});

test('cursors round-trip and anything else is index.invalid_cursor', () => {
  for (const index of [0, 1, 41, 2 ** 43 - 1, Number.MAX_SAFE_INTEGER]) {
    assert.equal(decodeCursor(encodeCursor(index, 'asc'), 'asc'), index);
    assert.equal(decodeCursor(encodeCursor(index, 'desc'), 'desc'), index);
  }
  const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64url');
  const good = encodeCursor(41, 'asc');
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['not base64url', 'abc$'],
    ['standard base64 padding', `${good}=`],
    ['other order', encodeCursor(41, 'desc')],
    ['negative', b64('1:a:-1')],
    ['leading zero', b64('1:a:041')],
    ['unsafe integer', b64('1:a:9007199254740993')],
    ['unknown version', b64('2:a:41')],
    ['trailing bytes', b64('1:a:41\n')],
    ['too long', 'A'.repeat(65)],
    // '1:a:4' is 5 bytes, so its 7 characters carry 2 spare bits; setting one decodes to the same
    // bytes but is not what encodeCursor writes.
    ['non-canonical base64url', withSpareBit(encodeCursor(4, 'asc'))],
  ];
  for (const [name, cursor] of bad) {
    assert.throws(
      () => decodeCursor(cursor, 'asc'),
      (err: unknown) => isIndelibleError(err, 'index.invalid_cursor'),
      name,
    );
  }
  assert.throws(
    () => normalizeQuery({ cursor: 5 as unknown as string }),
    (err: unknown) => isIndelibleError(err, 'index.invalid_cursor'),
  );
});

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function withSpareBit(cursor: string): string {
  const last = B64URL.indexOf(cursor.at(-1)!);
  assert.equal(last & 3, 0);
  return cursor.slice(0, -1) + B64URL[last | 1];
}

test('checkLogName accepts DESIGN.md §1 names and reserved system logs', () => {
  for (const name of ['acme', '_audit', 'a', 'prod-eu.1_x', 'a'.repeat(63)]) checkLogName(name);
  for (const name of ['', 'Acme', '-acme', '.acme', 'a'.repeat(64), 'ac me', 'acmé', 7]) {
    assert.throws(
      () => checkLogName(name),
      (err: unknown) => isIndelibleError(err, 'index.invalid_log'),
      String(name),
    );
  }
});
