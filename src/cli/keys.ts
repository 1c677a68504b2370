import type { Command } from 'commander';
import { openDataDir } from '../app/data-dir.js';
import { ROLES, type Role } from '../auth/types.js';
import { dataDirOption, printJson, UsageError } from './options.js';

/**
 * Key management straight on a data directory (the server must be stopped, since the directory is
 * locked while it runs; against a running server use the HTTP API `POST /v1/keys`).
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');
  keys
    .command('create')
    .description('create an API key; the secret is printed once')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--log <name...>', 'restrict the key to these logs (repeatable; default: all logs)')
    .option('--description <text>', 'a note to tell keys apart')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ indelible keys create --role writer --log acme --data ./data\n')
    .action(
      async (opts: { role: string; log?: string[]; description?: string; data?: string; json?: boolean }) => {
        if (!ROLES.includes(opts.role as Role))
          throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
        const dd = await openDataDir(dataDirOption(opts.data));
        try {
          const { info, secret } = dd.keys.create({
            role: opts.role as Role,
            logs: opts.log ?? null,
            description: opts.description ?? null,
          });
          if (opts.json) printJson({ id: info.id, key: secret, role: info.role, logs: info.logs });
          else
            process.stdout.write(
              `${info.id} ${info.role} ${info.logs?.join(',') ?? '(all logs)'}\n${secret}\n`,
            );
        } finally {
          await dd.close();
        }
      },
    );
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const dd = await openDataDir(dataDirOption(opts.data));
      try {
        const list = dd.keys.list();
        if (opts.json) printJson({ keys: list });
        else {
          for (const k of list) {
            process.stdout.write(
              `${k.id}\t${k.role}\t${k.logs?.join(',') ?? '*'}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}\n`,
            );
          }
        }
      } finally {
        await dd.close();
      }
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key (effective on the next request)')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .action(async (id: string, opts: { data?: string }) => {
      const dd = await openDataDir(dataDirOption(opts.data));
      try {
        if (!dd.keys.revoke(id)) throw new UsageError(`no active key with id ${id}`);
        process.stdout.write(`revoked ${id}\n`);
      } finally {
        await dd.close();
      }
    });
}
