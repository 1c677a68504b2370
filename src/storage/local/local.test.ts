// The local driver: the shared conformance suite, then what only files can show (torn tails,
// corruption, modes, the data-directory lock, the immutable flag).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defineStorageConformance } from '../conformance.js';
import { StorageError } from '../errors.js';
import type { StorageDriver } from '../types.js';
import { findChattr } from './immutable-flag.js';
import { createLocalDriver, type LocalDriver } from './local-driver.js';
import type { StorageLogger } from './logger.js';

const quiet: StorageLogger = { warn() {} };
const enc = new TextEncoder();
const A = enc.encode('alpha');
const B = enc.encode('bravo');

defineStorageConformance('local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'indelible-local-'));
  let driver: StorageDriver = await createLocalDriver({ root, logger: quiet });
  return {
    driver,
    async reopen() {
      await driver.close();
      driver = await createLocalDriver({ root, logger: quiet });
      return driver;
    },
    async dispose() {
      await driver.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

function expectCode(code: string) {
  return (err: unknown) => err instanceof StorageError && err.code === code;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

describe('local driver files', () => {
  let root: string;
  let driver: LocalDriver;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'indelible-files-'));
    driver = await createLocalDriver({ root, logger: quiet });
  });
  after(async () => {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  });

  test('layout: blobs at their keys, state under state/, journal under journal/', async () => {
    const log = driver.log('acme');
    await log.blobs.put('tile/0/x001/234', A);
    await log.state.compareAndSwap('checkpoint', undefined, A);
    await (await log.openJournal(0)).close();
    const dir = join(root, 'logs', 'acme');
    assert.deepEqual(await readFile(join(dir, 'tile', '0', 'x001', '234')), Buffer.from(A));
    assert.ok((await stat(join(dir, 'state', 'checkpoint'))).isFile());
    assert.ok((await stat(join(dir, 'journal', '00000000000000000000.seg'))).isFile());
  });

  test('immutable objects are mode 0444, mutable ones 0644', async () => {
    const blobs = driver.log('modes').blobs;
    const dir = join(root, 'logs', 'modes');
    await blobs.put('tile/0/000', A, { immutable: true });
    await blobs.put('checkpoint', A);
    assert.equal((await stat(join(dir, 'tile/0/000'))).mode & 0o777, 0o444);
    assert.equal((await stat(join(dir, 'checkpoint'))).mode & 0o777, 0o644);
    await blobs.put('checkpoint', A, { immutable: true }); // same bytes: sealed
    assert.equal((await stat(join(dir, 'checkpoint'))).mode & 0o777, 0o444);
  });

  test('the state (which holds the signing key) is private: folder 0700, files 0600, old folders closed on read', async () => {
    const state = driver.log('private').state;
    const dir = join(root, 'logs', 'private', 'state');
    await state.compareAndSwap('config', undefined, A);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'config'))).mode & 0o777, 0o600);
    // As an older version left it: world-readable. A new process's first read closes the folder.
    await chmod(dir, 0o755);
    await chmod(join(dir, 'config'), 0o644);
    await driver.close();
    driver = await createLocalDriver({ root, logger: quiet });
    assert.deepEqual((await driver.log('private').state.read('config'))?.value, A);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'config'))).mode & 0o777, 0o600);
    // Only group and other bits go: an owner's own choice (read-only, say) stays.
    await chmod(dir, 0o555);
    await driver.close();
    driver = await createLocalDriver({ root, logger: quiet });
    await driver.log('private').state.read('config');
    assert.equal((await stat(dir)).mode & 0o777, 0o500);
    await chmod(dir, 0o700);
  });

  test('writes leave no temp files behind, and stray temp files are not listed', async () => {
    const blobs = driver.log('temps').blobs;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => blobs.put(`tile/0/${i}`, A, { immutable: i % 2 === 0 })),
    );
    const dir = join(root, 'logs', 'temps');
    assert.deepEqual(
      (await filesUnder(dir)).filter((f) => f.includes('#')),
      [],
    );
    await writeFile(join(dir, 'tile', '0', '.#1.123.4.abcd'), 'half-written');
    await writeFile(join(dir, 'tile', 'not a key'), 'stray');
    assert.equal((await blobs.list('tile/')).length, 20);
  });

  test('a damaged state file is reported as storage.corrupt', async () => {
    const state = driver.log('damaged').state;
    await state.compareAndSwap('checkpoint', undefined, A);
    const path = join(root, 'logs', 'damaged', 'state', 'checkpoint');
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 0x01;
    await writeFile(path, bytes);
    await assert.rejects(state.read('checkpoint'), expectCode('storage.corrupt'));
    await writeFile(path, 'short');
    await assert.rejects(state.read('checkpoint'), expectCode('storage.corrupt'));
  });
});

describe('data directory lock', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'indelible-lock-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const lockPath = () => join(root, 'LOCK');

  test('a second driver on the same directory is refused until the first closes', async () => {
    const first = await createLocalDriver({ root, logger: quiet });
    assert.equal((await readFile(lockPath(), 'utf8')).trim(), String(process.pid));
    await assert.rejects(createLocalDriver({ root, logger: quiet }), (err: unknown) => {
      return err instanceof StorageError && err.code === 'storage.locked' && err.details?.pid === process.pid;
    });
    await first.close();
    await assert.rejects(stat(lockPath()), { code: 'ENOENT' });
    const second = await createLocalDriver({ root, logger: quiet });
    await second.close();
  });

  // A child process that opens a driver on `root`, prints "locked" once it holds the lock, and waits.
  const holdLock = (dir: string) => {
    const driverUrl = new URL('./local-driver.js', import.meta.url).href;
    const code = `const { createLocalDriver } = await import(${JSON.stringify(driverUrl)});
      await createLocalDriver({ root: ${JSON.stringify(dir)}, logger: { warn() {} } });
      console.log('locked'); setTimeout(() => {}, 60000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('locked') && resolve());
      child.on('exit', (c) => reject(new Error(`lock holder exited with ${c}`)));
    });
    return { child, ready };
  };

  test('a lock held by another live process is respected, and released when that process dies', async () => {
    const { child, ready } = holdLock(root);
    try {
      await ready;
      await assert.rejects(createLocalDriver({ root, logger: quiet }), (err: unknown) => {
        return err instanceof StorageError && err.code === 'storage.locked' && err.details?.pid === child.pid;
      });
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // The kernel dropped the dead holder's lock: no stale-lock takeover logic is needed.
    const d = await createLocalDriver({ root, logger: quiet });
    await d.close();
  });

  test('processes racing for the lock: exactly one wins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'indelible-lock-race-'));
    try {
      await writeFile(join(dir, 'LOCK'), '999999\n'); // a stale pid file, as after a crash
      const racers = Array.from({ length: 4 }, () => holdLock(dir));
      const results = await Promise.allSettled(
        racers.map((r) =>
          Promise.race([
            r.ready.then(() => 'won'),
            new Promise((res) => setTimeout(() => res('lost'), 3000)),
          ]),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled' && r.value === 'won').length;
      for (const r of racers) r.child.kill('SIGKILL');
      assert.equal(won, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const staleOwners: ReadonlyArray<readonly [string, () => string]> = [
    ['a process that has exited', () => `${spawnSync(process.execPath, ['-e', '']).pid}\n`],
    ['this pid, from a previous incarnation (container restart)', () => `${process.pid}\n`],
    ['unreadable content', () => 'garbage'],
  ];
  for (const [what, content] of staleOwners) {
    test(`a stale lock (${what}) is taken over`, async () => {
      await writeFile(lockPath(), content());
      const d = await createLocalDriver({ root, logger: quiet });
      assert.equal((await readFile(lockPath(), 'utf8')).trim(), String(process.pid));
      await d.close();
    });
  }
});

const isRoot = process.getuid?.() === 0;
const chattrPath = await findChattr();
const flagSkip = !isRoot
  ? 'needs root (CAP_LINUX_IMMUTABLE) to set the immutable flag'
  : chattrPath === undefined
    ? 'chattr is not installed'
    : false;

describe('immutable flag', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'indelible-flag-'));
  });
  after(async () => {
    // The flag survives rm -rf: clear it first, or the tree cannot be deleted.
    if (chattrPath !== undefined) spawnSync(chattrPath, ['-R', '-i', root]);
    await rm(root, { recursive: true, force: true });
  });

  test('sealed files get FS_IMMUTABLE_FL; retention delete clears it', { skip: flagSkip }, async () => {
    const warnings: string[] = [];
    const d = await createLocalDriver({
      root,
      immutableFlag: true,
      logger: { warn: (_d, m) => warnings.push(m) },
    });
    try {
      const blobs = d.log('acme').blobs;
      await blobs.put('tile/0/000', A, { immutable: true });
      await blobs.put('checkpoint', A);
      const path = join(root, 'logs', 'acme', 'tile', '0', '000');
      assert.deepEqual(warnings, []);
      assert.equal(d.immutableFlagActive, true);
      assert.match(lsattrFlags(path), /i/);
      assert.doesNotMatch(lsattrFlags(join(root, 'logs', 'acme', 'checkpoint')), /i/);
      // Root ignores mode 0444; only the flag stops these.
      await assert.rejects(writeFile(path, 'tampered'), { code: 'EPERM' });
      await assert.rejects(unlink(path), { code: 'EPERM' });
      await blobs.put('tile/0/000', A, { immutable: true });
      await assert.rejects(blobs.delete('tile/0/000'), expectCode('storage.immutable_conflict'));
      await blobs.delete('tile/0/000', { retention: true });
      assert.equal(await blobs.get('tile/0/000'), undefined);
      await blobs.put('tile/0/001', B, { immutable: true });
    } finally {
      await d.close();
    }
    // A later run without the option still clears the flag for retention.
    const plain = await createLocalDriver({ root, logger: quiet });
    try {
      await plain.log('acme').blobs.delete('tile/0/001', { retention: true });
      assert.equal(await plain.log('acme').blobs.get('tile/0/001'), undefined);
    } finally {
      await plain.close();
    }
  });

  const unavailable: ReadonlyArray<readonly [string, string]> = [
    ['chattr is missing', '/nonexistent/chattr'],
    ['chattr fails (no permission or no file system support)', '/bin/false'],
  ];
  for (const [what, chattr] of unavailable) {
    test(`when ${what}: one warning, writes carry on with mode 0444`, async () => {
      const warnings: string[] = [];
      const dir = await mkdtemp(join(tmpdir(), 'indelible-noflag-'));
      const d = await createLocalDriver({
        root: dir,
        immutableFlag: true,
        chattr,
        logger: { warn: (_d, m) => warnings.push(m) },
      });
      try {
        for (let i = 0; i < 3; i++) await d.log('acme').blobs.put(`tile/0/00${i}`, A, { immutable: true });
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.match(warnings[0]!, /immutable flag disabled/);
        assert.equal(d.immutableFlagActive, false);
        assert.equal((await stat(join(dir, 'logs', 'acme', 'tile', '0', '000'))).mode & 0o777, 0o444);
      } finally {
        await d.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

function lsattrFlags(path: string): string {
  const r = spawnSync('lsattr', ['-d', path], { encoding: 'utf8' });
  return r.stdout.split(' ')[0] ?? '';
}
