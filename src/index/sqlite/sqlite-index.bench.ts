/**
 * Indexing and query throughput of the SQLite index, on synthetic ~400-byte records in batches of
 * 1,000 (the target is >= 100,000 events/s on one core). Not a test; run it by hand:
 *   node --import tsx src/index/sqlite/sqlite-index.bench.ts [events] [batch] [path]
 *
 * `add` is measured twice, each into a fresh database: with entries as read back from the log (the
 * index parses each record: catch-up, reindex) and with the fields the engine derives from the event
 * object at append (`deriveEvent`, carried as `IndexEntry.derived`: the live feed). The derivation is
 * priced on its own, since the engine pays it on its main thread, not the index's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../../core/crypto.js';
import { toHex, utf8 } from '../../core/encoding.js';
import type { IndexEntry } from '../types.js';
import { eventFields, extractRecordFields } from './record-fields.js';
import { createSqliteIndex } from './sqlite-index.js';

const ACTIONS = ['document.create', 'document.update', 'document.delete', 'user.login', 'user.logout'];
const OUTCOMES = ['success', 'success', 'success', 'failure', 'denied'];

function record(index: number, prev: string): string {
  const ms = Date.UTC(2026, 10, 27, 7) + Math.floor(index / 10);
  const event = {
    action: ACTIONS[index % ACTIONS.length],
    actor: {
      email: `user${index % 997}@example.com`,
      id: `user_${index % 997}`,
      ip: '203.0.113.7',
      type: 'user',
    },
    metadata: { changes: index % 7, folder: 'finance/2026', reason: 'routine edit', version: index % 13 },
    occurred_at: new Date(ms - 50).toISOString(),
    outcome: OUTCOMES[index % OUTCOMES.length],
    source: {
      host: `web-${index % 8}`,
      request_id: `req_${(index * 2654435761) % 2 ** 32}`,
      service: 'docs',
    },
    target: { id: `doc_${(index * 7919) % 100_003}`, name: 'Quarterly plan', type: 'document' },
  };
  // Keys are written in sorted order above, so JSON.stringify gives the JCS text.
  return JSON.stringify({
    event,
    id: `0193a4b2-${index.toString(16).padStart(12, '0')}`,
    index,
    log: 'bench',
    prev,
    received_at: new Date(ms).toISOString(),
    v: 1,
  });
}

const total = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'indelible-index-bench-'));
const BATCH = Number(process.argv[3] ?? 1000);
const path = process.argv[4] ?? join(dir, 'index.db');

// Records are made up front so only indexing is timed.
const entries: IndexEntry[] = [];
let prev = '0'.repeat(64);
for (let i = 0; i < total; i++) {
  const text = record(i, prev);
  const leafHash = sha256(new Uint8Array([0]), utf8(text));
  entries.push({ index: i, leafHash, record: text });
  prev = toHex(leafHash);
}
const avg = entries.reduce((n, e) => n + e.record.length, 0) / total;
const evAvg = entries.reduce((n, e) => n + JSON.stringify(JSON.parse(e.record).event).length, 0) / total;

/** CPU milliseconds (user + system) spent by `fn`: less disturbed than wall time on a shared machine. */
function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const parseMs = cpuMs(() => {
  for (const e of entries) extractRecordFields('bench', e.index, e.record);
});

const rate = (ms: number) => ((total / ms) * 1000).toFixed(0);
console.log(`${total} records of ${avg.toFixed(0)} bytes (mean; events ${evAvg.toFixed(0)}) into ${path}`);
console.log(`record parsing and derivation alone: ${rate(parseMs)} events/s of CPU time`);

/** Adds every entry in batches into a fresh index at `at`; prints and returns it. */
function timeAdd(label: string, at: string, batch: IndexEntry[]) {
  const idx = createSqliteIndex({ path: at });
  const start = performance.now();
  const used = cpuMs(() => {
    for (let i = 0; i < total; i += BATCH) idx.add('bench', batch.slice(i, i + BATCH));
  });
  const wall = performance.now() - start;
  console.log(
    `add ${label}, batches of ${BATCH}: ${rate(wall)} events/s wall, ${rate(used)} events/s of CPU time`,
  );
  return idx;
}

timeAdd('(parsing each record)', join(dir, 'parsed.db'), entries).close();

const parsed = entries.map(
  (e) => JSON.parse(e.record) as { event: Record<string, unknown>; id: string; received_at: string },
);
const derived: IndexEntry[] = new Array(total);
const deriveMs = cpuMs(() => {
  for (let i = 0; i < total; i++) {
    const { event, id, received_at } = parsed[i]!;
    derived[i] = { ...entries[i]!, id, receivedAt: received_at, derived: eventFields(event) };
  }
});
console.log(
  `deriveEvent (eventFields) alone (the engine's main thread): ${rate(deriveMs)} events/s of CPU time`,
);
const index = timeAdd('(derived at append)', path, derived);
let t: number;

const queries = [
  { actor: 'user_42' },
  { target: 'doc_777' },
  { action: 'user.login', outcome: 'denied' },
  { action: 'document.*' },
  { q: 'user42@example.com' },
  { q: 'routine', actor: 'user_42' },
  { actor: 'user_42', since: '2026-11-27T07:01:00Z', until: '2026-11-27T07:02:00Z' },
  { outcome: 'denied', q: 'nothing-matches-this' },
  { action: 'user.login', outcome: 'denied', order: 'desc' as const },
  { action: 'user.*', outcome: 'denied' },
];
for (const q of queries) {
  const runs = 20;
  t = performance.now();
  let r = index.query('bench', q);
  for (let i = 1; i < runs; i++) r = index.query('bench', q);
  const ms = (performance.now() - t) / runs;
  console.log(
    `query ${JSON.stringify(q)}: ${ms.toFixed(2)} ms, ${r.events.length} events, cursor ${r.nextCursor ? 'yes' : 'no'}`,
  );
}
index.close();
rmSync(dir, { recursive: true, force: true });
