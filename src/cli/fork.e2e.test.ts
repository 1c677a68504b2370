// End-to-end: the insider fork. Someone holding the log's signing key copies the data directory and
// grows the copy with a different history; both copies sign checkpoints with the same key. An
// auditor whose `verify --url … --state` state came from the first copy and who is then served the
// second must get exit 1 with both checkpoints on stderr (the evidence), and keep the old state.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { parseVerifierKey } from '../core/note.js';
import { type CliResult, cli, type ServedDir, serve } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-fork-'));
const running: ServedDir[] = [];
after(async () => {
  for (const s of running) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

const ok = (r: CliResult) => {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r;
};

async function start(dir: string): Promise<ServedDir> {
  const s = await serve(dir);
  running.push(s);
  return s;
}

async function stop(s: ServedDir): Promise<void> {
  await s.stop();
  running.splice(running.indexOf(s), 1);
}

/** Appends `n` events by `actor` and waits for the checkpoint that covers them. */
async function append(env: Record<string, string>, actor: string, n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => [
    '--event',
    JSON.stringify({ action: 'doc.read', actor: { id: actor }, metadata: { i } }),
  ]);
  ok(await cli(['append', '--log', 'acme', '--wait-checkpoint', ...events.flat()], { env }));
}

test('an insider fork (same key, two histories) fails verify --url --state with both checkpoints', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  const { admin_key: admin } = JSON.parse(ok(await cli(['init', '--data', a, '--json'])).stdout) as {
    admin_key: string;
  };
  let server = await start(a);
  let env = { INDELIBLE_URL: server.url, INDELIBLE_API_KEY: admin };
  const { verifier_key: vkey } = JSON.parse(
    ok(await cli(['logs', 'create', 'acme', '--json'], { env })).stdout,
  );
  await append(env, 'common', 5);
  await stop(server);
  cpSync(a, b, { recursive: true });

  // The history the auditor sees first.
  server = await start(a);
  env = { INDELIBLE_URL: server.url, INDELIBLE_API_KEY: admin };
  await append(env, 'honest', 3);
  const state = join(root, 'acme.state');
  const verify = ['verify', '--log', 'acme', '--key', vkey, '--state', state];
  ok(await cli([...verify, '--url', server.url], { env }));
  const trustedState = readFileSync(state, 'utf8');
  const trusted = (JSON.parse(trustedState) as { checkpoint: string }).checkpoint;
  assert.equal(openCheckpoint(trusted, parseVerifierKey(vkey)).size, 8);
  await stop(server);

  // The copy, grown differently and signed with the same key.
  server = await start(b);
  env = { INDELIBLE_URL: server.url, INDELIBLE_API_KEY: admin };
  await append(env, 'rewritten', 4);
  const latest = await (await fetch(`${server.url}/v1/logs/acme/checkpoint`)).text();
  assert.equal(openCheckpoint(latest, parseVerifierKey(vkey)).size, 9); // validly signed by the log key

  const forked = await cli([...verify, '--url', server.url], { env });
  assert.equal(forked.status, 1);
  assert.match(forked.stderr, /verification FAILED: .*\[client\.fork_detected\]/);
  assert.ok(forked.stderr.includes(trusted), 'the trusted checkpoint is printed verbatim');
  assert.ok(forked.stderr.includes(latest), 'the forked checkpoint is printed verbatim');
  assert.equal(readFileSync(state, 'utf8'), trustedState, 'the state file is left as it was');

  // The JSON report carries the same evidence; a rerun keeps failing (nothing was trusted anew).
  const json = await cli([...verify, '--url', server.url, '--json'], { env });
  assert.equal(json.status, 1);
  const report = JSON.parse(json.stdout) as {
    ok: boolean;
    code: string;
    details: { trusted: string; latest: string };
  };
  assert.deepEqual(
    [report.ok, report.code, report.details.trusted, report.details.latest],
    [false, 'client.fork_detected', trusted, latest],
  );
});
