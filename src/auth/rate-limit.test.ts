import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isIndelibleError } from '../core/errors.js';
import { createRateLimiter } from './rate-limit.js';
import type { Clock } from './types.js';

// Token bucket semantics (brief): `burst` tokens at once, `ratePerSecond` earned back, per key;
// 0 rate = unlimited; refusals say how many whole seconds until the request would pass.

function manualClock(start = 1_000_000): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    set: (ms) => {
      now = ms;
    },
  };
}

function takeN(take: () => { ok: boolean }, n: number): number {
  let passed = 0;
  for (let i = 0; i < n; i++) if (take().ok) passed++;
  return passed;
}

describe('token bucket', () => {
  test('a fresh key may spend its burst, then is refused with Retry-After', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 2, burst: 5, clock });
    assert.equal(
      takeN(() => rl.take('k'), 5),
      5,
    );
    assert.deepEqual(rl.take('k'), { ok: false, retryAfterSeconds: 1 });
  });

  test('tokens come back at the rate, capped at the burst', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 2, burst: 5, clock });
    takeN(() => rl.take('k'), 5);
    clock.advance(499);
    assert.equal(rl.take('k').ok, false, '0.998 tokens are not enough');
    clock.advance(1);
    assert.equal(rl.take('k').ok, true, '1 token after 500 ms at 2/s');
    assert.equal(rl.take('k').ok, false);
    clock.advance(3_600_000);
    assert.equal(
      takeN(() => rl.take('k'), 10),
      5,
      'an hour idle still allows only the burst',
    );
  });

  test('retryAfterSeconds is the whole seconds until the request would pass', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 0.1, burst: 1, clock });
    assert.equal(rl.take('k').ok, true);
    assert.deepEqual(rl.take('k'), { ok: false, retryAfterSeconds: 10 });
    clock.advance(2_500);
    assert.deepEqual(rl.take('k'), { ok: false, retryAfterSeconds: 8 }, 'ceil(7.5)');
    clock.advance(7_500);
    assert.equal(rl.take('k').ok, true);
  });

  test('keys are independent', () => {
    const rl = createRateLimiter({ ratePerSecond: 1, burst: 2, clock: manualClock() });
    assert.equal(
      takeN(() => rl.take('a'), 3),
      2,
    );
    assert.equal(
      takeN(() => rl.take('b'), 3),
      2,
    );
  });

  test('costs: a refused request spends nothing; a cost above burst passes once full and leaves a debt', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 10, burst: 10, clock });
    assert.equal(rl.take('k', 7).ok, true);
    assert.deepEqual(rl.take('k', 7), { ok: false, retryAfterSeconds: 1 });
    assert.equal(rl.take('k', 3).ok, true, 'the refusal above spent nothing');
    clock.advance(1000);
    assert.equal(rl.take('k', 100).ok, true, 'full bucket: a batch above burst passes');
    assert.deepEqual(rl.take('k', 1), { ok: false, retryAfterSeconds: 10 }, 'debt of 90 + 1 at 10/s');
    assert.equal(rl.take('k', 0).ok, true, 'cost 0 always passes');
  });

  test('a clock that steps back earns nothing and does not break the bucket', () => {
    const clock = manualClock(50_000);
    const rl = createRateLimiter({ ratePerSecond: 1, burst: 1, clock });
    assert.equal(rl.take('k').ok, true);
    clock.set(10_000);
    assert.equal(rl.take('k').ok, false);
    clock.advance(1000);
    assert.equal(rl.take('k').ok, true);
  });

  test('property: over any schedule, passes ≤ burst + rate × elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 200 }),
        (rate, burst, gaps) => {
          const clock = manualClock();
          const rl = createRateLimiter({ ratePerSecond: rate, burst, clock });
          let passed = 0;
          let elapsed = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            elapsed += gap;
            if (rl.take('k').ok) passed++;
          }
          return passed <= burst + (rate * elapsed) / 1000 + 1e-9;
        },
      ),
    );
  });
});

describe('unlimited and options', () => {
  test('rate 0 is unlimited and stores nothing', () => {
    const rl = createRateLimiter({ ratePerSecond: 0, burst: 0 });
    assert.equal(
      takeN(() => rl.take('k', 1e9), 10_000),
      10_000,
    );
    assert.equal(rl.size, 0);
  });

  const badOptions: [string, Parameters<typeof createRateLimiter>[0]][] = [
    ['negative rate', { ratePerSecond: -1, burst: 1 }],
    ['NaN rate', { ratePerSecond: Number.NaN, burst: 1 }],
    ['infinite rate', { ratePerSecond: Number.POSITIVE_INFINITY, burst: 1 }],
    ['zero burst', { ratePerSecond: 1, burst: 0 }],
    ['NaN burst', { ratePerSecond: 1, burst: Number.NaN }],
    ['fractional maxBuckets', { ratePerSecond: 1, burst: 1, maxBuckets: 1.5 }],
    ['zero maxBuckets', { ratePerSecond: 1, burst: 1, maxBuckets: 0 }],
  ];
  for (const [name, options] of badOptions) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => createRateLimiter(options),
        (err: unknown) => isIndelibleError(err, 'auth.invalid_rate_limit'),
      );
    });
  }

  for (const cost of [-1, Number.NaN, Number.POSITIVE_INFINITY, '1']) {
    test(`rejects cost ${String(cost)}`, () => {
      for (const rate of [0, 1]) {
        const rl = createRateLimiter({ ratePerSecond: rate, burst: 1, clock: manualClock() });
        assert.throws(
          () => rl.take('k', cost as number),
          (err: unknown) => isIndelibleError(err, 'auth.invalid_rate_limit'),
        );
      }
    });
  }
});

describe('memory bound', () => {
  test('idle buckets that refilled are evicted by the periodic sweep', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 1, burst: 5, clock });
    for (let i = 0; i < 1000; i++) rl.take(`k${i}`);
    assert.equal(rl.size, 1000);
    clock.advance(60_000);
    rl.take('fresh');
    assert.equal(rl.size, 1);
  });

  test('buckets still refilling survive the sweep', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 0.01, burst: 5, clock });
    takeN(() => rl.take('busy'), 5);
    clock.advance(60_000);
    rl.take('other');
    assert.equal(rl.size, 2);
    assert.equal(rl.take('busy').ok, false, 'its state was kept');
  });

  test('the hard cap holds under a flood of distinct keys', () => {
    const clock = manualClock();
    const rl = createRateLimiter({ ratePerSecond: 1, burst: 1, clock, maxBuckets: 100 });
    for (let i = 0; i < 10_000; i++) {
      rl.take(`k${i}`);
      assert.ok(rl.size <= 100);
    }
    assert.equal(rl.size, 100);
  });
});
