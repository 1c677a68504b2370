// verifyExportFile against a real export (the NDJSON of GET /v1/logs/{log}/export from an
// in-process server, format in src/http/routes-export.ts) and the ways someone handing it over could
// change it: each must fail with its own code. 300 entries span two entry bundles.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { IndelibleClient } from '../client/client.js';
import { initDir, scratch, serveDir, type TestServer } from '../client/test-support.js';
import { isIndelibleError } from '../core/errors.js';
import { generateSignerKey, parseSignerKey, parseVerifierKey } from '../core/note.js';
import { PRUNE_ACTION, signPruneStatement } from '../core/prune-statement.js';
import { startHarness } from '../http/test-harness.js';
import { sampleEvent } from '../log/test-helpers.js';
import { pruneLog } from '../retention/pruner.js';
import { verifyExportFile } from './verify-export.js';

const { root, cleanup } = scratch('verify-export');
let server: TestServer;
let vkey = '';
let lines: string[] = [];

before(async () => {
  const dir = join(root, 'data');
  server = await serveDir(dir, await initDir(dir));
  const client = new IndelibleClient({ url: server.url, apiKey: server.adminKey });
  vkey = (await client.createLog('acme')).verifierKey;
  const events = Array.from({ length: 300 }, (_, i) => ({
    action: 'doc.read',
    actor: { id: `u${i % 5}` },
    metadata: { i },
  }));
  await client.append('acme', events, { waitCheckpoint: true });
  const res = await fetch(`${server.url}/v1/logs/acme/export`, {
    headers: { authorization: `Bearer ${server.adminKey}` },
  });
  assert.equal(res.status, 200);
  lines = (await res.text()).split('\n');
  assert.equal(lines.pop(), ''); // every line ends in LF
});
after(async () => {
  await server?.stop();
  cleanup();
});

let n = 0;
function file(content: string): string {
  const path = join(root, `export-${n++}.ndjson`);
  writeFileSync(path, content);
  return path;
}
const joined = (ls: readonly string[]) => `${ls.map((l) => `${l}\n`).join('')}`;
const verify = (content: string, key = vkey, log?: string) =>
  verifyExportFile(file(content), parseVerifierKey(key), log === undefined ? {} : { log });

/** Entry line `i` with its object changed by `edit`. */
function editLine(i: number, edit: (o: Record<string, unknown>) => void): string[] {
  const copy = [...lines];
  const o = JSON.parse(copy[i]!) as Record<string, unknown>;
  edit(o);
  copy[i] = JSON.stringify(o);
  return copy;
}

test('a complete export verifies and reports what it covers', async () => {
  const r = await verify(joined(lines));
  assert.deepEqual(
    { log: r.log, count: r.count, first: r.first, last: r.last, treeSize: r.treeSize },
    { log: 'acme', count: 300, first: 0, last: 299, treeSize: 300 },
  );
  const subset = [lines[3]!, lines[200]!, lines[299]!];
  const last = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  const partial = await verify(joined([...subset, JSON.stringify({ ...last, count: 3 })]));
  assert.equal(partial.count, 3);
});

/** SHA-256(0x00 ‖ record) (RFC 6962 §2.1), computed with Node directly, not with the code under test. */
const leafHash = (record: string) =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from([0]), Buffer.from(record)]))
    .digest('hex');

const wrongKey = generateSignerKey('indelible.local/someone/acme').verifierKey;
const cases: Array<[string, () => string, string, string?]> = [
  [
    'a record changed, leaf_hash kept',
    () =>
      joined(
        editLine(5, (o) => {
          o.record = String(o.record).replace('"u0"', '"u9"');
        }),
      ),
    'export.leaf_mismatch',
  ],
  [
    'a record and its leaf_hash changed together',
    () => {
      const changed = editLine(5, (o) => {
        o.record = String(o.record).replace('"u0"', '"u9"');
      });
      const o = JSON.parse(changed[5]!) as Record<string, unknown>;
      o.leaf_hash = leafHash(String(o.record));
      changed[5] = JSON.stringify(o);
      return joined(changed);
    },
    'export.inclusion_failed',
  ],
  [
    'an entry removed (count says otherwise)',
    () => joined(lines.filter((_, i) => i !== 7)),
    'export.count_mismatch',
  ],
  ['two entries swapped', () => joined([lines[1]!, lines[0]!, ...lines.slice(2)]), 'export.out_of_order'],
  ['the final checkpoint line missing', () => joined(lines.slice(0, -1)), 'export.incomplete'],
  [
    "the server's error line at the end",
    () => joined([...lines.slice(0, 10), '{"error":{"code":"server.internal","detail":"x"}}']),
    'export.incomplete',
  ],
  ['cut off mid-line', () => joined(lines).slice(0, -5), 'export.incomplete'],
  ['empty', () => '', 'export.incomplete'],
  ['signed by another key', () => joined(lines), 'export.bad_checkpoint', wrongKey],
  [
    "tree_size not the checkpoint's",
    () =>
      joined(
        editLine(lines.length - 1, (o) => {
          o.tree_size = 301;
        }),
      ),
    'export.bad_checkpoint',
  ],
  ['a checkpoint line in the middle', () => joined([lines.at(-1)!, ...lines]), 'export.malformed'],
  ['a line that is not JSON', () => joined(['{"index":0,', ...lines.slice(1)]), 'export.malformed'],
  [
    'a proof hash that is not hex',
    () =>
      joined(
        editLine(2, (o) => {
          o.proof = ['zz'];
        }),
      ),
    'export.malformed',
  ],
  [
    'an index beyond the tree',
    () =>
      joined(
        editLine(299, (o) => {
          o.index = 300;
        }),
      ),
    'export.out_of_order',
  ],
];

for (const [name, content, code, key] of cases) {
  test(`fails: ${name} → ${code}`, async () => {
    await assert.rejects(verify(content(), key), (err: unknown) => isIndelibleError(err, code));
  });
}

test('invalid UTF-8 is reported on the line that holds it, not on the first of its chunk', async () => {
  const bytes = Buffer.from(joined(lines));
  // A byte of entry 250's record (line 251) replaced by 0xff.
  const at = bytes.indexOf(Buffer.from(lines[250]!)) + 40;
  bytes[at] = 0xff;
  const path = join(root, 'bad-utf8.ndjson');
  writeFileSync(path, bytes);
  await assert.rejects(
    verifyExportFile(path, parseVerifierKey(vkey)),
    (err: unknown) =>
      isIndelibleError(err, 'export.malformed') && /^line 251 is not valid UTF-8/.test(err.message),
  );
});

test('records of another log than the one pinned with --log fail', async () => {
  await assert.rejects(verify(joined(lines), vkey, 'other'), (err: unknown) =>
    isIndelibleError(err, 'export.bad_record'),
  );
});

/** The export without entry lines `drop` (0-based), its `count` lowered to match: what an editor does. */
function withoutEntries(drop: (i: number) => boolean): string {
  const entries = lines.slice(0, -1).filter((_, i) => !drop(i));
  const last = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
  return joined([...entries, JSON.stringify({ ...last, count: entries.length })]);
}

test('entries removed with count lowered to match: reported as missing, and refused with complete', async () => {
  /** `content` fails with `complete`, as export.gap naming entries [from, to). */
  const refusedAsGap = (content: string, from: number, to: number) =>
    assert.rejects(
      verifyExportFile(file(content), parseVerifierKey(vkey), { complete: true }),
      (err: unknown) => {
        assert.ok(isIndelibleError(err, 'export.gap'), String(err));
        assert.deepEqual([err.details?.from, err.details?.to], [from, to]);
        return true;
      },
    );
  // `count` is not signed: only the indices show what is gone.
  const middle = withoutEntries((i) => i >= 100 && i < 111);
  const r = await verify(middle);
  assert.deepEqual([r.count, r.first, r.last, r.missing, r.complete], [289, 0, 299, 11, false]);
  await refusedAsGap(middle, 100, 111);
  // The last entries removed: no gap inside, but the file ends before the checkpoint's tree does.
  const tail = withoutEntries((i) => i >= 290);
  const t = await verify(tail);
  assert.deepEqual([t.missing, t.complete], [0, false]);
  await refusedAsGap(tail, 290, 300);
  // The untouched, unfiltered export is complete.
  const whole = await verifyExportFile(file(joined(lines)), parseVerifierKey(vkey), { complete: true });
  assert.deepEqual([whole.count, whole.missing, whole.complete], [300, 0, true]);
});

test('a prefix removed (count lowered to match) is not complete: export.gap from 0 (review G, A4)', async () => {
  const refused = async (content: string, to: number) =>
    assert.rejects(
      verifyExportFile(file(content), parseVerifierKey(vkey), { complete: true }),
      (err: unknown) => {
        assert.ok(isIndelibleError(err, 'export.gap'), String(err));
        assert.deepEqual([err.details?.from, err.details?.to], [0, to]);
        return true;
      },
    );
  // Entries 0..99 removed: the rest verifies, but the report says the file starts at 100.
  const dropPrefix = withoutEntries((i) => i < 100);
  const r = await verify(dropPrefix);
  assert.deepEqual(
    [r.first, r.last, r.missing, r.minimumIndex, r.statementIndex, r.complete],
    [100, 299, 0, 0, undefined, false],
  );
  await refused(dropPrefix, 100);
  // Everything but the last entry.
  const onlyLast = withoutEntries((i) => i < 299);
  assert.equal((await verify(onlyLast)).complete, false);
  await refused(onlyLast, 299);
});

test('a pruned log: complete from its minimum index only under the signed prune statement in the file', async () => {
  const h = await startHarness();
  try {
    await h.createLog('acme');
    const put = await h.req({
      method: 'PUT',
      url: '/v1/logs/acme/policy',
      key: h.admin,
      payload: { retention: { min: '1s', max: '2s' } },
    });
    assert.equal(put.statusCode, 200, put.body);
    await h.engine.append(
      'acme',
      Array.from({ length: 600 }, (_, i) => sampleEvent(i, 100)),
    );
    await h.engine.log('acme').integrate();
    // The pruner's clock is a minute ahead: every entry is past retention.max.
    const pruned = await pruneLog({
      engine: h.engine,
      log: 'acme',
      clock: { now: () => Date.now() + 60_000 },
    });
    assert.equal(pruned.minimumIndex, 512);
    // More entries after the statement (entry 600), then a prune record any writer could append:
    // a statement for minimum index 768, signed by another key under the log's name.
    const { origin, verifierKey } = h.engine.info('acme');
    const forger = parseSignerKey(generateSignerKey(origin).signerKey);
    const forged = signPruneStatement(
      {
        origin,
        minimumIndex: 768,
        treeSize: 800,
        rootHash: new Uint8Array(32),
        receivedBefore: '2026-01-01T00:00:00.000Z',
      },
      forger,
    );
    await h.engine.append('acme', [
      ...Array.from({ length: 199 }, (_, i) => sampleEvent(601 + i, 100)),
      { action: PRUNE_ACTION, actor: { id: 'writer' }, metadata: { statement: forged } },
    ]);
    await h.engine.log('acme').integrate();
    const res = await h.req({ method: 'GET', url: '/v1/logs/acme/export', key: h.key('auditor', ['acme']) });
    assert.equal(res.statusCode, 200);
    const all = res.body.split('\n');
    assert.equal(all.pop(), '');
    const key = parseVerifierKey(verifierKey);
    const check = (drop: (index: number) => boolean, complete = true) => {
      const entries = all.slice(0, -1).filter((l) => !drop((JSON.parse(l) as { index: number }).index));
      const last = JSON.parse(all.at(-1)!) as Record<string, unknown>;
      const content = joined([...entries, JSON.stringify({ ...last, count: entries.length })]);
      return verifyExportFile(file(content), key, complete ? { complete: true } : {});
    };
    const gap = (from: number, to: number) => (err: unknown) => {
      assert.ok(isIndelibleError(err, 'export.gap'), String(err));
      assert.deepEqual([err.details?.from, err.details?.to], [from, to]);
      return true;
    };

    // The export as served starts at 512 and holds the statement (entry 600): complete.
    const whole = await check(() => false);
    assert.deepEqual(
      [whole.first, whole.last, whole.minimumIndex, whole.statementIndex, whole.complete],
      [512, 800, 512, 600, true],
    );
    // Entries 512..599 removed: the statement still proves 0..511 pruned, not 512..599.
    await assert.rejects(
      check((i) => i < 600),
      gap(512, 600),
    );
    // Entries 512..767 removed, the real statement with them: the forged one proves nothing.
    await assert.rejects(
      check((i) => i < 768),
      gap(0, 768),
    );
    const report = await check((i) => i < 768, false);
    assert.deepEqual([report.first, report.minimumIndex, report.complete], [768, 0, false]);
  } finally {
    await h.close();
  }
});
