/**
 * `IndelibleClient`: one typed method per route of the HTTP API (DESIGN §4), snake_case on the wire
 * and camelCase here. Every failure is a ClientError whose `code` is the server's problem code
 * (`log.not_found`, `auth.forbidden`, …) or a `client.*` code (errors.ts). The client keeps no
 * state besides its options, so one instance may be shared by any number of concurrent callers.
 */
import { parseTilePath } from '../core/tile.js';
import { AuditLogger } from './audit-logger.js';
import { ClientError } from './errors.js';
import { BODY_LIMITS, decodeJson, decodeText, type FetchLike, type HttpRequest, Transport } from './http.js';
import type { AuditLoggerOptions } from './logger-options.js';
import type {
  AppendResult,
  ConsistencyProof,
  Entry,
  EventHit,
  EventPage,
  ExportEnd,
  ExportEntry,
  ExportOptions,
  InclusionProof,
  KeyCreated,
  KeyInfo,
  LogCreated,
  LogInfo,
  LogKey,
  Pruning,
  QueryOptions,
  Role,
} from './types.js';
import {
  toAppendResult,
  toConsistencyProof,
  toEntry,
  toEventPage,
  toExportLine,
  toInclusionProof,
  toKeyCreated,
  toKeyList,
  toLogCreated,
  toLogInfo,
  toLogKey,
  toLogList,
  toPruning,
} from './wire.js';

export interface ClientOptions {
  /** Base URL of the server, e.g. `https://audit.example.com`. */
  url: string;
  /** API key (`Authorization: Bearer`); omit for the public read path. */
  apiKey?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: FetchLike;
  /** Per-request timeout in ms. Default 30,000. */
  timeoutMs?: number;
}

export interface AppendOptions {
  /** Sent as `Idempotency-Key`: a retry with the same key and body returns the original entries. */
  idempotencyKey?: string;
  /** Also wait for a signed checkpoint and return it with a receipt per entry. */
  waitCheckpoint?: boolean;
  signal?: AbortSignal;
}

const FILTERS = ['actor', 'action', 'target', 'outcome', 'since', 'until', 'q'] as const;

/** The server's largest query page, and what one hit may take (an event of ≤ 65,535 bytes, escaped). */
const MAX_PAGE = 1000;
const HIT_BYTES = 2 * 65_536;
/** Lists of logs or keys: thousands of short objects. */
const LIST_BYTES = 16 * 1024 * 1024;
/** An append's answer: up to 10,000 entries (http.maxBatchEvents), each with a receipt when waited for. */
const APPEND_BYTES = 64 * 1024 * 1024;

const seg = (s: string) => encodeURIComponent(s);
const logPath = (log: string) => {
  if (typeof log !== 'string' || log.length === 0)
    throw new ClientError('client.invalid_argument', 'a log name is required');
  return `/v1/logs/${seg(log)}`;
};

function checkIndex(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ClientError('client.invalid_argument', `${name} must be a non-negative safe integer`);
  }
  return n;
}

export class IndelibleClient {
  readonly #http: Transport;

  constructor(options: ClientOptions) {
    this.#http = new Transport(options);
  }

  /** The server's base URL (without a trailing slash). */
  get url(): string {
    return this.#http.baseUrl;
  }

  async #json(req: HttpRequest): Promise<{ value: unknown; res: Response }> {
    const { bytes, res } = await this.#http.request(req);
    return { value: decodeJson(bytes, `the answer to ${req.method} ${req.path}`), res };
  }

  async #get(path: string, query?: HttpRequest['query'], maxBytes?: number): Promise<unknown> {
    return (
      await this.#json({
        method: 'GET',
        path,
        ...(query ? { query } : {}),
        ...(maxBytes === undefined ? {} : { maxBytes }),
      })
    ).value;
  }

  // ---------------------------------------------------------------- logs and keys (admin)

  async createLog(name: string): Promise<LogCreated> {
    const { value } = await this.#json({ method: 'POST', path: '/v1/logs', body: JSON.stringify({ name }) });
    return toLogCreated(value);
  }

  /** The logs in this key's scope. */
  async listLogs(): Promise<LogInfo[]> {
    return toLogList(await this.#get('/v1/logs', undefined, LIST_BYTES));
  }

  async getLog(name: string): Promise<LogInfo> {
    return toLogInfo(await this.#get(logPath(name)));
  }

  async createKey(options: {
    role: Role;
    logs?: string[] | null;
    description?: string;
  }): Promise<KeyCreated> {
    const body: Record<string, unknown> = { role: options.role };
    if (options.logs !== undefined) body.logs = options.logs;
    if (options.description !== undefined) body.description = options.description;
    const { value } = await this.#json({ method: 'POST', path: '/v1/keys', body: JSON.stringify(body) });
    return toKeyCreated(value);
  }

  async listKeys(): Promise<KeyInfo[]> {
    return toKeyList(await this.#get('/v1/keys', undefined, LIST_BYTES));
  }

  async revokeKey(id: string): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: `/v1/keys/${seg(id)}` });
  }

  // ---------------------------------------------------------------- retention policy (docs/RETENTION.md)

  /** The log's retention policy and legal hold, as the server sends it (admin or auditor). */
  async policy(log: string): Promise<Record<string, unknown>> {
    return asObject(await this.#get(`${logPath(log)}/policy`));
  }

  /** Changes settings (`{ retention: { min, max }, archive: { after } }`; absent ones are kept). */
  async setPolicy(log: string, update: Record<string, unknown>): Promise<Record<string, unknown>> {
    const path = `${logPath(log)}/policy`;
    return asObject((await this.#json({ method: 'PUT', path, body: JSON.stringify(update) })).value);
  }

  /** Sets a legal hold with its reason (admin; refused while one is set). */
  async setLegalHold(log: string, reason: string): Promise<Record<string, unknown>> {
    const path = `${logPath(log)}/legal-hold`;
    return asObject((await this.#json({ method: 'POST', path, body: JSON.stringify({ reason }) })).value);
  }

  /** Releases the legal hold (admin; audited). */
  async releaseLegalHold(log: string): Promise<Record<string, unknown>> {
    return asObject((await this.#json({ method: 'DELETE', path: `${logPath(log)}/legal-hold` })).value);
  }

  // ---------------------------------------------------------------- ingest

  /**
   * Appends one event or a batch; resolves once the server has made them durable. Give events an
   * `id` (or pass `idempotencyKey`) to make a retry safe: the server then returns the original
   * entries instead of appending again. For batching, retries and spooling use `logger()`.
   */
  async append(log: string, events: unknown | unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    const body = JSON.stringify(Array.isArray(events) ? { events } : events);
    return this.appendBody(log, body, options);
  }

  /**
   * Appends a pre-serialized JSON body (one event or `{"events":[…]}`). Retries must send the same
   * bytes with the same idempotency key (the server fingerprints the body), hence this entry point.
   */
  async appendBody(log: string, body: string, options: AppendOptions = {}): Promise<AppendResult> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    const { value, res } = await this.#json({
      method: 'POST',
      path: `${logPath(log)}/events`,
      ...(options.waitCheckpoint ? { query: { wait: 'checkpoint' } } : {}),
      body,
      headers,
      signal: options.signal,
      maxBytes: APPEND_BYTES,
    });
    return toAppendResult(value, res.headers.get('idempotent-replayed') === 'true');
  }

  /** An AuditLogger for `log`: batching, retries, a bounded queue and an optional on-disk spool. */
  logger(log: string, options: AuditLoggerOptions = {}): AuditLogger {
    return new AuditLogger(this, log, options);
  }

  // ---------------------------------------------------------------- reads (reader)

  /** One page of a search; pass `nextCursor` back as `cursor` for the next. */
  async query(log: string, options: QueryOptions = {}): Promise<EventPage> {
    const query: Record<string, string | number | undefined> = {};
    for (const k of FILTERS) query[k] = options[k];
    if (options.limit !== undefined) query.limit = checkIndex(options.limit, 'limit');
    query.cursor = options.cursor;
    query.order = options.order;
    const hits = Math.min(options.limit ?? MAX_PAGE, MAX_PAGE);
    return toEventPage(await this.#get(`${logPath(log)}/events`, query, (hits + 8) * HIT_BYTES));
  }

  /** Every event matching `options`, page after page (stable while appends continue). */
  async *queryAll(log: string, options: QueryOptions = {}): AsyncGenerator<EventHit> {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.query(log, { ...options, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.events;
      if (page.nextCursor === null || page.nextCursor === cursor) return;
      cursor = page.nextCursor;
    }
  }

  async entry(log: string, index: number): Promise<Entry> {
    return toEntry(await this.#get(`${logPath(log)}/entries/${checkIndex(index, 'index')}`));
  }

  /** The latest signed checkpoint note (NOT verified: see VerifiedReader / verifyRemoteLog). */
  async checkpoint(log: string): Promise<string> {
    const { bytes } = await this.#http.request({
      method: 'GET',
      path: `${logPath(log)}/checkpoint`,
      headers: { accept: 'text/plain' },
      maxBytes: BODY_LIMITS.note,
      what: 'the checkpoint',
    });
    return decodeText(bytes, 'the checkpoint');
  }

  /**
   * A hash tile or entry bundle by its C2SP path (`tile/0/x001/234.p/7`, `tile/entries/000`, or the
   * same without `tile/`). The path is parsed strictly first, so it cannot address anything else.
   */
  async tile(log: string, path: string): Promise<Uint8Array> {
    const full = path.startsWith('tile/') ? path : `tile/${path}`;
    let kind: 'hash' | 'entries';
    try {
      kind = parseTilePath(full).kind;
    } catch (cause) {
      throw new ClientError('client.invalid_argument', `not a tile path: ${JSON.stringify(path)}`, { cause });
    }
    const { bytes } = await this.#http.request({
      method: 'GET',
      path: `${logPath(log)}/${full}`,
      headers: { accept: 'application/octet-stream' },
      maxBytes: kind === 'entries' ? BODY_LIMITS.entryBundle : BODY_LIMITS.hashTile,
      what: kind === 'entries' ? `the entry bundle ${full}` : `the tile ${full}`,
    });
    return bytes;
  }

  /** The log's verifier key and origin, as the server claims them (pin the key out of band). */
  async key(log: string): Promise<LogKey> {
    return toLogKey(await this.#get(`${logPath(log)}/key`));
  }

  /** The log's minimum index and prune statement (public, like the checkpoint). */
  async pruning(log: string): Promise<Pruning> {
    return toPruning(await this.#get(`${logPath(log)}/pruning`));
  }

  async inclusionProof(log: string, index: number, treeSize: number): Promise<InclusionProof> {
    const query = { index: checkIndex(index, 'index'), tree_size: checkIndex(treeSize, 'treeSize') };
    return toInclusionProof(await this.#get(`${logPath(log)}/proofs/inclusion`, query, BODY_LIMITS.proof));
  }

  async consistencyProof(log: string, from: number, to: number): Promise<ConsistencyProof> {
    const query = { from: checkIndex(from, 'from'), to: checkIndex(to, 'to') };
    return toConsistencyProof(
      await this.#get(`${logPath(log)}/proofs/consistency`, query, BODY_LIMITS.proof),
    );
  }

  /** A C2SP tlog-proof receipt for one entry (verify with `verifyReceipt`). */
  async receipt(log: string, index: number): Promise<string> {
    const { bytes } = await this.#http.request({
      method: 'GET',
      path: `${logPath(log)}/receipts/${checkIndex(index, 'index')}`,
      headers: { accept: 'text/plain' },
      maxBytes: BODY_LIMITS.note,
      what: 'the receipt',
    });
    return decodeText(bytes, 'the receipt');
  }

  /**
   * Streams an export (auditor): one `ExportEntry` per entry, then the final `ExportEnd` with the
   * checkpoint every proof is against. A stream that ends without that line, or with the server's
   * error line, throws (`client.incomplete_export` / the server's code): it would not verify.
   */
  async *export(log: string, options: ExportOptions = {}): AsyncGenerator<ExportEntry | ExportEnd> {
    const query: Record<string, string | number | undefined> = {};
    for (const k of FILTERS) query[k] = options[k];
    if (options.from !== undefined) query.from = checkIndex(options.from, 'from');
    if (options.to !== undefined) query.to = checkIndex(options.to, 'to');
    const res = await this.#http.stream({
      method: 'GET',
      path: `${logPath(log)}/export`,
      query,
      headers: { accept: 'application/x-ndjson' },
    });
    if (res.body === null) throw new ClientError('client.incomplete_export', 'the export has no body');
    let ended = false;
    try {
      for await (const line of ndjsonLines(res.body, BODY_LIMITS.exportLine)) {
        if (ended)
          throw new ClientError('client.bad_response', 'the export continues after its checkpoint line');
        const item = toExportLine(decodeJson(line, 'an export line'));
        if (item.kind === 'checkpoint') ended = true;
        yield item;
      }
    } catch (err) {
      if (err instanceof ClientError) throw err;
      throw new ClientError('client.network', 'the export stream broke off', { cause: err });
    }
    if (!ended)
      throw new ClientError('client.incomplete_export', 'the export ended without its checkpoint line');
  }
}

/**
 * Splits a byte stream into LF-terminated lines (bytes, without the LF); a partial last line is
 * kept. A line longer than `maxLine` bytes is `client.bad_response` (memory stays bounded).
 */
async function* ndjsonLines(body: ReadableStream<Uint8Array>, maxLine: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let buf = new Uint8Array(0);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      let start = 0;
      for (let i = joined.indexOf(10); i >= 0; i = joined.indexOf(10, start)) {
        if (i - start > maxLine) throw tooLong(maxLine);
        if (i > start) yield joined.subarray(start, i);
        start = i + 1;
      }
      buf = joined.slice(start);
      if (buf.length > maxLine) throw tooLong(maxLine);
    }
    if (buf.length > 0) yield buf;
  } finally {
    // An early `break` by the consumer: stop the download rather than leave the socket open.
    await reader.cancel().catch(() => {});
  }
}

function tooLong(maxLine: number): ClientError {
  return new ClientError('client.bad_response', `an export line is longer than ${maxLine} bytes`, {
    details: { maxBytes: maxLine },
  });
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClientError('client.bad_response', 'expected a JSON object from the server');
  }
  return value as Record<string, unknown>;
}
