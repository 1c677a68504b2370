/**
 * Issue "core": the pure hot paths, with no I/O.
 *
 * 1. Records/s for 400-byte events: canonicalize(event) → newEventId → buildRecordRun over the batch
 *    (record texts, UTF-8 bytes in one buffer, leaf hashes) → CompactRange.append, in batches of 100
 *    sharing one received_at (what Engine.append + Log.commit do per event, minus validation and the
 *    journal write). Baseline:
 *    Node's bare createHash('sha256') over the same 400-byte events, in alternating rounds.
 *    Target ≥ 200,000 records/s.
 * 2. Inclusion and consistency proofs generated from in-memory tiles (buildTiles output read through
 *    tileHashReader) and verified, at tree sizes 10^3…10^6 (10^7 with --full). Baseline for
 *    verification: the same number of node hashes through createHash. Targets ≥ 50,000 generated/s
 *    and ≥ 100,000 verified/s.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from '../src/core/jcs.js';
import { CompactRange, hashLeaf } from '../src/core/merkle.js';
import {
  buildRecordFromCanonicalEvent,
  buildRecordRun,
  formatTimestamp,
  newEventId,
  type RunEvent,
  ZERO_HASH,
} from '../src/core/record.js';
import { sampleEvent } from '../src/log/test-helpers.js';
import { benchProofs, MemoryTree, type ProofFigures } from './core-proofs.js';
import { bestRate, compareRates, rate } from './measure.js';
import {
  atLeast,
  type BenchOptions,
  type BenchResult,
  fmt,
  fmtRatio,
  progress,
  type TargetCheck,
} from './report.js';

const EVENT_BYTES = 400;
const BATCH = 100;
const POOL = 10_000;

/** The record pipeline of one commit, with the engine's per-event work and nothing else. */
class RecordPipeline {
  readonly range = new CompactRange();
  #prev: Uint8Array = ZERO_HASH;
  #next = 0;

  constructor(private readonly events: readonly Record<string, unknown>[]) {}

  batch(): void {
    const now = Date.now();
    const receivedAt = formatTimestamp(now);
    const events = this.events;
    const items = new Array<RunEvent>(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const eventJson = canonicalize(events[(this.#next++ % events.length) | 0]);
      items[i] = { id: newEventId(now), eventJson };
    }
    const run = buildRecordRun({
      log: 'bench',
      firstIndex: this.range.size,
      receivedAt,
      prev: this.#prev,
      events: items,
    });
    for (let i = 0; i < BATCH; i++) {
      this.#prev = run.leafHashes.subarray(i * 32, i * 32 + 32);
      this.range.append(this.#prev);
    }
  }
}

interface RecordFigures {
  recordsPerSec: number;
  baselineHashesPerSec: number;
  ratio: number;
  /** perSec is per CPU-second (see measure.ts `rate`); wallPerSec per second of wall-clock time. */
  stages: Array<{ stage: string; perSec: number; wallPerSec: number }>;
}

async function benchRecords(): Promise<RecordFigures> {
  const events = Array.from({ length: POOL }, (_, n) => sampleEvent(n, EVENT_BYTES));
  const leaves = events.map((e) => Buffer.from(JSON.stringify(e)));
  const sizes = new Set(leaves.map((l) => l.length));
  progress(`core: records (event sizes ${[...sizes].join(', ')} bytes)`);
  let k = 0;
  const baseline = () => {
    for (let i = 0; i < BATCH; i++)
      createHash('sha256')
        .update(leaves[k++ % POOL]!)
        .digest();
  };
  const pipeline = new RecordPipeline(events);
  await rate(300, BATCH, baseline); // warm-up of both
  await rate(300, BATCH, () => pipeline.batch());
  const cmp = await compareRates(
    5,
    400,
    { n: BATCH, body: baseline },
    { n: BATCH, body: () => pipeline.batch() },
  );

  // Where the time of one record goes: each step alone, on inputs prepared outside the loop.
  const jsons = events.map((e) => canonicalize(e));
  const now = Date.now();
  const receivedAt = formatTimestamp(now);
  const ids = Array.from({ length: POOL }, () => newEventId(now));
  const leafHashes = jsons.map((j) => hashLeaf(Buffer.from(j)));
  let j = 0;
  const range = new CompactRange();
  const steps: Array<[string, () => void]> = [
    ['canonicalize(event)', () => void canonicalize(events[j++ % POOL])],
    ['newEventId', () => void newEventId(now)],
    [
      'buildRecordFromCanonicalEvent (text, UTF-8, leaf hash)',
      () => {
        const i = j++ % POOL;
        buildRecordFromCanonicalEvent({
          log: 'bench',
          index: 1 + i,
          id: ids[i]!,
          receivedAt,
          prev: leafHashes[i]!,
          eventJson: jsons[i]!,
        });
      },
    ],
    ['CompactRange.append', () => range.append(leafHashes[j++ % POOL]!)],
  ];
  // buildRecordRun per record, in runs of BATCH (how Log.commit builds records).
  const runEvents = jsons.map((eventJson, i) => ({ id: ids[i]!, eventJson }));
  let r0 = 0;
  const runStep = () => {
    r0 = (r0 + BATCH) % POOL;
    const from = r0;
    buildRecordRun({
      log: 'bench',
      firstIndex: 1 + from,
      receivedAt,
      prev: leafHashes[from]!,
      events: runEvents.slice(from, from + BATCH),
    });
  };
  const stages: RecordFigures['stages'] = [];
  for (const [stage, step] of steps) {
    const r = await bestRate(3, 300, BATCH, () => {
      for (let i = 0; i < BATCH; i++) step();
    });
    stages.push({ stage, perSec: r.cpu, wallPerSec: r.wall });
  }
  const runRate = await bestRate(3, 300, BATCH, runStep);
  stages.splice(3, 0, {
    stage: `buildRecordRun, per record of a run of ${BATCH} (what Log.commit calls)`,
    perSec: runRate.cpu,
    wallPerSec: runRate.wall,
  });
  stages.push({ stage: 'whole pipeline', perSec: cmp.subject.cpu, wallPerSec: cmp.subject.wall });
  stages.push({
    stage: `baseline: createHash('sha256') over one ${EVENT_BYTES}-byte event`,
    perSec: cmp.baseline.cpu,
    wallPerSec: cmp.baseline.wall,
  });
  return { recordsPerSec: cmp.subject.cpu, baselineHashesPerSec: cmp.baseline.cpu, ratio: cmp.ratio, stages };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const records = await benchRecords();
  const sizes = opts.full ? [1e3, 1e4, 1e5, 1e6, 1e7] : [1e3, 1e4, 1e5, 1e6];
  const tree = new MemoryTree();
  const proofs: ProofFigures[] = [];
  for (const size of sizes) {
    progress(`core: building tiles to ${fmt(size)} leaves`);
    tree.grow(size);
    progress(`core: proofs at ${fmt(size)}`);
    proofs.push(await benchProofs(tree));
  }
  const integrationLeavesPerSec = (tree.size * 1000) / tree.buildMs;
  const largest = proofs[proofs.length - 1]!;
  const at = `at ${fmt(largest.size)} leaves`;
  const targets: TargetCheck[] = [
    atLeast(
      'records/s (canonicalize + record + leaf hash + CompactRange.append)',
      records.recordsPerSec,
      200_000,
      '/s',
    ),
    atLeast(
      `inclusion proofs generated/s ${at}, warm tile cache`,
      largest.inclusionGeneratedWarm.cpu,
      50_000,
      '/s',
    ),
    atLeast(`inclusion proofs verified/s ${at}`, largest.inclusionVerified.cpu, 100_000, '/s'),
  ];
  const sizeLabel = (n: number) => `10^${Math.round(Math.log10(n))}`;
  return {
    name: 'core',
    title: 'core (records, Merkle tree, proofs)',
    method: [
      `Events: \`sampleEvent(n, ${EVENT_BYTES})\` from src/log/test-helpers.ts, ${fmt(POOL)} distinct ones cycled; JSON is exactly ${EVENT_BYTES} bytes.`,
      `Records: per event \`canonicalize\` → \`newEventId\`, then \`buildRecordRun\` over the batch (record texts, UTF-8 bytes in one buffer, leaf hashes), then \`CompactRange.append\` per leaf hash; batches of ${BATCH} sharing one \`received_at\`, as Log.commit builds them; no validation, no I/O.`,
      `Baseline: \`createHash('sha256').update(event).digest()\` over the same ${EVENT_BYTES}-byte events, measured in alternating rounds with the pipeline (best of 5 rounds of 400 ms each).`,
      "Rates are per second of the main thread's on-CPU time (Linux schedstat; process CPU time elsewhere), the best of 3 rounds of 300 ms unless said: on a shared machine other processes take the cores away, which wall-clock rates would count against the code. On an idle machine the two agree; wall-clock figures are in the records table and bench/results/core.json.",
      'Proofs: tiles built by `buildTiles` in chunks of 65,536 leaves into a Map, read through `tileHashReader`; indices and old sizes from a seeded PRNG. "Warm" shares one `TileHashCache` across proofs; "cold" makes a new cache per proof (every interior node of each touched tile is recomputed).',
      'Verification baseline: the same number of node hashes as one proof has elements, each through `createHash` over 65 bytes.',
    ],
    targets,
    tables: [
      {
        title: `Records (ratio to baseline: ${fmtRatio(records.ratio)})`,
        columns: ['step', 'per CPU-second', 'µs CPU each', 'per wall-clock second'],
        rows: records.stages.map((s) => [
          s.stage,
          Math.round(s.perSec),
          fmt(1e6 / s.perSec, 2),
          Math.round(s.wallPerSec),
        ]),
      },
      {
        title: 'Inclusion proofs',
        columns: [
          'tree size',
          'hashes/proof',
          'generated/s (warm)',
          'generated/s (cold)',
          'verified/s',
          'baseline verified/s (createHash)',
          'verified ÷ baseline',
        ],
        rows: proofs.map((p) => [
          sizeLabel(p.size),
          fmt(p.inclusionLength, 1),
          Math.round(p.inclusionGeneratedWarm.cpu),
          Math.round(p.inclusionGeneratedCold.cpu),
          Math.round(p.inclusionVerified.cpu),
          Math.round(p.verifyBaseline.cpu),
          fmtRatio(p.inclusionVerified.cpu / p.verifyBaseline.cpu),
        ]),
      },
      {
        title: 'Consistency proofs (random old size → tree size)',
        columns: ['tree size', 'hashes/proof', 'generated/s (warm)', 'generated/s (cold)', 'verified/s'],
        rows: proofs.map((p) => [
          sizeLabel(p.size),
          fmt(p.consistencyLength, 1),
          Math.round(p.consistencyGeneratedWarm.cpu),
          Math.round(p.consistencyGeneratedCold.cpu),
          Math.round(p.consistencyVerified.cpu),
        ]),
      },
    ],
    notes: [
      `Tile building (\`buildTiles\`, leaf hashes given): ${fmt(integrationLeavesPerSec)} leaves/s over ${fmt(tree.size)} leaves.`,
      `Records/s ÷ bare createHash over the same events: ${fmtRatio(records.ratio)} (the issue quotes the bare hash near 570,000/s on this kind of machine).`,
    ],
    data: { records, proofs, integrationLeavesPerSec },
  };
}
