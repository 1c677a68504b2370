/** The monitor configuration: defaults as documented, and nonsense refused naming the option. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { defaultMonitorConfig, type MonitorConfigInput, RULES, resolveMonitorConfig } from './config.js';
import { MonitorConfigSchema } from './config-schema.js';

test('defaults (docs/MONITORING.md lists the same values)', () => {
  const c = resolveMonitorConfig();
  assert.deepEqual(c.audit, { flushIntervalMs: 100, maxBatchEvents: 500, maxQueuedEvents: 100_000 });
  assert.equal(c.rules.bulk_read.threshold, 10_000);
  assert.equal(c.rules.bulk_read.windowMs, 3_600_000);
  assert.equal(c.rules.auth_failures.threshold, 20);
  assert.equal(c.rules.auth_failures.windowMs, 300_000);
  assert.equal(c.rules.off_hours.enabled, false);
  assert.equal(c.rules.checkpoint_stale.enabled, false);
  assert.equal(c.rules.dormant_key.dormantMs, 30 * 86_400_000);
  assert.deepEqual(Object.keys(c.rules).sort(), [...RULES].sort());
  assert.deepEqual(c.webhooks, []);
  assert.deepEqual(resolveMonitorConfig({}), c);
  assert.equal(defaultMonitorConfig.rules.bulk_read.threshold, 10_000);
});

test('partial rule config keeps the other defaults', () => {
  const c = resolveMonitorConfig({ rules: { bulk_read: { threshold: 5 } } });
  assert.deepEqual(c.rules.bulk_read, {
    enabled: true,
    severity: 'warning',
    threshold: 5,
    windowMs: 3_600_000,
  });
});

test('a webhook without an id gets one that does not contain the URL', () => {
  const c = resolveMonitorConfig({
    webhooks: [{ url: 'https://hooks.example.com/T0/B0/secret-token', secret: 'x'.repeat(16) }],
  });
  assert.match(c.webhooks[0]!.id!, /^hooks\.example\.com-[0-9a-f]{12}$/);
});

const invalid: Array<[MonitorConfigInput, string]> = [
  [{ rules: { bulk_read: { threshold: 0 } } }, 'rules.bulk_read.threshold'],
  [{ rules: { bulk_read: { windowMs: 1.5 } } }, 'rules.bulk_read.windowMs'],
  [{ rules: { bulk_read: { treshold: 5 } as never } }, 'rules.bulk_read.treshold'],
  [{ rules: { nope: {} } as never }, 'rules.nope'],
  [{ rules: { auth_failures: { severity: 'loud' as never } } }, 'rules.auth_failures.severity'],
  [{ rules: { new_address: { ipv4PrefixLength: 33 } } }, 'rules.new_address.ipv4PrefixLength'],
  [{ rules: { off_hours: { timeZone: 'Mars/Olympus' } } }, 'rules.off_hours.timeZone'],
  [
    { rules: { off_hours: { allowed: [{ days: [7], from: '09:00', to: '17:00' }] } } },
    'rules.off_hours.allowed[0].days',
  ],
  [
    { rules: { off_hours: { allowed: [{ days: [1], from: '9:00', to: '17:00' }] } } },
    'rules.off_hours.allowed[0].from',
  ],
  [
    { rules: { off_hours: { allowed: [{ days: [1], from: '18:00', to: '09:00' }] } } },
    'rules.off_hours.allowed[0].to',
  ],
  [{ audit: { maxBatchEvents: 1000, maxQueuedEvents: 10 } }, 'audit.maxQueuedEvents'],
  [{ audit: { enabled: false } as never }, 'audit.enabled'],
  [{ delivery: { initialBackoffMs: 10, maxBackoffMs: 5 } }, 'delivery.maxBackoffMs'],
  [{ checkIntervalMs: 0 }, 'checkIntervalMs'],
  [
    { webhooks: [{ url: 'https://example.com', secret: 'x'.repeat(16), extra: 1 } as never] },
    'webhooks[0].extra',
  ],
];

for (const [config, option] of invalid) {
  test(`refused: ${option}`, () => {
    assert.throws(
      () => resolveMonitorConfig(config),
      (err: { code?: string; details?: { option?: string } }) =>
        err.code === 'monitor.invalid_config' && err.details?.option === option,
    );
  });
}

test('the config-file schema accepts the defaults and every rule, and refuses unknown keys', () => {
  assert.ok(Value.Check(MonitorConfigSchema, resolveMonitorConfig()));
  assert.ok(!Value.Check(MonitorConfigSchema, { rules: { bulk_read: { treshold: 1 } } }));
  assert.ok(!Value.Check(MonitorConfigSchema, { enabled: false }));
});
