/**
 * Child process for the real crash test (crash.test.ts): opens a data directory and appends events
 * as fast as it can until it is SIGKILLed. After each durable ack it prints one line
 * `ack <index> <leaf hash hex>`, and after each signed checkpoint `cp <size> <root hex>`, so the
 * parent knows exactly what was promised before the kill.
 */
import { writeSync } from 'node:fs';
import { openDataDir } from '../app/data-dir.js';
import { toHex } from '../core/encoding.js';
import { appendRetrying } from './test-helpers.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child DATA_DIR');
const dd = await openDataDir(dir, { engine: { integrator: { intervalMs: 20 } } });
const log = dd.engine.log('crash');
const say = (line: string) => writeSync(1, `${line}\n`);
say(`open ${log.size} ${log.treeSize}`);
let lastCp = -1;
let n = 0;
const writer = async (w: number) => {
  for (;;) {
    const batch = Array.from({ length: 1 + (n % 50) }, (_, i) => ({
      action: 'crash.test',
      actor: { id: `writer-${w}` },
      metadata: { n: n++, i, pad: 'x'.repeat(200) },
    }));
    const { entries } = await appendRetrying(dd.engine, 'crash', batch);
    say(entries.map((e) => `ack ${e.index} ${e.leafHash}`).join('\n'));
    const cp = log.latestCheckpoint();
    if (cp.size !== lastCp) {
      lastCp = cp.size;
      say(`cp ${cp.size} ${toHex(cp.rootHash)}`);
    }
  }
};
await Promise.all([writer(0), writer(1), writer(2), writer(3)]);
