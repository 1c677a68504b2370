/**
 * Indexing and query throughput of the SQLite index, on synthetic ~400-byte records in batches of
 * 1,000 (the target is >= 100,000 events/s on one core). Not a test; run it by hand:
 *   node --import tsx src/index/sqlite/sqlite-index.bench.ts [events] [batch] [path]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../../core/crypto.js';
import { toHex, utf8 } from '../../core/encoding.js';
import type { IndexEntry } from '../types.js';
import { extractRecordFields } from './record-fields.js';
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

const index = createSqliteIndex({ path });
let t = performance.now();
const addCpuMs = cpuMs(() => {
  for (let i = 0; i < total; i += BATCH) index.add('bench', entries.slice(i, i + BATCH));
});
const addMs = performance.now() - t;
const rate = (ms: number) => ((total / ms) * 1000).toFixed(0);
console.log(`${total} records of ${avg.toFixed(0)} bytes (mean; events ${evAvg.toFixed(0)}) into ${path}`);
console.log(`record parsing and derivation alone: ${rate(parseMs)} events/s of CPU time`);
console.log(`add, batches of ${BATCH}: ${rate(addMs)} events/s wall, ${rate(addCpuMs)} events/s of CPU time`);

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
