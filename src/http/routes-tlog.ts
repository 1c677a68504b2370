/**
 * The C2SP tlog-tiles read path under `/v1/logs/{log}/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`,
 * `tile/entries/<N>[.p/<W>]`, plus the log's verifier key. Bytes are served exactly as stored.
 *
 * Caching (tlog-tiles): full tiles and full entry bundles never change, so they are
 * `max-age=31536000, immutable`; partial ones and the checkpoint change as the log grows and are
 * `max-age=1`. Objects anyone may read are `public`. Objects that needed a key — entry bundles
 * always, everything when `publicReads` is off — are `private` instead: `public` would let a shared
 * cache (CDN, proxy) serve an authorized response to unauthenticated clients (RFC 9111 §3.5),
 * handing event data to anyone who asks. Paths are parsed strictly by `parseTilePath` (`..`, `%2e%2e`,
 * extra segments, leading zeros, width 0 or 256 → 400 `tile.invalid_path`); a well-formed path
 * beyond the log's latest checkpoint is 404 `tile.not_found`.
 *
 * Access: the checkpoint, hash tiles and key are `public.read` (no key needed while `publicReads` is
 * on); entry bundles hold event data and need `events.read`.
 */
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { parseTilePath, TILE_WIDTH } from '../core/tile.js';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';
import { errors, KeyResponse, LogParams, text } from './schemas.js';

const IMMUTABLE = 'max-age=31536000, immutable';
const SHORT_LIVED = 'max-age=1';
const cacheControl = (visibility: 'public' | 'private', full: boolean) =>
  `${visibility}, ${full ? IMMUTABLE : SHORT_LIVED}`;

const tileAction = (request: FastifyRequest) => {
  const rest = (request.params as { '*'?: unknown })['*'];
  return typeof rest === 'string' && rest.startsWith('entries/') ? 'events.read' : 'public.read';
};

/**
 * OpenAPI has no wildcard: the route's `*` (the rest of the path, slashes included) is published as
 * a `{path}` parameter that tools can fill in.
 */
const documentTilePath: SwaggerTransform = ({ schema, url }) => {
  const params = (schema as { params?: { properties?: Record<string, unknown> } }).params;
  const { '*': rest, ...named } = params?.properties ?? {};
  return {
    url: url.replace(/\*$/, ':path'),
    schema: {
      ...schema,
      params: {
        type: 'object',
        required: ['log', 'path'],
        properties: {
          ...named,
          path: {
            ...(rest as object),
            description:
              'the tile or bundle path after `tile/`, slashes included (C2SP tlog-tiles): 0/x001/234, 0/000.p/7, entries/000',
          },
        },
      },
    },
  };
};

export function tlogRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine } = ctx;
  const publicVisibility = ctx.config.publicReads ? 'public' : 'private';
  return async (app) => {
    app.get(
      '/v1/logs/:log/checkpoint',
      {
        config: { access: 'public.read' },
        schema: {
          tags: ['tlog'],
          summary: 'The latest signed checkpoint (C2SP tlog-checkpoint note)',
          params: LogParams,
          response: { 200: text('signed note'), ...errors(401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const note = engine.log(request.params.log).latestCheckpoint().note;
        return reply
          .header('cache-control', cacheControl(publicVisibility, false))
          .type('text/plain; charset=utf-8')
          .send(note);
      },
    );

    app.get(
      '/v1/logs/:log/tile/*',
      {
        config: { access: tileAction, swaggerTransform: documentTilePath },
        schema: {
          tags: ['tlog'],
          summary: 'A hash tile or entry bundle (C2SP tlog-tiles); bundles need the reader role',
          params: Type.Object({
            log: Type.String(),
            '*': Type.String({ description: 'e.g. 0/x001/234.p/7 or entries/000' }),
          }),
          response: {
            200: {
              description: 'the tile or bundle bytes',
              content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } },
            },
            ...errors(400, 401, 403, 404, 410, 429),
          },
        },
      },
      async (request, reply) => {
        const log = engine.log(request.params.log);
        const ref = parseTilePath(`tile/${request.params['*']}`);
        const bytes = await log.readTileBytes(ref);
        if (bytes === undefined) {
          throw new HttpError(
            'tile.not_found',
            `the log has no ${ref.kind === 'entries' ? 'entry bundle' : 'tile'} at this path yet`,
          );
        }
        if (ref.kind === 'entries') {
          ctx.access(request, {
            kind: 'read',
            filter: { bundle: ref.index, width: ref.width },
            count: ref.width,
            status: 200,
          });
        }
        return (
          reply
            .header(
              'cache-control',
              cacheControl(ref.kind === 'entries' ? 'private' : publicVisibility, ref.width === TILE_WIDTH),
            )
            .type('application/octet-stream')
            // The schema documents binary content as a string; Fastify sends a Buffer verbatim.
            .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as string)
        );
      },
    );

    app.get(
      '/v1/logs/:log/key',
      {
        config: { access: 'public.read' },
        schema: {
          tags: ['tlog'],
          summary: "The log's verifier key (C2SP signed-note) and origin",
          params: LogParams,
          response: { 200: KeyResponse, ...errors(401, 403, 404, 429) },
        },
      },
      async (request) => {
        const info = engine.info(request.params.log);
        return { verifier_key: info.verifierKey, origin: info.origin };
      },
    );
  };
}
