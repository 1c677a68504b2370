/**
 * The index feed (indexer.ts): small queues wait for company, `drain` does not wait out the delay,
 * and a log whose index falls behind keeps only ids in memory and reads its records back from the
 * log — including when some of them were pruned meanwhile. Runs against the real SQLite index.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalize } from '../core/jcs.js';
import { hashLeaf } from '../core/merkle.js';
import { buildRecordRun, formatTimestamp, newEventId, ZERO_HASH } from '../core/record.js';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { DEFAULT_INDEX_DELAY_MS, Indexer, type RecordSource } from './indexer.js';
import { SequencedRecord } from './log.js';
import { breakableIndex, sampleEvent } from './test-helpers.js';
import { silentLogger } from './types.js';

const LOG = 'acme';

/** `n` valid chained records of `log`, as the log would hold them. */
function makeRecords(n: number, log = LOG): SequencedRecord[] {
  const now = Date.UTC(2026, 10, 27, 12);
  const events = Array.from({ length: n }, (_, i) => ({
    id: newEventId(now + i),
    eventJson: canonicalize(sampleEvent(i, 200)),
  }));
  const run = buildRecordRun({
    log,
    firstIndex: 0,
    receivedAt: formatTimestamp(now),
    prev: ZERO_HASH,
    events,
  });
  return run.records.map((bytes, i) => new SequencedRecord(i, events[i]!.id, hashLeaf(bytes), bytes));
}

/** The log as a record source, counting which entries were read back. */
function source(
  records: readonly SequencedRecord[],
): RecordSource & { read: number[]; minimumIndex: number } {
  const read: number[] = [];
  return {
    read,
    minimumIndex: 0,
    async readRecords(from, to, options) {
      // A bulk read-back must not push what point reads share out of the log's bundle cache.
      assert.equal(options?.cache, false);
      for (let i = from; i < to; i++) read.push(i);
      return records.slice(from, to).map((r) => r.bytes);
    },
  };
}

async function indexedEvents(index: ReturnType<typeof createSqliteIndex>) {
  const res = await index.query(LOG, { limit: 1000 });
  return res.events.map((e) => ({ index: e.index, id: e.id, leafHash: e.leafHash }));
}

const expected = (records: readonly SequencedRecord[]) =>
  records.map((r) => ({ index: r.index, id: r.id, leafHash: Buffer.from(r.leafHash).toString('hex') }));

test('a small queue waits for the delay; drain() indexes it at once', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  const records = makeRecords(5);
  const slow = new Indexer(index, silentLogger, 60_000);
  slow.attach(LOG, source(records));
  slow.enqueue(LOG, records.slice(0, 3));
  await sleep(30);
  assert.equal(index.coveredSize(LOG), 0, 'nothing indexed before the delay');
  assert.equal(slow.lag(LOG), 3);
  await slow.drain();
  assert.equal(index.coveredSize(LOG), 3);
  assert.equal(slow.lag(LOG), 0);

  const quick = new Indexer(index, silentLogger, 20);
  quick.attach(LOG, source(records));
  quick.enqueue(LOG, records.slice(3));
  await sleep(20 + 200);
  assert.equal(index.coveredSize(LOG), 5, 'indexed once the delay passed, without drain()');
  assert.deepEqual(await indexedEvents(index), expected(records));
  assert.ok(
    DEFAULT_INDEX_DELAY_MS > 0 && DEFAULT_INDEX_DELAY_MS <= 250,
    'queries lag by a fraction of a second',
  );
});

test('beyond its memory budget a log keeps ids only and reads the records back from the log', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  const records = makeRecords(12);
  const src = source(records);
  const indexer = new Indexer(index, silentLogger, 60_000, 4);
  indexer.attach(LOG, src);
  const ids = records.map((r) => r.id);
  indexer.claimBatch(LOG, ids, Promise.resolve(records));
  // While the append is in flight, an id is answered from its claim (a promise of its entry)…
  const claimed = indexer.findById(LOG, ids[10]!);
  assert.ok(claimed instanceof Promise);
  assert.equal(await claimed, 10);
  for (let i = 0; i < 12; i += 3) indexer.enqueue(LOG, records.slice(i, i + 3));
  assert.equal(indexer.lag(LOG), 12);
  // …and once durable but not yet indexed, from the entry index it was given.
  assert.equal(indexer.findById(LOG, ids[10]!), 10);
  assert.equal(index.coveredSize(LOG), 0);

  await indexer.drain();
  assert.equal(indexer.lag(LOG), 0);
  // The first batch fit in memory; everything after it was read back, each entry once.
  assert.deepEqual(src.read, [3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(await indexedEvents(index), expected(records));
  // Claims are released once indexed: the index itself answers now.
  assert.equal(indexer.findById(LOG, ids[10]!), 10);
  assert.equal(indexer.findById(LOG, ids[0]!), 0);

  // Once the spill is worked off, new entries are held in memory again.
  const more = makeRecords(14).slice(12);
  indexer.enqueue(LOG, more);
  await indexer.drain();
  assert.deepEqual(src.read, [3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(index.coveredSize(LOG), 14);
});

test('logs take turns, one index transaction each: a busy log does not hold back the others', async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  const calls: string[] = [];
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (log: string, entries: Parameters<typeof inner.add>[1]) => {
          calls.push(`${log} ${entries.length}`);
          return target.add(log, entries);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  // Three transactions' worth (8,192 entries each) for the busy log, one entry for another.
  const busy = makeRecords(2 * 8192 + 10);
  const quiet = makeRecords(1, 'quiet');
  const indexer = new Indexer(index, silentLogger, 60_000);
  indexer.attach(LOG, source(busy));
  indexer.attach('quiet', source(quiet));
  indexer.enqueue(LOG, busy);
  indexer.enqueue('quiet', quiet);
  await indexer.drain();
  assert.deepEqual(calls, [`${LOG} 8192`, 'quiet 1', `${LOG} 8192`, `${LOG} 10`]);
  assert.equal(inner.coveredSize(LOG), busy.length);
  assert.equal(inner.coveredSize('quiet'), 1);
});

test('a log is backed up from past a transaction with read-back entries until none is left, then back in memory', async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  // The index takes one transaction per `step()`.
  const gates: Array<() => void> = [];
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return async (log: string, entries: Parameters<typeof inner.add>[1]) => {
          await new Promise<void>((r) => gates.push(r));
          return target.add(log, entries);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  const step = async () => {
    while (gates.length === 0) await sleep(1);
    gates.shift()!();
  };
  const records = makeRecords(40);
  const src = source(records);
  // Memory for 20 entries, so a transaction's worth is 20 as well.
  const indexer = new Indexer(index, silentLogger, 0, 20);
  indexer.attach(LOG, src);
  indexer.enqueue(LOG, records.slice(0, 20));
  indexer.enqueue(LOG, records.slice(20, 25));
  assert.equal(indexer.spilled(LOG), 5);
  assert.equal(indexer.backedUp(LOG), true, '25 waiting, 5 of them read back');
  await step(); // the 20 held entries
  while (indexer.lag(LOG) !== 5) await sleep(1);
  // Only 5 wait now, but they are read back, and so would be anything appended before they are.
  assert.equal(indexer.backedUp(LOG), true);
  await step();
  while (indexer.lag(LOG) !== 0) await sleep(1);
  assert.equal(indexer.backedUp(LOG), false);
  indexer.enqueue(LOG, records.slice(25, 30));
  assert.equal(indexer.spilled(LOG), 0, 'held in memory again');
  await step();
  await indexer.drain();
  assert.deepEqual(src.read, [20, 21, 22, 23, 24]);
  // A few read-back entries alone (fewer than a transaction's worth) do not back a log up: here
  // another log holds all the memory, so these 10 are read back, but only 10 wait.
  const others = makeRecords(20, 'other');
  indexer.attach('other', source(others));
  indexer.enqueue('other', others);
  indexer.enqueue(LOG, records.slice(30, 40));
  assert.equal(indexer.spilled(LOG), 10);
  assert.equal(indexer.backedUp(LOG), false);
  while (gates.length > 0 || indexer.lag(LOG) + indexer.lag('other') > 0) {
    if (gates.length > 0) gates.shift()!();
    await sleep(1);
  }
});

test('a log whose index call failed takes its turn again after its back-off, however busy another log keeps the feed', {
  timeout: 20_000,
}, async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  // Enough for the busy log to keep the feed busy for seconds, one entry per transaction.
  const busy = makeRecords(20_000);
  const other = makeRecords(1, 'other');
  let next = 1;
  let failOther = true;
  let otherIndexedAtBusyCall = -1;
  let busyCalls = 0;
  let indexer!: Indexer;
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (log: string, entries: Parameters<typeof inner.add>[1]) => {
          if (log === 'other') {
            if (failOther) {
              failOther = false;
              throw new Error('disk full');
            }
            otherIndexedAtBusyCall = busyCalls;
          } else {
            busyCalls++;
            // Appends keep coming while the busy log is indexed, one more entry each time, until
            // the other log is indexed (or the busy one runs out: the failure this test looks for).
            if (otherIndexedAtBusyCall < 0 && next < busy.length) indexer.enqueue(LOG, [busy[next++]!]);
          }
          return target.add(log, entries);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  indexer = new Indexer(index, silentLogger, 0);
  indexer.attach(LOG, source(busy));
  indexer.attach('other', source(other));
  indexer.enqueue(LOG, [busy[0]!]);
  indexer.enqueue('other', other);
  await indexer.drain();
  // drain() waits for what was enqueued when it was called; the busy log's last entry came later.
  await indexer.drain();
  assert.equal(inner.coveredSize('other'), 1);
  assert.ok(
    otherIndexedAtBusyCall >= 0 && otherIndexedAtBusyCall < busy.length - 1,
    `the other log was indexed while the busy one still had entries coming (at call ${otherIndexedAtBusyCall})`,
  );
  assert.equal(inner.coveredSize(LOG), next);
});

test('the memory budget also counts bytes: large records are read back past it', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  const records = makeRecords(6);
  const src = source(records);
  // Room for 1,000 entries but only for the bytes of two of these records.
  const budget = records[0]!.bytes.length + records[1]!.bytes.length;
  const indexer = new Indexer(index, silentLogger, 60_000, 1000, budget);
  indexer.attach(LOG, src);
  for (let i = 0; i < 6; i += 2) indexer.enqueue(LOG, records.slice(i, i + 2));
  await indexer.drain();
  assert.deepEqual(src.read, [2, 3, 4, 5]);
  assert.deepEqual(await indexedEvents(index), expected(records));
  // Indexed records free their bytes: the next ones are held again.
  const more = makeRecords(8).slice(6);
  indexer.enqueue(LOG, more);
  await indexer.drain();
  assert.deepEqual(src.read, [2, 3, 4, 5]);
  assert.equal(index.coveredSize(LOG), 8);
});

test('the memory bound is shared by all logs: a second log past it reads its records back', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  const a = makeRecords(4, 'alpha');
  const b = makeRecords(4, 'beta');
  const srcA = source(a);
  const srcB = source(b);
  const indexer = new Indexer(index, silentLogger, 60_000, 5);
  indexer.attach('alpha', srcA);
  indexer.attach('beta', srcB);
  // alpha holds 4 of the 5 records the indexer may hold; beta's 4 do not fit beside them.
  indexer.enqueue('alpha', a);
  indexer.enqueue('beta', b);
  await indexer.drain();
  assert.deepEqual(srcA.read, []);
  assert.deepEqual(srcB.read, [0, 1, 2, 3]);
  assert.equal(index.coveredSize('alpha'), 4);
  assert.equal(index.coveredSize('beta'), 4);
  // Indexed records free their room for every log.
  const moreB = makeRecords(7, 'beta').slice(4);
  indexer.enqueue('beta', moreB);
  await indexer.drain();
  assert.deepEqual(srcB.read, [0, 1, 2, 3]);
  assert.equal(index.coveredSize('beta'), 7);
});

test('spilled entries pruned before the index reached them are skipped, the rest indexed', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  const records = makeRecords(10);
  const src = source(records);
  const indexer = new Indexer(index, silentLogger, 60_000, 0);
  indexer.attach(LOG, src);
  indexer.enqueue(LOG, records);
  src.minimumIndex = 6;
  await indexer.drain();
  assert.deepEqual(src.read, [6, 7, 8, 9], 'pruned entries are never read');
  assert.equal(index.coveredSize(LOG), 10);
  assert.deepEqual(await indexedEvents(index), expected(records.slice(6)));
});

test('a failing index is retried with the same entries, in order', async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  let failuresLeft = 2;
  const flaky = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (log: string, entries: Parameters<typeof inner.add>[1]) => {
          if (failuresLeft-- > 0) throw new Error('disk full');
          return target.add(log, entries);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  const records = makeRecords(6);
  const indexer = new Indexer(flaky, silentLogger, 60_000, 2);
  indexer.attach(LOG, source(records));
  indexer.enqueue(LOG, records.slice(0, 2));
  indexer.enqueue(LOG, records.slice(2));
  await indexer.drain();
  // Two refused calls, then one per chunk: the held pair and the four read back.
  assert.equal(failuresLeft, 2 - 4);
  assert.deepEqual(await indexedEvents(inner), expected(records));
});

test('close() stops retrying an index that keeps failing, and says so', async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  const { index: broken, state } = breakableIndex(inner);
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (_o: unknown, msg: string) => errors.push(msg) };
  const records = makeRecords(3);
  const indexer = new Indexer(broken, logger, 60_000);
  indexer.attach(LOG, source(records));
  indexer.enqueue(LOG, records);
  await indexer.close();
  assert.equal(state.calls, 3, 'three attempts, then it gives up');
  assert.equal(indexer.lag(LOG), 3, 'nothing was dropped from the log: the next open catches up');
  assert.match(errors[errors.length - 1]!, /catches up at the next open/);
  // A working index is drained completely by close().
  const ok = new Indexer(inner, silentLogger, 60_000);
  ok.attach(LOG, source(records));
  ok.enqueue(LOG, records);
  await ok.close();
  assert.equal(inner.coveredSize(LOG), 3);
});

test('drain() rejects with index.unavailable after three failures in a row; the feed keeps the entries', {
  timeout: 10_000,
}, async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  const { index: flaky, state } = breakableIndex(inner);
  const records = makeRecords(4);
  const indexer = new Indexer(flaky, silentLogger, 60_000);
  indexer.attach(LOG, source(records));
  indexer.enqueue(LOG, records);
  await assert.rejects(indexer.drain(), (err: Error & { code?: string; cause?: Error }) => {
    assert.equal(err.code, 'index.unavailable');
    assert.equal(err.cause?.message, 'disk full');
    return true;
  });
  assert.equal(state.calls, 3);
  assert.equal(indexer.lag(LOG), 4, 'nothing dropped');
  // The index recovers: the feed's own retry indexes everything, and a new drain() resolves.
  state.broken = false;
  await indexer.drain();
  assert.equal(indexer.lag(LOG), 0);
  assert.deepEqual(await indexedEvents(inner), expected(records));
  await indexer.close();
});

test('drain() counts only failures while it waits, not earlier ones', { timeout: 20_000 }, async () => {
  const { index, state } = breakableIndex(createSqliteIndex({ path: ':memory:' }));
  const indexer = new Indexer(index, silentLogger, 0);
  indexer.enqueue(LOG, makeRecords(2));
  while (state.calls < 3) await sleep(10);
  const before = state.calls;
  await assert.rejects(indexer.drain(), { code: 'index.unavailable' });
  assert.equal(state.calls - before, 3, 'three more attempts, whatever failed before');
  state.broken = false;
  await indexer.close();
});

test('drain() after close() gave up rejects instead of claiming the queue is indexed', {
  timeout: 10_000,
}, async () => {
  const { index } = breakableIndex(createSqliteIndex({ path: ':memory:' }));
  const indexer = new Indexer(index, silentLogger, 60_000);
  indexer.enqueue(LOG, makeRecords(3));
  await indexer.close();
  assert.equal(indexer.lag(LOG), 3);
  await assert.rejects(indexer.drain(), { code: 'index.unavailable' });
});

test('a log whose entries cannot be indexed does not hold up the other logs', async () => {
  const index = createSqliteIndex({ path: ':memory:' });
  // Every add for LOG fails, as one whose spilled records hit a damaged bundle would.
  const failing = new Proxy(index, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (log: string, entries: SequencedRecord[]) =>
          log === LOG ? Promise.reject(new Error('damaged bundle')) : target.add(log, entries);
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const indexer = new Indexer(failing, silentLogger, 0);
  const failures: string[] = [];
  indexer.onFailure = (log, err) => failures.push(`${log}: ${(err as Error).message}`);
  indexer.enqueue(LOG, makeRecords(3));
  indexer.enqueue('beta', makeRecords(3, 'beta'));
  for (let i = 0; i < 100 && (await index.coveredSize('beta')) < 3; i++) await sleep(20);
  assert.equal(await index.coveredSize('beta'), 3);
  assert.equal(indexer.lag(LOG), 3);
  // Each failure reaches the observer (the server's monitor), none of them for the other log.
  assert.ok(failures.length >= 1);
  assert.ok(failures.every((f) => f === `${LOG}: damaged bundle`));
  await indexer.close();
  index.close();
});

/**
 * An index whose `add` fails for every call on `log` (as one whose records hit a damaged bundle
 * would) and works for the others; counts calls per log and when each other log's call ran.
 */
function failingFor(log: string, onAttempt?: (n: number) => void) {
  const inner = createSqliteIndex({ path: ':memory:' });
  const calls = new Map<string, number>();
  // performance.now() of each call for the failing log.
  const attempts: number[] = [];
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        return (name: string, entries: SequencedRecord[]) => {
          calls.set(name, (calls.get(name) ?? 0) + 1);
          if (name === log) {
            attempts.push(performance.now());
            onAttempt?.(attempts.length);
          }
          return name === log ? Promise.reject(new Error('damaged bundle')) : target.add(name, entries);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { inner, index, calls, attempts };
}

test('a log in a long back-off does not delay the other logs, and close() does not wait it out', {
  timeout: 20_000,
}, async () => {
  const { inner, index, attempts } = failingFor(LOG);
  const indexer = new Indexer(index, silentLogger, DEFAULT_INDEX_DELAY_MS);
  let failures = 0;
  let fifth!: () => void;
  const fifthFailure = new Promise<void>((resolve) => {
    fifth = resolve;
  });
  indexer.onFailure = () => {
    if (++failures === 5) fifth();
  };
  indexer.enqueue(LOG, makeRecords(3));
  // The back-off grows by 100 ms per failure in a row: 500 ms after the fifth.
  await fifthFailure;
  const beta = makeRecords(2, 'beta');
  const started = performance.now();
  indexer.enqueue('beta', beta);
  while (inner.coveredSize('beta') < 2) await sleep(5);
  const waited = performance.now() - started;
  assert.ok(waited < 300, `beta waited ${Math.round(waited)} ms (its delay is ${DEFAULT_INDEX_DELAY_MS} ms)`);
  assert.equal(failures, 5, 'the failing log was not retried before its back-off ended');
  // Closing retries the failing log at once, a few times, instead of waiting out its back-off.
  const closing = performance.now();
  const backoffLeft = attempts[4]! + 500 - closing;
  assert.ok(backoffLeft > 250, `${Math.round(backoffLeft)} ms of back-off left when close() begins`);
  await indexer.close();
  assert.equal(attempts.length, 5 + 3, 'three more attempts at close, then it gives up');
  const first = attempts[5]! - closing;
  assert.ok(first < backoffLeft - 100, `first attempt ${Math.round(first)} ms into close()`);
  assert.equal(indexer.lag(LOG), 3, 'the failing log keeps its entries for the next open');
  inner.close();
});

test('close() still indexes the other logs after giving up on one that keeps failing', {
  timeout: 20_000,
}, async () => {
  const beta = makeRecords(5, 'beta');
  let giveUpAt = Number.POSITIVE_INFINITY;
  // The healthy log gets its entries in the very call after which close() gives up the failing
  // log: they must still be indexed, in the same round.
  const { inner, index, attempts } = failingFor(LOG, (n) => {
    if (n === giveUpAt) indexer.enqueue('beta', beta);
  });
  const indexer = new Indexer(index, silentLogger, DEFAULT_INDEX_DELAY_MS);
  // The failing log's queue comes first, and it has failed more than the close() bound already.
  indexer.enqueue(LOG, makeRecords(3));
  while (attempts.length < 4) await sleep(10);
  giveUpAt = attempts.length + 3;
  await indexer.close();
  assert.equal(attempts.length, giveUpAt, 'three attempts at close');
  assert.equal(inner.coveredSize('beta'), 5, 'the healthy log was indexed by close()');
  assert.equal(indexer.lag(LOG), 3);
  await indexer.drain('beta');
  await assert.rejects(indexer.drain(LOG), { code: 'index.unavailable' });
  inner.close();
});

test('drain(log) waits for that log only, and gives up on its failures while others succeed', {
  timeout: 20_000,
}, async (t) => {
  const { inner, index, attempts } = failingFor(LOG);
  const indexer = new Indexer(index, silentLogger, DEFAULT_INDEX_DELAY_MS);
  indexer.enqueue(LOG, makeRecords(3));
  const beta = makeRecords(3000, 'beta');
  let appended = 0;
  let appending = true;
  // Appends to beta every 2 ms for as long as the test runs: the feed is never idle.
  const appender = (async () => {
    while (appending && appended < beta.length) {
      indexer.enqueue('beta', [beta[appended++]!]);
      await sleep(2);
    }
  })();
  // Stopped however the test ends: a failed assertion must not leave retry timers running.
  t.after(async () => {
    appending = false;
    await appender;
    await indexer.close();
    inner.close();
  });
  await sleep(20);
  const upTo = appended;
  await indexer.drain('beta');
  assert.ok(inner.coveredSize('beta') >= upTo, 'what beta had when drain(beta) began is indexed');
  assert.ok(appending && appended < beta.length, 'beta was still receiving entries');
  const before = attempts.length;
  await assert.rejects(indexer.drain(LOG), (err: Error & { code?: string; details?: unknown }) => {
    assert.equal(err.code, 'index.unavailable');
    assert.deepEqual(err.details, { log: LOG, failures: 3 });
    return true;
  });
  assert.equal(attempts.length - before, 3, 'three attempts while it waited, beta succeeding between them');
});

test("drain(log) rejects with that log's own error as the cause, not another log's", {
  timeout: 20_000,
}, async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  const index = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'add') {
        // LOG's call throws at once, so its failure lands before a waiting drain() looks again.
        return (name: string) => {
          if (name === LOG) throw new Error('damaged bundle');
          return Promise.reject(new Error('disk full'));
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const indexer = new Indexer(index, silentLogger, 0);
  // beta's queue comes first, so each round fails beta, then LOG.
  indexer.enqueue('beta', makeRecords(2, 'beta'));
  indexer.enqueue(LOG, makeRecords(2));
  await assert.rejects(indexer.drain('beta'), (err: Error & { cause?: Error; details?: unknown }) => {
    assert.equal(err.cause?.message, 'disk full');
    assert.deepEqual(err.details, { log: 'beta', failures: 3 });
    return true;
  });
  await indexer.close();
  inner.close();
});

test('while a log fails for good, the others are still indexed in batches, not per append', {
  timeout: 20_000,
}, async () => {
  const { inner, index, calls } = failingFor(LOG);
  const indexer = new Indexer(index, silentLogger, DEFAULT_INDEX_DELAY_MS);
  indexer.enqueue(LOG, makeRecords(3));
  const beta = makeRecords(120, 'beta');
  // One append every 5 ms for 0.6 s: with the 50 ms delay, about a dozen index transactions.
  for (const r of beta) {
    indexer.enqueue('beta', [r]);
    await sleep(5);
  }
  while (inner.coveredSize('beta') < beta.length) await sleep(5);
  const betaCalls = calls.get('beta') ?? 0;
  assert.ok(betaCalls <= 40, `${betaCalls} index transactions for 120 appends`);
  await indexer.close();
  inner.close();
});

test('a log that keeps failing alone is retried at its back-off, with an idle event loop between', {
  timeout: 20_000,
}, async () => {
  const { inner, index, calls } = failingFor(LOG);
  const indexer = new Indexer(index, silentLogger, 0);
  const before = performance.eventLoopUtilization();
  indexer.enqueue(LOG, makeRecords(3));
  await sleep(1200);
  const busy = performance.eventLoopUtilization(before).utilization;
  // 100 + 200 + 300 + 400 ms of back-off fit in 1.2 s: five attempts, give or take a timer.
  const attempts = calls.get(LOG) ?? 0;
  assert.ok(attempts >= 3 && attempts <= 7, `${attempts} attempts in 1.2 s`);
  assert.ok(busy < 0.5, `event loop ${Math.round(busy * 100)}% busy while waiting to retry`);
  await indexer.close();
  inner.close();
});

test('a failure observer that throws does not stop the feed', { timeout: 10_000 }, async () => {
  const inner = createSqliteIndex({ path: ':memory:' });
  const { index: flaky, state } = breakableIndex(inner);
  const records = makeRecords(3);
  const indexer = new Indexer(flaky, silentLogger, 0);
  indexer.attach(LOG, source(records));
  let told = 0;
  indexer.onFailure = () => {
    told++;
    throw new Error('observer bug');
  };
  indexer.enqueue(LOG, records);
  while (told < 2) await sleep(20);
  state.broken = false;
  await indexer.drain();
  assert.equal(indexer.lag(LOG), 0);
  assert.deepEqual(await indexedEvents(inner), expected(records));
  await indexer.close();
});
