/**
 * `indelible export`: streams `GET /v1/logs/{log}/export` (auditor key) to a file, in the NDJSON
 * format of src/http/routes-export.ts — one line per entry with its inclusion proof, then the final
 * checkpoint line — which `indelible verify --export FILE --key VKEY` checks offline.
 *
 * The file is written as `FILE.partial` and renamed to FILE only after the checkpoint line arrived
 * and the data is fsync'd, so FILE never holds a truncated export; on failure the partial file is
 * removed and the exit status is 1 (on SIGINT or SIGTERM, 130 or 143).
 */
import { rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ExportOptions } from '../client/types.js';
import { UsageError } from './options.js';
import { addFilterOptions, type FilterName, filtersOf } from './query.js';
import {
  addRemoteOptions,
  exitOnClosedPipe,
  logName,
  Progress,
  parseIndex,
  plural,
  type RemoteOptions,
  remoteClient,
  write,
} from './remote.js';

interface ExportCliOptions extends RemoteOptions, Partial<Record<FilterName, string>> {
  output?: string;
  from?: string;
  to?: string;
}

const FLUSH_BYTES = 1 << 20;

export function registerExport(program: Command): void {
  addFilterOptions(addRemoteOptions(program.command('export')))
    .description(
      'export entries with inclusion proofs and a signed checkpoint (NDJSON that verifies offline)',
    )
    .option('-o, --output <file>', 'write to FILE (`-` for stdout); required')
    .option('--from <index>', 'first index (inclusive)')
    .option('--to <index>', 'end index (exclusive)')
    .addHelpText(
      'after',
      `
Needs an auditor (or admin) key. Filters select entries through the search index; every exported
entry still carries its inclusion proof in the final checkpoint.

Examples:
  $ indelible export --log acme -o acme.ndjson
  $ indelible export --log acme --actor alice --since 2026-01-01T00:00:00Z -o alice.ndjson
  $ indelible verify --export acme.ndjson --key "$VKEY"
`,
    )
    .action(async (opts: ExportCliOptions) => {
      const log = logName(opts);
      if (opts.output === undefined) throw new UsageError('-o FILE is required (`-o -` writes to stdout)');
      const options: ExportOptions = filtersOf(opts);
      if (opts.from !== undefined) options.from = parseIndex(opts.from, '--from');
      if (opts.to !== undefined) options.to = parseIndex(opts.to, '--to');
      if (options.from !== undefined && options.to !== undefined && options.from > options.to)
        throw new UsageError('--from must not exceed --to');
      const client = remoteClient(opts);
      const filtered = Object.keys(options).some((k) => k !== 'from' && k !== 'to');
      // The total is known for an unfiltered export (the bar is a guide: appends may continue).
      let total: number | undefined;
      if (!filtered && process.stderr.isTTY) {
        const size = await client.getLog(log).then(
          (l) => l.size,
          () => undefined,
        );
        if (size !== undefined) total = Math.max(0, Math.min(options.to ?? size, size) - (options.from ?? 0));
      }

      const toStdout = opts.output === '-';
      if (toStdout) exitOnClosedPipe();
      const partial = `${opts.output}.partial`;
      const fh = toStdout ? undefined : await open(partial, 'w', 0o644);
      const bar = new Progress(`${log}: `);
      // Ctrl-C (or a SIGTERM) is a failure like any other: the partial file goes too.
      const interrupted = (signal: NodeJS.Signals) => {
        bar.done();
        if (fh !== undefined) rmSync(partial, { force: true });
        const what = toStdout ? 'the export on stdout is incomplete' : `${opts.output} was not written`;
        process.stderr.write(`indelible: interrupted (${signal}): ${what}\n`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', interrupted);
      process.once('SIGTERM', interrupted);
      const uninterruptible = () => {
        process.off('SIGINT', interrupted);
        process.off('SIGTERM', interrupted);
      };
      let buffer = '';
      const flush = async () => {
        if (buffer === '') return;
        if (fh === undefined) await write(buffer);
        else await fh.writeFile(buffer); // writes all of it, from the current position
        buffer = '';
      };
      let count = 0;
      let end: { treeSize: number; count: number } | undefined;
      try {
        for await (const item of client.export(log, options)) {
          if (item.kind === 'entry') {
            buffer += `${JSON.stringify({ index: item.index, leaf_hash: item.leafHash, record: item.record, proof: item.proof })}\n`;
            count++;
            bar.update(count, 'entries', total === undefined || total === 0 ? undefined : count / total);
          } else {
            buffer += `${JSON.stringify({ checkpoint: item.checkpoint, tree_size: item.treeSize, count: item.count })}\n`;
            end = { treeSize: item.treeSize, count: item.count };
          }
          if (buffer.length >= FLUSH_BYTES) await flush();
        }
        await flush();
        if (fh !== undefined) {
          await fh.sync();
          await fh.close();
          await rename(partial, opts.output);
        }
        uninterruptible();
      } catch (err) {
        uninterruptible();
        bar.done();
        if (fh !== undefined) {
          await fh.close().catch(() => {});
          await rm(partial, { force: true });
        }
        throw err;
      }
      bar.done();
      process.stderr.write(
        `exported ${plural(count, 'entry', 'entries')} of ${log}${toStdout ? '' : ` to ${opts.output}`}, proven in the checkpoint of tree size ${end?.treeSize}\n`,
      );
    });
}
