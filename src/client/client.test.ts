// The typed client against a real server (real data directory, HTTP on a socket): every route,
// snake_case → camelCase, and coded errors carrying the server's problem+json `code`. Proofs and
// receipts the client returns are checked with the core verifiers (RFC 9162, C2SP tlog-proof).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { fromHex, utf8 } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyConsistency, verifyInclusion } from '../core/proof.js';
import { verifyReceipt } from '../core/receipt.js';
import { decodeBundle } from '../core/tile.js';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import { initDir, scratch, serveDir, type TestServer, waitForIndex } from './test-support.js';

const { root, cleanup } = scratch('client');
let server: TestServer;
let admin: IndelibleClient;

before(async () => {
  const dir = `${root}/data`;
  server = await serveDir(dir, await initDir(dir));
  admin = new IndelibleClient({ url: server.url, apiKey: server.adminKey });
});
after(async () => {
  await server.stop();
  cleanup();
});

const event = (n: number) => ({
  action: 'doc.read',
  actor: { id: `u${n % 3}` },
  target: { id: `d${n}` },
  metadata: { n },
});

describe('IndelibleClient', () => {
  test('logs and keys: create, list, get; keys are scoped and revocable', async () => {
    const created = await admin.createLog('acme');
    assert.equal(created.name, 'acme');
    assert.match(created.verifierKey, /^[^+]+\+[0-9a-f]{8}\+/);
    const logs = await admin.listLogs();
    assert.ok(logs.some((l) => l.name === 'acme' && l.verifierKey === created.verifierKey));
    const info = await admin.getLog('acme');
    assert.equal(info.origin, created.origin);
    assert.equal(typeof info.treeSize, 'number');
    assert.equal(info.system, false);

    const key = await admin.createKey({ role: 'reader', logs: ['acme'], description: 'sdk test' });
    assert.equal(key.role, 'reader');
    assert.deepEqual(key.logs, ['acme']);
    const listed = await admin.listKeys();
    const mine = listed.find((k) => k.id === key.id);
    assert.equal(mine?.description, 'sdk test');
    assert.equal(mine?.revokedAt, null);
    const reader = new IndelibleClient({ url: server.url, apiKey: key.key });
    await reader.query('acme');
    await admin.revokeKey(key.id);
    await assert.rejects(
      reader.query('acme'),
      (e: ClientError) => e.code === 'auth.unauthenticated' && e.status === 401,
    );
  });

  test('append one event and a batch; an Idempotency-Key replay returns the original entries', async () => {
    const one = await admin.append('acme', event(0));
    assert.equal(one.entries.length, 1);
    assert.equal(one.replayed, false);
    const batch = [event(1), event(2), event(3)];
    const first = await admin.append('acme', batch, { idempotencyKey: 'k-1' });
    const again = await admin.append('acme', batch, { idempotencyKey: 'k-1' });
    assert.deepEqual(again.entries, first.entries);
    assert.equal(again.replayed, true);
    assert.deepEqual(
      first.entries.map((e) => e.index),
      [1, 2, 3],
    );
    // The same key with another body is the server's 409 idempotency.mismatch.
    await assert.rejects(admin.append('acme', [event(9)], { idempotencyKey: 'k-1' }), (e: ClientError) => {
      return (
        e.code === 'idempotency.mismatch' && e.status === 409 && e.problem?.code === 'idempotency.mismatch'
      );
    });
  });

  test('waitCheckpoint returns a checkpoint and receipts that verify offline', async () => {
    const { verifierKey } = await admin.key('acme');
    const r = await admin.append('acme', [event(4), event(5)], { waitCheckpoint: true });
    assert.ok(r.checkpoint !== undefined);
    const verifier = parseVerifierKey(verifierKey);
    for (const e of r.entries) {
      const entry = await admin.entry('acme', e.index);
      assert.equal(entry.leafHash, e.leafHash);
      assert.ok(e.receipt !== undefined);
      const v = verifyReceipt(e.receipt, verifier, { record: utf8(entry.record) });
      assert.equal(v.index, e.index);
    }
  });

  test('reads: query pages, queryAll, entry, checkpoint, tiles, proofs, receipt', async () => {
    const { verifierKey, origin } = await admin.key('acme');
    const verifier = parseVerifierKey(verifierKey);
    await waitForIndex(admin, 'acme');
    const page = await admin.query('acme', { actor: 'u1', limit: 1 });
    assert.equal(page.events.length, 1);
    assert.equal(page.events[0]!.event.actor.id, 'u1');
    const all = [];
    for await (const hit of admin.queryAll('acme', { limit: 2 })) all.push(hit.index);
    assert.deepEqual(all, [0, 1, 2, 3, 4, 5]);

    const cp = openCheckpoint(await admin.checkpoint('acme'), verifier, origin);
    assert.ok(cp.size >= 6);
    const entry = await admin.entry('acme', 2);
    assert.equal(entry.leafHash, Buffer.from(hashLeaf(utf8(entry.record))).toString('hex'));
    const inc = await admin.inclusionProof('acme', 2, cp.size);
    assert.equal(inc.treeSize, cp.size);
    verifyInclusion(
      2,
      cp.size,
      fromHex(entry.leafHash)!,
      inc.hashes.map((h) => fromHex(h)!),
      cp.rootHash,
    );
    const con = await admin.consistencyProof('acme', 1, cp.size);
    const tile0 = await admin.tile('acme', `tile/0/000.p/${cp.size}`);
    assert.equal(tile0.length, cp.size * 32);
    verifyConsistency(
      1,
      cp.size,
      con.hashes.map((h) => fromHex(h)!),
      tile0.subarray(0, 32),
      cp.rootHash,
    );
    const bundle = decodeBundle(await admin.tile('acme', `entries/000.p/${cp.size}`), cp.size);
    assert.equal(Buffer.from(bundle[2]!).toString('utf8'), entry.record);
    verifyReceipt(await admin.receipt('acme', 2), verifier, fromHex(entry.leafHash)!, origin);
  });

  test('export streams every entry, then the checkpoint line', async () => {
    const lines = [];
    for await (const line of admin.export('acme', { from: 1, to: 4 })) lines.push(line);
    const end = lines.at(-1);
    assert.equal(end?.kind, 'checkpoint');
    assert.deepEqual(
      lines.slice(0, -1).map((l) => (l.kind === 'entry' ? l.index : -1)),
      [1, 2, 3],
    );
    if (end?.kind === 'checkpoint') assert.equal(end.count, 3);
  });

  test('errors carry the server code, or a client code when there is no answer', async () => {
    await assert.rejects(
      admin.getLog('nope'),
      (e: ClientError) => e.code === 'log.not_found' && e.status === 404,
    );
    await assert.rejects(admin.append('acme', { action: 'x' }), (e: ClientError) => {
      return e.code === 'event.missing_field' && e.problem?.field === 'actor';
    });
    await assert.rejects(
      admin.tile('acme', '../../etc'),
      (e: ClientError) => e.code === 'client.invalid_argument',
    );
    const anonymous = new IndelibleClient({ url: server.url });
    await assert.rejects(anonymous.query('acme'), (e: ClientError) => e.code === 'auth.unauthenticated');
    // Public reads need no key.
    assert.match(await anonymous.checkpoint('acme'), /\n\n/);

    // A port nothing listens on: client.network.
    const closed = await freePort();
    const dead = new IndelibleClient({ url: `http://127.0.0.1:${closed}`, apiKey: 'x' });
    await assert.rejects(dead.listLogs(), (e: ClientError) => e.code === 'client.network');
    // A server that accepts and never answers: client.timeout.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const slow = new IndelibleClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 200 });
    await assert.rejects(slow.listLogs(), (e: ClientError) => e.code === 'client.timeout');
    silent.close();
    // A 2xx whose body is not what the API promises: client.bad_response.
    const liar = new IndelibleClient({
      url: 'http://example.invalid',
      fetch: async () => new Response('{"entries":[{"index":-1}]}', { status: 201 }),
    });
    await assert.rejects(liar.append('acme', event(0)), (e: ClientError) => e.code === 'client.bad_response');
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
