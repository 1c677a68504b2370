/**
 * `indelible policy set` flags → the PUT body (the server validates values; the CLI only the
 * combinations): the archive target flags of issue 7.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './options.js';
import { policyUpdateFromFlags } from './policy.js';

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
  });

  const bad: Array<[string, Parameters<typeof policyUpdateFromFlags>[0]]> = [
    ['no flag', {}],
    ['a prefix without a bucket', { archivePrefix: 'eu' }],
    ['--archive-target with another value', { archiveTarget: 's3://acme' }],
    ['--archive-target default with a bucket', { archiveTarget: 'default', archiveBucket: 'acme' }],
  ];
  for (const [name, flags] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => policyUpdateFromFlags(flags), UsageError);
    });
  }
});
