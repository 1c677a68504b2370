import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Schedule } from './schedule.js';

test('a schedule joins a run in progress, runs again after it, and refuses intervals below 1 s', async () => {
  let runs = 0;
  let release!: () => void;
  const schedule = new Schedule(async () => {
    runs++;
    await new Promise<void>((r) => {
      release = r;
    });
    return runs;
  }, 'test');
  const a = schedule.run();
  const b = schedule.run();
  assert.equal(a, b, 'the second call joins the first run');
  release();
  assert.equal(await a, 1);
  const c = schedule.run();
  release();
  assert.equal(await c, 2);
  assert.throws(() => schedule.start(999), /test interval must be an integer of at least 1000 ms/);
  await schedule.stop();
});
