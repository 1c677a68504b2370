/** Conformance cases for the sequencing Journal (see conformance.ts). */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytes, type CaseDef, rejectsWith } from './conformance-helpers.js';
import type { Journal, StorageDriver } from './types.js';

/** Record i of a test journal: distinct bytes per index. */
function rec(i: number): Uint8Array {
  return bytes(`{"index":${i}}`);
}

function recs(from: number, to: number): Uint8Array[] {
  return Array.from({ length: to - from }, (_, k) => rec(from + k));
}

function assertBounds(j: Journal, start: number, end: number): void {
  assert.deepEqual({ start: j.start, end: j.end }, { start, end });
}

/** One model-checked run: random appends, truncations and reopens against an array. */
async function modelRun(
  driver: StorageDriver,
  log: string,
  ops: ReadonlyArray<{ t: 'append'; batch: Uint8Array[] } | { t: 'truncate'; at: number } | { t: 'reopen' }>,
): Promise<void> {
  const model: Uint8Array[] = [];
  let dropped = 0; // the journal may keep more than asked, never less
  let j = await driver.log(log).openJournal(0);
  try {
    for (const op of ops) {
      if (op.t === 'append') {
        await j.append(op.batch);
        model.push(...op.batch);
      } else if (op.t === 'truncate') {
        const index = Math.floor(op.at * (model.length + 1));
        await j.truncateBefore(index);
        dropped = Math.max(dropped, index);
      } else {
        const { start, end } = j;
        await j.close();
        j = await driver.log(log).openJournal(0);
        assertBounds(j, start, end);
      }
      assert.equal(j.end, model.length);
      assert.ok(j.start >= 0 && j.start <= dropped, 'truncateBefore never drops at or after its index');
      assert.deepEqual(await j.read(j.start, j.end), model.slice(j.start));
      await assertScanMatches(driver, log, j);
    }
  } finally {
    await j.close();
  }
}

/** `scanJournal` (where the driver has it) sees exactly what the open journal holds. */
async function assertScanMatches(driver: StorageDriver, log: string, j: Journal): Promise<void> {
  const storage = driver.log(log);
  if (storage.scanJournal === undefined) return;
  const records: Uint8Array[] = [];
  let start: number | undefined;
  for await (const seg of storage.scanJournal()) {
    start ??= seg.base;
    assert.equal(seg.base, start + records.length, 'segments are contiguous');
    assert.equal(seg.tornBytes, 0);
    records.push(...seg.records);
  }
  assert.equal(start, j.start);
  assert.deepEqual(records, await j.read(j.start, j.end));
}

export const journalCases: CaseDef[] = [
  {
    id: 'journal.scan',
    title: 'scanJournal reads the journal as stored and changes nothing',
    async run(s) {
      const log = s.driver.log('acme');
      if (log.scanJournal === undefined) return;
      for await (const _ of log.scanJournal()) assert.fail('a log without a journal scans as nothing');
      assert.deepEqual(await s.driver.listLogs(), [], 'scanning created nothing');
      const j = await log.openJournal(5);
      await j.append(recs(5, 9));
      await assertScanMatches(s.driver, 'acme', j);
      await j.truncateBefore(7);
      await j.append(recs(9, 10));
      await assertScanMatches(s.driver, 'acme', j);
      await j.close();
      const again = await log.openJournal(0);
      assertBounds(again, j.start, 10);
      assert.deepEqual(await again.read(again.start, 10), recs(again.start, 10));
      await again.close();
    },
  },
  {
    id: 'journal.append-read',
    title: 'appended records read back by index, empty and large records included',
    async run(s) {
      const j = await s.driver.log('acme').openJournal(0);
      assertBounds(j, 0, 0);
      assert.deepEqual(await j.read(0, 0), []);
      await j.append(recs(0, 3));
      assertBounds(j, 0, 3);
      assert.deepEqual(await j.read(0, 3), recs(0, 3));
      assert.deepEqual(await j.read(1, 2), [rec(1)]);
      assert.deepEqual(await j.read(3, 3), []);
      await j.append([]);
      assertBounds(j, 0, 3);
      const big = Uint8Array.from({ length: 70 * 1024 }, (_, i) => (i * 31) & 0xff);
      await j.append([new Uint8Array(0), big, rec(5)]);
      assertBounds(j, 0, 6);
      assert.deepEqual(await j.read(2, 6), [rec(2), new Uint8Array(0), big, rec(5)]);
      await j.close();
    },
  },
  {
    id: 'journal.out-of-range',
    title: 'indices outside [start, end] or not safe integers are refused',
    async run(s) {
      const log = s.driver.log('acme');
      const j = await log.openJournal(0);
      await j.append(recs(0, 3));
      for (const [from, to] of [
        [-1, 1],
        [0, 4],
        [2, 1],
        [4, 4],
        [0.5, 1],
        [Number.NaN, 1],
        [0, Number.POSITIVE_INFINITY],
      ] as const) {
        await rejectsWith(() => j.read(from, to), 'storage.out_of_range', `read(${from}, ${to})`);
      }
      for (const index of [4, -1, 1.5, Number.NaN]) {
        await rejectsWith(() => j.truncateBefore(index), 'storage.out_of_range', `truncateBefore(${index})`);
      }
      for (const base of [-1, 1.5, 2 ** 53, Number.NaN]) {
        await rejectsWith(() => log.openJournal(base), 'storage.out_of_range', `openJournal(${base})`);
      }
      await j.close();
    },
  },
  {
    id: 'journal.reopen',
    title: 'a reopened journal restores start and end and continues appending',
    async run(s) {
      const j = await s.driver.log('acme').openJournal(0);
      await j.append(recs(0, 3));
      await j.close();
      await rejectsWith(() => j.read(0, 1), 'storage.closed');
      await rejectsWith(() => j.append([rec(3)]), 'storage.closed');
      const j2 = await s.driver.log('acme').openJournal(0);
      assertBounds(j2, 0, 3);
      await j2.append([rec(3)]);
      const d2 = await s.reopen();
      const j3 = await d2.log('acme').openJournal(0);
      assertBounds(j3, 0, 4);
      assert.deepEqual(await j3.read(0, 4), recs(0, 4));
      await j3.close();
    },
  },
  {
    id: 'journal.base',
    title: 'a new journal starts at base; an existing one ignores base',
    async run(s) {
      const j = await s.driver.log('acme').openJournal(10);
      assertBounds(j, 10, 10);
      await j.append(recs(10, 12));
      assert.deepEqual(await j.read(10, 12), recs(10, 12));
      await rejectsWith(() => j.read(9, 10), 'storage.out_of_range');
      await j.close();
      for (const base of [0, 11, 12, 20]) {
        const again = await s.driver.log('acme').openJournal(base);
        assertBounds(again, 10, 12);
        await again.close();
      }
    },
  },
  {
    id: 'journal.truncate',
    title: 'truncateBefore drops at most the records before its index, and reopen keeps that',
    async run(s) {
      const j = await s.driver.log('acme').openJournal(0);
      await j.append(recs(0, 6));
      await j.append(recs(6, 10));
      await j.truncateBefore(4);
      const s1 = j.start;
      assert.ok(s1 >= 0 && s1 <= 4);
      assert.equal(j.end, 10);
      assert.deepEqual(await j.read(s1, 10), recs(s1, 10));
      await j.truncateBefore(2);
      assert.ok(j.start >= s1 && j.start <= Math.max(s1, 2), 'start never moves back nor past the index');
      const s1b = j.start;
      await j.truncateBefore(10);
      const s2 = j.start;
      assert.ok(s2 >= s1b && s2 <= 10);
      assert.deepEqual(await j.read(10, 10), []);
      if (s2 > 0) await rejectsWith(() => j.read(s2 - 1, 10), 'storage.out_of_range');
      await j.append([rec(10)]);
      assert.deepEqual(await j.read(10, 11), [rec(10)]);
      await j.close();
      const d2 = await s.reopen();
      const j2 = await d2.log('acme').openJournal(0);
      assertBounds(j2, s2, 11);
      assert.deepEqual(await j2.read(s2, 11), recs(s2, 11));
      await j2.close();
    },
  },
  {
    id: 'journal.fully-integrated',
    title: 'a journal truncated to its end reopens at that end (base ahead of 0)',
    async run(s) {
      const j = await s.driver.log('acme').openJournal(0);
      await j.append(recs(0, 5));
      await j.truncateBefore(5);
      const start = j.start;
      await j.close();
      const d2 = await s.reopen();
      const j2 = await d2.log('acme').openJournal(0);
      assertBounds(j2, start, 5);
      await j2.append([rec(5)]);
      assertBounds(j2, start, 6);
      assert.deepEqual(await j2.read(5, 6), [rec(5)]);
      await j2.close();
    },
  },
  {
    id: 'journal.per-log',
    title: 'each log has its own journal',
    async run(s) {
      const a = await s.driver.log('a').openJournal(0);
      const b = await s.driver.log('b').openJournal(100);
      await a.append([rec(0)]);
      await b.append([rec(100), rec(101)]);
      assertBounds(a, 0, 1);
      assertBounds(b, 100, 102);
      assert.deepEqual(await a.read(0, 1), [rec(0)]);
      await a.close();
      await b.close();
    },
  },
  {
    id: 'journal.takeover',
    title: 'opening a journal again closes the earlier handle of that log',
    async run(s) {
      const first = await s.driver.log('acme').openJournal(0);
      await first.append([rec(0)]);
      const second = await s.driver.log('acme').openJournal(0);
      await rejectsWith(() => first.append([rec(1)]), 'storage.closed');
      assertBounds(second, 0, 1);
      await second.append([rec(1)]);
      assert.deepEqual(await second.read(0, 2), recs(0, 2));
      await second.close();
    },
  },
  {
    id: 'journal.model',
    title: 'random appends, truncations and reopens match an array model (fast-check)',
    async run(s) {
      let run = 0;
      const op = fc.oneof(
        fc.record({
          t: fc.constant('append' as const),
          batch: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }),
        }),
        fc.record({
          t: fc.constant('truncate' as const),
          at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        }),
        fc.record({ t: fc.constant('reopen' as const) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 12 }), (ops) => modelRun(s.driver, `model-${run++}`, ops)),
        { numRuns: 25 },
      );
    },
  },
];
