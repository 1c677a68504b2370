/**
 * Exactly-once ingest across real crashes: clients send batches without event ids, each with its own
 * `Idempotency-Key`, while the test SIGKILLs `indelible serve` at random moments. After each restart
 * every request that got no answer is retried with the same key and body until it succeeds, and a
 * few answered ones are retried too. In the end the log must hold every event exactly once, and each
 * retry of an answered request must return the entries of its first answer.
 * Real binary, real socket, real data directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli, initWithAdminKey, type ServedDir, serve } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-idem-crash-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ROUNDS = Number(process.env.IDEMPOTENCY_CRASH_ROUNDS ?? 6);
const CLIENTS = 8;

interface Sent {
  key: string;
  body: string;
  events: number;
  /** The 201 body of the first answer, once there is one. */
  answer?: string;
}

function kill(server: ServedDir): Promise<void> {
  return new Promise((resolve) => {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) return resolve();
    server.proc.once('exit', () => resolve());
    server.proc.kill('SIGKILL');
  });
}

test('keyed batches sent through random SIGKILLs are each appended exactly once', async () => {
  const dir = join(root, 'data');
  const admin = await initWithAdminKey(dir);
  let server = await serve(dir);
  const api = (path: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${init.key ?? admin}`,
        'content-type': 'application/json',
        ...(init.headers as Record<string, string>),
      },
    });
  assert.equal(
    (await api('/v1/logs', { method: 'POST', body: JSON.stringify({ name: 'acme' }) })).status,
    201,
  );
  const keyRes = await api('/v1/keys', {
    method: 'POST',
    body: JSON.stringify({ role: 'writer', logs: ['acme'] }),
  });
  const writer = ((await keyRes.json()) as { key: string }).key;

  const sent: Sent[] = [];
  /** True once `s` got a 201; a retry's entries must be its first answer's. */
  const post = async (s: Sent): Promise<boolean> => {
    let text: string;
    let replayed: string | null;
    try {
      const res = await api('/v1/logs/acme/events', {
        method: 'POST',
        key: writer,
        body: s.body,
        headers: { 'idempotency-key': s.key },
      });
      text = await res.text();
      replayed = res.headers.get('idempotent-replayed');
      if (res.status !== 201) return false;
    } catch {
      return false; // the server died under the request: no answer
    }
    if (s.answer === undefined) s.answer = text;
    else {
      assert.deepEqual(
        JSON.parse(text).entries,
        JSON.parse(s.answer).entries,
        `a retry of ${s.key} appended anew`,
      );
      assert.equal(replayed, 'true', `a retry of ${s.key} is marked replayed`);
    }
    return true;
  };

  try {
    for (let round = 0; round < ROUNDS; round++) {
      let stop = false;
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          const key = `r${round}-c${c}-${i}`;
          const n = 1 + ((round + c + i) % 3);
          const events = Array.from({ length: n }, (_, e) => ({
            action: 'document.update',
            actor: { id: `user-${c}` },
            metadata: { request: key, part: e },
          }));
          const s: Sent = { key, body: JSON.stringify({ events }), events: n };
          sent.push(s);
          if (!(await post(s))) return; // the server is gone; the rest waits for the restart
        }
      });
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      stop = true;
      await kill(server);
      await Promise.all(clients);
      server = await serve(dir);
      // Every unanswered request again, same key and body, until it is answered; some answered too.
      for (const s of sent) {
        if (s.answer === undefined || Math.random() < 0.05) {
          for (let attempt = 0; !(await post(s)); attempt++) {
            assert.ok(attempt < 50, `request ${s.key} never succeeded`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    }

    const expected = sent.reduce((n, s) => n + s.events, 0);
    const logs = (await (await api('/v1/logs')).json()) as { logs: Array<{ name: string; size: number }> };
    const size = logs.logs.find((l) => l.name === 'acme')?.size;
    assert.equal(size, expected, `${sent.length} requests with ${expected} events in all`);
    // Each request's entries are distinct, and together they are the whole log.
    const indices = new Set<number>();
    for (const s of sent) {
      for (const e of JSON.parse(s.answer!).entries as Array<{ index: number }>) indices.add(e.index);
    }
    assert.equal(indices.size, expected);
    await server.stop();
  } finally {
    await kill(server);
  }
  const verify = await cli(['verify', '--data', dir]);
  assert.equal(verify.status, 0, verify.stderr);
});
