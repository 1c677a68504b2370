// The SQLite search index against its contract (src/index/types.ts). The fixture is 30 hand-written
// events; every expected list of indices below was worked out by hand from that table, not from the
// code. A property test compares paged results with a plain in-memory filter written from the spec.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { isIndelibleError } from '../../core/errors.js';
import type { AuditEvent } from '../../core/event.js';
import { buildRecord, formatTimestamp, ZERO_HASH } from '../../core/record.js';
import { type EventQuery, type IndexEntry, IndexError, type QueryResult } from '../types.js';
import { createSqliteIndex, type SqliteIndex, type SqliteIndexOptions } from './sqlite-index.js';

const T0 = Date.UTC(2026, 10, 27, 7, 0, 0);
/** Entry i of a fixture log is received at T0 + i minutes unless a test says otherwise. */
const minute = (i: number) => formatTimestamp(T0 + i * 60_000);

type Spec = Omit<AuditEvent, 'actor'> & { actor: string | AuditEvent['actor'] };

/** Records of `specs` at indices start.., chained by `prev` as the engine would write them. */
function entriesOf(
  log: string,
  specs: readonly Spec[],
  opts: { start?: number; prev?: Uint8Array; receivedAt?: (i: number) => string } = {},
): IndexEntry[] {
  const start = opts.start ?? 0;
  let prev = opts.prev ?? ZERO_HASH;
  return specs.map((spec, n) => {
    const index = start + n;
    const event = {
      ...spec,
      actor: typeof spec.actor === 'string' ? { id: spec.actor } : spec.actor,
    } as AuditEvent;
    const id = event.id ?? `srv-${log}-${index}`;
    const built = buildRecord({
      log,
      index,
      id,
      receivedAt: (opts.receivedAt ?? minute)(index),
      prev,
      event,
    });
    prev = built.leafHash;
    return { index, leafHash: built.leafHash, record: built.text };
  });
}

const doc = (id: string, name?: string) =>
  name === undefined ? { id, type: 'document' } : { id, type: 'document', name };

// The fixture. Comments give the facts the expected lists below rely on.
const ACME: Spec[] = [
  /* 0 */ {
    id: 'evt-0',
    actor: 'alice',
    action: 'document.create',
    target: doc('doc-1', 'Quarterly plan'),
    outcome: 'success',
    metadata: { title: 'draft' },
  },
  /* 1 */ {
    actor: 'alice',
    action: 'document.update',
    target: doc('doc-1'),
    outcome: 'success',
    metadata: { field: 'title' },
  },
  /* 2 */ { actor: 'bob', action: 'document.update', target: doc('doc-2'), outcome: 'failure' },
  /* 3 */ { actor: 'bob', action: 'document.delete', target: doc('doc-2'), outcome: 'denied' },
  /* 4 */ { actor: { id: 'carol', ip: '203.0.113.7' }, action: 'user.login', outcome: 'success' },
  /* 5 */ { actor: { id: 'carol', ip: '198.51.100.4' }, action: 'user.login', outcome: 'failure' },
  /* 6 */ { actor: 'alice', action: 'user.logout', outcome: 'success' },
  /* 7 */ {
    id: 'evt-7',
    actor: { id: 'dave', type: 'service' },
    action: 'document.export',
    targets: [doc('doc-1'), doc('doc-3')],
    outcome: 'success',
    metadata: { format: 'csv' },
  },
  /* 8 */ { actor: 'alice', action: 'document.update', target: doc('doc-3'), outcome: 'error' },
  /* 9 */ { actor: 'bob', action: 'user.login', outcome: 'denied' },
  /* 10 */ {
    actor: 'carol',
    action: 'document.create',
    target: doc('doc-4', 'Résumé draft'),
    outcome: 'success',
  },
  /* 11 */ {
    actor: 'alice',
    action: 'document.share',
    targets: [doc('doc-4'), { id: 'user-bob', type: 'user' }],
    outcome: 'success',
    metadata: { recipient: 'bob@example.com' },
  },
  /* 12 */ { actor: 'bob', action: 'document.update', target: doc('doc-4'), outcome: 'success' },
  /* 13 */ { actor: { id: 'eve', email: 'eve@evil.example' }, action: 'user.login', outcome: 'denied' },
  /* 14 */ { actor: 'eve', action: 'user.login', outcome: 'denied' },
  /* 15 */ { actor: 'eve', action: 'user.login', outcome: 'success' },
  /* 16 */ { actor: 'eve', action: 'document.delete', target: doc('doc-1'), outcome: 'denied' },
  /* 17 */ {
    actor: 'alice',
    action: 'settings.update',
    target: { id: 'org-acme' },
    outcome: 'success',
    metadata: { setting: 'mfa', enforced: true },
  },
  /* 18 */ { actor: 'carol', action: 'document.update', target: doc('doc-1'), outcome: 'unknown' },
  /* 19 */ { actor: 'bob', action: 'document.create', target: doc('doc-5'), outcome: 'success' },
  /* 20 */ {
    actor: 'dave',
    action: 'document.export',
    targets: [doc('doc-2'), doc('doc-5')],
    outcome: 'failure',
    metadata: { format: 'pdf', pages: 12 },
  },
  /* 21 */ { actor: 'alice', action: 'document.update', target: doc('doc-5'), outcome: 'success' },
  /* 22 */ { actor: 'carol', action: 'user.logout', outcome: 'success' },
  /* 23 */ { actor: 'bob', action: 'user.logout', outcome: 'success' },
  /* 24 */ { actor: 'eve', action: 'settings.update', target: { id: 'org-acme' }, outcome: 'denied' },
  /* 25 */ { actor: 'alice', action: 'document.delete', target: doc('doc-5'), outcome: 'success' },
  /* 26 */ {
    actor: 'carol',
    action: 'document.update',
    target: doc('doc-4'),
    outcome: 'success',
    metadata: { nested: { deep: ['zebra'] } },
  },
  /* 27 */ { actor: 'bob', action: 'documents.list', outcome: 'success' },
  /* 28 */ { actor: 'alice', action: 'document' },
  /* 29 */ {
    id: 'evt-29',
    actor: 'frañk',
    action: 'document.update',
    target: doc('doc-1'),
    outcome: 'success',
  },
];
const ALL = ACME.map((_, i) => i);
const ACME_ENTRIES = entriesOf('acme', ACME);

const tmp = mkdtempSync(join(tmpdir(), 'indelible-index-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(tmp, `index-${files++}.db`);

function open(opts: Partial<SqliteIndexOptions> = {}): SqliteIndex {
  return createSqliteIndex({ path: ':memory:', ...opts });
}

function loaded(opts: Partial<SqliteIndexOptions> = {}): SqliteIndex {
  const index = open(opts);
  index.add('acme', ACME_ENTRIES);
  return index;
}

const indices = (r: QueryResult) => r.events.map((e) => e.index);

/** Follows nextCursor to the end; returns the indices of every page. */
function allPages(index: SqliteIndex, log: string, q: EventQuery): number[][] {
  const pages: number[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const r = index.query(log, cursor === undefined ? q : { ...q, cursor });
    pages.push(indices(r));
    if (r.nextCursor === null) return pages;
    cursor = r.nextCursor;
  }
  throw new Error('pagination did not end');
}

const isCode =
  (code: string) =>
  (err: unknown): boolean =>
    isIndelibleError(err, code);

test('filters, alone and combined, return the hand-computed indices in index order', () => {
  const index = loaded();
  const cases: Array<[EventQuery, number[]]> = [
    [{}, ALL],
    [{ actor: 'alice' }, [0, 1, 6, 8, 11, 17, 21, 25, 28]],
    [{ actor: 'bob' }, [2, 3, 9, 12, 19, 23, 27]],
    [{ actor: 'eve' }, [13, 14, 15, 16, 24]],
    [{ actor: 'frañk' }, [29]],
    [{ actor: 'Alice' }, []],
    [{ actor: 'ali' }, []],
    [{ action: 'user.login' }, [4, 5, 9, 13, 14, 15]],
    [{ action: 'document' }, [28]],
    [{ action: 'document.*' }, [0, 1, 2, 3, 7, 8, 10, 11, 12, 16, 18, 19, 20, 21, 25, 26, 29]],
    [{ action: 'document*' }, [0, 1, 2, 3, 7, 8, 10, 11, 12, 16, 18, 19, 20, 21, 25, 26, 27, 28, 29]],
    [{ action: 'user.*' }, [4, 5, 6, 9, 13, 14, 15, 22, 23]],
    [{ action: 'user.log*' }, [4, 5, 6, 9, 13, 14, 15, 22, 23]],
    [{ action: 'nothing.*' }, []],
    [{ action: '*' }, ALL],
    [{ target: 'doc-1' }, [0, 1, 7, 16, 18, 29]],
    [{ target: 'doc-4' }, [10, 11, 12, 26]],
    [{ target: 'doc-5' }, [19, 20, 21, 25]],
    [{ target: 'user-bob' }, [11]],
    [{ target: 'org-acme' }, [17, 24]],
    [{ target: 'document' }, []],
    [{ outcome: 'denied' }, [3, 9, 13, 14, 16, 24]],
    [{ outcome: 'failure' }, [2, 5, 20]],
    [{ outcome: 'error' }, [8]],
    [{ outcome: 'unknown' }, [18]],
    [{ outcome: 'success' }, [0, 1, 4, 6, 7, 10, 11, 12, 15, 17, 19, 21, 22, 23, 25, 26, 27, 29]],
    [{ since: minute(10) }, ALL.slice(10)],
    [{ until: minute(20) }, ALL.slice(0, 20)],
    [{ since: minute(10), until: minute(20) }, ALL.slice(10, 20)],
    [{ since: '2026-11-27T08:10:00+01:00' }, ALL.slice(10)],
    [{ since: '2026-11-27T07:05:00.5Z' }, ALL.slice(6)],
    [{ until: '2026-11-27T07:05:00.000000001Z' }, ALL.slice(0, 6)],
    [{ since: minute(30) }, []],
    [{ until: minute(0) }, []],
    [{ since: minute(7), until: minute(7) }, []],
    [{ q: 'quarterly' }, [0]],
    [{ q: 'PLAN quarterly' }, [0]],
    [{ q: 'title' }, [1]],
    [{ q: 'bob@example.com' }, [11]],
    [{ q: '203.0.113.7' }, [4]],
    [{ q: 'resume' }, [10]],
    [{ q: 'RÉSUMÉ' }, [10]],
    [{ q: 'zebra' }, [26]],
    [{ q: 'csv' }, [7]],
    [{ q: '12' }, [20]],
    [{ q: 'mfa' }, [17]],
    [{ q: 'true' }, []],
    [{ q: 'evil' }, [13]],
    [{ q: 'frank' }, [29]],
    [{ q: 'login' }, [4, 5, 9, 13, 14, 15]],
    [{ q: 'service' }, [7]],
    [{ q: 'nothing-here' }, []],
    [{ q: 'OR' }, []],
    [{ q: 'login NOT' }, []],
    [{ actor: 'eve', outcome: 'denied' }, [13, 14, 16, 24]],
    [{ actor: 'alice', action: 'document.*' }, [0, 1, 8, 11, 21, 25]],
    [{ target: 'doc-1', outcome: 'success' }, [0, 1, 7, 29]],
    [{ actor: 'bob', action: 'user.login', outcome: 'denied' }, [9]],
    [{ actor: 'alice', outcome: 'denied' }, []],
    [{ actor: 'alice', since: minute(10), until: minute(20) }, [11, 17]],
    [{ q: 'login', actor: 'eve' }, [13, 14, 15]],
    [{ q: 'login', actor: 'eve', since: minute(14) }, [14, 15]],
    [{ action: 'document.*', target: 'doc-5', outcome: 'success' }, [19, 21, 25]],
  ];
  for (const [q, expected] of cases) {
    const r = index.query('acme', q);
    assert.deepEqual(indices(r), expected, JSON.stringify(q));
    assert.equal(r.nextCursor, null, JSON.stringify(q));
    assert.equal(r.coveredSize, 30);
    const desc = index.query('acme', { ...q, order: 'desc' });
    assert.deepEqual(indices(desc), [...expected].reverse(), `desc ${JSON.stringify(q)}`);
  }
  index.close();
});

test('results carry the record id, received_at, leaf hash and event exactly as the log holds them', () => {
  const index = loaded();
  const [e0] = index.query('acme', { limit: 1 }).events;
  const record = JSON.parse(ACME_ENTRIES[0]!.record);
  assert.deepEqual(e0, {
    index: 0,
    id: 'evt-0',
    receivedAt: '2026-11-27T07:00:00.000Z',
    leafHash: Buffer.from(ACME_ENTRIES[0]!.leafHash).toString('hex'),
    event: record.event,
  });
  assert.equal(index.query('acme', { actor: 'bob', limit: 1 }).events[0]!.id, 'srv-acme-2');
  index.close();
});

test('pages follow the cursor in both orders and end with a null cursor', () => {
  const index = loaded();
  assert.deepEqual(allPages(index, 'acme', { actor: 'alice', limit: 2 }), [
    [0, 1],
    [6, 8],
    [11, 17],
    [21, 25],
    [28],
  ]);
  assert.deepEqual(allPages(index, 'acme', { actor: 'alice', limit: 3 }), [
    [0, 1, 6],
    [8, 11, 17],
    [21, 25, 28],
  ]);
  assert.deepEqual(allPages(index, 'acme', { actor: 'alice', limit: 4, order: 'desc' }), [
    [28, 25, 21, 17],
    [11, 8, 6, 1],
    [0],
  ]);
  assert.deepEqual(allPages(index, 'acme', { limit: 1000 }), [ALL]);
  const first = index.query('acme', { limit: 5 });
  assert.notEqual(first.nextCursor, null);
  // A cursor is tied to its order.
  assert.throws(
    () => index.query('acme', { limit: 5, order: 'desc', cursor: first.nextCursor! }),
    isCode('index.invalid_cursor'),
  );
  index.close();
});

test('a cursor stays valid while new entries are appended between pages', () => {
  const index = open();
  index.add('acme', ACME_ENTRIES.slice(0, 20));
  const p1 = index.query('acme', { actor: 'alice', limit: 3 });
  assert.deepEqual(indices(p1), [0, 1, 6]);
  assert.equal(p1.coveredSize, 20);
  index.add('acme', ACME_ENTRIES.slice(20, 25));
  const p2 = index.query('acme', { actor: 'alice', limit: 3, cursor: p1.nextCursor! });
  assert.deepEqual(indices(p2), [8, 11, 17]);
  assert.equal(p2.coveredSize, 25);
  // Only 21 is left for now: the search reached what the index covers.
  const p3 = index.query('acme', { actor: 'alice', limit: 3, cursor: p2.nextCursor! });
  assert.deepEqual(indices(p3), [21]);
  assert.equal(p3.nextCursor, null);
  index.add('acme', ACME_ENTRIES.slice(25));
  const p3again = index.query('acme', { actor: 'alice', limit: 3, cursor: p2.nextCursor! });
  assert.deepEqual(indices(p3again), [21, 25, 28]);
  assert.equal(p3again.nextCursor, null);
  // Newest-first paging is not disturbed by appends either.
  const d1 = index.query('acme', { actor: 'bob', limit: 2, order: 'desc' });
  assert.deepEqual(indices(d1), [27, 23]);
  index.add(
    'acme',
    entriesOf('acme', [{ actor: 'bob', action: 'x' }], { start: 30, prev: ACME_ENTRIES[29]!.leafHash }),
  );
  assert.deepEqual(
    indices(index.query('acme', { actor: 'bob', order: 'desc', cursor: d1.nextCursor! })),
    [19, 12, 9, 3, 2],
  );
  index.close();
});

test('a query stops at its time budget with a cursor, and pages then add up to the full answer', () => {
  // With a zero budget and 4-entry windows, every call searches exactly one window.
  const index = loaded({ firstWindow: 4, queryBudgetMs: 0 });
  const pages = allPages(index, 'acme', { actor: 'eve', limit: 10 });
  assert.equal(pages.length, 8); // windows 0-3, 4-7, …, 28-29
  assert.deepEqual(pages.flat(), [13, 14, 15, 16, 24]);
  assert.deepEqual(pages[0], []);
  const desc = allPages(index, 'acme', { actor: 'eve', limit: 10, order: 'desc' });
  assert.equal(desc.length, 8);
  assert.deepEqual(desc.flat(), [24, 16, 15, 14, 13]);
  // A page that fills up inside a window still ends at the last event it returns.
  assert.deepEqual(allPages(index, 'acme', { actor: 'eve', limit: 2 }).flat(), [13, 14, 15, 16, 24]);
  index.close();

  // An injected clock: the budget runs out after the third window (widths 1, 4, 16).
  let ticks = 0;
  const timed = loaded({ firstWindow: 1, queryBudgetMs: 3, now: () => ticks++ });
  const r = timed.query('acme', { actor: 'eve' });
  assert.deepEqual(indices(r), [13, 14, 15, 16]);
  assert.notEqual(r.nextCursor, null);
  assert.deepEqual(indices(timed.query('acme', { actor: 'eve', cursor: r.nextCursor! })), [24]);
  timed.close();
});

test("index bounds (an export's from/to) narrow the search itself, in both orders", () => {
  // eve's events are 13, 14, 15, 16 and 24 (see the fixture). With a zero budget and 4-entry windows
  // each call searches one window, so a search that started at 0 would need several calls to reach
  // index 14; with fromIndex 14 the first window is 14-17.
  const index = loaded({ firstWindow: 4, queryBudgetMs: 0 });
  const first = index.query('acme', { actor: 'eve', fromIndex: 14, toIndex: 24 });
  assert.deepEqual(indices(first), [14, 15, 16]);
  assert.deepEqual(
    allPages(index, 'acme', { actor: 'eve', fromIndex: 14, toIndex: 24 }).flat(),
    [14, 15, 16],
  );
  assert.deepEqual(
    allPages(index, 'acme', { actor: 'eve', fromIndex: 14, toIndex: 25, order: 'desc' }).flat(),
    [24, 16, 15, 14],
  );
  assert.deepEqual(allPages(index, 'acme', { actor: 'eve', toIndex: 15 }).flat(), [13, 14]);
  assert.deepEqual(indices(index.query('acme', { actor: 'eve', fromIndex: 17, toIndex: 24 })), []);
  // Past the covered entries: nothing, and no error.
  assert.deepEqual(indices(index.query('acme', { actor: 'eve', fromIndex: 100 })), []);
  for (const bad of [{ fromIndex: -1 }, { toIndex: 1.5 }, { fromIndex: '3' }] as EventQuery[]) {
    assert.throws(
      () => index.query('acme', bad),
      (e: unknown) => isIndelibleError(e, 'index.invalid_query'),
    );
  }
  index.close();
});

test('re-adding indexed entries with the same leaf hashes changes nothing', () => {
  const index = loaded();
  index.add('acme', ACME_ENTRIES);
  index.add('acme', ACME_ENTRIES.slice(10, 20));
  assert.equal(index.coveredSize('acme'), 30);
  assert.deepEqual(indices(index.query('acme', { actor: 'alice' })), [0, 1, 6, 8, 11, 17, 21, 25, 28]);
  // An overlapping batch: old entries are checked, new ones appended.
  const more = entriesOf(
    'acme',
    [
      { actor: 'alice', action: 'user.login' },
      { actor: 'zed', action: 'user.login' },
    ],
    {
      start: 30,
      prev: ACME_ENTRIES[29]!.leafHash,
    },
  );
  index.add('acme', [...ACME_ENTRIES.slice(27), ...more]);
  assert.equal(index.coveredSize('acme'), 32);
  assert.deepEqual(indices(index.query('acme', { action: 'user.login', since: minute(20) })), [30, 31]);
  index.close();
});

test('a different entry at an indexed index is index.conflict, and the whole batch is refused', () => {
  const index = loaded();
  const other = entriesOf('acme', [{ actor: 'mallory', action: 'document.delete' }], { start: 5 })[0]!;
  assert.throws(() => index.add('acme', [other]), isCode('index.conflict'));
  const next = entriesOf('acme', [{ actor: 'zed', action: 'a' }], {
    start: 30,
    prev: ACME_ENTRIES[29]!.leafHash,
  });
  const forged = { ...ACME_ENTRIES[29]!, leafHash: new Uint8Array(32).fill(7) };
  assert.throws(() => index.add('acme', [ACME_ENTRIES[28]!, forged, ...next]), isCode('index.conflict'));
  assert.equal(index.coveredSize('acme'), 30);
  assert.deepEqual(indices(index.query('acme', { actor: 'mallory' })), []);
  assert.deepEqual(indices(index.query('acme', { actor: 'zed' })), []);
  index.close();
});

test('gaps and out-of-order batches are index.not_contiguous and add nothing', () => {
  const index = open();
  assert.throws(() => index.add('acme', ACME_ENTRIES.slice(1, 3)), isCode('index.not_contiguous'));
  assert.equal(index.coveredSize('acme'), 0);
  index.add('acme', ACME_ENTRIES.slice(0, 10));
  const e = ACME_ENTRIES;
  const bad: IndexEntry[][] = [
    [e[11]!],
    [e[10]!, e[12]!],
    [e[10]!, e[10]!],
    [e[9]!, e[8]!],
    [e[10]!, e[11]!, e[13]!],
  ];
  for (const batch of bad) {
    assert.throws(
      () => index.add('acme', batch),
      isCode('index.not_contiguous'),
      batch.map((x) => x.index).join(),
    );
    assert.equal(index.coveredSize('acme'), 10);
  }
  index.close();
});

test('malformed entries are index.invalid_entry and add nothing', () => {
  const index = loaded();
  const next = entriesOf('acme', [{ actor: 'zed', action: 'a' }], {
    start: 30,
    prev: ACME_ENTRIES[29]!.leafHash,
  })[0]!;
  const recordWith = (patch: Record<string, unknown>) =>
    JSON.stringify({ ...JSON.parse(next.record), ...patch });
  const cases: Array<[string, unknown]> = [
    ['not an object', 'entry'],
    ['index -1', { ...next, index: -1 }],
    ['index 30.5', { ...next, index: 30.5 }],
    ['index as a string', { ...next, index: '30' }],
    ['short leaf hash', { ...next, leafHash: new Uint8Array(31) }],
    ['leaf hash as hex', { ...next, leafHash: 'ab'.repeat(32) }],
    ['record as bytes', { ...next, record: new Uint8Array(4) }],
    ['record not JSON', { ...next, record: '{"event":' }],
    ['record an array', { ...next, record: '[]' }],
    ['record of another log', { ...next, record: recordWith({ log: 'beta' }) }],
    ['record of another index', { ...next, record: recordWith({ index: 31 }) }],
    ['record version 2', { ...next, record: recordWith({ v: 2 }) }],
    ['record without id', { ...next, record: recordWith({ id: null }) }],
    ['record with a bad received_at', { ...next, record: recordWith({ received_at: 'now' }) }],
    ['record whose event is a string', { ...next, record: recordWith({ event: 'x' }) }],
  ];
  for (const [name, entry] of cases) {
    assert.throws(() => index.add('acme', [entry as IndexEntry]), isCode('index.invalid_entry'), name);
    assert.equal(index.coveredSize('acme'), 30, name);
  }
  assert.throws(() => index.add('acme', 'x' as unknown as IndexEntry[]), isCode('index.invalid_entry'));
  assert.throws(() => index.add('Acme', [next]), isCode('index.invalid_log'));
  index.close();
});

test('odd event fields are indexed as absent rather than stalling the index', () => {
  // The log is the source of truth: an entry it holds is indexed even if its event is unusual.
  const index = open();
  const record = JSON.stringify({
    event: {
      action: 7,
      actor: { id: ['x'] },
      outcome: 'success',
      target: 'doc-1',
      targets: [null, { id: 5 }],
    },
    id: 'odd',
    index: 0,
    log: 'acme',
    prev: '0'.repeat(64),
    received_at: minute(0),
    v: 1,
  });
  index.add('acme', [{ index: 0, leafHash: new Uint8Array(32), record }]);
  assert.deepEqual(indices(index.query('acme', { outcome: 'success' })), [0]);
  assert.deepEqual(indices(index.query('acme', { action: '*' })), [0]);
  assert.deepEqual(indices(index.query('acme', { target: 'doc-1' })), []);
  index.close();
});

test('long and non-ASCII ids match exactly', () => {
  const index = open();
  const long = `svc-${'x'.repeat(300)}`;
  const wide = '文書'.repeat(20);
  index.add(
    'acme',
    entriesOf('acme', [
      { actor: long, action: 'a', target: { id: wide } },
      { actor: `${long}y`, action: 'a', target: { id: `${wide}!` } },
    ]),
  );
  assert.deepEqual(indices(index.query('acme', { actor: long })), [0]);
  assert.deepEqual(indices(index.query('acme', { actor: `${long}y` })), [1]);
  assert.deepEqual(indices(index.query('acme', { target: wide })), [0]);
  assert.deepEqual(indices(index.query('acme', { target: `${wide}!` })), [1]);
  assert.deepEqual(indices(index.query('acme', { actor: long.slice(0, -1) })), []);
  index.close();
});

test('control characters in q separate words, as the tokenizer does; a NUL never reaches SQLite', () => {
  const index = open();
  index.add(
    'acme',
    entriesOf('acme', [
      { actor: 'alice', action: 'a', metadata: { note: 'quarterly plan' } },
      { actor: 'bob', action: 'a', metadata: { note: 'quarterly\u0000report' } },
    ]),
  );
  // SQLite reads a NUL in an FTS5 expression as the end of the string ("unterminated string").
  assert.deepEqual(indices(index.query('acme', { q: 'quarterly\u0000plan' })), [0]);
  assert.deepEqual(indices(index.query('acme', { q: 'quarterly\u0000' })), [0, 1]);
  assert.deepEqual(indices(index.query('acme', { q: 'report\u0007quarterly' })), [1]);
  assert.deepEqual(indices(index.query('acme', { q: '\u0000quarterly\tplan\u001f' })), [0]);
  index.close();
});

test('logs are kept apart, including reserved system logs', () => {
  const index = loaded();
  index.add(
    '_audit',
    entriesOf('_audit', [
      { actor: 'alice', action: 'events.read' },
      { actor: 'alice', action: 'x' },
    ]),
  );
  assert.deepEqual(indices(index.query('_audit', { actor: 'alice' })), [0, 1]);
  assert.deepEqual(indices(index.query('acme', { actor: 'alice', limit: 2 })), [0, 1]);
  assert.equal(index.coveredSize('_audit'), 2);
  assert.equal(index.coveredSize('nobody'), 0);
  assert.deepEqual(index.query('nobody', { actor: 'alice' }), {
    events: [],
    nextCursor: null,
    coveredSize: 0,
  });
  assert.throws(() => index.query('No Such', {}), isCode('index.invalid_log'));
  assert.throws(() => index.coveredSize('../acme'), isCode('index.invalid_log'));
  index.close();
});

test('findById finds the lowest covered index holding an id', () => {
  const index = loaded();
  const hex = (i: number) => Buffer.from(ACME_ENTRIES[i]!.leafHash).toString('hex');
  assert.deepEqual(index.findById('acme', 'evt-7'), { index: 7, leafHash: hex(7) });
  assert.deepEqual(index.findById('acme', 'srv-acme-12'), { index: 12, leafHash: hex(12) });
  assert.equal(index.findById('acme', 'evt-8'), undefined);
  assert.equal(index.findById('beta', 'evt-7'), undefined);
  // A log may hold an id twice (idempotency is the engine's job); the first one is the answer.
  const dup = entriesOf('acme', [{ id: 'evt-7', actor: 'dave', action: 'x' }], {
    start: 30,
    prev: ACME_ENTRIES[29]!.leafHash,
  });
  index.add('acme', dup);
  assert.equal(index.findById('acme', 'evt-7')?.index, 7);
  assert.throws(() => index.findById('acme', 7 as unknown as string), isCode('index.invalid_query'));
  index.close();
});

test('an action prefix standing for more than 256 actions is refused', () => {
  const index = open();
  const specs: Spec[] = Array.from({ length: 257 }, (_, i) => ({ actor: 'a', action: `bulk.a${i}` }));
  index.add('acme', entriesOf('acme', specs));
  assert.throws(
    () => index.query('acme', { action: 'bulk.*' }),
    (err: unknown) => isIndelibleError(err, 'index.invalid_query') && err.details?.field === 'action',
  );
  assert.deepEqual(
    indices(index.query('acme', { action: 'bulk.a25*' })),
    [25, 250, 251, 252, 253, 254, 255, 256],
  );
  index.close();
});

test('time bounds still hold on a log whose received_at steps back', () => {
  const times = ['07:00', '07:01', '06:59', '07:02', '07:02', '07:03'].map((t) => `2026-11-27T${t}:00.000Z`);
  const index = open();
  const specs: Spec[] = times.map((_, i) => ({ actor: i % 2 === 0 ? 'even' : 'odd', action: 'tick' }));
  index.add('skew', entriesOf('skew', specs, { receivedAt: (i) => times[i]! }));
  const cases: Array<[EventQuery, number[]]> = [
    [{ since: '2026-11-27T07:00:00Z' }, [0, 1, 3, 4, 5]],
    [{ until: '2026-11-27T07:01:00Z' }, [0, 2]],
    [{ since: '2026-11-27T07:02:00Z', until: '2026-11-27T07:03:00Z' }, [3, 4]],
    [{ since: '2026-11-27T06:59:30Z', actor: 'even' }, [0, 4]],
    [{ until: '2026-11-27T07:00:00Z', q: 'tick' }, [2]],
  ];
  for (const [q, expected] of cases) {
    assert.deepEqual(indices(index.query('skew', q)), expected, JSON.stringify(q));
    assert.deepEqual(indices(index.query('skew', { ...q, order: 'desc' })), [...expected].reverse());
  }
  index.close();
});

test('reset forgets a log at once, deletes its rows, and the log can be indexed again', async () => {
  const path = freshPath();
  const index = createSqliteIndex({ path });
  index.add('acme', ACME_ENTRIES);
  index.add('beta', entriesOf('beta', [{ actor: 'alice', action: 'x' }]));
  await index.reset('acme');
  assert.equal(index.coveredSize('acme'), 0);
  assert.deepEqual(index.query('acme', {}), { events: [], nextCursor: null, coveredSize: 0 });
  assert.equal(index.findById('acme', 'evt-7'), undefined);
  assert.deepEqual(indices(index.query('beta', { actor: 'alice' })), [0]);
  await index.reset('never-seen');

  // Rows are gone from every table, including the contentless full-text index.
  const db = new Database(path, { readonly: true });
  const count = (sql: string) => db.prepare(sql).pluck().get();
  assert.equal(count('SELECT count(*) FROM events'), 1);
  assert.equal(count('SELECT count(*) FROM retired_logs'), 0);
  assert.equal(
    count("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'quarterly OR login OR alice'"),
    1,
  );
  db.close();

  index.add('acme', ACME_ENTRIES);
  assert.equal(index.coveredSize('acme'), 30);
  assert.deepEqual(indices(index.query('acme', { target: 'doc-1' })), [0, 1, 7, 16, 18, 29]);
  index.close();
});

test('reset of a log larger than one purge chunk (2048 entries)', async () => {
  const path = freshPath();
  const index = createSqliteIndex({ path });
  const specs: Spec[] = Array.from({ length: 2100 }, (_, i) => ({ actor: `u${i % 7}`, action: 'bulk.x' }));
  index.add('big', entriesOf('big', specs));
  await index.reset('big');
  index.close();
  const db = new Database(path, { readonly: true });
  assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), 0);
  assert.equal(db.prepare('SELECT count(*) FROM actions').pluck().get(), 0);
  assert.equal(db.prepare("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'bulk'").pluck().get(), 0);
  db.close();
});

test('verifyAgainst finds the first entry that differs from the log', async () => {
  const path = freshPath();
  const index = createSqliteIndex({ path });
  index.add('acme', ACME_ENTRIES);
  const truth = ACME_ENTRIES.map((e) => e.leafHash);
  const reader = (hashes: Uint8Array[]) => async (from: number, to: number) => hashes.slice(from, to);
  assert.equal(await index.verifyAgainst('acme', reader(truth)), undefined);
  assert.equal(await index.verifyAgainst('nobody', reader([])), undefined);

  const planted = [...truth];
  planted[17] = new Uint8Array(32).fill(1);
  planted[23] = new Uint8Array(32).fill(2);
  assert.equal(await index.verifyAgainst('acme', reader(planted)), 17);
  // The log is shorter than what the index claims to cover.
  assert.equal(await index.verifyAgainst('acme', reader(truth.slice(0, 26))), 26);

  // The index file itself was edited: a record no longer hashes to its leaf hash, or a column
  // no longer says what the record says.
  const db = new Database(path);
  const k = (i: number) => `((SELECT log_id FROM logs WHERE name = 'acme') << 43) | ${i}`;
  db.prepare(`UPDATE events SET record = replace(record, 'alice', 'mallory') WHERE k = ${k(21)}`).run();
  db.prepare(`UPDATE events SET id = 'forged' WHERE k = ${k(12)}`).run();
  db.close();
  assert.equal(await index.verifyAgainst('acme', reader(truth)), 12);
  index.close();
});

test('a row deleted by hand while its full text stays is index.conflict naming the entry, not a crash', () => {
  const path = freshPath();
  const index = createSqliteIndex({ path });
  index.add('acme', ACME_ENTRIES);
  const victim = index.query('acme', {}).events[3]!;
  const actor = (victim.event as { actor: { id: string } }).actor.id;
  const db = new Database(path);
  db.prepare(
    `DELETE FROM events WHERE k = ((SELECT log_id FROM logs WHERE name = 'acme') << 43) | ${victim.index}`,
  ).run();
  db.close();
  // A filter is answered by the full text, which still has the entry.
  assert.throws(
    () => index.query('acme', { actor }),
    (err: unknown) => {
      const e = err as IndexError;
      assert.ok(e instanceof IndexError, String(err));
      assert.equal(e.code, 'index.conflict');
      assert.deepEqual(e.details, { log: 'acme', index: victim.index });
      assert.match(e.message, /reindex --check/);
      return true;
    },
  );
  index.close();
});

test('verifyAgainst walks logs longer than one chunk', async () => {
  const index = open();
  const entries = entriesOf(
    'big',
    Array.from({ length: 4200 }, (_, i) => ({ actor: `u${i % 3}`, action: 'x' })),
  );
  index.add('big', entries);
  const truth = entries.map((e) => e.leafHash);
  const calls: Array<[number, number]> = [];
  const reader = (hashes: Uint8Array[]) => async (from: number, to: number) => {
    calls.push([from, to]);
    return hashes.slice(from, to);
  };
  assert.equal(await index.verifyAgainst('big', reader(truth)), undefined);
  assert.deepEqual(calls, [
    [0, 4096],
    [4096, 4200],
  ]);
  truth[4150] = new Uint8Array(32);
  assert.equal(await index.verifyAgainst('big', reader(truth)), 4150);
  index.close();
});

test('reopening the file keeps data and continues where it stopped', () => {
  const path = freshPath();
  let index = createSqliteIndex({ path });
  index.add('acme', ACME_ENTRIES.slice(0, 20));
  index.close();
  index = createSqliteIndex({ path });
  assert.equal(index.coveredSize('acme'), 20);
  assert.deepEqual(indices(index.query('acme', { actor: 'alice' })), [0, 1, 6, 8, 11, 17]);
  assert.equal(index.findById('acme', 'evt-7')?.index, 7);
  index.add('acme', ACME_ENTRIES);
  assert.deepEqual(indices(index.query('acme', { actor: 'alice', q: 'update' })), [1, 8, 17, 21]);
  index.close();
});

test('a file from a newer schema is refused with index.schema_too_new', () => {
  const path = freshPath();
  createSqliteIndex({ path }).close();
  const db = new Database(path);
  db.prepare('UPDATE schema_version SET version = version + 1').run();
  db.close();
  assert.throws(() => createSqliteIndex({ path }), isCode('index.schema_too_new'));
});

test('a closed index refuses every call with index.closed', async () => {
  const index = loaded();
  index.close();
  index.close();
  assert.throws(() => index.query('acme', {}), isCode('index.closed'));
  assert.throws(() => index.add('acme', ACME_ENTRIES), isCode('index.closed'));
  assert.throws(() => index.coveredSize('acme'), isCode('index.closed'));
  assert.throws(() => index.findById('acme', 'evt-0'), isCode('index.closed'));
  await assert.rejects(async () => index.reset('acme'), isCode('index.closed'));
  await assert.rejects(
    index.verifyAgainst('acme', async () => []),
    isCode('index.closed'),
  );
});

// A reference answer written straight from the contract in src/index/types.ts.
const ACTORS = ['ann', 'ben', 'cat'];
const ACTIONS = ['doc.read', 'doc.write', 'docs.list', 'user.login'];
const OUTCOMES = ['success', 'failure', 'denied'] as const;
const WORDS = ['apple', 'berry', 'cherry'];

interface Row {
  actor: string;
  action: string;
  outcome: (typeof OUTCOMES)[number];
  targets: string[];
  word: string;
  minute: number;
}

function expectedIndices(rows: Row[], q: EventQuery): number[] {
  const out: number[] = [];
  rows.forEach((r, i) => {
    if (q.actor !== undefined && r.actor !== q.actor) return;
    if (q.action !== undefined) {
      const ok = q.action.endsWith('*') ? r.action.startsWith(q.action.slice(0, -1)) : r.action === q.action;
      if (!ok) return;
    }
    if (q.outcome !== undefined && r.outcome !== q.outcome) return;
    if (q.target !== undefined && !r.targets.includes(q.target)) return;
    if (q.q !== undefined && r.word !== q.q) return;
    if (q.since !== undefined && T0 + r.minute * 60_000 < Date.parse(q.since)) return;
    if (q.until !== undefined && T0 + r.minute * 60_000 >= Date.parse(q.until)) return;
    out.push(i);
  });
  return q.order === 'desc' ? out.reverse() : out;
}

test('property: paging through any query returns exactly the matching entries, in order', () => {
  const row = fc.record({
    actor: fc.constantFrom(...ACTORS),
    action: fc.constantFrom(...ACTIONS),
    outcome: fc.constantFrom(...OUTCOMES),
    targets: fc.uniqueArray(fc.constantFrom('t1', 't2', 't3'), { maxLength: 2 }),
    word: fc.constantFrom(...WORDS),
    minute: fc.integer({ min: 0, max: 5 }),
  });
  // Values for every filter, of which a random subset of at most three is used.
  const values = fc.record({
    actor: fc.constantFrom(...ACTORS),
    action: fc.constantFrom(...ACTIONS, 'doc.*', 'doc*', 'user.*'),
    outcome: fc.constantFrom(...OUTCOMES),
    target: fc.constantFrom('t1', 't2', 't3'),
    q: fc.constantFrom(...WORDS),
    since: fc.integer({ min: 0, max: 6 }).map(minute),
    until: fc.integer({ min: 0, max: 6 }).map(minute),
  });
  const filters = fc.subarray(['actor', 'action', 'outcome', 'target', 'q', 'since', 'until'] as const, {
    maxLength: 3,
  });
  fc.assert(
    fc.property(
      fc.array(row, { maxLength: 40 }),
      fc.boolean(),
      values,
      filters,
      fc.record({
        limit: fc.integer({ min: 1, max: 7 }),
        order: fc.constantFrom('asc' as const, 'desc' as const),
      }),
      fc.integer({ min: 1, max: 8 }),
      (generated, monotonic, v, chosen, paging, window) => {
        // Half the logs have received_at in index order (binary search), half step back (row checks).
        const rows = monotonic ? [...generated].sort((a, b) => a.minute - b.minute) : generated;
        const q: EventQuery = { ...paging };
        for (const f of chosen) q[f] = v[f];
        if (q.since !== undefined && q.until !== undefined && q.since > q.until) return;
        const index = open({ firstWindow: window, queryBudgetMs: 0 });
        try {
          const specs: Spec[] = rows.map((r) => ({
            actor: r.actor,
            action: r.action,
            outcome: r.outcome,
            targets: r.targets.map((id) => ({ id })),
            metadata: { word: r.word },
          }));
          index.add('p', entriesOf('p', specs, { receivedAt: (i) => minute(rows[i]!.minute) }));
          const pages = allPages(index, 'p', q);
          for (const page of pages) assert.ok(page.length <= paging.limit);
          assert.deepEqual(pages.flat(), expectedIndices(rows, q));
        } finally {
          index.close();
        }
      },
    ),
    { numRuns: 300 },
  );
});
