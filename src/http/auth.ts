/**
 * Authentication and authorization at the edge, as an `onRequest` hook: it runs before the body is
 * read, so an unauthenticated client cannot make the server parse 10 MiB.
 *
 * Order of answers (DESIGN §4): no key, a malformed, unknown or revoked key → 401
 * `auth.unauthenticated`; a known key over its rate → 429 `auth.rate_limited` + Retry-After; a known
 * key without the role, or a log outside its scope → 403 `auth.forbidden`. Scope is checked before
 * the log's existence, so a scoped key learns nothing about other tenants' logs. A key presented on a
 * public route must still be valid (a misconfigured client hears about it). Revocation through this
 * server takes effect on the next request: the key store is asked every time and evicts a key it
 * revokes; a change another process commits to the key table is seen within the store's
 * `syncIntervalMs` (100 ms, see key-store.ts).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AuthError } from '../auth/errors.js';
import { authorize } from '../auth/policy.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import type { ApiKeyInfo } from '../auth/types.js';
import { logParam, type RouteAccess, type ServerContext } from './context.js';
import { headerCount } from './headers.js';
import { HttpError } from './problem.js';

const BEARER = /^Bearer +([^\s]+) *$/i;

/** The secret of an `Authorization: Bearer <secret>` header, or undefined for anything else. */
export function parseBearer(header: string): string | undefined {
  if (header.length > 512) return undefined;
  return BEARER.exec(header)?.[1];
}

/**
 * The `onRequest` hook of one route, built when the route is registered (so the hot path reads its
 * access rule from a closure, not from Fastify's per-request route options). It also records the
 * route template on the request for metrics, logs and access events.
 */
export function createAuthHook(
  ctx: ServerContext,
  rateLimiter: RateLimiter | undefined,
  access: RouteAccess | undefined,
  url: string,
): onRequestHookHandler {
  const publicReads = ctx.config.publicReads;
  const fail = (request: FastifyRequest, err: AuthError, revokedKeyId?: string): AuthError => {
    ctx.access(request, {
      kind: 'auth_failure',
      status: err.code === 'auth.forbidden' ? 403 : 401,
      // A revoked key still in use is recorded under its id: its secret is still out there.
      ...(revokedKeyId === undefined ? {} : { keyId: revokedKeyId, filter: { reason: 'revoked_key' } }),
    });
    return err;
  };

  /** Returns when the request may proceed; throws the problem otherwise. */
  function check(request: FastifyRequest): void {
    if (access === undefined) {
      throw new HttpError('server.internal', `route ${url} declares no access rule`);
    }
    if (access === 'none') return;

    let key: ApiKeyInfo | undefined;
    const header = request.headers.authorization;
    if (header !== undefined) {
      // Node keeps the first of repeated Authorization headers: which key is meant is ambiguous.
      if (headerCount(request.raw.rawHeaders, 'authorization') > 1) {
        throw fail(
          request,
          new AuthError('auth.unauthenticated', 'send one Authorization header, not several'),
        );
      }
      const secret = parseBearer(header);
      key = secret === undefined ? undefined : ctx.keys.authenticate(secret);
      if (key === undefined) {
        throw fail(
          request,
          new AuthError(
            'auth.unauthenticated',
            'the API key is malformed, unknown or revoked (Authorization: Bearer <key>)',
          ),
          secret === undefined ? undefined : ctx.keys.revokedKeyId?.(secret),
        );
      }
      request.apiKey = key;
      if (rateLimiter !== undefined) {
        const taken = rateLimiter.take(key.id);
        if (!taken.ok) {
          throw new AuthError('auth.rate_limited', `rate limit exceeded for key ${key.id}`, {
            details: { retryAfterSeconds: taken.retryAfterSeconds },
          });
        }
      }
    }

    if (access === 'metrics') {
      if (ctx.config.publicMetrics) return;
      if (key === undefined)
        throw fail(request, new AuthError('auth.unauthenticated', 'metrics need an admin API key'));
      if (key.role !== 'admin' || key.logs !== null) {
        throw fail(request, new AuthError('auth.forbidden', 'metrics need an admin key for all logs'));
      }
      return;
    }

    const action = typeof access === 'function' ? access(request) : access;
    try {
      authorize(key, action, logParam(request), { publicReads });
    } catch (err) {
      throw err instanceof AuthError ? fail(request, err) : err;
    }
  }

  return function authenticate(
    request: FastifyRequest,
    _reply: FastifyReply,
    done: (err?: Error) => void,
  ): void {
    request.routeUrl = url;
    let failure: Error | undefined;
    try {
      check(request);
    } catch (err) {
      failure = err as Error;
    }
    done(failure);
  };
}
