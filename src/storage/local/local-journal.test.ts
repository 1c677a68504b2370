// The local journal on disk: CRC-32C vectors, torn-tail recovery, corruption detection, segments.
import assert from 'node:assert/strict';
import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StorageError } from '../errors.js';
import { crc32c } from './crc32c.js';
import { createLocalDriver, type LocalDriver } from './local-driver.js';
import type { StorageLogger } from './logger.js';

const enc = new TextEncoder();
const rec = (i: number) => enc.encode(`{"index":${i}}`);
const SEG0 = '00000000000000000000.seg';

// RFC 3720 Appendix B.4 (iSCSI CRC-32C examples) and the CRC catalogue's check value of
// CRC-32/ISCSI over "123456789".
test('crc32c matches RFC 3720 B.4 and the catalogue check value', () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(enc.encode('123456789')), 0xe3069283);
  // Continuation: the CRC of a ‖ b computed in two calls.
  assert.equal(crc32c(enc.encode('56789'), 0, 5, crc32c(enc.encode('1234'))), 0xe3069283);
});

/** A frame as the format in journal-format.ts defines it, built independently of the encoder. */
function frame(payload: Uint8Array, badChecksum = false): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt32LE(payload.length, 0);
  b.set(payload, 8);
  b.writeUInt32LE((crc32c(payload, 0, payload.length, crc32c(b, 0, 4)) ^ (badChecksum ? 1 : 0)) >>> 0, 4);
  return b;
}

function expectCode(code: string) {
  return (err: unknown) => err instanceof StorageError && err.code === code;
}

describe('local journal on disk', () => {
  let root: string;
  let driver: LocalDriver;
  const warnings: string[] = [];
  const logger: StorageLogger = { warn: (_d, msg) => warnings.push(msg) };
  let n = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'indelible-journal-'));
    driver = await createLocalDriver({ root, logger, journalSegmentBytes: 1 << 20 });
  });
  after(async () => {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh log with records 0..2 appended and the journal closed; returns its segment path. */
  async function threeRecords(): Promise<{ name: string; seg: string; size: number }> {
    const name = `log${n++}`;
    const j = await driver.log(name).openJournal(0);
    await j.append([rec(0), rec(1), rec(2)]);
    await j.close();
    const seg = join(root, 'logs', name, 'journal', SEG0);
    return { name, seg, size: (await stat(seg)).size };
  }

  test('the segment file is exactly the framed records', async () => {
    const { seg } = await threeRecords();
    assert.deepEqual(await readFile(seg), Buffer.concat([frame(rec(0)), frame(rec(1)), frame(rec(2))]));
  });

  // [what, the bytes a crash left after records 0..2, the whole records among them]
  const tornTails: ReadonlyArray<readonly [string, () => Buffer, Uint8Array[]]> = [
    ['a partial header', () => Buffer.from([5, 0, 0]), []],
    [
      'a header announcing more than the file holds',
      () => frame(enc.encode('x'.repeat(100))).subarray(0, 30),
      [],
    ],
    ['a whole frame with a bad checksum', () => frame(rec(3), true), []],
    ['a zero-filled extension', () => Buffer.alloc(4096), []],
    ['a lone zero header', () => Buffer.alloc(8), []],
    [
      'a batch cut inside its second record',
      () => Buffer.concat([frame(rec(3)), frame(rec(4))]).subarray(0, 25),
      [rec(3)],
    ],
  ];
  for (const [what, tail, whole] of tornTails) {
    test(`a torn tail (${what}) is cut at open, whole records kept, appends continue`, async () => {
      const { name, seg, size } = await threeRecords();
      await appendFile(seg, tail());
      const before = warnings.length;
      const j = await driver.log(name).openJournal(0);
      const expected = [rec(0), rec(1), rec(2), ...whole];
      assert.deepEqual({ start: j.start, end: j.end }, { start: 0, end: expected.length });
      const kept = size + whole.reduce((sum, r) => sum + frame(r).length, 0);
      assert.equal((await stat(seg)).size, kept, 'the garbage is gone from the file');
      assert.equal(warnings.length, before + 1, 'one warning names the discarded tail');
      assert.deepEqual(await j.read(0, expected.length), expected);
      await j.append([rec(9)]);
      await j.close();
      const again = await driver.log(name).openJournal(0);
      assert.equal(again.end, expected.length + 1);
      assert.deepEqual(await again.read(0, again.end), [...expected, rec(9)]);
      await again.close();
    });
  }

  test('a damaged record followed by good ones is corruption, not a torn tail', async () => {
    const { name, seg } = await threeRecords();
    const bytes = await readFile(seg);
    const second = frame(rec(0)).length; // offset of record 1
    bytes[second + 9]! ^= 0x40; // one bit of its payload
    await writeFile(seg, bytes);
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('a damaged length field in the middle is corruption, not a torn tail', async () => {
    const { name, seg } = await threeRecords();
    const bytes = await readFile(seg);
    bytes.writeUInt32LE(0x00ffffff, frame(rec(0)).length);
    await writeFile(seg, bytes);
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('damage after open is reported by read, never returned', async () => {
    const { name, seg } = await threeRecords();
    const j = await driver.log(name).openJournal(0);
    const bytes = await readFile(seg);
    bytes[frame(rec(0)).length + 9]! ^= 0x01;
    await writeFile(seg, bytes);
    await assert.rejects(j.read(0, 3), expectCode('storage.corrupt'));
    assert.deepEqual(await j.read(0, 1), [rec(0)]);
    await j.close();
  });

  describe('segments', () => {
    let small: LocalDriver;
    let smallRoot: string;
    before(async () => {
      smallRoot = await mkdtemp(join(tmpdir(), 'indelible-segments-'));
      // Every append after the first byte rolls to a new segment.
      small = await createLocalDriver({ root: smallRoot, logger, journalSegmentBytes: 1 });
    });
    after(async () => {
      await small.close();
      await rm(smallRoot, { recursive: true, force: true });
    });
    const segName = (base: number) => `${String(base).padStart(20, '0')}.seg`;

    async function segmented(name: string): Promise<string> {
      const j = await small.log(name).openJournal(0);
      await j.append([rec(0), rec(1)]);
      await j.append([rec(2)]);
      await j.append([rec(3), rec(4)]);
      await j.close();
      return join(smallRoot, 'logs', name, 'journal');
    }

    test('segments roll by size; truncation deletes whole segments; reopen restores start and end', async () => {
      const dir = await segmented('roll');
      assert.deepEqual((await readdir(dir)).sort(), [segName(0), segName(2), segName(3)]);
      const j = await small.log('roll').openJournal(0);
      assert.deepEqual({ start: j.start, end: j.end }, { start: 0, end: 5 });
      assert.deepEqual(await j.read(1, 5), [rec(1), rec(2), rec(3), rec(4)]);
      await j.truncateBefore(3);
      assert.equal(j.start, 3);
      assert.deepEqual((await readdir(dir)).sort(), [segName(3)]);
      await j.truncateBefore(5);
      assert.deepEqual({ start: j.start, end: j.end }, { start: 5, end: 5 });
      assert.deepEqual((await readdir(dir)).sort(), [segName(5)]);
      await j.close();
      const again = await small.log('roll').openJournal(0);
      assert.deepEqual({ start: again.start, end: again.end }, { start: 5, end: 5 });
      await again.close();
    });

    test('a damaged tail in an earlier segment is corruption', async () => {
      const dir = await segmented('early');
      await truncate(join(dir, segName(2)), 5);
      await assert.rejects(small.log('early').openJournal(0), expectCode('storage.corrupt'));
    });

    test('a missing middle segment is corruption', async () => {
      const dir = await segmented('gap');
      await unlink(join(dir, segName(2)));
      await assert.rejects(small.log('gap').openJournal(0), expectCode('storage.corrupt'));
    });
  });
});
