/**
 * `GET /v1/logs/{log}/export` (auditor, or admin): a streamed NDJSON export that verifies offline.
 *
 * Format, one JSON object per LF-terminated line:
 *
 *   {"index":I,"leaf_hash":"<hex>","record":"<exact record text>","proof":["<hex>",…]}   per entry
 *   …
 *   {"checkpoint":"<signed note>","tree_size":N,"count":M}                              last line
 *
 * Entries come in index order. Each `proof` is the RFC 6962 inclusion proof of that entry in the
 * tree of the final checkpoint (tree size N ≥ every exported index + 1). To verify offline (the CLI's
 * `verify --export`): open the checkpoint with the log's verifier key; for every entry line check
 * `leaf_hash = SHA-256(0x00 ‖ UTF-8(record))`, that the record's `log` and `index` match, and
 * `verifyInclusion(index, N, leaf_hash, proof, root)`; check `count`. An export without its final
 * checkpoint line is incomplete. If the server fails mid-stream (status 200 already sent) the last
 * line is `{"error":{"code","detail"}}` instead, so a truncated export can never verify.
 *
 * Which entries: those durable when the export starts — for an unfiltered export, every entry of
 * its checkpoint's tree, which may hold entries integrated with them meanwhile, so that an export
 * without `from` or `to` reaches the tree's last entry (`verify --export --complete`) — in
 * `[from, to)` (defaults: everything; a pruned log's export starts at its minimum index at the
 * earliest), and —
 * when any filter (`actor`, `action`, `target`, `outcome`, `since`, `until`, `q`, as for the search)
 * is given — matching it, found through the search index. A filtered export waits up to
 * `exportIndexWaitMs` for the index to cover the durable entries, then exports what it covers. The
 * checkpoint is fixed (integrating if needed) before the first line, so the export streams without
 * buffering while appends continue.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuthError } from '../auth/errors.js';
import { toHex } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import type { EventQuery } from '../index/types.js';
import type { Log } from '../log/log.js';
import type { SignedCheckpoint } from '../log/types.js';
import type { ServerContext } from './context.js';
import { HttpError, PROBLEMS } from './problem.js';
import { createProofReader } from './proof-reader.js';
import { ExportQuery, errors, FilterKeys, LogParams, text, toSafeInteger } from './schemas.js';

/** Entries read and written per step (one entry bundle). */
const CHUNK = 256;
const PAGE = 1000;

interface Plan {
  log: Log;
  name: string;
  from: number;
  end: number;
  filter: EventQuery | undefined;
  checkpoint: SignedCheckpoint;
}

/** The export's line format, as the OpenAPI document describes it (the module comment has the rest). */
const EXPORT_FORMAT = [
  'One JSON object per LF-terminated line, entries in index order:',
  '',
  '- `{"index":I,"leaf_hash":"<hex>","record":"<exact record text>","proof":["<hex>",…]}` per entry,',
  '  `proof` being its RFC 6962 inclusion proof in the tree of the final checkpoint;',
  '- last, `{"checkpoint":"<signed note>","tree_size":N,"count":M}`.',
  '',
  'If the server fails after the 200 was sent, the last line is `{"error":{"code","detail"}}` instead:',
  'an export without its checkpoint line is incomplete and never verifies (`indelible verify --export`).',
].join('\n');

export function exportRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { engine, config } = ctx;

  async function indexCoverage(name: string, want: number): Promise<number> {
    const deadline = Date.now() + config.exportIndexWaitMs;
    for (;;) {
      const covered = await engine.index.coveredSize(name);
      if (covered >= want || Date.now() >= deadline) return Math.min(covered, want);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** What an export stream has written so far, read when its response closes (see the route). */
  interface Progress {
    /** Entries written to the response (the client may not have received the last ones). */
    count: number;
    /** The export failed midway: its last line is an error, and it will not verify. */
    failed: boolean;
    /** When the stream last asked for or produced a chunk (ms): a stalled client stops asking. */
    activeAt: number;
  }

  /** Thrown between chunks when the export's key was revoked meanwhile. */
  const revokedMidway = () =>
    new AuthError('auth.unauthenticated', 'the API key was revoked during the export');

  async function* lines(
    plan: Plan,
    progress: Progress,
    keyActive: () => boolean,
    onError: (err: unknown) => void,
  ): AsyncGenerator<string> {
    const { log, from, end, checkpoint } = plan;
    const proofs = createProofReader(log, checkpoint);
    const line = async (index: number, bytes: Uint8Array) => {
      const proof = (await proofs.inclusion(index)).map(toHex);
      const record = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      progress.count++;
      return `${JSON.stringify({ index, leaf_hash: toHex(hashLeaf(bytes)), record, proof })}\n`;
    };
    try {
      if (plan.filter === undefined) {
        for (let i = from; i < end; ) {
          if (!keyActive()) throw revokedMidway();
          progress.activeAt = Date.now();
          const j = Math.min(end, (Math.floor(i / CHUNK) + 1) * CHUNK);
          const records = await log.readRecords(i, j, { cache: false });
          let out = '';
          for (let k = 0; k < records.length; k++) out += await line(i + k, records[k]!);
          progress.activeAt = Date.now();
          yield out;
          i = j;
        }
      } else {
        let cursor: string | undefined;
        for (;;) {
          if (!keyActive()) throw revokedMidway();
          progress.activeAt = Date.now();
          const q: EventQuery = { ...plan.filter, limit: PAGE, order: 'asc', fromIndex: from, toIndex: end };
          if (cursor !== undefined) q.cursor = cursor;
          const page = await engine.index.query(plan.name, q);
          let out = '';
          let done = false;
          for (const e of page.events) {
            if (e.index >= end) {
              done = true;
              break;
            }
            if (e.index >= from) out += await line(e.index, await log.readRecord(e.index));
          }
          progress.activeAt = Date.now();
          if (out !== '') yield out;
          if (done || page.nextCursor === null) break;
          cursor = page.nextCursor;
        }
      }
      yield `${JSON.stringify({ checkpoint: checkpoint.note, tree_size: checkpoint.size, count: progress.count })}\n`;
    } catch (err) {
      const code =
        typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
      const known = Object.hasOwn(PROBLEMS, code) ? code : 'server.internal';
      progress.failed = true;
      const revoked = known === 'auth.unauthenticated';
      if (!revoked) onError(err);
      const detail = revoked
        ? 'the API key was revoked during the export; it is incomplete and will not verify'
        : 'the export failed; it is incomplete and will not verify';
      yield `${JSON.stringify({ error: { code: known, detail } })}\n`;
    }
  }

  return async (app) => {
    app.get(
      '/v1/logs/:log/export',
      {
        config: { access: 'export' },
        // A HEAD would run the export and audit it as one of 0 entries: there is nothing to head.
        exposeHeadRoute: false,
        schema: {
          tags: ['events'],
          summary:
            'Export entries as NDJSON with inclusion proofs and a final checkpoint (offline-verifiable)',
          description: EXPORT_FORMAT,
          params: LogParams,
          querystring: ExportQuery,
          response: {
            200: text('NDJSON in the format the description gives', 'application/x-ndjson'),
            ...errors(400, 401, 403, 404, 422, 429),
          },
        },
      },
      async (request, reply) => {
        const name = request.params.log;
        const log = engine.log(name);
        const qs = request.query;
        const asked = qs.from === undefined ? 0 : toSafeInteger(qs.from, 'from');
        const to = qs.to === undefined ? undefined : toSafeInteger(qs.to, 'to');
        if (to !== undefined && asked > to) {
          throw new HttpError('request.unprocessable', 'from must not exceed to', {
            details: { field: 'from' },
          });
        }
        // A pruned log's export starts at its minimum index: the entries below are gone (410).
        const from = Math.max(asked, log.minimumIndex);
        const filterGiven: Record<string, string> = {};
        let filter: EventQuery | undefined;
        for (const k of FilterKeys) {
          const v = qs[k];
          if (v !== undefined) {
            filterGiven[k] = v;
            filter ??= {};
            filter[k] = v;
          }
        }
        const durable = log.size;
        const snapshot = filter === undefined ? durable : await indexCoverage(name, durable);
        const checkpoint = snapshot > 0 ? await log.checkpointCovering(snapshot) : log.latestCheckpoint();
        // The checkpoint may be past `snapshot` (an integration in flight took later appends too):
        // an unfiltered export then runs to its end, or it would look cut short (export.gap).
        const last = filter === undefined ? checkpoint.size : snapshot;
        const end = Math.min(to ?? last, last);
        if (filter !== undefined) {
          // Surface a malformed filter as a 400 now, before the 200 is committed.
          await engine.index.query(name, { ...filter, limit: 1 });
        }
        const plan: Plan = { log, name, from, end, filter, checkpoint };
        const audit = {
          ...filterGiven,
          ...(qs.from === undefined ? {} : { from }),
          ...(to === undefined ? {} : { to }),
        };
        // Recorded before the first line: a crash, or a client that never finishes, still leaves a
        // trace, and the key rules (new address, off hours, dormant key) judge the time it began.
        ctx.access(request, { kind: 'export', phase: 'start', filter: audit, count: null, status: 200 });
        const progress: Progress = { count: 0, failed: false, activeAt: Date.now() };
        const keyId = request.apiKey!.id;
        const keyActive = () => ctx.keys.get(keyId)?.revokedAt === null;
        const stream = Readable.from(
          lines(plan, progress, keyActive, (err) => {
            request.log.error({ err }, 'export failed mid-stream');
            // Too late for a 500: a damaged bundle found here must still raise its alert.
            ctx.integrityError(err, name);
          }),
          { objectMode: false },
        );
        // Recorded when the response closes, however it ends: complete only if all of it was
        // written out and nothing failed. A client that went away (before the first line, or
        // with the last ones still buffered) leaves an export recorded as incomplete.
        const record = () => {
          const complete = reply.raw.writableFinished && !progress.failed;
          ctx.access(request, {
            kind: 'export',
            filter: audit,
            count: progress.count,
            status: 200,
            ...(complete ? {} : { incomplete: true }),
          });
          // Fastify writes no access-log line for a response the client abandoned; this one says so.
          if (!complete && !progress.failed) {
            request.log.warn(
              {
                route: request.routeUrl,
                log: name,
                key_id: request.apiKey?.id,
                ip: request.clientIp,
                count: progress.count,
              },
              'export aborted by the client',
            );
          }
        };
        if (reply.raw.closed) record();
        else {
          const res = reply.raw;
          // A client that reads nothing for exportIdleTimeoutMs loses the connection. Progress is the
          // socket moving data (new bytes written to it, or libuv's write queue shrinking as the
          // kernel takes them: a client that reads lets both move, one that stalls neither — the
          // end of an export can sit in one big queued write that drains slowly), or the server
          // producing a chunk (a slow read of the log's storage is not the client's fault).
          const idleMs = config.exportIdleTimeoutMs;
          const flushed = () => {
            const socket = res.socket as (Socket & { _handle?: { writeQueueSize?: number } }) | null;
            return socket === null ? '' : `${socket.bytesWritten}:${socket._handle?.writeQueueSize ?? 0}`;
          };
          let lastFlushed = flushed();
          let movedAt = Date.now();
          const watch =
            idleMs > 0
              ? setInterval(
                  () => {
                    const now = Date.now();
                    const f = flushed();
                    if (f !== lastFlushed) {
                      lastFlushed = f;
                      movedAt = now;
                    }
                    if (now - Math.max(movedAt, progress.activeAt) > idleMs) res.destroy();
                  },
                  Math.max(10, idleMs / 4),
                ).unref()
              : undefined;
          res.once('close', () => {
            clearInterval(watch);
            record();
          });
        }
        return reply.header('cache-control', 'no-store').type('application/x-ndjson').send(stream);
      },
    );
  };
}
