/**
 * The HTTP service (DESIGN §4): `buildServer` assembles Fastify with the body parsers, the auth hook,
 * problem+json errors, metrics, OpenAPI and every route, without listening. The caller owns the
 * engine, key store and database and closes them after `app.close()` (see `closeGracefully`).
 *
 * Lifecycle: `/readyz` turns 200 when Fastify is ready. `app.close()` first drains for `drainMs`
 * (still serving, `/readyz` 503 so load balancers move away), then stops listening, answers any
 * request still arriving on an open connection with 503 `server.shutting_down` + Retry-After, and
 * waits for in-flight requests — so appends already accepted finish and are acknowledged — before
 * it returns.
 */

import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Database from 'better-sqlite3';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { isPublicAction } from '../auth/policy.js';
import { createRateLimiter, type RateLimiter } from '../auth/rate-limit.js';
import type { KeyStore } from '../auth/types.js';
import type { Engine } from '../log/engine.js';
import type { Monitor } from '../monitor/monitor.js';
import { createAuthHook } from './auth.js';
import { fastifyTrustProxy, type HttpConfig, resolveHttpConfig } from './config.js';
import { type AccessEvent, logParam, type ServerContext, type ServerState } from './context.js';
import { headerCount } from './headers.js';
import { createSqliteIdempotencyStore, type IdempotencyStore } from './idempotency.js';
import { createHttpMetrics } from './metrics.js';
import {
  parseJsonBody,
  parseNdjson,
  refuseContentEncoding,
  refuseForeignCharset,
  refuseTransferCoding,
} from './ndjson.js';
import {
  clientErrorResponse,
  connectRefusedResponse,
  expectationFailedBody,
  HttpError,
  sendProblem,
  toProblem,
} from './problem.js';
import { adminRoutes } from './routes-admin.js';
import { alertRoutes } from './routes-alerts.js';
import { exportRoutes } from './routes-export.js';
import { ingestRoutes } from './routes-ingest.js';
import { opsRoutes } from './routes-ops.js';
import { policyRoutes } from './routes-policy.js';
import { proofRoutes } from './routes-proofs.js';
import { pruningRoutes } from './routes-pruning.js';
import { readRoutes } from './routes-read.js';
import { tlogRoutes } from './routes-tlog.js';

/** The one route that takes NDJSON bodies. */
const INGEST_ROUTE = '/v1/logs/:log/events';

export type { HttpConfig } from './config.js';
export type { AccessEvent } from './context.js';

export interface BuildServerDeps {
  engine: Engine;
  keys: KeyStore;
  config?: Partial<HttpConfig>;
  /** A pino logger (request logs get `req_id`); silent when absent. */
  logger?: FastifyBaseLogger;
  /** The metadata database (better-sqlite3) that keeps idempotency records; in-memory when absent. */
  meta?: Database.Database;
  /** Overrides the SQLite idempotency store built on `meta`. */
  idempotency?: IdempotencyStore;
  /** Overrides the per-key rate limiter built from `config.rateLimit`. */
  rateLimiter?: RateLimiter;
  /** Called for every read of event data, export, admin action and auth failure. Must not throw. */
  onAccess?: (event: AccessEvent) => void;
  /**
   * The self-audit monitor: its `onAccess` is used when `onAccess` is absent, its alert routes
   * (`/v1/alerts`) are served, and its metrics share the server's registry.
   */
  monitor?: Pick<
    Monitor,
    'alerts' | 'acknowledge' | 'onAccess' | 'registry' | 'reportIntegrityError' | 'flush'
  >;
  /** Wall clock in ms (idempotency expiry, access times). */
  clock?: { now(): number };
  /** Include Node process metrics in /metrics (default true). */
  defaultMetrics?: boolean;
}

/** Connections being ended by `endConnection` (once each). */
const ending = new WeakSet<object>();

/**
 * Ends a connection whose stream cannot be read on (Node's parser failed, or a CONNECT took the
 * socket) with `response`, but only once the requests pipelined before the bad one, whole and
 * already being handled (an append, say), are answered, in order: cutting the connection at once
 * would leave a done append with an error as its only answer. `_httpMessage` is Node's response in
 * flight on the socket (its own clientError handling looks at it too) until its 'finish', when Node
 * binds the next one queued; one already ended while queued is flushed at once but still in flight
 * (`writableFinished` may be true before its 'finish'). A request whose own body is malformed is not
 * whole: refused at once.
 */
function endConnection(socket: Duplex, response: string | undefined, err?: Error): void {
  // Whatever else the client sends (or the request timeout) after the first failure ends here.
  if (ending.has(socket)) return;
  ending.add(socket);
  const inFlight = () => {
    const res = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    return res?.req.complete ? res : undefined;
  };
  let watched: ServerResponse | undefined;
  let ended = false;
  const next = () => {
    const res = inFlight();
    if (res !== undefined && !socket.destroyed) {
      if (res !== watched) {
        watched = res;
        res.once('finish', next).once('close', next);
      }
      return;
    }
    if (ended) return;
    ended = true;
    if (response !== undefined && socket.writable) socket.write(response);
    socket.destroy(err);
  };
  next();
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** `203.0.113.7:51234` → `203.0.113.7`, `[2001:db8::1]:443` → `2001:db8::1`; undefined for anything else. */
function withoutPort(value: string): string | undefined {
  const m = /^(?:\[([^\]]+)\]|([0-9.]+)):[0-9]{1,5}$/.exec(value);
  const address = m?.[1] ?? m?.[2];
  return address !== undefined && isIP(address) !== 0 ? address : undefined;
}

/** Route actions whose requests are not audited (appends are in the log itself; public reads). */
const UNAUDITED: ReadonlySet<string> = new Set([
  'none',
  'metrics',
  'events.append',
  'public.read',
  'proofs.read',
]);
/** Longest an admin action's answer waits for its `_audit` record (see the onSend hook). */
const ADMIN_AUDIT_WAIT_MS = 5000;
/**
 * Requests one connection may have in progress at once (HTTP/1.1 pipelining). Node queues the answer
 * of each pipelined request, in memory, until the ones before it are written, so a client that sends
 * requests without reading the answers made the server hold them all: one unauthenticated connection
 * pipelining GET /openapi.json (169 KB) took the process to ≈ 1 GB in 10–20 s. Past this many the
 * connection is closed. Clients that pipeline at all (few do) keep a handful in flight.
 */
export const MAX_PIPELINED_REQUESTS = 64;
const IN_PROGRESS = Symbol('indelible.requestsInProgress');
type CountedSocket = { [IN_PROGRESS]?: number; destroy(): void };
/** Longest close() waits, once the server closed, for the responses of cut connections to close. */
const RESPONSES_CLOSE_WAIT_MS = 1000;

export async function buildServer(deps: BuildServerDeps): Promise<FastifyInstance> {
  const config = resolveHttpConfig(deps.config);
  const clock = deps.clock ?? { now: () => Date.now() };
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: config.bodyLimit,
    // Node 20 enforces the limit only when the HTTP server is created with it (Fastify sets its own
    // `requestTimeout` on the server afterwards, which alone has no effect), so it goes in `http` too.
    // Node checks for late requests every connectionsCheckingInterval (30 s by default); checking
    // at a quarter of the limit keeps a short limit close to what it says.
    requestTimeout: config.requestTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      // Node derives this as min(60 s, requestTimeout), which would turn it off with the limit.
      headersTimeout: config.requestTimeoutMs === 0 ? 60_000 : Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval:
        config.requestTimeoutMs === 0
          ? 30_000
          : Math.max(50, Math.min(30_000, Math.floor(config.requestTimeoutMs / 4))),
    },
    trustProxy: fastifyTrustProxy(config.trustProxy),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'req_id' }),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Requests refused before routing (a URL that does not decode, a path parameter over
    // maxParamLength) and by Node's HTTP parser get the same problem+json as every other error.
    frameworkErrors: (err, request, reply) => {
      reply.header('x-request-id', request.id);
      sendProblem(reply, toProblem(err, request, config.retryAfterSeconds));
    },
    clientErrorHandler: (err, socket) => {
      if ((err as { code?: string }).code === 'ECONNRESET') return socket.destroy(err);
      endConnection(socket, clientErrorResponse(err as { code?: string }), err);
    },
    // Unknown fields are errors that name the field (never silently stripped); nothing is coerced.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const ownedMeta =
    deps.meta === undefined && deps.idempotency === undefined ? new Database(':memory:') : undefined;
  const idempotency =
    deps.idempotency ??
    createSqliteIdempotencyStore((deps.meta ?? ownedMeta)!, { ttlMs: config.idempotencyTtlMs, clock });
  const rateLimiter =
    deps.rateLimiter ??
    (config.rateLimit.ratePerSecond > 0
      ? createRateLimiter({ ratePerSecond: config.rateLimit.ratePerSecond, burst: config.rateLimit.burst })
      : undefined);
  const state: ServerState = { ready: false, draining: false, closing: false };
  const metrics = createHttpMetrics(deps.engine, {
    defaultMetrics: deps.defaultMetrics ?? true,
    ...(deps.monitor ? { registry: deps.monitor.registry } : {}),
  });
  const monitor = deps.monitor;
  const onAccess = deps.onAccess ?? (monitor ? (e: AccessEvent) => monitor.onAccess(e) : undefined);
  const ctx: ServerContext = {
    engine: deps.engine,
    keys: deps.keys,
    config,
    metrics,
    idempotency,
    state,
    integrityError(err, log) {
      try {
        monitor?.reportIntegrityError(err, { source: 'request', ...(log === undefined ? {} : { log }) });
      } catch {
        // Reporting must never turn into a second failure of the request.
      }
    },
    access(request, event) {
      if (onAccess === undefined) return;
      request.accessRecorded = true;
      if (event.kind === 'admin') request.auditPending = true;
      const key = request.apiKey;
      try {
        onAccess({
          keyId: key?.id ?? null,
          keyCreatedAt: key?.createdAt ?? null,
          role: key?.role ?? null,
          method: request.method,
          route: request.routeUrl ?? request.url.split('?')[0]!,
          log: logParam(request) ?? null,
          filter: null,
          count: null,
          status: 200,
          ip: request.clientIp,
          requestId: String(request.id),
          at: new Date(clock.now()).toISOString(),
          ...event,
        });
      } catch (err) {
        request.log.error({ err }, 'onAccess hook failed');
      }
    },
  };

  /**
   * A request a key made that ended in an error and recorded nothing (a 404 probe, a 409 on a
   * duplicate log, a failed revocation, a 403 from a handler, a 500): recorded with its status, so `_audit` shows what a
   * key tried and failed to do (outcome `failure`, `denied` or `error`). Requests without a valid
   * key are recorded by the auth hook already; appends and public reads are not audited at all.
   */
  function recordRefusal(request: FastifyRequest, status: number): void {
    if (request.apiKey === undefined || request.routeUrl === undefined) return;
    const access = request.routeOptions.config.access;
    let action: string | undefined;
    try {
      action = typeof access === 'function' ? access(request) : access;
    } catch {
      action = undefined;
    }
    // A refusal (401/403) is recorded whatever the route: even an append, refused in its handler
    // (a system log), is an attempt worth a record.
    if (action === undefined || (UNAUDITED.has(action) && status !== 401 && status !== 403)) return;
    const kind =
      status === 401 || status === 403
        ? 'auth_failure'
        : request.method !== 'GET' && request.method !== 'HEAD'
          ? 'admin'
          : request.routeUrl === '/v1/logs/:log/export'
            ? 'export'
            : 'read';
    ctx.access(request, { kind, status });
  }

  app.decorateRequest('apiKey', undefined);
  app.decorateRequest('routeUrl', undefined);
  app.decorateRequest('bodyDigest', undefined);
  app.decorateRequest('clientIp', '');
  app.decorateRequest('auditPending', false);
  app.decorateRequest('accessRecorded', false);
  // An admin action is answered once its `_audit` record is durable: a crash right after the answer
  // must not leave a revoked key, a released hold or a new log with no record of who did it. The
  // wait is bounded: if `_audit` cannot be written (audit_write_failure is raised), the action,
  // already done, is still answered.
  if (monitor !== undefined) {
    // Callback style: every other request passes through without a promise.
    app.addHook('onSend', (request, _reply, payload, done) => {
      if (!request.auditPending) return done(null, payload);
      let timer: NodeJS.Timeout | undefined;
      Promise.race([
        monitor.flush(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), ADMIN_AUDIT_WAIT_MS);
        }),
      ])
        .catch((err: unknown) => {
          request.log.error({ err }, 'the admin action is done but its _audit record is not yet durable');
        })
        .finally(() => {
          clearTimeout(timer);
          done(null, payload);
        });
    });
  }

  // ---- bodies: JSON and NDJSON only, parsed once from raw bytes
  app.removeAllContentTypeParsers();
  const digestIfNeeded = (
    request: { headers: Record<string, unknown>; bodyDigest: string | undefined },
    body: Buffer,
  ) => {
    if (request.headers['idempotency-key'] !== undefined) {
      request.bodyDigest = createHash('sha256').update(body).digest('hex');
    }
  };
  // What the body is must be unambiguous: one Content-Type (Node would keep the first of two), one
  // charset and it UTF-8, and no Content-Encoding (the body is read as sent).
  const refuseAmbiguousBody = (request: FastifyRequest): void => {
    if (headerCount(request.raw.rawHeaders, 'content-type') > 1) {
      throw new HttpError('request.unsupported_media_type', 'send one Content-Type header, not several');
    }
    refuseForeignCharset(request.headers['content-type']);
    refuseContentEncoding(request.headers['content-encoding']);
    refuseTransferCoding(request.headers['transfer-encoding']);
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // No route, no reading: a body sent to a path that does not exist is never parsed (its 404
    // needs no body, and parsing megabytes for anyone, with or without a key, is work for nothing).
    if (request.is404) return done(null, undefined);
    try {
      refuseAmbiguousBody(request);
      // A DELETE carries no body; clients that label its empty one as JSON are not refused for it.
      if (request.method === 'DELETE' && (body as Buffer).length === 0) return done(null, undefined);
      digestIfNeeded(request, body as Buffer);
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer' }, (request, body, done) => {
    if (request.is404) return done(null, undefined);
    try {
      refuseAmbiguousBody(request);
      // Only appends take NDJSON: a log or key created from a line of it would be a guess.
      if (request.routeOptions.url !== INGEST_ROUTE) {
        throw new HttpError(
          'request.unsupported_media_type',
          `${request.method} ${request.routeOptions.url} takes application/json; application/x-ndjson is for appending events`,
        );
      }
      digestIfNeeded(request, body as Buffer);
      done(null, parseNdjson(body as Buffer, config.maxBatchEvents));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // ---- errors: every one is problem+json with a stable code; 5xx are logged, never detailed
  app.setErrorHandler((err, request, reply) => {
    const res = toProblem(err, request, config.retryAfterSeconds);
    if (res.problem.status >= 500) {
      // A damaged or altered object found while answering: an alert, not only a 500.
      ctx.integrityError(err, logParam(request));
    }
    if (res.internal) request.log.error({ err }, 'request failed');
    else if (res.problem.status >= 500) {
      // The cause (SQLite's error behind idempotency.unavailable, say) is for the operator only.
      const cause = (err as { cause?: unknown }).cause;
      request.log.warn(
        { code: res.problem.code, ...(cause instanceof Error ? { cause: cause.message } : {}) },
        'request refused',
      );
    }
    return sendProblem(reply, res);
  });
  // Node cuts a CONNECT without a word (and the answers of requests pipelined before it) unless the
  // server listens for it. It has then unbound the socket from its HTTP handling, error and drain
  // listeners included: an error just ends the connection, and a response still in flight (a
  // stream waiting to write more) is told when the socket drains, as Node would.
  app.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.on('drain', () =>
      (socket as { _httpMessage?: ServerResponse | null })._httpMessage?.emit('drain'),
    );
    endConnection(socket, connectRefusedResponse());
  });
  // Node answers an Expect it cannot meet with a bare 417; this one says why, as every error does.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = expectationFailedBody(req.headers.expect);
    res.writeHead(417, {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new HttpError(
      'request.not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    );
    return sendProblem(reply, toProblem(err, request, config.retryAfterSeconds));
  });

  // ---- lifecycle and per-request hooks
  app.addHook('onReady', async () => {
    state.ready = true;
  });
  app.addHook('preClose', async () => {
    state.draining = true;
    if (config.drainMs > 0) await new Promise((r) => setTimeout(r, config.drainMs));
    state.closing = true;
    // Node stops enforcing requestTimeout once the server closes, and Fastify waits for requests in
    // flight: a slow client could hold the shutdown for ever. Past the grace every connection is cut
    // (an export is then recorded as incomplete) and close() returns; a handler still running then
    // finishes against a closing engine (an append already durable stays so; its client, cut off,
    // retries with its Idempotency-Key). The timer alone keeps nothing alive.
    setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs).unref();
  });
  // Responses not yet closed. Past the grace, the server closes once the sockets are cut, before
  // their responses emit 'close', where an export records its end (incomplete); the caller closes
  // the self-audit right after close(), so this hook (run after the server closed) waits for them.
  // Bounded: a response never bound to a socket (one queued behind a pipelined request) may not
  // emit 'close' at all.
  let openResponses = 0;
  let responsesClosed: (() => void) | undefined;
  // One function for every response ('close' is emitted once): nothing allocated per request.
  const responseClosed = () => {
    if (--openResponses === 0) responsesClosed?.();
  };
  app.addHook('onClose', async () => {
    if (openResponses > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        responsesClosed = resolve;
        timer = setTimeout(resolve, RESPONSES_CLOSE_WAIT_MS);
      });
      clearTimeout(timer);
    }
    await idempotency.close();
    ownedMeta?.close();
  });
  app.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket as unknown as CountedSocket | null;
    if (socket) {
      const inProgress = (socket[IN_PROGRESS] ?? 0) + 1;
      socket[IN_PROGRESS] = inProgress;
      // (A client that sends one request at a time without reading is held back by Node itself: it
      // stops reading a connection whose answers are not being read.)
      if (inProgress > MAX_PIPELINED_REQUESTS) {
        // Nothing of this request runs; the requests before it end with their cut connection. One
        // log line per connection (requests already parsed still arrive here).
        if (inProgress !== Number.POSITIVE_INFINITY) {
          request.log.warn({ pipelined: inProgress }, 'connection closed: too many pipelined requests');
        }
        socket[IN_PROGRESS] = Number.POSITIVE_INFINITY;
        socket.destroy();
        return;
      }
    }
    reply.header('x-request-id', request.id);
    openResponses++;
    reply.raw.on('close', responseClosed);
    // Behind a proxy the address comes from a header: anything but an IP (some proxies append
    // `ip:port`, kept without the port) is not believed.
    const ip = request.ip ?? '';
    request.clientIp =
      !config.trustProxy || isIP(ip) !== 0 ? ip : (withoutPort(ip) ?? request.socket.remoteAddress ?? '');
    const url = request.url;
    if (state.closing && url !== '/healthz' && url !== '/readyz') {
      return done(new HttpError('server.shutting_down', 'the server is shutting down; retry shortly'));
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const socket = request.raw.socket as unknown as CountedSocket | null;
    if (socket?.[IN_PROGRESS]) socket[IN_PROGRESS]--;
    const route = request.routeUrl ?? '(unmatched)';
    const seconds = reply.elapsedTime / 1000;
    metrics.observeRequest(request.method, route, reply.statusCode, seconds);
    // Not a 429: a key over its rate limit would otherwise write a record per refused request.
    if (reply.statusCode >= 400 && reply.statusCode !== 429 && !request.accessRecorded) {
      recordRefusal(request, reply.statusCode);
    }
    if (config.accessLog) {
      request.log.info(
        {
          method: request.method,
          route,
          log: logParam(request),
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
          key_id: request.apiKey?.id,
          ip: request.clientIp,
        },
        'request',
      );
    }
    done();
  });
  // Every route gets its own auth hook (after the global ones above). Routes registered by plugins we
  // do not own (the docs UI) are public; any other route without an access rule fails closed.
  app.addHook('onRoute', (route) => {
    let access = route.config?.access;
    if (access === undefined && route.url.startsWith('/docs')) access = 'none';
    const hook = createAuthHook(ctx, rateLimiter, access, route.url);
    // OpenAPI: routes needing no key say so; public reads take a key optionally.
    const open =
      access === 'none' ||
      (access === 'metrics' && config.publicMetrics) ||
      (typeof access === 'string' && access !== 'metrics' && isPublicAction(access, config.publicReads)) ||
      // A rule chosen per request (tiles: hash tiles are public reads, entry bundles are not) may
      // need no key; the route's summary says which requests do.
      (typeof access === 'function' && config.publicReads);
    if (open && route.schema !== undefined) {
      route.schema = {
        ...route.schema,
        security: access === 'none' ? [] : [{}, { bearer: [] }],
      } as typeof route.schema;
    }
    const existing =
      route.onRequest === undefined
        ? []
        : Array.isArray(route.onRequest)
          ? route.onRequest
          : [route.onRequest];
    route.onRequest = [...existing, hook];
  });

  // ---- OpenAPI (must be registered before the routes it documents)
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Indelible',
        version: '1',
        description:
          'Tamper-evident audit log. Errors are RFC 9457 application/problem+json with a stable `code`. ' +
          'Authenticate with `Authorization: Bearer <api key>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(opsRoutes(ctx));
  await app.register(adminRoutes(ctx));
  await app.register(policyRoutes(ctx));
  await app.register(ingestRoutes(ctx));
  await app.register(readRoutes(ctx));
  await app.register(tlogRoutes(ctx));
  await app.register(proofRoutes(ctx));
  await app.register(pruningRoutes(ctx));
  await app.register(exportRoutes(ctx));
  if (monitor) await app.register(alertRoutes(ctx, monitor));
  return app;
}

/**
 * Graceful shutdown: stop taking requests, let in-flight ones (durable writes included) finish,
 * then close the engine so queued appends are integrated and signed.
 */
export async function closeGracefully(app: FastifyInstance, engine: Engine): Promise<void> {
  try {
    await app.close();
  } finally {
    await engine.close();
  }
}
