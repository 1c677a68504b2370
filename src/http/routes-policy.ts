/**
 * The per-log retention policy and legal hold (issue 7, docs/RETENTION.md). Changing either needs
 * `policy.manage` (an admin of the log); reading it needs `export`, held by auditors and admins,
 * since the policy is compliance information those roles answer for. Every change is recorded in
 * `_audit` as an admin action with the policy before and after (`filter.before/after`, lifted into
 * the record's metadata by the self-audit), so a hold can never be lifted without a trace.
 *
 * `archive.target` (a log's own S3 bucket and prefix) is accepted only when the server archives:
 * the archived driver's state store checks the change (Object Lock of the new bucket; refused
 * with 409 `retention.archive_moved` once the log has archived data).
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AuthError } from '../auth/errors.js';
import type { ApiKeyInfo } from '../auth/types.js';
import { PolicyStateStore } from '../retention/archived-driver.js';
import {
  applyPolicyUpdate,
  type LogPolicy,
  MAX_REASON_LENGTH,
  policyLock,
  policyToWire,
  readLogPolicy,
  updateLogPolicy,
  withLegalHold,
  withoutLegalHold,
} from '../retention/log-policy.js';
import type { ServerContext } from './context.js';
import { errors, LogParams } from './schemas.js';

const ArchiveTargetSchema = () =>
  Type.Object(
    {
      bucket: Type.String({ minLength: 3, maxLength: 63, description: 'S3 bucket with Object Lock enabled' }),
      prefix: Type.Optional(
        Type.String({ maxLength: 512, description: "key prefix, `a/b` form ('' or absent: bucket root)" }),
      ),
    },
    { additionalProperties: false },
  );

// The range is checked by applyPolicyUpdate, whose message names the field and the forms: a schema
// minimum here would fail the union on its first branch ("must be string") for a negative number.
const Duration = Type.Union([Type.String({ maxLength: 32 }), Type.Integer()], {
  description:
    'integer milliseconds (0 or more), or `<n><unit>` with unit ms, s, m, h, d, w, y (a year is 366 days)',
});

export const PolicyUpdateBody = Type.Object(
  {
    retention: Type.Optional(
      Type.Object(
        {
          min: Type.Optional(Duration),
          max: Type.Optional(Type.Union([Duration, Type.Null()], { description: 'null: keep forever' })),
        },
        { additionalProperties: false },
      ),
    ),
    archive: Type.Optional(
      Type.Object(
        {
          after: Type.Optional(Type.Union([Duration, Type.Literal('never')])),
          target: Type.Optional(
            Type.Union([ArchiveTargetSchema(), Type.Null()], {
              description:
                "the log's own S3 bucket and prefix (null: the server's configured target); only with an archive configured, and only before anything of the log was archived",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const LegalHoldBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: MAX_REASON_LENGTH }) },
  { additionalProperties: false },
);

export const PolicyView = Type.Object({
  log: Type.String(),
  retention: Type.Object({
    min: Type.Integer({ description: 'ms; no entry may be deleted before it is this old' }),
    max: Type.Union([Type.Integer(), Type.Null()], {
      description: 'ms; entries are pruned once older than it (null: kept forever)',
    }),
    min_floors: Type.Array(
      Type.Object({
        min: Type.Integer({ description: 'ms' }),
        before: Type.String({ description: 'RFC 3339' }),
      }),
      {
        description:
          'earlier, longer retention.min values that still bind the entries received before `before` (lowering retention.min never shortens what is stored)',
      },
    ),
  }),
  archive: Type.Object({
    after: Type.Union([Type.Integer(), Type.Literal('never')], {
      description: 'ms a sealed object stays on local disk once archived',
    }),
    target: Type.Union([Type.Object({ bucket: Type.String(), prefix: Type.String() }), Type.Null()], {
      description: "the log's own S3 archive target; null: the server's configured one",
    }),
  }),
  legal_hold: Type.Union([
    Type.Object({ reason: Type.String(), set_at: Type.String(), set_by: Type.String() }),
    Type.Null(),
  ]),
  updated_at: Type.Union([Type.String(), Type.Null()]),
  updated_by: Type.Union([Type.String(), Type.Null()]),
});

export function policyRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine } = ctx;
  const view = (log: string, p: LogPolicy) => ({ log, ...policyToWire(p) });
  const now = () => new Date(engine.clock.now()).toISOString();
  // One change of a log's policy at a time in this process (log-policy.ts policyLock): concurrent
  // admins queue rather than race each other's compare-and-swap (which would answer 503
  // storage.cas_conflict when busy), and a prune's commit never slips past a hold being set.
  const changes = policyLock;

  return async (app) => {
    app.get(
      '/v1/logs/:log/policy',
      {
        config: { access: 'export' },
        schema: {
          tags: ['admin'],
          summary: "A log's retention policy and legal hold (admin or auditor)",
          params: LogParams,
          response: { 200: PolicyView, ...errors(401, 403, 404, 429) },
        },
      },
      async (request) => {
        const { log } = request.params;
        const { policy } = await readLogPolicy(engine.stateOf(log));
        return view(log, policy);
      },
    );

    app.put(
      '/v1/logs/:log/policy',
      {
        config: { access: 'policy.manage' },
        schema: {
          tags: ['admin'],
          summary: "Change a log's retention policy (absent fields keep their value; audited)",
          params: LogParams,
          body: PolicyUpdateBody,
          response: { 200: PolicyView, ...errors(400, 401, 403, 404, 409, 415, 429) },
        },
      },
      async (request) => {
        const { log } = request.params;
        const key = request.apiKey!;
        // The target names where the server's own S3 credentials write locked objects: any bucket
        // they reach, and objects nobody can delete before their lock ends. Only an admin for all
        // logs may point a log there (a tenant's admin could otherwise fill any such bucket).
        if (request.body.archive?.target !== undefined) {
          requireAllLogs(key, log, 'archive.target', "changing a log's archive target");
        }
        const by = key.id;
        const state = engine.stateOf(log);
        const context = { archive: state instanceof PolicyStateStore };
        const { before, after } = await changes.run(log, () =>
          updateLogPolicy(state, (current) => applyPolicyUpdate(current, request.body, by, now(), context)),
        );
        ctx.access(request, {
          kind: 'admin',
          status: 200,
          filter: { before: policyToWire(before), after: policyToWire(after) },
        });
        return view(log, after);
      },
    );

    app.post(
      '/v1/logs/:log/legal-hold',
      {
        config: { access: 'policy.manage' },
        schema: {
          tags: ['admin'],
          summary: 'Set a legal hold: every deletion of the log is blocked until it is released (audited)',
          params: LogParams,
          body: LegalHoldBody,
          response: { 200: PolicyView, ...errors(400, 401, 403, 404, 409, 415, 429) },
        },
      },
      async (request) => {
        const { log } = request.params;
        const by = request.apiKey!.id;
        const { before, after } = await changes.run(log, () =>
          updateLogPolicy(engine.stateOf(log), (current) =>
            withLegalHold(current, request.body.reason, by, now()),
          ),
        );
        ctx.access(request, {
          kind: 'admin',
          status: 200,
          filter: { before: policyToWire(before), after: policyToWire(after) },
        });
        return view(log, after);
      },
    );

    app.delete(
      '/v1/logs/:log/legal-hold',
      {
        config: { access: 'policy.manage' },
        schema: {
          tags: ['admin'],
          summary: 'Release the legal hold (audited, with the hold and its reason as the before state)',
          params: LogParams,
          response: { 200: PolicyView, ...errors(401, 403, 404, 409, 429) },
        },
      },
      async (request) => {
        const { log } = request.params;
        const key = request.apiKey!;
        // A tenant's own admin may be the party under investigation: it may set a hold, not lift one.
        requireAllLogs(
          key,
          log,
          'legal_hold.release',
          'releasing a legal hold (a key scoped to some logs may set one, not lift it)',
        );
        const by = key.id;
        const { before, after } = await changes.run(log, () =>
          updateLogPolicy(engine.stateOf(log), (current) => withoutLegalHold(current, by, now())),
        );
        ctx.access(request, {
          kind: 'admin',
          status: 200,
          filter: { before: policyToWire(before), after: policyToWire(after) },
        });
        return view(log, after);
      },
    );
  };
}

/**
 * Some changes of one log's policy reach beyond it, so its own (scoped) admin may not make them:
 * 403 `auth.forbidden` (recorded as a refusal by server.ts, like any 403).
 */
function requireAllLogs(key: ApiKeyInfo, log: string, action: string, what: string): void {
  if (key.logs === null) return;
  throw new AuthError('auth.forbidden', `${what} needs an admin key for all logs`, {
    details: { action, log, keyId: key.id },
  });
}
