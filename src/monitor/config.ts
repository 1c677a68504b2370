/**
 * The monitor's configuration: one typed object with documented defaults (docs/MONITORING.md lists
 * them all). `resolveMonitorConfig` completes a partial object and refuses nonsense at start with a
 * sentence naming the option. The self-audit itself has no switch: it cannot be turned off, here or
 * through the API (DESIGN §5 invariant 4); only its batching can be tuned.
 */
import { createHash } from 'node:crypto';
import { MonitorError } from './errors.js';

export const RULES = [
  'bulk_read',
  'large_export',
  'auth_failures',
  'new_address',
  'off_hours',
  'enumeration',
  'dormant_key',
  'integration_stalled',
  'checkpoint_stale',
  'verification_failure',
  'audit_write_failure',
  'revoked_key_used',
] as const;
export type RuleName = (typeof RULES)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

interface RuleBase {
  enabled: boolean;
  severity: Severity;
}
/** Fires when a per-subject sum (or distinct count) over the last `windowMs` reaches `threshold`. */
export interface WindowRule extends RuleBase {
  threshold: number;
  windowMs: number;
}
export interface NewAddressRule extends RuleBase {
  /** Addresses are compared as networks: IPv4 /24 and IPv6 /64 by default (32 / 128 = exact). */
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Networks remembered per key (least recently seen forgotten first). */
  maxNetworksPerKey: number;
}
/** One allowed period: weekdays (0 = Sunday … 6 = Saturday) and a `HH:MM`–`HH:MM` range, `to` exclusive. */
export interface AllowedHours {
  days: number[];
  from: string;
  to: string;
}
export interface OffHoursRule extends RuleBase {
  /** IANA time zone the periods are in (`Europe/Paris`, `UTC`). */
  timeZone: string;
  allowed: AllowedHours[];
  /** One alert per key per window. */
  windowMs: number;
}
export interface DormantKeyRule extends RuleBase {
  /** A key unseen for at least this long, then used, fires. */
  dormantMs: number;
}
export interface StalledRule extends RuleBase {
  /** Work pending (queued or unintegrated entries) with no progress for at least this long fires. */
  stalledMs: number;
}
export interface CheckpointStaleRule extends RuleBase {
  /** A log whose tree size has not changed for at least this long fires (a silent producer). */
  maxAgeMs: number;
}
export interface EveryTimeRule extends RuleBase {
  /** Repeats for the same subject within this window are folded into the first alert. */
  windowMs: number;
}

export interface RulesConfig {
  bulk_read: WindowRule;
  large_export: WindowRule;
  auth_failures: WindowRule;
  new_address: NewAddressRule;
  off_hours: OffHoursRule;
  enumeration: WindowRule;
  dormant_key: DormantKeyRule;
  integration_stalled: StalledRule;
  checkpoint_stale: CheckpointStaleRule;
  verification_failure: EveryTimeRule;
  audit_write_failure: EveryTimeRule;
  /** A revoked key's secret was presented: it is out there. Folded per key per window. */
  revoked_key_used: EveryTimeRule;
}

export interface WebhookConfig {
  /** Names the delivery cursor; default: derived from the URL. Changing it restarts at the newest alert. */
  id?: string;
  url: string;
  /** Shared HMAC-SHA256 secret, at least 16 characters. Never logged or recorded. */
  secret: string;
  /** Rules to deliver; default all. */
  events?: RuleName[];
}

export interface MonitorConfig {
  audit: {
    /** Buffered access events are appended to `_audit` at least this often. */
    flushIntervalMs: number;
    /** …or as soon as this many are buffered (one `engine.append` per batch). */
    maxBatchEvents: number;
    /** Beyond this many buffered events new ones are counted as dropped (and the drop is recorded). */
    maxQueuedEvents: number;
  };
  /** Interval of the periodic checks (stalled integration, checkpoint age). */
  checkIntervalMs: number;
  rules: RulesConfig;
  webhooks: WebhookConfig[];
  delivery: {
    /** First retry delay; doubles per failed attempt up to `maxBackoffMs`. Retries never stop. */
    initialBackoffMs: number;
    maxBackoffMs: number;
    /** One attempt's time limit (connect to response). */
    timeoutMs: number;
  };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const win = (threshold: number, windowMs: number, severity: Severity = 'warning'): WindowRule => ({
  enabled: true,
  severity,
  threshold,
  windowMs,
});

const defaults: MonitorConfig = {
  audit: { flushIntervalMs: 100, maxBatchEvents: 500, maxQueuedEvents: 100_000 },
  checkIntervalMs: 5_000,
  rules: {
    bulk_read: win(10_000, HOUR),
    large_export: win(100_000, DAY),
    auth_failures: win(20, 5 * MINUTE),
    new_address: {
      enabled: true,
      severity: 'info',
      ipv4PrefixLength: 24,
      ipv6PrefixLength: 64,
      maxNetworksPerKey: 32,
    },
    off_hours: {
      enabled: false,
      severity: 'warning',
      timeZone: 'UTC',
      allowed: [{ days: [1, 2, 3, 4, 5], from: '07:00', to: '19:00' }],
      windowMs: HOUR,
    },
    enumeration: win(100, HOUR),
    dormant_key: { enabled: true, severity: 'warning', dormantMs: 30 * DAY },
    integration_stalled: { enabled: true, severity: 'critical', stalledMs: MINUTE },
    checkpoint_stale: { enabled: false, severity: 'warning', maxAgeMs: DAY },
    verification_failure: { enabled: true, severity: 'critical', windowMs: MINUTE },
    audit_write_failure: { enabled: true, severity: 'critical', windowMs: 5 * MINUTE },
    revoked_key_used: { enabled: true, severity: 'warning', windowMs: DAY },
  },
  webhooks: [],
  delivery: { initialBackoffMs: 1_000, maxBackoffMs: 5 * MINUTE, timeoutMs: 10_000 },
};
export const defaultMonitorConfig: Readonly<MonitorConfig> = Object.freeze(defaults);

type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type MonitorConfigInput = DeepPartial<MonitorConfig>;

const HH_MM = /^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$/;

/** Minutes after midnight of a validated `HH:MM` (24:00 = 1440). */
export function parseHhMm(s: string): number {
  return Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
}

function bad(option: string, must: string): never {
  throw new MonitorError('monitor.invalid_config', `monitor config ${option} ${must}`, {
    details: { option },
  });
}

function positiveInt(option: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    bad(option, `must be an integer ≥ ${min}`);
  return v;
}

/** Completes `input` with the defaults and checks it. @throws MonitorError `monitor.invalid_config`. */
export function resolveMonitorConfig(input: MonitorConfigInput = {}): MonitorConfig {
  const d = defaultMonitorConfig;
  const rulesIn = (input.rules ?? {}) as Record<string, object | undefined>;
  for (const name of Object.keys(rulesIn)) {
    if (!(RULES as readonly string[]).includes(name))
      bad(`rules.${name}`, `is not a rule (${RULES.join(', ')})`);
  }
  checkKeys(input, Object.keys(d), '');
  checkKeys(input.audit, Object.keys(d.audit), 'audit.');
  checkKeys(input.delivery, Object.keys(d.delivery), 'delivery.');
  const rules = {} as Record<RuleName, RuleBase & Record<string, unknown>>;
  for (const name of RULES) {
    checkKeys(rulesIn[name], Object.keys(d.rules[name]), `rules.${name}.`);
    const r = { ...d.rules[name], ...rulesIn[name] } as RuleBase & Record<string, unknown>;
    if (typeof r.enabled !== 'boolean') bad(`rules.${name}.enabled`, 'must be true or false');
    if (!SEVERITIES.includes(r.severity))
      bad(`rules.${name}.severity`, `must be one of ${SEVERITIES.join(', ')}`);
    for (const k of ['threshold', 'windowMs', 'dormantMs', 'stalledMs', 'maxAgeMs', 'maxNetworksPerKey']) {
      if (k in r) positiveInt(`rules.${name}.${k}`, r[k]);
    }
    rules[name] = r;
  }
  const na = rules.new_address as unknown as NewAddressRule;
  if (!Number.isSafeInteger(na.ipv4PrefixLength) || na.ipv4PrefixLength < 8 || na.ipv4PrefixLength > 32)
    bad('rules.new_address.ipv4PrefixLength', 'must be an integer in 8..32');
  if (!Number.isSafeInteger(na.ipv6PrefixLength) || na.ipv6PrefixLength < 16 || na.ipv6PrefixLength > 128)
    bad('rules.new_address.ipv6PrefixLength', 'must be an integer in 16..128');
  checkOffHours(rules.off_hours as unknown as OffHoursRule);

  const audit = { ...d.audit, ...input.audit };
  positiveInt('audit.flushIntervalMs', audit.flushIntervalMs);
  positiveInt('audit.maxBatchEvents', audit.maxBatchEvents);
  positiveInt('audit.maxQueuedEvents', audit.maxQueuedEvents);
  if (audit.maxQueuedEvents < audit.maxBatchEvents)
    bad('audit.maxQueuedEvents', 'must be ≥ audit.maxBatchEvents');
  const delivery = { ...d.delivery, ...input.delivery };
  positiveInt('delivery.initialBackoffMs', delivery.initialBackoffMs);
  positiveInt('delivery.maxBackoffMs', delivery.maxBackoffMs);
  positiveInt('delivery.timeoutMs', delivery.timeoutMs);
  if (delivery.maxBackoffMs < delivery.initialBackoffMs)
    bad('delivery.maxBackoffMs', 'must be ≥ delivery.initialBackoffMs');
  const checkIntervalMs = positiveInt('checkIntervalMs', input.checkIntervalMs ?? d.checkIntervalMs);

  const webhooks = (input.webhooks ?? []).map((w, i) => checkWebhook(w as Partial<WebhookConfig>, i));
  const ids = new Set<string>();
  for (const w of webhooks) {
    if (ids.has(w.id!)) bad(`webhooks (id ${w.id})`, 'must name each webhook once');
    ids.add(w.id!);
  }
  return { audit, checkIntervalMs, rules: rules as unknown as RulesConfig, webhooks, delivery };
}

/** Unknown options are mistakes (a misspelt threshold would silently keep the default). */
function checkKeys(obj: object | undefined, known: string[], prefix: string): void {
  if (obj === undefined) return;
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    bad(prefix.slice(0, -1) || '(root)', 'must be an object');
  for (const k of Object.keys(obj)) if (!known.includes(k)) bad(`${prefix}${k}`, 'is not a known option');
}

function checkOffHours(r: OffHoursRule): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: r.timeZone });
  } catch {
    bad('rules.off_hours.timeZone', `names no known time zone (${JSON.stringify(r.timeZone)})`);
  }
  if (!Array.isArray(r.allowed)) bad('rules.off_hours.allowed', 'must be an array of periods');
  r.allowed.forEach((p, i) => {
    const at = `rules.off_hours.allowed[${i}]`;
    if (!Array.isArray(p.days) || !p.days.every((x) => Number.isSafeInteger(x) && x >= 0 && x <= 6))
      bad(`${at}.days`, 'must be weekday numbers 0 (Sunday) to 6 (Saturday)');
    if (typeof p.from !== 'string' || !HH_MM.test(p.from) || p.from === '24:00')
      bad(`${at}.from`, 'must be HH:MM');
    if (typeof p.to !== 'string' || !HH_MM.test(p.to)) bad(`${at}.to`, 'must be HH:MM (24:00 allowed)');
    if (parseHhMm(p.to) <= parseHhMm(p.from))
      bad(`${at}.to`, 'must be after from (split a period over midnight in two)');
  });
}

function checkWebhook(w: Partial<WebhookConfig>, i: number): WebhookConfig {
  const at = `webhooks[${i}]`;
  checkKeys(w, ['id', 'url', 'secret', 'events'], `${at}.`);
  let url: URL;
  try {
    url = new URL(String(w.url));
  } catch {
    bad(`${at}.url`, 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') bad(`${at}.url`, 'must be an http(s) URL');
  if (url.username !== '' || url.password !== '')
    bad(`${at}.url`, 'must not carry credentials (use the secret)');
  if (typeof w.secret !== 'string' || w.secret.length < 16)
    bad(`${at}.secret`, 'must be at least 16 characters');
  if (w.events !== undefined) {
    if (!Array.isArray(w.events) || w.events.length === 0)
      bad(`${at}.events`, 'must be a non-empty array of rules');
    for (const e of w.events)
      if (!(RULES as readonly string[]).includes(e))
        bad(`${at}.events`, `names an unknown rule ${JSON.stringify(e)}`);
  }
  if (w.id !== undefined && (typeof w.id !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(w.id)))
    bad(`${at}.id`, 'must be 1..64 characters of [A-Za-z0-9._:-]');
  // The default id names the host and a digest of the URL, never the URL (it may carry a token).
  const id = w.id ?? `${url.host}-${createHash('sha256').update(url.href).digest('hex').slice(0, 12)}`;
  return { id, url: url.href, secret: w.secret, ...(w.events ? { events: [...w.events] } : {}) };
}
