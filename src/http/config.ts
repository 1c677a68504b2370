/**
 * The HTTP service's configuration: one typed object, every field documented, defaults chosen for
 * one process serving a company. `resolveHttpConfig` fills defaults and refuses nonsense at start
 * with a sentence naming the option.
 */
import { isIP } from 'node:net';
import type { EventLimits } from '../core/event.js';

export interface HttpConfig {
  /** Largest request body in bytes (JSON or NDJSON); larger bodies get 413. Default 10 MiB (DESIGN §3). */
  bodyLimit: number;
  /** Most events in one ingest request; more get 413 `request.batch_too_large`. Default 10,000. */
  maxBatchEvents: number;
  /**
   * Whether checkpoints, hash tiles, verifier keys and inclusion/consistency proofs need no key
   * (`isPublicAction`). Default true: outside verifiers and witnesses must reach them. Entry bundles,
   * events, entries and receipts always need a key.
   */
  publicReads: boolean;
  /** Whether `/metrics` needs no key. Default false: an admin key for all logs is required. */
  publicMetrics: boolean;
  /** Event limits passed to the engine on every append (record size, metadata depth, …); engine defaults when absent. */
  eventLimits: Partial<EventLimits> | undefined;
  /** `Retry-After` seconds sent with 503 when the engine pushes back or the server is shutting down. */
  retryAfterSeconds: number;
  /** How long an `Idempotency-Key` is remembered, in ms. Default 24 h. */
  idempotencyTtlMs: number;
  /** Per-key rate limit in requests per second (0 = unlimited, the default) and its burst. */
  rateLimit: { ratePerSecond: number; burst: number };
  /**
   * How long an export waits for the search index to cover the entries durable when it starts, in ms
   * (the export then includes whatever the index covers). Default 2,000.
   */
  exportIndexWaitMs: number;
  /**
   * Which peers are reverse proxies whose `X-Forwarded-For` names the client. `false` (default): no
   * one, the client is the socket's peer. A list of addresses and CIDR ranges (or `loopback`,
   * `linklocal`, `uniquelocal`): those proxies; the client is the right-most address not in the list.
   * A number n: the n nearest hops are proxies, whoever they are; `true` means 1. Never the
   * left-most entry: proxies append to the header a client sends, so that entry is the client's
   * own claim. An address that is not an IP falls back to the socket's peer.
   */
  trustProxy: boolean | number | string[];
  /** Log one structured line per request at `info`. Default true. */
  accessLog: boolean;
  /**
   * On shutdown, how long to keep serving with `/readyz` at 503 before closing the listener, in ms,
   * so load balancers stop routing here first. Default 0.
   */
  drainMs: number;
  /**
   * On shutdown (after `drainMs`), how long requests still open may take before every connection is
   * closed, in ms: without it one slow client (an export nobody reads, a body sent a byte at a time)
   * holds the shutdown and the data directory's lock. A cut export is recorded as incomplete; a cut
   * append that was durable stays appended (retry with its Idempotency-Key). Default 10,000.
   */
  shutdownGraceMs: number;
  /**
   * An export whose client takes nothing for this long (ms) has its connection closed and is recorded
   * as incomplete. Progress is seen through the kernel's socket buffers, which hold megabytes and
   * drain in steps, so this is meant in minutes. Default 300,000; 0 turns it off.
   */
  exportIdleTimeoutMs: number;
  /**
   * Longest time a request may take to arrive, headers and body, in ms; a client that stalls past it
   * gets 408 and its connection is closed (a slow-body attack would otherwise hold it forever).
   * Default 120,000; 0 turns the limit off (only behind a proxy that enforces its own).
   */
  requestTimeoutMs: number;
}

export const defaultHttpConfig: Readonly<HttpConfig> = Object.freeze({
  bodyLimit: 10 * 1024 * 1024,
  maxBatchEvents: 10_000,
  publicReads: true,
  publicMetrics: false,
  eventLimits: undefined,
  retryAfterSeconds: 1,
  idempotencyTtlMs: 24 * 60 * 60 * 1000,
  rateLimit: Object.freeze({ ratePerSecond: 0, burst: 0 }),
  exportIndexWaitMs: 2000,
  trustProxy: false,
  accessLog: true,
  drainMs: 0,
  shutdownGraceMs: 10_000,
  exportIdleTimeoutMs: 300_000,
  requestTimeoutMs: 120_000,
});

/** Completes a partial config; throws RangeError naming the first invalid option. */
export function resolveHttpConfig(partial: Partial<HttpConfig> = {}): HttpConfig {
  const cfg: HttpConfig = {
    ...defaultHttpConfig,
    ...partial,
    rateLimit: { ...defaultHttpConfig.rateLimit, ...partial.rateLimit },
  };
  const positive: Array<[string, number]> = [
    ['bodyLimit', cfg.bodyLimit],
    ['maxBatchEvents', cfg.maxBatchEvents],
    ['retryAfterSeconds', cfg.retryAfterSeconds],
    ['idempotencyTtlMs', cfg.idempotencyTtlMs],
  ];
  for (const [name, v] of positive) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new RangeError(`http config ${name} must be a positive integer, got ${v}`);
  }
  for (const [name, v] of [
    ['exportIndexWaitMs', cfg.exportIndexWaitMs],
    ['drainMs', cfg.drainMs],
    ['shutdownGraceMs', cfg.shutdownGraceMs],
    ['exportIdleTimeoutMs', cfg.exportIdleTimeoutMs],
    ['requestTimeoutMs', cfg.requestTimeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`http config ${name} must be a non-negative integer`);
  }
  checkTrustProxy(cfg.trustProxy);
  const { ratePerSecond, burst } = cfg.rateLimit;
  if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0) {
    throw new RangeError('http config rateLimit.ratePerSecond must be a finite number ≥ 0 (0 = unlimited)');
  }
  if (ratePerSecond > 0 && (!Number.isFinite(burst) || burst <= 0)) {
    throw new RangeError('http config rateLimit.burst must be > 0 when rateLimit.ratePerSecond is set');
  }
  return cfg;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function checkTrustProxy(v: HttpConfig['trustProxy']): void {
  if (typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 1)
      throw new RangeError(
        'http config trustProxy must be true, false, a hop count ≥ 1, or a list of proxy addresses',
      );
    return;
  }
  if (!Array.isArray(v) || v.length === 0)
    throw new RangeError(
      'http config trustProxy must be true, false, a hop count ≥ 1, or a list of proxy addresses',
    );
  for (const entry of v) {
    const [addr = '', bits, extra] = String(entry).split('/');
    const family = isIP(addr);
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk =
      bits === undefined ||
      (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= maxBits) ||
      (family === 4 && isIP(bits) === 4);
    if (!(PROXY_NAMES.has(String(entry)) || (family !== 0 && bitsOk && extra === undefined)))
      throw new RangeError(
        `http config trustProxy: ${JSON.stringify(entry)} is not an IP address, a CIDR range, or one of loopback, linklocal, uniquelocal`,
      );
  }
}

/** What Fastify's `trustProxy` gets: `true` is one hop (the socket's peer), never "everyone". */
export function fastifyTrustProxy(
  v: HttpConfig['trustProxy'],
): false | string[] | ((address: string, hop: number) => boolean) {
  if (v === false || Array.isArray(v)) return v;
  const hops = v === true ? 1 : v;
  // proxy-addr walks from the socket's peer (hop 0) outwards while this says "a proxy".
  return (_address, hop) => hop < hops;
}
