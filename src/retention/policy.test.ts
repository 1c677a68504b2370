// Retention policy: durations, defaults, ranges, and the retain-until rule of issue 7.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetentionError } from './errors.js';
import {
  DEFAULT_ARCHIVE_AFTER_MS,
  DEFAULT_RETENTION_MIN_MS,
  parseDuration,
  requiredRetainUntilMs,
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
    ['0', 0], // zero needs no unit (CONFIGURATION.md shows `archiveAfter: "0"`)
    ['never', Number.POSITIVE_INFINITY],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text, 'x'), ms, text);
  for (const text of ['', '7', '00', '01', 'y', '-1d', '1.5d', '1 d', '1D', '1000000000000d', 'forever']) {
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

test('a lowered retention.min still binds the entries received before the change (its floor)', () => {
  // min lowered from 100 s to 1 s at t = 5 s: entries received before 5 s keep 100 s.
  const policy = { minMs: 1000, minFloors: [{ minMs: 100_000, before: new Date(5000).toISOString() }] };
  // Every entry before the change: the newest (3 s) is owed 3 s + 100 s.
  assert.equal(retainUntilFor(policy, 4000, 3000).getTime(), 103_000);
  assert.equal(requiredRetainUntilMs(policy, 3000), 103_000);
  // An object whose entries span the change (oldest 4 s, newest 9 s): the last bound one may be from
  // just before it, so 5 s + 100 s.
  assert.equal(retainUntilFor(policy, 9500, 9000, 4000).getTime(), 105_000);
  assert.equal(requiredRetainUntilMs(policy, 9000, 4000), 105_000);
  // An object of entries all received after the change: the floor binds none of them.
  assert.equal(retainUntilFor(policy, 9500, 9000, 6000).getTime(), 10_500);
  assert.equal(requiredRetainUntilMs(policy, 9000, 6000), 10_000);
  // Long after the floor has run out, the current min decides again.
  assert.equal(retainUntilFor(policy, 200_000, 200_000).getTime(), 201_000);
  // No floors: as before.
  assert.equal(requiredRetainUntilMs({ minMs: 1000 }, 3000), 4000);
});
