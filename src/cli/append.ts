/**
 * `indelible append`: sends events in batches (`POST /v1/logs/{log}/events`), each with an
 * Idempotency-Key, so that a retry — after a timeout, a 503 push-back, or a rerun after the process
 * was killed — returns the original entries instead of appending twice.
 *
 * Resuming a file (the progress file and the keys: append-progress.ts). The progress is saved
 * BEFORE each batch is sent, recording it as in flight; so after an interrupt at any point:
 *
 * - killed before the server acknowledged a batch: the rerun sends it (same key), appended once;
 * - killed after the acknowledgement but before the progress moved on: the rerun sends the
 *   in-flight batch again with its key and the server replays the original entries;
 * - the acknowledged part of the file changed since: refused (resuming from the old position would
 *   skip or repeat events); the in-flight batch changed while its fate is unknown: refused too;
 * - lines added at the end of the file: the rerun appends just them.
 *
 * The server remembers keys per API key for its idempotency window (24 h by default): resume with
 * the same key within it. stdin and `--event` are not resumable (their batches get random keys,
 * which still make this run's own retries safe).
 */
import type { Command } from 'commander';
import type { IndelibleClient } from '../client/client.js';
import { ClientError, isRetryable } from '../client/errors.js';
import { resolveRetry, retryDelay } from '../client/retry.js';
import type { AppendedEntry, AppendResult } from '../client/types.js';
import { randomBytesArray } from '../core/crypto.js';
import { toHex } from '../core/encoding.js';
import {
  type AppendProgress,
  batchKey,
  CHAIN_START,
  chainStep,
  keyFingerprint,
  loadProgress,
  progressPath,
  saveProgress,
} from './append-progress.js';
import {
  argumentSource,
  checkEvents,
  type EventSource,
  fileSource,
  type SourceEvent,
  stdinSource,
} from './append-source.js';
import { UsageError } from './options.js';
import {
  addRemoteOptions,
  dropOutputOnClosedPipe,
  logName,
  ndjson,
  Progress,
  plural,
  type RemoteOptions,
  remoteClient,
  write,
} from './remote.js';

interface AppendCliOptions extends RemoteOptions {
  event: string[];
  file?: string;
  batch: string;
  waitCheckpoint?: boolean;
}

/** Server limits are 10,000 events and 10 MiB per request; stay well inside the byte limit. */
const MAX_BATCH = 10_000;
const MAX_BATCH_BYTES = 4 << 20;
const RETRY = resolveRetry({ maxAttempts: 8, initialDelayMs: 250, maxDelayMs: 10_000 });

interface Batch {
  /** Position of the first event in the source. */
  first: number;
  events: SourceEvent[];
  key: string;
}

/**
 * For a stream (stdin): a batch also ends once no event came for `ms`, so that a trickle
 * (`tail -f … | indelible append --file -`) is sent as it comes rather than when a batch fills.
 * `pending` is the read that was still waiting then; the next batch starts with it.
 */
export interface Linger {
  ms: number;
  pending?: Promise<IteratorResult<SourceEvent>>;
}

/** How long stdin may be quiet before what it gave is sent. */
export const STDIN_LINGER_MS = 200;

/** Reads up to `max` events (and MAX_BATCH_BYTES) from `it`; `exact` asks for that many, no byte cap. */
export async function nextEvents(
  it: AsyncIterator<SourceEvent>,
  max: number,
  exact?: number,
  linger?: Linger,
): Promise<SourceEvent[]> {
  const out: SourceEvent[] = [];
  let bytes = 0;
  while (out.length < (exact ?? max)) {
    const next = linger?.pending ?? it.next();
    if (linger !== undefined) linger.pending = undefined;
    let r: IteratorResult<SourceEvent>;
    if (linger !== undefined && out.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const quiet = new Promise<'quiet'>((resolve) => {
        timer = setTimeout(() => resolve('quiet'), linger.ms);
      });
      const first = await Promise.race([next, quiet]);
      clearTimeout(timer);
      if (first === 'quiet') {
        linger.pending = next;
        break;
      }
      r = first;
    } else r = await next;
    if (r.done) break;
    out.push(r.value);
    // Bytes, not characters: text of 3-byte characters would otherwise make 12 MiB batches.
    bytes += Buffer.byteLength(r.value.text) + 1;
    if (exact === undefined && bytes >= MAX_BATCH_BYTES) break;
  }
  return out;
}

/** One run: sends batches (with retries), prints what the server acknowledged, keeps the totals. */
class AppendRun {
  appended = 0;
  replayed = 0;
  first: number | undefined;
  last: number | undefined;
  readonly bar: Progress;

  constructor(
    private readonly client: IndelibleClient,
    readonly log: string,
    private readonly source: EventSource,
    private readonly opts: AppendCliOptions,
  ) {
    this.bar = new Progress(`${log}: `);
  }

  /** Sends `batch`, retrying what may succeed later with the same key and the same bytes. */
  async send(batch: Batch): Promise<void> {
    const body = `{"events":[${batch.events.map((e) => e.text).join(',')}]}`;
    let result: AppendResult;
    for (let attempt = 1; ; attempt++) {
      try {
        result = await this.client.appendBody(this.log, body, {
          idempotencyKey: batch.key,
          waitCheckpoint: this.opts.waitCheckpoint === true,
        });
        break;
      } catch (err) {
        if (!isRetryable(err) || attempt >= RETRY.maxAttempts) throw locate(err, batch, this.source.name);
        await new Promise((r) => setTimeout(r, retryDelay(attempt, err, RETRY)));
      }
    }
    await this.#report(batch, result);
  }

  async #report(batch: Batch, r: AppendResult): Promise<void> {
    if (r.replayed) this.replayed += r.entries.length;
    else this.appended += r.entries.length;
    for (const e of r.entries) {
      this.first = Math.min(this.first ?? e.index, e.index);
      this.last = Math.max(this.last ?? e.index, e.index);
    }
    if (this.opts.json) await write(r.entries.map((e) => ndjson(wireEntry(e))).join(''));
    else if (this.opts.waitCheckpoint) {
      const at = (i: number) => `${this.source.name} line ${batch.events[i]?.line}`;
      await write(
        r.entries
          .map((e, i) =>
            e.receipt === undefined
              ? `# entry ${e.index} (${at(i)}): appended, but the server could not sign a checkpoint yet; get its receipt later with \`indelible receipt ${e.index}\`\n`
              : `# entry ${e.index} (${at(i)})\n${e.receipt}\n`,
          )
          .join(''),
      );
    }
    const pos = this.source.position();
    this.bar.update(
      batch.first + batch.events.length,
      'events',
      pos.total ? pos.read / pos.total : undefined,
    );
  }

  summary(): string {
    const range = this.first === undefined ? '' : ` (indices ${this.first}..${this.last})`;
    const again =
      this.replayed > 0 ? `, ${plural(this.replayed, 'event')} already there from an earlier attempt` : '';
    return `appended ${plural(this.appended, 'event')} to ${this.log}${range}${again}\n`;
  }
}

export function registerAppend(program: Command): void {
  addRemoteOptions(program.command('append'))
    .description('append events: from --event arguments, an NDJSON or JSON-array file, or NDJSON on stdin')
    .option('--event <json>', 'one event as JSON (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--file <file>', 'NDJSON (one event per line) or a JSON array; `-` reads NDJSON from stdin')
    .option('--batch <n>', `events per request (1..${MAX_BATCH})`, '1000')
    .option('--wait-checkpoint', 'wait for a signed checkpoint per batch and print a receipt per entry')
    .option('--json', 'print one JSON line per entry (index, id, leaf_hash, received_at[, receipt])')
    .addHelpText(
      'after',
      `
A file append is resumable: progress is kept in FILE.indelible-progress, and rerunning the same
command after an interrupt continues where it stopped without appending anything twice (use the
same API key, within the server's idempotency window of 24 h by default). Lines added to the end
of the file later are appended by the next run.

Examples:
  $ indelible append --log acme --event '{"action":"user.login","actor":{"id":"alice"}}'
  $ indelible append --log acme --file events.ndjson
  $ tail -f app-audit.ndjson | indelible append --log acme --file - --batch 100
  $ indelible append --log acme --wait-checkpoint --json --event '{"action":"a","actor":{"id":"b"}}'
`,
    )
    .action(async (opts: AppendCliOptions) => {
      const log = logName(opts);
      const batchSize = Number(opts.batch);
      if (!/^[1-9][0-9]*$/.test(opts.batch) || batchSize > MAX_BATCH)
        throw new UsageError(`--batch must be an integer in 1..${MAX_BATCH}`);
      if (opts.event.length > 0 && opts.file !== undefined)
        throw new UsageError('give events with --event or --file, not both');
      if (opts.event.length === 0 && opts.file === undefined)
        throw new UsageError('no events: use --event JSON, --file FILE, or --file - for NDJSON on stdin');
      const client = remoteClient(opts);
      dropOutputOnClosedPipe();
      // A file can be read twice: check all of it first, so a typo near its end appends nothing.
      // (stdin cannot: its batches go as they come. Lines added to the file meanwhile are checked
      // as they are read.)
      if (opts.file !== undefined && opts.file !== '-') await checkEvents(await fileSource(opts.file));
      const source: EventSource =
        opts.event.length > 0
          ? argumentSource(opts.event)
          : opts.file === '-'
            ? stdinSource()
            : await fileSource(opts.file!);
      const run = new AppendRun(client, log, source, opts);
      const it = source.events[Symbol.asyncIterator]();
      if (opts.file === undefined || opts.file === '-') {
        const id = toHex(randomBytesArray(12));
        const linger = opts.file === '-' ? { ms: STDIN_LINGER_MS } : undefined;
        let n = 0;
        for (let events = await nextEvents(it, batchSize, undefined, linger); events.length > 0; ) {
          await run.send({ first: n, events, key: `indelible-append:${id}:${n}+${events.length}` });
          n += events.length;
          events = await nextEvents(it, batchSize, undefined, linger);
        }
      } else {
        const apiKey = opts.apiKey ?? process.env.INDELIBLE_API_KEY;
        await appendFile(run, opts.file, it, batchSize, client.url, keyFingerprint(apiKey));
      }
      run.bar.done();
      process.stderr.write(run.summary());
    });
}

/** A resumable append of `file` (see the module comment and append-progress.ts). */
async function appendFile(
  run: AppendRun,
  file: string,
  it: AsyncIterator<SourceEvent>,
  batchSize: number,
  url: string,
  fingerprint: string,
): Promise<void> {
  const { log } = run;
  const path = progressPath(file);
  process.once('SIGINT', () => {
    run.bar.done();
    process.stderr.write(`interrupted: rerun the same command to continue (progress in ${path})\n`);
    process.exit(130);
  });
  const saved = loadProgress(path);
  if (saved !== undefined) {
    const other =
      saved.log !== log ? `log ${saved.log}` : saved.url !== url ? `server ${saved.url}` : undefined;
    if (other !== undefined)
      throw new UsageError(
        `${path} records an append of this file to ${other}; delete it to append elsewhere`,
      );
    if (saved.key_fingerprint !== fingerprint)
      throw new UsageError(
        `${path} was written with another API key; resume with the same key (the server deduplicates retries per key), or delete it to start over`,
      );
  }
  // Skip what was acknowledged, proving it is still the same content.
  let chain = CHAIN_START;
  let n = 0;
  const skip = saved?.acknowledged ?? 0;
  for (; n < skip; n++) {
    const r = await it.next();
    if (r.done)
      throw new UsageError(`${file} now has ${n} events but ${skip} were appended from it (see ${path})`);
    chain = chainStep(chain, r.value.text);
  }
  if (saved !== undefined && toHex(chain) !== saved.chain)
    throw new UsageError(
      `the first ${skip} events of ${file} changed since they were appended (see ${path})`,
    );

  const save = (inFlight: AppendProgress['in_flight']) =>
    saveProgress(path, {
      version: 1,
      url,
      log,
      key_fingerprint: fingerprint,
      acknowledged: n,
      chain: toHex(chain),
      in_flight: inFlight,
      updated_at: new Date().toISOString(),
    });
  const inFlight = saved?.in_flight ?? null;
  let events = await nextEvents(it, batchSize, inFlight?.count);
  if (events.length === 0 && saved !== undefined)
    process.stderr.write(`all ${n} events of ${file} are already in ${log} (see ${path})\n`);
  for (let resend = inFlight; events.length > 0; resend = null) {
    let end = chain;
    for (const e of events) end = chainStep(end, e.text);
    const key = batchKey(log, end, n, events.length);
    if (resend !== null && key !== resend.idempotency_key) {
      throw new UsageError(
        `events ${n + 1}..${n + resend.count} of ${file} changed while they were being sent; whether the server ` +
          `appended them is unknown (check with \`indelible query\`), then delete ${path} to start over`,
      );
    }
    save({ first: n, count: events.length, idempotency_key: key });
    try {
      await run.send({ first: n, events, key });
    } catch (err) {
      // A refusal (4xx) appended nothing: the line may be fixed and the append rerun.
      const status = err instanceof ClientError ? err.status : undefined;
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        save(null);
        throw err;
      }
      // Otherwise the batch may or may not be in: a rerun settles it (CLI.md, Resuming). Said
      // here as on Ctrl-C, lest the rerun be feared to append twice.
      if (!(err instanceof ClientError)) throw err;
      throw new ClientError(
        err.code,
        `${err.message}; rerun the same command to continue (progress in ${path})`,
        {
          cause: err,
          ...(err.status === undefined ? {} : { status: err.status }),
          ...(err.problem === undefined ? {} : { problem: err.problem }),
        },
      );
    }
    chain = end;
    n += events.length;
    events = await nextEvents(it, batchSize);
    if (events.length === 0) save(null);
  }
}

const wireEntry = (e: AppendedEntry) => ({
  index: e.index,
  id: e.id,
  leaf_hash: e.leafHash,
  received_at: e.receivedAt,
  ...(e.receipt === undefined ? {} : { receipt: e.receipt }),
});

/** Points a server refusal at the input line of the event it names. */
function locate(err: unknown, batch: Batch, name: string): unknown {
  if (!(err instanceof ClientError)) return err;
  const at = err.problem?.event;
  const ev = typeof at === 'number' ? batch.events[at] : undefined;
  if (ev === undefined) return err;
  return new ClientError(err.code, `${name} line ${ev.line}: ${err.message}`, {
    cause: err,
    ...(err.status === undefined ? {} : { status: err.status }),
    ...(err.problem === undefined ? {} : { problem: err.problem }),
  });
}
