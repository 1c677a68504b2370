// The core must stay pure: no I/O, no network, no runtime dependencies, nothing from storage/http.
// Only crypto.ts may import `node:crypto` (so a browser build can swap that one module).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../testing/paths.js';

const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Returns the forbidden import specifiers in one core source file. */
export function forbiddenImports(fileName: string, source: string): string[] {
  const bad: string[] = [];
  for (const m of source.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? m[4] ?? '';
    if (spec === 'node:crypto' && fileName === 'crypto.ts') continue;
    // Relative imports must stay inside src/core (no '../').
    if (spec.startsWith('./')) continue;
    bad.push(spec);
  }
  return bad;
}

test('the boundary checker itself flags forbidden imports', () => {
  assert.deepEqual(forbiddenImports('x.ts', "import { readFile } from 'node:fs';"), ['node:fs']);
  assert.deepEqual(forbiddenImports('x.ts', "import 'node:net';\nexport * from '../storage/local.js';"), [
    'node:net',
    '../storage/local.js',
  ]);
  assert.deepEqual(forbiddenImports('x.ts', "const h = await import('node:http');"), ['node:http']);
  assert.deepEqual(forbiddenImports('x.ts', "import { createHash } from 'node:crypto';"), ['node:crypto']);
  assert.deepEqual(forbiddenImports('crypto.ts', "import { createHash } from 'node:crypto';"), []);
  assert.deepEqual(forbiddenImports('x.ts', "import type { A } from './a.js';"), []);
  assert.deepEqual(forbiddenImports('x.ts', "import fastify from 'fastify';"), ['fastify']);
});

test('src/core imports nothing but itself (and node:crypto in crypto.ts)', () => {
  const dir = join(repoRoot, 'src', 'core');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  assert.ok(files.length >= 3, `expected core sources in ${dir}`);
  const violations: string[] = [];
  for (const f of files) {
    for (const spec of forbiddenImports(f, readFileSync(join(dir, f), 'utf8')))
      violations.push(`${f}: ${spec}`);
  }
  assert.deepEqual(violations, []);
});
