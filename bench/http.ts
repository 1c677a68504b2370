/**
 * Issue "HTTP service": ingest and proofs over real HTTP on loopback, driven by wrk, against the
 * floor server (bench/floor-server.mjs: parse JSON, append NDJSON, fsync with group commit, nothing
 * else) started in the same run.
 *
 * The server is the real CLI (`node dist/src/cli/bin.js serve --data DIR --init --listen …`) with
 * its defaults (access log included, written to a file); the admin key is parsed from its stdout and
 * a log plus a writer key are created through the API. Shapes: batches of 100 × 400-byte events on 16
 * connections, single events on 64, inclusion proofs of random entries on 32, and `/healthz` on 32
 * as the route-free ceiling of the same server. Targets: batches and single events ≥ 0.5× the floor,
 * single events ≥ 10,000/s, proofs ≥ 10,000/s. Each server ingest run also reports its commits (events
 * per commit, mean fsync) from the server's /metrics. Only 127.0.0.1; every wrk run is bounded (-d).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleEvent } from '../src/log/test-helpers.js';
import {
  findWrk,
  freePort,
  HOST,
  runWrk,
  sleep,
  startChild,
  stopChild,
  type WrkFigures,
  type WrkRun,
  wrkVersion,
} from './http-tools.js';
import {
  atLeast,
  type BenchOptions,
  type BenchResult,
  benchAsset,
  fmt,
  fmtRatio,
  progress,
  repoRoot,
  type TargetCheck,
} from './report.js';
import { benchBase, scratchDir } from './scratch.js';

const LOG = 'bench';
const BATCH = 100;
const EVENT_BYTES = 400;

async function api(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`bench: ${method} ${path} → ${res.status}: ${text}`);
  return res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
}

/** Tree size of the log's latest checkpoint (line 2 of the signed note). */
async function checkpointSize(base: string): Promise<number> {
  const res = await fetch(`${base}/v1/logs/${LOG}/checkpoint`);
  return Number((await res.text()).split('\n')[1]);
}

/** Entries of the bench log waiting for the search index (the server's /metrics). */
async function indexLag(base: string, adminKey: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (!res.ok) throw new Error(`bench: GET /metrics → ${res.status}`);
  const m = new RegExp(`^indelible_index_lag_entries\\{[^}]*log="${LOG}"[^}]*\\} (\\S+)$`, 'm').exec(
    await res.text(),
  );
  if (m === null) throw new Error('bench: /metrics has no indelible_index_lag_entries for the bench log');
  return Number(m[1]);
}

/**
 * Waits until the work a run left behind is done: the checkpoint stops growing (integration) and
 * the search index has caught up, so the next run starts from an idle server. Returns the tree size.
 */
async function settle(base: string, adminKey: string): Promise<number> {
  let last = -1;
  for (let i = 0; i < 80; i++) {
    const size = await checkpointSize(base);
    if (size === last && (await indexLag(base, adminKey)) === 0) return size;
    last = size;
    // Longer than the 1 s integration interval, so an unchanged size means integration is done.
    await sleep(1500);
  }
  return last;
}

/** Cumulative commit figures of the server, from its Prometheus metrics (admin key). */
interface CommitTotals {
  commits: number;
  events: number;
  fsyncs: number;
  fsyncSeconds: number;
}

async function commitTotals(base: string, adminKey: string): Promise<CommitTotals> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
  const text = await res.text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    commits: metric('indelible_sequencer_batch_events_count'),
    events: metric('indelible_sequencer_batch_events_sum'),
    fsyncs: metric('indelible_fsync_duration_seconds_count'),
    fsyncSeconds: metric('indelible_fsync_duration_seconds_sum'),
  };
}

/**
 * Commits during one run: how many, events per commit, mean journal commit time (write + fdatasync +
 * the wait for the event loop to resume it: `indelible_fsync_duration_seconds`); index lag at its end.
 */
interface CommitFigures {
  label: string;
  commits: number;
  eventsPerCommit: number;
  meanFsyncMs: number;
  indexLagAfter?: number;
}

function commitFigures(label: string, before: CommitTotals, after: CommitTotals): CommitFigures {
  const commits = after.commits - before.commits;
  const fsyncs = after.fsyncs - before.fsyncs;
  return {
    label,
    commits,
    eventsPerCommit: (after.events - before.events) / commits,
    meanFsyncMs: (1000 * (after.fsyncSeconds - before.fsyncSeconds)) / fsyncs,
  };
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const wrk = findWrk();
  if (!wrk) {
    throw new Error(
      'bench http: wrk is not installed, so the HTTP benchmark cannot run. Install it (Debian/Ubuntu: ' +
        '`apt-get update && apt-get install -y wrk`) and run `npm run bench -- http` again.',
    );
  }
  const main = join(repoRoot(), 'dist', 'src', 'cli', 'bin.js');
  if (!existsSync(main)) throw new Error(`bench http: ${main} is missing; run \`npm run build\` first`);
  const floorScript = benchAsset('floor-server.mjs');
  // BENCH_SECONDS shortens or lengthens every measured wrk run (default 10 s, 30 s with --full).
  const seconds = Number(process.env.BENCH_SECONDS) || (opts.full ? 30 : 10);
  const warmup = Math.min(3, seconds);

  const base = benchBase();
  const dir = scratchDir('http');
  const children: ChildProcess[] = [];
  try {
    const batchBody = join(dir, 'batch.json');
    const singleBody = join(dir, 'single.json');
    writeFileSync(
      batchBody,
      JSON.stringify({ events: Array.from({ length: BATCH }, (_, n) => sampleEvent(n, EVENT_BYTES)) }),
    );
    writeFileSync(singleBody, JSON.stringify(sampleEvent(0, EVENT_BYTES)));

    const floorPort = await freePort();
    progress(`http: floor server on ${HOST}:${floorPort}`);
    const floor = await startChild(
      process.execPath,
      [floorScript, String(floorPort), join(dir, 'floor.ndjson'), 'group'],
      join(dir, 'floor.log'),
      (out) => out.includes('ready'),
      'the floor server',
    );
    children.push(floor);

    const port = await freePort();
    const serverBase = `http://${HOST}:${port}`;
    progress(`http: indelible serve on ${serverBase}`);
    const serverLog = join(dir, 'server.log');
    const logLevel = process.env.BENCH_LOG_LEVEL;
    // Under `run.js http --cpu-prof` the server is profiled too (its profile lands beside this one's).
    const prof = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
    const server = await startChild(
      process.execPath,
      [
        ...prof,
        main,
        'serve',
        '--data',
        join(dir, 'data'),
        '--init',
        '--listen',
        `${HOST}:${port}`,
        ...(logLevel ? ['--log-level', logLevel] : []),
      ],
      serverLog,
      (out) => /Admin API key[^\n]*\n\s*(\S+)/.test(out),
      'indelible serve',
    );
    children.push(server);
    const adminKey = /Admin API key[^\n]*\n\s*(\S+)/.exec(readFileSync(serverLog, 'utf8'))![1]!;
    for (let i = 0; ; i++) {
      const res = await fetch(`${serverBase}/readyz`).catch(() => undefined);
      if (res?.status === 200) break;
      if (i > 600) throw new Error('bench http: /readyz never answered 200');
      await sleep(100);
    }
    await api(serverBase, adminKey, 'POST', '/v1/logs', { name: LOG });
    const { key: writerKey } = (await api(serverBase, adminKey, 'POST', '/v1/keys', {
      role: 'writer',
      logs: [LOG],
    })) as { key: string };

    const floorUrl = `http://${HOST}:${floorPort}/`;
    const ingestUrl = `${serverBase}/v1/logs/${LOG}/events`;
    const shape = (
      label: string,
      url: string,
      connections: number,
      body: string,
      token: string | undefined,
      events: number,
      script = 'post.lua',
    ) => ({
      label,
      url,
      connections,
      seconds,
      script,
      env: { BENCH_BODY: body, BENCH_TOKEN: token ?? '' },
      eventsPerRequest: events,
    });
    const commits: CommitFigures[] = [];
    const measure = async (r: WrkRun, server = false): Promise<WrkFigures> => {
      progress(`http: ${r.label} (${warmup} s warm-up, ${r.seconds} s measured)`);
      runWrk(wrk, { ...r, seconds: warmup });
      const before = server ? await commitTotals(serverBase, adminKey) : undefined;
      const f = runWrk(wrk, r);
      progress(`http:   ${fmt(f.reqPerSec)} req/s, p99 ${fmt(f.p99Ms, 2)} ms, non-2xx ${f.non2xx}`);
      if (before !== undefined) {
        const c = commitFigures(r.label, before, await commitTotals(serverBase, adminKey));
        c.indexLagAfter = await indexLag(serverBase, adminKey);
        progress(
          `http:   ${fmt(c.eventsPerCommit, 1)} events per commit, journal commit ${fmt(c.meanFsyncMs, 2)} ms, index lag at the end ${fmt(c.indexLagAfter)}`,
        );
        commits.push(c);
      }
      return f;
    };

    // Floor shapes first: a server run leaves integration and indexing work behind that would slow
    // a floor run after it; `settle` waits that out (checkpoint and search index) between the
    // server's own runs.
    const floorBatch = await measure(
      shape('floor: batches of 100, 16 connections', floorUrl, 16, batchBody, undefined, BATCH),
    );
    const floorSingle = await measure(
      shape('floor: single events, 64 connections', floorUrl, 64, singleBody, undefined, 1),
    );
    const serverBatch = await measure(
      shape('indelible: batches of 100, 16 connections', ingestUrl, 16, batchBody, writerKey, BATCH),
      true,
    );
    await settle(serverBase, adminKey);
    const serverSingle = await measure(
      shape('indelible: single events, 64 connections', ingestUrl, 64, singleBody, writerKey, 1),
      true,
    );
    await settle(serverBase, adminKey);
    const serverKeyed = await measure(
      shape(
        'indelible: single events with Idempotency-Key, 64 connections',
        ingestUrl,
        64,
        singleBody,
        writerKey,
        1,
        'post-keyed.lua',
      ),
      true,
    );
    const treeSize = await settle(serverBase, adminKey);
    const serverRss = rssMiB(server.pid);
    const healthz = await measure({
      label: 'indelible: GET /healthz, 32 connections',
      url: `${serverBase}/healthz`,
      connections: 32,
      seconds,
      eventsPerRequest: 0,
    });
    const proofs = await measure({
      label: `indelible: GET inclusion proof, random index, tree size ${fmt(treeSize)}, 32 connections`,
      url: serverBase,
      connections: 32,
      seconds,
      script: 'inclusion.lua',
      env: { BENCH_LOG: LOG, BENCH_TREE_SIZE: String(treeSize), BENCH_TOKEN: '' },
      eventsPerRequest: 0,
    });

    const batchRatio = serverBatch.eventsPerSec / floorBatch.eventsPerSec;
    const singleRatio = serverSingle.eventsPerSec / floorSingle.eventsPerSec;
    const okReqs = (f: WrkFigures) => (f.requests - f.non2xx) / f.seconds;
    const targets: TargetCheck[] = [
      atLeast('batches of 100: indelible ÷ floor (events/s)', batchRatio, 0.5, '×'),
      atLeast('single events: indelible ÷ floor (events/s)', singleRatio, 0.5, '×'),
      atLeast('single events/s', serverSingle.eventsPerSec, 10_000, '/s'),
      atLeast('inclusion proofs/s over HTTP', okReqs(proofs), 10_000, '/s'),
    ];
    const all = [floorBatch, serverBatch, floorSingle, serverSingle, serverKeyed, healthz, proofs];
    return {
      name: 'http',
      title: 'HTTP service (wrk over loopback)',
      method: [
        `${wrkVersion(wrk)} with one thread (\`-t1\`), ${seconds} s per run after a ${warmup} s warm-up, \`--latency\`; Lua scripts in bench/wrk/.`,
        `Bodies: \`{"events":[…${BATCH}…]}\` of \`sampleEvent(n, ${EVENT_BYTES})\` (src/log/test-helpers.ts), or one such event; the same bytes go to both servers.`,
        'Floor: bench/floor-server.mjs (copy of ../shared/bench/floor-server.mjs) in `group` mode: parses the JSON, appends NDJSON, answers 201 after fsync, group commit; no validation, hashing, signing, index or logging.',
        `Indelible: \`node dist/src/cli/bin.js serve --data DIR --init --listen ${HOST}:PORT\` with default settings${logLevel ? ` and --log-level ${logLevel}` : ' (access log on, written to a file)'}; a writer key for ingest, no key for proofs (public reads).`,
        "Events/s counts only 2xx responses. Order: floor shapes, then the server's; between server runs the bench waits until the checkpoint stops growing and the search index has caught up (the lag a run left is in the commits table).",
        `Files under ${base} (set BENCH_DIR to measure another disk), deleted after the last benchmark of the run (bench/scratch.ts).`,
      ],
      targets,
      tables: [
        {
          title: 'Runs',
          columns: ['run', 'req/s', 'events/s', 'p50', 'p99', 'non-2xx', 'socket errors'],
          rows: all.map((f) => [
            f.label,
            Math.round(f.reqPerSec),
            f.eventsPerRequest === 0 ? '' : Math.round(f.eventsPerSec),
            `${fmt(f.p50Ms, 2)} ms`,
            `${fmt(f.p99Ms, 2)} ms`,
            f.non2xx,
            f.socketErrors,
          ]),
        },
        {
          title: 'Ratios',
          columns: ['comparison', 'ratio'],
          rows: [
            ['batches: indelible ÷ floor (events/s)', fmtRatio(batchRatio)],
            ['single events: indelible ÷ floor (events/s)', fmtRatio(singleRatio)],
            [
              'single events: with ÷ without Idempotency-Key (events/s; the key is committed before the append)',
              fmtRatio(serverKeyed.eventsPerSec / serverSingle.eventsPerSec),
            ],
            [
              'inclusion proofs ÷ /healthz on the same server (req/s)',
              fmtRatio(okReqs(proofs) / okReqs(healthz)),
            ],
            [
              'single events: p99 latency, indelible ÷ floor',
              fmtRatio(serverSingle.p99Ms / floorSingle.p99Ms),
            ],
          ],
        },
        {
          title: 'Commits during the server runs (from its /metrics)',
          columns: [
            'run',
            'commits',
            'events per commit',
            'mean journal commit (write + fdatasync + event-loop wait)',
            'index lag at the end',
          ],
          rows: commits.map((c) => [
            c.label,
            c.commits,
            fmt(c.eventsPerCommit, 1),
            `${fmt(c.meanFsyncMs, 2)} ms`,
            fmt(c.indexLagAfter ?? 0),
          ]),
        },
      ],
      notes: [
        `Server RSS after ingesting ${fmt(treeSize)} entries: ${fmt(serverRss)} MiB.`,
        'wrk, the server and the floor share the same CPUs; the floor ran in the same session just before, so the ratios compare like with like.',
      ],
      data: {
        floorBatch,
        floorSingle,
        serverBatch,
        serverSingle,
        serverKeyed,
        healthz,
        proofs,
        treeSize,
        serverRssMiB: serverRss,
        commits,
      },
    };
  } finally {
    for (const c of children.reverse()) await stopChild(c);
  }
}
