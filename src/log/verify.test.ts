// Tamper tests (issue: embedded engine): an untouched data directory verifies; flipping a byte,
// truncating, deleting, swapping or reordering stored objects makes `verify` fail naming the place.
import assert from 'node:assert/strict';
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { decodeBundle, encodeBundle } from '../core/tile.js';
import { sampleEvent, verifyDataDir as verifyDir } from './test-helpers.js';
import type { VerifyErrorCode } from './verify.js';

let pristine: string;
const work: string[] = [];

before(async () => {
  pristine = mkdtempSync(join(tmpdir(), 'indelible-verify-'));
  await initDataDir(pristine);
  const dd = await openDataDir(pristine);
  await dd.engine.createLog('acme');
  for (let i = 0; i < 7; i++) {
    await dd.engine.append(
      'acme',
      Array.from({ length: 100 }, (_, k) => sampleEvent(i * 100 + k, 200)),
    );
    await dd.engine.log('acme').integrate();
  }
  await dd.close();
});

after(() => {
  for (const d of [pristine, ...work]) rmSync(d, { recursive: true, force: true });
});

function copy(): string {
  const d = mkdtempSync(join(tmpdir(), 'indelible-tamper-'));
  work.push(d);
  cpSync(pristine, d, { recursive: true });
  rmSync(join(d, 'LOCK'), { force: true });
  return d;
}

const acme = (dir: string, key: string) => join(dir, 'logs', 'acme', key);

function rewrite(path: string, f: (b: Buffer) => Uint8Array): void {
  const b = readFileSync(path);
  chmodSync(path, 0o644);
  writeFileSync(path, f(b));
}

test('an untouched data directory verifies', async () => {
  const reports = await verifyDir(copy());
  const r = reports.find((x) => x.log === 'acme');
  assert.equal(r?.treeSize, 700);
  assert.ok(r!.checkpoints >= 7);
  assert.ok(reports.some((x) => x.log === '_audit'));
});

const cases: Array<{
  name: string;
  tamper: (dir: string) => void;
  code: VerifyErrorCode;
  object?: string;
  index?: number;
}> = [
  // Partials of earlier checkpoints (100, 200, … entries): never served by the engine, still there.
  {
    name: 'a flipped byte in an earlier partial hash tile',
    tamper: (d) =>
      rewrite(acme(d, 'tile/0/001.p/44'), (b) => {
        b[40] = b[40]! ^ 0x01;
        return b;
      }),
    code: 'verify.bad_tile',
    object: 'tile/0/001.p/44',
  },
  {
    name: 'a flipped byte in an earlier partial entry bundle',
    tamper: (d) =>
      rewrite(acme(d, 'tile/entries/000.p/100'), (b) => {
        b[300] = b[300]! ^ 0x01;
        return b;
      }),
    code: 'verify.bad_bundle',
    object: 'tile/entries/000.p/100',
  },
  {
    name: 'an earlier partial entry bundle cut to fewer entries',
    tamper: (d) =>
      rewrite(acme(d, 'tile/entries/001.p/144'), (b) => encodeBundle(decodeBundle(b).slice(0, 143))),
    code: 'verify.bad_bundle',
    object: 'tile/entries/001.p/144',
  },
  {
    name: 'an earlier partial level-1 tile replaced by a different one',
    tamper: (d) => rewrite(acme(d, 'tile/1/000.p/1'), (b) => b.map((x) => x ^ 0xff)),
    code: 'verify.bad_tile',
    object: 'tile/1/000.p/1',
  },
  {
    name: 'a flipped byte inside a record of a full bundle',
    tamper: (d) =>
      rewrite(acme(d, 'tile/entries/001'), (b) => {
        b[400] = b[400]! ^ 0x01;
        return b;
      }),
    code: 'verify.bad_record',
    object: 'tile/entries/001',
  },
  {
    name: 'a truncated bundle',
    tamper: (d) => rewrite(acme(d, 'tile/entries/000'), (b) => b.subarray(0, b.length - 10)),
    code: 'verify.bad_bundle',
    object: 'tile/entries/000',
  },
  {
    name: 'a deleted hash tile',
    tamper: (d) => unlinkSync(acme(d, 'tile/0/001')),
    code: 'verify.missing_object',
    object: 'tile/0/001',
  },
  {
    name: 'a deleted partial bundle of the latest checkpoint',
    tamper: (d) => unlinkSync(acme(d, 'tile/entries/002.p/188')),
    code: 'verify.missing_object',
    object: 'tile/entries/002.p/188',
  },
  {
    name: 'two bundles swapped',
    tamper: (d) => {
      renameSync(acme(d, 'tile/entries/000'), acme(d, 'swap'));
      renameSync(acme(d, 'tile/entries/001'), acme(d, 'tile/entries/000'));
      renameSync(acme(d, 'swap'), acme(d, 'tile/entries/001'));
    },
    code: 'verify.bad_record',
    index: 0,
  },
  {
    name: 'two records reordered inside a bundle',
    tamper: (d) =>
      rewrite(acme(d, 'tile/entries/001'), (b) => {
        const e = decodeBundle(b);
        [e[10], e[11]] = [e[11]!, e[10]!];
        return encodeBundle(e);
      }),
    code: 'verify.bad_record',
    index: 266,
  },
  {
    name: 'a record replaced by a well-formed one with a different event',
    tamper: (d) =>
      rewrite(acme(d, 'tile/entries/000'), (b) => {
        const e = decodeBundle(b);
        const rec = JSON.parse(new TextDecoder().decode(e[5]));
        rec.event.outcome = rec.event.outcome === 'success' ? 'failure' : 'success';
        // Still canonical (key order unchanged), so the record parses; the chain breaks at the next.
        e[5] = new TextEncoder().encode(JSON.stringify(rec));
        return encodeBundle(e);
      }),
    code: 'verify.broken_chain',
    index: 6,
  },
  {
    name: 'a deleted log configuration',
    tamper: (d) => unlinkSync(acme(d, 'state/config')),
    code: 'verify.missing_object',
    object: 'state/config',
  },
  {
    name: 'a flipped byte in a hash tile',
    tamper: (d) =>
      rewrite(acme(d, 'tile/0/000'), (b) => {
        b[100] = b[100]! ^ 0x80;
        return b;
      }),
    code: 'verify.bad_tile',
    object: 'tile/0/000',
  },
  {
    name: 'a forged checkpoint in the history',
    tamper: (d) =>
      rewrite(acme(d, 'checkpoints/00000000000000000300'), (b) =>
        new TextEncoder().encode(b.toString('utf8').replace('\n300\n', '\n301\n')),
      ),
    code: 'verify.bad_checkpoint',
    object: 'checkpoints/00000000000000000300',
  },
];

for (const c of cases) {
  test(`verify fails on ${c.name}`, async () => {
    const dir = copy();
    c.tamper(dir);
    await assert.rejects(verifyDir(dir), (err: unknown) => {
      const e = err as {
        code: string;
        details: { log: string; object?: string; index?: number };
        message: string;
      };
      assert.equal(e.code, c.code, e.message);
      assert.equal(e.details.log, 'acme');
      if (c.object) assert.equal(e.details.object, c.object);
      if (c.index !== undefined) assert.equal(e.details.index, c.index);
      return true;
    });
  });
}
