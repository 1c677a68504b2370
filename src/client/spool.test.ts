// The on-disk spool: events are durable before log() resolves, acknowledged ones are forgotten,
// a crashed producer's leftovers are resent by the next logger exactly once (SIGKILL test against
// a real server), torn tails are dropped, and one spool has one live owner.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import { Spool, takeLock } from './spool.js';
import { initDir, loggedIds, scratch, serveDir, startFaultProxy, type TestServer } from './test-support.js';

const { root, cleanup } = scratch('spool');
let server: TestServer;
let admin: IndelibleClient;

before(async () => {
  const dir = join(root, 'data');
  server = await serveDir(dir, await initDir(dir));
  admin = new IndelibleClient({ url: server.url, apiKey: server.adminKey });
});
after(async () => {
  await server.stop();
  cleanup();
});

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

describe('Spool', () => {
  test('append is durable and ordered; acks truncate once everything is acknowledged', async () => {
    const dir = join(root, 'unit');
    const { spool, recovered } = await Spool.open(dir);
    assert.deepEqual(recovered, []);
    await Promise.all([
      spool.append({ id: 'a', json: '{"id":"a"}' }),
      spool.append({ id: 'b', json: '{"id":"b"}' }),
    ]);
    assert.equal(read(dir, 'events.ndjson'), '{"id":"a"}\n{"id":"b"}\n');
    await spool.ack(['a']);
    assert.equal(read(dir, 'acked.txt'), 'a\n');
    await spool.append({ id: 'c', json: '{"id":"c"}' });
    await spool.close();

    // Reopened (as after a crash): a torn tail is dropped, acknowledged events are not resent.
    appendFileSync(join(dir, 'events.ndjson'), '{"id":"d","act');
    const again = await Spool.open(dir);
    assert.deepEqual(
      again.recovered.map((e) => e.id),
      ['b', 'c'],
    );
    assert.equal(read(dir, 'events.ndjson'), '{"id":"b"}\n{"id":"c"}\n');
    // An event appended after the torn tail is a line of its own, recovered by the next open.
    await again.spool.append({ id: 'e', json: '{"id":"e"}' });
    await again.spool.close();
    appendFileSync(join(dir, 'events.ndjson'), '{"id":"f"');
    const third = await Spool.open(dir);
    assert.deepEqual(
      third.recovered.map((e) => e.id),
      ['b', 'c', 'e'],
    );
    await third.spool.append({ id: 'g', json: '{"id":"g"}' });
    assert.equal(read(dir, 'events.ndjson'), '{"id":"b"}\n{"id":"c"}\n{"id":"e"}\n{"id":"g"}\n');
    await third.spool.close();
    const again2 = await Spool.open(dir);
    assert.deepEqual(
      again2.recovered.map((e) => e.id),
      ['b', 'c', 'e', 'g'],
    );
    await again2.spool.ack(['b', 'c', 'e', 'g']);
    assert.equal(read(dir, 'events.ndjson'), '');
    assert.equal(again2.spool.size, 0);

    // One live owner at a time.
    await assert.rejects(Spool.open(dir), (e: ClientError) => e.code === 'client.spool_locked');
    await again2.spool.close();
  });

  test('an id forgotten (dropped or refused) and then spooled again is resent after a crash', async () => {
    const dir = join(root, 'relogged');
    const { spool } = await Spool.open(dir);
    await spool.append({ id: 'x', json: '{"id":"x"}' });
    await spool.append({ id: 'y', json: '{"id":"y"}' });
    await spool.ack(['x']); // dropped by the overflow policy, say (y keeps the files from being emptied)
    await spool.append({ id: 'x', json: '{"id":"x"}' }); // the application logs it again, same id
    await spool.close(); // as a crash: nothing more was acknowledged
    const again = await Spool.open(dir);
    assert.deepEqual(
      again.recovered.map((e) => e.id),
      ['y', 'x'],
    );
    await again.spool.close();
  });

  test('the directories it creates are fsync’d in their parents', {
    skip: spawnSync('strace', ['-V']).status === 0 ? false : 'needs strace to see the fsync calls',
  }, async () => {
    const base = join(root, 'fresh');
    mkdirSync(base);
    const dir = join(base, 'a', 'spool');
    const trace = join(root, 'fresh.strace');
    const spool = new URL('./spool.js', import.meta.url).href;
    const script = `const { Spool } = await import(${JSON.stringify(spool)}); await (await Spool.open(${JSON.stringify(dir)})).spool.close();`;
    const r = spawnSync('strace', [
      '-f',
      '-qq',
      '-e',
      'trace=openat,fsync',
      '-o',
      trace,
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ]);
    assert.equal(r.status, 0, String(r.stderr));
    const calls = readFileSync(trace, 'utf8').split('\n');
    // Each parent of a created directory (base, base/a) is opened and that descriptor fsync'd.
    for (const parent of [base, join(base, 'a')]) {
      const at = calls.findIndex((l) => l.includes(`openat(AT_FDCWD, "${parent}", O_RDONLY`));
      assert.ok(at >= 0, `${parent} is never opened`);
      const fd = /= (\d+)$/.exec(calls[at]!)?.[1];
      assert.ok(
        calls.slice(at).some((l) => new RegExp(`\\bfsync\\(${fd}\\)\\s+= 0$`).test(l)),
        `${parent} is not fsync'd`,
      );
    }
  });

  test('a spool directory that cannot be created is client.spool_corrupt, through log() too', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    for (const dir of [file, join(file, 'spool')]) {
      await assert.rejects(Spool.open(dir), (e: ClientError) => e.code === 'client.spool_corrupt');
      const logger = admin.logger('any', { spoolDir: dir });
      await assert.rejects(logger.log({ action: 'a.b', actor: { id: 'u' } }), (e: ClientError) => {
        assert.equal(e.code, 'client.spool_corrupt');
        assert.match(e.message, /^cannot open the spool in .*: (EEXIST|ENOTDIR)/);
        return true;
      });
    }
  });

  test('damaged lines in the middle: the file is kept aside, readable events recovered, the damage reported', async () => {
    const dir = join(root, 'corrupt');
    await (await Spool.open(dir)).spool.close();
    const found = '{"id":"a"}\nnot json\n{"id":"b"}\n{"no_id":1}\n{"id":"c"}\n';
    writeFileSync(join(dir, 'events.ndjson'), found);
    const { spool, recovered, damage } = await Spool.open(dir);
    assert.deepEqual(
      recovered.map((e) => e.id),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(damage?.lines, [2, 4]);
    assert.match(damage!.keptAs, /events\.ndjson\.damaged-\d{4}-/);
    assert.equal(readFileSync(damage!.keptAs, 'utf8'), found, 'the file as found, byte for byte');
    assert.equal(read(dir, 'events.ndjson'), '{"id":"a"}\n{"id":"b"}\n{"id":"c"}\n');
    await spool.close();
    // An undamaged spool reports nothing.
    const clean = await Spool.open(dir);
    assert.equal(clean.damage, undefined);
    await clean.spool.close();
  });

  test('a logger on a damaged spool sends what it can read and reports the rest to onError', async () => {
    await admin.createLog('damaged');
    const spoolDir = join(root, 'damaged-spool');
    await (await Spool.open(spoolDir)).spool.close();
    writeFileSync(
      join(spoolDir, 'events.ndjson'),
      '{"id":"dmg-1","action":"a.b","actor":{"id":"u"}}\n\u0000\u0000garbage\n{"id":"dmg-2","action":"a.b","actor":{"id":"u"}}\n',
    );
    const errors: ClientError[] = [];
    const logger = admin.logger('damaged', {
      spoolDir,
      onError: (e, events) => {
        assert.deepEqual(events, []);
        errors.push(e);
      },
    });
    await logger.ready;
    await logger.log({ action: 'a.c', actor: { id: 'u' }, id: 'dmg-3' });
    await logger.close();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'client.spool_corrupt');
    assert.match(errors[0]!.message, /line 2 of events\.ndjson is not a spooled event.*kept as .*damaged-/);
    assert.deepEqual(await loggedIds(admin, 'damaged'), ['dmg-1', 'dmg-2', 'dmg-3']);
  });

  test('events that ran out of retries are reported and stay spooled for the next logger', async () => {
    await admin.createLog('later');
    const spoolDir = join(root, 'later-spool');
    const down = new IndelibleClient({
      url: server.url,
      apiKey: server.adminKey,
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const failed: string[] = [];
    const logger = down.logger('later', {
      spoolDir,
      retry: { maxAttempts: 3, initialDelayMs: 1 },
      onError: (err, events) => failed.push(...events.map((e) => `${err.code} ${e.id}`)),
    });
    const id = await logger.log({ action: 'job.run', actor: { id: 'w' } });
    await assert.rejects(logger.close(), (e: ClientError) => e.code === 'client.delivery_failed');
    assert.deepEqual(failed, [`client.network ${id}`]);

    const next = admin.logger('later', { spoolDir });
    await next.close();
    assert.deepEqual(await loggedIds(admin, 'later'), [id]);
  });

  test('a SIGKILLed producer: the next logger resends its spool, and the log holds each event once', async () => {
    await admin.createLog('crash');
    const spoolDir = join(root, 'crash-spool');
    // The producer's first batch reaches the server, which appends it, but the answer is held
    // back: so its spool still holds events the server already has.
    const proxy = await startFaultProxy(server.url);
    proxy.fault('hold-response', Number.MAX_SAFE_INTEGER, /^POST \/v1\/logs\/crash\/events/);
    const self = fileURLToPath(import.meta.url);
    const child = self.replace(/spool\.test\.(ts|js)$/, 'spool-child.$1');
    const proc = spawn(
      process.execPath,
      [...process.execArgv, child, proxy.url, server.adminKey, 'crash', spoolDir, '200'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      const ids = await new Promise<string[]>((resolve, reject) => {
        let out = '';
        proc.stdout!.on('data', (c) => {
          out += c;
          const m = /^spooled (.*)\n/m.exec(out);
          if (m) resolve(JSON.parse(m[1]!) as string[]);
        });
        proc.once('exit', (code) => reject(new Error(`producer exited early (${code})`)));
      });
      assert.equal(ids.length, 200);
      for (let i = 0; ; i++) {
        if ((await admin.getLog('crash')).size >= 50) break;
        assert.ok(i < 250, 'the first batch never reached the server');
        await new Promise((r) => setTimeout(r, 20));
      }
      proc.kill('SIGKILL');
      await exited;
      assert.equal((await admin.getLog('crash')).size, 50, 'only the first batch was delivered');
      assert.match(
        read(spoolDir, 'LOCK'),
        new RegExp(`^${proc.pid} `),
        'the dead producer’s lock is left behind',
      );

      const logger = admin.logger('crash', { spoolDir, maxBatch: 64 });
      await logger.ready;
      assert.equal(logger.pending, 200);
      await logger.close();
      assert.deepEqual(await loggedIds(admin, 'crash'), ids);
      assert.equal((await admin.getLog('crash')).size, 200);
      assert.equal(read(spoolDir, 'events.ndjson'), '');
    } finally {
      proc.kill('SIGKILL');
      await proxy.close();
    }
  });
});

describe('a full disk (a 16 MiB tmpfs mounted in a user and mount namespace)', () => {
  const skip =
    // Mounts over the scratch directory, seen only inside that namespace (which ends at once).
    spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1"', 'sh', root]).status === 0
      ? false
      : 'needs `unshare -rm` (user and mount namespaces) and a tmpfs mount in them';
  let n = 0;
  const run = (scenario: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const mnt = join(root, `tmpfs-${n++}`);
      mkdirSync(mnt);
      const child = fileURLToPath(import.meta.url).replace(/spool\.test\.(ts|js)$/, 'spool-full-child.$1');
      execFile(
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          'mount -t tmpfs -o size=16m tmpfs "$1" && shift && exec "$@"',
          'sh',
          mnt,
          process.execPath,
          ...process.execArgv,
          child,
          mnt,
          scenario,
        ],
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
      );
    });

  test('a write cut short by ENOSPC is rejected and cut back: the next event is not glued to it', {
    skip,
  }, async () => {
    const r = await run('short-write');
    assert.equal(r.b, 'client.spool_corrupt ENOSPC', 'the torn event is not reported as spooled');
    assert.equal(r.c, 'ok');
    assert.deepEqual(r.recovered, ['a', 'c']);
    assert.equal(r.damage, null);
  });

  test('a compaction that fails for want of room leaves the spool usable', { skip }, async () => {
    const r = await run('compaction');
    assert.equal(r.compaction, 'ENOSPC');
    assert.equal(r.c, 'ok', 'appends after the failed compaction still work');
    assert.deepEqual(r.recovered, ['a', 'c']);
    assert.equal(r.damage, null);
  });
});

describe('takeLock', () => {
  const setup = async () => {
    const { mkdtempSync } = await import('node:fs');
    const { hostname, tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'indelible-spool-lock-'));
    // A lock left by a process that is gone (no pid is above 2^22 on Linux).
    const stale = `${2 ** 22 + 7} ${hostname()}\n`;
    writeFileSync(join(dir, 'LOCK'), stale);
    return { dir, stale };
  };
  const leftovers = async (dir: string) =>
    (await import('node:fs')).readdirSync(dir).filter((f) => f !== 'LOCK');

  test('three takeovers of one stale lock, each overtaken by the next: one owner, nothing left behind', async () => {
    const { dir, stale } = await setup();
    // A reads the stale holder; before it acts, B does, and before B acts, C takes the lock.
    let owner = '';
    const outcomes: string[] = [];
    const attempt = async (name: string, afterRead?: () => Promise<void>): Promise<void> => {
      try {
        await takeLock(dir, afterRead === undefined ? {} : { afterRead });
        outcomes.push(`${name} owns`);
        owner = readFileSync(join(dir, 'LOCK'), 'utf8');
      } catch (err) {
        outcomes.push(`${name} ${(err as ClientError).code}`);
      }
    };
    await attempt('A', () => attempt('B', () => attempt('C')));
    assert.deepEqual(outcomes, ['C owns', 'B client.spool_locked', 'A client.spool_locked']);
    assert.notEqual(owner, stale);
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), owner, 'the owner’s lock is in place');
    assert.deepEqual(await leftovers(dir), []);
  });

  test('while one process holds the takeover token, another cannot take the stale lock over too', async () => {
    const { dir, stale } = await setup();
    const outcomes: string[] = [];
    await takeLock(dir, {
      afterToken: async () => {
        // The token holder has checked nothing yet; a second contender finds the same stale lock.
        await takeLock(dir).then(
          () => outcomes.push('second owns'),
          (err: ClientError) => outcomes.push(`second ${err.code}: ${err.message}`),
        );
        assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), stale, 'untouched by the second');
      },
    });
    assert.equal(outcomes.length, 1);
    assert.match(outcomes[0]!, /^second client\.spool_locked: .* is being taken over by process \d+/);
    assert.notEqual(readFileSync(join(dir, 'LOCK'), 'utf8'), stale);
    assert.deepEqual(await leftovers(dir), []);
  });

  test('a lock left by an earlier process with our own pid (a restarted container) is taken over', {
    skip: existsSync('/proc/self/stat') ? false : 'process start times are read from Linux /proc',
  }, async () => {
    const { dir } = await setup();
    const { hostname } = await import('node:os');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // Our pid and host, but a process that started at another time (tick 1 after boot).
    const earlier = `${process.pid} ${hostname()} 0b1d-nonce ${boot}/1\n`;
    writeFileSync(join(dir, 'LOCK'), earlier);
    await takeLock(dir);
    const mine = readFileSync(join(dir, 'LOCK'), 'utf8');
    assert.notEqual(mine, earlier);
    // A second logger of this very process is still refused: the start time is the same.
    await assert.rejects(takeLock(dir), (err: ClientError) => err.code === 'client.spool_locked');
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), mine);
    assert.deepEqual(await leftovers(dir), []);
  });

  test('a takeover left unfinished by a dead process is reported, naming the token to remove', async () => {
    const { dir, stale } = await setup();
    const { createHash } = await import('node:crypto');
    const token = `LOCK.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
    const { hostname } = await import('node:os');
    writeFileSync(join(dir, token), `${2 ** 22 + 9} ${hostname()} x\n`);
    await assert.rejects(takeLock(dir), (err: ClientError) => {
      assert.equal(err.code, 'client.spool_locked');
      assert.ok(err.message.includes(`remove ${join(dir, token)}`), err.message);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), stale);
    (await import('node:fs')).unlinkSync(join(dir, token));
    await takeLock(dir);
    assert.deepEqual(await leftovers(dir), []);
  });
});
