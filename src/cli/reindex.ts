import type { Command } from 'commander';
import { openDataDir } from '../app/data-dir.js';
import { dataDirOption } from './options.js';

export function registerReindex(program: Command): void {
  program
    .command('reindex')
    .description('rebuild the search index from the log (the server must be stopped)')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--log <name...>', 'only these logs (default: all)')
    .action(async (opts: { data?: string; log?: string[] }) => {
      const dd = await openDataDir(dataDirOption(opts.data));
      try {
        const names = opts.log ?? dd.engine.listLogs().map((l) => l.name);
        for (const name of names) {
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
