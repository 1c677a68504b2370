/**
 * Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.
 *
 * - `/healthz` is 200 while the process answers and every log can take appends (liveness); 503
 *   `server.failed` once a log's storage failed. A failed write or fsync cannot be retried safely
 *   (the kernel may have dropped the pages), so such a log stays failed until the process restarts
 *   and recovers it from its journal: a liveness probe on /healthz makes the orchestrator do that.
 * - `/readyz` is 200 once the server accepts writes and 503 `server.shutting_down` (+ Retry-After)
 *   from the moment a graceful shutdown starts, so load balancers drain it first.
 * - `/metrics` needs an admin key for all logs unless `publicMetrics` is on: metric labels name
 *   every log, which a tenant-scoped key must not learn.
 * - `/openapi.json` (generated from the route schemas) and `/docs` are public.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';
import { errors, text } from './schemas.js';

const Status = Type.Object({ status: Type.String() });

export function opsRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { access: 'none' },
        schema: {
          tags: ['ops'],
          summary: 'Liveness: 503 once a log failed in storage (restart to recover it)',
          response: { 200: Status, ...errors(503) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        const failed = ctx.engine.failedLogs().length;
        if (failed > 0) {
          // Public: the count only, not the names (a tenant's log name is not everyone's business).
          throw new HttpError(
            'server.failed',
            `${failed} log${failed > 1 ? 's' : ''} failed in storage and take${failed > 1 ? '' : 's'} no appends until the server restarts`,
          );
        }
        return { status: 'ok' };
      },
    );

    app.get(
      '/readyz',
      {
        config: { access: 'none' },
        schema: {
          tags: ['ops'],
          summary: 'Readiness: 200 once accepting writes',
          response: { 200: Status, ...errors(503) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        if (ctx.state.draining) throw new HttpError('server.shutting_down', 'the server is shutting down');
        if (!ctx.state.ready) throw new HttpError('server.not_ready', 'the server is starting');
        const failed = ctx.engine.failedLogs();
        if (failed.length > 0) {
          throw new HttpError(
            'server.not_ready',
            `${failed.length} log${failed.length > 1 ? 's' : ''} failed in storage; restart the server`,
          );
        }
        return { status: 'ready' };
      },
    );

    app.get(
      '/metrics',
      {
        config: { access: 'metrics' },
        schema: {
          tags: ['ops'],
          summary: 'Prometheus metrics (admin for all logs unless configured public)',
          response: { 200: text('Prometheus text exposition'), ...errors(401, 403, 429) },
        },
      },
      async (_request, reply) => {
        const body = await ctx.metrics.render();
        return reply.header('cache-control', 'no-store').type(ctx.metrics.contentType).send(body);
      },
    );

    app.get('/openapi.json', { config: { access: 'none' }, schema: { hide: true } }, async () =>
      app.swagger(),
    );
  };
}
