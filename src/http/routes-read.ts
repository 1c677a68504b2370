/**
 * Reads of event data (reader role): the search (`GET …/events`) and one entry by index. Both are
 * handed to the self-audit with their filter and the number of entries returned.
 *
 * Pagination: `next_cursor` names a position in index order, so pages stay stable (nothing skipped
 * or repeated) while appends continue; it is null once the search reached the end of what the index
 * covered. A page may hold fewer than `limit` events with a non-null cursor (bounded work per call).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { toHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { type EventQuery, MAX_QUERY_LIMIT } from '../index/types.js';
import { LogError } from '../log/errors.js';
import type { ServerContext } from './context.js';
import {
  EntryResponse,
  EventsPage,
  EventsQuery,
  errors,
  FilterKeys,
  LogIndexParams,
  LogParams,
  toSafeInteger,
} from './schemas.js';

export function readRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine } = ctx;
  return async (app) => {
    app.get(
      '/v1/logs/:log/events',
      {
        config: { access: 'events.read' },
        schema: {
          tags: ['events'],
          summary: 'Search events (filters combine with AND; cursor pagination)',
          params: LogParams,
          querystring: EventsQuery,
          response: { 200: EventsPage, ...errors(400, 401, 403, 404, 429) },
        },
      },
      async (request) => {
        const name = request.params.log;
        engine.log(name); // 404 for an unknown log, whatever the index knows
        const qs = request.query;
        const filter: Record<string, string> = {};
        const query: EventQuery = {};
        for (const k of FilterKeys) {
          const v = qs[k];
          if (v !== undefined) {
            filter[k] = v;
            query[k] = v;
          }
        }
        if (qs.limit !== undefined) query.limit = toSafeInteger(qs.limit, 'limit', MAX_QUERY_LIMIT);
        if (qs.cursor !== undefined) query.cursor = qs.cursor;
        if (qs.order !== undefined) query.order = qs.order;
        const result = await engine.index.query(name, query);
        ctx.access(request, { kind: 'read', filter, count: result.events.length, status: 200 });
        return {
          events: result.events.map((e) => ({
            index: e.index,
            id: e.id,
            received_at: e.receivedAt,
            leaf_hash: e.leafHash,
            event: e.event,
          })),
          next_cursor: result.nextCursor,
          covered_size: result.coveredSize,
        };
      },
    );

    app.get(
      '/v1/logs/:log/entries/:index',
      {
        config: { access: 'events.read' },
        schema: {
          tags: ['events'],
          summary: 'One entry: its exact record text and leaf hash',
          params: LogIndexParams,
          response: { 200: EntryResponse, ...errors(400, 401, 403, 404, 410, 429) },
        },
      },
      async (request) => {
        const log = engine.log(request.params.log);
        const index = toSafeInteger(request.params.index, 'index');
        if (index >= log.size) {
          throw new LogError('log.out_of_range', `entry ${index} is beyond the log (size ${log.size})`, {
            details: { field: 'index' },
          });
        }
        const bytes = await log.readRecord(index);
        ctx.access(request, { kind: 'read', filter: { index }, count: 1, status: 200 });
        return {
          index,
          leaf_hash: toHex(hashLeaf(bytes)),
          record: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
        };
      },
    );
  };
}
