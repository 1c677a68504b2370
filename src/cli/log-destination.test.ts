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

test('a turn that logs more than 64 KiB hands it over at once rather than holding it all', async () => {
  const { sink, calls } = recordingSink();
  const dest = new TurnBatchedDestination(sink);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) dest.write(line);
  assert.deepEqual(calls, [`write:${line.repeat(64)}`], 'handed over within the turn, at 64 KiB');
  dest.write('after\n');
  await nextTurn();
  assert.deepEqual(calls, [`write:${line.repeat(64)}`, 'write:after\n'], 'the rest at the end of the turn');
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

test('flush without a callback asks the sink for none (sonic-boom then neither fsyncs nor waits for drain)', () => {
  const seen: unknown[] = [];
  const dest = new TurnBatchedDestination({
    write: () => true,
    flush: (cb) => {
      seen.push(cb);
    },
    flushSync() {},
  });
  dest.write('a\n');
  dest.flush();
  const cb = () => {};
  dest.flush(cb);
  assert.deepEqual(seen, [undefined, cb]);
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

/**
 * Runs `body` in a child process with `logger`, a pino logger on serverLogDestination() (stdout),
 * after `setup`; returns what the child left.
 */
function runLoggingChild(body: string, setup = '') {
  const module = fileURLToPath(new URL('./log-destination.js', import.meta.url));
  const script = `
    import { pino } from 'pino';
    import { serverLogDestination } from ${JSON.stringify(module)};
    ${setup}
    const logger = pino({ base: undefined }, serverLogDestination());
    ${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
}

test('serverLogDestination: lines logged in the turn the process dies in are written before it exits', () => {
  // A child that logs and then throws in the same turn (an uncaught error): the lines are still in
  // the batcher, not yet in sonic-boom, when the process exits.
  const child = runLoggingChild(`
    logger.info('first');
    setImmediate(() => {
      logger.info('second');
      logger.error('last words');
      throw new Error('boom');
    });`);
  assert.notEqual(child.status, 0, 'the child died of its error');
  assert.match(child.stderr, /boom/);
  const msgs = child.stdout
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['first', 'second', 'last words']);
});

test('serverLogDestination: the last turn reaches a non-blocking stdout pipe whole at exit', () => {
  // serve.ts writes its banner through process.stdout, which puts a stdout pipe in non-blocking
  // mode. A long turn keeps the pipe busy; the last one holds less than one hand-over (64 KiB) but
  // more than sonic-boom's minimum write, so the exit hook is what writes it. (Before the 64 KiB
  // hand-over, a 2.5 MB last turn handed to sonic-boom at exit lost most of its lines.)
  const child = runLoggingChild(
    `setImmediate(() => {
      for (let i = 0; i < 20000; i++) logger.info({ i, pad: 'x'.repeat(100) }, 'line');
      setImmediate(() => {
        for (let i = 20000; i < 20050; i++) logger.info({ i, pad: 'x'.repeat(1000) }, 'line');
        logger.error('last words');
        throw new Error('boom');
      });
    });`,
    'process.stdout;',
  );
  assert.notEqual(child.status, 0, 'the child died of its error');
  const lines = child.stdout.trimEnd().split('\n');
  // Every line once. Not necessarily in order: at exit, sonic-boom writes what it still buffers
  // while an asynchronous write it started earlier may still be under way (seen: a block of 400
  // lines landing after the next one).
  const seen = lines.map((l) => {
    const o = JSON.parse(l) as { i?: number; msg: string };
    return o.i ?? o.msg;
  });
  const expected = [...Array.from({ length: 20050 }, (_, i) => i), 'last words'];
  assert.deepEqual(
    seen.sort((a, b) => String(a).localeCompare(String(b))),
    expected.sort((a, b) => String(a).localeCompare(String(b))),
  );
});
