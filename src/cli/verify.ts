import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { isIndelibleError } from '../core/errors.js';
import { verifyStorage } from '../log/verify.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { dataDirOption, printJson, UsageError } from './options.js';

/**
 * `indelible verify --data DIR`: offline check of every log in a data directory. Exit 0 only if
 * everything holds; otherwise 1 with the first bad log/index/object on stderr.
 */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify a data directory offline: every record, chain, tile, bundle and checkpoint')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA); the server must be stopped')
    .option(
      '--key <log=vkey...>',
      'pin a log verifier key instead of trusting the one stored in the directory',
    )
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      '\nExit codes: 0 verified; 1 a check failed (the first failure is named on stderr); 2 usage error.\n' +
        'Example:\n  $ indelible verify --data ./data\n',
    )
    .action(async (opts: { data?: string; key?: string[]; json?: boolean }) => {
      const dir = dataDirOption(opts.data);
      if (!existsSync(join(dir, 'indelible.json')))
        throw new UsageError(`${dir} is not an Indelible data directory`);
      const verifierKeys: Record<string, string> = {};
      for (const kv of opts.key ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--key expects LOG=VKEY, got ${kv}`);
        verifierKeys[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      const driver = await createLocalDriver({ root: dir });
      const tty = process.stderr.isTTY;
      try {
        const reports = await verifyStorage(driver, {
          verifierKeys,
          onProgress: tty
            ? (p) => process.stderr.write(`\r${p.log}: ${p.done}/${p.total} entries verified`)
            : undefined,
        });
        if (tty) process.stderr.write('\n');
        if (opts.json) printJson({ ok: true, logs: reports });
        else {
          for (const r of reports) {
            process.stdout.write(
              `${r.log}: OK, ${r.treeSize} entries, ${r.checkpoints} checkpoints, root ${r.rootHash}\n`,
            );
          }
        }
      } catch (err) {
        if (tty) process.stderr.write('\n');
        if (isIndelibleError(err)) {
          process.stderr.write(`verification FAILED: ${err.message} [${err.code}]\n`);
          if (opts.json) printJson({ ok: false, code: err.code, message: err.message, details: err.details });
          process.exitCode = 1;
          return;
        }
        throw err;
      } finally {
        await driver.close();
      }
    });
}
