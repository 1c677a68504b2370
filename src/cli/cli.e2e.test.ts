// End-to-end: the real `indelible` binary. init → serve on a real socket → append and read over
// HTTP → graceful stop (SIGTERM) → verify offline passes → tamper → verify fails naming the object.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initDataDir } from '../app/data-dir.js';
import { generateSignerKey, parseVerifierKey } from '../core/note.js';
import { verifyReceipt } from '../core/receipt.js';

const bin = fileURLToPath(new URL('./main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'indelible-e2e-'));
after(() => rmSync(root, { recursive: true, force: true }));

function cli(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
}

function startServer(dir: string): Promise<{ proc: ChildProcess; url: string; stdout: () => string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [bin, 'serve', '--data', dir, '--listen', '127.0.0.1:0', '--log-level', 'warn'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /serving .* at (http:\/\/\S+)\n/.exec(out);
      if (m) resolve({ proc, url: m[1]!, stdout: () => out });
    });
    proc.stderr!.on('data', (c) => {
      err += c;
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

test('init refuses a non-empty directory and prints the admin key once as JSON', () => {
  const dir = join(root, 'refuse');
  cli('init', '--data', dir, '--json');
  const again = cli('init', '--data', dir, '--json');
  assert.equal(again.status, 1);
  assert.match(again.stderr, /not empty/);
});

test('init checks --origin-prefix before writing anything; a failed init leaves nothing behind', async () => {
  for (const [prefix, why] of [
    ['bad prefix!', /white space/],
    ['https://audit.example.com', /scheme/],
    ['audit.example.com/', /end with \//],
    ['a+b', /\+/],
  ] as const) {
    const dir = join(root, `prefix-${prefix.replace(/\W/g, '_')}`);
    const res = cli('init', '--data', dir, '--origin-prefix', prefix);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /--origin-prefix /);
    assert.match(res.stderr, why);
    assert.ok(!existsSync(dir), `${dir} was not created`);
  }
  // The library call refuses the same way, before creating anything.
  const lib = join(root, 'prefix-lib');
  await assert.rejects(initDataDir(lib, { originPrefix: 'bad prefix' }), {
    code: 'datadir.bad_origin_prefix',
  });
  assert.ok(!existsSync(lib));
  // An init that fails midway (a clock that breaks once the directory's files exist) removes what it
  // wrote, so the next init of the same directory works.
  const dir = join(root, 'prefix-midway');
  let calls = 0;
  const breaking = {
    now: () => {
      if (++calls > 2) throw new Error('clock broke');
      return Date.now();
    },
  };
  await assert.rejects(initDataDir(dir, { clock: breaking }), /clock broke/);
  assert.ok(calls > 2, 'the clock was read after the directory was created');
  assert.ok(!existsSync(dir), 'the unfinished directory was removed');
  assert.equal(cli('init', '--data', dir, '--origin-prefix', 'audit.example.com').status, 0);
});

test('an init cut short (killed: its marker and no identity) is started over; other directories are not touched', async () => {
  // What a SIGKILL between the marker and the identity leaves: the marker, some of the files.
  const dir = join(root, 'killed-init');
  const { mkdirSync, readdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'logs', '_audit'), { recursive: true });
  writeFileSync(join(dir, '.init-unfinished'), '');
  writeFileSync(join(dir, 'meta.sqlite'), 'half');
  const again = cli('init', '--data', dir, '--json');
  assert.equal(again.status, 0, again.stderr);
  assert.match((JSON.parse(again.stdout) as { admin_key: string }).admin_key, /^ik_/);
  assert.ok(existsSync(join(dir, 'indelible.json')));
  assert.ok(!existsSync(join(dir, '.init-unfinished')), 'a complete init leaves no marker');
  assert.equal(cli('verify', '--data', dir).status, 0);

  // Without the marker a non-empty directory is someone else's: refused, left as it was.
  const other = join(root, 'not-ours');
  mkdirSync(other);
  writeFileSync(join(other, 'notes.txt'), 'keep me');
  const refused = cli('init', '--data', other);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /not empty/);
  assert.deepEqual(readdirSync(other), ['notes.txt']);
});

test('serve, append over HTTP, stop, verify; a tampered bundle fails verification', async () => {
  const dir = join(root, 'data');
  const init = cli('init', '--data', dir, '--json');
  assert.equal(init.status, 0, init.stderr);
  const { admin_key: admin } = JSON.parse(init.stdout) as { admin_key: string };
  assert.match(admin, /^ik_[A-Za-z0-9_-]{43}$/);

  const { proc, url } = await startServer(dir);
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    const h = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
    const created = await fetch(`${url}/v1/logs`, { method: 'POST', headers: h, body: '{"name":"acme"}' });
    assert.equal(created.status, 201);
    const { verifier_key: vkey } = (await created.json()) as { verifier_key: string };
    const events = Array.from({ length: 300 }, (_, i) => ({
      action: 'doc.read',
      actor: { id: `u${i % 7}` },
      metadata: { i },
    }));
    const r = await fetch(`${url}/v1/logs/acme/events?wait=checkpoint`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ events }),
    });
    assert.equal(r.status, 201);
    const body = (await r.json()) as { entries: Array<{ index: number; receipt: string }> };
    assert.equal(body.entries.length, 300);
    const entry = (await (await fetch(`${url}/v1/logs/acme/entries/299`, { headers: h })).json()) as {
      record: string;
    };
    const receipt = verifyReceipt(body.entries[299]!.receipt, parseVerifierKey(vkey), {
      record: new TextEncoder().encode(entry.record),
    });
    assert.equal(receipt.index, 299);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);

    // Keys against the running server (the data directory itself is locked while it runs).
    const made = cli(
      'keys',
      'create',
      '--role',
      'reader',
      '--log',
      'acme',
      '--url',
      url,
      '--api-key',
      admin,
      '--json',
    );
    assert.equal(made.status, 0, made.stderr);
    const reader = JSON.parse(made.stdout) as { id: string; key: string };
    const read = await fetch(`${url}/v1/logs/acme/entries/0`, {
      headers: { authorization: `Bearer ${reader.key}` },
    });
    assert.equal(read.status, 200);
    const listed = cli('keys', 'list', '--url', url, '--api-key', admin, '--json');
    assert.ok(
      (JSON.parse(listed.stdout) as { keys: Array<{ id: string }> }).keys.some((k) => k.id === reader.id),
    );
    assert.equal(cli('keys', 'revoke', reader.id, '--url', url, '--api-key', admin).status, 0);
    const denied = await fetch(`${url}/v1/logs/acme/entries/0`, {
      headers: { authorization: `Bearer ${reader.key}` },
    });
    assert.equal(denied.status, 401);
    // Per-log policy and legal hold through the running server.
    const remote = ['--log', 'acme', '--url', url, '--api-key', admin];
    assert.equal(cli('policy', 'set', '--retention-min', '7y', ...remote).status, 0);
    const held = cli('policy', 'hold', '--reason', 'litigation 42', ...remote, '--json');
    assert.equal(held.status, 0, held.stderr);
    const shown = JSON.parse(cli('policy', 'show', ...remote, '--json').stdout) as Record<string, unknown>;
    assert.match(JSON.stringify(shown), /litigation 42/);
    assert.equal(cli('policy', 'hold', '--reason', 'again', ...remote).status, 1, 'a second hold is refused');
    assert.equal(cli('policy', 'release', ...remote).status, 0);
    assert.doesNotMatch(cli('policy', 'show', ...remote, '--json').stdout, /litigation 42"/);
    const locked = cli('keys', 'list', '--data', dir);
    assert.equal(locked.status, 1);
    assert.match(locked.stderr, /in use by process/);
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }

  const ok = cli('verify', '--data', dir);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /acme: OK, 300 entries/);

  const bundle = join(dir, 'logs', 'acme', 'tile', 'entries', '000');
  const bytes = readFileSync(bundle);
  bytes[1000] = bytes[1000]! ^ 0x20;
  chmodSync(bundle, 0o644);
  writeFileSync(bundle, bytes);
  const bad = cli('verify', '--data', dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /acme/);
  assert.match(bad.stderr, /tile\/entries\/000|entry \d+/);
});

test('usage errors exit 2 with a message', () => {
  const r = cli('serve', '--data', join(root, 'missing'), '--listen', 'nonsense');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--listen expects HOST:PORT/);
  const v = cli('verify');
  assert.equal(v.status, 2);
  // Commander's own usage errors read like ours, with a pointer to the help instead of all of it.
  const role = cli('keys', 'create', '--url', 'http://127.0.0.1:1');
  assert.equal(role.status, 2);
  assert.equal(
    role.stderr,
    "indelible: required option '--role <role>' not specified\n(add --help for the flags and examples)\n",
  );
  // Each names where the bad value came from: a positional NAME, a configuration file's key.
  const name = cli('logs', 'create', 'Bad Name');
  assert.equal(name.status, 2);
  assert.match(name.stderr, /^indelible: NAME: "Bad Name" is not a log name \(lowercase letters/);
  const config = join(root, 'bad-listen.json');
  writeFileSync(config, JSON.stringify({ listen: '127.0.0.1:99999' }));
  const listen = cli('serve', '--data', join(root, 'missing'), '--config', config);
  assert.equal(listen.status, 2);
  assert.match(
    listen.stderr,
    new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: listen expects HOST:PORT`),
  );
});

test('a directory where a file is read is named in the error (EISDIR named no path); verify reports unreadable files', () => {
  const dir = join(root, 'a-directory');
  mkdirSync(dir);
  const { verifierKey } = generateSignerKey('example.com/acme');
  const receipt = join(root, 'some.receipt');
  writeFileSync(receipt, 'c2sp.org/tlog-proof@v1\nindex 0\n\n');
  const r = cli('append', '--log', 'acme', '--file', dir);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `indelible: EISDIR: ${dir} is a directory, not a file\n`);
  // verify fails as it does for a log that does not verify (VERIFY.md): verify.unreadable, and with
  // --json the report on stdout, whatever the failure.
  const missing = join(root, 'no-such-file');
  for (const [args, path, errno] of [
    [['verify', '--export', dir, '--key', verifierKey], dir, 'EISDIR'],
    [['verify', '--receipt', dir, '--key', verifierKey], dir, 'EISDIR'],
    [['verify', '--receipt', receipt, '--key', verifierKey, '--record', dir], dir, 'EISDIR'],
    [['verify', '--export', missing, '--key', verifierKey], missing, 'ENOENT'],
  ] as const) {
    const v = cli(...args);
    assert.equal(v.status, 1, args.join(' '));
    if (errno === 'EISDIR') {
      assert.equal(
        v.stderr,
        `verification FAILED: EISDIR: ${dir} is a directory, not a file [verify.unreadable]\n`,
        args.join(' '),
      );
    }
    const json = cli(...args, '--json');
    assert.equal(json.status, 1, args.join(' '));
    const report = JSON.parse(json.stdout) as { ok: boolean; code: string; details: unknown };
    assert.deepEqual([report.ok, report.code, report.details], [false, 'verify.unreadable', { path, errno }]);
  }
});

test('a server that cannot be reached is named, so a wrong --url or INDELIBLE_URL shows', async () => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const r = cli('logs', 'list', '--url', `http://127.0.0.1:${port}`);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `indelible: GET http://127.0.0.1:${port}/v1/logs: fetch failed (ECONNREFUSED) [client.network]\n`,
  );
});

test('append --file in a directory it cannot write says why: the progress file, and how to do without', (t) => {
  const dir = join(root, 'read-only');
  mkdirSync(dir);
  const file = join(dir, 'events.ndjson');
  writeFileSync(file, '{"action":"a","actor":{"id":"b"}}\n');
  // Root writes anywhere a mode allows nothing: the immutable flag stops it too.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && spawnSync('chattr', ['+i', dir]).status !== 0) return t.skip('chattr +i is not available');
  if (!asRoot) chmodSync(dir, 0o555);
  try {
    // Nothing is sent: the progress is written before the first batch.
    const r = cli('append', '--log', 'acme', '--file', file, '--url', 'http://127.0.0.1:9');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^indelible: cannot write the progress file .*events\.ndjson\.indelible-progress \((EACCES|EPERM): .*\): append --file keeps its progress next to the file; for a file in a directory you cannot write, use --file - < FILE \(not resumable\)\n$/,
    );
  } finally {
    if (asRoot) spawnSync('chattr', ['-i', dir]);
    else chmodSync(dir, 0o755);
  }
});
