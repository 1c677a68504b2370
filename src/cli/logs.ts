/**
 * `indelible logs create|list|show` against a running server (`POST /v1/logs`, `GET /v1/logs`,
 * `GET /v1/logs/{log}`). Creating a log needs an admin key; listing shows the logs in the key's scope.
 */
import type { Command } from 'commander';
import type { LogInfo } from '../client/types.js';
import { printJson } from './options.js';
import {
  addRemoteOptions,
  formatTable,
  logName,
  printable,
  type RemoteOptions,
  remoteClient,
} from './remote.js';

const wire = (l: LogInfo) => ({
  name: l.name,
  origin: l.origin,
  verifier_key: l.verifierKey,
  tree_size: l.treeSize,
  size: l.size,
  system: l.system,
  created_at: l.createdAt,
});

export function registerLogs(program: Command): void {
  const logs = program.command('logs').description('create, list and show logs on a running server');

  addRemoteOptions(logs.command('create <name>'), false)
    .description('create a log (admin key); prints its origin and verifier key — pin the key for audits')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExample:\n  $ INDELIBLE_API_KEY=ik_… indelible logs create acme --url https://audit.example.com\n',
    )
    .action(async (name: string, opts: RemoteOptions) => {
      const created = await remoteClient(opts).createLog(logName({ log: name }, process.env, 'NAME'));
      if (opts.json) {
        printJson({ name: created.name, origin: created.origin, verifier_key: created.verifierKey });
        return;
      }
      process.stdout.write(
        `created log ${created.name}\norigin        ${printable(created.origin)}\n` +
          `verifier key  ${printable(created.verifierKey)}\n`,
      );
    });

  addRemoteOptions(logs.command('list'), false)
    .description('list the logs this API key can see, with their tree sizes')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ indelible logs list --json\n')
    .action(async (opts: RemoteOptions) => {
      const list = await remoteClient(opts).listLogs();
      if (opts.json) {
        printJson({ logs: list.map(wire) });
        return;
      }
      process.stdout.write(
        formatTable(list, [
          { header: 'NAME', value: (l) => l.name },
          { header: 'TREE SIZE', value: (l) => String(l.treeSize), align: 'right' },
          { header: 'SIZE', value: (l) => String(l.size), align: 'right' },
          { header: 'ORIGIN', value: (l) => l.origin },
        ]),
      );
    });

  addRemoteOptions(logs.command('show <name>'), false)
    .description('show one log: origin, verifier key, tree size (signed) and size (durable)')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExample:\n  $ indelible logs show acme\n')
    .action(async (name: string, opts: RemoteOptions) => {
      const l = await remoteClient(opts).getLog(logName({ log: name }, process.env, 'NAME'));
      if (opts.json) {
        printJson(wire(l));
        return;
      }
      process.stdout.write(
        `name          ${l.name}${l.system ? ' (system log)' : ''}\n` +
          `origin        ${printable(l.origin)}\n` +
          `verifier key  ${printable(l.verifierKey)}\n` +
          `tree size     ${l.treeSize} (latest signed checkpoint)\n` +
          `size          ${l.size} (durable entries)\n` +
          `created at    ${printable(l.createdAt)}\n`,
      );
    });
}
