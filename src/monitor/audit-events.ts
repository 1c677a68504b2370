/**
 * What the self-audit writes to `_audit`: DESIGN §3 audit events built from access events, admin
 * actions, service lifecycle and alerts (docs/MONITORING.md lists every action).
 *
 * Much of an access event is attacker-controlled (query filters, the path of an unmatched request,
 * a forwarded address), so every string is clipped and made well-formed and every value bounded
 * here: a built event always passes `validateEvent`, so one hostile request can never make a batch
 * of audit records fail. Secrets never reach these functions (access events carry key ids only).
 */
import {
  type AuditActor,
  type AuditEvent,
  type AuditTarget,
  type EventOutcome,
  isRfc3339DateTime,
  type JsonObject,
  type JsonValue,
} from '../core/event.js';
import type { AccessEvent } from '../http/context.js';
import type { RuleName, Severity } from './config.js';

/** The system log the self-audit is recorded in (created by `initDataDir`). */
export const AUDIT_LOG = '_audit';
export const AUDIT_SERVICE = 'indelible';
const SYSTEM_ACTOR: AuditActor = { id: 'indelible', type: 'system' };
const MONITOR_ACTOR: AuditActor = { id: 'indelible.monitor', type: 'system' };

/** An access event, optionally with the public prefix of a presented but unknown key (auth failures). */
export type AccessInput = AccessEvent & { keyIdPrefix?: string | null };

/** Admin routes and the word each gives its `audit.admin.<what>` action; others get a slug of the route. */
const ADMIN_WHAT: Readonly<Record<string, string>> = {
  'POST /v1/logs': 'log.create',
  'POST /v1/keys': 'key.create',
  'GET /v1/keys': 'key.list',
  'DELETE /v1/keys/:id': 'key.revoke',
  'POST /v1/alerts/:id/ack': 'alert.ack',
  'PUT /v1/logs/:log/policy': 'policy.update',
  'POST /v1/logs/:log/legal-hold': 'legal_hold.set',
  'DELETE /v1/logs/:log/legal-hold': 'legal_hold.release',
};

const MAX_STRING = 256;
const MAX_KEYS = 32;
const MAX_ITEMS = 32;
const MAX_DEPTH = 4;

/** Bounds of `boundedJson`. */
interface JsonBounds {
  string: number;
  depth: number;
}
/** For what a client controls (filters, paths): small. */
const CLIENT_BOUNDS: JsonBounds = { string: MAX_STRING, depth: MAX_DEPTH };
/**
 * For the server's own before/after state of an admin action (a policy with its floors, a legal
 * hold's reason of up to 1,000 characters, an alert note of up to 1,024): kept whole, bounded only
 * against runaway values.
 */
const STATE_BOUNDS: JsonBounds = { string: 1024, depth: 8 };

/** At most `max` UTF-16 units, never splitting a pair, with lone surrogates replaced (JCS rejects them). */
export function clip(s: string, max = MAX_STRING): string {
  let out = s.length > max ? s.slice(0, max) : s;
  if (/[\uD800-\uDFFF]/.test(out)) {
    out = out.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  }
  return out;
}

/** Any value as bounded JSON: depth, keys, items and string lengths capped; non-JSON values dropped. */
export function boundedJson(value: unknown, bounds = CLIENT_BOUNDS, depth = 0): JsonValue | undefined {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return clip(value, bounds.string);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (depth >= bounds.depth || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (const v of value.slice(0, MAX_ITEMS)) out.push(boundedJson(v, bounds, depth + 1) ?? null);
    return out;
  }
  const out: JsonObject = {};
  let n = 0;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (n++ >= MAX_KEYS) break;
    const b = boundedJson(v, bounds, depth + 1);
    if (b !== undefined) out[clip(k, 64)] = b;
  }
  return out;
}

function boundedObject(value: unknown, bounds = CLIENT_BOUNDS): JsonObject {
  const b = boundedJson(value, bounds);
  return b !== null && typeof b === 'object' && !Array.isArray(b) ? b : {};
}

export function outcomeOf(status: number): EventOutcome {
  if (status < 400) return 'success';
  if (status === 401 || status === 403) return 'denied';
  return status >= 500 ? 'error' : 'failure';
}

/** `audit.admin.<what>` for an admin access: a known word for the route, else a slug of it. */
export function adminWhat(method: string, route: string): string {
  const known = ADMIN_WHAT[`${method} ${route}`];
  if (known !== undefined) return known;
  const slug = route
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '.')
    .replace(/^\.+|\.+$/g, '');
  return clip(`${method.toLowerCase()}.${slug}`, 100);
}

function actionOf(e: AccessEvent): string {
  switch (e.kind) {
    case 'read':
      return 'audit.read';
    case 'export':
      return e.phase === 'start' ? 'audit.export.start' : 'audit.export';
    case 'auth_failure':
      return 'audit.auth_failure';
    default:
      return `audit.admin.${adminWhat(e.method, e.route)}`;
  }
}

function nonEmpty(s: string | null | undefined, fallback: string): string {
  return typeof s === 'string' && s.length > 0 ? clip(s) : fallback;
}

/** The `_audit` event of one access (read, export, admin action or auth failure). */
export function accessToAuditEvent(e: AccessInput): AuditEvent {
  const actor: AuditActor = {
    id: nonEmpty(e.keyId, 'anonymous'),
    type: e.keyId ? 'api_key' : 'anonymous',
  };
  if (typeof e.ip === 'string' && e.ip !== '') actor.ip = clip(e.ip, 64);
  const metadata: JsonObject = {
    route: clip(String(e.route), 512),
    method: clip(String(e.method), 16),
    status: Number.isSafeInteger(e.status) ? e.status : 0,
  };
  if (e.role) metadata.role = clip(e.role, 16);
  if (e.filter !== null && typeof e.filter === 'object' && !Array.isArray(e.filter)) {
    // Admin actions put their before/after state in `filter`; it is the server's own, lifted to the
    // top of metadata with the state bounds. The rest is bounded as client input.
    const { before, after, ...rest } = e.filter as Record<string, unknown>;
    if (e.kind === 'admin') {
      if (before !== undefined) metadata.before = boundedJson(before, STATE_BOUNDS) ?? null;
      if (after !== undefined) metadata.after = boundedJson(after, STATE_BOUNDS) ?? null;
    }
    const filter = boundedObject(e.kind === 'admin' ? rest : e.filter);
    if (Object.keys(filter).length > 0) metadata.filter = filter;
  }
  if (typeof e.count === 'number' && Number.isSafeInteger(e.count)) metadata.count = e.count;
  if (e.incomplete === true) metadata.incomplete = true;
  if (typeof e.requestId === 'string' && e.requestId !== '') metadata.request_id = clip(e.requestId, 128);
  if (typeof e.keyIdPrefix === 'string' && e.keyIdPrefix !== '')
    metadata.key_id_prefix = clip(e.keyIdPrefix, 16);
  const event: AuditEvent = { action: actionOf(e), actor, outcome: outcomeOf(e.status) };
  if (typeof e.log === 'string' && e.log !== '') event.target = { id: clip(e.log, 64), type: 'log' };
  if (typeof e.at === 'string' && isRfc3339DateTime(e.at)) event.occurred_at = e.at;
  event.source = sourceOf(metadata.request_id);
  event.metadata = metadata;
  return event;
}

function sourceOf(requestId: JsonValue | undefined): NonNullable<AuditEvent['source']> {
  return typeof requestId === 'string'
    ? { service: AUDIT_SERVICE, request_id: requestId }
    : { service: AUDIT_SERVICE };
}

export type LifecycleKind = 'start' | 'stop' | 'recovery';

/** What a retention prune decided (retention/pruner.ts), for `retention.prune`. */
export interface PruneRecord {
  log: string;
  minimumIndex: number;
  statementIndex: number;
  treeSize: number;
  receivedBefore: string;
  /** The signed prune statement (server-made, a few hundred bytes: kept whole, never clipped). */
  statement: string;
}

/** `retention.prune`: entries of a log below a new minimum index were pruned under its policy. */
export function pruneEvent(p: PruneRecord, atMs: number): AuditEvent {
  return {
    action: 'retention.prune',
    actor: { ...SYSTEM_ACTOR },
    target: { id: clip(p.log, 128), type: 'log' },
    outcome: 'success',
    occurred_at: new Date(atMs).toISOString(),
    source: { service: AUDIT_SERVICE },
    metadata: {
      minimum_index: p.minimumIndex,
      statement_index: p.statementIndex,
      tree_size: p.treeSize,
      received_before: p.receivedBefore,
      statement: p.statement,
    },
  };
}

/** `service.start|stop|recovery`. */
export function lifecycleEvent(kind: LifecycleKind, atMs: number, details: unknown): AuditEvent {
  return {
    action: `service.${kind}`,
    actor: { ...SYSTEM_ACTOR },
    outcome: 'success',
    occurred_at: new Date(atMs).toISOString(),
    source: { service: AUDIT_SERVICE },
    // The server's own state (the settings it started with): the state bounds, not a client's.
    metadata: boundedObject(details ?? {}, STATE_BOUNDS),
  };
}

/** An admin action recorded outside the HTTP layer (CLI, config reload), with its before/after state. */
export interface AdminRecord {
  /** `log.create`, `key.revoke`, `policy.update`, `alert.ack`, … (becomes `audit.admin.<what>`). */
  what: string;
  actor: { id: string; type: string };
  target?: { id: string; type: string };
  outcome?: EventOutcome;
  before?: unknown;
  after?: unknown;
  details?: unknown;
}

export function adminEvent(r: AdminRecord, atMs: number): AuditEvent {
  const metadata: JsonObject = boundedObject(r.details ?? {});
  if (r.before !== undefined) metadata.before = boundedJson(r.before, STATE_BOUNDS) ?? null;
  if (r.after !== undefined) metadata.after = boundedJson(r.after, STATE_BOUNDS) ?? null;
  const what = clip(r.what, 100).replace(/[^A-Za-z0-9._-]/g, '_') || 'unknown';
  const event: AuditEvent = {
    action: `audit.admin.${what}`,
    actor: { id: nonEmpty(r.actor.id, 'unknown'), type: clip(r.actor.type, 64) },
    outcome: r.outcome ?? 'success',
    occurred_at: new Date(atMs).toISOString(),
    source: { service: AUDIT_SERVICE },
    metadata,
  };
  if (r.target) event.target = { id: nonEmpty(r.target.id, 'unknown'), type: clip(r.target.type, 64) };
  return event;
}

/** A raised alert as the monitor stores and sends it (docs/MONITORING.md: webhook body). */
export interface Alert {
  /** Monotonic, assigned by the alert store. */
  id: number;
  rule: RuleName;
  severity: Severity;
  /** RFC 3339 time the alert was raised. */
  at: string;
  /** What it is about: `key:<id>`, `ip:<address>`, `log:<name>` or `service:<name>`. */
  subject: string;
  details: JsonObject;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  note: string | null;
}

/** An alert as the API shows it (`GET /v1/alerts`) and the CLI's `alerts … --json` prints it (snake_case). */
export function alertView(a: Alert) {
  return {
    id: a.id,
    rule: a.rule,
    severity: a.severity,
    at: a.at,
    subject: a.subject,
    details: a.details,
    acknowledged_at: a.acknowledgedAt,
    acknowledged_by: a.acknowledgedBy,
    note: a.note,
  };
}

/** `alert.<rule>`; the target is the subject (`key:key_abc` → `{id: "key_abc", type: "key"}`). */
export function alertEvent(a: Alert): AuditEvent {
  const colon = a.subject.indexOf(':');
  const target: AuditTarget =
    colon > 0
      ? { id: nonEmpty(a.subject.slice(colon + 1), 'unknown'), type: a.subject.slice(0, colon) }
      : { id: nonEmpty(a.subject, 'unknown'), type: 'unknown' };
  return {
    action: `alert.${a.rule}`,
    actor: { ...MONITOR_ACTOR },
    target,
    occurred_at: a.at,
    source: { service: AUDIT_SERVICE },
    metadata: {
      alert_id: a.id,
      rule: a.rule,
      severity: a.severity,
      subject: clip(a.subject),
      details: a.details,
    },
  };
}
