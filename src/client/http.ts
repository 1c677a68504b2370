/**
 * The SDK's HTTP layer: one `fetch` per call with a timeout, `Authorization: Bearer`, and every
 * failure turned into a coded ClientError — the server's problem+json `code` when it sent one.
 * Uses only `fetch`, `AbortController` and `TextDecoder`, so it runs in Node ≥ 20 and browsers.
 */
import { printable } from '../util/printable.js';
import { ClientError, type Problem, serverCode } from './errors.js';

/** The subset of `fetch` the SDK uses (inject one for tests, proxies or custom agents). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** Base URL of the server, e.g. `https://audit.example.com` (a path prefix is kept). */
  url: string;
  /** API key sent as `Authorization: Bearer <key>`; omit for public reads. */
  apiKey?: string | undefined;
  fetch?: FetchLike | undefined;
  /** Per-request timeout in ms (until the whole body is read, except for streams). Default 30,000. */
  timeoutMs?: number | undefined;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path after the base URL, starting with `/`; callers encode path segments. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** A pre-serialized body (kept byte-identical across retries) and its content type. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /**
   * The most body bytes `request` reads (after any Content-Encoding is decoded), default
   * DEFAULT_MAX_BYTES; a larger answer is `client.bad_response` and its download is stopped.
   */
  maxBytes?: number;
  /** What the body is, for that error ("the checkpoint"); default "the answer to METHOD PATH". */
  what?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Body limits. `fetch` decodes gzip/br/deflate by itself, so a small answer on the wire can be GiBs
 * in memory (a "gzip bomb"): every body is counted as it is decoded, and the read stops at the limit.
 */
export const BODY_LIMITS = {
  /** JSON answers without a larger bound of their own (a log, a key, the pruning state). */
  json: 1024 * 1024,
  /** A checkpoint or a receipt: C2SP notes carry a few signatures of at most a few kB. */
  note: 1024 * 1024,
  /** A hash tile: 256 hashes of 32 bytes. */
  hashTile: 256 * 32,
  /** An entry bundle: 256 entries, each a 2-byte length and at most 65,535 bytes. */
  entryBundle: 256 * (2 + 65_535),
  /** An inclusion or consistency proof (at most 2·63 hashes of 64 hex digits). */
  proof: 64 * 1024,
  /** A problem+json body of an error answer: a longer one is ignored (the status still counts). */
  problem: 64 * 1024,
  /** One line of an export: a record (at most 65,535 bytes, JSON-escaped) and its proof. */
  exportLine: 1024 * 1024,
} as const;

export const DEFAULT_MAX_BYTES = BODY_LIMITS.json;

export class Transport {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  constructor(options: TransportOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch (cause) {
      throw new ClientError('client.invalid_argument', `not a URL: ${String(options.url)}`, { cause });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ClientError('client.invalid_argument', 'the server URL must be http: or https:');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
      throw new ClientError('client.invalid_argument', 'timeoutMs must be a positive integer');
    }
    this.baseUrl = (base.origin + base.pathname).replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Sends the request and reads the whole body, both within the timeout; a body longer than
   * `req.maxBytes` (default DEFAULT_MAX_BYTES) is `client.bad_response`.
   */
  async request(req: HttpRequest): Promise<{ bytes: Uint8Array; res: Response }> {
    const sent = await this.#send(req);
    const max = req.maxBytes ?? DEFAULT_MAX_BYTES;
    try {
      const bytes = await readBody(sent.res, max);
      if (bytes === undefined) {
        const what = req.what ?? `the answer to ${req.method} ${req.path}`;
        throw new ClientError('client.bad_response', `${what} is larger than ${max} bytes`, {
          details: { maxBytes: max },
        });
      }
      return { bytes, res: sent.res };
    } catch (err) {
      throw sent.fail(err);
    } finally {
      sent.done();
    }
  }

  /** Sends the request; the timeout stops once the headers are in (for streamed bodies). */
  async stream(req: HttpRequest): Promise<Response> {
    const sent = await this.#send(req);
    sent.done();
    return sent.res;
  }

  async #send(req: HttpRequest) {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.#timeoutMs);
    const onAbort = () => ctl.abort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    };
    // A transport failure (fetch and body reads reject with TypeError), told apart by its cause.
    const fail = (err: unknown): ClientError => {
      if (err instanceof ClientError) return err;
      // The server's URL is named: a refused connection or an unknown host is often the wrong one.
      if (timedOut) {
        const message = `${req.method} ${this.baseUrl}${req.path}: no answer within ${this.#timeoutMs} ms`;
        return new ClientError('client.timeout', message, { cause: err });
      }
      if (req.signal?.aborted)
        return new ClientError('client.aborted', 'the request was aborted', { cause: err });
      const message = `${req.method} ${this.baseUrl}${req.path}: ${describe(err)}`;
      return new ClientError('client.network', message, { cause: err });
    };
    if (req.signal?.aborted) {
      done();
      throw new ClientError('client.aborted', 'the request was aborted');
    }
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (this.#apiKey !== undefined) headers.authorization = `Bearer ${this.#apiKey}`;
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    let res: Response;
    try {
      res = await this.#fetch(this.url(req.path, req.query), {
        method: req.method,
        headers,
        ...(req.body === undefined ? {} : { body: req.body }),
        signal: ctl.signal,
        redirect: 'error',
      });
      if (!res.ok) throw await problemError(res, req);
    } catch (err) {
      done();
      throw fail(err);
    }
    return { res, done, fail };
  }

  url(path: string, query?: HttpRequest['query']): string {
    let url = this.baseUrl + path;
    if (query !== undefined) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
      const qs = params.toString();
      if (qs !== '') url += `?${qs}`;
    }
    return url;
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const inner =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  const msg = err instanceof Error ? err.message : String(err);
  return inner === '' ? msg : `${msg} (${inner})`;
}

/**
 * Reads a body of at most `max` bytes (as decoded by fetch), counting while it streams; undefined
 * (and the download cancelled) as soon as it is longer, so memory stays bounded whatever was sent.
 */
export async function readBody(res: Response, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  // Content-Length counts encoded bytes: only a plain body can be refused before it is read.
  if (res.headers.get('content-encoding') === null && declared > max) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > max) return undefined;
      chunks.push(value);
    }
  } finally {
    // Stops the download (and the decompression) when the body was too long; a no-op otherwise.
    await reader.cancel().catch(() => {});
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The ClientError for a non-2xx answer: the problem's `code` when the body is problem+json. */
async function problemError(res: Response, req: HttpRequest): Promise<ClientError> {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  const extra = retryAfterMs === undefined ? {} : { retryAfterMs };
  let problem: Problem | undefined;
  // Bounded like any body: a problem longer than BODY_LIMITS.problem is ignored (the status stays).
  const body = await readBody(res, BODY_LIMITS.problem);
  try {
    const parsed = JSON.parse(body === undefined ? '' : new TextDecoder().decode(body)) as unknown;
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as Problem).code === 'string') {
      problem = parsed as Problem;
    }
  } catch {
    // Not JSON: a proxy's HTML error page, say.
  }
  if (problem === undefined) {
    return new ClientError('client.http', `${req.method} ${req.path}: HTTP ${res.status}`, {
      status: res.status,
      ...extra,
    });
  }
  // The server's words, escaped (no terminal controls) and cut short: they end up in messages.
  const raw = typeof problem.detail === 'string' ? problem.detail : String(problem.title ?? '');
  const detail = printable(raw.length > 500 ? `${raw.slice(0, 500)}…` : raw);
  const code = serverCode(problem.code);
  if (code === undefined) {
    // A code the SDK does not adopt (its own `client.*` namespace, or malformed): kept in details.
    return new ClientError('client.http', `${req.method} ${req.path}: HTTP ${res.status}: ${detail}`, {
      status: res.status,
      problem,
      details: { serverCode: problem.code },
      ...extra,
    });
  }
  return new ClientError(code, `${req.method} ${req.path}: ${res.status} ${code}: ${detail}`, {
    status: res.status,
    problem,
    ...extra,
  });
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms; undefined when absent or bad. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^[0-9]{1,9}$/.test(v)) return Number(v) * 1000;
  // An HTTP-date names its day or month (Date.parse alone would take "-1" as a year).
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(v)) return undefined;
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - now);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a body the API promises is UTF-8 text; invalid UTF-8 is `client.bad_response`. */
export function decodeText(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new ClientError('client.bad_response', `${what} is not valid UTF-8`, { cause });
  }
}

/** Parses a JSON body; malformed JSON is `client.bad_response`. */
export function decodeJson(bytes: Uint8Array, what: string): unknown {
  const text = decodeText(bytes, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ClientError('client.bad_response', `${what} is not JSON`, { cause });
  }
}
