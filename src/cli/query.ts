/**
 * `indelible query`: the search (`GET /v1/logs/{log}/events`) as a table or NDJSON, one page,
 * every page (`--all`), or every page and then new entries as they arrive (`--follow`).
 *
 * Follow mode rests on the API's cursor contract: a cursor names a position in index order and
 * stays valid while appends continue, and `next_cursor` is null at the end of what the index
 * covers. At the end the last cursor is asked again after a pause; it returns what was printed
 * before plus anything new, and entries at or below the highest index printed are skipped, so
 * nothing is printed twice or missed while the index catches up.
 */
import type { Command } from 'commander';
import type { IndelibleClient } from '../client/client.js';
import { ClientError, isRetryable } from '../client/errors.js';
import { RETRY_AFTER_CEILING_MS } from '../client/retry.js';
import type { EventHit, EventPage, QueryOptions } from '../client/types.js';
import { isRfc3339DateTime } from '../core/event.js';
import { printable } from '../util/printable.js';
import { UsageError } from './options.js';
import {
  addRemoteOptions,
  type Column,
  exitOnClosedPipe,
  formatTable,
  logName,
  ndjson,
  parseCount,
  type RemoteOptions,
  remoteClient,
  write,
} from './remote.js';

interface QueryCliOptions extends RemoteOptions {
  actor?: string;
  action?: string;
  target?: string;
  outcome?: string;
  since?: string;
  until?: string;
  q?: string;
  limit?: string;
  cursor?: string;
  order?: string;
  all?: boolean;
  follow?: boolean;
  interval: string;
}

const OUTCOMES = ['success', 'failure', 'denied', 'error', 'unknown'];
const FILTERS = ['actor', 'action', 'target', 'outcome', 'since', 'until', 'q'] as const;
export type FilterName = (typeof FILTERS)[number];

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));
const idOf = (v: unknown) => (v !== null && typeof v === 'object' ? str((v as { id?: unknown }).id) : '');

function targetOf(e: EventHit['event']): string {
  const ev = e as { target?: unknown; targets?: unknown };
  if (ev.target !== undefined) return idOf(ev.target);
  return Array.isArray(ev.targets) ? ev.targets.map(idOf).join(',') : '';
}

export const EVENT_COLUMNS: readonly Column<EventHit>[] = [
  { header: 'INDEX', value: (h) => String(h.index), align: 'right', width: 6 },
  { header: 'RECEIVED AT', value: (h) => h.receivedAt, width: 24 },
  { header: 'ACTOR', value: (h) => idOf(h.event.actor), width: 12 },
  { header: 'ACTION', value: (h) => str(h.event.action), width: 16 },
  { header: 'TARGET', value: (h) => targetOf(h.event), width: 12 },
  {
    header: 'OUTCOME',
    value: (h) => str(h.event.outcome),
    colour: (h) =>
      h.event.outcome === 'success'
        ? 'green'
        : h.event.outcome === undefined || h.event.outcome === 'unknown'
          ? 'yellow'
          : 'red',
  },
];

export const wireHit = (h: EventHit) => ({
  index: h.index,
  id: h.id,
  received_at: h.receivedAt,
  leaf_hash: h.leafHash,
  event: h.event,
});

/** The filters as SDK query options, each checked locally for a clear usage error. */
export function filtersOf(opts: Partial<Record<FilterName, string>>): QueryOptions {
  const q: QueryOptions = {};
  for (const k of FILTERS) {
    const v = opts[k];
    if (v !== undefined) q[k] = v;
  }
  if (q.outcome !== undefined && !OUTCOMES.includes(q.outcome))
    throw new UsageError(`--outcome must be one of ${OUTCOMES.join(', ')}`);
  for (const k of ['since', 'until'] as const) {
    const v = q[k];
    if (v !== undefined && !isRfc3339DateTime(v))
      throw new UsageError(`--${k} must be an RFC 3339 date-time (2026-01-05T09:00:00Z)`);
  }
  return q;
}

/** Adds the search filters to a command (shared with `export`). */
export function addFilterOptions(command: Command): Command {
  return command
    .option('--actor <id>', 'actor.id, exact')
    .option('--action <action>', 'action, exact, or a prefix ending in * (document.*)')
    .option('--target <id>', 'target.id or any targets[].id, exact')
    .option('--outcome <outcome>', OUTCOMES.join('|'))
    .option('--since <time>', 'received at or after (RFC 3339)')
    .option('--until <time>', 'received before (RFC 3339)')
    .option('--q <words>', 'free text: every word must match');
}

export function registerQuery(program: Command): void {
  addFilterOptions(addRemoteOptions(program.command('query')))
    .description('search a log: a table, or NDJSON with --json; --all pages through, --follow streams')
    .option('--limit <n>', 'events per page (1..1000; server default 100)')
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--order <order>', 'asc (oldest first, default) or desc')
    .option('--all', 'print every matching event, page after page')
    .option('--follow', 'print every matching event, then keep printing new ones until interrupted')
    .option('--interval <ms>', 'with --follow: pause between polls at the end', '1000')
    .option('--json', 'print one JSON object per event (NDJSON)')
    .addHelpText(
      'after',
      `
Columns: index, received_at, actor, action, target, outcome. A page that is not the last prints
its continuation on stderr ("more: --cursor …").

Examples:
  $ indelible query --log acme --actor alice --since 2026-01-01T00:00:00Z
  $ indelible query --log acme --action 'document.*' --outcome denied --all --json > denied.ndjson
  $ indelible query --log acme --follow --since "$(date -u +%FT%TZ)"
`,
    )
    .action(async (opts: QueryCliOptions) => {
      const log = logName(opts);
      const query = filtersOf(opts);
      if (opts.limit !== undefined) query.limit = parseCount(opts.limit, '--limit', 1000);
      if (opts.cursor !== undefined) query.cursor = opts.cursor;
      if (opts.order !== undefined) {
        if (opts.order !== 'asc' && opts.order !== 'desc')
          throw new UsageError('--order must be asc or desc');
        if (opts.order === 'desc' && opts.follow)
          throw new UsageError('--follow reads in index order: drop --order desc');
        query.order = opts.order;
      }
      const interval = parseCount(opts.interval, '--interval', 3_600_000);
      const client = remoteClient(opts);
      exitOnClosedPipe();
      const print = makePrinter(opts.json === true);
      if (!opts.all && !opts.follow) {
        const page = await client.query(log, query);
        await print(page.events);
        if (page.nextCursor !== null) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
        return;
      }
      await pageThrough(client, log, query, print, opts.follow ? interval : undefined);
    });
}

function makePrinter(json: boolean): (events: readonly EventHit[]) => Promise<void> {
  let header = true;
  return async (events) => {
    if (json) {
      if (events.length > 0) await write(events.map((h) => ndjson(wireHit(h))).join(''));
      return;
    }
    if (events.length === 0 && !header) return;
    await write(formatTable(events, EVENT_COLUMNS, header));
    header = false;
  };
}

/**
 * Every page; with `followMs`, then polls the last cursor every `followMs` until SIGINT (see the
 * module comment for why that neither repeats nor skips).
 */
async function pageThrough(
  client: IndelibleClient,
  log: string,
  query: QueryOptions,
  print: (events: readonly EventHit[]) => Promise<void>,
  followMs: number | undefined,
): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const onSigint = () => {
    stopped = true;
    wake?.();
  };
  if (followMs !== undefined) process.once('SIGINT', onSigint);
  let cursor = query.cursor;
  let highest = -1;
  let failing = false;
  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
  try {
    while (!stopped) {
      let page: EventPage;
      try {
        page = await client.query(log, { ...query, ...(cursor === undefined ? {} : { cursor }) });
      } catch (err) {
        if (stopped) break;
        // A long-running follow outlives server restarts and network blips: keep the cursor, retry.
        if (followMs === undefined || !isRetryable(err)) throw err;
        if (!failing)
          process.stderr.write(`${printable((err as Error).message)}; retrying every ${followMs} ms\n`);
        failing = true;
        // A 429 or 503 says when to come back: sooner would only earn another refusal.
        const after = err instanceof ClientError ? (err.retryAfterMs ?? 0) : 0;
        await pause(Math.max(followMs, Math.min(after, RETRY_AFTER_CEILING_MS)));
        continue;
      }
      failing = false;
      const desc = query.order === 'desc';
      const fresh = desc ? page.events : page.events.filter((h) => h.index > highest);
      for (const h of fresh) highest = Math.max(highest, h.index);
      await print(fresh);
      if (page.nextCursor !== null && page.nextCursor !== cursor) {
        cursor = page.nextCursor;
        continue;
      }
      if (followMs === undefined) break;
      await pause(followMs);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
