// The failure-point table (issue: embedded engine): a fixed scenario runs once to count its mutating
// storage calls; then, for every call × {fail before persisting, fail after persisting}, the scenario
// runs again with that one fault, the storage "crashes" (only persisted state survives), and the log
// is reopened. Every acknowledged entry must be there with the same bytes, the whole tree must
// re-verify, and every checkpoint signed before the crash must be consistent with the new one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { verifyConsistency } from '../core/proof.js';
import { type FaultCall, type FaultInjector, failAt, recordCalls } from '../storage/memory/faults.js';
import { createMemoryDriver, type MemoryDriver } from '../storage/memory/memory-driver.js';
import type { Engine } from './engine.js';
import { openTestEngine, sampleEvent } from './test-helpers.js';
import { verifyStorage } from './verify.js';

interface Observed {
  acked: Map<number, string>;
  checkpoints: Map<number, Uint8Array>;
}

/** Creates a log and appends/integrates in steps that cross bundle and tile boundaries. */
async function scenario(driver: MemoryDriver, seen: Observed): Promise<void> {
  let engine: Engine | undefined;
  let crashed = false;
  try {
    engine = await openTestEngine(driver);
    await engine.createLog('acme');
    const log = engine.log('acme');
    let n = 0;
    for (const size of [3, 260, 1, 300]) {
      const { entries } = await engine.append(
        'acme',
        Array.from({ length: size }, () => sampleEvent(n++, 120)),
      );
      for (const e of entries) seen.acked.set(e.index, e.leafHash);
      const cp = await log.integrate();
      seen.checkpoints.set(cp.size, cp.rootHash);
    }
  } catch (err) {
    if (!isInjectedCause(err)) throw err;
    // A crash: nothing more runs (no graceful close that could repair the damage first).
    crashed = true;
  } finally {
    if (!crashed) await engine?.close();
  }
}

function isInjectedCause(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { details?: { injected?: boolean } }).details?.injected === true) return true;
  }
  return false;
}

async function checkRecovered(driver: MemoryDriver, seen: Observed, label: string): Promise<void> {
  const engine = await openTestEngine(driver);
  try {
    if (!engine.has('acme')) {
      assert.equal(seen.acked.size, 0, `${label}: log vanished after acknowledging entries`);
      return;
    }
    const log = engine.log('acme');
    const cp = await log.checkpointCovering(log.size);
    const records = await log.readRecords(0, log.size);
    for (const [i, h] of seen.acked) {
      assert.ok(i < records.length, `${label}: acknowledged entry ${i} lost`);
      assert.equal(toHex(hashLeaf(records[i]!)), h, `${label}: entry ${i} changed`);
    }
    for (const [size, root] of seen.checkpoints) {
      if (size === 0) continue;
      assert.ok(size <= cp.size, `${label}: checkpoint went back from ${size} to ${cp.size}`);
      verifyConsistency(size, cp.size, await log.consistencyProof(size, cp.size), root, cp.rootHash);
    }
    await engine.close();
    const reports = await verifyStorage(driver.crash());
    assert.equal(reports.find((r) => r.log === 'acme')?.treeSize, log.size, `${label}: verify`);
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
}

test('failure-point table: every storage call × fail-before/fail-after recovers', async (t) => {
  const calls: FaultCall[] = [];
  const probe = createMemoryDriver({ faults: recordCalls(calls) });
  await scenario(probe, { acked: new Map(), checkpoints: new Map() });
  assert.ok(calls.length > 20, `scenario made ${calls.length} calls`);
  const ops = new Map<string, number>();
  for (const c of calls) ops.set(c.op, (ops.get(c.op) ?? 0) + 1);
  t.diagnostic(`${calls.length} mutating calls: ${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')}`);

  let cases = 0;
  for (const call of calls) {
    for (const decision of ['fail-before', 'fail-after'] as const) {
      const faults: FaultInjector = failAt(call.seq, decision);
      const driver = createMemoryDriver({ faults });
      const seen: Observed = { acked: new Map(), checkpoints: new Map() };
      await scenario(driver, seen);
      await checkRecovered(driver.crash(), seen, `${decision} at #${call.seq} ${call.op} ${call.key ?? ''}`);
      cases++;
    }
  }
  t.diagnostic(`${cases} failure points recovered`);
});

test('a checkpoint write whose reply was lost (fail-after) heals on the next integration, without a restart', async () => {
  const calls: FaultCall[] = [];
  let failNext = false;
  const driver = createMemoryDriver({
    faults: (call) => {
      calls.push({ ...call });
      if (failNext && call.op === 'compareAndSwap' && call.key === 'checkpoint') {
        failNext = false;
        return 'fail-after';
      }
      return 'proceed';
    },
  });
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  const log = engine.log('acme');
  await engine.append('acme', [sampleEvent(1), sampleEvent(2)]);
  failNext = true;
  await assert.rejects(log.integrate(), (err: unknown) => isInjectedCause(err));
  const cp = await log.integrate();
  assert.equal(cp.size, 2);
  await engine.append('acme', [sampleEvent(3)]);
  assert.equal((await log.integrate()).size, 3);
  await engine.close();
  const reports = await verifyStorage(driver.crash());
  assert.equal(reports.find((r) => r.log === 'acme')?.treeSize, 3);
});
