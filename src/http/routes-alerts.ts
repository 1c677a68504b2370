/**
 * Alerts of the monitor (docs/MONITORING.md): `GET /v1/alerts` lists them newest first with filters
 * and cursor pagination; `POST /v1/alerts/{id}/ack` acknowledges one. Both need an admin or auditor
 * key for all logs (the `export` action without a log: alerts name keys and addresses of every
 * tenant). Listing is recorded in `_audit` as a read; acknowledging as the admin action
 * `audit.admin.alert.ack` with the alert's state before and after.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isRfc3339DateTime } from '../core/event.js';
import { isWellFormed } from '../core/jcs.js';
import { DEFAULT_ALERT_LIMIT, MAX_ALERT_LIMIT } from '../monitor/alert-store.js';
import { type Alert, alertView } from '../monitor/audit-events.js';
import { RULES, SEVERITIES } from '../monitor/config.js';
import type { Monitor } from '../monitor/monitor.js';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';
import { Decimal, errors, toSafeInteger } from './schemas.js';

const Timestamp = Type.String({ description: 'RFC 3339 UTC time with milliseconds' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AlertView = Type.Object({
  id: Type.Integer({ description: 'monotonic; webhook bodies carry the same id' }),
  rule: Type.String({ description: RULES.join(' | ') }),
  severity: Type.String({ description: SEVERITIES.join(' | ') }),
  at: Timestamp,
  subject: Type.String({ description: '`key:<id>`, `ip:<address>`, `log:<name>` or `service:<name>`' }),
  details: Type.Record(Type.String(), Type.Unknown(), { description: 'rule-specific evidence' }),
  acknowledged_at: Nullable(Timestamp),
  acknowledged_by: Nullable(
    Type.String({ description: 'the key id (API), or `cli:<operating-system user>` (indelible alerts ack)' }),
  ),
  note: Nullable(Type.String()),
});

const AlertsQuery = Type.Object(
  {
    rule: Type.Optional(Type.Union(RULES.map((r) => Type.Literal(r)))),
    severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
    subject: Type.Optional(Type.String({ maxLength: 256, description: 'exact, e.g. `key:key_abc…`' })),
    acknowledged: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
    since: Type.Optional(Type.String({ maxLength: 64, description: 'raised at or after (RFC 3339)' })),
    until: Type.Optional(Type.String({ maxLength: 64, description: 'raised before (RFC 3339)' })),
    limit: Type.Optional(Decimal(`page size, 1..${MAX_ALERT_LIMIT}, default ${DEFAULT_ALERT_LIMIT}`)),
    cursor: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: '`next_cursor` of the previous page' }),
    ),
  },
  { additionalProperties: false },
);
const AlertsPage = Type.Object({
  alerts: Type.Array(AlertView),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the oldest page' }),
});
const AlertIdParams = Type.Object({ id: Decimal('alert id') });
const AckBody = Type.Object(
  { note: Type.Optional(Type.String({ maxLength: 1024, description: 'why (false positive, handled, …)' })) },
  { additionalProperties: false },
);

function timeParam(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (!isRfc3339DateTime(value)) {
    throw new HttpError('request.invalid', `${field} must be an RFC 3339 date-time`, { details: { field } });
  }
  return Date.parse(value);
}

export function alertRoutes(
  ctx: Pick<ServerContext, 'access'>,
  monitor: Pick<Monitor, 'alerts' | 'acknowledge'>,
): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/alerts',
      {
        config: { access: 'export' },
        schema: {
          tags: ['alerts'],
          summary: 'List alerts, newest first (admin or auditor for all logs)',
          querystring: AlertsQuery,
          response: { 200: AlertsPage, ...errors(400, 401, 403, 429) },
        },
      },
      async (request) => {
        const q = request.query;
        const limit = q.limit === undefined ? undefined : toSafeInteger(q.limit, 'limit', MAX_ALERT_LIMIT);
        if (limit !== undefined && (limit < 1 || limit > MAX_ALERT_LIMIT)) {
          throw new HttpError('request.invalid', `limit must be 1..${MAX_ALERT_LIMIT}`, {
            details: { field: 'limit' },
          });
        }
        const since = timeParam(q.since, 'since');
        const until = timeParam(q.until, 'until');
        if (since !== undefined && until !== undefined && until < since) {
          throw new HttpError('request.invalid', 'until is before since', { details: { field: 'until' } });
        }
        const page = monitor.alerts.list({
          ...(q.rule === undefined ? {} : { rule: q.rule }),
          ...(q.severity === undefined ? {} : { severity: q.severity }),
          ...(q.subject === undefined ? {} : { subject: q.subject }),
          ...(q.acknowledged === undefined ? {} : { acknowledged: q.acknowledged === 'true' }),
          since,
          until,
          ...(limit === undefined ? {} : { limit }),
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        });
        const { cursor: _cursor, ...filter } = q;
        ctx.access(request, {
          kind: 'read',
          log: null,
          filter: { alerts: filter },
          count: page.alerts.length,
          status: 200,
        });
        return { alerts: page.alerts.map(alertView), next_cursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/alerts/:id/ack',
      {
        config: { access: 'export' },
        schema: {
          tags: ['alerts'],
          summary: 'Acknowledge an alert (recorded in _audit); acknowledging again changes nothing',
          params: AlertIdParams,
          body: AckBody,
          response: { 200: AlertView, ...errors(400, 401, 403, 404, 415, 429) },
        },
        // The body is optional: no body means no note.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) request.body = {};
        },
      },
      async (request) => {
        const id = toSafeInteger(request.params.id, 'id');
        const note = request.body.note ?? null;
        // Stored and written to _audit as sent, or refused: never with a lone surrogate replaced.
        if (note !== null && !isWellFormed(note)) {
          throw new HttpError('request.invalid', 'note must not contain lone surrogates', {
            details: { field: 'note' },
          });
        }
        // Throws monitor.alert_not_found (404) for an unknown id.
        const { before, after, changed } = monitor.acknowledge(id, request.apiKey!.id, note);
        const state = (a: Alert) => ({
          acknowledged_at: a.acknowledgedAt,
          acknowledged_by: a.acknowledgedBy,
          note: a.note,
        });
        ctx.access(request, {
          kind: 'admin',
          log: null,
          status: 200,
          filter: { alert_id: id, rule: after.rule, changed, before: state(before), after: state(after) },
        });
        return alertView(after);
      },
    );
  };
}
