/** Test helpers: where the repository and its copied public test vectors live. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'indelible') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root (package.json named indelible) not found');
    dir = up;
  }
}

export const repoRoot = findRepoRoot();

/** Absolute path of a file under test/vectors (copies of ../shared/vectors; see each README for sources). */
export function vectorPath(...parts: string[]): string {
  return join(repoRoot, 'test', 'vectors', ...parts);
}

export function readVectorJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(vectorPath(...parts), 'utf8')) as T;
}
