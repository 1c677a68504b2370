import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../testing/paths.js';
import { formatOpenApi, generateOpenApi } from './openapi-doc.js';

test('docs/openapi.json is the document the routes generate (run `npm run docs:openapi` after API changes)', async () => {
  const generated = formatOpenApi(await generateOpenApi());
  const committed = readFileSync(join(repoRoot, 'docs', 'openapi.json'), 'utf8');
  assert.equal(committed, generated);
  const doc = JSON.parse(generated) as { openapi: string; paths: Record<string, unknown> };
  assert.match(doc.openapi, /^3\./);
  for (const path of [
    '/v1/logs',
    '/v1/keys',
    '/v1/logs/{log}/events',
    '/v1/logs/{log}/entries/{index}',
    '/v1/logs/{log}/checkpoint',
    '/v1/logs/{log}/proofs/inclusion',
    '/v1/logs/{log}/proofs/consistency',
    '/v1/logs/{log}/receipts/{index}',
    '/v1/logs/{log}/key',
    '/v1/logs/{log}/export',
    '/v1/alerts',
  ]) {
    assert.ok(doc.paths[path], `OpenAPI documents ${path}`);
  }
});
