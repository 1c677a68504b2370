/**
 * The self-audit recorder and the events it builds: batching (one append per batch, order kept),
 * retry after a failed append without loss or duplicates, the bounded buffer and its `audit.dropped`
 * record, and hostile access events that still make valid DESIGN §3 events.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventError, validateEvent } from '../core/event.js';
import { silentLogger } from '../log/types.js';
import { accessToAuditEvent, adminWhat, lifecycleEvent, outcomeOf } from './audit-events.js';
import { AuditRecorder } from './recorder.js';
import { access, ManualClock } from './test-helpers.js';

class CountingEngine {
  batches: unknown[][] = [];
  failNext = 0;
  /** Actions refused as invalid (EventError), as the engine refuses an event over its limits. */
  invalid = new Set<string>();
  async append(_log: string, events: readonly unknown[]): Promise<unknown> {
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error('busy'), { code: 'log.pushback' });
    }
    const bad = events.find((e) => this.invalid.has((e as { action: string }).action));
    if (bad !== undefined)
      throw new EventError('event.invalid_value', 'refused', { details: { field: 'action' } });
    this.batches.push([...events]);
    return {};
  }
  get events(): Array<{ action: string; metadata?: Record<string, unknown> }> {
    return this.batches.flat() as Array<{ action: string; metadata?: Record<string, unknown> }>;
  }
}

function recorder(
  engine: CountingEngine,
  over: { maxBatchEvents?: number; maxQueuedEvents?: number; logger?: typeof silentLogger } = {},
) {
  const failures: unknown[] = [];
  const r = new AuditRecorder({
    engine,
    log: '_audit',
    flushIntervalMs: 60_000, // tests drive flushes; the timer never fires first
    maxBatchEvents: over.maxBatchEvents ?? 500,
    maxQueuedEvents: over.maxQueuedEvents ?? 100_000,
    clock: new ManualClock(),
    logger: over.logger ?? silentLogger,
    onFailure: (err) => failures.push(err),
  });
  return { r, failures };
}

const ev = (n: number) => accessToAuditEvent(access({ requestId: `r${n}` }));

test('events are appended in batches of at most maxBatchEvents, in order', async () => {
  const engine = new CountingEngine();
  const { r } = recorder(engine, { maxBatchEvents: 500 });
  for (let i = 0; i < 1200; i++) r.record(ev(i));
  await r.flush();
  assert.deepEqual(
    engine.batches.map((b) => b.length),
    [500, 500, 200],
  );
  assert.deepEqual(
    engine.events.map((e) => e.metadata?.request_id),
    Array.from({ length: 1200 }, (_, i) => `r${i}`),
  );
  await r.close();
});

test('a full batch is appended without waiting for the interval', async () => {
  const engine = new CountingEngine();
  const { r } = recorder(engine, { maxBatchEvents: 10 });
  for (let i = 0; i < 10; i++) r.record(ev(i));
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(engine.batches.length, 1);
  await r.close();
});

test('a failed append is retried: nothing lost, nothing twice, the failure reported', async () => {
  const engine = new CountingEngine();
  const { r, failures } = recorder(engine);
  for (let i = 0; i < 5; i++) r.record(ev(i));
  engine.failNext = 1;
  await assert.rejects(r.flush(), (err: { code?: string }) => err.code === 'log.pushback');
  assert.equal(failures.length, 1);
  assert.equal(r.depth, 5);
  r.record(ev(5));
  await r.flush();
  assert.deepEqual(
    engine.events.map((e) => e.metadata?.request_id),
    ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'],
  );
  await r.close();
});

test('events _audit cannot take by the close are written to the server log, not silently dropped', async () => {
  const engine = new CountingEngine();
  const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const logger = {
    ...silentLogger,
    error: (obj: Record<string, unknown>, msg: string) => logged.push({ obj, msg }),
  } as typeof silentLogger;
  const { r } = recorder(engine, { logger });
  for (let i = 0; i < 3; i++) r.record(ev(i));
  engine.failNext = 1_000; // `_audit`'s storage failed for good
  await assert.rejects(r.close());
  const last = logged.at(-1)!;
  assert.match(last.msg, /3 access events could not be recorded in _audit/);
  // A flush after that (an admin answer waiting for its record, review M) returns instead of spinning.
  r.record(ev(9));
  await r.flush();
  assert.deepEqual(
    (last.obj.audit_events as Array<{ metadata: { request_id: string } }>).map((e) => e.metadata.request_id),
    ['r0', 'r1', 'r2'],
  );
});

test('a full buffer counts drops and records them once appends work again', async () => {
  const engine = new CountingEngine();
  const { r } = recorder(engine, { maxBatchEvents: 2, maxQueuedEvents: 3 });
  engine.failNext = 100;
  for (let i = 0; i < 10; i++) r.record(ev(i));
  assert.equal(r.depth, 3);
  assert.equal(r.dropped, 7);
  await r.flush().catch(() => {});
  engine.failNext = 0;
  await r.flush();
  const actions = engine.events.map((e) => e.action);
  assert.equal(actions[0], 'audit.dropped');
  assert.equal(engine.events[0]!.metadata?.count, 7);
  assert.deepEqual(
    engine.events.slice(1).map((e) => e.metadata?.request_id),
    ['r0', 'r1', 'r2'],
  );
  await r.close();
});

test('an event the log refuses is dropped alone: counted, reported as a failure, the rest appended', async () => {
  const engine = new CountingEngine();
  const appended: number[] = [];
  const failures: unknown[] = [];
  const r = new AuditRecorder({
    engine,
    log: '_audit',
    flushIntervalMs: 60_000,
    maxBatchEvents: 500,
    maxQueuedEvents: 100_000,
    clock: new ManualClock(),
    logger: silentLogger,
    onFailure: (err) => failures.push(err),
    onAppended: (n) => appended.push(n),
  });
  engine.invalid.add('service.start');
  r.record(ev(1));
  r.record(lifecycleEvent('start', 0, {}));
  r.record(ev(2));
  await r.flush();
  assert.deepEqual(
    engine.events.map((e) => e.metadata?.request_id),
    ['r1', 'r2'],
  );
  assert.equal(r.dropped, 1);
  assert.deepEqual(appended, [2], 'only the events written count as appended');
  assert.equal(failures.length, 1);
  assert.ok(failures[0] instanceof EventError);
  await r.close();
});

test('hostile access events still make valid events, clipped and without lone surrogates', () => {
  const hostile = access({
    route: `/${'x'.repeat(20_000)}`,
    ip: '\uD800'.repeat(100),
    filter: {
      q: `a\uDC00b${'y'.repeat(5000)}`,
      nested: { a: { b: { c: { d: { e: 1 } } } } },
      many: Array.from({ length: 1000 }, (_, i) => i),
      nan: Number.NaN,
      fn: () => 1,
    },
    requestId: '',
    at: 'not a time',
  });
  const event = accessToAuditEvent(hostile);
  validateEvent(event);
  const filter = event.metadata!.filter as Record<string, unknown>;
  assert.equal((filter.q as string).length, 256);
  assert.ok((filter.q as string).startsWith('a\uFFFDb'));
  assert.equal((filter.many as unknown[]).length, 32);
  assert.equal(filter.nan, null);
  assert.ok(!('fn' in filter));
  assert.ok(!('occurred_at' in event));
  assert.ok(JSON.stringify(event).length < 4096);
});

test("an admin action's before/after state is kept whole (its bounds are the server's, not a client's)", () => {
  const reason = `SEC inquiry ${'r'.repeat(600)}`;
  const policy = {
    retention: {
      min: 1000,
      max: null,
      min_floors: [{ min: 31_536_000_000, before: '2026-11-29T00:00:00.000Z' }],
    },
    legal_hold: { reason, set_at: '2026-11-29T00:00:00.000Z', set_by: 'key_x' },
  };
  const event = accessToAuditEvent(
    access({
      kind: 'admin',
      method: 'PUT',
      route: '/v1/logs/:log/policy',
      filter: { before: { legal_hold: null }, after: policy, q: 'z'.repeat(600) },
    }),
  );
  validateEvent(event);
  const md = event.metadata as Record<string, unknown>;
  assert.deepEqual(md.after, policy, 'the reason in full, the floors with their values');
  assert.deepEqual(md.before, { legal_hold: null });
  // Anything else in the filter is still bounded as client input.
  assert.equal(((md.filter as Record<string, string>).q ?? '').length, 256);
});

test('outcomes, admin words and lifecycle events', () => {
  assert.deepEqual([200, 204, 304, 400, 401, 403, 404, 429, 500, 503].map(outcomeOf), [
    'success',
    'success',
    'success',
    'failure',
    'denied',
    'denied',
    'failure',
    'failure',
    'error',
    'error',
  ]);
  assert.equal(adminWhat('POST', '/v1/logs'), 'log.create');
  assert.equal(adminWhat('DELETE', '/v1/keys/:id'), 'key.revoke');
  assert.equal(adminWhat('PUT', '/v1/logs/:log/policy'), 'policy.update');
  assert.equal(adminWhat('POST', '/v1/logs/:log/legal-hold'), 'legal_hold.set');
  assert.equal(adminWhat('PATCH', '/v1/logs/:log/other'), 'patch.v1.logs.log.other');
  const start = lifecycleEvent('start', Date.UTC(2026, 0, 5), { version: '0.1.0' });
  validateEvent(start);
  assert.equal(start.action, 'service.start');
  assert.equal(start.occurred_at, '2026-01-05T00:00:00.000Z');
});
