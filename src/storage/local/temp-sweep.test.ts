// Temporary files that a process killed mid-write left behind (durable-write.ts) are removed when the
// local driver next opens the directory; this process's own, and anything not of that shape, stay.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempPathFor } from './durable-write.js';
import { createLocalDriver } from './local-driver.js';
import type { StorageLogger } from './logger.js';

/** Temporary paths for `targets` made by another Node process, which then exits (as a killed writer would). */
function tempPathsOfAnotherProcess(targets: string[]): string[] {
  const module = pathToFileURL(join(import.meta.dirname, 'durable-write.js')).href;
  const script = `import { tempPathFor } from ${JSON.stringify(module)};
    process.stdout.write(JSON.stringify(${JSON.stringify(targets)}.map((p) => tempPathFor(p))));`;
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
  );
}

function warnings(): {
  logger: StorageLogger;
  seen: Array<{ msg: string; details: Record<string, unknown> }>;
} {
  const seen: Array<{ msg: string; details: Record<string, unknown> }> = [];
  return { logger: { warn: (details, msg) => seen.push({ msg, details }) }, seen };
}

test('opening a data directory removes temporary files that killed writers left, and nothing else', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'indelible-sweep-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const bundles = join(root, 'logs', 'app', 'tile', 'entries', 'x001');
  const state = join(root, 'logs', 'app', 'state');
  mkdirSync(bundles, { recursive: true });
  mkdirSync(state, { recursive: true });

  const leftovers = [
    ...tempPathsOfAnotherProcess([
      join(bundles, '234'),
      join(state, 'checkpoint'),
      join(root, 'indelible.json'),
    ]),
    // The name format before 2026-11-30: `.#<name>.<pid>.<counter>.<hex8>`.
    join(bundles, '.#235.4242.17.0badf00d'),
  ];
  const kept = [
    join(bundles, '234'), // a bundle
    join(bundles, '.#notes.txt'), // an editor's lock file, not ours
    join(state, '.#checkpoint.1-zzzzzzzz.3'), // not the shape of ours
    join(root, '.#LOCK.4242-0badf00d.1'), // another process may be taking the lock right now
    tempPathFor(join(state, 'checkpoint')), // this process's own write in flight
  ];
  for (const p of [...leftovers, ...kept]) writeFileSync(p, 'x');

  const { logger, seen } = warnings();
  const driver = await createLocalDriver({ root, logger });
  try {
    const result = await driver.leftoverTempSweep;
    assert.deepEqual(result, { removed: leftovers.length, failed: 0, stopped: false });
    for (const p of leftovers) assert.equal(existsSync(p), false, `${p} should be removed`);
    for (const p of kept) assert.equal(existsSync(p), true, `${p} should be kept`);
    assert.equal(seen.length, 1);
    assert.match(seen[0]!.msg, /temporary files left by writes that a crash or kill interrupted/);
    assert.equal(seen[0]!.details.removed, leftovers.length);
  } finally {
    await driver.close();
  }

  // A clean directory: nothing to remove, nothing logged.
  const again = warnings();
  const reopened = await createLocalDriver({ root, logger: again.logger });
  try {
    assert.deepEqual(await reopened.leftoverTempSweep, { removed: 0, failed: 0, stopped: false });
    assert.deepEqual(again.seen, []);
  } finally {
    await reopened.close();
  }
});

for (const [name, options] of [
  ['a read-only open (lock: false)', { lock: false }],
  ['sweepLeftoverTemps: false (indelible verify)', { sweepLeftoverTemps: false }],
] as const) {
  test(`${name} removes nothing`, async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'indelible-sweep-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'logs', 'app');
    mkdirSync(dir, { recursive: true });
    const [leftover] = tempPathsOfAnotherProcess([join(dir, 'checkpoint')]);
    writeFileSync(leftover!, 'x');
    const driver = await createLocalDriver({ root, ...options });
    try {
      assert.equal(await driver.leftoverTempSweep, undefined);
      assert.equal(existsSync(leftover!), true);
      assert.deepEqual(readdirSync(dir), [leftover!.slice(dir.length + 1)]);
    } finally {
      await driver.close();
    }
  });
}

test('close() stops a sweep between folders', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'indelible-sweep-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (let i = 0; i < 200; i++)
    mkdirSync(join(root, 'logs', 'app', 'tile', '0', `x${i}`), { recursive: true });
  const driver = await createLocalDriver({ root });
  await driver.close();
  const result = await driver.leftoverTempSweep;
  assert.equal(result?.stopped, true);
});
