/**
 * In-process test harness for the HTTP service (tests only): an engine over the in-memory storage
 * driver and an in-memory SQLite index, an in-memory key store with one admin key, and `app.inject`
 * helpers. No socket is opened.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createSqliteKeyStore } from '../auth/key-store.js';
import type { KeyStore, Role } from '../auth/types.js';
import type { EventLimits } from '../core/event.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine, type EngineOptions } from '../log/engine.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { StorageDriver } from '../storage/types.js';
import type { HttpConfig } from './config.js';
import type { AccessEvent } from './context.js';
import { buildServer } from './server.js';

export const ORIGIN_PREFIX = 'test.indelible.example';

export interface Harness {
  app: FastifyInstance;
  engine: Engine;
  keys: KeyStore;
  meta: Database.Database;
  /** Secret of an admin key for all logs. */
  admin: string;
  accesses: AccessEvent[];
  /** Creates a key and returns its secret. */
  key(role: Role, logs?: string[] | null): string;
  /** `app.inject` with `Authorization: Bearer <key>` when `key` is given. */
  req(opts: InjectOptions & { key?: string }): Promise<LightMyRequestResponse>;
  /** Creates a log through the API (admin). */
  createLog(name: string): Promise<void>;
  /** Waits until the search index covers every entry of `log` appended so far (it lags ~50 ms). */
  indexed(log: string): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: Partial<HttpConfig>;
  engine?: EngineOptions['config'];
  eventLimits?: Partial<EventLimits>;
  /** Storage to start from (a restart, or a crash when it is a snapshot); default a new memory driver. */
  driver?: StorageDriver;
  /** The metadata database (keys, idempotency records) to start from; default a new in-memory one. */
  meta?: Database.Database;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const engine = await Engine.open({
    driver: options.driver ?? createMemoryDriver(),
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: ORIGIN_PREFIX,
    ...(options.engine ? { config: options.engine } : {}),
    ...(options.eventLimits ? { eventLimits: options.eventLimits } : {}),
  });
  const meta = options.meta ?? new Database(':memory:');
  const keys = createSqliteKeyStore(meta);
  const admin = keys.create({ role: 'admin', logs: null }).secret;
  const accesses: AccessEvent[] = [];
  const app = await buildServer({
    engine,
    keys,
    meta,
    config: options.config ?? {},
    onAccess: (e) => accesses.push(e),
    defaultMetrics: false,
  });
  await app.ready();
  const req: Harness['req'] = ({ key, ...opts }) =>
    app.inject({
      ...opts,
      headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...opts.headers },
    });
  return {
    app,
    engine,
    keys,
    meta,
    admin,
    accesses,
    key: (role, logs = null) => keys.create({ role, logs }).secret,
    req,
    async createLog(name) {
      const res = await req({ method: 'POST', url: '/v1/logs', key: admin, payload: { name } });
      if (res.statusCode !== 201) throw new Error(`creating log ${name}: ${res.statusCode} ${res.body}`);
    },
    async indexed(log) {
      const size = engine.log(log).size;
      for (let i = 0; (await engine.index.coveredSize(log)) < size; i++) {
        if (i > 1000) throw new Error(`the index of ${log} never reached ${size}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      await app.close();
      await engine.close();
      meta.close();
    },
  };
}

/** A valid event (DESIGN §3) with a distinguishing action suffix. */
export function sampleEvent(n = 0, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    action: `document.update.${n}`,
    actor: { id: `user-${n % 7}`, type: 'user' },
    target: { id: `doc-${n}`, type: 'document' },
    outcome: n % 5 === 0 ? 'failure' : 'success',
    metadata: { n, tags: ['a', 'b'] },
    ...extra,
  };
}

/** RFC 6962 leaf hash of a record's text, computed independently of the code under test. */
export function leafHashOf(record: string | Uint8Array): string {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(typeof record === 'string' ? Buffer.from(record, 'utf8') : record)
    .digest('hex');
}

/** Splits a C2SP entry bundle (big-endian uint16 length + bytes, repeated) by hand. */
export function splitBundle(bytes: Uint8Array): Buffer[] {
  const buf = Buffer.from(bytes);
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const len = buf.readUInt16BE(at);
    out.push(buf.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}
