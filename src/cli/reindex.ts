import type { Command } from 'commander';
import { openDataDir } from '../app/data-dir.js';
import { dataDirOption } from './options.js';

export function registerReindex(program: Command): void {
  program
    .command('reindex')
    .description('rebuild the search index from the log (the server must be stopped)')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--log <name...>', 'only these logs (default: all)')
    .option(
      '--check',
      'do not rebuild: compare every indexed entry with the log and report the first mismatch',
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 done (or, with --check, the index matches); 1 a mismatch was found; 2 usage error.\n' +
        'Examples:\n  $ indelible reindex --data ./data\n  $ indelible reindex --data ./data --log acme --check\n',
    )
    .action(async (opts: { data?: string; log?: string[]; check?: boolean }) => {
      // Rebuilding is the way out of an index ahead of its log (which the server refuses): allowed
      // for the logs being rebuilt; --check opens as the server does, so it reports that refusal.
      const dd = await openDataDir(dataDirOption(opts.data), {
        // Only the logs named: another log's state is not this command's business.
        ...(opts.log ? { logs: opts.log } : {}),
        ...(opts.check ? {} : { rebuildIndexAhead: opts.log ?? 'all' }),
      });
      try {
        const names = opts.log ?? dd.engine.listLogs().map((l) => l.name);
        for (const name of names) {
          if (opts.check) {
            const bad = await dd.engine.checkIndex(name);
            if (bad === undefined) process.stdout.write(`${name}: index matches the log\n`);
            else {
              process.stderr.write(
                `${name}: index entry ${bad} does not match the log; rebuild with \`indelible reindex --log ${name}\`\n`,
              );
              process.exitCode = 1;
            }
            continue;
          }
          const n = await dd.engine.reindex(name, (done, total) => {
            if (process.stderr.isTTY) process.stderr.write(`\r${name}: ${done}/${total}`);
          });
          if (process.stderr.isTTY) process.stderr.write('\n');
          process.stdout.write(`${name}: indexed ${n} entries\n`);
        }
      } finally {
        await dd.close();
      }
    });
}
