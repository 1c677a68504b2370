/**
 * `GET /v1/logs/{log}/pruning`: the log's C2SP tlog-tiles *minimum index* and the signed prune
 * statement that set it (docs/RETENTION.md). A verifier walking the log fetches this first: entry
 * bundles below the minimum index answer 410 `log.pruned`, and the statement — signed by the log key,
 * and also held as a record of the log at `statement_index` — is what lets it accept their absence
 * and check that prefix through the hash tiles. Public like the checkpoint (`public.read`): it holds
 * no event data.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { readPruneState } from '../retention/prune-state.js';
import type { ServerContext } from './context.js';
import { errors, LogParams } from './schemas.js';

export const PruningResponse = Type.Object({
  minimum_index: Type.Integer({ description: 'entries below it were pruned (0: never pruned)' }),
  statement_index: Type.Union([Type.Integer(), Type.Null()], {
    description: 'index of the record holding the statement, or null when never pruned',
  }),
  statement: Type.Union([Type.String(), Type.Null()], {
    description: 'the signed prune statement (signed note), or null when never pruned',
  }),
});

export function pruningRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine } = ctx;
  return async (app) => {
    app.get(
      '/v1/logs/:log/pruning',
      {
        config: { access: 'public.read' },
        schema: {
          tags: ['tlog'],
          summary: 'The minimum index and the prune statement of a pruned log',
          params: LogParams,
          response: { 200: PruningResponse, ...errors(401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const name = request.params.log;
        engine.log(name); // 404 for an unknown log
        const { prune } = await readPruneState(engine.stateOf(name));
        let statement: string | null = null;
        if (prune !== null) {
          const record = JSON.parse(
            Buffer.from(await engine.log(name).readRecord(prune.statementIndex)).toString('utf8'),
          );
          statement =
            typeof record.event?.metadata?.statement === 'string' ? record.event.metadata.statement : null;
        }
        return reply.header('cache-control', 'max-age=1').send({
          minimum_index: prune?.minimumIndex ?? 0,
          statement_index: prune?.statementIndex ?? null,
          statement,
        });
      },
    );
  };
}
