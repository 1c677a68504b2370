/**
 * TypeBox schemas of the public contract (DESIGN §4). They drive request validation (Ajv, with
 * unknown fields rejected, never stripped), response serialization and the OpenAPI document, so the
 * three cannot drift apart. The ingest body is the exception: the engine validates events (and names
 * the field), so its schema here is documentation only (see routes-ingest.ts).
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT } from '../index/types.js';
import { HttpError } from './problem.js';

// ---------------------------------------------------------------- shared pieces

const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'lowercase hex SHA-256' });
const Timestamp = Type.String({ description: 'RFC 3339 UTC time with milliseconds' });

/** A decimal index or size in a path or query: digits, no sign, no leading zeros (checked safe in the handler). */
export const Decimal = (description: string) =>
  Type.String({
    pattern: '^(0|[1-9][0-9]{0,15})$',
    description: `${description} (decimal, no leading zeros)`,
  });

/**
 * Turns a validated `Decimal` into a number; beyond 2^53 − 1 is `request.invalid` naming `field`
 * and `max`, the field's own bound (a query limit's 1000, say).
 */
export function toSafeInteger(text: string, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new HttpError('request.invalid', `${field} must be at most ${max}`, {
      details: { field },
    });
  }
  return n;
}

export const Problem = Type.Object(
  {
    type: Type.String({ description: '`urn:indelible:problem:<code>`' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'stable machine-readable error code, e.g. `log.not_found`' }),
    instance: Type.String({ description: 'the request path' }),
    request_id: Type.String(),
    field: Type.Optional(Type.String({ description: 'the offending field, e.g. `events[3].actor.id`' })),
    fields: Type.Optional(Type.Array(Type.String())),
    line: Type.Optional(Type.Integer({ description: 'NDJSON line number (1-based)' })),
    event: Type.Optional(Type.Integer({ description: 'position of the offending event in the batch' })),
    retry_after: Type.Optional(Type.Integer({ description: 'seconds, as in the Retry-After header' })),
  },
  { description: 'RFC 9457 problem details' },
);

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Invalid request (`field` names the offending field)',
  401: 'Missing, unknown or revoked API key',
  403: 'The key lacks the role or the log is outside its scope',
  404: 'No such log, entry, tile or route',
  409: 'Conflict',
  410: "Pruned by the log's retention policy (below its minimum index; see GET …/pruning)",
  413: 'Body, batch or record too large',
  415: 'Unsupported content type',
  422: 'Well-formed values that cannot be answered together (`field` names one)',
  429: 'Rate limited (see Retry-After)',
  500: 'Internal error',
  503: 'Back-pressure or shutting down (see Retry-After)',
};

/** Response entries for the given error statuses, each an `application/problem+json` Problem. */
export function errors(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const s of [...statuses, 500]) {
    out[s] = {
      description: ERROR_TEXT[s] ?? 'Error',
      content: { 'application/problem+json': { schema: Problem } },
    };
  }
  return out;
}

/** A text response (checkpoints, receipts, metrics). */
export function text(description: string, type = 'text/plain; charset=utf-8'): unknown {
  return { description, content: { [type.split(';')[0]!]: { schema: Type.String() } } };
}

export const LogParams = Type.Object({ log: Type.String({ description: 'log name' }) });
export const LogIndexParams = Type.Object({ log: Type.String(), index: Decimal('entry index') });

// ---------------------------------------------------------------- admin

export const CreateLogBody = Type.Object(
  {
    name: Type.String({ description: '`^[a-z0-9][a-z0-9._-]{0,62}$`; names starting with `_` are reserved' }),
  },
  { additionalProperties: false },
);
export const LogCreated = Type.Object({
  name: Type.String(),
  origin: Type.String(),
  verifier_key: Type.String(),
});
export const LogInfo = Type.Object({
  name: Type.String(),
  origin: Type.String(),
  verifier_key: Type.String(),
  created_at: Timestamp,
  system: Type.Boolean({ description: 'a system log such as `_audit`' }),
  tree_size: Type.Integer({ description: 'tree size of the latest signed checkpoint' }),
  size: Type.Integer({ description: 'durable (acknowledged) entries' }),
});
export const LogList = Type.Object({ logs: Type.Array(LogInfo) });

const RoleSchema = Type.Union([
  Type.Literal('admin'),
  Type.Literal('writer'),
  Type.Literal('reader'),
  Type.Literal('auditor'),
]);
export const CreateKeyBody = Type.Object(
  {
    role: RoleSchema,
    logs: Type.Optional(
      Type.Union([Type.Array(Type.String(), { maxItems: 100 }), Type.Null()], {
        description: 'omit or null for all logs',
      }),
    ),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  },
  { additionalProperties: false },
);
const Scope = Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null = all logs' });
export const KeyCreated = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'the secret, shown only in this response' }),
  role: RoleSchema,
  logs: Scope,
});
export const KeyInfo = Type.Object({
  id: Type.String(),
  role: RoleSchema,
  logs: Scope,
  description: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
  last_used_at: Type.Union([Timestamp, Type.Null()]),
  revoked_at: Type.Union([Timestamp, Type.Null()]),
});
export const KeyList = Type.Object({ keys: Type.Array(KeyInfo) });
export const KeyIdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

// ---------------------------------------------------------------- ingest

/** A string of actor, target(s) or source: at most `eventLimits.maxFieldLength` characters (1024 by default). */
const Field = (minLength = 0) => Type.String({ minLength, maxLength: 1024 });
const Target = Type.Object(
  { id: Field(1), type: Type.Optional(Field()), name: Type.Optional(Field()) },
  { additionalProperties: false },
);
/**
 * DESIGN §3, for documentation (the engine's validateEvent is the authority, and its limits are
 * configurable: `eventLimits` in the server's configuration; the defaults are shown).
 */
export const AuditEvent = Type.Object(
  {
    id: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$', description: 'client id, for idempotency' }),
    ),
    action: Type.String({ minLength: 1, maxLength: 128, examples: ['document.update'] }),
    actor: Type.Object(
      {
        id: Field(1),
        type: Type.Optional(Field()),
        name: Type.Optional(Field()),
        email: Type.Optional(Field()),
        ip: Type.Optional(Field()),
        user_agent: Type.Optional(Field()),
      },
      { additionalProperties: false },
    ),
    target: Type.Optional(Target),
    targets: Type.Optional(Type.Array(Target, { maxItems: 32 })),
    outcome: Type.Optional(
      Type.Union(['success', 'failure', 'denied', 'error', 'unknown'].map((o) => Type.Literal(o))),
    ),
    occurred_at: Type.Optional(Type.String({ description: 'RFC 3339' })),
    source: Type.Optional(
      Type.Object(
        {
          service: Type.Optional(Field()),
          host: Type.Optional(Field()),
          request_id: Type.Optional(Field()),
        },
        { additionalProperties: false },
      ),
    ),
    metadata: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          'free-form, depth ≤ 16; the whole record (event and envelope) ≤ 65,535 bytes as RFC 8785 JSON',
      }),
    ),
  },
  { additionalProperties: false },
);
export const IngestBatch = Type.Object(
  { events: Type.Array(AuditEvent, { minItems: 1 }) },
  { additionalProperties: false },
);
export const IngestQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Literal('checkpoint', { description: 'also wait for a signed checkpoint and return receipts' }),
    ),
  },
  { additionalProperties: false },
);
export const IngestHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'replays return the original entries' }),
  ),
});
export const AckEntry = Type.Object({
  index: Type.Integer(),
  id: Type.String(),
  leaf_hash: Hex32,
  received_at: Timestamp,
  receipt: Type.Optional(Type.String({ description: 'C2SP tlog-proof text (with wait=checkpoint)' })),
});
export const IngestResponse = Type.Object({
  entries: Type.Array(AckEntry),
  checkpoint: Type.Optional(
    Type.String({ description: 'signed note covering the batch (with wait=checkpoint)' }),
  ),
});

// ---------------------------------------------------------------- reads

const filterFields = {
  actor: Type.Optional(Type.String({ maxLength: 1024, description: 'actor.id, exact' })),
  action: Type.Optional(
    Type.String({
      maxLength: 129,
      description:
        'exact, or a prefix ending in `*`; a prefix standing for more than 256 distinct actions of the log is refused (400)',
    }),
  ),
  target: Type.Optional(Type.String({ maxLength: 1024, description: 'target.id or any targets[].id' })),
  outcome: Type.Optional(Type.String({ maxLength: 16 })),
  since: Type.Optional(Type.String({ maxLength: 64, description: 'received_at ≥ since (RFC 3339)' })),
  until: Type.Optional(Type.String({ maxLength: 64, description: 'received_at < until (RFC 3339)' })),
  q: Type.Optional(
    Type.String({
      maxLength: 1024,
      description:
        'free-text words, all must match. Each word is matched, case-insensitively, as a phrase of its tokens ' +
        '(alice@example.com: alice, example, com in a row) against the values of the event: action, actor, ' +
        'target(s), outcome, source and metadata strings and numbers, read in that order as one text, so a ' +
        'phrase may also span the end of one value and the start of the next. No operators: *, quotes and OR are plain text.',
    }),
  ),
};
export const EventsQuery = Type.Object(
  {
    ...filterFields,
    limit: Type.Optional(Decimal(`page size, 1..${MAX_QUERY_LIMIT}, default ${DEFAULT_QUERY_LIMIT}`)),
    cursor: Type.Optional(
      Type.String({ maxLength: 1024, description: '`next_cursor` of the previous page' }),
    ),
    order: Type.Optional(
      Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'default asc' }),
    ),
  },
  { additionalProperties: false },
);
export const FilterKeys = Object.keys(filterFields) as Array<keyof typeof filterFields>;
export const EventsPage = Type.Object({
  events: Type.Array(
    Type.Object({
      index: Type.Integer(),
      id: Type.String(),
      received_at: Timestamp,
      leaf_hash: Hex32,
      event: Type.Unknown({ description: 'the event as accepted' }),
    }),
  ),
  next_cursor: Type.Union([Type.String(), Type.Null()], {
    description: 'null at the end of what the index covers',
  }),
  covered_size: Type.Integer({ description: 'entries the search index covered for this answer' }),
});
export const EntryResponse = Type.Object({
  index: Type.Integer(),
  leaf_hash: Hex32,
  record: Type.String({ description: 'the exact record text (JCS)' }),
});
export const KeyResponse = Type.Object({ verifier_key: Type.String(), origin: Type.String() });
export const InclusionQuery = Type.Object(
  { index: Decimal('entry index'), tree_size: Decimal('tree size of a signed checkpoint') },
  { additionalProperties: false },
);
export const InclusionResponse = Type.Object({
  index: Type.Integer(),
  tree_size: Type.Integer(),
  hashes: Type.Array(Hex32),
});
export const ConsistencyQuery = Type.Object(
  { from: Decimal('older tree size'), to: Decimal('newer tree size') },
  { additionalProperties: false },
);
export const ConsistencyResponse = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  hashes: Type.Array(Hex32),
});
export const ExportQuery = Type.Object(
  {
    ...filterFields,
    from: Type.Optional(Decimal('first index (inclusive)')),
    to: Type.Optional(Decimal('last index (exclusive)')),
  },
  { additionalProperties: false },
);

export type Static<T extends TSchema> = import('@sinclair/typebox').Static<T>;
