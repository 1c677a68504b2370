/**
 * Prometheus metrics of the S3 archive, read from the archived driver at scrape time: runs per log
 * and result, the time of each log's last successful run, and how far its archive reaches. An archive
 * that stops working (S3 unreachable, a damaged object it refuses, a run that hangs) shows as a
 * growing `indelible_archive_seconds_since_success`; docs/MONITORING.md suggests alerts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ArchiveRunStats } from './archived-driver.js';

export function registerArchiveMetrics(
  registry: Registry,
  source: { runStats(): ArchiveRunStats[] },
  now: () => number = Date.now,
): void {
  const registers = [registry];
  const perLog = (name: string, help: string, read: (s: ArchiveRunStats) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['log'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of source.runStats()) {
          const v = read(s);
          if (v !== undefined) this.set({ log: s.log }, v);
        }
      },
    });
  // Counts kept by the driver, copied in at scrape time.
  new Counter({
    name: 'indelible_archive_runs_total',
    help: 'Archive runs (archive, then evict) per log since the server started, by result.',
    labelNames: ['log', 'result'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of source.runStats()) {
        this.inc({ log: s.log, result: 'success' }, s.succeeded);
        this.inc({ log: s.log, result: 'failure' }, s.failed);
      }
    },
  });
  perLog(
    'indelible_archive_last_success_timestamp_seconds',
    'Unix time of the last successful archive run of a log (absent until one succeeds).',
    (s) => (s.lastSuccessAt === undefined ? undefined : s.lastSuccessAt / 1000),
  );
  perLog(
    'indelible_archive_seconds_since_success',
    "Seconds since a log's last successful archive run, or since this process first started one when none has succeeded; unlike failing_seconds it also grows while a run hangs and after a restart.",
    (s) => Math.max(0, now() - (s.lastSuccessAt ?? s.watchedSince)) / 1000,
  );
  perLog(
    'indelible_archive_failing_seconds',
    "Seconds since a log's archive runs began failing in a row (0 while they succeed).",
    (s) => (s.failingSince === undefined ? 0 : Math.max(0, now() - s.failingSince) / 1000),
  );
  perLog(
    'indelible_archive_archived_entries',
    'Tree size the archive alone verifies, per log, after its last successful run.',
    (s) => s.archivedSize,
  );
  perLog(
    'indelible_archive_evicted_entries',
    'Entries whose sealed objects may be only in the archive (the eviction watermark), per log.',
    (s) => s.evictedSize,
  );
}
