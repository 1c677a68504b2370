/**
 * RFC 6962 / RFC 9162 proofs and C2SP tlog-proof receipts.
 *
 * Inclusion and consistency proofs are `proofs.read` (public while `publicReads` is on: they are
 * hashes only). Numbers are decimal without sign or leading zeros; anything else — negative, float,
 * huge, non-numeric — is 400 `request.invalid` naming the field. Well-formed numbers that can never
 * be answered together (`index ≥ tree_size`, `tree_size = 0`, `from = 0`, `from > to`) are 422
 * `request.unprocessable` naming the field; a tree size beyond the latest signed checkpoint is 404
 * `log.out_of_range` (it may exist later).
 *
 * Receipts (`receipts.read`, reader role) are against the latest checkpoint; for an entry that is
 * durable but not yet in a checkpoint, the log integrates now rather than answering 404.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { LogError } from '../log/errors.js';
import type { Log } from '../log/log.js';
import type { ServerContext } from './context.js';
import { hashesToJsonArray } from './hex.js';
import { HttpError } from './problem.js';
import { createProofReader } from './proof-reader.js';
import {
  ConsistencyQuery,
  ConsistencyResponse,
  errors,
  InclusionQuery,
  InclusionResponse,
  LogIndexParams,
  LogParams,
  text,
  toSafeInteger,
} from './schemas.js';

/**
 * Sends JSON text written by the route: a proof is two integers and hex strings, which need no
 * escaping, so the schema's serializer (which scans every string for characters to escape) is
 * skipped. Fastify sends a string with a JSON content type as is. The schema still documents it.
 */
function sendJsonText(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

const unprocessable = (field: string, message: string) =>
  new HttpError('request.unprocessable', message, { details: { field } });

function checkSigned(log: Log, size: number, field: string): void {
  if (size > log.treeSize) {
    throw new LogError(
      'log.out_of_range',
      `${field} ${size} is beyond the latest signed checkpoint (tree size ${log.treeSize})`,
      { details: { field } },
    );
  }
}

export function proofRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine } = ctx;
  return async (app) => {
    app.get(
      '/v1/logs/:log/proofs/inclusion',
      {
        config: { access: 'proofs.read' },
        schema: {
          tags: ['proofs'],
          summary: 'Inclusion proof of an entry in a signed tree size',
          params: LogParams,
          querystring: InclusionQuery,
          response: { 200: InclusionResponse, ...errors(400, 401, 403, 404, 422, 429) },
        },
      },
      async (request, reply) => {
        const log = engine.log(request.params.log);
        const index = toSafeInteger(request.query.index, 'index');
        const treeSize = toSafeInteger(request.query.tree_size, 'tree_size');
        if (treeSize === 0) throw unprocessable('tree_size', 'tree_size must be at least 1');
        if (index >= treeSize) throw unprocessable('index', 'index must be below tree_size');
        checkSigned(log, treeSize, 'tree_size');
        const hashes = await log.inclusionProof(index, treeSize);
        return sendJsonText(
          reply,
          `{"index":${index},"tree_size":${treeSize},"hashes":${hashesToJsonArray(hashes)}}`,
        );
      },
    );

    app.get(
      '/v1/logs/:log/proofs/consistency',
      {
        config: { access: 'proofs.read' },
        schema: {
          tags: ['proofs'],
          summary: 'Consistency proof between two signed tree sizes',
          params: LogParams,
          querystring: ConsistencyQuery,
          response: { 200: ConsistencyResponse, ...errors(400, 401, 403, 404, 422, 429) },
        },
      },
      async (request, reply) => {
        const log = engine.log(request.params.log);
        const from = toSafeInteger(request.query.from, 'from');
        const to = toSafeInteger(request.query.to, 'to');
        if (from === 0)
          throw unprocessable('from', 'from must be at least 1 (every tree extends the empty tree)');
        if (from > to) throw unprocessable('from', 'from must not exceed to');
        checkSigned(log, to, 'to');
        const hashes = await log.consistencyProof(from, to);
        return sendJsonText(reply, `{"from":${from},"to":${to},"hashes":${hashesToJsonArray(hashes)}}`);
      },
    );

    app.get(
      '/v1/logs/:log/receipts/:index',
      {
        config: { access: 'receipts.read' },
        schema: {
          tags: ['proofs'],
          summary: 'A receipt (C2SP tlog-proof) for one entry, verifiable offline',
          params: LogIndexParams,
          response: { 200: text('tlog-proof text'), ...errors(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const log = engine.log(request.params.log);
        const index = toSafeInteger(request.params.index, 'index');
        if (index >= log.size) {
          throw new LogError('log.out_of_range', `entry ${index} is beyond the log (size ${log.size})`, {
            details: { field: 'index' },
          });
        }
        const cp = await log.checkpointCovering(index + 1);
        const receipt = await createProofReader(log, cp).receipt(index);
        ctx.access(request, { kind: 'read', filter: { index }, count: 1, status: 200 });
        return reply.type('text/plain; charset=utf-8').send(receipt);
      },
    );
  };
}
