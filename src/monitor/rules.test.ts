/**
 * Every alert rule fires at its threshold and not below it (issue 5), with an injected clock; a
 * burst makes one alert per window, also across a restart. Thresholds are small configured values
 * so each case shows the boundary exactly: `below` stops one short, `reach` takes the last step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MonitorConfigInput, RuleName } from './config.js';
import type { Monitor } from './monitor.js';
import { access, type FakeEngine, type ManualClock, testMonitor } from './test-helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

interface Case {
  rule: RuleName;
  config: MonitorConfigInput;
  /** Brings the subject to one step short of the threshold. */
  below(m: Monitor, clock: ManualClock, engine: FakeEngine): void;
  /** The step that reaches it. */
  reach(m: Monitor, clock: ManualClock, engine: FakeEngine): void;
  subject: string;
}

const KEY = 'key_aaaaaaaaaaaa';
const cases: Case[] = [
  {
    rule: 'bulk_read',
    config: { rules: { bulk_read: { threshold: 100, windowMs: HOUR } } },
    below: (m) => {
      m.onAccess(access({ count: 60 }));
      m.onAccess(access({ count: 39 }));
    },
    reach: (m) => m.onAccess(access({ count: 1 })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'large_export',
    config: { rules: { large_export: { threshold: 1000, windowMs: DAY } } },
    below: (m) => m.onAccess(access({ kind: 'export', route: '/v1/logs/:log/export', count: 999 })),
    reach: (m) => m.onAccess(access({ kind: 'export', route: '/v1/logs/:log/export', count: 1 })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'auth_failures',
    config: { rules: { auth_failures: { threshold: 5, windowMs: 5 * MIN } } },
    below: (m) => {
      for (let i = 0; i < 4; i++)
        m.onAccess(access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip: '203.0.113.9' }));
    },
    reach: (m) =>
      m.onAccess(access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip: '203.0.113.9' })),
    subject: 'ip:203.0.113.9',
  },
  {
    rule: 'auth_failures',
    config: { rules: { auth_failures: { threshold: 3, windowMs: 5 * MIN } } },
    // A known key refused (403) from a different address each time: the key is the subject that adds up.
    below: (m) => {
      m.onAccess(access({ kind: 'auth_failure', status: 403, ip: '198.51.100.1' }));
      m.onAccess(access({ kind: 'auth_failure', status: 403, ip: '198.51.100.2' }));
    },
    reach: (m) => m.onAccess(access({ kind: 'auth_failure', status: 403, ip: '198.51.100.3' })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'new_address',
    config: {},
    // First sighting is the baseline; another address in the same /24 is the same network.
    below: (m, clock) => {
      m.onAccess(access({ ip: '192.0.2.10' }));
      clock.advance(MIN);
      m.onAccess(access({ ip: '192.0.2.200' }));
      m.onAccess(access({ ip: '::ffff:192.0.2.77' }));
    },
    reach: (m) => m.onAccess(access({ ip: '198.51.100.7' })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'new_address',
    config: {},
    // IPv6: same /64 is known, another /64 is new.
    below: (m) => {
      m.onAccess(access({ ip: '2001:db8:1:2::1' }));
      m.onAccess(access({ ip: '2001:db8:1:2:ffff::9' }));
    },
    reach: (m) => m.onAccess(access({ ip: '2001:db8:1:3::1' })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'off_hours',
    config: {
      rules: {
        off_hours: {
          enabled: true,
          timeZone: 'America/New_York',
          allowed: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' }],
        },
      },
    },
    // Monday 2026-01-05; New York is on EST (UTC−5) in January: 16:59 local = 21:59 UTC.
    below: (m, clock) => {
      clock.t = Date.UTC(2026, 0, 5, 14, 0); // 09:00 local, the first allowed minute
      m.onAccess(access());
      clock.t = Date.UTC(2026, 0, 5, 21, 59); // 16:59 local
      m.onAccess(access());
    },
    reach: (m, clock) => {
      clock.t = Date.UTC(2026, 0, 5, 22, 0); // 17:00 local: the end is exclusive
      m.onAccess(access());
    },
    subject: `key:${KEY}`,
  },
  {
    rule: 'enumeration',
    config: { rules: { enumeration: { threshold: 5, windowMs: HOUR } } },
    below: (m) => {
      for (const a of ['u1', 'u2', 'u3', 'u4', 'u1', 'u2']) m.onAccess(access({ filter: { actor: a } }));
    },
    reach: (m) => m.onAccess(access({ filter: { actor: 'u5' } })),
    subject: `key:${KEY}`,
  },
  {
    rule: 'dormant_key',
    config: { rules: { dormant_key: { dormantMs: 30 * DAY } } },
    below: (m, clock) => {
      m.onAccess(access());
      clock.advance(30 * DAY - 1);
      m.onAccess(access());
    },
    reach: (m, clock) => {
      clock.advance(30 * DAY);
      m.onAccess(access());
    },
    subject: `key:${KEY}`,
  },
  {
    rule: 'dormant_key',
    config: { rules: { dormant_key: { dormantMs: 30 * DAY } } },
    // A request without an address still counts as a use of the key (only the network rule needs one).
    below: (m, clock) => {
      m.onAccess(access());
      clock.advance(30 * DAY - 1);
      m.onAccess(access({ ip: '' }));
    },
    reach: (m, clock) => {
      clock.advance(30 * DAY);
      m.onAccess(access({ ip: '' }));
    },
    subject: `key:${KEY}`,
  },
  {
    rule: 'integration_stalled',
    config: { rules: { integration_stalled: { stalledMs: MIN } } },
    // An idle hour first: the stall clock starts when work appears, not at the last progress.
    below: (m, clock, engine) => {
      engine.progress.set('acme', { size: 10, treeSize: 10, queueDepth: 0 });
      m.check();
      clock.advance(HOUR);
      engine.progress.set('acme', { size: 11, treeSize: 10, queueDepth: 0 });
      m.check();
      clock.advance(MIN - 1);
      m.check();
    },
    reach: (m, clock) => {
      clock.advance(1);
      m.check();
    },
    subject: 'log:acme',
  },
  {
    rule: 'integration_stalled',
    config: { rules: { integration_stalled: { stalledMs: MIN } } },
    // Sequencing: events queued and the size does not move.
    below: (m, clock, engine) => {
      engine.progress.set('acme', { size: 5, treeSize: 5, queueDepth: 3 });
      m.check();
      clock.advance(MIN - 1);
      m.check();
    },
    reach: (m, clock) => {
      clock.advance(1);
      m.check();
    },
    subject: 'log:acme',
  },
  {
    rule: 'checkpoint_stale',
    config: { rules: { checkpoint_stale: { enabled: true, maxAgeMs: DAY } } },
    below: (m, clock, engine) => {
      engine.progress.set('acme', { size: 3, treeSize: 3, queueDepth: 0 });
      m.check();
      clock.advance(DAY - 1);
      m.check();
    },
    reach: (m, clock) => {
      clock.advance(1);
      m.check();
    },
    subject: 'log:acme',
  },
  {
    rule: 'verification_failure',
    config: {},
    below: () => {},
    reach: (m) => m.reportVerificationFailure({ log: 'acme', code: 'verify.root_mismatch', index: 7 }),
    subject: 'log:acme',
  },
  {
    rule: 'audit_write_failure',
    config: {},
    below: () => {},
    reach: (m, _clock, engine) => {
      engine.failing = Object.assign(new Error('disk full'), { code: 'storage.io' });
      m.onAccess(access());
    },
    subject: 'log:_audit',
  },
];

for (const [i, c] of cases.entries()) {
  test(`${c.rule} (#${i}) fires at its threshold and not below`, async () => {
    const { monitor, clock, engine } = testMonitor(c.config);
    c.below(monitor, clock, engine);
    await monitor.flush();
    assert.deepEqual(monitor.alerts.list({ rule: c.rule }).alerts, [], 'no alert below the threshold');
    c.reach(monitor, clock, engine);
    await monitor.flush().catch(() => {});
    const alerts = monitor.alerts.list({ rule: c.rule }).alerts;
    assert.equal(alerts.length, 1, 'one alert at the threshold');
    assert.equal(alerts[0]!.subject, c.subject);
    assert.equal(alerts[0]!.severity, monitor.config.rules[c.rule].severity);
    engine.failing = undefined;
    await monitor.close();
  });
}

test('listing alerts (a read of no log) does not count towards bulk_read', async () => {
  const { monitor } = testMonitor({ rules: { bulk_read: { threshold: 100, windowMs: HOUR } } });
  for (let i = 0; i < 5; i++)
    monitor.onAccess(access({ route: '/v1/alerts', log: null, count: 100, filter: { alerts: {} } }));
  assert.equal(monitor.alerts.list({ rule: 'bulk_read' }).alerts.length, 0);
  monitor.onAccess(access({ count: 100 }));
  assert.equal(monitor.alerts.list({ rule: 'bulk_read' }).alerts.length, 1, 'entries of a log still count');
  await monitor.close();
});

test('auth failures spread over one network alert for the network; one address alerts once', async () => {
  const { monitor } = testMonitor({ rules: { auth_failures: { threshold: 5, windowMs: 5 * MIN } } });
  const fail = (ip: string) => access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip });
  for (let n = 1; n <= 200; n++) monitor.onAccess(fail(`198.51.100.${n}`));
  for (let i = 0; i < 200; i++) monitor.onAccess(fail(`2001:db8:1:2:${(i + 1).toString(16)}::1`));
  for (let i = 0; i < 6; i++) monitor.onAccess(fail('203.0.113.9'));
  const subjects = monitor.alerts
    .list({ rule: 'auth_failures' })
    .alerts.map((a) => a.subject)
    .sort();
  assert.deepEqual(subjects, ['ip:203.0.113.9', 'net:198.51.100.0/24', 'net:2001:db8:1:2:0:0:0:0/64']);
  await monitor.close();
});

test('enumeration counts distinct actor, target and q filters together (q= evaded it)', async () => {
  const { monitor } = testMonitor({ rules: { enumeration: { threshold: 5, windowMs: HOUR } } });
  const search = (filter: Record<string, string>) => monitor.onAccess(access({ filter }));
  for (const q of ['user0', 'user1', 'user2']) search({ q });
  search({ target: 'doc-1' });
  search({ q: 'user0' }); // the same again: not a new one
  assert.equal(monitor.alerts.list({ rule: 'enumeration' }).alerts.length, 0);
  search({ actor: 'alice' });
  const [alert] = monitor.alerts.list({ rule: 'enumeration' }).alerts;
  assert.equal(alert?.details.distinct_filters, 5);
  await monitor.close();
});

test('window rules do not count what left the window', async () => {
  const { monitor, clock } = testMonitor({ rules: { bulk_read: { threshold: 100, windowMs: HOUR } } });
  monitor.onAccess(access({ count: 99 }));
  // 64 buckets: an amount counts for at most one window plus one bucket.
  clock.advance(HOUR + HOUR / 64);
  monitor.onAccess(access({ count: 1 }));
  assert.equal(monitor.alerts.list({ rule: 'bulk_read' }).alerts.length, 0);
  monitor.onAccess(access({ count: 99 }));
  assert.equal(monitor.alerts.list({ rule: 'bulk_read' }).alerts.length, 1);
  await monitor.close();
});

test('a burst makes one alert per window, also after a restart', async () => {
  const config = { rules: { auth_failures: { threshold: 3, windowMs: 5 * MIN } } };
  const first = testMonitor(config);
  const fail = () =>
    access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip: '203.0.113.5' });
  for (let i = 0; i < 1000; i++) first.monitor.onAccess(fail());
  assert.equal(first.monitor.alerts.list().alerts.length, 1);
  await first.monitor.close();

  // Same database, fresh memory: the store remembers the rule fired for this subject.
  const second = testMonitor(config, { meta: first.meta, clock: first.clock });
  for (let i = 0; i < 10; i++) second.monitor.onAccess(fail());
  assert.equal(second.monitor.alerts.list().alerts.length, 1);
  second.clock.advance(5 * MIN);
  for (let i = 0; i < 3; i++) second.monitor.onAccess(fail());
  const alerts = second.monitor.alerts.list().alerts;
  assert.equal(alerts.length, 2, 'sustained failures: one more alert in the next window');
  assert.ok(alerts[0]!.id > alerts[1]!.id, 'newest first, monotonic ids');
  await second.monitor.close();
});

test("a revoked key's secret in use raises revoked_key_used at once, folded per key for a day", async () => {
  const { monitor, clock } = testMonitor();
  const used = (keyId: string) =>
    access({ kind: 'auth_failure', keyId, role: null, status: 401, filter: { reason: 'revoked_key' } });
  monitor.onAccess(used('key_revoked0001'));
  monitor.onAccess(used('key_revoked0001'));
  monitor.onAccess(used('key_revoked0002'));
  // An unknown key is not a revoked one.
  monitor.onAccess(access({ kind: 'auth_failure', keyId: null, role: null, status: 401 }));
  const alerts = () => monitor.alerts.list({ rule: 'revoked_key_used' }).alerts;
  assert.deepEqual(
    alerts()
      .map((a) => a.subject)
      .sort(),
    ['key:key_revoked0001', 'key:key_revoked0002'],
  );
  assert.equal(alerts()[0]!.severity, 'warning');
  clock.advance(DAY);
  monitor.onAccess(used('key_revoked0001'));
  assert.equal(alerts().length, 3, 'again the next day');
  await monitor.close();
});

test('an alert whose insert failed does not fold its repeats away', async () => {
  const { monitor, meta } = testMonitor({ rules: { auth_failures: { threshold: 3, windowMs: 5 * MIN } } });
  const fail = () =>
    access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip: '203.0.113.6' });
  // The alert store refuses writes for a moment (a full disk, a locked database).
  meta.exec(
    "CREATE TEMP TRIGGER refuse BEFORE INSERT ON monitor_alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END",
  );
  for (let i = 0; i < 3; i++) monitor.onAccess(fail());
  assert.equal(monitor.alerts.list().alerts.length, 0);
  meta.exec('DROP TRIGGER refuse');
  monitor.onAccess(fail());
  const alerts = monitor.alerts.list().alerts;
  assert.equal(alerts.length, 1, 'the next failure in the window raises it');
  assert.equal(alerts[0]!.details.total, 4);
  await monitor.close();
});

test('a stall fires once per episode and re-arms after progress', async () => {
  const { monitor, clock, engine } = testMonitor({ rules: { integration_stalled: { stalledMs: MIN } } });
  engine.progress.set('acme', { size: 2, treeSize: 1, queueDepth: 0 });
  monitor.check();
  for (let i = 0; i < 5; i++) {
    clock.advance(MIN);
    monitor.check();
  }
  assert.equal(monitor.alerts.list().alerts.length, 1);
  engine.progress.set('acme', { size: 3, treeSize: 2, queueDepth: 0 });
  monitor.check();
  clock.advance(MIN);
  monitor.check();
  assert.equal(monitor.alerts.list().alerts.length, 2);
  await monitor.close();
});

test('disabled rules never fire; off_hours is disabled by default', async () => {
  const { monitor, clock } = testMonitor({ rules: { bulk_read: { enabled: false, threshold: 1 } } });
  monitor.onAccess(access({ count: 1_000_000 }));
  clock.t = Date.UTC(2026, 0, 4, 3, 0); // a Sunday, 03:00 UTC
  monitor.onAccess(access());
  assert.deepEqual(monitor.alerts.list().alerts, []);
  await monitor.close();
});

test('a key whose networks exceed the bound forgets the least recently seen', async () => {
  const { monitor, clock } = testMonitor({ rules: { new_address: { maxNetworksPerKey: 2 } } });
  for (const ip of ['10.0.1.1', '10.0.2.1', '10.0.3.1']) {
    monitor.onAccess(access({ ip }));
    clock.advance(MIN);
  }
  const alerts = () => monitor.alerts.list({ rule: 'new_address' }).alerts;
  assert.equal(alerts().length, 2);
  assert.equal(alerts()[0]!.details.many_networks, true, 'the third network filled the bound');
  monitor.onAccess(access({ ip: '10.0.3.9' })); // still known
  // Forgotten, so new again — but a key rotating over more networks than it remembers would make
  // every use an alert (review H: 98 alerts from 99 requests): at its bound, one per hour.
  for (const ip of ['10.0.1.9', '10.0.4.1', '10.0.5.1', '10.0.6.1']) monitor.onAccess(access({ ip }));
  assert.equal(alerts().length, 2);
  clock.advance(60 * MIN);
  monitor.onAccess(access({ ip: '10.0.7.1' }));
  assert.equal(alerts().length, 3);
  await monitor.close();
});

test('below its bound every new network of a key is an alert, however close together', async () => {
  const { monitor } = testMonitor({ rules: { new_address: { maxNetworksPerKey: 32 } } });
  for (let n = 0; n < 10; n++) monitor.onAccess(access({ ip: `10.0.${n}.1` }));
  assert.equal(monitor.alerts.list({ rule: 'new_address' }).alerts.length, 9);
  await monitor.close();
});

test('window rules count across a restart: what was counted before it still counts after', async () => {
  const config = {
    rules: {
      auth_failures: { threshold: 5, windowMs: 5 * MIN },
      bulk_read: { threshold: 100, windowMs: HOUR },
      large_export: { threshold: 1000, windowMs: DAY },
      enumeration: { threshold: 4, windowMs: HOUR },
    },
  };
  const fail = () =>
    access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip: '203.0.113.5' });
  const first = testMonitor(config);
  for (let i = 0; i < 4; i++) first.monitor.onAccess(fail());
  first.monitor.onAccess(access({ count: 99, filter: { actor: 'u1' } }));
  first.monitor.onAccess(access({ count: 0, filter: { actor: 'u2' } }));
  first.monitor.onAccess(access({ filter: { q: 'u3' }, count: 0 }));
  first.monitor.onAccess(access({ kind: 'export', route: '/v1/logs/:log/export', count: 999 }));
  assert.equal(first.monitor.alerts.list().alerts.length, 0);
  await first.monitor.close();

  const second = testMonitor(config, { meta: first.meta, clock: first.clock });
  second.clock.advance(MIN);
  second.monitor.onAccess(fail());
  second.monitor.onAccess(access({ count: 1, filter: { target: 'doc-9' } }));
  second.monitor.onAccess(access({ kind: 'export', route: '/v1/logs/:log/export', count: 1 }));
  const rules = second.monitor.alerts
    .list()
    .alerts.map((a) => a.rule)
    .sort();
  assert.deepEqual(rules, ['auth_failures', 'bulk_read', 'enumeration', 'large_export']);
  await second.monitor.close();
});

test('windows survive a crash up to the last periodic check, and still expire with time', async () => {
  const config = { rules: { auth_failures: { threshold: 5, windowMs: 5 * MIN } } };
  const fail = (ip: string) => access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip });
  const first = testMonitor(config);
  for (let i = 0; i < 4; i++) first.monitor.onAccess(fail('203.0.113.5'));
  for (let i = 0; i < 4; i++) first.monitor.onAccess(fail('198.51.100.7'));
  first.monitor.check();
  // A crash: no close. The next start reads what the periodic check wrote.
  const second = testMonitor(config, { meta: first.meta, clock: first.clock });
  second.monitor.onAccess(fail('203.0.113.5'));
  assert.deepEqual(
    second.monitor.alerts.list().alerts.map((a) => a.subject),
    ['ip:203.0.113.5'],
  );
  await second.monitor.close();
  // Past the window (and its last bucket), the rest has left it: a start sees nothing of it.
  first.clock.advance(5 * MIN + (5 * MIN) / 64);
  const third = testMonitor(config, { meta: first.meta, clock: first.clock });
  third.monitor.onAccess(fail('198.51.100.7'));
  assert.equal(third.monitor.alerts.list().alerts.length, 1, 'no new alert');
  await third.monitor.close();
  await first.monitor.close();
});

test("refusals without a key cannot push a key's refusals out of the auth_failures window", async () => {
  const { monitor } = testMonitor({ rules: { auth_failures: { threshold: 3, windowMs: 5 * MIN } } });
  monitor.onAccess(access({ kind: 'auth_failure', status: 403 }));
  monitor.onAccess(access({ kind: 'auth_failure', status: 403 }));
  // One refusal each from 5,000 networks (free to send, no alert): 10,000 subjects, address and network.
  for (let n = 0; n < 5000; n++) {
    const ip = `10.${n >> 8}.${n & 255}.1`;
    monitor.onAccess(access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip }));
  }
  assert.equal(monitor.alerts.list().alerts.length, 0);
  monitor.onAccess(access({ kind: 'auth_failure', status: 403 }));
  assert.deepEqual(
    monitor.alerts.list({ rule: 'auth_failures' }).alerts.map((a) => a.subject),
    [`key:${KEY}`],
  );
  await monitor.close();
});

test('an alert raised while the clock was ahead does not fold the alerts after it is set back', async () => {
  const { monitor, clock } = testMonitor({ rules: { auth_failures: { threshold: 3, windowMs: 5 * MIN } } });
  const fail = (ip: string) => access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip });
  const right = clock.t;
  clock.t = right + 365 * DAY; // a clock a year ahead (a bad RTC at boot, a restored VM)…
  for (let i = 0; i < 3; i++) monitor.onAccess(fail('203.0.113.5'));
  clock.t = right; // …that NTP sets back
  for (let i = 0; i < 3; i++) monitor.onAccess(fail('198.51.100.7'));
  for (let i = 0; i < 3; i++) monitor.onAccess(fail('203.0.113.5'));
  assert.equal(monitor.alerts.list({ subject: 'ip:198.51.100.7' }).alerts.length, 1);
  assert.equal(monitor.alerts.list({ subject: 'ip:203.0.113.5' }).alerts.length, 2, 'not folded for a year');
  // Folded as usual from then on, within the window.
  for (let i = 0; i < 3; i++) monitor.onAccess(fail('203.0.113.5'));
  assert.equal(monitor.alerts.list({ subject: 'ip:203.0.113.5' }).alerts.length, 2);
  await monitor.close();
});

test('dormant_key measures from the last sighting, even one after the clock was set back', async () => {
  const config = { rules: { dormant_key: { dormantMs: 30 * DAY } } };
  const first = testMonitor(config);
  const right = first.clock.t;
  first.clock.t = right + 365 * DAY; // seen while the clock was a year ahead…
  first.monitor.onAccess(access());
  first.monitor.check();
  first.clock.t = right; // …then set back, and seen again
  first.monitor.onAccess(access());
  await first.monitor.close();
  // After a restart too: the sighting stored is the last one, not the latest time.
  const second = testMonitor(config, { meta: first.meta, clock: first.clock });
  second.clock.advance(30 * DAY);
  second.monitor.onAccess(access());
  assert.equal(second.monitor.alerts.list({ rule: 'dormant_key' }).alerts.length, 1, 'unused for 30 days');
  await second.monitor.close();
});

test('addresses of one network reaching the threshold one after another make one address alert per window', async () => {
  const { monitor, clock } = testMonitor({ rules: { auth_failures: { threshold: 5, windowMs: 5 * MIN } } });
  const fail = (ip: string) => access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip });
  // Anyone has a /64: 5 refusals from each of its addresses was an alert each, without end.
  for (let i = 1; i <= 50; i++)
    for (let j = 0; j < 5; j++) monitor.onAccess(fail(`2001:db8:1:2::${i.toString(16)}`));
  for (let j = 0; j < 5; j++) monitor.onAccess(fail('198.51.100.9'));
  const subjects = () =>
    monitor.alerts
      .list({ rule: 'auth_failures' })
      .alerts.map((a) => a.subject)
      .sort();
  assert.deepEqual(subjects(), ['ip:198.51.100.9', 'ip:2001:db8:1:2::1', 'net:2001:db8:1:2:0:0:0:0/64']);
  const [first] = monitor.alerts.list({ subject: 'ip:2001:db8:1:2::1' }).alerts;
  assert.equal(first?.details.network, '2001:db8:1:2:0:0:0:0/64');
  // The next window: one more.
  clock.advance(5 * MIN);
  for (let i = 51; i <= 60; i++)
    for (let j = 0; j < 5; j++) monitor.onAccess(fail(`2001:db8:1:2::${i.toString(16)}`));
  assert.equal(subjects().filter((s) => s.startsWith('ip:2001:db8:1:2::')).length, 2);
  await monitor.close();
});
