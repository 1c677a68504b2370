/** Shared fixtures for engine tests: an engine over any storage driver with an in-memory index. */
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import type { StorageDriver } from '../storage/types.js';
import type { EngineConfig } from './config.js';
import { type AppendResult, Engine } from './engine.js';
import { verifyStorage } from './verify.js';

export function openTestEngine(
  driver: StorageDriver,
  config?: {
    sequencer?: Partial<EngineConfig['sequencer']>;
    integrator?: Partial<EngineConfig['integrator']>;
  },
): Promise<Engine> {
  return Engine.open({
    driver,
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'test.example',
    config: { ...config, integrator: { intervalMs: 60_000, ...config?.integrator } },
  });
}

/**
 * `engine.append(log, events)` as a client does it: a `log.pushback` (the search index too far
 * behind; HTTP: 503 + Retry-After; nothing of the batch was appended) waits 10 ms and retries, told
 * to `onPushback`.
 */
export async function appendRetrying(
  engine: Pick<Engine, 'append'>,
  log: string,
  events: readonly unknown[],
  onPushback?: () => void,
): Promise<AppendResult> {
  for (;;) {
    try {
      return await engine.append(log, events);
    } catch (err) {
      if ((err as { code?: string }).code !== 'log.pushback') throw err;
      onPushback?.();
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * `inner` with an `add` that throws `Error(message)` while `state.broken` (initially true), counting
 * every call in `state.calls`: an index that cannot take writes, for as long as a test says.
 */
export function breakableIndex(inner: ReturnType<typeof createSqliteIndex>, message = 'disk full') {
  const state = { broken: true, calls: 0 };
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (log: string, entries: Parameters<typeof inner.add>[1]) => {
          state.calls++;
          if (state.broken) throw new Error(message);
          return target.add(log, entries);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return { index, state };
}

/** A valid event of roughly `bytes` bytes (default ≈ 400, the benchmark size). */
export function sampleEvent(n: number, bytes = 400): Record<string, unknown> {
  const base = {
    action: n % 3 === 0 ? 'document.update' : 'user.login',
    actor: { id: `user-${n % 17}`, type: 'user', ip: '192.0.2.7' },
    target: { id: `doc-${n % 101}`, type: 'document' },
    outcome: n % 5 === 0 ? 'failure' : 'success',
    source: { service: 'billing', host: 'api-1', request_id: `req-${n}` },
    metadata: { n, note: '' },
  };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  base.metadata.note = 'x'.repeat(pad);
  return base;
}

/** verifyStorage over the data directory `dir`, opened with the local driver (and its lock). */
export async function verifyDataDir(dir: string) {
  const driver = await createLocalDriver({ root: dir });
  try {
    return await verifyStorage(driver);
  } finally {
    await driver.close();
  }
}
