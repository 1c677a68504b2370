/**
 * The verifiable read path: checkpoint, C2SP tlog-tiles (exact bytes, caching), inclusion and
 * consistency proofs, receipts, and exports that verify offline. Every check recomputes from the
 * served bytes with node:crypto (leaf hashes, tile contents) or the vector-tested core verifiers
 * (RFC 9162 proofs, C2SP notes) — never from the server's own claims.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Checkpoint, openCheckpoint } from '../core/checkpoint.js';
import { fromHex } from '../core/encoding.js';
import { type NoteVerifier, parseVerifierKey } from '../core/note.js';
import { verifyConsistency, verifyInclusion } from '../core/proof.js';
import { verifyReceipt } from '../core/receipt.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { LogStorage, StorageDriver } from '../storage/types.js';
import { type Harness, leafHashOf, sampleEvent, splitBundle, startHarness } from './test-harness.js';

const N = 300; // more than one full tile and bundle (256), plus a partial one

describe('tlog read path', () => {
  let h: Harness;
  let reader: string;
  let auditor: string;
  let verifier: NoteVerifier;
  let origin: string;
  let leaves: string[];

  const checkpoint = async (): Promise<Checkpoint> =>
    openCheckpoint((await h.req({ method: 'GET', url: '/v1/logs/acme/checkpoint' })).body, verifier, origin);

  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    reader = h.key('reader', ['acme']);
    auditor = h.key('auditor', ['acme']);
    const key = (await h.req({ method: 'GET', url: '/v1/logs/acme/key' })).json();
    verifier = parseVerifierKey(key.verifier_key);
    origin = key.origin;
    leaves = [];
    for (let i = 0; i < N; i += 50) {
      const events = Array.from({ length: 50 }, (_, j) =>
        sampleEvent(i + j, { actor: { id: (i + j) % 3 === 0 ? 'alice' : 'bob' } }),
      );
      const res = await h.req({
        method: 'POST',
        url: '/v1/logs/acme/events',
        key: h.admin,
        payload: { events },
      });
      for (const e of res.json().entries) leaves.push(e.leaf_hash);
    }
    await h.engine.log('acme').checkpointCovering(N);
  });
  after(() => h.close());

  it('serves the checkpoint as a signed note, short-lived', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/checkpoint' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(String(res.headers['cache-control']), /max-age=1\b/);
    const cp = openCheckpoint(res.body, verifier, origin);
    assert.equal(cp.size, N);
  });

  it('serves hash tiles byte for byte: the level-0 tiles are the leaf hashes', async () => {
    const full = await h.req({ method: 'GET', url: '/v1/logs/acme/tile/0/000' });
    assert.equal(full.statusCode, 200);
    assert.equal(full.headers['content-type'], 'application/octet-stream');
    assert.equal(full.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(full.rawPayload.toString('hex'), leaves.slice(0, 256).join(''));
    const partial = await h.req({ method: 'GET', url: `/v1/logs/acme/tile/0/001.p/${N - 256}` });
    assert.equal(partial.statusCode, 200);
    assert.match(String(partial.headers['cache-control']), /max-age=1\b/);
    assert.equal(partial.rawPayload.toString('hex'), leaves.slice(256).join(''));
    // A narrower partial tile is a prefix of the current one.
    const narrow = await h.req({ method: 'GET', url: '/v1/logs/acme/tile/0/001.p/3' });
    assert.equal(narrow.rawPayload.toString('hex'), leaves.slice(256, 259).join(''));
    // Level 1 holds the root of the first 256 leaves: its first hash is the root of tile 0.
    const level1 = await h.req({ method: 'GET', url: '/v1/logs/acme/tile/1/000.p/1' });
    assert.equal(level1.statusCode, 200);
    assert.equal(level1.rawPayload.length, 32);
  });

  it('serves entry bundles (reader) whose entries hash to the leaves', async () => {
    assert.equal((await h.req({ method: 'GET', url: '/v1/logs/acme/tile/entries/000' })).statusCode, 401);
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/tile/entries/000', key: reader });
    assert.equal(res.statusCode, 200);
    // Immutable, but never for shared caches: the response needed a key (RFC 9111 §3.5).
    assert.equal(res.headers['cache-control'], 'private, max-age=31536000, immutable');
    const records = splitBundle(res.rawPayload);
    assert.equal(records.length, 256);
    for (const [i, r] of records.entries()) assert.equal(leafHashOf(r), leaves[i]);
    const partial = await h.req({
      method: 'GET',
      url: `/v1/logs/acme/tile/entries/001.p/${N - 256}`,
      key: reader,
    });
    for (const [i, r] of splitBundle(partial.rawPayload).entries())
      assert.equal(leafHashOf(r), leaves[256 + i]);
    assert.ok(
      h.accesses.some((a) => a.kind === 'read' && a.route === '/v1/logs/:log/tile/*' && a.count === 256),
    );
  });

  it('answers inclusion proofs that verify against the signed root', async () => {
    const cp = await checkpoint();
    for (const index of [0, 1, 255, 256, 299]) {
      for (const treeSize of [index + 1, 257, N]) {
        if (index >= treeSize) continue;
        const res = await h.req({
          method: 'GET',
          url: `/v1/logs/acme/proofs/inclusion?index=${index}&tree_size=${treeSize}`,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
        const body = res.json();
        assert.deepEqual(Object.keys(body), ['index', 'tree_size', 'hashes']);
        assert.equal(body.index, index);
        assert.equal(body.tree_size, treeSize);
        if (treeSize === N) {
          verifyInclusion(index, N, fromHex(leaves[index]!)!, body.hashes.map(fromHex), cp.rootHash);
        }
      }
    }
  });

  it('answers consistency proofs between checkpoints', async () => {
    const old = await checkpoint();
    await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events?wait=checkpoint',
      key: h.admin,
      payload: { events: [sampleEvent(1000), sampleEvent(1001)] },
    });
    const cur = await checkpoint();
    assert.equal(cur.size, old.size + 2);
    const res = await h.req({
      method: 'GET',
      url: `/v1/logs/acme/proofs/consistency?from=${old.size}&to=${cur.size}`,
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(Object.keys(res.json()), ['from', 'to', 'hashes']);
    const { from, to, hashes } = res.json();
    assert.equal(from, old.size);
    assert.equal(to, cur.size);
    verifyConsistency(old.size, cur.size, hashes.map(fromHex), old.rootHash, cur.rootHash);
    const same = await h.req({
      method: 'GET',
      url: `/v1/logs/acme/proofs/consistency?from=${cur.size}&to=${cur.size}`,
    });
    assert.deepEqual(same.json().hashes, []);
  });

  it('serves receipts that verify offline, integrating entries not yet in a checkpoint', async () => {
    for (const index of [0, 257]) {
      const res = await h.req({ method: 'GET', url: `/v1/logs/acme/receipts/${index}`, key: reader });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.equal(verifyReceipt(res.body, verifier, fromHex(leaves[index]!)!, origin).index, index);
    }
    const fresh = (
      await h.req({ method: 'POST', url: '/v1/logs/acme/events', key: h.admin, payload: sampleEvent(2000) })
    ).json().entries[0];
    const res = await h.req({ method: 'GET', url: `/v1/logs/acme/receipts/${fresh.index}`, key: reader });
    assert.equal(res.statusCode, 200);
    assert.equal(verifyReceipt(res.body, verifier, fromHex(fresh.leaf_hash)!, origin).index, fresh.index);
  });

  /** Verifies an export as the CLI's `verify --export` is meant to (routes-export.ts documents the format). */
  function verifyExport(body: string): {
    indices: number[];
    records: Array<Record<string, unknown>>;
    size: number;
  } {
    assert.ok(body.endsWith('\n'));
    const lines = body
      .slice(0, -1)
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines.pop();
    assert.equal(typeof last.checkpoint, 'string', 'the last line is the checkpoint');
    const cp = openCheckpoint(last.checkpoint, verifier, origin);
    assert.equal(last.tree_size, cp.size);
    assert.equal(last.count, lines.length);
    const indices: number[] = [];
    const records: Array<Record<string, unknown>> = [];
    for (const l of lines) {
      assert.deepEqual(Object.keys(l).sort(), ['index', 'leaf_hash', 'proof', 'record']);
      const leaf = createHash('sha256')
        .update(Buffer.from([0]))
        .update(l.record, 'utf8')
        .digest();
      assert.equal(leaf.toString('hex'), l.leaf_hash);
      const rec = JSON.parse(l.record);
      assert.equal(rec.log, 'acme');
      assert.equal(rec.index, l.index);
      verifyInclusion(l.index, cp.size, new Uint8Array(leaf), l.proof.map(fromHex), cp.rootHash);
      indices.push(l.index);
      records.push(rec);
    }
    return { indices, records, size: cp.size };
  }

  it('exports everything as NDJSON that verifies offline', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export', key: auditor });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    const { indices, size } = verifyExport(res.body);
    const durable = h.engine.log('acme').size;
    assert.deepEqual(
      indices,
      Array.from({ length: durable }, (_, i) => i),
    );
    assert.ok(size >= durable);
    assert.ok(h.accesses.some((a) => a.kind === 'export' && a.count === durable));
  });

  it('exports an index range [from, to)', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export?from=250&to=260', key: auditor });
    assert.deepEqual(
      verifyExport(res.body).indices,
      Array.from({ length: 10 }, (_, i) => 250 + i),
    );
  });

  it('exports a filtered selection, each entry provable on its own', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export?actor=alice&to=200', key: auditor });
    assert.equal(res.statusCode, 200);
    const { indices, records } = verifyExport(res.body);
    assert.deepEqual(
      indices,
      Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === 0),
    );
    for (const r of records) assert.equal((r.event as { actor: { id: string } }).actor.id, 'alice');
    const audit = h.accesses.filter((a) => a.kind === 'export').at(-1);
    assert.deepEqual(audit?.filter, { actor: 'alice', to: 200 });
  });

  it('exports an empty selection as just the checkpoint line', async () => {
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export?actor=nobody', key: auditor });
    assert.deepEqual(verifyExport(res.body).indices, []);
  });

  it('exports while appends continue: only entries durable at the start, all covered', async () => {
    const appending = (async () => {
      for (let i = 0; i < 20; i++) {
        await h.req({
          method: 'POST',
          url: '/v1/logs/acme/events',
          key: h.admin,
          payload: sampleEvent(3000 + i),
        });
      }
    })();
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export', key: auditor });
    await appending;
    const { indices, size } = verifyExport(res.body);
    assert.deepEqual(
      indices,
      Array.from({ length: size }, (_, i) => i),
    );
  });

  it('exports an empty log as its checkpoint', async () => {
    await h.createLog('empty');
    const res = await h.req({ method: 'GET', url: '/v1/logs/empty/export', key: h.admin });
    assert.equal(res.statusCode, 200);
    const last = JSON.parse(res.body);
    assert.equal(last.tree_size, 0);
    assert.equal(last.count, 0);
  });
});

describe('an unfiltered export while an integration is in flight', () => {
  /** `t` with the members of `over` replaced, its own methods still bound to it. */
  function overriding<T extends object>(t: T, over: Partial<T>): T {
    return new Proxy(t, {
      get: (target, p) => {
        if (Object.hasOwn(over, p)) return (over as Record<PropertyKey, unknown>)[p];
        const v = Reflect.get(target, p, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }

  it('reaches the end of its checkpoint, which took later appends too', async () => {
    // Checkpoint swaps wait for `gate`, so an integration stays in flight while entries are appended.
    let gate: Promise<void> | undefined;
    const inner = createMemoryDriver();
    const driver = overriding<StorageDriver>(inner, {
      log: (name: string): LogStorage => {
        const storage = inner.log(name);
        const state = overriding(storage.state, {
          compareAndSwap: async (key: string, expected: string | undefined, value: Uint8Array) => {
            await gate;
            return storage.state.compareAndSwap(key, expected, value);
          },
        });
        return overriding(storage, { state });
      },
    });
    const h = await startHarness({ driver, engine: { integrator: { intervalMs: 3_600_000 } } });
    try {
      await h.createLog('acme');
      const key = (await h.req({ method: 'GET', url: '/v1/logs/acme/key' })).json();
      const verifier = parseVerifierKey(key.verifier_key);
      const log = h.engine.log('acme');
      await h.engine.append('acme', [sampleEvent(0), sampleEvent(1)]);
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      const integrating = log.integrate();
      // The export finds 2 durable entries and waits for the integration to cover them; the
      // integration after it (the one that covers them) also takes entry 2.
      let waiting!: () => void;
      const exportWaits = new Promise<void>((r) => {
        waiting = r;
      });
      const checkpointCovering = log.checkpointCovering.bind(log);
      log.checkpointCovering = (size) => {
        waiting();
        return checkpointCovering(size);
      };
      const exporting = h.req({ method: 'GET', url: '/v1/logs/acme/export', key: h.admin });
      await exportWaits;
      await h.engine.append('acme', [sampleEvent(2)]);
      gate = undefined;
      release();
      await integrating;
      const lines = (await exporting).body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const last = lines.pop();
      const cp = openCheckpoint(last.checkpoint, verifier, key.origin);
      assert.equal(cp.size, 3);
      // Every entry of the checkpoint's tree, as `verify --export --complete` requires.
      assert.deepEqual(
        lines.map((l) => l.index),
        [0, 1, 2],
      );
      assert.equal(last.count, 3);
    } finally {
      gate = undefined;
      await h.close();
    }
  });
});

describe('inclusion proofs against older tree sizes', () => {
  let h: Harness;
  // Plain Uint8Arrays, not Buffers: Buffer#slice makes a view, not the copy verifyInclusion expects.
  let leaves: Uint8Array[];

  /** RFC 6962 MTH of `leaves[lo, hi)` with node:crypto, independent of the server's tree code. */
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leaves[lo]!.slice();
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    const digest = createHash('sha256')
      .update(Buffer.from([1]))
      .update(mth(lo, lo + k))
      .update(mth(lo + k, hi))
      .digest();
    return new Uint8Array(digest);
  };
  const append = async (from: number, count: number) => {
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events?wait=checkpoint',
      key: h.admin,
      payload: { events: Array.from({ length: count }, (_, j) => sampleEvent(from + j)) },
    });
    assert.equal(res.statusCode, 201);
    for (const e of res.json().entries) leaves.push(fromHex(e.leaf_hash)!);
  };
  const checkSizes = async (sizes: number[]) => {
    for (const size of sizes) {
      const root = mth(0, size);
      for (const index of new Set([0, 1, 254, 255, 256, size - 2, size - 1])) {
        if (index < 0 || index >= size) continue;
        const res = await h.req({
          method: 'GET',
          url: `/v1/logs/acme/proofs/inclusion?index=${index}&tree_size=${size}`,
        });
        assert.equal(res.statusCode, 200, `${index}@${size}`);
        verifyInclusion(index, size, leaves[index]!, res.json().hashes.map(fromHex), root);
      }
    }
  };

  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    leaves = [];
  });
  after(() => h.close());

  it('verify before and after the log grows past them (edge tiles widen, folds change)', async () => {
    await append(0, 300);
    const sizes = [1, 2, 3, 255, 256, 257, 299, 300];
    await checkSizes(sizes);
    await append(300, 250); // the level-0 edge tile fills up and a new one starts
    await checkSizes([...sizes, 511, 512, 513, 550]);
    await append(550, 3);
    await checkSizes([257, 300, 550, 553]);
  });
});
