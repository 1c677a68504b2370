// Pruning's failure-point table (issue 7, on the fault-injecting memory driver): every storage call a
// pruning run makes × fail-before/fail-after, then a crash, a restart and another run. Whatever the
// failure, the next run converges to the same minimum index, no entry at or above it is lost, the
// pruned prefix is refused, and `verify` passes (it accepts the prefix only under a valid statement).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine } from '../log/engine.js';
import { sampleEvent } from '../log/test-helpers.js';
import { verifyStorage } from '../log/verify.js';
import type { FaultCall, FaultInjector } from '../storage/memory/faults.js';
import { createMemoryDriver, type MemoryDriver } from '../storage/memory/memory-driver.js';
import { applyPolicyUpdate, updateLogPolicy } from './log-policy.js';
import { pruneLog } from './pruner.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const clock = {
  t: T0,
  now() {
    return this.t;
  },
};

const open = (driver: MemoryDriver) =>
  Engine.open({
    driver,
    index: createSqliteIndex({ path: ':memory:' }),
    originPrefix: 'test.example',
    clock,
    config: { integrator: { intervalMs: 60_000 } },
  });

/** Entries 0..599 at T0, 600..899 at T0 + 10 s, retention 1 s..5 s; returns the leaf hashes. */
async function setup(driver: MemoryDriver): Promise<string[]> {
  clock.t = T0;
  const engine = await open(driver);
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 600 }, (_, i) => sampleEvent(i, 120)),
  );
  await engine.log('acme').integrate();
  clock.t = T0 + 10_000;
  await engine.append(
    'acme',
    Array.from({ length: 300 }, (_, i) => sampleEvent(600 + i, 120)),
  );
  await engine.log('acme').integrate();
  await updateLogPolicy(engine.stateOf('acme'), (p) =>
    applyPolicyUpdate(p, { retention: { min: '1s', max: '5s' } }, 'test', new Date(T0).toISOString()),
  );
  const leaves = (await engine.log('acme').readRecords(0, 900)).map((r) => toHex(hashLeaf(r)));
  await engine.close();
  clock.t = T0 + 12_000;
  return leaves;
}

async function checkConverged(driver: MemoryDriver, leaves: string[], label: string): Promise<void> {
  const engine = await open(driver);
  try {
    const report = await pruneLog({ engine, log: 'acme', clock });
    assert.equal(report.minimumIndex, 512, `${label}: minimum index`);
    const log = engine.log('acme');
    await assert.rejects(log.readRecord(511), { code: 'log.pruned' }, label);
    const kept = await log.readRecords(512, 900);
    for (const [i, r] of kept.entries()) {
      assert.equal(toHex(hashLeaf(r)), leaves[512 + i], `${label}: entry ${512 + i}`);
    }
    assert.equal(
      await engine.blobsOf('acme').get('tile/entries/001'),
      undefined,
      `${label}: bundle 1 deleted`,
    );
    await log.integrate();
  } finally {
    await engine.close();
  }
  const reports = await verifyStorage(driver.crash());
  assert.ok((reports.find((r) => r.log === 'acme')?.treeSize ?? 0) > 900, `${label}: verify`);
}

test('failure-point table: every storage call of a pruning run × fail-before/fail-after converges', async (t) => {
  // Probe: which mutating calls does one run make?
  const calls: FaultCall[] = [];
  const base = createMemoryDriver();
  const leaves = await setup(base);
  const probe = base.crash({
    faults: (c) => {
      calls.push({ ...c });
      return 'proceed';
    },
  });
  const engine = await open(probe);
  await pruneLog({ engine, log: 'acme', clock });
  await engine.close();
  assert.ok(calls.length >= 5, `a run made ${calls.length} calls`);
  t.diagnostic(
    `a pruning run makes ${calls.length} mutating calls: ${calls.map((c) => `${c.op} ${c.key ?? ''}`).join(', ')}`,
  );

  let cases = 0;
  for (let k = 0; k < calls.length; k++) {
    for (const decision of ['fail-before', 'fail-after'] as const) {
      let seen = 0;
      const inject: FaultInjector = () => (seen++ === k ? decision : 'proceed');
      // Every case starts from the same persisted log (crash() copies what was persisted).
      const driver = base.crash({ faults: inject });
      // Opening republishes the checkpoint: a failure there is a failure of this run too.
      const e = await open(driver).catch(() => undefined);
      if (e !== undefined) {
        await pruneLog({ engine: e, log: 'acme', clock }).catch(() => undefined);
        await e.close().catch(() => undefined);
      }
      await checkConverged(
        driver.crash(),
        leaves,
        `${decision} at call ${k} (${calls[k]!.op} ${calls[k]!.key ?? ''})`,
      );
      cases++;
    }
  }
  t.diagnostic(`${cases} failure points converged`);
});
