/** Operator metrics of the monitor, read through the Prometheus text exposition. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { access, testMonitor } from './test-helpers.js';

test('per-log gauges, counters and the fsync histogram', async () => {
  const { monitor, clock, engine } = testMonitor({ rules: { auth_failures: { threshold: 2 } } });
  engine.progress.set('acme', { size: 12, treeSize: 10, queueDepth: 4 });
  monitor.check();
  clock.advance(90_000);
  monitor.onAccess(access({ kind: 'auth_failure', keyId: null, status: 401 }));
  monitor.onAccess(access({ kind: 'auth_failure', keyId: null, status: 401 }));
  monitor.onAccess(access({ kind: 'auth_failure', status: 403 }));
  monitor.metrics.observeFsync(0.002);
  monitor.metrics.observeCommitBatch(64);
  await monitor.flush();
  const text = await monitor.registry.metrics();
  const has = (line: string) => assert.ok(text.includes(`${line}\n`), `${line}\n---\n${text}`);
  has('indelible_log_integration_lag_entries{log="acme"} 2');
  has('indelible_log_checkpoint_age_seconds{log="acme"} 90');
  has('indelible_index_lag_entries{log="acme"} 0');
  has('indelible_auth_failures_total{status="401"} 2');
  has('indelible_auth_failures_total{status="403"} 1');
  has('indelible_alerts_total{rule="auth_failures",severity="warning"} 1');
  has('indelible_fsync_duration_seconds_count 1');
  has('indelible_fsync_duration_seconds_bucket{le="0.0025"} 1');
  has('indelible_sequencer_batch_events_sum 64');
  has('indelible_audit_events_total 4');
  has('indelible_audit_queue_depth 0');
  has('indelible_audit_dropped_total 0');
  // It counts invalid events too (recorder.ts), not only those a full buffer turned away.
  assert.match(text, /# HELP indelible_audit_dropped_total .*buffer was full.*invalid/);
  await monitor.close();
});

test('metrics go to a registry passed in, next to others', async () => {
  const registry = new Registry();
  const { monitor } = testMonitor({}, { registry });
  assert.equal(monitor.registry, registry);
  assert.ok(registry.getSingleMetric('indelible_alerts_total'));
  await monitor.close();
});
