// A pruned log over HTTP (issue 7, C2SP tlog-tiles "Pruning"): entries and bundles below the minimum
// index answer 410 `log.pruned`, hash tiles and proofs stay, `GET …/pruning` serves the signed
// statement, queries skip the pruned prefix, and a remote verifier holding only the pinned key
// accepts the prefix — and rejects a server that lies about it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyRemoteLog } from '../client/remote-verifier.js';
import { openCheckpoint } from '../core/checkpoint.js';
import { fromHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { generateSignerKey, parseSignerKey, parseVerifierKey } from '../core/note.js';
import { verifyInclusion } from '../core/proof.js';
import { openPruneStatement, signPruneStatement } from '../core/prune-statement.js';
import { verifyReceipt } from '../core/receipt.js';
import { sampleEvent } from '../log/test-helpers.js';
import { pruneLog } from '../retention/pruner.js';
import { type Harness, startHarness } from './test-harness.js';

let h: Harness;
let url: string;
let vkey: string;
let reader: string;
/** Entry 5's record, read before the prune (as a client that kept it would have it). */
let record5: string;

before(async () => {
  h = await startHarness();
  await h.createLog('acme');
  // Set before the entries arrive: a lowered retention.min binds only entries received after it.
  const put = await h.req({
    method: 'PUT',
    url: '/v1/logs/acme/policy',
    key: h.admin,
    payload: { retention: { min: '1s', max: '2s' } },
  });
  assert.equal(put.statusCode, 200, put.body);
  await h.engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => sampleEvent(i, 200)),
  );
  await h.engine.log('acme').integrate();
  reader = h.key('reader', ['acme']);
  record5 = (await h.req({ method: 'GET', url: '/v1/logs/acme/entries/5', key: reader })).json().record;
  // The pruner's clock is a minute ahead: every entry is past retention.max.
  const report = await pruneLog({ engine: h.engine, log: 'acme', clock: { now: () => Date.now() + 60_000 } });
  assert.equal(report.minimumIndex, 512);
  await h.engine.log('acme').integrate();
  vkey = h.engine.info('acme').verifierKey;
  url = await h.app.listen({ host: '127.0.0.1', port: 0 });
});

after(() => h.close());

test('pruned entries and bundles are gone (410), hash tiles and proofs stay', async () => {
  const entry = await h.req({ method: 'GET', url: '/v1/logs/acme/entries/511', key: reader });
  assert.equal(entry.statusCode, 410);
  assert.match(String(entry.headers['content-type']), /^application\/problem\+json/);
  assert.equal(entry.json().code, 'log.pruned');
  assert.equal(
    (await h.req({ method: 'GET', url: '/v1/logs/acme/entries/512', key: reader })).statusCode,
    200,
  );
  const bundle = await h.req({ method: 'GET', url: '/v1/logs/acme/tile/entries/001', key: reader });
  assert.equal(bundle.statusCode, 410);
  assert.equal((await h.req({ method: 'GET', url: '/v1/logs/acme/tile/0/001' })).statusCode, 200);

  const cpText = (await h.req({ method: 'GET', url: '/v1/logs/acme/checkpoint' })).body;
  const cp = openCheckpoint(cpText, parseVerifierKey(vkey));
  const proof = await h.req({
    method: 'GET',
    url: `/v1/logs/acme/proofs/inclusion?index=520&tree_size=${cp.size}`,
  });
  const record = (await h.req({ method: 'GET', url: '/v1/logs/acme/entries/520', key: reader })).json()
    .record;
  verifyInclusion(
    520,
    cp.size,
    hashLeaf(Buffer.from(record, 'utf8')),
    proof.json().hashes.map((x: string) => fromHex(x)!),
    cp.rootHash,
  );

  const page = await h.req({ method: 'GET', url: '/v1/logs/acme/events?limit=5', key: reader });
  assert.equal(page.json().events[0].index, 512);

  // A receipt for a pruned entry still proves a record kept from before the prune (hashes only).
  const receipt = await h.req({ method: 'GET', url: '/v1/logs/acme/receipts/5', key: reader });
  assert.equal(receipt.statusCode, 200, receipt.body);
  const verified = verifyReceipt(receipt.body, parseVerifierKey(vkey), {
    record: Buffer.from(record5, 'utf8'),
  });
  assert.equal(verified.index, 5);
  assert.throws(() =>
    verifyReceipt(receipt.body, parseVerifierKey(vkey), { record: Buffer.from(`${record5} `, 'utf8') }),
  );
});

test('an export of a pruned log starts at the minimum index and ends with its checkpoint', async () => {
  const auditor = h.key('auditor', ['acme']);
  const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export', key: auditor });
  assert.equal(res.statusCode, 200);
  const lines = res.body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
  assert.equal(lines[0].index, 512);
  const last = lines[lines.length - 1];
  assert.equal(typeof last.checkpoint, 'string', JSON.stringify(last));
  assert.equal(last.count, lines.length - 1);
  assert.equal(lines[lines.length - 2].index, last.tree_size - 1);
});

test('GET /pruning serves the statement, public, signed by the log key', async () => {
  const res = await h.req({ method: 'GET', url: '/v1/logs/acme/pruning' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.minimum_index, 512);
  assert.equal(body.statement_index, 600);
  const st = openPruneStatement(body.statement, parseVerifierKey(vkey), h.engine.info('acme').origin);
  assert.equal(st.minimumIndex, 512);
  assert.equal(st.treeSize, 600);
  // A log never pruned.
  await h.createLog('fresh');
  const fresh = (await h.req({ method: 'GET', url: '/v1/logs/fresh/pruning' })).json();
  assert.deepEqual(fresh, { minimum_index: 0, statement_index: null, statement: null });
  assert.equal((await h.req({ method: 'GET', url: '/v1/logs/nope/pruning' })).statusCode, 404);
});

test('a remote verifier accepts the pruned prefix under the statement', async () => {
  const result = await verifyRemoteLog({ url, apiKey: reader, log: 'acme', verifierKey: vkey });
  assert.equal(result.checkpoint.size, 601);
});

/** A fetch that rewrites the JSON of `/pruning` answers. */
function lyingAbout(edit: (body: Record<string, unknown>) => Record<string, unknown>) {
  return async (u: string, init: RequestInit) => {
    const res = await fetch(u, init);
    if (!new URL(u).pathname.endsWith('/pruning')) return res;
    return new Response(JSON.stringify(edit((await res.json()) as Record<string, unknown>)), {
      status: 200,
      headers: res.headers,
    });
  };
}

test('a remote verifier rejects a forged, mismatched or misplaced statement', async () => {
  const run = (edit: (b: Record<string, unknown>) => Record<string, unknown>) =>
    verifyRemoteLog({ url, apiKey: reader, log: 'acme', verifierKey: vkey, fetch: lyingAbout(edit) });
  const inconsistent = { code: 'client.inconsistent' };
  // Claims more than the statement says.
  await assert.rejects(
    run((b) => ({ ...b, minimum_index: 256 })),
    inconsistent,
  );
  // Signed by another key.
  const other = parseSignerKey(generateSignerKey('x').signerKey);
  const forged = signPruneStatement(
    {
      origin: h.engine.info('acme').origin,
      minimumIndex: 512,
      treeSize: 600,
      rootHash: new Uint8Array(32),
      receivedBefore: '2026-01-01T00:00:00Z',
    },
    other,
  );
  await assert.rejects(
    run((b) => ({ ...b, statement: forged })),
    inconsistent,
  );
  // Names a record that does not hold the statement.
  await assert.rejects(
    run((b) => ({ ...b, statement_index: 599 })),
    inconsistent,
  );
  // Denies the prune: the pruned bundles are then missing.
  await assert.rejects(run(() => ({ minimum_index: 0, statement_index: null, statement: null })));
});
