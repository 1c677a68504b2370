/**
 * Per-log policy (issue 7): validation table, legal hold rules, stored form and compare-and-swap.
 * Expected values come from the issue text ("retention.max ≥ retention.min", "legal_hold with
 * reason blocks every deletion") and policy.ts's documented units (a year is 366 days).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import type { StateStore } from '../storage/types.js';
import { CursorStore } from './archive-cursor.js';
import { Archiver } from './archiver.js';
import {
  applyPolicyUpdate,
  assertDeletable,
  defaultLogPolicy,
  POLICY_STATE_KEY,
  parseStoredPolicy,
  readLogPolicy,
  updateLogPolicy,
  withLegalHold,
  withoutLegalHold,
} from './log-policy.js';

const DAY = 86_400_000;
const AT = '2026-01-02T03:04:05.000Z';
const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

async function freshState(): Promise<StateStore> {
  return createMemoryDriver().log('acme').state;
}

describe('applyPolicyUpdate', () => {
  const base = defaultLogPolicy();
  const ok: Array<[string, unknown, Partial<ReturnType<typeof defaultLogPolicy>>]> = [
    ['7y min', { retention: { min: '7y' } }, { retentionMinMs: 7 * 366 * DAY }],
    ['ms min', { retention: { min: 1000 } }, { retentionMinMs: 1000 }],
    [
      'min and max',
      { retention: { min: '1y', max: '10y' } },
      { retentionMinMs: 366 * DAY, retentionMaxMs: 3660 * DAY },
    ],
    ['max equal to min', { retention: { min: '30d', max: '30d' } }, { retentionMaxMs: 30 * DAY }],
    ['archive never', { archive: { after: 'never' } }, { archiveAfterMs: Number.POSITIVE_INFINITY }],
    ['archive 0', { archive: { after: 0 } }, { archiveAfterMs: 0 }],
    ['empty keeps all', {}, { retentionMinMs: base.retentionMinMs, archiveAfterMs: base.archiveAfterMs }],
  ];
  for (const [name, body, expected] of ok) {
    it(`accepts ${name}`, () => {
      const p = applyPolicyUpdate(base, body, 'key_a', AT);
      for (const [k, v] of Object.entries(expected)) assert.equal(p[k as keyof typeof p], v, k);
      assert.equal(p.updatedBy, 'key_a');
      assert.equal(p.updatedAt, AT);
    });
  }

  it('max null clears a max', () => {
    const withMax = applyPolicyUpdate(base, { retention: { max: '2y' } }, 'k', AT);
    assert.equal(applyPolicyUpdate(withMax, { retention: { max: null } }, 'k', AT).retentionMaxMs, null);
  });

  const bad: Array<[string, unknown, string]> = [
    ['max below min', { retention: { min: '2y', max: '1y' } }, 'retention.max'],
    ['max below existing min', { retention: { max: '1d' } }, 'retention.max'],
    ['min never', { retention: { min: 'never' } }, 'retention.min'],
    ['max never', { retention: { max: 'never' } }, 'retention.max'],
    ['min below 1s', { retention: { min: 999 } }, 'retention.min'],
    ['min above 100y', { retention: { min: '101y' } }, 'retention.min'],
    ['bad unit', { retention: { min: '7years' } }, 'retention.min'],
    ['negative ms', { archive: { after: -1 } }, 'archive.after'],
    ['fraction ms', { archive: { after: 1.5 } }, 'archive.after'],
    ['unknown top field', { pruning: true }, 'pruning'],
    ['unknown nested field', { retention: { minimum: '1d' } }, 'retention.minimum'],
    ['not an object', [], 'policy'],
    ['retention not an object', { retention: '7y' }, 'retention'],
  ];
  for (const [name, body, field] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => applyPolicyUpdate(base, body, 'k', AT),
        (err: unknown) => {
          const e = err as { code?: string; details?: { field?: string } };
          return e.code === 'retention.invalid_policy' && e.details?.field === field;
        },
      );
    });
  }
});

describe('archive.target', () => {
  const withArchive = { archive: true };
  const set = (target: unknown) =>
    applyPolicyUpdate(defaultLogPolicy(), { archive: { target } }, 'k', AT, withArchive);

  it('accepts a bucket and prefix, a bucket alone (prefix = root), and null (server target)', () => {
    assert.deepEqual(set({ bucket: 'acme-archive', prefix: 'logs/eu.1' }).archiveTarget, {
      bucket: 'acme-archive',
      prefix: 'logs/eu.1',
    });
    assert.deepEqual(set({ bucket: 'a.b-c' }).archiveTarget, { bucket: 'a.b-c', prefix: '' });
    assert.equal(set(null).archiveTarget, null);
    const current = set({ bucket: 'acme-archive' });
    const reset = applyPolicyUpdate(current, { archive: { target: null } }, 'k', AT, withArchive);
    assert.equal(reset.archiveTarget, null);
    const kept = applyPolicyUpdate(current, { archive: { after: '1d' } }, 'k', AT, withArchive);
    assert.deepEqual(kept.archiveTarget, { bucket: 'acme-archive', prefix: '' }, 'absent keeps it');
  });

  const bad: Array<[string, unknown, string]> = [
    ['a 2-character bucket', { bucket: 'ab' }, 'archive.target'],
    ['a 64-character bucket', { bucket: 'a'.repeat(64) }, 'archive.target'],
    ['uppercase', { bucket: 'Acme' }, 'archive.target'],
    ['an underscore', { bucket: 'acme_logs' }, 'archive.target'],
    ['a leading hyphen', { bucket: '-acme' }, 'archive.target'],
    ['a trailing dot', { bucket: 'acme.' }, 'archive.target'],
    ['a prefix with a leading slash', { bucket: 'acme', prefix: '/logs' }, 'archive.target'],
    ['a prefix with a trailing slash', { bucket: 'acme', prefix: 'logs/' }, 'archive.target'],
    ['a prefix with a space', { bucket: 'acme', prefix: 'my logs' }, 'archive.target'],
    ['a prefix with ..', { bucket: 'acme', prefix: 'a/../b' }, 'archive.target'],
    ['no bucket', { prefix: 'logs' }, 'archive.target.bucket'],
    ['a numeric prefix', { bucket: 'acme', prefix: 7 }, 'archive.target.prefix'],
    ['an unknown key', { bucket: 'acme', region: 'eu' }, 'archive.target.region'],
    ['a string', 's3://acme/logs', 'archive.target'],
  ];
  for (const [name, target, field] of bad) {
    it(`refuses ${name} naming ${field}`, () => {
      assert.throws(
        () => set(target),
        (err: { code?: string; details?: { field?: string } }) =>
          err.code === 'retention.invalid_policy' && err.details?.field === field,
      );
    });
  }

  it('is refused on a server without an archive', () => {
    assert.throws(
      () => applyPolicyUpdate(defaultLogPolicy(), { archive: { target: { bucket: 'acme' } } }, 'k', AT),
      (err: { code?: string; details?: { field?: string } }) =>
        err.code === 'retention.invalid_policy' && err.details?.field === 'archive.target',
    );
    // null (the server's target) is what such a server has anyway.
    assert.equal(
      applyPolicyUpdate(defaultLogPolicy(), { archive: { target: null } }, 'k', AT).archiveTarget,
      null,
    );
  });

  it('round-trips through the stored form; a policy stored without it reads as null', async () => {
    const state = await freshState();
    const { after } = await updateLogPolicy(state, (p) =>
      applyPolicyUpdate(p, { archive: { target: { bucket: 'acme-2', prefix: 'x' } } }, 'k', AT, withArchive),
    );
    assert.deepEqual((await readLogPolicy(state)).policy, after);
    const old = JSON.stringify({
      v: 1,
      retention: { min: 1000, max: null },
      archive: { after: 0 },
      legal_hold: null,
      updated_at: null,
      updated_by: null,
    });
    assert.equal(parseStoredPolicy(new TextEncoder().encode(old)).archiveTarget, null);
    const damaged = old.replace('"after":0', '"after":0,"target":{"bucket":"NO"}');
    assert.throws(
      () => parseStoredPolicy(new TextEncoder().encode(damaged)),
      code('retention.invalid_policy'),
    );
  });
});

describe('legal hold', () => {
  it('sets, blocks deletion, refuses a second hold, releases', () => {
    const held = withLegalHold(defaultLogPolicy(), 'SEC inquiry 2026-17', 'key_admin', AT);
    assert.deepEqual(held.legalHold, { reason: 'SEC inquiry 2026-17', setAt: AT, setBy: 'key_admin' });
    assert.throws(() => assertDeletable(held, 'eviction'), code('retention.legal_hold_active'));
    assert.throws(() => withLegalHold(held, 'another', 'k', AT), code('retention.legal_hold_active'));
    const released = withoutLegalHold(held, 'key_admin', AT);
    assert.equal(released.legalHold, null);
    assertDeletable(released, 'eviction');
    assert.throws(() => withoutLegalHold(released, 'k', AT), code('retention.no_legal_hold'));
  });

  for (const reason of ['', '   ', 42, null, 'x'.repeat(1001)]) {
    it(`refuses reason ${JSON.stringify(reason)?.slice(0, 20)}`, () => {
      assert.throws(
        () => withLegalHold(defaultLogPolicy(), reason, 'k', AT),
        code('retention.invalid_policy'),
      );
    });
  }
});

describe('stored policy', () => {
  it('reads defaults when nothing is stored, then round-trips a change', async () => {
    const state = await freshState();
    const first = await readLogPolicy(state);
    assert.equal(first.version, undefined);
    assert.deepEqual(first.policy, defaultLogPolicy());
    const { before, after } = await updateLogPolicy(state, (p) =>
      withLegalHold(
        applyPolicyUpdate(p, { retention: { min: '7y', max: '10y' }, archive: { after: 'never' } }, 'k', AT),
        'hold',
        'k',
        AT,
      ),
    );
    assert.deepEqual(before, defaultLogPolicy());
    assert.deepEqual((await readLogPolicy(state)).policy, after);
    assert.equal(after.archiveAfterMs, Number.POSITIVE_INFINITY);
  });

  it('re-applies a change after losing a compare-and-swap race', async () => {
    const state = await freshState();
    let calls = 0;
    await updateLogPolicy(state, (p) => {
      calls++;
      return applyPolicyUpdate(p, { retention: { min: '2d' } }, 'a', AT);
    });
    // A racing writer sets a hold between our read and our swap; our change must keep it.
    let raced = false;
    const racing: StateStore = {
      read: (k) => state.read(k),
      compareAndSwap: async (k, expected, value) => {
        if (!raced) {
          raced = true;
          await updateLogPolicy(state, (p) => withLegalHold(p, 'raced hold', 'b', AT));
        }
        return state.compareAndSwap(k, expected, value);
      },
    };
    const { after } = await updateLogPolicy(racing, (p) =>
      applyPolicyUpdate(p, { archive: { after: '1d' } }, 'a', AT),
    );
    assert.equal(calls, 1);
    assert.equal(after.legalHold?.reason, 'raced hold');
    assert.equal(after.archiveAfterMs, DAY);
    assert.equal(after.retentionMinMs, 2 * DAY);
  });

  it('refuses damaged stored bytes rather than dropping a hold', async () => {
    const state = await freshState();
    for (const text of [
      'not json',
      '{"v":2}',
      '{"v":1,"retention":{"min":1},"archive":{"after":0},"legal_hold":null}',
    ]) {
      assert.throws(
        () => parseStoredPolicy(new TextEncoder().encode(text)),
        code('retention.invalid_policy'),
        text,
      );
    }
    await state.compareAndSwap(
      POLICY_STATE_KEY,
      undefined,
      new TextEncoder().encode('{"v":1,"legal_hold":7}'),
    );
    await assert.rejects(readLogPolicy(state), code('retention.invalid_policy'));
  });
});

describe('archiver eviction under a legal hold', () => {
  // No S3 here: a stand-in archive whose every call fails proves whether eviction touched it. The
  // cursor says 512 entries are past the watermark but not yet cleaned (a run interrupted after
  // publishing it), so an unheld run must go on to verify and delete local copies.
  async function setup() {
    const storage = createMemoryDriver().log('acme');
    await new CursorStore(storage.state).save({
      v: 1,
      bucket: 'b',
      prefix: 'p',
      sealed: 512,
      archived: 512,
      evicted: 512,
      clean: 0,
    });
    await storage.blobs.put('tile/entries/000', new Uint8Array([1]), { immutable: true });
    let touched = 0;
    const archive = {
      objects: { bucket: 'b' },
      prefix: 'p',
      verifySealed: async () => {
        touched++;
        throw new Error('stand-in archive');
      },
    } as unknown as S3BlobStore;
    const archiver = await Archiver.open({
      log: 'acme',
      local: storage.blobs,
      state: storage.state,
      archive,
      policy: { minMs: 1000, afterMs: 0 },
    });
    return { storage, archiver, touched: () => touched };
  }

  it('evicts nothing while held, and tries again once released', async () => {
    const { storage, archiver, touched } = await setup();
    await updateLogPolicy(storage.state, (p) => withLegalHold(p, 'litigation', 'k', AT));
    const report = await archiver.evict();
    assert.equal(report.evicted, 0);
    assert.equal(touched(), 0);
    assert.notEqual(await storage.blobs.get('tile/entries/000'), undefined);

    await updateLogPolicy(storage.state, (p) => withoutLegalHold(p, 'k', AT));
    // Released: the run goes on to date the pending bundle, whose stand-in bytes are no bundle.
    await assert.rejects(archiver.evict(), code('retention.bad_local_object'));
  });
});
