/**
 * `POST /v1/logs/{log}/events` — the hot path. The body is one event, `{"events":[…]}`, or NDJSON
 * (one event per line), parsed once by the content-type parsers (body.ts). Events are validated by
 * the engine only (no second schema pass here), which names the offending field; nothing is appended
 * unless every event of the request is valid.
 *
 * Answers (documented in the OpenAPI document):
 * - 201 `{"entries":[{"index","id","leaf_hash","received_at"}]}` once the batch is durable — also for
 *   retries: a retry gets the same status and entries as the first answer, so a client never has to
 *   tell the two apart (with `?wait=checkpoint`, the checkpoint and receipts are the latest ones).
 *   `Idempotent-Replayed: true` marks a response in which nothing new was appended (an
 *   `Idempotency-Key` replay, or every event `id` already in the log).
 * - `?wait=checkpoint` additionally waits for a signed checkpoint covering the batch and adds
 *   `"checkpoint"` (note text) and a per-entry `"receipt"` (C2SP tlog-proof against that checkpoint).
 * - `Idempotency-Key`: see idempotency.ts (same key + same body → the original entries; a different
 *   body → 409 `idempotency.mismatch`).
 * - 503 `log.pushback` + Retry-After when the log's queue is full or its search index is too far behind.
 * - 403 for system logs (names starting with `_`): only the server appends to them.
 */
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuthError } from '../auth/errors.js';
import { EventError } from '../core/event.js';
import { newEventId } from '../core/record.js';
import { LogError } from '../log/errors.js';
import type { AppendedEntry } from '../log/types.js';
import type { ServerContext } from './context.js';
import { headerCount } from './headers.js';
import { idempotencyMismatch, isValidIdempotencyKey } from './idempotency.js';
import { batchTooLarge, NdjsonBatch } from './ndjson.js';
import { HttpError } from './problem.js';
import { createProofReader } from './proof-reader.js';
import { AuditEvent, errors, IngestBatch, IngestQuery, IngestResponse, LogParams } from './schemas.js';

interface Ack {
  index: number;
  id: string;
  leaf_hash: string;
  received_at: string;
  receipt?: string;
}

const toAck = (e: AppendedEntry): Ack => ({
  index: e.index,
  id: e.id,
  leaf_hash: e.leafHash,
  received_at: e.receivedAt,
});

/** The body is documented here but validated by the engine (see the module comment). */
const documentIngestBody: SwaggerTransform = ({ schema, url }) => ({
  url,
  schema: {
    ...schema,
    // The body's own description is dropped by the OpenAPI conversion of a multi-type body.
    description:
      'The body is one event object, `{"events":[…]}` (1 to `http.maxBatchEvents` events), or NDJSON (`application/x-ndjson`, one event per line). 201 only once every event is durable.',
    headers: {
      type: 'object',
      properties: {
        'idempotency-key': {
          type: 'string',
          maxLength: 255,
          description:
            'a retry with the same key and body (within `idempotencyTtlMs`, default 24 h) returns the original entries, also after a server crash or power loss; the same key with another body is 409 idempotency.mismatch',
        },
      },
    },
    body: {
      description: 'one event, a batch, or NDJSON (one event per line)',
      content: {
        'application/json': { schema: { anyOf: [AuditEvent, IngestBatch] } },
        'application/x-ndjson': { schema: { type: 'string', description: 'one AuditEvent JSON per line' } },
      },
    },
  },
});

export function ingestRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine, config, metrics } = ctx;
  const limits = config.eventLimits;

  return async (app) => {
    app.post(
      '/v1/logs/:log/events',
      {
        config: {
          access: 'events.append',
          swaggerTransform: documentIngestBody,
        },
        schema: {
          tags: ['events'],
          summary: 'Append events (201 once durable)',
          params: LogParams,
          querystring: IngestQuery,
          response: { 201: IngestResponse, ...errors(400, 401, 403, 404, 409, 413, 415, 429, 503) },
        },
      },
      async (request, reply) => {
        const name = request.params.log;
        if (name.startsWith('_')) {
          // System logs (`_audit`) are written by the server alone, whatever a key's scope says. The
          // attempt is recorded like any refused request (server.ts recordRefusal).
          throw new AuthError('auth.forbidden', `the system log ${name} is written by the server only`, {
            details: { action: 'events.append', log: name },
          });
        }
        const log = engine.log(name); // log.not_found before any body checks
        const { events, lines, batch } = eventsOf(request.body, config.maxBatchEvents);

        const append = async (
          assignedIds?: IngestIntent,
          retry = false,
        ): Promise<{ acks: Ack[]; fresh: boolean }> => {
          if (assignedIds !== undefined && assignedIds.length !== events.length) {
            // Same bytes under this key, but parsed as another number of events (JSON, then NDJSON).
            throw idempotencyMismatch();
          }
          try {
            const r = await engine.append(
              name,
              events,
              limits,
              assignedIds && { ids: assignedIds.map((id) => id ?? undefined), fresh: !retry },
            );
            return { acks: r.entries.map(toAck), fresh: r.duplicates.some((d) => !d) };
          } catch (err) {
            throw err instanceof EventError || (err instanceof LogError && err.code === 'log.id_conflict')
              ? locateEventError(err, lines, batch)
              : err;
          }
        };

        let acks: Ack[];
        let replayed: boolean;
        const idemKey = request.headers['idempotency-key'];
        if (idemKey !== undefined) {
          // Node joins repeated headers with ", ": two keys would silently become a third one.
          if (headerCount(request.raw.rawHeaders, 'idempotency-key') > 1) {
            throw new HttpError('request.invalid', 'send one Idempotency-Key header, not several', {
              details: { field: 'Idempotency-Key' },
            });
          }
          if (typeof idemKey !== 'string' || !isValidIdempotencyKey(idemKey)) {
            throw new HttpError('request.invalid', 'Idempotency-Key must be 1-255 visible ASCII characters', {
              details: { field: 'Idempotency-Key' },
            });
          }
          const fingerprint = `${name}\n${request.bodyDigest ?? ''}`;
          const r = await ctx.idempotency.run(
            request.apiKey!.id,
            idemKey,
            fingerprint,
            () => intentOf(events, engine.clock.now()),
            append,
          );
          acks = r.value.acks;
          replayed = r.replayed || !r.value.fresh;
        } else {
          const r = await append();
          acks = r.acks;
          replayed = !r.fresh;
        }
        metrics.observeIngest(name, acks.length);

        let checkpoint: string | undefined;
        if (request.query.wait === 'checkpoint') {
          let end = 0;
          for (const a of acks) if (a.index + 1 > end) end = a.index + 1;
          try {
            const cp = await log.checkpointCovering(end);
            const proofs = createProofReader(log, cp);
            const receipts: string[] = [];
            for (const a of acks) receipts.push(await proofs.receipt(a.index));
            acks.forEach((a, i) => {
              a.receipt = receipts[i]!;
            });
            checkpoint = cp.note;
          } catch (err) {
            // The entries are durable: an error now would invite a retry that appends them again
            // (without an Idempotency-Key). Answer 201 without a checkpoint; receipts can be fetched
            // later (GET …/receipts/{index}).
            request.log.error(
              { err, log: name },
              'appended, but no checkpoint covering the entries could be signed',
            );
            ctx.integrityError(err, name);
            reply.header('indelible-checkpoint', 'unavailable');
          }
        }
        if (replayed) reply.header('idempotent-replayed', 'true');
        reply.code(201);
        return checkpoint === undefined ? { entries: acks } : { entries: acks, checkpoint };
      },
    );
  };
}

/**
 * The write-ahead intent of an ingest request with an `Idempotency-Key` (http/idempotency.ts): the id
 * each event will get unless it carries its own (null then). Recorded before the append, so a retry
 * after a crash appends with the same ids and finds what the first attempt appended.
 */
type IngestIntent = Array<string | null>;

function intentOf(events: readonly unknown[], nowMs: number): IngestIntent {
  return events.map((e) =>
    e !== null && typeof e === 'object' && typeof (e as { id?: unknown }).id === 'string'
      ? null
      : newEventId(nowMs),
  );
}

/** The events of a parsed body; `batch` is true for the `{"events":[…]}` form. */
function eventsOf(body: unknown, max: number): { events: unknown[]; lines?: number[]; batch: boolean } {
  let out: { events: unknown[]; lines?: number[]; batch: boolean };
  if (body instanceof NdjsonBatch) {
    out = { events: body.events, lines: body.lines, batch: true };
  } else if (
    body !== null &&
    typeof body === 'object' &&
    !Array.isArray(body) &&
    Object.hasOwn(body, 'events')
  ) {
    const extra = Object.keys(body).find((k) => k !== 'events');
    if (extra !== undefined) {
      throw new HttpError(
        'request.invalid',
        `a batch has only "events"; ${JSON.stringify(extra)} is not a known field`,
        {
          details: { field: extra },
        },
      );
    }
    const events = (body as { events: unknown }).events;
    if (!Array.isArray(events)) {
      throw new HttpError('request.invalid', 'events must be an array of events', {
        details: { field: 'events' },
      });
    }
    out = { events, batch: true };
  } else if (body === undefined) {
    throw new HttpError('request.invalid', 'a JSON or NDJSON body is required', {
      details: { field: 'body' },
    });
  } else {
    out = { events: [body], batch: false };
  }
  if (out.events.length === 0) {
    throw new HttpError('request.invalid', 'the request holds no events', { details: { field: 'events' } });
  }
  if (out.events.length > max) throw batchTooLarge(max, out.events.length);
  return out;
}

/**
 * Points an event error (or an event id conflict) at the client's input: `events[0].…` for a
 * one-event batch (the engine only prefixes batches of two or more), and the NDJSON line number when
 * the body was NDJSON.
 */
function locateEventError<E extends EventError | LogError>(
  err: E,
  lines: number[] | undefined,
  batch: boolean,
): E {
  const at = typeof err.details?.event === 'number' ? err.details.event : 0;
  const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
  const single = typeof err.details?.event !== 'number';
  if (!batch || (!single && lines === undefined)) return err;
  const details: Record<string, unknown> = { ...err.details, event: at };
  if (single) {
    const scope = (f: unknown) => (f === undefined || f === '' ? `events[0]` : `events[0].${f}`);
    // An id conflict over a server-made id names no field (the client sent none).
    if (field !== undefined || err instanceof EventError) details.field = scope(field);
    if (Array.isArray(err.details?.fields)) details.fields = err.details.fields.map(scope);
  }
  if (lines !== undefined) details.line = lines[at];
  const message = lines === undefined ? err.message : `line ${lines[at]}: ${err.message}`;
  const options = { cause: err.cause, details };
  return (
    err instanceof EventError
      ? new EventError(err.code, message, options)
      : new LogError((err as LogError).code, message, options)
  ) as E;
}
