/**
 * What every route module shares: the server's dependencies and state, the per-route access
 * declaration, and the access events handed to the self-audit (`onAccess`).
 */
import type { FastifyRequest } from 'fastify';
import type { Action, ApiKeyInfo, KeyStore, Role } from '../auth/types.js';
import type { Engine } from '../log/engine.js';
import type { HttpConfig } from './config.js';
import type { IdempotencyStore } from './idempotency.js';
import type { HttpMetrics } from './metrics.js';

/**
 * What a route needs, declared in its `config.access`:
 * - an Action, decided by `authorize` (src/auth/policy.ts) for the route's `:log` (if any);
 * - a function of the request for routes whose action depends on the path (tiles vs entry bundles);
 * - `'metrics'`: an admin key for all logs, or nobody when `publicMetrics` is on;
 * - `'none'`: no key at all (health, readiness, documentation).
 * A route without a declaration is refused (fail closed).
 */
export type RouteAccess = Action | 'metrics' | 'none' | ((request: FastifyRequest) => Action);

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The authenticated key, when the request presented a valid one. */
    apiKey: ApiKeyInfo | undefined;
    /** The matched route's template (`/v1/logs/:log/events`); undefined for unmatched requests. */
    routeUrl: string | undefined;
    /** SHA-256 (hex) of the raw body, computed only when an Idempotency-Key header is present. */
    bodyDigest: string | undefined;
    /**
     * The client's address, taken when the request arrived: `request.ip` reads the socket, which a
     * client that disconnects mid-response (an aborted export) has already closed.
     */
    clientIp: string;
    /** An admin action was recorded: the response waits until `_audit` holds it (server.ts). */
    auditPending: boolean;
    /** An access of this request was recorded (a refused one not recorded is, when it ends). */
    accessRecorded: boolean;
  }
}

/** One access to be recorded by the self-audit (DESIGN §5 invariant 4). Never holds secrets. */
export interface AccessEvent {
  kind: 'read' | 'export' | 'admin' | 'auth_failure';
  /** The key's public id; null when no valid key was presented. */
  keyId: string | null;
  /**
   * When that key was created (RFC 3339): the baseline of `dormant_key` for a key the monitor has
   * never seen used. Not recorded in `_audit`.
   */
  keyCreatedAt?: string | null;
  role: Role | null;
  method: string;
  /** The route template (`/v1/logs/:log/events`), or the path for unmatched requests. */
  route: string;
  log: string | null;
  /** Query filters of a read or export, as given. */
  filter: Record<string, unknown> | null;
  /** Entries returned or exported; null when not applicable. */
  count: number | null;
  /** True when the client went away before the response was complete (an export it aborted). */
  incomplete?: boolean;
  /**
   * `start`: an export beginning (recorded before its first line, so a crash or a client that never
   * finishes still leaves a trace); its end is recorded again, with the count, when it closes.
   */
  phase?: 'start';
  status: number;
  ip: string;
  requestId: string;
  /** RFC 3339 time of the access. */
  at: string;
}

/**
 * Mutable lifecycle state: `/readyz` is 200 only while `ready && !draining`. Shutdown first drains
 * (`draining`: still serving, `/readyz` 503), then closes (`closing`: new requests get 503).
 */
export interface ServerState {
  ready: boolean;
  draining: boolean;
  closing: boolean;
}

export interface ServerContext {
  engine: Engine;
  keys: KeyStore;
  config: HttpConfig;
  metrics: HttpMetrics;
  idempotency: IdempotencyStore;
  state: ServerState;
  /** Records an access (calls `onAccess`; a failing hook is logged, never fails the request). */
  access(request: FastifyRequest, event: Pick<AccessEvent, 'kind'> & Partial<AccessEvent>): void;
  /**
   * Tells the monitor about an error a request hit, which raises `verification_failure` when it is
   * damaged data (Monitor.reportIntegrityError); for errors that cannot reach the error handler,
   * such as one in the middle of a streamed export. Never throws.
   */
  integrityError(err: unknown, log: string | undefined): void;
}

/** The `:log` route parameter, when the route has one. */
export function logParam(request: FastifyRequest): string | undefined {
  const log = (request.params as { log?: unknown } | undefined)?.log;
  return typeof log === 'string' ? log : undefined;
}
