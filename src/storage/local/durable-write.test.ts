// fsyncDir shares folder fsyncs between concurrent callers; every caller still gets an fsync that
// started after its call, and a failure is reported to exactly the callers that shared it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsyncDir } from './durable-write.js';

test('concurrent fsyncDir calls on one folder all resolve', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-fsyncdir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const calls = Array.from({ length: 50 }, () => fsyncDir(dir));
  await Promise.all(calls);
  // The folder is idle again: a later call starts its own fsync and resolves too.
  await fsyncDir(dir);
});

test('a failed folder fsync rejects its callers and is not cached', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'indelible-fsyncdir-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'later');
  // The first call runs at once; the others join the one queued behind it. Both fail (no folder).
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => fsyncDir(dir)));
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal((r.reason as NodeJS.ErrnoException).code, 'ENOENT');
  }
  mkdirSync(dir);
  await fsyncDir(dir);
  await Promise.all([fsyncDir(dir), fsyncDir(dir)]);
});
