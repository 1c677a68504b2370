import type { Command } from 'commander';
import { initDataDir, originPrefixProblem } from '../app/data-dir.js';
import { cliActor } from './operator.js';
import { dataDirOption, printJson, UsageError } from './options.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a data directory with its _audit log and a first admin API key (printed once)')
    .option('--data <dir>', 'data directory to create (env INDELIBLE_DATA)')
    .option(
      '--origin-prefix <prefix>',
      'prefix of every log origin, e.g. audit.example.com (default: indelible.local/<id>)',
    )
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExample:\n  $ indelible init --data ./data --origin-prefix audit.example.com\n')
    .action(async (opts: { data?: string; originPrefix?: string; json?: boolean }) => {
      const dir = dataDirOption(opts.data);
      const problem = opts.originPrefix === undefined ? undefined : originPrefixProblem(opts.originPrefix);
      if (problem !== undefined) throw new UsageError(`--origin-prefix ${problem}`);
      const r = await initDataDir(dir, {
        actor: cliActor(),
        ...(opts.originPrefix ? { originPrefix: opts.originPrefix } : {}),
      });
      if (opts.json) {
        printJson({
          data_dir: dir,
          admin_key: r.adminKey,
          admin_key_id: r.adminKeyId,
          origin_prefix: r.originPrefix,
        });
      } else {
        process.stdout.write(
          `Initialised ${dir}\n\nAdmin API key (shown only now; store it safely):\n  ${r.adminKey}\n\n` +
            `Start the server with: indelible serve --data ${dir}\n`,
        );
      }
    });
}
