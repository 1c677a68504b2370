/**
 * The monitor ("who watches the watchers"): the composition of the self-audit recorder, the alert
 * rules, the alert store, webhook deliverers and operator metrics. `createMonitor` is called once
 * per process by the composition root, which hands `onAccess` to the HTTP server, calls
 * `recordLifecycle` at start and stop, and closes the monitor before the engine.
 *
 * What an alert is (in this order): a row in `monitor_alerts` (durable, monotonic id), a Prometheus
 * counter, a log line at `warn`, an `alert.<rule>` entry in `_audit`, and a wake-up for every
 * webhook deliverer. Repeats of a rule for one subject within its window are folded into the first
 * alert, also across restarts (the store remembers when each rule last fired for each subject).
 */
import type Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import type { JsonObject } from '../core/event.js';
import { type Clock, type Logger, silentLogger, systemClock } from '../log/types.js';
import { AlertStore } from './alert-store.js';
import { AnonymousFailureFold, type FoldSummary } from './anonymous-fold.js';
import {
  type AccessInput,
  type AdminRecord,
  type Alert,
  AUDIT_LOG,
  AUDIT_SERVICE,
  accessToAuditEvent,
  adminEvent,
  alertEvent,
  boundedJson,
  clip,
  type LifecycleKind,
  lifecycleEvent,
  type PruneRecord,
  pruneEvent,
} from './audit-events.js';
import {
  type MonitorConfig,
  type MonitorConfigInput,
  type RuleName,
  resolveMonitorConfig,
} from './config.js';
import { KeyState } from './key-state.js';
import { LogWatch } from './log-watch.js';
import { createMonitorMetrics, type MonitorMetrics } from './metrics.js';
import { AuditRecorder, realTimers, type Timers } from './recorder.js';
import { AccessRules } from './rules.js';
import { WebhookDeliverer } from './webhook.js';
import { WindowStore } from './window-store.js';
import { touch } from './windows.js';

export { AUDIT_LOG };

/**
 * Error codes meaning that stored data does not match what a log signed: a sealed object damaged or
 * altered on disk (log.inconsistent: the read-time tile and bundle checks), storage behind a signed
 * checkpoint (log.storage_behind), an object the archiver refused (retention.bad_local_object).
 */
export const INTEGRITY_CODES: ReadonlySet<string> = new Set([
  'log.inconsistent',
  'log.storage_behind',
  'retention.bad_local_object',
]);

/**
 * More codes that mean damaged data when an archive run meets them (source `archive`): the local
 * copy was checked before upload, so an object already archived with other bytes
 * (storage.immutable_conflict) or one missing or altered in the bucket (storage.corrupt, from the
 * read-back before eviction) is the archive's copy gone bad.
 */
export const ARCHIVE_INTEGRITY_CODES: ReadonlySet<string> = new Set([
  'storage.immutable_conflict',
  'storage.corrupt',
]);

/** The subset of the engine the monitor uses (`Engine` satisfies it). */
export interface MonitoredEngine {
  append(log: string, events: readonly unknown[]): Promise<unknown>;
  listLogs(): Array<{ name: string }>;
  log(name: string): { size: number; treeSize: number; queueDepth: number };
  indexLag(name: string): number;
}

export interface MonitorDeps {
  engine: MonitoredEngine;
  /** `meta.sqlite` (shared; the monitor's tables are prefixed `monitor_`). */
  meta: Database.Database;
  clock?: Clock;
  logger?: Logger;
  config?: MonitorConfigInput;
  /** Where the metrics go (the server's registry); a private one when absent. */
  registry?: Registry;
  timers?: Timers;
  /**
   * Run the periodic checks and webhook deliverers (default true). The CLI turns this off: it only
   * records and reads alerts.
   */
  background?: boolean;
}

export interface Monitor {
  readonly config: MonitorConfig;
  readonly alerts: AlertStore;
  readonly metrics: MonitorMetrics;
  readonly registry: Registry;
  /** For `buildServer({ onAccess })`: records the access in `_audit` and runs the rules. Never throws. */
  onAccess(e: AccessInput): void;
  /** `service.start|stop|recovery` in `_audit`. */
  recordLifecycle(kind: LifecycleKind, details?: Record<string, unknown>): void;
  /** An admin action taken outside the HTTP API (CLI), with before/after state. */
  recordAdmin(record: AdminRecord): void;
  /** `retention.prune` in `_audit`: a log was pruned under its retention policy. */
  recordPrune(record: PruneRecord): void;
  /** Raises `verification_failure` (from `indelible verify`, a witness, a consistency check). */
  reportVerificationFailure(details: { log?: string } & Record<string, unknown>): void;
  /**
   * Raises `verification_failure` when `error` says stored data does not match what the log signed
   * (a damaged or altered object found by a request, an archive or a retention run: INTEGRITY_CODES);
   * returns whether it did. `where` names the activity that found it.
   */
  reportIntegrityError(error: unknown, where: { source: string; log?: string }): boolean;
  /**
   * Acknowledges an alert. The caller records it: the HTTP route through `onAccess` (an admin
   * access carrying before/after), the CLI through `recordAdmin`.
   */
  acknowledge(
    id: number,
    by: string,
    note?: string | null,
  ): { before: Alert; after: Alert; changed: boolean };
  /** The periodic checks (stalled integration, checkpoint age); also persists key sightings and windows. */
  check(): void;
  /** Resolves once everything recorded so far is in `_audit`. */
  flush(): Promise<void>;
  /** Stops timers and deliverers, persists state and flushes `_audit`. Call before closing the engine. */
  close(): Promise<void>;
}

const MAX_DEDUPE_ENTRIES = 50_000;

export function createMonitor(deps: MonitorDeps): Monitor {
  const config = resolveMonitorConfig(deps.config);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const timers = deps.timers ?? realTimers;
  const registry = deps.registry ?? new Registry();
  const { engine, meta } = deps;
  const background = deps.background ?? true;

  const store = new AlertStore(meta);
  const keyState = new KeyState(meta, config.rules.new_address.maxNetworksPerKey);
  const deliverers: WebhookDeliverer[] = [];
  const lastRaised = new Map<string, number>();
  let closed = false;

  function raise(
    rule: RuleName,
    subject: string,
    details: JsonObject,
    dedupeMs: number | undefined,
    foldAs?: string,
  ): boolean {
    const cfg = config.rules[rule];
    if (!cfg.enabled || closed) return false;
    try {
      const now = clock.now();
      const subj = clip(subject, 256);
      const key = `${rule}\n${foldAs === undefined ? subj : clip(foldAs, 300)}`;
      if (dedupeMs !== undefined) {
        // The store remembers alerts by subject: a fold under another name is remembered in memory.
        const last = lastRaised.get(key) ?? (foldAs === undefined ? store.lastRaised(rule, subj) : undefined);
        // One raised in the future was raised by a clock since set back: it cannot say how long ago
        // that was, and folding until the clock catches up would silence the rule for as long.
        if (last !== undefined && now >= last && now - last < dedupeMs) {
          touch(lastRaised, key, last, MAX_DEDUPE_ENTRIES);
          return false;
        }
      }
      const bounded = boundedJson(details);
      const alert = store.insert({
        rule,
        severity: cfg.severity,
        atMs: now,
        subject: subj,
        details: bounded !== null && typeof bounded === 'object' && !Array.isArray(bounded) ? bounded : {},
      });
      // Folded from now on — only once stored: an alert whose insert failed must not silence its
      // repeats for the whole window.
      if (dedupeMs !== undefined) touch(lastRaised, key, now, MAX_DEDUPE_ENTRIES);
      metrics.alert(rule, cfg.severity);
      logger.warn(
        {
          alert_id: alert.id,
          rule,
          severity: alert.severity,
          subject: alert.subject,
          details: alert.details,
        },
        `alert ${rule}`,
      );
      recorder.record(alertEvent(alert));
      for (const d of deliverers) d.wake();
      return true;
    } catch (err) {
      logger.error({ err, rule, subject }, 'raising an alert failed');
      return false;
    }
  }

  const recorder = new AuditRecorder({
    engine,
    log: AUDIT_LOG,
    ...config.audit,
    clock,
    logger,
    timers,
    onFailure: (err) =>
      raise(
        'audit_write_failure',
        `log:${AUDIT_LOG}`,
        { error: clip(String((err as { code?: unknown }).code ?? (err as Error).message ?? err)) },
        config.rules.audit_write_failure.windowMs,
      ),
    onAppended: (n) => metrics.auditAppended(n),
  });
  const rules = new AccessRules(config.rules, keyState, raise, new WindowStore(meta));
  try {
    rules.restore(clock.now());
  } catch (err) {
    logger.error({ err }, 'restoring the alert windows failed; they start empty');
  }
  const logWatch = new LogWatch(config.rules, raise);

  const metrics = createMonitorMetrics(registry, {
    logs() {
      const now = clock.now();
      const out = [];
      for (const { name } of engine.listLogs()) {
        try {
          const l = engine.log(name);
          out.push({
            name,
            integrationLag: Math.max(0, l.size - l.treeSize),
            checkpointAgeMs: logWatch.checkpointAgeMs(name, now),
            indexLag: engine.indexLag(name),
          });
        } catch {
          // A log closing during a scrape is left out of it.
        }
      }
      return out;
    },
    auditQueueDepth: () => recorder.depth,
    auditDropped: () => recorder.dropped,
    webhookBacklog() {
      const max = store.maxId();
      return deliverers.map((d) => ({ id: d.id, pending: Math.max(0, max - d.cursor) }));
    },
  });

  const anonymousFold = new AnonymousFailureFold();
  const recordFold = (f: FoldSummary) =>
    recorder.record({
      action: 'audit.auth_failure.suppressed',
      actor: { id: 'indelible.monitor', type: 'system' },
      outcome: 'denied',
      occurred_at: new Date(f.windowStart).toISOString(),
      source: { service: AUDIT_SERVICE },
      metadata: {
        count: f.suppressed,
        window_ms: f.windowMs,
        top_sources: f.top,
        other_sources_count: f.otherAddresses,
        reason:
          'requests without a valid key (or with a revoked one) past the per-source or total limit of individual records',
      },
    });

  function check(): void {
    if (closed) return;
    anonymousFold.roll(clock.now(), recordFold);
    try {
      const snapshot = [];
      for (const { name } of engine.listLogs()) {
        const l = engine.log(name);
        snapshot.push({ name, size: l.size, treeSize: l.treeSize, queueDepth: l.queueDepth });
      }
      logWatch.observe(snapshot, clock.now());
    } catch (err) {
      logger.error({ err }, 'monitor check failed');
    }
    try {
      keyState.persist();
    } catch (err) {
      logger.error({ err }, 'persisting key sightings failed');
    }
    try {
      rules.persist(clock.now());
    } catch (err) {
      logger.error({ err }, 'persisting the alert windows failed');
    }
  }

  let checkTimer: unknown;
  const scheduleCheck = () => {
    checkTimer = timers.setTimeout(() => {
      check();
      if (!closed) scheduleCheck();
    }, config.checkIntervalMs);
  };
  check();
  if (background) {
    for (const webhook of config.webhooks) {
      const d = new WebhookDeliverer({
        store,
        webhook,
        delivery: config.delivery,
        clock,
        logger,
        timers,
        onResult: (r) => metrics.delivery(r),
      });
      deliverers.push(d);
      d.start();
    }
    scheduleCheck();
  }

  const reportVerificationFailure: Monitor['reportVerificationFailure'] = (details) => {
    const subject = typeof details.log === 'string' ? `log:${details.log}` : 'service:verify';
    const bounded = boundedJson(details);
    raise(
      'verification_failure',
      subject,
      bounded !== null && typeof bounded === 'object' && !Array.isArray(bounded) ? bounded : {},
      config.rules.verification_failure.windowMs,
    );
  };

  return {
    config,
    alerts: store,
    metrics,
    registry,
    onAccess(e) {
      if (closed) {
        // A request the shutdown cut, finishing after the monitor closed: the server log keeps it.
        logger.warn({ audit_event: accessToAuditEvent(e) }, 'access after the self-audit closed');
        return;
      }
      try {
        // Refusals that cost the sender nothing — no valid key, or a revoked one (it is refused
        // before any rate limit) — are folded past a few per minute and source.
        const revoked = (e.filter as { reason?: unknown } | null)?.reason === 'revoked_key';
        const foldable = e.kind === 'auth_failure' && (!e.keyId || revoked);
        const source = e.keyId ? `key:${e.keyId}` : (e.ip ?? '');
        if (!foldable || anonymousFold.admit(source, clock.now(), recordFold)) {
          recorder.record(accessToAuditEvent(e));
        }
        if (e.kind === 'auth_failure') metrics.authFailure(e.status);
        rules.observe(e, clock.now());
      } catch (err) {
        logger.error({ err }, 'monitor failed to observe an access');
      }
    },
    recordLifecycle(kind, details) {
      recorder.record(lifecycleEvent(kind, clock.now(), details ?? {}));
    },
    recordAdmin(record) {
      recorder.record(adminEvent(record, clock.now()));
    },
    recordPrune(record) {
      recorder.record(pruneEvent(record, clock.now()));
    },
    reportVerificationFailure,
    reportIntegrityError(error, where) {
      const code = (error as { code?: unknown } | null)?.code;
      if (
        typeof code !== 'string' ||
        !(INTEGRITY_CODES.has(code) || (where.source === 'archive' && ARCHIVE_INTEGRITY_CODES.has(code)))
      ) {
        return false;
      }
      const details = (error as { details?: Record<string, unknown> }).details ?? {};
      const log = typeof details.log === 'string' ? details.log : where.log;
      reportVerificationFailure({
        ...(log === undefined ? {} : { log }),
        source: where.source,
        code,
        message: (error as Error).message,
        details,
      });
      return true;
    },
    acknowledge(id, by, note) {
      return store.acknowledge(
        id,
        clip(by, 128),
        note === undefined || note === null ? null : clip(note, 1024),
        clock.now(),
      );
    },
    check,
    flush: () => recorder.flush(),
    async close() {
      if (closed) return;
      closed = true;
      timers.clearTimeout(checkTimer);
      try {
        keyState.persist();
      } catch (err) {
        logger.error({ err }, 'persisting key sightings failed');
      }
      try {
        rules.persist(clock.now());
      } catch (err) {
        logger.error({ err }, 'persisting the alert windows failed');
      }
      await Promise.all(deliverers.map((d) => d.close()));
      // The last window's folded refusals would otherwise leave no trace.
      anonymousFold.roll(Number.POSITIVE_INFINITY, recordFold);
      await recorder.close();
    },
  };
}
