/**
 * Benchmark runner: `npm run bench [-- name…] [--full] [--cpu-prof]` (= `node dist/bench/run.js …`).
 *
 * Each benchmark runs in its own child process (so one's heap and RSS never colour another's, and
 * the engine benchmark may call gc() before sampling RSS) and writes docs/bench/<name>.md and
 * bench/results/<name>.json (`<name>-full` with --full), then refreshes the summary block of
 * docs/PERFORMANCE.md. `--cpu-prof` writes V8 CPU profiles to bench/results/profiles/; read one
 * with `node dist/bench/profile-top.js FILE`. Benchmarks never fail on a timing: the exit status is
 * non-zero only when a benchmark could not run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchOptions,
  type BenchResult,
  currentLoad,
  describeMachine,
  repoRoot,
  type TargetCheck,
  updatePerformanceDoc,
  writeResult,
} from './report.js';
import { createRunScratch, removeScratch } from './scratch.js';

const BENCHMARKS: Record<string, () => Promise<{ run(opts: BenchOptions): Promise<BenchResult> }>> = {
  core: () => import('./core.js'),
  engine: () => import('./engine.js'),
  http: () => import('./http.js'),
};

function usage(): never {
  process.stderr.write(
    `usage: node dist/bench/run.js [${Object.keys(BENCHMARKS).join('|')}]… [--full] [--cpu-prof]\n` +
      '  no name: all of them; --full: also the largest sizes (minutes); --cpu-prof: V8 profiles\n',
  );
  process.exit(2);
}

async function child(name: string, full: boolean): Promise<void> {
  const load = BENCHMARKS[name];
  if (!load) usage();
  const machine = describeMachine();
  const result = await (await load()).run({ full });
  // --full results are kept apart, so a default run never overwrites the largest sizes' figures.
  if (full) result.name = `${result.name}-full`;
  machine.loadEnd = currentLoad();
  const command = `node dist/bench/run.js ${name}${full ? ' --full' : ''}`;
  for (const path of writeResult(result, machine, command)) process.stderr.write(`[bench] wrote ${path}\n`);
}

function summarize(name: string): void {
  const path = join(repoRoot(), 'bench', 'results', `${name}.json`);
  const { targets } = JSON.parse(readFileSync(path, 'utf8')) as { targets: TargetCheck[] };
  process.stdout.write(`\n${name}:\n`);
  for (const t of targets) {
    const ratio = t.ratio === undefined ? '' : ` (${t.ratio.toFixed(2)}× target)`;
    process.stdout.write(
      `  ${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${t.measured}, target ${t.target}${ratio}\n`,
    );
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const full = args.includes('--full');
  if (args[0] === '--child') {
    try {
      await child(args[1] ?? '', full);
    } catch (err) {
      // The benchmarks' own refusals (wrk missing, no build) are sentences for the user, not bugs.
      const own = err instanceof Error && err.message.startsWith('bench');
      process.stderr.write(`[bench] ${own ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    }
    return;
  }
  const unknown = args.filter((a) => a.startsWith('--') && !['--full', '--cpu-prof'].includes(a));
  if (unknown.length > 0) usage();
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names) if (!BENCHMARKS[n]) usage();
  const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);
  const self = fileURLToPath(import.meta.url);
  const profile = args.includes('--cpu-prof')
    ? ['--cpu-prof', `--cpu-prof-dir=${join(repoRoot(), 'bench', 'results', 'profiles')}`]
    : [];
  // One scratch folder for every benchmark's data, deleted after the last one (bench/scratch.ts).
  const scratch = createRunScratch();
  let failed = 0;
  try {
    for (const name of selected) {
      process.stderr.write(`[bench] ${name}${full ? ' (full)' : ''}\n`);
      const r = spawnSync(
        process.execPath,
        [...process.execArgv, '--expose-gc', ...profile, self, '--child', name, ...(full ? ['--full'] : [])],
        { stdio: 'inherit', env: { ...process.env, BENCH_SCRATCH: scratch } },
      );
      if (r.status !== 0) {
        failed++;
        process.stderr.write(`[bench] ${name} did not complete (exit ${r.status ?? r.signal})\n`);
        continue;
      }
      summarize(full ? `${name}-full` : name);
    }
  } finally {
    removeScratch(scratch);
  }
  const doc = updatePerformanceDoc(Object.keys(BENCHMARKS).flatMap((n) => [n, `${n}-full`]));
  if (doc) process.stderr.write(`[bench] updated the summary in ${doc}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
