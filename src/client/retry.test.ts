// Retry timing (retry.ts) and Retry-After parsing (RFC 9110 §10.2.3: delay-seconds or HTTP-date).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientError, isRetryable } from './errors.js';
import { parseRetryAfter } from './http.js';
import { RETRY_AFTER_CEILING_MS, resolveRetry, retryDelay } from './retry.js';

test('Retry-After: delay-seconds and HTTP-date; anything else is ignored', () => {
  const now = Date.parse('Sun, 06 Nov 1994 08:49:37 GMT');
  const table: Array<[string | null, number | undefined]> = [
    [null, undefined],
    ['0', 0],
    ['1', 1000],
    [' 120 ', 120_000],
    ['Sun, 06 Nov 1994 08:49:47 GMT', 10_000],
    ['Sun, 06 Nov 1994 08:49:27 GMT', 0],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
  ];
  for (const [value, want] of table) assert.equal(parseRetryAfter(value, now), want, String(value));
});

test('backoff doubles from initialDelayMs up to maxDelayMs, with jitter in [d/2, d)', () => {
  const r = resolveRetry({ initialDelayMs: 100, maxDelayMs: 1000 });
  const table: Array<[number, number]> = [
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [60, 1000],
  ];
  for (const [attempt, d] of table) {
    assert.equal(
      retryDelay(attempt, new Error('x'), r, () => 0),
      d / 2,
    );
    assert.equal(
      retryDelay(attempt, new Error('x'), r, () => 0.999999),
      Math.round(d * 0.9999995),
    );
  }
});

test('Retry-After is a floor, even above maxDelayMs', () => {
  const r = resolveRetry({ initialDelayMs: 100, maxDelayMs: 1000 });
  const busy = new ClientError('log.pushback', 'busy', { status: 503, retryAfterMs: 5000 });
  assert.equal(
    retryDelay(1, busy, r, () => 0.5),
    5000,
  );
  const soon = new ClientError('auth.rate_limited', 'slow down', { status: 429, retryAfterMs: 10 });
  assert.equal(
    retryDelay(3, soon, r, () => 0),
    200,
  );
});

test("a huge Retry-After is capped (an hour, or maxDelayMs if longer), never past a timer's limit", () => {
  // Node fires a setTimeout above 2^31−1 ms after 1 ms: uncapped, Retry-After: 3000000 is a hot loop.
  const r = resolveRetry({ initialDelayMs: 100, maxDelayMs: 1000 });
  const huge = new ClientError('log.pushback', 'busy', { status: 503, retryAfterMs: 3_000_000_000 });
  assert.equal(
    retryDelay(1, huge, r, () => 0.5),
    RETRY_AFTER_CEILING_MS,
  );
  const long = resolveRetry({ initialDelayMs: 100, maxDelayMs: 2 * RETRY_AFTER_CEILING_MS });
  assert.equal(
    retryDelay(1, huge, long, () => 0.5),
    2 * RETRY_AFTER_CEILING_MS,
  );
  const absurd = resolveRetry({ initialDelayMs: 100, maxDelayMs: 2 ** 40 });
  assert.equal(
    retryDelay(60, huge, absurd, () => 0.5),
    2 ** 31 - 1,
  );
  assert.equal(
    retryDelay(60, new Error('x'), absurd, () => 0.5),
    2 ** 31 - 1,
  );
});

test('what is retryable: no answer, 429 and 5xx; never other 4xx', () => {
  const table: Array<[ClientError | Error, boolean]> = [
    [new ClientError('client.network', 'x'), true],
    [new ClientError('client.timeout', 'x'), true],
    [new ClientError('auth.rate_limited', 'x', { status: 429 }), true],
    [new ClientError('log.pushback', 'x', { status: 503 }), true],
    [new ClientError('client.http', 'x', { status: 502 }), true],
    [new ClientError('server.internal', 'x', { status: 500 }), true],
    [new ClientError('event.missing_field', 'x', { status: 400 }), false],
    [new ClientError('auth.forbidden', 'x', { status: 403 }), false],
    [new ClientError('log.id_conflict', 'x', { status: 409 }), false],
    [new ClientError('client.bad_response', 'x'), false],
    [new Error('x'), false],
  ];
  for (const [err, want] of table)
    assert.equal(isRetryable(err), want, (err as ClientError).code ?? err.message);
});

test('retry options are checked', () => {
  assert.equal(resolveRetry({ maxAttempts: Number.POSITIVE_INFINITY }).maxAttempts, Number.POSITIVE_INFINITY);
  for (const bad of [
    { maxAttempts: 0 },
    { maxAttempts: 1.5 },
    { initialDelayMs: -1 },
    { initialDelayMs: 10, maxDelayMs: 5 },
  ]) {
    assert.throws(() => resolveRetry(bad), { code: 'client.invalid_argument' });
  }
});
