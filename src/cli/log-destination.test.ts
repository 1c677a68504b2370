import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { type LogSink, TurnBatchedDestination } from './log-destination.js';

function recordingSink() {
  const calls: string[] = [];
  const sink: LogSink = {
    write(text) {
      calls.push(`write:${text}`);
      return true;
    },
    flush(cb) {
      calls.push('flush');
      cb?.();
    },
    flushSync() {
      calls.push('flushSync');
    },
  };
  return { sink, calls };
}

test('lines written in one turn reach the sink as one write, in order, at the end of the turn', async () => {
  const { sink, calls } = recordingSink();
  const dest = new TurnBatchedDestination(sink);
  dest.write('a\n');
  dest.write('b\n');
  dest.write('c\n');
  assert.deepEqual(calls, [], 'nothing is written during the turn');
  await nextTurn();
  assert.deepEqual(calls, ['write:a\nb\nc\n']);
  dest.write('d\n');
  await nextTurn();
  assert.deepEqual(calls, ['write:a\nb\nc\n', 'write:d\n'], 'a later turn is a later write');
  await nextTurn();
  assert.equal(calls.length, 2, 'an idle turn writes nothing');
});

test('flush and flushSync hand the pending lines to the sink before flushing it', async () => {
  const { sink, calls } = recordingSink();
  const dest = new TurnBatchedDestination(sink);
  dest.write('a\n');
  dest.write('b\n');
  let flushed = false;
  dest.flush(() => {
    flushed = true;
  });
  assert.deepEqual(calls, ['write:a\nb\n', 'flush']);
  assert.ok(flushed, "the sink's callback is passed on");
  dest.write('c\n');
  dest.flushSync();
  assert.deepEqual(calls, ['write:a\nb\n', 'flush', 'write:c\n', 'flushSync']);
  await nextTurn();
  assert.equal(calls.length, 4, 'what was flushed is not written again at the end of the turn');
});

test('through pino and its file destination, every line arrives once and whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-logdest-'));
  try {
    const file = join(dir, 'log.ndjson');
    const boom = pino.destination({ dest: file, sync: false, minLength: 4096 });
    const logger = pino({ base: undefined }, new TurnBatchedDestination(boom));
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 50; i++) logger.info({ turn, i, text: 'é€😀'.repeat(i % 7) }, 'request');
      await nextTurn();
    }
    await new Promise<void>((resolve, reject) => logger.flush((err) => (err ? reject(err) : resolve())));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 1000);
    lines.forEach((line, n) => {
      const o = JSON.parse(line) as { turn: number; i: number; text: string };
      assert.deepEqual([o.turn, o.i, o.text], [Math.floor(n / 50), n % 50, 'é€😀'.repeat((n % 50) % 7)]);
    });
    boom.end();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serverLogDestination: lines logged in the turn the process dies in are written before it exits', () => {
  // A child that logs and then throws in the same turn (an uncaught error): the lines are still in
  // the batcher, not yet in sonic-boom, when the process exits.
  const module = fileURLToPath(new URL('./log-destination.js', import.meta.url));
  const script = `
    import { pino } from 'pino';
    import { serverLogDestination } from ${JSON.stringify(module)};
    const logger = pino({ base: undefined }, serverLogDestination());
    logger.info('first');
    setImmediate(() => {
      logger.info('second');
      logger.error('last words');
      throw new Error('boom');
    });`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    encoding: 'utf8',
  });
  assert.notEqual(child.status, 0, 'the child died of its error');
  assert.match(child.stderr, /boom/);
  const msgs = child.stdout
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['first', 'second', 'last words']);
});
