// Remote verification against real servers: a full walk, incremental runs from a state file, every
// kind of tampering with served data (a record, a tile, the checkpoint), a stale server, and the
// insider fork — two data directories with one log key and different histories — which must fail
// with both checkpoints and the proof as offline-checkable evidence.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { fromHex } from '../core/encoding.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyConsistency } from '../core/proof.js';
import { appendRetrying } from '../log/test-helpers.js';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import type { FetchLike } from './http.js';
import { verifyRemoteLog } from './remote-verifier.js';
import { loadTrustedState, saveTrustedState } from './state-file.js';
import { copyDir, initDir, scratch, serveDir, type TestServer } from './test-support.js';

const { root, cleanup } = scratch('remote');
let a: TestServer;
let vkey: string;
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => {});
  cleanup();
});

const events = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({
    action: `${tag}.write`,
    actor: { id: `u${i % 9}` },
    metadata: { i },
  }));

async function append(s: TestServer, log: string, n: number, tag: string) {
  const c = new IndelibleClient({ url: s.url, apiKey: s.adminKey });
  for (let done = 0; done < n; done += 5000) {
    await c.append(log, events(Math.min(5000, n - done), tag), { waitCheckpoint: true });
  }
}

/** A fetch that rewrites the bodies of matching answers. */
function tampering(match: RegExp, edit: (body: Uint8Array) => Uint8Array): FetchLike {
  return async (url, init) => {
    const res = await fetch(url, init);
    if (!match.test(new URL(url).pathname)) return res;
    const body = edit(new Uint8Array(await res.arrayBuffer()));
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

before(async () => {
  const dir = join(root, 'a');
  a = await serveDir(dir, await initDir(dir));
  servers.push(a);
  vkey = (await new IndelibleClient({ url: a.url, apiKey: a.adminKey }).createLog('acme')).verifierKey;
  await append(a, 'acme', 600, 'first');
});

describe('verifyRemoteLog', () => {
  test('a full walk, then incremental runs from the state file', async () => {
    const file = join(root, 'state.json');
    const progress: number[] = [];
    const first = await verifyRemoteLog({
      url: a.url,
      apiKey: a.adminKey,
      log: 'acme',
      verifierKey: vkey,
      state: await loadTrustedState(file),
      onProgress: (p) => progress.push(p.done),
    });
    assert.equal(first.checkpoint.size, 600);
    assert.equal(first.verifiedEntries, 600);
    assert.deepEqual(progress, [256, 512, 600]);
    await saveTrustedState(file, first.state);

    await append(a, 'acme', 100, 'second');
    const second = await verifyRemoteLog({
      url: a.url,
      apiKey: a.adminKey,
      log: 'acme',
      verifierKey: vkey,
      state: await loadTrustedState(file),
    });
    assert.equal(second.checkpoint.size, 700);
    assert.equal(second.verifiedEntries, 100);
    await saveTrustedState(file, second.state);
    const third = await verifyRemoteLog({
      url: a.url,
      apiKey: a.adminKey,
      log: 'acme',
      verifierKey: vkey,
      state: second.state,
    });
    assert.equal(third.verifiedEntries, 0);
    assert.equal(third.checkpoint.note, second.checkpoint.note);
  });

  test('checkpoint-only runs need no key; a wrong key or a forged signature fails', async () => {
    const r = await verifyRemoteLog({ url: a.url, log: 'acme', verifierKey: vkey, entries: false });
    assert.equal(r.verifiedEntries, 0);
    assert.equal(r.state.walked, undefined);
    const other = (await new IndelibleClient({ url: a.url, apiKey: a.adminKey }).createLog('other'))
      .verifierKey;
    await assert.rejects(
      verifyRemoteLog({ url: a.url, log: 'acme', verifierKey: other, entries: false }),
      (e: ClientError) => {
        return e.code === 'client.bad_checkpoint' && e.details?.reason === 'checkpoint.unverified';
      },
    );
    const forged = tampering(/\/checkpoint$/, (b) => {
      const text = new TextDecoder().decode(b);
      // Claim a different tree size under the real signature.
      return new TextEncoder().encode(text.replace(/\n\d+\n/, '\n1\n'));
    });
    await assert.rejects(
      verifyRemoteLog({ url: a.url, fetch: forged, log: 'acme', verifierKey: vkey, entries: false }),
      (e: ClientError) => {
        return e.code === 'client.bad_checkpoint' && e.details?.reason === 'checkpoint.bad_signature';
      },
    );
  });

  test('a changed record, entry bundle or hash tile is client.inconsistent, naming it', async () => {
    const cases: Array<[string, FetchLike, (e: ClientError) => boolean]> = [
      [
        'record',
        tampering(/\/tile\/entries\/001$/, (b) =>
          new TextEncoder().encode(new TextDecoder().decode(b).replace('"i":259}', '"i":258}')),
        ),
        (e) => e.details?.index === 259,
      ],
      [
        'record, without tiles: the chain breaks at the next record',
        tampering(/\/tile\/entries\/001$/, (b) =>
          new TextEncoder().encode(new TextDecoder().decode(b).replace('"i":259}', '"i":258}')),
        ),
        (e) => e.details?.index === 260,
      ],
      [
        'bundle',
        tampering(/\/tile\/entries\/000$/, (b) => b.subarray(0, b.length - 1)),
        (e) => e.details?.bundle === 'tile/entries/000',
      ],
      [
        'tile',
        tampering(/\/tile\/0\/001$/, (b) => {
          const c = b.slice();
          c[100] = c[100]! ^ 1;
          return c;
        }),
        (e) => e.details?.tile === 'tile/0/001' && e.details?.index === 256 + 3,
      ],
      [
        // Named as a short tile, not as its last entry's mismatching leaf hash.
        'tile one hash short',
        tampering(/\/tile\/0\/000$/, (b) => b.subarray(0, b.length - 32)),
        (e) =>
          e.details?.tile === 'tile/0/000' &&
          e.details?.index === undefined &&
          e.message === 'hash tile tile/0/000 is 8160 bytes, not 8192',
      ],
    ];
    for (const [name, fetch, where] of cases) {
      const tiles = !name.includes('without tiles');
      await assert.rejects(
        verifyRemoteLog({ url: a.url, apiKey: a.adminKey, fetch, log: 'acme', verifierKey: vkey, tiles }),
        (e: ClientError) => e.code === 'client.inconsistent' && where(e),
        name,
      );
    }
  });

  test('a server serving an older checkpoint (a lagging cache) is stale, not a fork', async () => {
    const c = new IndelibleClient({ url: a.url, apiKey: a.adminKey });
    const old = await c.checkpoint('acme');
    const trusted = await verifyRemoteLog({ url: a.url, apiKey: a.adminKey, log: 'acme', verifierKey: vkey });
    await append(a, 'acme', 10, 'more');
    const newer = await verifyRemoteLog({
      url: a.url,
      apiKey: a.adminKey,
      log: 'acme',
      verifierKey: vkey,
      state: trusted.state,
    });
    const lagging: FetchLike = async (url, init) =>
      new URL(url).pathname.endsWith('/checkpoint') ? new Response(old) : fetch(url, init);
    const r = await verifyRemoteLog({
      url: a.url,
      fetch: lagging,
      log: 'acme',
      verifierKey: vkey,
      state: newer.state,
    });
    assert.equal(r.stale, true);
    assert.equal(r.checkpoint.note, newer.checkpoint.note);
  });

  test('past 65,536 entries the level-1 hash tiles are recomputed and compared too', async () => {
    const c = new IndelibleClient({ url: a.url, apiKey: a.adminKey });
    const big = (await c.createLog('big')).verifierKey;
    const engine = a.data.engine;
    // Faster than the search index: pushed back and retried, as a client does on 503.
    for (let done = 0; done < 66_000; done += 11_000)
      await appendRetrying(engine, 'big', events(11_000, 'bulk'));
    await engine.log('big').checkpointCovering(66_000);
    const ok = await verifyRemoteLog({ client: c, log: 'big', verifierKey: big, concurrency: 8 });
    assert.equal(ok.verifiedEntries, 66_000);
    const flipped = tampering(/\/tile\/1\/000$/, (b) => {
      const t = b.slice();
      t[32 * 200] = t[32 * 200]! ^ 1;
      return t;
    });
    await assert.rejects(
      verifyRemoteLog({
        url: a.url,
        apiKey: a.adminKey,
        fetch: flipped,
        log: 'big',
        verifierKey: big,
        concurrency: 8,
      }),
      (e: ClientError) => e.code === 'client.inconsistent' && e.details?.tile === 'tile/1/000',
    );
  });

  test('an insider fork: same log key, different history → client.fork_detected with both checkpoints', async () => {
    // Copy A's data directory while it is stopped: B has A's identity, keys and log signing key.
    const dirA = a.dir;
    const dirB = join(root, 'b');
    await a.stop();
    servers.splice(servers.indexOf(a), 1);
    copyDir(dirA, dirB);
    a = await serveDir(dirA, a.adminKey);
    const b = await serveDir(dirB, a.adminKey);
    servers.push(a, b);
    await append(a, 'acme', 3, 'honest');
    await append(b, 'acme', 7, 'rewritten');

    const trusted = await verifyRemoteLog({ url: a.url, apiKey: a.adminKey, log: 'acme', verifierKey: vkey });
    const served = await new IndelibleClient({ url: b.url }).checkpoint('acme');
    let caught: ClientError | undefined;
    try {
      await verifyRemoteLog({
        url: b.url,
        apiKey: a.adminKey,
        log: 'acme',
        verifierKey: vkey,
        state: trusted.state,
      });
    } catch (e) {
      caught = e as ClientError;
    }
    assert.equal(caught?.code, 'client.fork_detected');
    const d = caught!.details!;
    assert.equal(d.trusted, trusted.checkpoint.note);
    assert.equal(d.latest, served);
    // The evidence verifies offline: both notes are signed by the log's key, and the proof from
    // the smaller tree to the larger one does not hold.
    const verifier = parseVerifierKey(vkey);
    const cpA = openCheckpoint(d.trusted as string, verifier);
    const cpB = openCheckpoint(d.latest as string, verifier);
    assert.ok(cpB.size > cpA.size);
    assert.ok(!bytesEqual(cpA.rootHash, cpB.rootHash));
    const proof = (d.proof as string[]).map((h) => fromHex(h)!);
    assert.throws(() => verifyConsistency(cpA.size, cpB.size, proof, cpA.rootHash, cpB.rootHash), {
      code: 'proof.root_mismatch',
    });
    // B verified on its own (trust on first use) is self-consistent: only the comparison exposes it.
    await verifyRemoteLog({ url: b.url, apiKey: a.adminKey, log: 'acme', verifierKey: vkey });
  });
});
