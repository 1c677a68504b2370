// Offline verification of the journal (issue: embedded engine, "offline verification"): entries
// acknowledged but not yet integrated are checked as records chained to the signed tree, entries the
// journal still holds of the tree must be the signed ones, and a journal that leaves a gap, ends
// before the tree or is damaged fails naming the log and the segment.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initDataDir, openDataDir } from '../app/data-dir.js';
import { decodeBundle } from '../core/tile.js';
import { encodeFrames } from '../storage/local/journal-format.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { openTestEngine, sampleEvent, verifyDataDir as verifyDir } from './test-helpers.js';
import { silentLogger } from './types.js';
import { type VerifyErrorCode, verifyStorage } from './verify.js';

const SIGNED = 300;
const PENDING = 50;
/** A copy of a running server's directory: SIGNED entries integrated and signed, PENDING more only in the journal. */
let running: string;
/** The same directory when only the first 100 entries were signed. */
let early: string;
const work: string[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-vj-'));
  work.push(dir);
  await initDataDir(dir);
  const dd = await openDataDir(dir, { engine: { integrator: { intervalMs: 3_600_000 } } });
  try {
    await dd.engine.createLog('acme');
    await dd.engine.append(
      'acme',
      Array.from({ length: 100 }, (_, k) => sampleEvent(k, 200)),
    );
    await dd.engine.log('acme').integrate();
    early = mkdtempSync(join(tmpdir(), 'indelible-vj-early-'));
    work.push(early);
    cpSync(dir, early, { recursive: true });
    await dd.engine.append(
      'acme',
      Array.from({ length: SIGNED - 100 }, (_, k) => sampleEvent(100 + k, 200)),
    );
    await dd.engine.log('acme').integrate();
    // Two appends, so the journal holds two delimited writes.
    for (let i = 0; i < 2; i++) {
      await dd.engine.append(
        'acme',
        Array.from({ length: PENDING / 2 }, (_, k) => sampleEvent(SIGNED + i * 25 + k, 200)),
      );
    }
    running = mkdtempSync(join(tmpdir(), 'indelible-vj-running-'));
    work.push(running);
    cpSync(dir, running, { recursive: true });
    rmSync(join(running, 'LOCK'), { force: true });
  } finally {
    await dd.close();
  }
});

after(() => {
  for (const d of work) rmSync(d, { recursive: true, force: true });
});

function copy(): string {
  const d = mkdtempSync(join(tmpdir(), 'indelible-vj-tamper-'));
  work.push(d);
  cpSync(running, d, { recursive: true });
  return d;
}

const journalDir = (dir: string) => join(dir, 'logs', 'acme', 'journal');
const segmentName = (base: number) => `${String(base).padStart(20, '0')}.seg`;

/** The journal's segments, oldest first. */
function segments(dir: string): string[] {
  return readdirSync(journalDir(dir))
    .filter((n) => n.endsWith('.seg'))
    .sort();
}

/** Writes `records` as one segment starting at `base`, framed as the journal frames one append. */
function writeSegment(dir: string, base: number, records: Uint8Array[]): void {
  writeFileSync(join(journalDir(dir), segmentName(base)), encodeFrames(records, 0, 0).bytes);
}

/** The records of the signed entries [from, to) of log acme, read from its entry bundles. */
function signedRecords(dir: string, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) {
    const b = Math.floor(i / 256);
    const width = Math.min(256, SIGNED - b * 256);
    const name = width === 256 ? String(b).padStart(3, '0') : `${String(b).padStart(3, '0')}.p/${width}`;
    out.push(decodeBundle(readFileSync(join(dir, 'logs', 'acme', 'tile', 'entries', name)))[i % 256]!);
  }
  return out;
}

/**
 * The pending records, as the journal's one segment holds them (its file is at base SIGNED), read
 * frame by frame here rather than by the scanner under test: an 8-byte header whose first word's
 * low 21 bits are the record's length (journal-format.ts), then the record.
 */
function pendingRecords(dir: string): Uint8Array[] {
  const bytes = readFileSync(join(journalDir(dir), segmentName(SIGNED)));
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < bytes.length) {
    const len = bytes.readUInt32LE(p) & 0x001f_ffff;
    out.push(new Uint8Array(bytes.subarray(p + 8, p + 8 + len)));
    p += 8 + len;
  }
  return out;
}

async function rejectsWith(dir: string, code: VerifyErrorCode, details: Record<string, unknown>) {
  await assert.rejects(verifyDir(dir), (err: unknown) => {
    const e = err as { code: string; details: Record<string, unknown>; message: string };
    assert.equal(e.code, code, e.message);
    assert.equal(e.details.log, 'acme', e.message);
    for (const [k, v] of Object.entries(details)) assert.equal(e.details[k], v, `${k}: ${e.message}`);
    return true;
  });
}

test('a running server’s copy verifies, with the acknowledged entries past the tree counted as pending', async () => {
  const dir = copy();
  assert.deepEqual(segments(dir), [segmentName(SIGNED)]);
  const acme = (await verifyDir(dir)).find((r) => r.log === 'acme');
  assert.equal(acme?.treeSize, SIGNED);
  assert.equal(acme?.pending, PENDING);
  assert.equal(acme?.tornBytes, 0);
  // The engine agrees: it replays exactly those entries at its next start.
  const dd = await openDataDir(dir, { logger: silentLogger });
  try {
    assert.equal(dd.engine.log('acme').latestCheckpoint().size, SIGNED + PENDING);
  } finally {
    await dd.close();
  }
  const after = (await verifyDir(dir)).find((r) => r.log === 'acme');
  assert.equal(after?.treeSize, SIGNED + PENDING);
  assert.equal(after?.pending, 0);
});

test('a pending entry whose event was changed breaks the chain at the next entry', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  const rec = JSON.parse(new TextDecoder().decode(records[10]));
  rec.event.outcome = rec.event.outcome === 'success' ? 'failure' : 'success';
  records[10] = new TextEncoder().encode(JSON.stringify(rec)); // key order unchanged: still canonical
  writeSegment(dir, SIGNED, records);
  await rejectsWith(dir, 'verify.broken_chain', {
    index: SIGNED + 11,
    object: `journal/${segmentName(SIGNED)}`,
  });
});

test('a pending entry that does not chain to the signed tree fails', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  const rec = JSON.parse(new TextDecoder().decode(records[0]));
  rec.prev = '0'.repeat(64);
  records[0] = new TextEncoder().encode(JSON.stringify(rec));
  writeSegment(dir, SIGNED, records);
  await rejectsWith(dir, 'verify.broken_chain', { index: SIGNED });
});

test('pending entries reordered fail as records at the wrong index', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  [records[3], records[4]] = [records[4]!, records[3]!];
  writeSegment(dir, SIGNED, records);
  await rejectsWith(dir, 'verify.bad_record', { index: SIGNED + 3 });
});

test('a pending entry that is not a record fails', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  records[7] = new TextEncoder().encode('{"not":"a record"}');
  writeSegment(dir, SIGNED, records);
  await rejectsWith(dir, 'verify.bad_record', { index: SIGNED + 7 });
});

test('a flipped byte inside the journal (not its torn tail) fails as a damaged journal', async () => {
  const dir = copy();
  const path = join(journalDir(dir), segmentName(SIGNED));
  const b = readFileSync(path);
  b[100] = b[100]! ^ 0x01; // inside the first record; whole records follow it
  writeFileSync(path, b);
  await rejectsWith(dir, 'verify.bad_journal', { object: `journal/${segmentName(SIGNED)}` });
});

test('a torn final write is left out, as the engine discards it, and the file is left as it is', async () => {
  const dir = copy();
  const path = join(journalDir(dir), segmentName(SIGNED));
  const firstAppendBytes = pendingRecords(dir)
    .slice(0, PENDING / 2)
    .reduce((n, r) => n + 8 + r.length, 0);
  const torn = readFileSync(path).subarray(0, -30); // cut inside the last append's last record
  writeFileSync(path, torn);
  const acme = (await verifyDir(dir)).find((r) => r.log === 'acme');
  // The whole second append goes (it is not complete), the first stays.
  assert.equal(acme?.pending, PENDING / 2);
  assert.equal(acme?.tornBytes, torn.length - firstAppendBytes);
  assert.deepEqual(readFileSync(path), torn, 'verification changed nothing');
  assert.deepEqual(segments(dir), [segmentName(SIGNED)]);
  // The engine cuts the same bytes, and its recovery report (service.recovery in _audit) says so.
  const dd = await openDataDir(dir, { logger: silentLogger });
  try {
    const r = dd.engine.recoveries().find((x) => x.log === 'acme');
    assert.deepEqual(r, { log: 'acme', from: SIGNED, to: SIGNED + PENDING / 2, tornBytes: acme?.tornBytes });
  } finally {
    await dd.close();
  }
});

test('a journal of several segments verifies; a gap between segments or damage in an earlier one fails', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  rmSync(join(journalDir(dir), segmentName(SIGNED)));
  writeSegment(dir, SIGNED, records.slice(0, 20));
  writeSegment(dir, SIGNED + 20, records.slice(20));
  assert.equal((await verifyDir(dir)).find((r) => r.log === 'acme')?.pending, PENDING);

  // Entries 320..324 gone: the next segment starts where the one before did not end.
  rmSync(join(journalDir(dir), segmentName(SIGNED + 20)));
  writeSegment(dir, SIGNED + 25, records.slice(25));
  await rejectsWith(dir, 'verify.bad_journal', { object: `journal/${segmentName(SIGNED + 25)}` });

  // The end of an earlier segment cut off: a torn tail only the last segment may have.
  rmSync(join(journalDir(dir), segmentName(SIGNED + 25)));
  writeSegment(dir, SIGNED + 20, records.slice(20));
  const first = join(journalDir(dir), segmentName(SIGNED));
  writeFileSync(first, readFileSync(first).subarray(0, -30));
  await rejectsWith(dir, 'verify.bad_journal', { object: `journal/${segmentName(SIGNED)}` });
});

test('a state store rolled back behind the journal fails, as the engine refuses to start', async () => {
  const dir = copy();
  // The state store's and the published checkpoint from when 100 entries were signed: the server
  // would resume from 100, but the journal starts at 300.
  for (const key of ['state/checkpoint', 'checkpoint']) {
    cpSync(join(early, 'logs', 'acme', key), join(dir, 'logs', 'acme', key));
  }
  // The kept history (checkpoints/…300) is ahead of the state: that is what both report first.
  await assert.rejects(
    openDataDir(dir, { logger: silentLogger }),
    /300 entries but the state store covers only 100/,
  );
  await rejectsWith(dir, 'verify.state_behind', { object: `checkpoints/${'300'.padStart(20, '0')}` });
});

test('a partial restore (state, journal and published checkpoint from an older copy) is refused, never forked', async () => {
  const dir = copy();
  // Everything the server resumes from agrees with itself at 100 entries; only checkpoints/ and the
  // tiles still hold the newer signed tree of 300. Resuming would sign different entries 100..299.
  for (const key of ['state', 'journal', 'checkpoint']) {
    rmSync(join(dir, 'logs', 'acme', key), { recursive: true, force: true });
    cpSync(join(early, 'logs', 'acme', key), join(dir, 'logs', 'acme', key), { recursive: true });
  }
  await assert.rejects(openDataDir(dir, { logger: silentLogger }), (err: unknown) => {
    const e = err as { code: string; details: Record<string, unknown> };
    assert.equal(e.code, 'log.storage_behind');
    assert.equal(e.details.signedSize, SIGNED);
    assert.equal(e.details.checkpointSize, 100);
    return true;
  });
  await rejectsWith(dir, 'verify.state_behind', {
    object: `checkpoints/${String(SIGNED).padStart(20, '0')}`,
  });
});

test('a restore of everything but the tiles (checkpoints/ included) is refused by the tiles sealed past it', async () => {
  const dir = copy();
  // State, journal and every checkpoint agree at 100 entries; only the tiles and bundles are newer
  // (tile/0/000 and tile/entries/000 sealed at 256), and the journal does not hold their entries.
  for (const key of ['state', 'journal', 'checkpoint', 'checkpoints']) {
    rmSync(join(dir, 'logs', 'acme', key), { recursive: true, force: true });
    cpSync(join(early, 'logs', 'acme', key), join(dir, 'logs', 'acme', key), { recursive: true });
  }
  await assert.rejects(openDataDir(dir, { logger: silentLogger }), (err: unknown) => {
    const e = err as { code: string; details: Record<string, unknown> };
    assert.equal(e.code, 'log.storage_behind');
    assert.equal(e.details.object, 'tile/0/000');
    assert.equal(e.details.checkpointSize, 100);
    return true;
  });
  await rejectsWith(dir, 'verify.state_behind', { object: 'tile/0/000' });
});

test('a kept checkpoint ahead of the state that does not verify is refused at open, not trusted or skipped', async () => {
  const dir = copy();
  const forged = `checkpoints/${String(SIGNED + 50).padStart(20, '0')}`;
  writeFileSync(join(dir, 'logs', 'acme', forged), 'not a signed note\n');
  await assert.rejects(openDataDir(dir, { logger: silentLogger }), (err: unknown) => {
    const e = err as { code: string; details: Record<string, unknown> };
    assert.equal(e.code, 'log.inconsistent');
    assert.equal(e.details.object, forged);
    return true;
  });
  await rejectsWith(dir, 'verify.bad_checkpoint', { object: forged });
});

test('a journal that starts after the signed tree (entries missing between) fails', async () => {
  const dir = copy();
  const records = pendingRecords(dir);
  renameSync(join(journalDir(dir), segmentName(SIGNED)), join(journalDir(dir), segmentName(SIGNED + 5)));
  writeSegment(dir, SIGNED + 5, records.slice(5));
  await rejectsWith(dir, 'verify.bad_journal', {
    index: SIGNED,
    object: `journal/${segmentName(SIGNED + 5)}`,
  });
});

test('a journal that ends before the signed tree (rolled back) fails', async () => {
  const dir = copy();
  rmSync(join(journalDir(dir), segmentName(SIGNED)));
  writeSegment(dir, 200, signedRecords(dir, 200, 250));
  await rejectsWith(dir, 'verify.bad_journal', { index: 250 });
});

test('signed entries still in the journal must be the signed ones', async () => {
  const dir = copy();
  // A crash between signing and dropping the journal's prefix leaves the signed entries there too.
  const signed = signedRecords(dir, 200, SIGNED);
  writeSegment(dir, 200, signed);
  const acme = (await verifyDir(dir)).find((r) => r.log === 'acme');
  assert.equal(acme?.pending, PENDING);

  const changed = signedRecords(dir, 200, SIGNED);
  const rec = JSON.parse(new TextDecoder().decode(changed[42]));
  rec.event.action = `${rec.event.action}.x`;
  changed[42] = new TextEncoder().encode(JSON.stringify(rec));
  writeSegment(dir, 200, changed);
  await rejectsWith(dir, 'verify.bad_journal', { index: 242, object: `journal/${segmentName(200)}` });
});

test('the memory driver’s journal is verified the same way', async () => {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  await engine.createLog('acme');
  await engine.append(
    'acme',
    Array.from({ length: 20 }, (_, k) => sampleEvent(k, 200)),
  );
  await engine.log('acme').integrate();
  await engine.append(
    'acme',
    Array.from({ length: 7 }, (_, k) => sampleEvent(20 + k, 200)),
  );
  // A crash: what was persisted, without the clean shutdown's integration.
  const crashed = driver.crash();
  const acme = (await verifyStorage(crashed)).find((r) => r.log === 'acme');
  assert.equal(acme?.treeSize, 20);
  assert.equal(acme?.pending, 7);
  await crashed.close();
});

test('indelible verify --data reports the pending entries, and names a damaged journal', () => {
  const bin = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  const dir = copy();
  const ok = cli('verify', '--data', dir);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(
    ok.stdout,
    new RegExp(
      `acme: OK, ${SIGNED} entries.*; ${PENDING} more entries acknowledged but not yet in a signed checkpoint`,
    ),
  );
  const json = JSON.parse(cli('verify', '--data', dir, '--json').stdout) as {
    logs: Array<{ log: string; pending: number; tree_size: number; torn_bytes: number }>;
  };
  const acme = json.logs.find((l) => l.log === 'acme');
  assert.deepEqual([acme?.pending, acme?.tree_size, acme?.torn_bytes], [PENDING, SIGNED, 0]);
  // A pinned key for a log the directory does not hold (a typo) is refused, not silently unused.
  const typo = cli('verify', '--data', dir, '--key', 'acmee=indelible.local/x+abcd1234+AAAA');
  assert.equal(typo.status, 2, typo.stdout);
  assert.match(typo.stderr, /--key names a log not in .*: acmee \(its logs: _audit, acme\)/);

  const torn = copy();
  const segment = join(journalDir(torn), segmentName(SIGNED));
  writeFileSync(segment, readFileSync(segment).subarray(0, -30));
  const cut = cli('verify', '--data', torn);
  assert.equal(cut.status, 0, cut.stderr);
  assert.match(cut.stdout, /; \d+ bytes of a torn final write left out/);

  const path = join(journalDir(dir), segmentName(SIGNED));
  const b = readFileSync(path);
  b[100] = b[100]! ^ 0x01;
  writeFileSync(path, b);
  const bad = cli('verify', '--data', dir);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /log acme: the journal is damaged.*\[verify\.bad_journal\]/);
});

test('indelible verify --data reads a read-only snapshot without its lock, and refuses a read-only view of a live directory', async (t) => {
  const bin = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const verify = (dir: string) =>
    spawnSync(process.execPath, [bin, 'verify', '--data', dir], { encoding: 'utf8', timeout: 60_000 });
  const mnt = mkdtempSync(join(tmpdir(), 'indelible-vj-ro-'));
  work.push(mnt);
  // A read-only bind mount stands in for a file-system snapshot; it needs root (CAP_SYS_ADMIN).
  const mountReadOnly = (dir: string): string | undefined => {
    const bind = spawnSync('mount', ['--bind', dir, mnt], { encoding: 'utf8' });
    if (bind.status !== 0) return (bind.stderr || bind.error?.message || 'mount failed').trim();
    const ro = spawnSync('mount', ['-o', 'remount,bind,ro', mnt], { encoding: 'utf8' });
    if (ro.status !== 0) {
      spawnSync('umount', [mnt]);
      return ro.stderr.trim();
    }
    return undefined;
  };

  const snapshot = copy();
  const why = mountReadOnly(snapshot);
  if (why !== undefined) {
    t.skip(`a read-only bind mount needs root here: ${why}`);
    return;
  }
  try {
    const r = verify(mnt);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /read-only file system; verifying it without taking its lock/);
    assert.match(r.stdout, new RegExp(`acme: OK, ${SIGNED} entries.*; ${PENDING} more entries`));
  } finally {
    spawnSync('umount', [mnt]);
  }

  // The same through a read-only view of a directory a server has open: its lock shows through.
  const live = copy();
  const dd = await openDataDir(live, { logger: silentLogger });
  try {
    assert.equal(mountReadOnly(live), undefined);
    try {
      const r = verify(mnt);
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`in use by process ${process.pid}.*storage\\.locked`));
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    await dd.close();
  }
});

test('an index ahead of its log (the log restored from an older copy than index.sqlite) refuses to open; reindex rebuilds it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-vj-ahead-'));
  const backup = mkdtempSync(join(tmpdir(), 'indelible-vj-ahead-backup-'));
  work.push(dir, backup);
  await initDataDir(dir);
  let dd = await openDataDir(dir, { logger: silentLogger });
  await dd.engine.createLog('acme');
  await dd.engine.append(
    'acme',
    Array.from({ length: 100 }, (_, k) => sampleEvent(k, 200)),
  );
  await dd.close();
  cpSync(join(dir, 'logs', 'acme'), backup, { recursive: true });
  dd = await openDataDir(dir, { logger: silentLogger });
  await dd.engine.append(
    'acme',
    Array.from({ length: 200 }, (_, k) => sampleEvent(100 + k, 200)),
  );
  await dd.close();
  // The log alone comes back from the backup; index.sqlite still covers the 300 entries.
  rmSync(join(dir, 'logs', 'acme'), { recursive: true });
  cpSync(backup, join(dir, 'logs', 'acme'), { recursive: true });
  await assert.rejects(openDataDir(dir, { logger: silentLogger }), (err: unknown) => {
    const e = err as { code: string; message: string; details: Record<string, unknown> };
    assert.equal(e.code, 'log.storage_behind');
    assert.deepEqual([e.details.indexCovered, e.details.size], [300, 100]);
    assert.match(e.message, /indelible reindex --log acme/);
    return true;
  });
  // Refused again, not rebuilt by the first attempt (the evidence is kept).
  await assert.rejects(openDataDir(dir, { logger: silentLogger }), { code: 'log.storage_behind' });
  // A deliberate rebuild of that log keeps the log as it is and opens.
  dd = await openDataDir(dir, { logger: silentLogger, rebuildIndexAhead: ['acme'] });
  try {
    assert.equal(dd.engine.log('acme').size, 100);
    assert.equal(await dd.engine.checkIndex('acme'), undefined);
  } finally {
    await dd.close();
  }
  dd = await openDataDir(dir, { logger: silentLogger });
  await dd.close();
});

test('a restore whose journal reaches past the signed tree is still refused by a tile sealed past the journal', async () => {
  // A snapshot of a running server: signed at 100, the journal holding 100..299. The newer copy went
  // on to seal tile/0/001 (entries 256..511) with other entries than any that would follow 300.
  const engine = { integrator: { intervalMs: 3_600_000, maxPending: 1_000_000 } };
  const dir = mkdtempSync(join(tmpdir(), 'indelible-vj-hole-'));
  const old = mkdtempSync(join(tmpdir(), 'indelible-vj-hole-old-'));
  work.push(dir, old);
  await initDataDir(dir);
  const dd = await openDataDir(dir, { engine, logger: silentLogger });
  await dd.engine.createLog('acme');
  await dd.engine.append(
    'acme',
    Array.from({ length: 100 }, (_, k) => sampleEvent(k, 200)),
  );
  await dd.engine.log('acme').integrate();
  await dd.engine.append(
    'acme',
    Array.from({ length: 200 }, (_, k) => sampleEvent(100 + k, 200)),
  );
  cpSync(join(dir, 'logs', 'acme'), old, { recursive: true });
  await dd.engine.log('acme').integrate();
  await dd.engine.append(
    'acme',
    Array.from({ length: 300 }, (_, k) => sampleEvent(300 + k, 200)),
  );
  await dd.engine.log('acme').integrate();
  await dd.close();
  for (const key of ['state', 'journal', 'checkpoint', 'checkpoints']) {
    rmSync(join(dir, 'logs', 'acme', key), { recursive: true, force: true });
    cpSync(join(old, key), join(dir, 'logs', 'acme', key), { recursive: true });
  }
  await rejectsWith(dir, 'verify.state_behind', { object: 'tile/0/001' });
  await assert.rejects(openDataDir(dir, { engine, logger: silentLogger }), (err: unknown) => {
    const e = err as { code: string; details: Record<string, unknown> };
    assert.equal(e.code, 'log.storage_behind');
    assert.deepEqual(
      [e.details.object, e.details.checkpointSize, e.details.journalEnd],
      ['tile/0/001', 100, 300],
    );
    return true;
  });
});

test('a log whose folder was removed by hand can be created again: the index forgets its old rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-vj-recreate-'));
  work.push(dir);
  await initDataDir(dir);
  let dd = await openDataDir(dir, { logger: silentLogger });
  await dd.engine.createLog('scratch');
  await dd.engine.append(
    'scratch',
    Array.from({ length: 5 }, (_, k) => sampleEvent(k)),
  );
  await dd.close();
  rmSync(join(dir, 'logs', 'scratch'), { recursive: true });
  dd = await openDataDir(dir, { logger: silentLogger });
  try {
    await dd.engine.createLog('scratch');
    const { entries } = await dd.engine.append('scratch', [sampleEvent(100)]);
    assert.equal(entries[0]!.index, 0);
    assert.equal(await dd.engine.checkIndex('scratch'), undefined);
  } finally {
    await dd.close();
  }
  dd = await openDataDir(dir, { logger: silentLogger });
  assert.equal(dd.engine.log('scratch').size, 1);
  await dd.close();
});
