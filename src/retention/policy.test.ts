// Retention policy: durations, defaults, ranges, and the retain-until rule of issue 7.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetentionError } from './errors.js';
import {
  DEFAULT_ARCHIVE_AFTER_MS,
  DEFAULT_RETENTION_MIN_MS,
  parseDuration,
  resolveArchiverPolicy,
  retainUntilFor,
} from './policy.js';

const DAY = 86_400_000;

test('durations: units, a year of 366 days, never', () => {
  const table: Array<[string, number]> = [
    ['250ms', 250],
    ['90s', 90_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['30d', 30 * DAY],
    ['2w', 14 * DAY],
    ['7y', 7 * 366 * DAY],
    ['0s', 0],
    ['never', Number.POSITIVE_INFINITY],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text, 'x'), ms, text);
  for (const text of ['', '7', 'y', '-1d', '1.5d', '1 d', '1D', '1000000000000d', 'forever']) {
    assert.throws(
      () => parseDuration(text, 'x'),
      (e) => e instanceof RetentionError && e.code === 'retention.invalid_policy',
      text,
    );
  }
});

test('policy defaults: retention.min 365 days, archive.after 30 days', () => {
  assert.equal(DEFAULT_RETENTION_MIN_MS, 365 * DAY);
  assert.equal(DEFAULT_ARCHIVE_AFTER_MS, 30 * DAY);
  assert.deepEqual(resolveArchiverPolicy(), { minMs: 365 * DAY, afterMs: 30 * DAY });
  assert.deepEqual(resolveArchiverPolicy({ retentionMin: '7y', archiveAfter: 'never' }), {
    minMs: 7 * 366 * DAY,
    afterMs: Number.POSITIVE_INFINITY,
  });
  assert.deepEqual(resolveArchiverPolicy({ retentionMin: 5000, archiveAfter: 0 }), {
    minMs: 5000,
    afterMs: 0,
  });
});

test('policy ranges: retention.min 1s..100y and finite; archive.after non-negative', () => {
  for (const input of [
    { retentionMin: 999 },
    { retentionMin: 'never' },
    { retentionMin: '101y' },
    { retentionMin: -1 },
    { retentionMin: 1.5 },
    { archiveAfter: -1 },
    { archiveAfter: Number.NaN },
  ]) {
    assert.throws(
      () => resolveArchiverPolicy(input),
      (e) => e instanceof RetentionError && e.code === 'retention.invalid_policy',
      JSON.stringify(input),
    );
  }
});

test('retain-until = max(now, newest entry) + retention.min', () => {
  const policy = { minMs: 1000 };
  assert.equal(retainUntilFor(policy, 5000, 3000).getTime(), 6000, 'entry in the past: from now');
  assert.equal(retainUntilFor(policy, 5000, 9000).getTime(), 10_000, 'entry ahead of our clock: from it');
});
