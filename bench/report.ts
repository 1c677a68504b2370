/**
 * Shared pieces of the benchmarks: the machine description, target checks, and writing
 * `docs/bench/<name>.md`, `bench/results/<name>.json` and the summary in docs/PERFORMANCE.md.
 *
 * Benchmarks are not tests: nothing here asserts a timing. Absolute figures drift on shared VMs, so
 * every benchmark measures its own baseline in the same process and run and reports the ratio.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchOptions {
  /** `--full`: also the largest sizes (10^7 entries), which take several minutes. */
  full: boolean;
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  os: string;
  memoryGiB: number;
  /** 1-minute load averages at the start and end: above nproc, other work competed for the CPUs. */
  load: number;
  loadEnd?: number;
  date: string;
}

/** One row of the targets table: a figure compared with what the issue asks for. */
export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  /** measured ÷ target (≥ 1 means met) where the target is a number. */
  ratio?: number;
  met: boolean;
}

export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
}

export interface BenchResult {
  name: string;
  title: string;
  /** How the benchmark was run (sizes, shapes, baseline), one sentence each. */
  method: string[];
  targets: TargetCheck[];
  tables: Table[];
  notes: string[];
  /** Raw figures for the JSON file. */
  data: unknown;
}

/** The repository root: the nearest parent holding this project's package.json (works from bench/ and dist/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'indelible'
    ) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the repository root (package.json of indelible)');
    dir = up;
  }
}

/** A file kept beside the benchmark sources (Lua scripts, the floor server): not compiled into dist/. */
export function benchAsset(name: string): string {
  return join(repoRoot(), 'bench', name);
}

export function describeMachine(): Machine {
  let nproc = availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // `nproc` is coreutils; os.availableParallelism() is the same figure where it is missing.
  }
  let cpu = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // Not Linux: leave the model unknown rather than guess.
  }
  return {
    nproc,
    cpu,
    node: process.version,
    os: `${process.platform} ${release()}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    load: currentLoad(),
    date: new Date().toISOString(),
  };
}

export function currentLoad(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export function machineLine(m: Machine): string {
  return (
    `${m.nproc} CPUs (\`nproc\`), ${m.cpu}, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.os}, ${m.date}; ` +
    `1-min load average ${m.load} at the start${m.loadEnd === undefined ? '' : `, ${m.loadEnd} at the end`}`
  );
}

/** 123456.7 → "123,457"; small values keep `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtRatio(r: number): string {
  return `${fmt(r, 2)}×`;
}

export function mib(bytes: number): string {
  return `${fmt(bytes / 2 ** 20, 0)} MiB`;
}

/** A target of "at least `min`" on a rate. */
export function atLeast(what: string, measured: number, min: number, unit: string): TargetCheck {
  return {
    what,
    target: `≥ ${fmt(min, min < 10 ? 2 : 0)}${unit}`,
    measured: `${fmt(measured, measured < 10 ? 2 : 0)}${unit}`,
    ratio: measured / min,
    met: measured >= min,
  };
}

/** A target of "at most `max`" (latency): ratio is target ÷ measured so ≥ 1 still means met. */
export function atMost(what: string, measured: number, max: number, unit: string): TargetCheck {
  return {
    what,
    target: `≤ ${fmt(max, 2)}${unit}`,
    measured: `${fmt(measured, 3)}${unit}`,
    ratio: max / measured,
    met: measured <= max,
  };
}

function markdownTable(
  columns: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cell = (v: string | number) => (typeof v === 'number' ? fmt(v) : v).replaceAll('|', '\\|');
  const align = columns.map((_, i) => (rows.some((r) => typeof r[i] === 'number') ? '---:' : '---'));
  return [
    `| ${columns.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(result: BenchResult, machine: Machine, command: string): string {
  const targets = markdownTable(
    ['what', 'target', 'measured', 'measured ÷ target', 'met'],
    result.targets.map((t) => [
      t.what,
      t.target,
      t.measured,
      t.ratio === undefined ? '' : fmtRatio(t.ratio),
      t.met ? 'yes' : '**no**',
    ]),
  );
  const parts = [
    `# Benchmark: ${result.title}`,
    '',
    `Generated by \`${command}\`; do not edit by hand.`,
    '',
    `Machine: ${machineLine(machine)}.`,
    '',
    ...result.method.map((m) => `- ${m}`),
    '',
    '## Targets',
    '',
    targets,
  ];
  for (const t of result.tables) parts.push('', `## ${t.title}`, '', markdownTable(t.columns, t.rows));
  if (result.notes.length > 0) parts.push('', '## Notes', '', ...result.notes.map((n) => `- ${n}`));
  return `${parts.join('\n')}\n`;
}

/** Writes docs/bench/<name>.md and bench/results/<name>.json; returns their paths. */
export function writeResult(result: BenchResult, machine: Machine, command: string): string[] {
  const root = repoRoot();
  const md = join(root, 'docs', 'bench', `${result.name}.md`);
  const json = join(root, 'bench', 'results', `${result.name}.json`);
  mkdirSync(dirname(md), { recursive: true });
  mkdirSync(dirname(json), { recursive: true });
  writeFileSync(md, renderMarkdown(result, machine, command));
  const { name, title, method, targets, notes, data } = result;
  writeFileSync(
    json,
    `${JSON.stringify({ name, title, machine, command, method, targets, notes, data }, null, 2)}\n`,
  );
  return [md, json];
}

/** Prints a progress line to stderr (stdout is left to the summary). */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

const SUMMARY_START = '<!-- bench:summary:start (generated by bench/run.ts from bench/results/*.json) -->';
const SUMMARY_END = '<!-- bench:summary:end -->';

/**
 * Rewrites the block between the summary markers of docs/PERFORMANCE.md from every
 * bench/results/<name>.json present, so the page always shows the latest figures of each benchmark.
 */
export function updatePerformanceDoc(names: readonly string[]): string | undefined {
  const root = repoRoot();
  const doc = join(root, 'docs', 'PERFORMANCE.md');
  if (!existsSync(doc)) return undefined;
  const text = readFileSync(doc, 'utf8');
  const start = text.indexOf(SUMMARY_START);
  const end = text.indexOf(SUMMARY_END);
  if (start < 0 || end < start) return undefined;
  const rows: string[][] = [];
  const machines: string[] = [];
  for (const name of names) {
    const path = join(root, 'bench', 'results', `${name}.json`);
    if (!existsSync(path)) continue;
    const r = JSON.parse(readFileSync(path, 'utf8')) as {
      machine: Machine;
      targets: TargetCheck[];
    };
    machines.push(`- [${name}](bench/${name}.md): ${machineLine(r.machine)}.`);
    for (const t of r.targets) {
      rows.push([
        `[${name}](bench/${name}.md)`,
        t.what,
        t.target,
        t.measured,
        t.ratio === undefined ? '' : fmtRatio(t.ratio),
        t.met ? 'yes' : '**no**',
      ]);
    }
  }
  const block = [
    SUMMARY_START,
    '',
    markdownTable(['benchmark', 'what', 'target', 'measured', 'measured ÷ target', 'met'], rows),
    '',
    'Measured on:',
    '',
    ...machines,
    '',
    SUMMARY_END,
  ].join('\n');
  writeFileSync(doc, text.slice(0, start) + block + text.slice(end + SUMMARY_END.length));
  return doc;
}
