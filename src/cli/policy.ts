/**
 * `indelible policy show|set|hold|release`: a log's retention policy and legal hold, against a
 * running server (`--url`, with an admin key — or an auditor's for `show` — in `--api-key` or
 * INDELIBLE_API_KEY). Every change goes through the API so the server records it in `_audit`;
 * there is deliberately no `--data` mode that would change a policy without that record.
 */
import type { Command } from 'commander';
import { printJson, UsageError } from './options.js';
import { addRemoteOptions, logName, type RemoteOptions, remoteClient } from './remote.js';

type PolicyOptions = RemoteOptions & { json?: boolean };

const DAY_MS = 86_400_000;

/** `7y`, `30d`, `12h` … when the value is a whole number of that unit, else milliseconds. */
export function formatDuration(ms: unknown): string {
  if (ms === null) return 'none';
  if (ms === 'never') return 'never';
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms)) return String(ms);
  const units: Array<[string, number]> = [
    ['y', 366 * DAY_MS],
    ['w', 7 * DAY_MS],
    ['d', DAY_MS],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [u, size] of units) if (ms > 0 && ms % size === 0) return `${ms / size}${u}`;
  return `${ms}ms`;
}

function printPolicy(p: Record<string, unknown>, json: boolean | undefined): void {
  if (json) {
    printJson(p);
    return;
  }
  process.stdout.write(`${policyText(p)}\n`);
}

/** The policy as `policy show` prints it, one setting per line (docs/RETENTION.md says what each does). */
export function policyText(p: Record<string, unknown>): string {
  const retention = (p.retention ?? {}) as { min?: unknown; max?: unknown };
  const archive = (p.archive ?? {}) as {
    after?: unknown;
    target?: { bucket: string; prefix: string } | null;
  };
  const target = archive.target;
  const hold = p.legal_hold as { reason: string; set_at: string; set_by: string } | null;
  const lines = [
    `log            ${String(p.log)}`,
    `retention.min  ${formatDuration(retention.min)}`,
    `retention.max  ${formatDuration(retention.max)}  ${retention.max === null ? '(entries are kept forever)' : '(older entries are pruned, never under a legal hold)'}`,
    `archive.after  ${formatDuration(archive.after)}`,
    `archive.target ${target ? `s3://${target.bucket}${target.prefix === '' ? '' : `/${target.prefix}`}` : "(the server's)"}`,
    `legal_hold     ${hold ? `SET by ${hold.set_by} at ${hold.set_at}: ${hold.reason}` : 'none'}`,
    `updated        ${p.updated_at === null ? '(defaults)' : `${String(p.updated_at)} by ${String(p.updated_by)}`}`,
  ];
  return lines.join('\n');
}

/**
 * A duration flag as the API takes it: `<n><unit>`, `0` or `never`. A number without a unit is
 * refused, `0` aside: the API reads one as milliseconds, and `--retention-min 3650` typed for ten
 * years would have let entries be pruned after 3.65 seconds.
 */
function durationFlag(value: string, flag: string): string | number {
  if (value === '0') return 0;
  if (value === 'never' || /^[0-9]{1,12}(ms|s|m|h|d|w|y)$/.test(value)) return value;
  if (/^[0-9]+$/.test(value)) {
    throw new UsageError(
      `${flag} needs a unit: ${value}d for days, ${value}y for years, ${value}ms for milliseconds (units: ms, s, m, h, d, w, y)`,
    );
  }
  throw new UsageError(`${flag} expects a duration like 30d or 7y (or never), got ${value}`);
}

export interface PolicySetFlags {
  retentionMin?: string;
  retentionMax?: string;
  archiveAfter?: string;
  archiveBucket?: string;
  archivePrefix?: string;
  archiveTarget?: string;
}

/**
 * The PUT body for `policy set`'s flags. `--archive-bucket B [--archive-prefix P]` sets the log's
 * own archive target; `--archive-target default` returns it to the server's. The server validates
 * names; here only the combinations are checked.
 */
export function policyUpdateFromFlags(opts: PolicySetFlags): Record<string, unknown> {
  const retention: Record<string, unknown> = {};
  if (opts.retentionMin !== undefined) retention.min = durationFlag(opts.retentionMin, '--retention-min');
  if (opts.retentionMax !== undefined) {
    retention.max = opts.retentionMax === 'none' ? null : durationFlag(opts.retentionMax, '--retention-max');
  }
  const archive: Record<string, unknown> = {};
  if (opts.archiveAfter !== undefined) archive.after = durationFlag(opts.archiveAfter, '--archive-after');
  if (opts.archiveTarget !== undefined) {
    if (opts.archiveTarget !== 'default') {
      throw new UsageError('--archive-target takes only "default" (use --archive-bucket to set one)');
    }
    if (opts.archiveBucket !== undefined || opts.archivePrefix !== undefined) {
      throw new UsageError(
        '--archive-target default cannot be combined with --archive-bucket/--archive-prefix',
      );
    }
    archive.target = null;
  } else if (opts.archiveBucket !== undefined) {
    archive.target = { bucket: opts.archiveBucket, prefix: opts.archivePrefix ?? '' };
  } else if (opts.archivePrefix !== undefined) {
    throw new UsageError('--archive-prefix needs --archive-bucket');
  }
  const update: Record<string, unknown> = {};
  if (Object.keys(retention).length > 0) update.retention = retention;
  if (Object.keys(archive).length > 0) update.archive = archive;
  if (Object.keys(update).length === 0) {
    throw new UsageError(
      'give at least one of --retention-min, --retention-max, --archive-after, --archive-bucket, --archive-target',
    );
  }
  return update;
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description("a log's retention policy and legal hold (docs/RETENTION.md); every change is audited");

  const show = policy
    .command('show')
    .description('print the policy')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ indelible policy show --log acme --url http://127.0.0.1:7070\n');
  addRemoteOptions(show).action(async (opts: PolicyOptions) => {
    printPolicy(await remoteClient(opts).policy(logName(opts)), opts.json);
  });

  const set = policy
    .command('set')
    .description('change settings; those not given keep their value')
    .option('--retention-min <duration>', 'no entry may be deleted before it is this old (e.g. 7y)')
    .option('--retention-max <duration>', 'entries are to be removed after this age; "none" clears it')
    .option('--archive-after <duration>', 'how long sealed data stays on local disk ("never" keeps it)')
    .option(
      '--archive-bucket <bucket>',
      "archive this log to its own S3 bucket (Object Lock enabled; server's S3 connection); only before anything was archived",
    )
    .option('--archive-prefix <prefix>', "key prefix inside --archive-bucket (default: the bucket's root)")
    .option('--archive-target <default>', "'default': archive to the server's configured bucket again")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible policy set --log acme --retention-min 7y --archive-after 30d\n' +
        '  $ indelible policy set --log acme --archive-bucket acme-archive --archive-prefix eu\n',
    );
  addRemoteOptions(set).action(async (opts: PolicyOptions & PolicySetFlags) => {
    const update = policyUpdateFromFlags(opts);
    printPolicy(await remoteClient(opts).setPolicy(logName(opts), update), opts.json);
  });

  const hold = policy
    .command('hold')
    .description('set a legal hold: every deletion of the log is blocked until it is released')
    .requiredOption('--reason <text>', 'why (recorded in the policy and in _audit)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ indelible policy hold --log acme --reason "litigation 2026-117: keep everything"\n',
    );
  addRemoteOptions(hold).action(async (opts: PolicyOptions & { reason: string }) => {
    if (opts.reason.trim() === '') throw new UsageError('--reason must not be empty');
    printPolicy(await remoteClient(opts).setLegalHold(logName(opts), opts.reason), opts.json);
  });

  const release = policy
    .command('release')
    .description('release the legal hold (an audited action of an admin key for all logs)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ indelible policy release --log acme\n');
  addRemoteOptions(release).action(async (opts: PolicyOptions) => {
    printPolicy(await remoteClient(opts).releaseLegalHold(logName(opts)), opts.json);
  });
}
