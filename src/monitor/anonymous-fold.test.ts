// Refused requests without a valid key are recorded one by one only up to a limit per address and
// in total per minute; the rest become one summary record per minute (reviews H and J: a flood of
// anonymous 401s grew `_audit` without bound). Alert rules still see every one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnonymousFailureFold, type FoldSummary } from './anonymous-fold.js';
import { access, testMonitor } from './test-helpers.js';

const MIN = 60_000;

test('the fold admits the first per address and in total, counts the rest, and reports per window', () => {
  const fold = new AnonymousFailureFold({ perAddress: 3, total: 5, windowMs: MIN, maxAddresses: 2 });
  const summaries: FoldSummary[] = [];
  const on = (s: FoldSummary) => summaries.push(s);
  const t0 = 1_000_000;
  const admitted = ['a', 'a', 'a', 'a', 'b', 'b', 'c', 'd'].map((ip) => fold.admit(ip, t0, on));
  // a: 3 admitted then 1 folded; b: 2 admitted (total 5 reached); c, d folded (total).
  assert.deepEqual(admitted, [true, true, true, false, true, true, false, false]);
  assert.equal(summaries.length, 0);
  fold.roll(t0 + MIN - 1, on);
  assert.equal(summaries.length, 0, 'not before the window is over');
  fold.roll(t0 + MIN, on);
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.suppressed, 3);
  // Counted by name up to maxAddresses (2): a and c; d beyond it.
  assert.deepEqual(summaries[0]!.top, [
    { source: 'a', count: 1 },
    { source: 'c', count: 1 },
  ]);
  assert.equal(summaries[0]!.otherAddresses, 1);
  // A new window admits again; a quiet window reports nothing.
  assert.equal(fold.admit('a', t0 + MIN + 1, on), true);
  fold.roll(t0 + 3 * MIN, on);
  assert.equal(summaries.length, 1);
});

test('a flood of anonymous 401s makes a bounded number of _audit records, and still raises its alert', async () => {
  const { monitor, engine, clock } = testMonitor({
    rules: { auth_failures: { threshold: 50, windowMs: 5 * MIN } },
  });
  const fail = (ip: string) =>
    access({ kind: 'auth_failure', keyId: null, role: null, status: 401, ip, route: '/v1/logs/:log/events' });
  for (let i = 0; i < 5000; i++)
    monitor.onAccess(fail(i % 2 === 0 ? '203.0.113.7' : `198.51.100.${i % 250}`));
  // A key's refusals are never folded.
  for (let i = 0; i < 20; i++)
    monitor.onAccess(access({ kind: 'auth_failure', keyId: 'key_x', status: 403, ip: '203.0.113.7' }));
  clock.advance(MIN);
  monitor.check();
  await monitor.flush();
  const actions = (engine.appended as Array<{ action: string; metadata: Record<string, unknown> }>).map(
    (e) => e.action,
  );
  const individual = actions.filter((a) => a === 'audit.auth_failure').length;
  assert.equal(individual, 100 + 20, 'the first 100 anonymous ones, and every keyed one');
  const summaries = (engine.appended as Array<{ action: string; metadata: Record<string, unknown> }>).filter(
    (e) => e.action === 'audit.auth_failure.suppressed',
  );
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.metadata.count, 4900);
  assert.deepEqual(
    (summaries[0]!.metadata.top_sources as Array<{ source: string }>)[0]!.source,
    '203.0.113.7',
  );
  assert.ok(
    monitor.alerts.list({ rule: 'auth_failures' }).alerts.some((a) => a.subject === 'ip:203.0.113.7'),
    'the rule saw every failure',
  );
  await monitor.close();
});

test("a revoked key's refusals are folded per key; the last window's summary is written at close", async () => {
  const { monitor, engine } = testMonitor();
  for (let i = 0; i < 500; i++) {
    monitor.onAccess(
      access({ kind: 'auth_failure', keyId: 'key_gone', status: 401, filter: { reason: 'revoked_key' } }),
    );
  }
  await monitor.close(); // no minute passed: the summary comes from close()
  const events = engine.appended as Array<{ action: string; metadata: Record<string, unknown> }>;
  assert.equal(events.filter((e) => e.action === 'audit.auth_failure').length, 10);
  const summary = events.find((e) => e.action === 'audit.auth_failure.suppressed');
  assert.equal(summary?.metadata.count, 490);
  assert.deepEqual(summary?.metadata.top_sources, [{ source: 'key:key_gone', count: 490 }]);
});

test('a clock set back closes the window: its summary is not held until the clock catches up', () => {
  const fold = new AnonymousFailureFold({ perAddress: 3, total: 100, windowMs: MIN, maxAddresses: 10 });
  const summaries: FoldSummary[] = [];
  const on = (s: FoldSummary) => summaries.push(s);
  const t0 = 1_000_000_000;
  fold.admit('a', t0 + 365 * 24 * 60 * MIN, on); // a clock a year ahead…
  // …set back: a fresh window, whose summary comes a minute later.
  const admitted = [1, 2, 3, 4, 5].map(() => fold.admit('a', t0, on));
  assert.deepEqual(admitted, [true, true, true, false, false]);
  fold.roll(t0 + MIN, on);
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.suppressed, 2);
});
