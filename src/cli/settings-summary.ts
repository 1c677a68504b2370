/**
 * What `service.start` records of the settings a server started with (review H: disabling a rule,
 * raising a threshold, dropping a webhook or trusting a proxy between two restarts left no trace).
 * Everything that decides what is audited, alerted or public — never a secret: webhooks appear as
 * their id and host. `digest` (SHA-256 of the summary) makes a change between two starts easy to spot.
 */
import { createHash } from 'node:crypto';
import { type HttpConfig, resolveHttpConfig } from '../http/config.js';
import { type MonitorConfigInput, resolveMonitorConfig } from '../monitor/config.js';

export function settingsSummary(
  http: Partial<HttpConfig> | undefined,
  monitor: MonitorConfigInput | undefined,
) {
  const h = resolveHttpConfig(http);
  const m = resolveMonitorConfig(monitor);
  const rules = Object.fromEntries(
    Object.entries(m.rules).map(([name, rule]) => {
      // Every parameter of a rule (thresholds, windows, hours), as configured.
      const { enabled, severity, ...params } = rule as { enabled: boolean; severity: string };
      return [name, enabled ? { severity, ...params } : 'off'];
    }),
  );
  const summary = {
    http: {
      publicReads: h.publicReads,
      publicMetrics: h.publicMetrics,
      trustProxy: h.trustProxy,
      rateLimit: h.rateLimit,
    },
    monitor: {
      rules,
      webhooks: m.webhooks.map((w) => ({ id: w.id, host: hostOf(w.url), events: w.events ?? 'all' })),
    },
  };
  const digest = createHash('sha256').update(JSON.stringify(summary)).digest('hex');
  return { ...summary, digest };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
