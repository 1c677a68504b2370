/**
 * Operator metrics owned by the monitor (docs/MONITORING.md lists these and the HTTP layer's), on a
 * registry passed in, so one `/metrics` serves both. Names never clash with src/http/metrics.ts
 * (which has request counts, ingest events and batch sizes per request, tree size, durable entries
 * and queue depth per log). Per-log gauges read their sources at scrape time; label values are log
 * names, rule names and webhook ids, all bounded by configuration, never by clients.
 *
 * Two observations come from inside the engine, which the monitor cannot reach: `observeFsync` (each
 * journal fsync) and `observeCommitBatch` (events per sequencer commit). The composition root wires
 * them (see the monitor's report).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DeliveryResult } from './webhook.js';

export interface MetricSources {
  /** Per log: name, integration lag (entries), checkpoint age (ms, when known), index lag (entries). */
  logs(): Array<{
    name: string;
    integrationLag: number;
    checkpointAgeMs: number | undefined;
    indexLag: number;
  }>;
  auditQueueDepth(): number;
  auditDropped(): number;
  /** Per webhook: alerts stored after its cursor. */
  webhookBacklog(): Array<{ id: string; pending: number }>;
}

export interface MonitorMetrics {
  observeFsync(seconds: number): void;
  observeCommitBatch(events: number): void;
  authFailure(status: number): void;
  alert(rule: string, severity: string): void;
  delivery(r: DeliveryResult): void;
  auditAppended(events: number): void;
}

export function createMonitorMetrics(registry: Registry, sources: MetricSources): MonitorMetrics {
  const registers = [registry];
  const fsync = new Histogram({
    name: 'indelible_fsync_duration_seconds',
    help: 'Duration of each journal commit in seconds: the write and fdatasync, plus the wait for the event loop to resume the commit (under load the larger part).',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const commitBatch = new Histogram({
    name: 'indelible_sequencer_batch_events',
    help: 'Events per sequencer commit (one journal write and fsync).',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers,
  });
  const authFailures = new Counter({
    name: 'indelible_auth_failures_total',
    help: 'Refused requests: 401 (no valid key) and 403 (key without the right).',
    labelNames: ['status'] as const,
    registers,
  });
  const alerts = new Counter({
    name: 'indelible_alerts_total',
    help: 'Alerts raised, by rule and severity.',
    labelNames: ['rule', 'severity'] as const,
    registers,
  });
  const deliveries = new Counter({
    name: 'indelible_webhook_deliveries_total',
    help: 'Webhook delivery attempts by webhook id and result (success|failure).',
    labelNames: ['webhook', 'result'] as const,
    registers,
  });
  const deliveryFailures = new Counter({
    name: 'indelible_webhook_delivery_failures_total',
    help: 'Failed webhook delivery attempts (each is retried with back-off).',
    labelNames: ['webhook'] as const,
    registers,
  });
  const audited = new Counter({
    name: 'indelible_audit_events_total',
    help: 'Events appended to the _audit log by the self-audit.',
    registers,
  });
  new Counter({
    name: 'indelible_audit_dropped_total',
    help: 'Self-audit events dropped: the buffer was full while _audit was unavailable, or _audit refused one as invalid.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.auditDropped());
    },
  });
  new Gauge({
    name: 'indelible_audit_queue_depth',
    help: 'Self-audit events buffered, not yet appended to _audit.',
    registers,
    collect() {
      this.set(sources.auditQueueDepth());
    },
  });
  new Gauge({
    name: 'indelible_webhook_backlog_alerts',
    help: 'Alerts stored after a webhook delivery cursor (waiting or being retried).',
    labelNames: ['webhook'] as const,
    registers,
    collect() {
      this.reset();
      for (const w of sources.webhookBacklog()) this.set({ webhook: w.id }, w.pending);
    },
  });
  const perLog = (
    name: string,
    help: string,
    read: (l: ReturnType<MetricSources['logs']>[number]) => number | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['log'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of sources.logs()) {
          const v = read(l);
          if (v !== undefined) this.set({ log: l.name }, v);
        }
      },
    });
  perLog(
    'indelible_log_integration_lag_entries',
    'Durable entries not yet in a signed checkpoint, per log.',
    (l) => l.integrationLag,
  );
  perLog(
    'indelible_log_checkpoint_age_seconds',
    'Seconds since the tree size of the latest checkpoint changed (or the monitor started), per log.',
    (l) => (l.checkpointAgeMs === undefined ? undefined : l.checkpointAgeMs / 1000),
  );
  perLog(
    'indelible_index_lag_entries',
    'Sequenced entries not yet in the search index, per log.',
    (l) => l.indexLag,
  );

  return {
    observeFsync: (s) => fsync.observe(s),
    observeCommitBatch: (n) => commitBatch.observe(n),
    authFailure: (status) => authFailures.inc({ status: String(status) }),
    alert: (rule, severity) => alerts.inc({ rule, severity }),
    delivery(r) {
      deliveries.inc({ webhook: r.webhook, result: r.ok ? 'success' : 'failure' });
      if (!r.ok) deliveryFailures.inc({ webhook: r.webhook });
    },
    auditAppended: (n) => audited.inc(n),
  };
}
