// End-to-end retention (issue 7) with the real binary: `indelible serve` prunes a log once its
// retention.max has passed (checked every second here), serves 410 below the minimum index and the
// signed statement at /pruning, records the decision in `_audit`, and `indelible verify --data`
// accepts the pruned directory afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseVerifierKey } from '../core/note.js';
import { openPruneStatement } from '../core/prune-statement.js';
import { cli, initWithAdminKey, serve, until } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-retention-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('serve prunes after retention.max, audits it, and the directory still verifies', async () => {
  const dir = join(root, 'data');
  const admin = await initWithAdminKey(dir);
  const server = await serve(dir, { retention: { intervalMs: 1000 } });
  try {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...init.headers },
      });
    const created = (await (await api('/v1/logs', { method: 'POST', body: '{"name":"acme"}' })).json()) as {
      verifier_key: string;
      origin: string;
    };
    const policy = await api('/v1/logs/acme/policy', {
      method: 'PUT',
      body: JSON.stringify({ retention: { min: '1s', max: '1s' } }),
    });
    assert.equal(policy.status, 200, await policy.text());
    // After the policy: a lowered retention.min binds only entries received after the change.
    const events = Array.from({ length: 300 }, (_, i) => ({ action: 'file.read', actor: { id: `u${i}` } }));
    const appended = await api('/v1/logs/acme/events', { method: 'POST', body: JSON.stringify({ events }) });
    assert.equal(appended.status, 201);

    // Within a few runs the first full bundle (entries 0..255) is pruned; 256..299 stay.
    const pruning = await until(async () => {
      const body = (await (await fetch(`${server.url}/v1/logs/acme/pruning`)).json()) as {
        minimum_index: number;
        statement: string | null;
      };
      return body.minimum_index > 0 ? body : undefined;
    });
    assert.equal(pruning.minimum_index, 256);
    const st = openPruneStatement(pruning.statement!, parseVerifierKey(created.verifier_key), created.origin);
    assert.equal(st.minimumIndex, 256);
    assert.equal((await api('/v1/logs/acme/entries/255')).status, 410);
    assert.equal((await api('/v1/logs/acme/entries/256')).status, 200);

    const audit = await until(async () => {
      const page = (await (await api('/v1/logs/_audit/events?action=retention.prune')).json()) as {
        events: Array<{ event: { target: { id: string }; metadata: { statement: string } } }>;
      };
      return page.events[0];
    });
    assert.equal(audit.event.target.id, 'acme');
    assert.equal(audit.event.metadata.statement, pruning.statement);
  } finally {
    await server.stop();
  }
  const verified = await cli(['verify', '--data', dir]);
  assert.equal(verified.status, 0, verified.stderr);
  assert.match(
    verified.stdout,
    /acme: OK, 301 entries, .* \(pruned below 256 under a valid prune statement\)/,
  );
});
