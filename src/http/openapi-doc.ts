/**
 * Generates the OpenAPI document of the full server (every route, alerts included) from the route
 * schemas, without a data directory: `node dist/src/http/openapi-doc.js docs/openapi.json`
 * (`npm run docs:openapi`). A test fails when docs/openapi.json is out of date.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { createSqliteKeyStore } from '../auth/key-store.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine } from '../log/engine.js';
import { createMonitor } from '../monitor/monitor.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { buildServer } from './server.js';

export async function generateOpenApi(): Promise<unknown> {
  const meta = new Database(':memory:');
  const engine = await Engine.open({
    driver: createMemoryDriver(),
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'openapi.example',
  });
  await engine.createLog('_audit', { system: true });
  const monitor = createMonitor({ engine, meta, background: false });
  const app = await buildServer({
    engine,
    keys: createSqliteKeyStore(meta),
    meta,
    monitor,
    defaultMetrics: false,
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
    await monitor.close();
    await engine.close();
    meta.close();
  }
}

/** The document as written to docs/openapi.json (stable formatting, trailing newline). */
export function formatOpenApi(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2] ?? 'docs/openapi.json';
  writeFileSync(out, formatOpenApi(await generateOpenApi()));
  process.stdout.write(`wrote ${out}\n`);
}
