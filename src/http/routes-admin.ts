/**
 * Logs and API keys (DESIGN §4). Creating logs and managing keys needs an admin key for all logs
 * (src/auth/policy.ts); listing logs shows only those in the caller's scope. Every admin action is
 * handed to the self-audit.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AuthError } from '../auth/errors.js';
import { inScope } from '../auth/policy.js';
import { type ApiKeyInfo, keyView } from '../auth/types.js';
import { type LogInfo as EngineLogInfo, isValidLogName } from '../log/engine.js';
import { LogError } from '../log/errors.js';
import type { ServerContext } from './context.js';
import {
  CreateKeyBody,
  CreateLogBody,
  errors,
  KeyCreated,
  KeyIdParams,
  KeyList,
  LogCreated,
  LogInfo,
  LogList,
  LogParams,
} from './schemas.js';

export function adminRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine, keys } = ctx;
  const infoOf = (info: EngineLogInfo) => {
    const log = engine.log(info.name);
    return {
      name: info.name,
      origin: info.origin,
      verifier_key: info.verifierKey,
      created_at: info.createdAt,
      system: info.system,
      tree_size: log.treeSize,
      size: log.size,
    };
  };

  return async (app) => {
    app.post(
      '/v1/logs',
      {
        config: { access: 'logs.create' },
        schema: {
          tags: ['admin'],
          summary: 'Create a log (admin for all logs)',
          body: CreateLogBody,
          response: { 201: LogCreated, ...errors(400, 401, 403, 409, 415, 429) },
        },
      },
      async (request, reply) => {
        const { name } = request.body;
        if (name.startsWith('_')) {
          throw new LogError('log.invalid_name', 'log names starting with _ are reserved for system logs', {
            details: { field: 'name', name },
          });
        }
        if (!isValidLogName(name)) {
          throw new LogError(
            'log.invalid_name',
            'a log name is 1-63 of a-z 0-9 . _ - starting with a letter or digit',
            { details: { field: 'name', name } },
          );
        }
        const info = await engine.createLog(name);
        ctx.access(request, { kind: 'admin', log: name, status: 201 });
        reply.code(201);
        return { name: info.name, origin: info.origin, verifier_key: info.verifierKey };
      },
    );

    app.get(
      '/v1/logs',
      {
        config: { access: 'logs.list' },
        schema: {
          tags: ['logs'],
          summary: "List the logs in the key's scope",
          response: { 200: LogList, ...errors(401, 429) },
        },
      },
      async (request) => {
        const key = request.apiKey!;
        return {
          logs: engine
            .listLogs()
            .filter((l) => inScope(key, l.name))
            .map(infoOf),
        };
      },
    );

    app.get(
      '/v1/logs/:log',
      {
        config: { access: 'logs.list' },
        schema: {
          tags: ['logs'],
          summary: 'Information about one log',
          params: LogParams,
          response: { 200: LogInfo, ...errors(401, 403, 404, 429) },
        },
      },
      async (request) => {
        const key = request.apiKey!;
        const { log } = request.params;
        if (!inScope(key, log)) throw forbiddenLog(key, log);
        return infoOf(engine.info(log));
      },
    );

    app.post(
      '/v1/keys',
      {
        config: { access: 'keys.manage' },
        schema: {
          tags: ['admin'],
          summary: 'Create an API key (the secret is shown only in this response)',
          body: CreateKeyBody,
          response: { 201: KeyCreated, ...errors(400, 401, 403, 415, 429) },
        },
      },
      async (request, reply) => {
        const { role, logs, description } = request.body;
        const { info, secret } = keys.create({ role, logs: logs ?? null, description: description ?? null });
        ctx.access(request, {
          kind: 'admin',
          status: 201,
          filter: { created_key: info.id, role, logs: info.logs },
        });
        reply.code(201);
        return { id: info.id, key: secret, role: info.role, logs: info.logs };
      },
    );

    app.get(
      '/v1/keys',
      {
        config: { access: 'keys.manage' },
        schema: {
          tags: ['admin'],
          summary: 'List API keys (never secrets)',
          response: { 200: KeyList, ...errors(401, 403, 429) },
        },
      },
      async (request) => {
        const list = keys.list();
        ctx.access(request, { kind: 'admin', status: 200, count: list.length });
        return { keys: list.map(keyView) };
      },
    );

    app.delete(
      '/v1/keys/:id',
      {
        config: { access: 'keys.manage' },
        schema: {
          tags: ['admin'],
          summary: 'Revoke an API key (effective on the next request)',
          params: KeyIdParams,
          response: { 204: Type.Null({ description: 'Revoked' }), ...errors(401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        // Over the API, someone must stay able to manage keys: the last active all-logs admin key
        // is not revoked (create its successor first). `indelible keys revoke --data` on the
        // stopped server still can. Check and revoke run in one turn of the event loop.
        const target = keys.get(id);
        if (target !== undefined && isAllLogsAdmin(target) && target.revokedAt === null) {
          const others = keys.list().filter((k) => k.id !== id && isAllLogsAdmin(k) && k.revokedAt === null);
          if (others.length === 0) {
            throw new AuthError(
              'auth.last_admin',
              `${id} is the last active admin key for all logs; create another before revoking it`,
              { details: { id } },
            );
          }
        }
        if (!keys.revoke(id)) {
          throw new AuthError('auth.key_not_found', `no active API key with id ${JSON.stringify(id)}`);
        }
        ctx.access(request, { kind: 'admin', status: 204, filter: { revoked_key: id } });
        return reply.code(204).send(null);
      },
    );
  };
}

const isAllLogsAdmin = (k: ApiKeyInfo) => k.role === 'admin' && k.logs === null;

/** A log outside the key's scope (recorded as a refusal by server.ts, like any 403). */
function forbiddenLog(key: ApiKeyInfo, log: string): AuthError {
  return new AuthError('auth.forbidden', `this key may not read ${log}`, {
    details: { action: 'logs.list', log, keyId: key.id },
  });
}
