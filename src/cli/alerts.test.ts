/**
 * `indelible alerts list|ack` on a data directory: listing with filters, acknowledging, both
 * recorded in `_audit`, and usage errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { createMonitor } from '../monitor/monitor.js';

let dir: string;

const bin = fileURLToPath(new URL('./main.js', import.meta.url));

/** Runs the real `indelible alerts …` (the compiled CLI) in a child process. */
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'alerts', ...args, '--data', dir], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = run(...args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'indelible-alerts-cli-'));
  await initDataDir(dir);
  const dd = await openDataDir(dir);
  const monitor = createMonitor({ engine: dd.engine, meta: dd.meta, background: false });
  monitor.reportVerificationFailure({ log: 'acme', code: 'verify.bad_tile' });
  monitor.reportVerificationFailure({ log: 'beta', code: 'verify.bad_tile' });
  await monitor.close();
  await dd.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('list, ack, list --open; both commands are recorded in _audit', async () => {
  const listed = JSON.parse(ok('list', '--json')) as {
    alerts: Array<{ id: number; subject: string }>;
    next_cursor: null;
  };
  // The API's field names (GET /v1/alerts), not the store's camelCase.
  assert.deepEqual(Object.keys(listed.alerts[0]!).sort(), [
    'acknowledged_at',
    'acknowledged_by',
    'at',
    'details',
    'id',
    'note',
    'rule',
    'severity',
    'subject',
  ]);
  assert.deepEqual(
    listed.alerts.map((a) => a.subject),
    ['log:beta', 'log:acme'],
  );
  const target = listed.alerts[1]!.id;
  assert.equal(ok('ack', String(target), '--note', 'restored from backup'), `acknowledged ${target}\n`);
  const again = JSON.parse(ok('ack', String(target), '--json')) as {
    alert: Record<string, unknown>;
    changed: boolean;
  };
  assert.equal(again.changed, false);
  assert.equal(again.alert.note, 'restored from backup');
  assert.match(String(again.alert.acknowledged_at), /^\d{4}-/);
  assert.match(ok('ack', String(target)), /was already acknowledged/);
  const open = ok('list', '--open');
  assert.equal(open.trim().split('\n').length, 1);
  assert.match(open, /\tlog:beta\topen$/m);

  const dd = await openDataDir(dir);
  try {
    const log = dd.engine.log('_audit');
    const events = (await log.readRecords(0, log.size)).map(
      (r) =>
        JSON.parse(Buffer.from(r).toString('utf8')).event as {
          action: string;
          actor: { type: string };
          metadata: Record<string, unknown>;
        },
    );
    const acks = events.filter((e) => e.action === 'audit.admin.alert.ack');
    assert.equal(acks.length, 3); // the first, the --json repeat and the plain repeat
    assert.equal(acks[0]!.actor.type, 'operator');
    assert.equal((acks[0]!.metadata.after as { note: string }).note, 'restored from backup');
    assert.equal(events.filter((e) => e.action === 'audit.admin.alert.list').length, 2);
    assert.equal(events.filter((e) => e.action === 'alert.verification_failure').length, 2);
  } finally {
    await dd.close();
  }
});

test('usage errors exit 2; an unknown alert exits 1 naming the code', () => {
  for (const args of [
    ['ack', '0'],
    ['ack', 'abc'],
    ['list', '--rule', 'nope'],
    ['list', '--limit', '5000'],
    ['list', '--since', 'yesterday'],
  ]) {
    assert.equal(run(...args).status, 2, args.join(' '));
  }
  const missing = run('ack', '424242');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no alert with id 424242 \[monitor\.alert_not_found\]/);
});
