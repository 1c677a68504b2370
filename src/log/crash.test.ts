// Real crash test (issue: embedded engine). A child process appends continuously while this test
// SIGKILLs it at random moments; after every kill the data directory is reopened and must hold every
// acknowledged entry with the same index and leaf hash, and its checkpoints must be consistent with
// every checkpoint the child reported before. INDELIBLE_CRASH_KILLS sets the number of kills (CI: 50;
// `npm run test:crash` soaks longer).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { fromHex, toHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { verifyConsistency } from '../core/proof.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { verifyStorage } from './verify.js';

const KILLS = Number(process.env.INDELIBLE_CRASH_KILLS ?? 12);
const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

function runChildUntilKilled(
  dir: string,
  killAfterMs: number,
): Promise<{ acks: Map<number, string>; cps: Map<number, string> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acks = new Map<number, string>();
    const cps = new Map<number, string>();
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const [kind, a, b] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (kind === 'ack') acks.set(Number(a), b!);
        else if (kind === 'cp') cps.set(Number(a), b!);
        else if (kind === 'open' && !timer) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
        nl = buf.indexOf('\n');
      }
    });
    proc.stderr.on('data', (c) => {
      stderr += c;
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      // Only lines fully received count as promises: a partial last line was never acknowledged.
      if (signal === 'SIGKILL') resolve({ acks, cps });
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

test(`SIGKILL during ingest ${KILLS} times: no acknowledged entry lost, checkpoints consistent`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await initDataDir(dir);
  {
    const dd = await openDataDir(dir);
    await dd.engine.createLog('crash');
    await dd.close();
  }
  const acked = new Map<number, string>();
  const checkpoints = new Map<number, string>();
  for (let k = 0; k < KILLS; k++) {
    const { acks, cps } = await runChildUntilKilled(dir, 30 + Math.floor(Math.random() * 250));
    for (const [i, h] of acks) acked.set(i, h);
    for (const [s, r] of cps) checkpoints.set(s, r);

    const dd = await openDataDir(dir);
    try {
      const log = dd.engine.log('crash');
      assert.ok(
        log.size >= acked.size,
        `kill ${k}: log has ${log.size} entries but ${acked.size} were acknowledged`,
      );
      const records = await log.readRecords(0, log.size);
      for (const [i, h] of acked) {
        assert.equal(toHex(hashLeaf(records[i]!)), h, `kill ${k}: entry ${i} changed or vanished`);
      }
      // Reopen integrates everything: the latest checkpoint covers the whole log and is
      // consistent with every checkpoint any earlier run reported.
      const latest = await log.checkpointCovering(log.size);
      for (const [size, root] of checkpoints) {
        if (size === 0 || size > latest.size) continue;
        const proof = await log.consistencyProof(size, latest.size);
        verifyConsistency(size, latest.size, proof, fromHex(root)!, latest.rootHash);
      }
    } finally {
      await dd.close();
    }
  }
  const driver = await createLocalDriver({ root: dir });
  try {
    const reports = await verifyStorage(driver);
    const crash = reports.find((r) => r.log === 'crash');
    assert.ok(crash && crash.treeSize >= acked.size);
    // The temporary files of writes that kills interrupted are gone once the open's sweep is done
    // (but the LOCK's, which the sweep leaves to whoever may be taking the lock).
    const sweep = await driver.leftoverTempSweep;
    const temps = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(
      (p) => basename(p).startsWith('.#') && !p.startsWith('.#LOCK.'),
    );
    assert.deepEqual(temps, []);
    t.diagnostic(
      `${KILLS} kills, ${acked.size} acknowledged entries, ${checkpoints.size} checkpoints observed, ` +
        `${sweep?.removed} leftover temporary files removed at the last open`,
    );
  } finally {
    await driver.close();
  }
});
