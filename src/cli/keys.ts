import type { Command } from 'commander';
import { AuthError } from '../auth/errors.js';
import { type KeyStore, keyView, ROLES, type Role } from '../auth/types.js';
import type { Monitor } from '../monitor/monitor.js';
import { cliActor, withAuditedDataDir } from './operator.js';
import { printJson, UsageError } from './options.js';
import { addRemoteOptions, remoteClient } from './remote.js';

interface Target {
  data?: string;
  url?: string;
  apiKey?: string;
}

/** A running server (`--url` or INDELIBLE_URL, through the API) or a stopped data directory (`--data`). */
function isRemote(opts: Target): boolean {
  if (opts.url !== undefined && opts.data !== undefined) {
    throw new UsageError('give --url (a running server) or --data (a stopped data directory), not both');
  }
  if (opts.url !== undefined || opts.data !== undefined) return opts.url !== undefined;
  if (process.env.INDELIBLE_URL) return true;
  if (process.env.INDELIBLE_DATA) return false;
  throw new UsageError(
    'give --url URL (a running server; env INDELIBLE_URL) or --data DIR (a stopped data directory; env INDELIBLE_DATA)',
  );
}

function printKeys(list: Parameters<typeof keyView>[0][], json: boolean | undefined): void {
  if (json) {
    // The API's own shape (GET /v1/keys), whichever way the keys were read.
    printJson({ keys: list.map(keyView) });
    return;
  }
  for (const k of list) {
    process.stdout.write(
      `${k.id}\t${k.role}\t${k.logs?.join(',') ?? '*'}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}\n`,
    );
  }
}

/**
 * Creates a key on a data directory and makes its `audit.admin.key.create` record durable in
 * `_audit` before the secret is handed out. If that record cannot be written the key is revoked at
 * once and the command fails: the process exits right after, so unlike the server (which keeps the
 * record queued and retries) nothing would ever write it, and a usable key must never exist
 * without its creation on the record.
 */
export async function createRecordedKey(
  keys: Pick<KeyStore, 'create' | 'revoke'>,
  monitor: Pick<Monitor, 'recordAdmin' | 'flush'>,
  input: { role: Role; logs: string[] | null; description: string | null },
): Promise<{ id: string; key: string; role: Role; logs: string[] | null }> {
  const { info, secret } = keys.create(input);
  monitor.recordAdmin({
    what: 'key.create',
    actor: cliActor(),
    target: { id: info.id, type: 'key' },
    details: { created_key: info.id, role: info.role, logs: info.logs },
  });
  try {
    await monitor.flush();
  } catch (err) {
    // The create record may still reach `_audit` (closing flushes again): its revoke goes behind it.
    let revoked: string;
    try {
      keys.revoke(info.id);
      monitor.recordAdmin({
        what: 'key.revoke',
        actor: cliActor(),
        target: { id: info.id, type: 'key' },
        details: { revoked_key: info.id, reason: 'its creation could not be recorded in _audit' },
      });
      revoked = 'was revoked at once';
    } catch (revokeErr) {
      revoked = `could not be revoked either (${(revokeErr as Error).message}); revoke it with \`indelible keys revoke ${info.id}\``;
    }
    throw new Error(
      `key ${info.id} ${revoked}: its creation could not be recorded in _audit (${(err as Error).message})`,
      { cause: err },
    );
  }
  return { id: info.id, key: secret, role: info.role, logs: info.logs };
}

/**
 * API keys, against a running server (`--url`, with an admin key in `--api-key` or
 * INDELIBLE_API_KEY) or straight on a stopped data directory (`--data`; the directory is locked
 * while a server runs). Either way each command is recorded in `_audit` (`audit.admin.key.create`,
 * `key.list`, `key.revoke`; never the secret): by the server, or here with the operating-system
 * user as the actor.
 */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');
  const create = keys
    .command('create')
    .description('create an API key; the secret is printed once')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--log <name...>', 'restrict the key to these logs (repeatable; default: all logs)')
    .option('--description <text>', 'a note to tell keys apart')
    .option('--data <dir>', 'a stopped data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible keys create --role writer --log acme --url http://127.0.0.1:7070   # running server\n' +
        '  $ indelible keys create --role writer --log acme --data ./data                # stopped server\n',
    );
  addRemoteOptions(create, false, false).action(
    async (opts: Target & { role: string; log?: string[]; description?: string; json?: boolean }) => {
      if (!ROLES.includes(opts.role as Role))
        throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const input = {
        role: opts.role as Role,
        logs: opts.log ?? null,
        ...(opts.description !== undefined ? { description: opts.description } : {}),
      };
      let out: { id: string; key: string; role: string; logs: string[] | null };
      if (isRemote(opts)) {
        const k = await remoteClient({ url: opts.url, apiKey: opts.apiKey }).createKey(input);
        out = { id: k.id, key: k.key, role: k.role, logs: k.logs };
      } else {
        out = await withAuditedDataDir(opts.data, (dd, monitor) =>
          createRecordedKey(dd.keys, monitor, { ...input, description: opts.description ?? null }),
        );
      }
      if (opts.json) printJson(out);
      else process.stdout.write(`${out.id} ${out.role} ${out.logs?.join(',') ?? '(all logs)'}\n${out.key}\n`);
    },
  );
  const list = keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--data <dir>', 'a stopped data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible keys list --url http://127.0.0.1:7070   # running server, admin key in INDELIBLE_API_KEY\n' +
        '  $ indelible keys list --data ./data --json          # stopped server\n',
    );
  addRemoteOptions(list, false, false).action(async (opts: Target & { json?: boolean }) => {
    if (isRemote(opts)) {
      printKeys(await remoteClient(opts).listKeys(), opts.json);
      return;
    }
    await withAuditedDataDir(opts.data, (dd, monitor) => {
      const list = dd.keys.list();
      monitor.recordAdmin({ what: 'key.list', actor: cliActor(), details: { count: list.length } });
      printKeys(list, opts.json);
    });
  });
  const revoke = keys
    .command('revoke <id>')
    .description('revoke an API key (effective on the next request)')
    .option('--data <dir>', 'a stopped data directory (env INDELIBLE_DATA)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible keys revoke key_tciowlscufo7 --url http://127.0.0.1:7070\n' +
        '  $ indelible keys revoke key_tciowlscufo7 --data ./data\n',
    );
  addRemoteOptions(revoke, false, false).action(async (id: string, opts: Target) => {
    if (isRemote(opts)) await remoteClient(opts).revokeKey(id);
    else {
      await withAuditedDataDir(opts.data, (dd, monitor) => {
        // Not a usage error: the same answer (and exit status 1) as the server's 404.
        if (!dd.keys.revoke(id)) {
          throw new AuthError('auth.key_not_found', `no active API key with id ${JSON.stringify(id)}`);
        }
        monitor.recordAdmin({
          what: 'key.revoke',
          actor: cliActor(),
          target: { id, type: 'key' },
          details: { revoked_key: id },
        });
      });
    }
    process.stdout.write(`revoked ${id}\n`);
  });
}
