/**
 * `indelible policy set` flags → the PUT body (the server validates values; the CLI only the
 * combinations): the archive target flags of issue 7.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './options.js';
import { policyText, policyUpdateFromFlags } from './policy.js';

describe('policy set flags', () => {
  it('--archive-bucket [--archive-prefix] sets the target; --archive-target default resets it', () => {
    assert.deepEqual(policyUpdateFromFlags({ archiveBucket: 'acme-archive', archivePrefix: 'eu/logs' }), {
      archive: { target: { bucket: 'acme-archive', prefix: 'eu/logs' } },
    });
    assert.deepEqual(policyUpdateFromFlags({ archiveBucket: 'acme-archive' }), {
      archive: { target: { bucket: 'acme-archive', prefix: '' } },
    });
    assert.deepEqual(policyUpdateFromFlags({ archiveTarget: 'default', archiveAfter: '30d' }), {
      archive: { after: '30d', target: null },
    });
    assert.deepEqual(policyUpdateFromFlags({ retentionMin: '7y', retentionMax: 'none' }), {
      retention: { min: '7y', max: null },
    });
    assert.deepEqual(policyUpdateFromFlags({ retentionMin: '0', archiveAfter: '250ms' }), {
      retention: { min: 0 },
      archive: { after: '250ms' },
    });
  });

  it('names the units when a duration has none (the API would read it as milliseconds)', () => {
    assert.throws(
      () => policyUpdateFromFlags({ retentionMin: '3650' }),
      (err: unknown) =>
        err instanceof UsageError &&
        /--retention-min needs a unit: 3650d for days, 3650y for years/.test(err.message),
    );
  });

  const bad: Array<[string, Parameters<typeof policyUpdateFromFlags>[0]]> = [
    ['no flag', {}],
    ['a prefix without a bucket', { archivePrefix: 'eu' }],
    ['--archive-target with another value', { archiveTarget: 's3://acme' }],
    ['--archive-target default with a bucket', { archiveTarget: 'default', archiveBucket: 'acme' }],
    ['a duration without a unit', { retentionMin: '3650' }],
    ['a duration with an unknown unit', { archiveAfter: '30days' }],
  ];
  for (const [name, flags] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => policyUpdateFromFlags(flags), UsageError);
    });
  }
});

describe('policy show', () => {
  const policy = (max: number | null) => ({
    log: 'acme',
    retention: { min: 366 * 86_400_000, max },
    archive: { after: 30 * 86_400_000, target: null },
    legal_hold: null,
    updated_at: null,
  });

  it('says what retention.max does: older entries are pruned, or kept forever without one', () => {
    const text = policyText(policy(10 * 366 * 86_400_000));
    assert.match(text, /^retention\.max {2}10y {2}\(older entries are pruned, never under a legal hold\)$/m);
    assert.match(policyText(policy(null)), /^retention\.max {2}none {2}\(entries are kept forever\)$/m);
    assert.match(text, /^retention\.min {2}1y$/m);
    assert.match(text, /^legal_hold {5}none$/m);
    assert.doesNotMatch(text, /not implemented/);
  });
});
