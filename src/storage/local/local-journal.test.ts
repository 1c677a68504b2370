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
import { scanSegment } from './journal-format.js';
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

/**
 * A frame as the format in journal-format.ts defines it, built independently of the encoder:
 * 'mid' and 'end' are frames of a delimited append (bit 30; bit 31 on an append's last frame),
 * 'legacy' a frame of the older undelimited format.
 */
function frame(
  payload: Uint8Array,
  badChecksum = false,
  kind: 'mid' | 'end' | 'legacy' = 'end',
  tag = 0,
): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  const flags = kind === 'legacy' ? 0 : (kind === 'mid' ? 2 ** 30 : 2 ** 31 + 2 ** 30) + tag * 2 ** 24;
  b.writeUInt32LE(payload.length + flags, 0);
  b.set(payload, 8);
  b.writeUInt32LE((crc32c(payload, 0, payload.length, crc32c(b, 0, 4)) ^ (badChecksum ? 1 : 0)) >>> 0, 4);
  return b;
}

/** The frames of one append of `records` with tag `tag` (the append's number mod 16), as the journal writes them. */
function appendFrames(records: Uint8Array[], tag: number): Buffer {
  return Buffer.concat(records.map((r, i) => frame(r, false, i === records.length - 1 ? 'end' : 'mid', tag)));
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

  /** A fresh log with `batches` appended (one append each) and the journal closed; its segment path. */
  async function appended(batches: Uint8Array[][]): Promise<{ name: string; seg: string }> {
    const name = `log${n++}`;
    const j = await driver.log(name).openJournal(0);
    for (const b of batches) await j.append(b);
    await j.close();
    return { name, seg: join(root, 'logs', name, 'journal', SEG0) };
  }

  /** Rewrites a segment file after `change` edited its bytes in place. */
  async function damage(seg: string, change: (bytes: Buffer) => void): Promise<void> {
    const bytes = await readFile(seg);
    change(bytes);
    await writeFile(seg, bytes);
  }

  /** A fresh log with records 0..2 appended and the journal closed; returns its segment path. */
  async function threeRecords(): Promise<{ name: string; seg: string; size: number }> {
    const { name, seg } = await appended([[rec(0), rec(1), rec(2)]]);
    return { name, seg, size: (await stat(seg)).size };
  }

  test('the segment file is exactly the framed records', async () => {
    const { seg } = await threeRecords();
    assert.deepEqual(await readFile(seg), appendFrames([rec(0), rec(1), rec(2)], 0));
  });

  // [what, the bytes a crash left after records 0..2, the whole records among them]
  const tornTails: ReadonlyArray<readonly [string, () => Buffer, Uint8Array[]]> = [
    ['a partial header', () => Buffer.from([5, 0, 0]), []],
    [
      'a header announcing more than the file holds',
      () => frame(enc.encode('x'.repeat(100))).subarray(0, 30),
      [],
    ],
    ['a frame whose checksum is cut off', () => frame(rec(3)).subarray(0, 6), []],
    ['a zero-filled extension', () => Buffer.alloc(4096), []],
    ['a lone zero header', () => Buffer.alloc(8), []],
    // The whole first record of a cut append goes too: only whole appends are kept.
    ['a batch cut inside its second record', () => appendFrames([rec(3), rec(4)], 1).subarray(0, 25), []],
    ['a batch whose last frame is missing', () => appendFrames([rec(3), rec(4)], 1).subarray(0, 20), []],
  ];
  for (const [what, tail, whole] of tornTails) {
    test(`a torn tail (${what}) is cut at open, whole records kept, appends continue`, async () => {
      const { name, seg, size } = await threeRecords();
      await appendFile(seg, tail());
      const written = (await stat(seg)).size;
      const before = warnings.length;
      const j = await driver.log(name).openJournal(0);
      const expected = [rec(0), rec(1), rec(2), ...whole];
      assert.deepEqual({ start: j.start, end: j.end }, { start: 0, end: expected.length });
      const kept = size + whole.reduce((sum, r) => sum + frame(r).length, 0);
      assert.equal((await stat(seg)).size, kept, 'the garbage is gone from the file');
      assert.equal(j.discardedBytes, written - kept, 'the journal reports what it cut');
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

  // A crash cuts the final append short or loses sectors of it (zeros); it cannot leave a frame
  // that is all there and wrong. That is a flipped bit in a record that may have been acknowledged.
  test('a whole final frame with a bad checksum and no lost sector is corruption, never cut', async () => {
    const { name, seg, size } = await threeRecords();
    await appendFile(seg, frame(rec(3), true, 'end', 1));
    await assert.rejects(driver.log(name).openJournal(0), (err: unknown) => {
      assert.ok(expectCode('storage.corrupt')(err), String(err));
      assert.equal((err as StorageError).details?.offset, size);
      return true;
    });
    assert.equal((await stat(seg)).size, size + frame(rec(3)).length, 'nothing is cut');
  });

  test('a flipped bit in the last acknowledged record is corruption, not a torn tail', async () => {
    const { name, seg, size } = await threeRecords();
    await damage(seg, (bytes) => {
      bytes[size - 1]! ^= 0x01; // the last byte of record 2, the final append's last frame
    });
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
    assert.equal((await stat(seg)).size, size, 'nothing is cut');
  });

  test('a whole final frame whose last sector was lost (zeros) is a torn tail', async () => {
    const first = endingBefore(0); // the final append starts on a sector boundary
    const { name, seg } = await appended([[first], [enc.encode(`{"index":1,"pad":"${'q'.repeat(1200)}"}`)]]);
    const end = (await stat(seg)).size;
    assert.ok(end > 1024 + 8, 'the final append spans more than one sector');
    await damage(seg, (bytes) => bytes.fill(0, 1024, end)); // its third sector never landed
    const k = await driver.log(name).openJournal(0);
    assert.equal(k.end, 1);
    assert.equal((await stat(seg)).size, 512, 'the torn append is cut');
    await k.close();
  });

  for (const over of [1, 2, 3]) {
    test(`a final frame ending ${over} byte(s) into a lost sector is a torn tail`, async () => {
      // The last sector holds only the final `over` bytes of the record, read back as zeros: no
      // frame can follow them and a record's bytes are never zero, so the sector was lost.
      const r = enc.encode(`{"index":0,"pad":"${'r'.repeat(512 + over - 8 - 20)}"}`);
      assert.equal(frame(r).length, 512 + over);
      const { name, seg } = await appended([[r]]);
      await damage(seg, (bytes) => bytes.fill(0, 512));
      const k = await driver.log(name).openJournal(0);
      assert.equal(k.end, 0);
      assert.equal((await stat(seg)).size, 0, 'the torn append is cut');
      await k.close();
    });
  }

  test('a flipped bit that makes the final frame run past the end of the file is corruption', async () => {
    const { name, seg, size } = await threeRecords();
    const last = size - frame(rec(2)).length;
    await damage(seg, (bytes) => {
      bytes[last + 1]! ^= 0x04; // length + 1024: it seems cut short, but the CRC matches the real length
    });
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
    assert.equal((await stat(seg)).size, size, 'nothing is cut');
  });

  for (const gap of [1, 2, 3]) {
    test(`a final append starting ${gap} byte(s) before a lost sector boundary and cut short is torn`, async () => {
      const first = endingBefore(gap);
      const { name, seg } = await appended([
        [first],
        [enc.encode(`{"index":1,"pad":"${'q'.repeat(1200)}"}`)],
      ]);
      await damage(seg, (bytes) => bytes.fill(0, 512 - gap, 512));
      await truncate(seg, 1024); // the file ends inside that frame too
      const k = await driver.log(name).openJournal(0);
      assert.equal(k.end, 1);
      assert.equal((await stat(seg)).size, 512 - gap);
      await k.close();
    });
  }

  for (const gap of [1, 2, 3]) {
    test(`a single-frame final append starting ${gap} byte(s) before a lost sector boundary is torn`, async () => {
      // Only the low bytes of its length word are zero, and restoring them makes the frame valid.
      const first = endingBefore(gap);
      const { name, seg } = await appended([[first], [big(1)]]);
      await damage(seg, (bytes) => bytes.fill(0, 512 - gap, 512));
      const k = await driver.log(name).openJournal(0);
      assert.equal(k.end, 1);
      await k.close();
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

  // A power loss during the final (unacknowledged) append: the disk persisted some of its pages but
  // not others, so a sector of zeros sits between whole records of that append.
  const big = (i: number) => enc.encode(`{"index":${i},"pad":"${'p'.repeat(300)}"}`);
  async function threeAppends(): Promise<{ name: string; seg: string; starts: number[] }> {
    const { name, seg } = await appended(
      [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17, 18, 19],
      ].map((a) => a.map(big)),
    );
    const starts: number[] = [];
    let at = 0;
    for (let i = 0; i < 20; i++) {
      starts.push(at);
      at += frame(big(i)).length;
    }
    return { name, seg, starts };
  }
  /** Zeroes the 512-byte sector that starts at or after `offset`. */
  async function zeroSectorFrom(seg: string, offset: number): Promise<number> {
    const sector = Math.ceil(offset / 512) * 512;
    await damage(seg, (bytes) => bytes.fill(0, sector, sector + 512));
    return sector;
  }

  test('a lost sector inside the final append is a torn tail: that whole append is cut', async () => {
    const { name, seg, starts } = await threeAppends();
    const sector = await zeroSectorFrom(seg, starts[14]!);
    assert.ok(sector + 512 < starts[19]!, 'whole records of the final append survive after the hole');
    const before = warnings.length;
    const j = await driver.log(name).openJournal(0);
    assert.equal(j.end, 12, 'the two acknowledged appends stay, the torn one goes');
    assert.deepEqual(
      await j.read(0, 12),
      Array.from({ length: 12 }, (_, i) => big(i)),
    );
    assert.equal((await stat(seg)).size, starts[12]);
    assert.equal(warnings.length, before + 1);
    await j.append([big(99)]);
    await j.close();
    const again = await driver.log(name).openJournal(0);
    assert.equal(again.end, 13);
    await again.close();
  });

  test('a final append that starts mid-sector and lost that sector is a torn tail', async () => {
    // Record sizes chosen so the second append starts inside a sector, not at its start.
    const small = enc.encode('{"index":1}');
    const { name, seg } = await appended([
      [big(0), small],
      [big(2), big(3), big(4)],
    ]);
    const second = frame(big(0)).length + frame(small).length;
    assert.ok(second % 512 !== 0 && second % 512 < 504);
    // The rest of that sector was never written.
    await damage(seg, (bytes) => bytes.fill(0, second, Math.ceil(second / 512) * 512));
    const k = await driver.log(name).openJournal(0);
    assert.equal(k.end, 2);
    await k.close();
  });

  test('a lost sector across the end of an acknowledged append and the next one is corruption', async () => {
    // The hole hides the last frame of append A and the first of append B, leaving B's later
    // frames; B's tag shows they are not A's, so nothing may be cut.
    const mid = (i: number) => enc.encode(`{"index":${i},"pad":"${'q'.repeat(560)}"}`);
    const { name, seg } = await appended([
      [mid(0), mid(1)],
      [mid(2), mid(3), mid(4)],
    ]);
    const f = frame(mid(0)).length;
    // One lost sector, from inside A's last frame into B's first; B's later frames intact.
    const hole = Math.ceil((f + 8) / 512) * 512;
    assert.ok(hole < 2 * f && hole + 512 > 2 * f && hole + 512 < 3 * f);
    await damage(seg, (bytes) => bytes.fill(0, hole, hole + 512));
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('a hole at byte 0 hiding acknowledged appends is corruption, not a torn first append', async () => {
    // E (one record) then F (two records), both acknowledged; the first sector is lost. F's frames
    // carry tag 1, not the tag 0 of a segment's first append, so they cannot pass for its tail.
    const { name, seg } = await appended([[big(0)], [big(1), big(2)]]);
    assert.ok(frame(big(0)).length < 512 && 512 < 2 * frame(big(0)).length);
    await damage(seg, (bytes) => bytes.fill(0, 0, 512));
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('a final append starting a few bytes before a sector boundary, that sector lost, is torn', async () => {
    const first = enc.encode(`{"index":0,"pad":"${'r'.repeat(499 - 20)}"}`);
    assert.equal(frame(first).length, 507, 'the first append ends 5 bytes before the boundary');
    const { name, seg } = await appended([[first], [big(1), big(2), big(3)]]);
    // The lost sector's part that belonged to the final append.
    await damage(seg, (bytes) => bytes.fill(0, 507, 512));
    const k = await driver.log(name).openJournal(0);
    assert.equal(k.end, 1);
    assert.deepEqual(await k.read(0, 1), [first]);
    await k.close();
  });

  /** A first append whose frame ends `gap` bytes before the 512-byte boundary. */
  const endingBefore = (gap: number) => {
    const r = enc.encode(`{"index":0,"pad":"${'r'.repeat(512 - gap - 8 - 20)}"}`);
    assert.equal(frame(r).length, 512 - gap);
    return r;
  };
  for (const gap of [1, 2, 3]) {
    test(`a final append starting ${gap} byte(s) before a sector boundary, that sector lost, is torn`, async () => {
      // Only `gap` zero bytes are left of the lost sector's part in the final append: too few to
      // count as a lost sector by themselves, but restoring the length the next frame implies makes
      // the first frame valid again (its CRC matches), so nothing else is wrong with it.
      const first = endingBefore(gap);
      const { name, seg } = await appended([[first], [big(1), big(2), big(3)]]);
      await damage(seg, (bytes) => bytes.fill(0, 512 - gap, 512));
      const k = await driver.log(name).openJournal(0);
      assert.equal(k.end, 1);
      assert.deepEqual(await k.read(0, 1), [first]);
      await k.append([big(9)]);
      await k.close();
      const again = await driver.log(name).openJournal(0);
      assert.equal(again.end, 2);
      await again.close();
    });
  }

  test('1-3 zero bytes before a boundary plus other damage in that frame are corruption', async () => {
    const first = endingBefore(2);
    const { name, seg } = await appended([[first], [big(1), big(2), big(3)]]);
    await damage(seg, (bytes) => {
      bytes.fill(0, 510, 512);
      bytes[600] = (bytes[600]! ^ 0x01) & 0xff; // a flipped bit in the same frame's payload
    });
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('1-3 zero bytes before a boundary at the start of an acknowledged append are corruption', async () => {
    // Append B starts 2 bytes before the boundary and append C follows it: B was acknowledged
    // (C could only be written after it was durable), and C's tag differs from B's.
    const first = endingBefore(2);
    const { name, seg } = await appended([[first], [big(1), big(2)], [big(3), big(4)]]);
    await damage(seg, (bytes) => bytes.fill(0, 510, 512));
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  /** A record whose frame is exactly `size` bytes. */
  const framed = (i: number, size: number) => {
    const head = `{"index":${i},"pad":"`;
    const r = enc.encode(`${head}${'t'.repeat(size - 8 - head.length - 2)}"}`);
    assert.equal(frame(r).length, size);
    return r;
  };

  test('the scan judges restored length bytes without writing them into the bytes it was given', async () => {
    const first = endingBefore(3);
    const { seg } = await appended([[first], [big(1), big(2)]]);
    await damage(seg, (bytes) => bytes.fill(0, 509, 512));
    const bytes = await readFile(seg);
    const copy = Buffer.from(bytes);
    assert.equal(scanSegment(bytes, true, 'seg').validLength, 509);
    assert.deepEqual(bytes, copy);
  });

  test('zeros ending at a sector boundary inside an append (not at its start) are corruption', async () => {
    // A real lost sector would have zeroed the same append's earlier bytes in that sector too.
    // Found by review: [200, 510) [510, 1118) [1118, 1726) of one append, bytes 510-511 zeroed.
    for (const [cut, sizes] of [
      [510, [310, 608, 608]],
      [505, [305, 608, 608]],
    ] as const) {
      const { name, seg } = await appended([[framed(0, 200)], sizes.map((size, i) => framed(i + 1, size))]);
      await damage(seg, (bytes) => bytes.fill(0, cut, 512));
      await assert.rejects(
        driver.log(name).openJournal(0),
        expectCode('storage.corrupt'),
        `zeros ${cut}-511`,
      );
    }
  });

  test('restored low length bytes of a frame that ends its append are corruption', async () => {
    // Hand-made (no writer produces it): [0, 510) ends append 0; [510, 1118) and [1118, 1726) both
    // claim append 1 and APPEND_END. Restoring bytes 510-511 would make the first valid, but a
    // frame after an append's last frame cannot belong to that append.
    const { name, seg } = await appended([[rec(0)]]);
    await writeFile(
      seg,
      Buffer.concat([
        frame(framed(0, 510), false, 'end', 0),
        frame(framed(1, 608), false, 'end', 1),
        frame(framed(2, 608), false, 'end', 1),
      ]),
    );
    const intact = await driver.log(name).openJournal(0);
    assert.equal(intact.end, 3);
    await intact.close();
    await damage(seg, (b) => b.fill(0, 510, 512));
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('a lost sector that ends inside a surviving frame whose first length byte is zero is torn', async () => {
    // A third review's case: the final append's second frame starts at 1023 and holds 512 bytes,
    // so its first length byte is 0x00; losing sector [512, 1024) zeroes nothing of it that was not
    // zero already, yet the sector runs one byte into it.
    const sized = (i: number, len: number) => {
      const head = `{"index":${i},"pad":"`;
      return enc.encode(`${head}${'s'.repeat(len - head.length - 2)}"}`);
    };
    const { name, seg } = await appended([
      [sized(0, 92)],
      [sized(1, 1023 - 100 - 8), sized(2, 512), sized(3, 300)],
    ]);
    await damage(seg, (bytes) => {
      assert.equal(bytes[1023], 0, 'the surviving frame starts with a zero byte');
      bytes.fill(0, 512, 1024);
    });
    const k = await driver.log(name).openJournal(0);
    assert.equal(k.end, 1);
    await k.close();
  });

  test('records over the journal limit are refused at append, nothing written', async () => {
    const name = `log${n++}`;
    const j = await driver.log(name).openJournal(0);
    await assert.rejects(
      j.append([new Uint8Array(1024 * 1024 + 1).fill(0x61)]),
      expectCode('storage.out_of_range'),
    );
    await j.append([rec(0)]);
    assert.equal(j.end, 1);
    await j.close();
  });

  test('a lost sector inside an earlier (acknowledged) append is corruption', async () => {
    const { name, seg, starts } = await threeAppends();
    const sector = await zeroSectorFrom(seg, starts[7]!);
    assert.ok(sector + 512 < starts[12]!, 'the hole is inside the second append');
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('a flipped bit inside the final append, with records after it, is corruption', async () => {
    const { name, seg, starts } = await threeAppends();
    await damage(seg, (bytes) => {
      bytes[starts[14]! + 20]! ^= 0x08;
    });
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
  });

  test('undelimited (older) frames: a lost sector followed by records stays corruption', async () => {
    const name = `log${n++}`;
    const dir = join(root, 'logs', name, 'journal');
    const j = await driver.log(name).openJournal(0);
    await j.close();
    const legacy = Buffer.concat(Array.from({ length: 8 }, (_, i) => frame(big(i), false, 'legacy')));
    legacy.fill(0, 1024, 1536);
    await writeFile(join(dir, SEG0), legacy);
    await assert.rejects(driver.log(name).openJournal(0), expectCode('storage.corrupt'));
    // Whole older frames still open as before, and new appends after them are delimited.
    const whole = Buffer.concat(Array.from({ length: 3 }, (_, i) => frame(big(i), false, 'legacy')));
    await writeFile(join(dir, SEG0), whole);
    const k = await driver.log(name).openJournal(0);
    assert.equal(k.end, 3);
    await k.append([big(3), big(4)]);
    await k.close();
    assert.deepEqual(
      await readFile(join(dir, SEG0)),
      Buffer.concat([whole, appendFrames([big(3), big(4)], 1)]),
    );
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

  test('a journal holding no records keeps no file open (an idle log costs no descriptor)', async () => {
    // Hundreds of idle logs in one data directory must not hold hundreds of descriptors: at the
    // common `ulimit -n` of 1024 a server with a thousand logs could not start.
    const fds = async () => (await readdir('/proc/self/fd')).length;
    const logs = 300;
    const before = await fds();
    const journals = [];
    for (let i = 0; i < logs; i++) {
      const j = await driver.log(`idle${i}`).openJournal(0);
      await j.append([rec(0), rec(1)]);
      await j.truncateBefore(2); // integrated: the journal rolls to an empty segment
      journals.push(j);
    }
    assert.ok((await fds()) - before < 20, `${(await fds()) - before} descriptors for ${logs} idle journals`);
    await Promise.all(journals.map((j) => j.close()));
    const reopened = [];
    for (let i = 0; i < logs; i++) reopened.push(await driver.log(`idle${i}`).openJournal(2));
    assert.ok((await fds()) - before < 20, 'reopened idle journals hold no descriptor either');
    // The next append opens the segment again, and the record reads back.
    const j = reopened[0]!;
    await j.append([rec(2)]);
    assert.deepEqual(await j.read(2, 3), [rec(2)]);
    await j.truncateBefore(3);
    await j.append([rec(3)]);
    assert.deepEqual({ start: j.start, end: j.end }, { start: 3, end: 4 });
    assert.deepEqual(await j.read(3, 4), [rec(3)]);
    await Promise.all(reopened.map((r) => r.close()));
    const again = await driver.log('idle0').openJournal(0);
    assert.deepEqual(await again.read(3, 4), [rec(3)]);
    await again.close();
  });

  test('past journalHandles, journals written at once keep no file open between appends', async () => {
    // A thousand logs written within one integration interval would otherwise hold a thousand
    // descriptors until integrated: at `ulimit -n 1024` appends and integrations then fail.
    const fds = async () => (await readdir('/proc/self/fd')).length;
    const busyRoot = await mkdtemp(join(tmpdir(), 'indelible-handles-'));
    const busy = await createLocalDriver({ root: busyRoot, logger, journalHandles: 8 });
    try {
      const logs = 200;
      const before = await fds();
      const journals = await Promise.all(
        Array.from({ length: logs }, async (_, i) => {
          const j = await busy.log(`busy${i}`).openJournal(0);
          await j.append([rec(0)]);
          return j;
        }),
      );
      await Promise.all(journals.map((j) => j.append([rec(1), rec(2)])));
      assert.ok(
        (await fds()) - before <= 8 + 10,
        `${(await fds()) - before} descriptors for ${logs} journals`,
      );
      for (const j of journals.slice(0, 20)) assert.deepEqual(await j.read(0, 3), [rec(0), rec(1), rec(2)]);
      await Promise.all(journals.map((j) => j.close()));
      // Reopened with records to replay: read, appended to, and still within the bound.
      const reopened = await Promise.all(
        Array.from({ length: logs }, (_, i) => busy.log(`busy${i}`).openJournal(0)),
      );
      assert.ok((await fds()) - before <= 8 + 10, 'reopened journals stay within the bound');
      await reopened[5]!.append([rec(3)]);
      assert.deepEqual(await reopened[5]!.read(0, 4), [rec(0), rec(1), rec(2), rec(3)]);
      await Promise.all(reopened.map((j) => j.close()));
    } finally {
      await busy.close();
      await rm(busyRoot, { recursive: true, force: true });
    }
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
