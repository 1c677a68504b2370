import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../testing/paths.js';
import { parseServerConfig } from './config.js';

test('the example in docs/CONFIGURATION.md is a valid configuration', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'CONFIGURATION.md'), 'utf8');
  const block = /```json\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/CONFIGURATION.md has a json example');
  parseServerConfig(JSON.parse(block[1]!));
});

test('an empty configuration is valid', () => {
  assert.deepEqual(parseServerConfig({}), {});
});

test('http.drainMs is read into the http section (which serve hands to the server as is)', () => {
  assert.equal(parseServerConfig({ http: { drainMs: 5000 } }).http?.drainMs, 5000);
});

const bad: Array<[string, unknown, string, RegExp]> = [
  ['unknown top-level key', { lisen: '1:2' }, 'config.invalid', /lisen/],
  ['unknown nested key', { http: { bodyLimt: 5 } }, 'config.invalid', /bodyLimt/],
  ['wrong type', { http: { publicReads: 'yes' } }, 'config.invalid', /http\.publicReads/],
  ['negative interval', { engine: { integrator: { intervalMs: 0 } } }, 'config.invalid', /intervalMs/],
  ['unknown log level', { logLevel: 'loud' }, 'config.invalid', /logLevel/],
  ['negative drain time', { http: { drainMs: -1 } }, 'config.invalid', /http\.drainMs/],
  // Values beyond their types (checked by resolveHttpConfig; they stopped serve with a RangeError
  // and a stack trace, after the data directory was opened).
  [
    'a rate limit without burst',
    { http: { rateLimit: { ratePerSecond: 5, burst: 0 } } },
    'config.invalid',
    /test\.json: http config rateLimit\.burst must be > 0/,
  ],
  [
    'a trusted proxy that is no CIDR',
    { http: { trustProxy: ['nonsense/99'] } },
    'config.invalid',
    /trustProxy/,
  ],
  [
    'batch larger than the queue',
    { http: { maxBatchEvents: 500 }, engine: { sequencer: { maxQueuedEvents: 100, maxBatchEvents: 100 } } },
    'config.conflict',
    /http\.maxBatchEvents \(500\) exceeds engine\.sequencer\.maxQueuedEvents \(100\)/,
  ],
  ['record limit beyond tlog-tiles', { eventLimits: { maxRecordBytes: 70000 } }, 'config.conflict', /65535/],
  [
    'commit larger than the queue',
    { http: { maxBatchEvents: 100 }, engine: { sequencer: { maxQueuedEvents: 500, maxBatchEvents: 1000 } } },
    'config.conflict',
    /engine\.sequencer\.maxBatchEvents \(1000\) exceeds engine\.sequencer\.maxQueuedEvents \(500\)/,
  ],
];

for (const [name, value, code, message] of bad) {
  test(`config: ${name} fails naming the option`, () => {
    assert.throws(
      () => parseServerConfig(value, 'test.json'),
      (err: unknown) => {
        const e = err as { code: string; message: string };
        assert.equal(e.code, code);
        assert.match(e.message, message);
        return true;
      },
    );
  });
}
