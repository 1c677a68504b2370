/**
 * `indelible keys create|list|revoke --data` on a stopped data directory: each command is recorded in
 * `_audit` like its HTTP counterpart (DESIGN §5 invariant 4), never with the secret, and revoking an
 * unknown key exits 1 with the server's code, recording nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { createMonitor } from '../monitor/monitor.js';
import { createRecordedKey } from './keys.js';

let dir: string;

const bin = fileURLToPath(new URL('./main.js', import.meta.url));

/** The environment without INDELIBLE_URL, which would send the commands to a server. */
function withoutUrl(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.INDELIBLE_URL;
  return env;
}

/** Runs the real `indelible keys …` (the compiled CLI) in a child process, on `dir`. */
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runOn(dir, ...args);
}

function runOn(data: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'keys', ...args, '--data', data], {
    encoding: 'utf8',
    timeout: 60_000,
    env: withoutUrl(),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Recorded {
  action: string;
  actor: { id: string; type: string };
  target?: { id: string; type: string };
  metadata: Record<string, unknown>;
}

/** The `_audit` events of the data directory, oldest first, and its raw record texts. */
async function audit(data = dir): Promise<{ events: Recorded[]; text: string }> {
  const dd = await openDataDir(data, { logs: ['_audit'] });
  try {
    const log = dd.engine.log('_audit');
    const texts = (await log.readRecords(0, log.size)).map((r) => Buffer.from(r).toString('utf8'));
    return { events: texts.map((t) => JSON.parse(t).event as Recorded), text: texts.join('\n') };
  } finally {
    await dd.close();
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'indelible-keys-cli-'));
  await initDataDir(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('create, list and revoke on a data directory are recorded in _audit, without the secret', async () => {
  const made = run('create', '--role', 'reader', '--log', 'acme', '--json');
  assert.equal(made.status, 0, made.stderr);
  const key = JSON.parse(made.stdout) as { id: string; key: string; role: string; logs: string[] };
  assert.match(key.key, /^ik_/);
  const listed = run('list', '--json');
  assert.equal(listed.status, 0, listed.stderr);
  const keys = (JSON.parse(listed.stdout) as { keys: Array<Record<string, unknown>> }).keys;
  // The API's field names (GET /v1/keys), not the SDK's camelCase.
  const shown = keys.find((k) => k.id === key.id);
  assert.deepEqual(Object.keys(shown ?? {}).sort(), [
    'created_at',
    'description',
    'id',
    'last_used_at',
    'logs',
    'revoked_at',
    'role',
  ]);
  assert.equal(shown?.revoked_at, null);
  assert.ok(!Number.isNaN(Date.parse(String(shown?.created_at))));
  assert.equal(run('revoke', key.id).stdout, `revoked ${key.id}\n`);

  const { events, text } = await audit();
  // The first entry is init's admin key (initDataDir called directly: the server is the actor).
  assert.equal(events[0]!.action, 'audit.admin.key.create');
  assert.deepEqual(events[0]!.actor, { id: 'indelible', type: 'system' });
  const admin = events.slice(1).filter((e) => e.action.startsWith('audit.admin.key.'));
  assert.deepEqual(
    admin.map((e) => e.action),
    ['audit.admin.key.create', 'audit.admin.key.list', 'audit.admin.key.revoke'],
  );
  for (const e of admin) {
    assert.equal(e.actor.type, 'operator');
    assert.match(e.actor.id, /^cli/);
  }
  const [created, list, revoked] = admin as [Recorded, Recorded, Recorded];
  assert.deepEqual(created.target, { id: key.id, type: 'key' });
  assert.equal(created.metadata.role, 'reader');
  assert.deepEqual(created.metadata.logs, ['acme']);
  assert.equal(list.metadata.count, keys.length);
  assert.deepEqual(revoked.target, { id: key.id, type: 'key' });
  // The secret is printed once and never logged; its id is.
  assert.ok(!text.includes(key.key));
  assert.ok(!text.includes(key.key.slice(key.key.length - 20)));
});

test('init records the first admin key in _audit: by the CLI user from `indelible init`', async () => {
  const made = mkdtempSync(join(tmpdir(), 'indelible-init-cli-'));
  try {
    const target = join(made, 'data');
    const r = spawnSync(process.execPath, [bin, 'init', '--data', target, '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { admin_key: string; admin_key_id: string };
    const dd = await openDataDir(target);
    try {
      const log = dd.engine.log('_audit');
      const [first] = await log.readRecords(0, 1);
      const text = Buffer.from(first!).toString('utf8');
      const event = JSON.parse(text).event as Recorded;
      assert.equal(event.action, 'audit.admin.key.create');
      assert.equal(event.actor.type, 'operator');
      assert.deepEqual(event.target, { id: out.admin_key_id, type: 'key' });
      assert.equal(event.metadata.role, 'admin');
      assert.equal(event.metadata.logs, null);
      assert.ok(!text.includes(out.admin_key), 'never the secret');
    } finally {
      await dd.close();
    }
  } finally {
    rmSync(made, { recursive: true, force: true });
  }
});

test('revoking a key that does not exist exits 1 with the code the server answers, recording nothing', async () => {
  const before = (await audit()).events.length;
  const missing = run('revoke', 'key_doesnotexist');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no active API key with id "key_doesnotexist" \[auth\.key_not_found\]/);
  assert.equal(missing.stdout, '');
  const { events } = await audit();
  assert.equal(events.filter((e) => e.action === 'audit.admin.key.revoke').length, 1);
  assert.ok(events.length >= before);
  assert.ok(!events.slice(before).some((e) => e.action.startsWith('audit.admin.key.')));
});

test('keys work on a data directory where another log cannot open (a damaged bundle)', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'indelible-keys-damaged-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  await initDataDir(data);
  const dd = await openDataDir(data);
  await dd.engine.createLog('acme');
  await dd.engine.append(
    'acme',
    Array.from({ length: 300 }, (_, i) => ({ action: 'doc.read', actor: { id: `u${i}` } })),
  );
  await dd.close();
  // A record of bundle 0 rewritten on disk, and no search index: the index must catch up over the
  // bundle, whose check refuses it, so the server cannot start until the bundle is restored.
  const bundle = join(data, 'logs', 'acme', 'tile', 'entries', '000');
  chmodSync(bundle, 0o644);
  const bytes = readFileSync(bundle);
  const at = bytes.indexOf('"u7"');
  assert.ok(at > 0);
  bytes.write('"u8"', at);
  writeFileSync(bundle, bytes);
  for (const f of ['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm'])
    rmSync(join(data, f), { force: true });
  await assert.rejects(openDataDir(data), /entry bundle tile\/entries\/000 holds a record at index 7/);

  // An emergency revocation does not wait for the restore.
  const made = runOn(data, 'create', '--role', 'writer', '--json');
  assert.equal(made.status, 0, made.stderr);
  const key = JSON.parse(made.stdout) as { id: string };
  const revoked = runOn(data, 'revoke', key.id);
  assert.equal(revoked.status, 0, revoked.stderr);
  const { events } = await audit(data);
  assert.deepEqual(
    events.slice(1).map((e) => [e.action, e.target?.id]),
    [
      ['audit.admin.key.create', key.id],
      ['audit.admin.key.revoke', key.id],
    ],
  );
});

test('a key whose creation cannot be recorded in _audit is revoked at once and the command fails', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'indelible-keys-unrecorded-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  await initDataDir(data);
  const dd = await openDataDir(data, { logs: ['_audit'] });
  const monitor = createMonitor({ engine: dd.engine, meta: dd.meta, background: false });
  try {
    const before = dd.keys.list().length;
    // The append to _audit fails as a full disk would make it.
    const append = dd.engine.append.bind(dd.engine);
    dd.engine.append = async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    await assert.rejects(
      createRecordedKey(dd.keys, monitor, { role: 'writer', logs: ['acme'], description: null }),
      (err: Error) => /revoked at once/.test(err.message) && /ENOSPC/.test(err.message),
    );
    const keys = dd.keys.list();
    assert.equal(keys.length, before + 1);
    const made = keys.at(-1)!;
    assert.equal(made.role, 'writer');
    assert.notEqual(made.revokedAt, null, 'the unrecorded key must not stay usable');
    // Should the record reach _audit after all (closing flushes again), its revoke follows it.
    dd.engine.append = append;
    await monitor.close();
    const log = dd.engine.log('_audit');
    const events = (await log.readRecords(0, log.size)).map(
      (r) => JSON.parse(Buffer.from(r).toString('utf8')).event as Recorded,
    );
    const about = events.filter((e) => e.target?.id === made.id).map((e) => e.action);
    assert.deepEqual(about, ['audit.admin.key.create', 'audit.admin.key.revoke']);
  } finally {
    await monitor.close().catch(() => undefined);
    await dd.close();
  }
});

test('keys without --url, --data or their variables names both, and its help claims no default server', () => {
  const env = withoutUrl();
  delete env.INDELIBLE_DATA;
  const r = spawnSync(process.execPath, [bin, 'keys', 'list'], { encoding: 'utf8', timeout: 60_000, env });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /give --url URL \(a running server; env INDELIBLE_URL\) or --data DIR/);
  const help = spawnSync(process.execPath, [bin, 'keys', 'list', '--help'], { encoding: 'utf8', env });
  assert.match(help.stdout, /--url <url> +server URL \(env INDELIBLE_URL\)\n/);
  assert.doesNotMatch(help.stdout, /default http/);
});
