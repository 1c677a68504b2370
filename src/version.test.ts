import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { repoRoot } from './testing/paths.js';
import { VERSION } from './version.js';

test('VERSION is the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});
