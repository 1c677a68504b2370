/**
 * A probe, not a benchmark: drives the engine benchmark's composition (bench/engine-harness.ts) with
 * 8 writers and prints its memory at chosen sizes, each sample taken as the engine benchmark takes
 * its settled one (writers paused until the search index caught up, then `gc()`). It separates what
 * grows with the log from what follows the search index's lag (PERFORMANCE.md, "Flat memory at
 * 10^7"). Run it in a process of its own, since a process keeps the memory level it reached:
 *
 *   node --expose-gc dist/bench/memory-probe.js [--index sqlite|none] [--events N] [--at a,b,c]
 *
 * Defaults: the SQLite index, 10,000,000 events, samples at 10^5, 10^6, 3×10^6 and 10^7. Writes
 * nothing but stdout (one line per sample); data goes where BENCH_DIR says, deleted at exit
 * (bench/scratch.ts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { appendRetrying, benchDir, drive, LOG, openEngine } from './engine-harness.js';
import { fmt, mib } from './report.js';

const { values } = parseArgs({
  options: {
    index: { type: 'string', default: 'sqlite' },
    events: { type: 'string', default: '10000000' },
    at: { type: 'string', default: '100000,1000000,3000000,10000000' },
  },
});
const index = values.index === 'none' ? 'none' : 'sqlite';
const events = Number(values.events);
const at = values.at.split(',').map(Number);
if (!Number.isSafeInteger(events) || events <= 0 || at.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
  throw new Error('memory-probe: --events and --at take positive integers');
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('memory-probe: run node with --expose-gc');

/** Resident memory by kind from /proc (anonymous: heaps and allocators; file: mapped code and data). */
function residentKinds(): string {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    return `, anonymous ${mib(kb('RssAnon') * 1024)}, file ${mib(kb('RssFile') * 1024)}`;
  } catch {
    return '';
  }
}

const { engine, close } = await openEngine(benchDir(), index);
try {
  await engine.createLog(LOG);
  const marks = new Set(at);
  const started = performance.now();
  const run = await drive(
    { label: 'probe', writers: 8, events },
    (batch) => appendRetrying(engine, batch),
    (acked) => {
      if (!marks.has(acked)) return undefined;
      return (async () => {
        const lag = engine.indexLag(LOG);
        while (engine.indexLag(LOG) > 0) await new Promise((r) => setTimeout(r, 20));
        gc();
        const m = process.memoryUsage();
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(
          `${fmt(acked)} entries (index ${index}, lag before the pause ${fmt(lag)}): RSS ${mib(m.rss)}` +
            `${residentKinds()}, heap used ${mib(m.heapUsed)} of ${mib(m.heapTotal)}, at ${fmt(seconds, 1)} s\n`,
        );
      })();
    },
  );
  process.stdout.write(`${fmt(run.eventsPerSec)} events/s with the pauses left out\n`);
} finally {
  await close();
}
